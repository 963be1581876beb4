/*
 * proxyd/hcheck.h — health of backend servers at run time: active checks
 * (HTTP or TCP connect) on the control thread, passive outlier ejection from
 * what workers see, slow start and the panic threshold (the rules live in
 * proxyd/health.c), published to workers lock-free.
 *
 * Publication: for each server the control thread stores the weight the
 * balancer should use into struct pd_srv_shared.hweight and bumps
 * srvstate_version; a worker folds it into its own bal_server array on
 * its next pick (proxyd/upstream.c), exactly as it does for the admin
 * socket's `set server`. Workers report request outcomes into
 * pd_srv_shared.pfail (relaxed atomics) and wake the control thread through
 * an ev_async only when a run of failures reaches the upstream's eject.after.
 * Module prefix: hc_.
 */
#ifndef PROXYD_HCHECK_H
#define PROXYD_HCHECK_H

#include "lib/buf.h"
#include "lib/ev.h"
#include "proxyd/config.h"

/* Sets up the control thread's side (the wakeup workers use). Call once on
 * the control loop before the workers start. 0/-1. */
int hc_start(struct ev_loop *loop);
/* Adopts generation gen (takes its own reference): rebuilds the checked
 * upstreams, keeping the health state of servers whose upstream and server
 * names did not change, and starts their checks. Control thread only. */
void hc_sync(struct pd_config *gen);
/* Stops every check and drops the generation. */
void hc_stop(void);
/* The operator changed a server's admin state or weight (admin socket):
 * recompute and publish the weights now. Control thread only. */
void hc_admin_changed(void);
/* Appends the per-server health metrics (Prometheus text). Control thread. */
void hc_render(struct buf *o);

#define HC_MAX_READ 65536u      /* bytes of a check answer looked at */

/* Judges the first len bytes of the answer to an HTTP check (pure; for the
 * checker and its tests): the status line (RFC 9112 §4) must be well formed
 * with a status within k's expect_status range, and with k->expect_body set
 * the body must contain it. eof: the server closed (nothing more will come).
 * Returns 1 pass, 0 fail (a reason in why, wl bytes), -1 undecided (read
 * more; never once eof is set or len reaches HC_MAX_READ). */
int hc_judge_http(const struct pd_check *k, const char *d, size_t len, int eof, char *why, size_t wl);

/* For hacd's replication, control thread only. */
/* Calls cb for every server whose state this node decided itself (its own
 * checks), with up/down and the wall-clock time of that decision in ms. */
void hc_foreach_observation(void (*cb)(void *arg, const char *upstream, const char *server, int up,
    uint64_t observed_unix_ms), void *arg);
/* A peer's observation of upstream/server: used until this node's own checks
 * reach a verdict (proxyd/health.c health_peer_view). 1 when it changed the
 * server's state, 0 when ignored, -1 for an unknown server. */
int hc_peer_view(const char *upstream, const char *server, int up, uint64_t observed_unix_ms);
/* For the status page (proxyd/status.c), control thread only: the health of
 * upstream/server as the checker holds it — *up, and where the verdict came
 * from (health_source_str: "assumed", "peer", "local"). 0, or -1 when the
 * upstream has no health management (no check, no ejection). */
int hc_server_health(const char *upstream, const char *server, int *up, const char **source);

void hc_passive_slow(const struct pd_upstream *u, int srv, int failed);
/* Worker threads: the outcome of one request on server srv of u (failed:
 * a 5xx response, a connect failure or timeout). Free when the upstream has
 * no ejection configured; otherwise a relaxed load (and a store or an
 * atomic add on a failure): no lock, no syscall except the one wakeup when a
 * run reaches eject.after. */
static inline void
hc_passive(const struct pd_upstream *u, int srv, int failed)
{
	if (u->eject_after != 0 && srv >= 0 && (size_t)srv < u->nservers)
		hc_passive_slow(u, srv, failed);
}

#endif
