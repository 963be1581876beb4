/*
 * proxyd/conn.c — client connection lifecycle on a worker: accept, the
 * interest set, idle keep-alive, close and reap.
 *
 * A connection is closed at once (its fd and watchers go away) but its memory
 * is reaped from the worker's deferred queue, never inside the callback that
 * closed it, so a callback further up the stack still sees valid memory with
 * c->closing set. Freed connections go to the worker's free list, so a busy
 * worker does not call malloc per connection either. A connection accepted
 * on a TLS listener gets its SSL object here (holding a reference on that
 * generation's tls_server, so a reload never pulls certificates from under
 * it) and sends close_notify when closed.
 */
#include "proxyd/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/net.h"
#include "proxyd/config.h"
#include "proxyd/connlimit.h"
#include "proxyd/client.h"
#include "proxyd/exchange.h"
#include "proxyd/h2.h"
#include "proxyd/metrics.h"
#include "proxyd/procstate.h"
#include "proxyd/tls.h"
#include "proxyd/worker.h"

static struct log_ratelimit rl_limit = LOG_RATELIMIT_INIT(5000);

const char *
conn_peer_str(const struct conn *c, char *buf, size_t len)
{
	if (c->family == 2 && len >= 16) {
		/* Once or twice per request: cheaper than inet_ntop. */
		char *p = buf;
		for (int i = 0; i < 4; i++) {
			unsigned v = c->peer[i];
			if (v >= 100)
				*p++ = (char)('0' + v / 100);
			if (v >= 10)
				*p++ = (char)('0' + v / 10 % 10);
			*p++ = (char)('0' + v % 10);
			*p++ = i < 3 ? '.' : '\0';
		}
		return buf;
	}
	if (inet_ntop(c->family == 2 ? AF_INET : AF_INET6, c->peer, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

static int
listener_allows(const struct pd_listener *lis, const struct sockaddr *sa)
{
	for (size_t i = 0; i < lis->ndeny; i++)
		if (net_cidr_match(&lis->deny[i], sa))
			return 0;
	if (lis->nallow == 0)
		return 1;
	for (size_t i = 0; i < lis->nallow; i++)
		if (net_cidr_match(&lis->allow[i], sa))
			return 1;
	return 0;
}

int
conn_accept(struct worker *wk, int fd, const struct sockaddr_storage *ss, const struct pd_listener *lis)
{
	const struct pd_config *g = wk->gen;
	struct conn *c;
	uint8_t fam, peer[16], cla[16];
	int counted = 0;

	/* Refused connections are closed before anything is allocated or
	 * read: the cheapest answer to a flood. */
	if ((lis->nallow | lis->ndeny) != 0 && !listener_allows(lis, (const struct sockaddr *)ss)) {
		MET_INC(wk->m->guard[MET_G_LISTENER_ACL]);
		close(fd);
		return -1;
	}
	if (g->max_connections > 0 && wk->nconns >= g->max_connections) {
		MET_INC(wk->m->guard[MET_G_CONN_WORKER]);
		log_rl_warnx(&rl_limit, ev_now(wk->loop), "worker %d: connection limit %u reached", wk->idx,
		    g->max_connections);
		close(fd);
		return -1;
	}
	if (g->max_connections_total > 0 &&
	    atomic_load_explicit(&procstate_active_conns, memory_order_relaxed) >= g->max_connections_total) {
		MET_INC(wk->m->guard[MET_G_CONN_TOTAL]);
		log_rl_warnx(&rl_limit, ev_now(wk->loop), "worker %d: process connection limit %u reached", wk->idx,
		    g->max_connections_total);
		close(fd);
		return -1;
	}
	if (ss->ss_family == AF_INET) {
		fam = AF_INET;
		memcpy(peer, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
		fam = AF_INET6;
		memcpy(peer, &s6->sin6_addr, 16);
		/* An IPv4-mapped client counts (and shows) as IPv4. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			fam = AF_INET;
			memmove(peer, peer + 12, 4);
		}
	}
	/* Counted per prefix, not per address: see cl_key. The key is kept
	 * in the connection, so a reload that changes the prefix releases
	 * what was acquired. */
	cl_key(fam, peer, g->per_ip_v4_prefix, g->per_ip_v6_prefix, cla);
	if (g->max_connections_per_ip > 0) {
		int rc = cl_acquire(fam, cla, g->max_connections_per_ip);
		if (rc == 0) {
			char ab[48];
			MET_INC(wk->m->guard[MET_G_CONN_PER_IP]);
			inet_ntop(fam == AF_INET ? AF_INET : AF_INET6, cla, ab, sizeof(ab));
			log_rl_warnx(&rl_limit, ev_now(wk->loop), "%s/%d: per-address connection limit %u reached", ab,
			    fam == AF_INET ? g->per_ip_v4_prefix : g->per_ip_v6_prefix, g->max_connections_per_ip);
			close(fd);
			return -1;
		}
		counted = rc == 1;
	}
	if ((c = wk->free_conns) != NULL) {
		wk->free_conns = c->next;
		wk_cache_take(&wk->nfree_conns, &wk->low_conns);
	} else if ((c = malloc(sizeof(*c))) == NULL) {
		if (counted)
			cl_release(fam, cla);
		close(fd);
		return -1;
	}
	memset(c, 0, sizeof(*c));
	c->wk = wk;
	c->lis = lis;
	c->id = ++wk->next_id * PD_MAX_WORKERS + (uint64_t)wk->idx;
	c->family = fam;
	memcpy(c->peer, peer, 16);
	memcpy(c->cl_addr, cla, 16);
	c->port = (uint16_t)net_addr_port((const struct sockaddr *)ss);
	c->ip_counted = (uint8_t)counted;
	net_set_nodelay(fd);
	if (wk->gen != NULL)
		config_set_keepalive(&wk->gen->to, fd);
	if (lis->tls != NULL && (c->ep.ssl = tls_conn_new(lis->tls, fd)) == NULL) {
		log_rl_warnx(&rl_limit, ev_now(wk->loop), "worker %d: out of memory for a TLS connection", wk->idx);
		if (counted)
			cl_release(fam, cla);
		close(fd);
		c->next = wk->free_conns;
		wk->free_conns = c;
		wk->nfree_conns++;
		return -1;
	}
	c->lo = config_lopts_ref(lis->opts);
	ep_init(&c->ep, wk->loop, fd, client_io, client_defer, c);
	ev_timer_init(&c->timer, client_timeout, c);
	if (ev_io_start(wk->loop, &c->ep.io, EV_READ) == -1) {
		log_warn("worker %d: cannot watch a client socket", wk->idx);
		if (counted)
			cl_release(fam, cla);
		tls_conn_free(c->ep.ssl);
		c->ep.ssl = NULL;
		config_lopts_unref(c->lo);
		c->lo = NULL;
		close(fd);
		c->next = wk->free_conns;
		wk->free_conns = c;
		wk->nfree_conns++;
		return -1;
	}
	c->state = CONN_IDLE;
	ev_timer_start(wk->loop, &c->timer, wk->gen->to.client_header);
	c->next = wk->conns;
	if (wk->conns != NULL)
		wk->conns->prev = c;
	wk->conns = c;
	wk->nconns++;
	atomic_fetch_add_explicit(&procstate_active_conns, 1, memory_order_relaxed);
	MET_INC(wk->m->conns_total);
	MET_INC(wk->m->conns_active);
	return 0;
}

void
conn_want(struct conn *c, int rd, int wr)
{
	if (!c->closing)
		(void)ep_want(&c->ep, rd, wr);
}

void
conn_close_linger(struct conn *c, const char *why)
{
	struct worker *wk = c->wk;

	if (c->closing || c->state == CONN_LINGER)
		return;
	if (wk->gen == NULL || wk->gen->to.linger == 0) {
		conn_close(c, why);
		return;
	}
	if (c->h2 != NULL)
		h2_conn_close(c);
	exch_release(c);
	ev_defer_cancel(wk->loop, &c->ep.defer);
	ep_tls_end(&c->ep);
	/* What is left in c->ep.in was never going to be answered. */
	c->ep.in.rpos = c->ep.in.wpos = 0;
	worker_buf_put(wk, &c->ep.in);
	if (shutdown(c->ep.io.fd, SHUT_WR) == -1) {
		conn_close(c, why);
		return;
	}
	log_debug("conn %llu: lingering close: %s", (unsigned long long)c->id, why);
	c->state = CONN_LINGER;
	c->linger_left = CONN_LINGER_BYTES;
	conn_want(c, 1, 0);
	ev_timer_start(wk->loop, &c->timer, wk->gen->to.linger);
}

void
conn_linger_read(struct conn *c)
{
	uint8_t sink[4096];
	ssize_t n;

	for (;;) {
		do
			n = read(c->ep.io.fd, sink, sizeof(sink));
		while (n == -1 && errno == EINTR);
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			MET_INC(c->wk->m->linger[n == 0 ? MET_LINGER_FIN : MET_LINGER_ERROR]);
			conn_close(c, n == 0 ? "client closed after the last response" : "client read error (lingering)");
			return;
		}
		if ((size_t)n >= c->linger_left) {
			MET_INC(c->wk->m->linger[MET_LINGER_BYTES]);
			conn_close(c, "lingering close: byte bound reached");
			return;
		}
		c->linger_left -= (uint32_t)n;
	}
}

void
conn_close(struct conn *c, const char *why)
{
	struct worker *wk = c->wk;

	if (c->closing)
		return;
	c->closing = 1;
	log_debug("conn %llu: closed: %s", (unsigned long long)c->id, why);
	if (c->h2 != NULL)
		h2_conn_close(c);
	exch_release(c);
	ev_io_stop(wk->loop, &c->ep.io);
	ev_timer_stop(wk->loop, &c->timer);
	ev_defer_cancel(wk->loop, &c->ep.defer);
	ep_tls_end(&c->ep);
	config_lopts_unref(c->lo);
	c->lo = NULL;
	close(c->ep.io.fd);
	c->ep.io.fd = -1;
	if (c->ip_counted) {
		cl_release(c->family, c->cl_addr);
		c->ip_counted = 0;
	}
	c->ep.in.rpos = c->ep.in.wpos = 0;
	worker_buf_put(wk, &c->ep.in);
	c->state = CONN_CLOSED;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		wk->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	wk->nconns--;
	atomic_fetch_sub_explicit(&procstate_active_conns, 1, memory_order_relaxed);
	MET_ADD(wk->m->conns_active, (uint64_t)-1);
	c->next = wk->reap;
	wk->reap = c;
	worker_reap_schedule(wk);
}

void
conn_set_idle(struct conn *c)
{
	struct worker *wk = c->wk;

	c->state = CONN_IDLE;
	worker_buf_put(wk, &c->ep.in);
	if (c->ep.rd_off || c->ep.wr_on)
		conn_want(c, 1, 0);
	else if (c->ep.flags & EP_TLS_MORE)
		ev_defer(wk->loop, &c->ep.defer);   /* the next request is already inside OpenSSL */
	ev_timer_start(wk->loop, &c->timer, wk->gen->to.client_idle);
}

void
conn_drain_idle(struct conn *c, uint64_t grace_ms)
{
	struct ev_loop *loop = c->wk->loop;

	if (c->h2 != NULL) {
		h2_drain(c);
		return;
	}
	if (c->state != CONN_IDLE || c->req != NULL || buf_len(&c->ep.in) != 0)
		return;
	if (!ev_timer_active(&c->timer) || ev_timer_remaining(loop, &c->timer) > grace_ms)
		ev_timer_start(loop, &c->timer, grace_ms);
}

void
conn_close_if_idle(struct conn *c)
{
	if (c->h2 != NULL) {
		/* Stop: streams under way finish after a GOAWAY. */
		h2_drain(c);
		return;
	}
	if (c->state == CONN_IDLE && c->req == NULL && buf_len(&c->ep.in) == 0)
		conn_close(c, "idle connection closed (drain)");
}
