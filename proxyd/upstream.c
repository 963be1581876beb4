/*
 * proxyd/upstream.c — servers, keep-alive pools and connection limits, per
 * worker thread.
 *
 * Every worker has, for each upstream of each generation it uses, its own
 * struct bal_server array and balancer (proxyd/balance.c), and per server a
 * LIFO pool of idle backend connections (the most recently used one is the
 * least likely to have been closed by the server). Pooled connections stay
 * registered for EV_READ: any event on an idle one means the server closed it
 * or sent bytes nobody asked for, and it is closed. Idle connections expire
 * after pool_idle_timeout, which should stay below the servers' own keep-alive
 * timeout.
 *
 * Operator state and health (struct pd_srv_shared: state, weight override,
 * and hweight from proxyd/hcheck.c) are folded into eff_weight when the
 * global srvstate_version changes: one load per pick.
 */
#include "proxyd/upstream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/net.h"
#include "proxyd/backend.h"
#include "proxyd/tls.h"
#include "proxyd/worker.h"

int
up_rt_init(struct up_rt *rt, const struct pd_upstream *u, uint64_t seed)
{
	memset(rt, 0, sizeof(*rt));
	rt->cfg = u;
	rt->bs = calloc(u->nservers, sizeof(*rt->bs));
	rt->srv = calloc(u->nservers, sizeof(*rt->srv));
	if (rt->bs == NULL || rt->srv == NULL)
		return -1;
	for (size_t i = 0; i < u->nservers; i++) {
		rt->bs[i].weight = u->servers[i].weight;
		rt->bs[i].eff_weight = u->servers[i].weight;
		rt->bs[i].id_hash = balance_hash(u->servers[i].name, strlen(u->servers[i].name));
	}
	/* Force the first pick to fold in the operator state. */
	rt->admin_ver = atomic_load(&srvstate_version) - 1;
	rt->bal = balancer_new(u->algo, rt->bs, u->nservers, seed);
	return rt->bal == NULL ? -1 : 0;
}

void
up_rt_fini(struct up_rt *rt)
{
	balancer_free(rt->bal);
	free(rt->bs);
	free(rt->srv);
	memset(rt, 0, sizeof(*rt));
}

static void
refresh_admin(struct up_rt *rt, uint32_t ver)
{
	const struct pd_upstream *u = rt->cfg;

	for (size_t i = 0; i < u->nservers; i++) {
		struct pd_srv_shared *sh = u->servers[i].shared;
		uint32_t st = atomic_load_explicit(&sh->state, memory_order_relaxed);
		uint32_t w = atomic_load_explicit(&sh->weight_override, memory_order_relaxed);
		uint32_t hw = atomic_load_explicit(&sh->hweight, memory_order_relaxed);
		if (w == UINT32_MAX)
			w = u->servers[i].weight;
		if (w > BAL_MAX_WEIGHT)
			w = BAL_MAX_WEIGHT;
		/* hweight (proxyd/hcheck.c) has health, ejection, panic and slow
		 * start folded in; without health management it is UINT32_MAX. */
		rt->bs[i].weight = w;
		rt->bs[i].eff_weight = st == PD_SRV_READY ? w : 0;
		if (hw != UINT32_MAX && rt->bs[i].eff_weight > hw)
			rt->bs[i].eff_weight = hw;
	}
	balancer_update(rt->bal);
	rt->admin_ver = ver;
}

int
up_pick(struct worker *wk, struct up_rt *rt, uint64_t key_hash, const uint8_t *exclude, int *limited)
{
	/* Acquire: the per-server values published before the bump are seen
	 * (a plain load on x86). */
	uint32_t ver = atomic_load_explicit(&srvstate_version, memory_order_acquire);
	const struct pd_upstream *u = rt->cfg;
	uint8_t mask[BAL_MASK_BYTES(BAL_MAX_SERVERS)];
	const uint8_t *ex = exclude;
	int idx;

	(void)wk;
	if (ver != rt->admin_ver)
		refresh_admin(rt, ver);
	*limited = 0;
	for (;;) {
		idx = balancer_pick(rt->bal, key_hash, ex);
		if (idx < 0)
			return -1;
		const struct pd_server *s = &u->servers[idx];
		if (s->max_conns == 0 ||
		    atomic_load_explicit(&s->shared->inuse, memory_order_relaxed) < s->max_conns)
			return idx;
		/* At its limit: try the others, then give up with 503. */
		*limited = 1;
		if (ex != mask) {
			memset(mask, 0, BAL_MASK_BYTES(u->nservers));
			if (exclude != NULL)
				memcpy(mask, exclude, u->nservers < 512 ? BAL_MASK_BYTES(u->nservers) : 64);
			ex = mask;
		}
		bal_mask_set(mask, (size_t)idx);
	}
}

int
up_pick_prefer(struct worker *wk, struct up_rt *rt, int want, uint64_t key_hash, const uint8_t *exclude,
    int *limited)
{
	uint32_t ver = atomic_load_explicit(&srvstate_version, memory_order_acquire);
	const struct pd_upstream *u = rt->cfg;

	if (ver != rt->admin_ver)
		refresh_admin(rt, ver);
	if (want >= 0 && (size_t)want < u->nservers && rt->bs[want].weight > 0 && rt->bs[want].eff_weight > 0 &&
	    !bal_mask_test(exclude, (size_t)want)) {
		const struct pd_server *s = &u->servers[want];
		if (s->max_conns == 0 ||
		    atomic_load_explicit(&s->shared->inuse, memory_order_relaxed) < s->max_conns) {
			*limited = 0;
			return want;
		}
	}
	return up_pick(wk, rt, key_hash, exclude, limited);
}

