/* util.h: small helpers shared by the bench programs (clock, CPU pinning, /proc
 * accounting, socket set-up).  Kept separate so harness, floor, naive server and
 * producer measure time and resources the same way. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in ns: the one clock producer and harness share on one machine. */
uint64_t now_ns(void);

/* Pins the calling thread (and its future children) to one CPU; -1 = leave as is. */
int pin_cpu(int cpu);

/* Prints "prog: msg: strerror(errno)" and exits 1. */
void die(const char *msg) __attribute__((noreturn));

int set_nonblock(int fd, int on);

/* Writes all of buf, retrying on EINTR and short writes (blocking fds). */
int write_all(int fd, const void *buf, size_t len);

/* Process CPU as the kernel accounts it, for the CPU-per-delivery figures.
 * sched_ns: sum of sum_exec_runtime over the live threads (/proc/P/task/T/schedstat),
 *           ns resolution; on this kernel (no IRQ time accounting) it includes the
 *           softirq work (loopback receive path) done in the task's context.
 * tick_ns:  utime+stime from /proc/P/stat (USER_HZ ticks, includes exited threads,
 *           e.g. io_uring workers that came and went). */
struct proc_cpu {
	uint64_t sched_ns;
	uint64_t tick_ns;
};
int proc_cpu_read(pid_t pid, struct proc_cpu *out);
/* Best estimate of CPU used between two samples (see util.c for the rule). */
uint64_t proc_cpu_delta(const struct proc_cpu *a, const struct proc_cpu *b);

/* VmRSS and VmHWM of a process in KiB (0 on error). */
int proc_rss_kib(pid_t pid, uint64_t *rss_kib, uint64_t *hwm_kib);

/* Busy jiffies (everything except idle and iowait) of one CPU from /proc/stat, in ns. */
uint64_t cpu_busy_ns(int cpu);

/* This process's own CPU (getrusage), ns. */
uint64_t self_cpu_ns(void);

/* Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the new soft limit. */
long raise_nofile(void);

/* SIGTERM/SIGINT end this process at once, taking *CHILD (when > 0) with
 * it, so a killed server never leaves its producer behind. */
void exit_on_term(const pid_t *child);

/* Listening TCP socket on 127.0.0.1:port with a large backlog. */
int listen_tcp(int port, int backlog);

/* Listening Unix stream socket at PATH (which must not exist), mode 0600. */
int listen_unix(const char *path, int backlog);

#endif
