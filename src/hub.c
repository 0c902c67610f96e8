/* SPDX-License-Identifier: MIT */
/*
 * The hub's two helpers: a log line handed to the session, and the clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "src/hub.h"

void hub_log(struct hub *h, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	h->ops->log(h, buf);
}

uint32_t hub_clock(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}
