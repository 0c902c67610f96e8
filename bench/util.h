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

/* Resident memory of a process from /proc/P/status, KiB: VmRSS and its parts
 * (RssAnon: heap and anonymous maps; RssFile: mapped files, the binary and
 * libraries; RssShmem: shared memory, e.g. a memfd-backed ring). */
struct proc_mem {
	uint64_t rss, anon, file, shmem;
};
int proc_mem_kib(pid_t pid, struct proc_mem *m);

/* One CPU's /proc/stat times in ns: busy (everything except idle and
 * iowait), and within it the softirq (the loopback receive path) and irq
 * parts; steal is time the hypervisor ran something else while this vCPU
 * wanted to run. */
struct cpu_times {
	uint64_t busy, softirq, irq, steal;
};
int cpu_times_read(int cpu, struct cpu_times *t);

/* A process's I/O syscalls and scheduling from /proc/P/io and /proc/P/status:
 * read()/write() calls and their bytes (io_uring operations are not
 * counted: ringside's socket sends are not in here, its pty read()s are), and
 * voluntary context switches (how often it slept: its wake-ups). */
struct proc_io {
	uint64_t rchar, wchar, syscr, syscw, vcsw, ivcsw;
};
int proc_io_read(pid_t pid, struct proc_io *io);

/* The first child of PID (/proc/PID/task/PID/children), or 0. */
pid_t proc_first_child(pid_t pid);

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
