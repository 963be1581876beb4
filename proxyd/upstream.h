/*
 * proxyd/upstream.h — backend servers as one worker sees them: a balancer over
 * per-worker struct bal_server copies, keep-alive pools of idle backend
 * connections, connection limits, and the nonblocking connect.
 *
 * Operator state (ready/drain/maint, weight) comes from struct pd_srv_shared
 * through relaxed atomics; a worker folds it into eff_weight when
 * srvstate_version moves, so the hot path takes no lock.
 */
#ifndef PROXYD_UPSTREAM_H
#define PROXYD_UPSTREAM_H

#include <stdint.h>

#include "lib/buf.h"
#include "lib/ev.h"
#include "proxyd/balance.h"
#include "proxyd/config.h"
#include "proxyd/endpoint.h"

struct worker;
struct req;
struct ssl_st;

enum bconn_state { BC_CONNECTING = 0, BC_ACTIVE, BC_IDLE, BC_CLOSED };

struct bconn {
	/* The socket end; TLS upstreams keep the client side of OpenSSL in
	 * ep.ssl while pooled (the session stays up). ep.defer reads plaintext
	 * left inside OpenSSL (EP_TLS_MORE). */
	struct endpoint ep;
	struct ev_timer timer;          /* pool idle timeout */
	struct bconn *prev, *next;      /* pool list, or free/reap list */
	struct worker *wk;
	struct up_rt *up;
	struct req *req;
	int srv;
	uint8_t state;
	uint8_t reused;                 /* came from the pool: a failure before any response byte is retryable */
	uint32_t nreq;
	uint64_t rx;                    /* response bytes received on this request */
};

struct up_srv {
	struct bconn *idle;             /* most recently used first */
	uint32_t nidle;
};

struct up_rt {
	const struct pd_upstream *cfg;
	struct bal_server *bs;
	struct up_srv *srv;
	struct balancer *bal;
	uint32_t admin_ver;
};

/* Builds the runtime of upstream u for one worker (called on the control thread).
 * 0/-1 (ENOMEM). */
int up_rt_init(struct up_rt *rt, const struct pd_upstream *u, uint64_t seed);
/* Frees balancer and arrays; the pools must already be empty. */
void up_rt_fini(struct up_rt *rt);
/* Closes every idle pooled connection of rt (worker thread). */
void up_rt_close_idle(struct worker *wk, struct up_rt *rt);

/* Picks a server for a request: index or -1 (none available; *limited set to 1
 * when a connection limit was the reason). */
int up_pick(struct worker *wk, struct up_rt *rt, uint64_t key_hash, const uint8_t *exclude, int *limited);
/* As up_pick, but returns `want` (a server index, e.g. the one a sticky
 * cookie names) when it is available: weight and eff_weight > 0 (not down,
 * drained, in maintenance or ejected), not in exclude (a retry never goes
 * back to the server that failed) and below its max_conns. Otherwise the
 * balancer picks as usual. want out of range is treated as unavailable. */
int up_pick_prefer(struct worker *wk, struct up_rt *rt, int want, uint64_t key_hash, const uint8_t *exclude,
    int *limited);
/* A connection to server srv for req: an idle pooled one, or a new nonblocking
 * connect (state BC_CONNECTING). NULL with errno on immediate failure. */
struct bconn *up_get(struct worker *wk, struct up_rt *rt, int srv, struct req *req);
/* Done with b: back to the pool if reusable and the pool has room, else closed. */
void up_release(struct bconn *b, int reusable);

/* The io and deferred callbacks for backend sockets are backend_io() and
 * backend_defer() (proxyd/backend.h). */

#endif
