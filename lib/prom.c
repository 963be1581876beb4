/*
 * lib/prom.c — Prometheus text exposition writer (lib/prom.h).
 *
 * Pure formatting into a struct buf: no I/O, no locks. Escaping follows the
 * exposition format: in label values backslash, double quote and line feed
 * become \\, \" and \n; in HELP text backslash and line feed do. An append
 * that runs out of memory leaves a shorter answer (struct buf reports it to
 * nobody here): a scrape then fails its parse, which Prometheus shows as a
 * failed scrape, not as wrong numbers.
 */
#include "lib/prom.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *prom_type_str(enum prom_type t)
{
	switch (t) {
	case PROM_COUNTER: return "counter";
	case PROM_GAUGE: return "gauge";
	case PROM_HISTOGRAM: return "histogram";
	}
	return "untyped";
}

/* s with the characters in `special` escaped by a backslash ('\n' as "\n"). */
static void append_escaped(struct buf *o, const char *s, const char *special)
{
	const char *run = s;

	for (; *s != '\0'; s++) {
		if (strchr(special, *s) == NULL)
			continue;
		buf_append(o, run, (size_t)(s - run));
		buf_append(o, *s == '\n' ? "\\n" : *s == '"' ? "\\\"" : "\\\\", 2);
		run = s + 1;
	}
	buf_append(o, run, (size_t)(s - run));
}

void prom_family(struct buf *o, const char *name, enum prom_type t, const char *help)
{
	buf_appendf(o, "# HELP %s ", name);
	append_escaped(o, help, "\\\n");
	buf_appendf(o, "\n# TYPE %s %s\n", name, prom_type_str(t));
}

static void append_labels(struct buf *o, const char *name, va_list ap)
{
	const char *k = va_arg(ap, const char *);
	int first = 1;

	buf_append(o, name, strlen(name));
	for (; k != NULL; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);

		buf_appendf(o, "%s%s=\"", first ? "{" : ",", k);
		append_escaped(o, v != NULL ? v : "", "\\\"\n");
		buf_append(o, "\"", 1);
		first = 0;
	}
	if (!first)
		buf_append(o, "}", 1);
}

void prom_u64(struct buf *o, const char *name, uint64_t v, ...)
{
	va_list ap;

	va_start(ap, v);
	append_labels(o, name, ap);
	va_end(ap);
	buf_appendf(o, " %llu\n", (unsigned long long)v);
}

void prom_f64(struct buf *o, const char *name, double v, ...)
{
	va_list ap;

	va_start(ap, v);
	append_labels(o, name, ap);
	va_end(ap);
	if (isnan(v))
		buf_appendf(o, " NaN\n");
	else if (isinf(v))
		buf_appendf(o, " %cInf\n", v > 0 ? '+' : '-');
	else
		buf_appendf(o, " %.15g\n", v);
}

double prom_ms_to_s(uint64_t ms)
{
	return (double)ms / 1000.0;
}
