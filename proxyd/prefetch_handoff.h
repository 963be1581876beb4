/*
 * proxyd/prefetch_handoff.h — what passes between the control thread's
 * prefetch (proxyd/prefetch.c: what to fetch, when) and the workers that
 * run each fetch as an internal exchange (proxyd/prefetch_front.c): a
 * small table of requests, one of results, under one mutex. It knows
 * nothing of workers but their number and how to wake one (given by
 * proxyd/worker.c), so the control side needs nothing of the request path.
 * Module prefix: pfx_.
 */
#ifndef PROXYD_PREFETCH_HANDOFF_H
#define PROXYD_PREFETCH_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#define PREFETCH_KEY_MAX    1024   /* host + target bytes (proxyd/cache_digest.h CDIG_KEY_MAX) */
#define PREFETCH_PARALLEL   4      /* requests in flight */
#define PREFETCH_TIMEOUT_MS 10000  /* one request, handed off to its last byte: aborted after */

/* A request handed to a worker: GET http(s)://host target. */
struct pfx_job {
	uint32_t id;
	int https;
	char host[256];
	char target[PREFETCH_KEY_MAX + 1];
};

/* What became of one. */
struct pfx_result {
	uint32_t id;
	int status;        /* the answer's status; 0: none (failed before one) */
	int stale;         /* the cache answered with a stale object (the origin failed) */
	int failed;        /* no whole answer: aborted, timed out, out of memory */
};

/* proxyd/worker.c, once its n workers run: how many, and how to wake one. */
void pfx_set_workers(int n, void (*kick)(int idx));
/* Control thread: a request handed to a worker (round robin) and that
 * worker woken. 0, or -1 (no worker, host or target too long, the table
 * full). id comes back in its result. */
int pfx_submit(uint32_t id, int https, const char *host, const char *target);
/* Control thread: up to max results into out; their number. */
size_t pfx_collect(struct pfx_result *out, size_t max);
/* Worker idx: up to max requests handed to it, taken from the table. */
size_t pfx_take(int idx, struct pfx_job *out, size_t max);
/* Worker: one request's result. */
void pfx_report(uint32_t id, int status, int stale, int failed);

#endif
