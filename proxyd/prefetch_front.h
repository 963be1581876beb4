/*
 * proxyd/prefetch_front.h — the worker end of prefetching: each request
 * handed off by the control thread (proxyd/prefetch_handoff.h) runs as an
 * internal exchange — no client connection; the route, cache and upstream
 * a client's request for that host and path takes; the response body
 * dropped once the cache stored it (a sink front). Worker threads only.
 * Module prefix: pfx_.
 */
#ifndef PROXYD_PREFETCH_FRONT_H
#define PROXYD_PREFETCH_FRONT_H

struct worker;

/* The worker's ev_async callback: starts the requests handed to wk. */
void pfx_run(struct worker *wk);
/* Worker stopping: its prefetch exchanges aborted (they hold backend
 * connections and a generation). */
void pfx_stop(struct worker *wk);

#endif
