/*
 * proxyd/prefetch_front.h — the worker end of prefetching (proxyd/prefetch.c
 * decides what to fetch and when): a GET for a peer's hot key is handed
 * from the control thread to a worker, which runs it as an internal
 * exchange — no client connection, the route, cache and upstream a
 * client's request for that host and path takes, the response body
 * discarded once the cache stored it (a sink front). Module prefix: pfx_.
 */
#ifndef PROXYD_PREFETCH_FRONT_H
#define PROXYD_PREFETCH_FRONT_H

#include <stddef.h>
#include <stdint.h>

struct worker;

/* What became of one handed-off request. */
struct pfx_result {
	uint32_t id;
	int status;        /* the answer's status; 0: none (failed before one) */
	int stale;         /* the cache answered with a stale object (the origin failed) */
	int failed;        /* no whole answer: aborted, timed out, out of memory */
};

/* Control thread: a GET for http(s)://host target, handed to a worker
 * (round robin) and woken. 0, or -1 (no worker, or the hand-off table
 * full). id comes back in its result. */
int pfx_submit(uint32_t id, int https, const char *host, const char *target);
/* Control thread: up to max results of ended requests into out; their
 * number. */
size_t pfx_collect(struct pfx_result *out, size_t max);
/* Worker (its ev_async callback): starts the requests handed to wk. */
void pfx_run(struct worker *wk);
/* Worker stopping: its prefetch exchanges aborted (they hold backend
 * connections and a generation). */
void pfx_stop(struct worker *wk);

#endif