static struct bconn *
bconn_alloc(struct worker *wk)
{
	struct bconn *b = wk->free_bconns;

	if (b != NULL) {
		wk->free_bconns = b->next;
		wk_cache_take(&wk->nfree_bconns, &wk->low_bconns);
	} else if ((b = malloc(sizeof(*b))) == NULL)
		return NULL;
	memset(b, 0, sizeof(*b));
	buf_init(&b->ep.in);
	return b;
}

static void
pool_unlink(struct bconn *b)
{
	struct up_srv *s = &b->up->srv[b->srv];

	if (b->prev != NULL)
		b->prev->next = b->next;
	else
		s->idle = b->next;
	if (b->next != NULL)
		b->next->prev = b->prev;
	b->prev = b->next = NULL;
	s->nidle--;
}

static void
pool_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	up_release(t->data, 0);
}

static void
inuse_add(struct bconn *b, int delta)
{
	const struct pd_server *s = &b->up->cfg->servers[b->srv];

	if (s->max_conns > 0)
		atomic_fetch_add_explicit(&s->shared->inuse, (uint32_t)delta, memory_order_relaxed);
}

struct bconn *
up_get(struct worker *wk, struct up_rt *rt, int srv, struct req *req)
{
	struct up_srv *s = &rt->srv[srv];
	const struct pd_server *cfg = &rt->cfg->servers[srv];
	struct bconn *b = s->idle;
	int fd;

	if (b != NULL) {
		pool_unlink(b);
		ev_timer_stop(wk->loop, &b->timer);
		b->state = BC_ACTIVE;
		b->reused = 1;
		b->req = req;
		b->nreq++;
		rt->bs[srv].active++;
		inuse_add(b, 1);
		return b;
	}
	fd = net_connect_tcp((const struct sockaddr *)&cfg->addr, cfg->addrlen);
	if (fd == -1)
		return NULL;
	if ((b = bconn_alloc(wk)) == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	net_set_nodelay(fd);
	if (wk->gen != NULL)
		config_set_keepalive(&wk->gen->to, fd);
	if (rt->cfg->tls != NULL && (b->ep.ssl = tls_client_conn_new(rt->cfg->tls, fd, (const struct sockaddr *)&cfg->addr)) == NULL) {
		close(fd);
		b->next = wk->free_bconns;
		wk->free_bconns = b;
		wk->nfree_bconns++;
		errno = ENOMEM;
		return NULL;
	}
	b->wk = wk;
	b->up = rt;
	b->srv = srv;
	b->req = req;
	b->state = BC_CONNECTING;
	b->nreq = 1;
	ep_init(&b->ep, wk->loop, fd, backend_io, backend_defer, b);
	ev_timer_init(&b->timer, pool_timer_cb, b);
	if (ev_io_start(wk->loop, &b->ep.io, EV_READ | EV_WRITE) == -1) {
		int e = errno;
		tls_conn_free(b->ep.ssl);
		b->ep.ssl = NULL;
		close(fd);
		b->next = wk->free_bconns;
		wk->free_bconns = b;
		wk->nfree_bconns++;
		errno = e;
		return NULL;
	}
	b->ep.wr_on = 1;
	rt->bs[srv].active++;
	inuse_add(b, 1);
	return b;
}

static void
bconn_close(struct bconn *b)
{
	struct worker *wk = b->wk;

	ev_io_stop(wk->loop, &b->ep.io);
	ev_timer_stop(wk->loop, &b->timer);
	/* A read queued to flush held filter output (backend.c) must not
	 * run on a connection reaped before the queue. */
	ev_defer_cancel(wk->loop, &b->ep.defer);
	/* close_notify only on a session in good standing (handshake done,
	 * no error: after one OpenSSL must not write again). */
	ep_tls_end(&b->ep);
	close(b->ep.io.fd);
	b->ep.io.fd = -1;
	b->ep.in.rpos = b->ep.in.wpos = 0;
	worker_buf_put(wk, &b->ep.in);
	b->state = BC_CLOSED;
	b->next = wk->reap_b;
	wk->reap_b = b;
	worker_reap_schedule(wk);
}

void
up_release(struct bconn *b, int reusable)
{
	struct worker *wk = b->wk;
	struct up_srv *s = &b->up->srv[b->srv];

	if (b->state == BC_IDLE) {
		/* An event or timeout on a pooled connection. */
		pool_unlink(b);
		bconn_close(b);
		return;
	}
	if (b->state == BC_CLOSED)
		return;
	b->up->bs[b->srv].active--;
	inuse_add(b, -1);
	b->req = NULL;
	if (!reusable || b->state != BC_ACTIVE || s->nidle >= b->up->cfg->keepalive || wk->stopping) {
		bconn_close(b);
		return;
	}
	b->state = BC_IDLE;
	b->reused = 0;
	b->rx = 0;
	worker_buf_put(wk, &b->ep.in);
	if (b->ep.rd_off || b->ep.wr_on)
		ep_want(&b->ep, 1, 0);
	b->prev = NULL;
	b->next = s->idle;
	if (s->idle != NULL)
		s->idle->prev = b;
	s->idle = b;
	s->nidle++;
	ev_timer_start(wk->loop, &b->timer, b->up->cfg->pool_idle_ms);
}

void
up_rt_close_idle(struct worker *wk, struct up_rt *rt)
{
	(void)wk;
	for (size_t i = 0; rt->srv != NULL && i < rt->cfg->nservers; i++)
		while (rt->srv[i].idle != NULL)
			up_release(rt->srv[i].idle, 0);
}
