/*
 * proxyd/worker.h — worker threads: one event loop, one SO_REUSEPORT socket per
 * listener, the connections accepted on it, and per-thread caches.
 *
 * A worker owns everything it touches on the request path (connections,
 * backend connections and their pools, buffers, counters), so that path takes
 * no lock. The control thread talks to workers only through ev_async and a few
 * atomics: a new configuration generation, drain, stop (proxyd/procstate.h,
 * so that the control-thread modules need not include this header).
 */
#ifndef PROXYD_WORKER_H
#define PROXYD_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/ev.h"
#include "proxyd/config.h"

struct conn;
struct req;
struct bconn;
struct up_rt;
struct wmetrics;
struct compress_pool;

/* Per-worker, per-generation runtime: pools and balancers of each upstream. */
struct wslot {
	uint32_t inflight;              /* requests of this worker on this generation */
	int held;                       /* the worker holds a reference on the generation */
	struct up_rt *ups;              /* nupstreams entries */
	size_t nups;
};

struct wlisten {
	struct ev_io io;
	struct pd_lsock *ls;
	const struct pd_listener *lis;
	struct worker *wk;
};

/* Buffer storage for an active exchange (an idle connection holds none).
 * 32 KiB: a 16 KiB response plus its head then fits one read and one write;
 * with 16 KiB it took two of each and 31 us of CPU per request against 22
 * (make bench's 16 KiB case, one worker). Only touched pages cost memory. */
#define WK_BUF_SIZE   32768u
#define WK_BUF_CACHE  256
/* The caches above and the free lists of connections and exchanges follow
 * a burst up and kept it forever: 400 connections at once left 14 MB in use
 * with none open (docs/assurance.md). A fixed number kept was not enough
 * either: each failover's burst filled the caches a little further towards
 * it, and the soak saw RSS step up at every failover. Every WK_TRIM_MS a
 * worker frees what each cache did not use since the previous trim (the
 * fewest entries it held meanwhile, its low-water mark, sat idle the whole
 * time), and in any case what is beyond WK_TRIM_KEEP_BUFS buffers and
 * WK_TRIM_KEEP structures per list: idle memory follows the last seconds'
 * load, and a burst's leftovers go within two trims. */
#define WK_TRIM_MS          10000
#define WK_TRIM_KEEP_BUFS   16
#define WK_TRIM_KEEP        64
/* Bytes a trim freed that call for malloc_trim: one buffer. glibc hands
 * back only the top of a heap by itself; freed pages in the middle stay
 * resident until malloc_trim (docs/assurance.md). */
#define WK_TRIM_RELEASE     WK_BUF_SIZE

struct worker {
	int idx;
	pthread_t thread;
	struct ev_loop *loop;
	struct ev_async async;
	struct pd_config *gen;          /* current generation (reference held) */
	struct pd_config *old[64];      /* older generations still in use here */
	int nold;
	struct wlisten lis[PD_MAX_LISTENERS];
	int nlis;
	struct conn *conns;             /* all live client connections */
	uint64_t nconns;
	uint64_t next_id;
	struct conn *free_conns;
	struct req *free_reqs;
	struct bconn *free_bconns;
	int nfree_conns, nfree_bconns, nfree_reqs;      /* the free lists' lengths */
	/* The fewest entries each cache held since the last trim (wk_cache_take). */
	int low_bufs, low_conns, low_bconns, low_reqs;
	struct conn *reap;              /* closed, freed in the deferred callback */
	struct bconn *reap_b;
	struct ev_defer reap_defer;
	uint8_t *bufs[WK_BUF_CACHE];
	int nbufs;
	struct buf scratch;
	struct buf alog;                /* access log lines not yet written */
	struct ev_timer alog_timer;
	struct ev_timer stop_timer;
	struct ev_timer trim_timer;     /* worker_trim_caches every WK_TRIM_MS */
	struct wmetrics *m;
	/* Response compression's coders (proxyd/compress.h): at most the
	 * current generation's compression.max_streams, busy and idle. */
	struct compress_pool *cpool;
	uint64_t rng;
	int draining, stopping;
	uint32_t admin_ver;
};

/* Starts n workers on generation gen (its listener sockets already open).
 * 0, or -1 (thread or loop creation failed). */
int worker_start_all(int n, struct pd_config *gen);
/* Prepares per-worker runtime for gen (control thread, before publishing). 0/-1. */
int worker_prepare_gen(struct pd_config *gen, int nworkers);
/* Publishes gen as the current generation (procstate_current; takes over the
 * caller's reference) and wakes every worker. */
void worker_publish(struct pd_config *gen);
/* Wakes every worker so it looks at the flags of proxyd/procstate.h again
 * (what procstate_kick() calls once workers run). */
void worker_kick_all(void);
/* Wakes worker i only (a prefetch handed to it: proxyd/prefetch_front.c). */
void worker_kick(int i);
/* Joins all workers (after procstate_stopping). */
void worker_join_all(void);
/* Number of workers started (0 before worker_start_all). */
int worker_count(void);

/* Buffer storage cache: gives b storage of WK_BUF_SIZE if it has none;
 * takes it back when b is empty. */
int worker_buf_get(struct worker *wk, struct buf *b);
void worker_buf_put(struct worker *wk, struct buf *b);
/* Frees, of the cached buffers and the free-list connections, backend
 * connections and exchanges, what each cache left unused since the previous
 * call (its low-water mark) and what is beyond keep_bufs buffers and keep
 * entries per list; with no connection open, the idle compression coders
 * too. keep 0 empties them (the worker's exit). Returns the bytes freed
 * from the buffers and lists. */
size_t worker_trim_caches(struct worker *wk, int keep_bufs, int keep);
/* An entry taken from a cache of *n entries: counts it and lowers the
 * cache's low-water mark *low. (Putting one back is ++*n.) */
static inline void
wk_cache_take(int *n, int *low)
{
	if (--*n < *low)
		*low = *n;
}
/* Fast thread-local PRNG (xorshift). */
uint32_t worker_rand(struct worker *wk);
/* A request on generation g ended on this worker (drops the generation when
 * it is no longer current here and this was its last request). */
void worker_gen_release(struct worker *wk, struct pd_config *g);
void worker_gen_acquire(struct worker *wk, struct pd_config *g);
/* Frees closed connections (wk->reap, wk->reap_b) after this iteration. */
void worker_reap_schedule(struct worker *wk);
/* A connection ended: lets a stopping worker finish. */
void worker_conn_reaped(struct worker *wk);

#endif
