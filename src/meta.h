/* SPDX-License-Identifier: MIT */
/*
 * Meta-commands: .server, .servers, .endsrv, .clients, .echo, .stats
 * (meta.c), which the session answers before a line goes anywhere else.
 * Internal to src/.
 */
#ifndef RINGSIDE_META_H
#define RINGSIDE_META_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct client;
struct hub;

/* Handles LINE if it is a ringside meta-command; returns false otherwise. */
bool meta_execute(struct hub *s, struct client *c, const char *line, size_t len);
/* "Wed Dec 19 06:23:07 2018" */
void meta_format_time(time_t t, char *buf, size_t len);
void meta_print_banner(struct hub *s);
/* Server I's line of the .servers listing, as snprintf does. */
int meta_server_line(const struct hub *s, unsigned i, char *buf, size_t len);

#endif
