/*
 * lib/prom.h — a writer for the Prometheus text exposition format (0.0.4),
 * shared by proxyd's and hacd's /metrics.
 *
 * A family is announced once with prom_family() (# HELP and # TYPE), then
 * its samples follow with prom_u64() or prom_f64(). Label values and help
 * text are escaped here, so a name taken from a configuration file can never
 * break a line of the exposition. Names are the caller's constants: they are
 * written as given. Format:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#ifndef TANDEM_LIB_PROM_H
#define TANDEM_LIB_PROM_H

#include <stdint.h>

#include "lib/buf.h"

/* The Content-Type a scrape answer carries. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

enum prom_type { PROM_COUNTER = 0, PROM_GAUGE, PROM_HISTOGRAM };

/* "counter", "gauge", "histogram"; "untyped" otherwise. */
const char *prom_type_str(enum prom_type t);

/* "# HELP name help" (help escaped: backslash, newline) and "# TYPE name type". */
void prom_family(struct buf *o, const char *name, enum prom_type t, const char *help);

/*
 * One sample line: name{l1="v1",...} value. The labels are name/value
 * string pairs ended by a NULL name; a NULL value is written as "". Values
 * are escaped (backslash, double quote, newline). Nothing is checked
 * against the family: the caller keeps samples under their prom_family().
 */
void prom_u64(struct buf *o, const char *name, uint64_t v, ...) __attribute__((sentinel));
/* The same with a float value: NaN, +Inf and -Inf as the format spells them. */
void prom_f64(struct buf *o, const char *name, double v, ...) __attribute__((sentinel));

/* Milliseconds written as seconds (the base unit Prometheus wants). */
double prom_ms_to_s(uint64_t ms);

#endif /* TANDEM_LIB_PROM_H */
