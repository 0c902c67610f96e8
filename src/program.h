/* SPDX-License-Identifier: MIT */
/*
 * Starting the hosted program on a pseudo-terminal (program.c).
 */
#ifndef RINGSIDE_PROGRAM_H
#define RINGSIDE_PROGRAM_H

#include <stddef.h>
#include <sys/types.h>

int program_spawn(char *const argv[], pid_t *pid, int *pty_fd, char *err, size_t errlen);

#endif
