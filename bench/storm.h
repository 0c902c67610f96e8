/* storm.h: the harness's join-storm mode (storm.c). */
#ifndef BENCH_STORM_H
#define BENCH_STORM_H

#include <stddef.h>

#include "parse.h"

/* Runs the storm O describes and prints its JSON summary, which says how
 * many clients were registered.  Returns 0, or -1 with ERR set when the storm
 * could not be run at all. */
int storm_run(const struct harness_opts *o, char *err, size_t errlen);

#endif
