/*
 * proxyd/hcheck.c — the control thread's health checker and the bridge
 * between proxyd/health.c (pure rules) and the workers' balancers.
 *
 * Every upstream with a `check`, an `eject` group or a `slow_start` gets a
 * struct hc_up: one struct health_server per server (the state machine),
 * and for active checks one probe per server. A probe is a nonblocking
 * connect on the control loop (lib/ev), then for HTTP one request with
 * Connection: close and a bounded read of the answer: the status line is
 * checked against expect_status (RFC 9110 §15) and, when expect_body is set,
 * the body is searched for it. One timer per probe serves as the interval
 * while idle and as the timeout while running, so a hung server costs one
 * fd for at most `timeout`. Workers never wait on any of this.
 *
 * After every result, passive report and admin change, the weights of the
 * group are recomputed (health_group_apply: admin state, health, ejection,
 * panic, slow start) and published through pd_srv_shared.hweight; a timer
 * armed at health_group_next_change() steps slow-start ramps and ends
 * ejections. State is keyed by "upstream/server" name so a reload keeps it.
 */
#include "proxyd/hcheck.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/ev.h"
#include "lib/log.h"
#include "lib/net.h"
#include "lib/prom.h"
#include "proxyd/health.h"


enum hc_phase { P_IDLE = 0, P_CONNECT, P_SEND, P_READ };

struct hc_up;

struct hc_probe {
	struct hc_up *up;
	size_t i;
	struct ev_io io;
	struct ev_timer timer;
	int fd;
	enum hc_phase phase;
	size_t woff;
	struct buf in;
	int last_ok;
	char last_why[80];
	char *req;                           /* the HTTP check request */
	size_t reqlen;
};

struct hc_up {
	struct hc_up *next;
	const struct pd_upstream *cfg;       /* in hc.gen */
	size_t n;
	struct health_server *hs;
	struct health_group g;
	struct bal_server *bs;               /* scratch for health_group_apply */
	struct hc_probe *pr;                 /* n entries when cfg->check.type != NONE */
	int panic;
};

static struct {
	struct ev_loop *loop;
	struct ev_async async;
	struct ev_timer apply;
	struct pd_config *gen;
	struct hc_up *ups;
	int started;
	struct log_ratelimit rl;
} hc = { .rl = LOG_RATELIMIT_INIT(10000) };

static void apply_all(void);

/* ---- workers' side ------------------------------------------------------ */

void
hc_passive_slow(const struct pd_upstream *u, int srv, int failed)
{
	struct pd_srv_shared *sh = u->servers[srv].shared;

	if (!failed) {
		/* Only write the shared line when a run was in progress. */
		if (atomic_load_explicit(&sh->pfail, memory_order_relaxed) != 0)
			atomic_store_explicit(&sh->pfail, 0, memory_order_relaxed);
		return;
	}
	if (atomic_fetch_add_explicit(&sh->pfail, 1, memory_order_relaxed) + 1 == u->eject_after && hc.started)
		ev_async_send(&hc.async);
}

/* ---- publication -------------------------------------------------------- */

static int
apply_up(struct hc_up *h, uint64_t now)
{
	const struct pd_upstream *u = h->cfg;
	int changed = 0, panic;

	for (size_t i = 0; i < h->n; i++) {
		struct pd_srv_shared *sh = u->servers[i].shared;
		uint32_t st = atomic_load_explicit(&sh->state, memory_order_relaxed);
		uint32_t w = atomic_load_explicit(&sh->weight_override, memory_order_relaxed);
		if (w == UINT32_MAX || w > BAL_MAX_WEIGHT)
			w = u->servers[i].weight;
		if (st < HEALTH_ADMIN_MAX && health_set_admin(&h->hs[i], (enum health_admin)st, now) == 1)
			log_info("upstream %s server %s: admin state %s", u->name, u->servers[i].name,
			    health_admin_str((enum health_admin)st));
		health_set_weight(&h->hs[i], w);
	}
	health_group_apply(&h->g, now, h->bs);
	panic = health_group_panic(&h->g, now);
	if (panic != h->panic) {
		h->panic = panic;
		if (panic)
			log_warnx("upstream %s: fewer than %u%% of its servers healthy: panic mode, every server gets traffic",
			    u->name, u->panic_pct);
		else
			log_info("upstream %s: out of panic mode", u->name);
	}
	for (size_t i = 0; i < h->n; i++) {
		struct pd_srv_shared *sh = u->servers[i].shared;
		if (atomic_load_explicit(&sh->hweight, memory_order_relaxed) != h->bs[i].eff_weight) {
			atomic_store_explicit(&sh->hweight, h->bs[i].eff_weight, memory_order_relaxed);
			changed = 1;
		}
	}
	return changed;
}

static void
apply_all(void)
{
	uint64_t now, next = 0;
	int changed = 0;

	if (hc.loop == NULL)
		return;
	now = ev_now(hc.loop);
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next) {
		uint64_t t;
		changed |= apply_up(h, now);
		t = health_group_next_change(&h->g, now);
		if (t != 0 && (next == 0 || t < next))
			next = t;
	}
	if (changed)
		atomic_fetch_add(&srvstate_version, 1);
	/* At most one step per 50 ms: a steep slow-start ramp would otherwise
	 * make every worker refresh its balancers every few milliseconds. */
	if (next != 0)
		ev_timer_start(hc.loop, &hc.apply, next > now + 50 ? next - now : 50);
	else
		ev_timer_stop(hc.loop, &hc.apply);
}

static void
apply_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
	apply_all();
}

void
hc_admin_changed(void)
{
	apply_all();
}

/* ---- passive ejection ---------------------------------------------------- */

static void
passive_cb(struct ev_loop *loop, struct ev_async *a)
{
	uint64_t now = ev_now(loop);

	(void)a;
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next) {
		const struct pd_upstream *u = h->cfg;
		if (u->eject_after == 0)
			continue;
		for (size_t i = 0; i < h->n; i++) {
			struct pd_srv_shared *sh = u->servers[i].shared;
			enum health_transition tr = HEALTH_T_NONE;
			if (atomic_load_explicit(&sh->pfail, memory_order_relaxed) < u->eject_after)
				continue;
			atomic_store_explicit(&sh->pfail, 0, memory_order_relaxed);
			/* The workers counted the run; replay it into the rules. */
			for (uint32_t k = 0; k < u->eject_after && tr == HEALTH_T_NONE; k++)
				tr = health_passive_result(&h->g, i, HEALTH_P_5XX, now);
			if (tr == HEALTH_T_EJECTED)
				log_info("upstream %s server %s: ejected for %llu ms after %u consecutive failures (ejection %u)",
				    u->name, u->servers[i].name, (unsigned long long)(h->hs[i].ejected_until - now),
				    u->eject_after, h->hs[i].ejections_recent);
			else if (tr == HEALTH_T_EJECT_REFUSED)
				log_rl_warnx(&hc.rl, now, "upstream %s server %s: not ejected: panic threshold %u%%",
				    u->name, u->servers[i].name, u->panic_pct);
		}
	}
	apply_all();
}

/* ---- active checks ------------------------------------------------------- */

static void probe_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents);

static void
probe_done(struct hc_probe *p, int ok, const char *why)
{
	struct hc_up *h = p->up;
	const struct pd_upstream *u = h->cfg;
	uint64_t now = ev_now(hc.loop);
	enum health_transition tr;

	if (p->fd >= 0) {
		ev_io_stop(hc.loop, &p->io);
		close(p->fd);
		p->fd = -1;
	}
	buf_fini(&p->in);
	p->phase = P_IDLE;
	p->last_ok = ok;
	snprintf(p->last_why, sizeof(p->last_why), "%s", why ? why : "ok");
	tr = health_check_result(&h->hs[p->i], ok, now);
	if (tr == HEALTH_T_DOWN)
		log_warnx("upstream %s server %s: down after %u failed checks (last: %s)", u->name,
		    u->servers[p->i].name, u->check.fall, p->last_why);
	else if (tr == HEALTH_T_UP)
		log_info("upstream %s server %s: up after %u passed checks", u->name, u->servers[p->i].name,
		    u->check.rise);
	apply_all();
	ev_timer_start(hc.loop, &p->timer, u->check.interval_ms);
}

static void
probe_start(struct hc_probe *p)
{
	const struct pd_upstream *u = p->up->cfg;
	const struct pd_server *sv = &u->servers[p->i];
	char why[80];

	buf_init(&p->in);
	p->woff = 0;
	p->fd = net_connect_tcp((const struct sockaddr *)&sv->addr, sv->addrlen);
	if (p->fd == -1) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		probe_done(p, 0, why);
		return;
	}
	ev_io_init(&p->io, p->fd, probe_io, p);
	if (ev_io_start(hc.loop, &p->io, EV_WRITE) == -1) {
		probe_done(p, 0, "epoll");
		return;
	}
	p->phase = P_CONNECT;
	ev_timer_start(hc.loop, &p->timer, u->check.timeout_ms);
}

int
hc_judge_http(const struct pd_check *k, const char *d, size_t len, int eof, char *why, size_t wl)
{
	const char *eol, *hend;
	int full = eof || len >= HC_MAX_READ;
	struct buf_reader r;
	uint32_t minor, status;
	uint8_t sp = ' ';

	if ((eol = memmem(d, len, "\r\n", 2)) == NULL) {
		if (full)
			snprintf(why, wl, eof && len == 0 ? "closed without an answer" : "no status line");
		return full ? 0 : -1;
	}
	/* RFC 9112 §4: HTTP-version SP 3DIGIT SP reason; a missing SP before
	 * an empty reason is tolerated (a check judges health, not style).
	 * The answer is not NUL-terminated: the line is read within its
	 * length, never with sscanf. */
	br_init(&r, d, (size_t)(eol - d));
	br_lit(&r, "HTTP/1.");
	br_dec(&r, 1, 1, &minor);
	br_lit(&r, " ");
	br_dec(&r, 3, 3, &status);
	if (br_left(&r) > 0)
		br_u8(&r, &sp);
	if (r.err || sp != ' ' || status < 100 || status > 599) {
		snprintf(why, wl, "malformed status line");
		return 0;
	}
	if (status < k->status_lo || status > k->status_hi) {
		snprintf(why, wl, "status %u", status);
		return 0;
	}
	if (k->expect_body == NULL)
		return 1;
	if ((hend = memmem(d, len, "\r\n\r\n", 4)) == NULL) {
		if (full)
			snprintf(why, wl, "truncated answer");
		return full ? 0 : -1;
	}
	hend += 4;
	if (memmem(hend, len - (size_t)(hend - d), k->expect_body, strlen(k->expect_body)) != NULL)
		return 1;
	if (full)
		snprintf(why, wl, "body without \"%.32s\"", k->expect_body);
	return full ? 0 : -1;
}

static void
probe_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct hc_probe *p = w->data;
	struct hc_up *h = p->up;
	char why[80];
	ssize_t n;
	int v;

	(void)revents;
	switch (p->phase) {
	case P_CONNECT:
		if (net_connect_result(p->fd) == -1) {
			snprintf(why, sizeof(why), "connect: %s", strerror(errno));
			probe_done(p, 0, why);
			return;
		}
		if (h->cfg->check.type == PD_CHECK_TCP) {
			probe_done(p, 1, NULL);
			return;
		}
		p->phase = P_SEND;
		/* fallthrough */
	case P_SEND:
		while (p->woff < p->reqlen) {
			n = write(p->fd, p->req + p->woff, p->reqlen - p->woff);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n == -1) {
				snprintf(why, sizeof(why), "write: %s", strerror(errno));
				probe_done(p, 0, why);
				return;
			}
			p->woff += (size_t)n;
		}
		p->phase = P_READ;
		ev_io_start(loop, &p->io, EV_READ);
		return;
	case P_READ:
		if (buf_reserve(&p->in, 4096) == -1) {
			probe_done(p, 0, "out of memory");
			return;
		}
		n = read(p->fd, buf_wptr(&p->in), buf_avail(&p->in));
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n == -1) {
			snprintf(why, sizeof(why), "read: %s", strerror(errno));
			probe_done(p, 0, why);
			return;
		}
		buf_produce(&p->in, (size_t)n);
		why[0] = '\0';
		v = hc_judge_http(&h->cfg->check, (const char *)buf_rptr(&p->in), buf_len(&p->in), n == 0, why,
		    sizeof(why));
		if (v >= 0)
			probe_done(p, v, v ? NULL : why);
		return;
	case P_IDLE:
		return;
	}
}

static void
probe_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct hc_probe *p = t->data;

	(void)loop;
	if (p->phase == P_IDLE)
		probe_start(p);
	else
		probe_done(p, 0, "timeout");
}

/* ---- generations ---------------------------------------------------------- */

static int
managed(const struct pd_upstream *u)
{
	return u->check.type != PD_CHECK_NONE || u->eject_after > 0 || u->slow_start_ms > 0;
}

static void
up_free(struct hc_up *h)
{
	for (size_t i = 0; h->pr != NULL && i < h->n; i++) {
		struct hc_probe *p = &h->pr[i];
		ev_timer_stop(hc.loop, &p->timer);
		if (p->fd >= 0) {
			ev_io_stop(hc.loop, &p->io);
			close(p->fd);
		}
		buf_fini(&p->in);
		free(p->req);
	}
	free(h->pr);
	free(h->hs);
	free(h->bs);
	free(h);
}

static const struct health_server *
old_state(struct hc_up *old, const char *up, const char *srv)
{
	for (struct hc_up *h = old; h != NULL; h = h->next) {
		if (strcmp(h->cfg->name, up) != 0)
			continue;
		for (size_t i = 0; i < h->n; i++)
			if (strcmp(h->cfg->servers[i].name, srv) == 0)
				return &h->hs[i];
	}
	return NULL;
}

static struct hc_up *
up_new(const struct pd_upstream *u, struct hc_up *old, uint64_t now)
{
	struct hc_up *h = calloc(1, sizeof(*h));
	const struct pd_check *k = &u->check;

	if (h == NULL)
		return NULL;
	h->cfg = u;
	h->n = u->nservers;
	h->hs = calloc(h->n, sizeof(*h->hs));
	h->bs = calloc(h->n, sizeof(*h->bs));
	if (h->hs == NULL || h->bs == NULL)
		goto fail;
	for (size_t i = 0; i < h->n; i++) {
		struct health_conf hcf = {
			.weight = u->servers[i].weight,
			.rise = k->type != PD_CHECK_NONE ? k->rise : 1,
			.fall = k->type != PD_CHECK_NONE ? k->fall : 1,
			.init_up = 1,
			.eject_after = u->eject_after,
			.eject_base_ms = u->eject_base_ms,
			.eject_max_ms = u->eject_max_ms,
			.slow_start_ms = u->slow_start_ms,
		};
		const struct health_server *o = old_state(old, u->name, u->servers[i].name);
		if (o != NULL) {
			h->hs[i] = *o;
			if (health_server_reconf(&h->hs[i], &hcf) == -1)
				goto fail;
		} else if (health_server_init(&h->hs[i], &hcf, now) == -1) {
			goto fail;
		}
		h->bs[i].weight = u->servers[i].weight;
	}
	h->g.srv = h->hs;
	h->g.n = h->n;
	h->g.min_healthy_pct = u->panic_pct;
	if (k->type == PD_CHECK_NONE)
		return h;
	if ((h->pr = calloc(h->n, sizeof(*h->pr))) == NULL)
		goto fail;
	for (size_t i = 0; i < h->n; i++) {
		/* Every probe valid for up_free() before anything can fail. */
		h->pr[i].fd = -1;
		buf_init(&h->pr[i].in);
		ev_timer_init(&h->pr[i].timer, probe_timer_cb, &h->pr[i]);
	}
	for (size_t i = 0; i < h->n; i++) {
		struct hc_probe *p = &h->pr[i];
		if (k->type == PD_CHECK_HTTP) {
			char host[NET_ADDRSTRLEN];
			size_t cap = strlen(k->method) + strlen(k->path) + (k->host ? strlen(k->host) : 0) +
			    NET_ADDRSTRLEN + 128;
			/* Host defaults to the server's own address. */
			if (k->host == NULL)
				net_addr_str((const struct sockaddr *)&u->servers[i].addr, host, sizeof(host));
			if ((p->req = malloc(cap)) == NULL)
				goto fail;
			/* One request per connection (RFC 9112 §9.6): the answer
			 * ends at close and no connection state outlives a check. */
			p->reqlen = (size_t)snprintf(p->req, cap,
			    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tandem-health-check\r\nAccept: */*\r\n"
			    "Connection: close\r\n\r\n", k->method, k->path, k->host ? k->host : host);
		}
		p->up = h;
		p->i = i;
		p->last_ok = 1;
		/* Spread the first checks over a tenth of the interval. */
		ev_timer_start(hc.loop, &p->timer, 1 + (i * 37) % (k->interval_ms / 10 + 1));
	}
	return h;
fail:
	up_free(h);
	return NULL;
}

void
hc_sync(struct pd_config *gen)
{
	struct hc_up *old = hc.ups, *list = NULL, **tail = &list;
	uint64_t now;

	if (hc.loop == NULL)
		return;
	now = ev_now(hc.loop);
	for (size_t u = 0; u < gen->nupstreams; u++) {
		const struct pd_upstream *up = &gen->upstreams[u];
		struct hc_up *h;
		if (!managed(up)) {
			for (size_t i = 0; i < up->nservers; i++)
				atomic_store(&up->servers[i].shared->hweight, UINT32_MAX);
			continue;
		}
		if ((h = up_new(up, old, now)) == NULL) {
			log_warnx("upstream %s: out of memory: health checks off", up->name);
			for (size_t i = 0; i < up->nservers; i++)
				atomic_store(&up->servers[i].shared->hweight, UINT32_MAX);
			continue;
		}
		*tail = h;
		tail = &h->next;
	}
	hc.ups = list;
	while (old != NULL) {
		struct hc_up *n = old->next;
		up_free(old);
		old = n;
	}
	config_ref(gen);
	config_unref(hc.gen);
	hc.gen = gen;
	atomic_fetch_add(&srvstate_version, 1);
	apply_all();
}

int
hc_start(struct ev_loop *loop)
{
	hc.loop = loop;
	ev_timer_init(&hc.apply, apply_timer_cb, NULL);
	if (ev_async_init(loop, &hc.async, passive_cb, NULL) == -1)
		return -1;
	hc.started = 1;
	return 0;
}

void
hc_stop(void)
{
	if (hc.loop == NULL)
		return;
	while (hc.ups != NULL) {
		struct hc_up *n = hc.ups->next;
		up_free(hc.ups);
		hc.ups = n;
	}
	ev_timer_stop(hc.loop, &hc.apply);
	hc.started = 0;
	ev_async_fini(hc.loop, &hc.async);
	config_unref(hc.gen);
	hc.gen = NULL;
	hc.loop = NULL;
}

/* ---- replication hooks ------------------------------------------------------ */

void
hc_foreach_observation(void (*cb)(void *arg, const char *upstream, const char *server, int up,
    uint64_t observed_unix_ms), void *arg)
{
	uint64_t now = hc.loop ? ev_now(hc.loop) : 0, wall = ev_wall_ms();

	for (struct hc_up *h = hc.ups; h != NULL; h = h->next)
		for (size_t i = 0; i < h->n; i++) {
			const struct health_server *s = &h->hs[i];
			if (s->source != HEALTH_SRC_LOCAL)
				continue;
			cb(arg, h->cfg->name, h->cfg->servers[i].name, s->state == HEALTH_UP,
			    wall - (now - s->changed_ms));
		}
}

int
hc_server_health(const char *upstream, const char *server, int *up, const char **source)
{
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next) {
		if (strcmp(h->cfg->name, upstream) != 0)
			continue;
		for (size_t i = 0; i < h->n; i++)
			if (strcmp(h->cfg->servers[i].name, server) == 0) {
				*up = h->hs[i].state == HEALTH_UP;
				*source = health_source_str(h->hs[i].source);
				return 0;
			}
	}
	return -1;
}

int
hc_peer_view(const char *upstream, const char *server, int up, uint64_t observed_unix_ms)
{
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next) {
		if (strcmp(h->cfg->name, upstream) != 0)
			continue;
		for (size_t i = 0; i < h->n; i++) {
			enum health_transition tr;
			if (strcmp(h->cfg->servers[i].name, server) != 0)
				continue;
			tr = health_peer_view(&h->hs[i], up, observed_unix_ms, ev_now(hc.loop));
			if (tr == HEALTH_T_NONE)
				return 0;
			log_info("upstream %s server %s: %s as a peer saw it (own checks not settled yet)", upstream,
			    server, health_transition_str(tr));
			apply_all();
			return 1;
		}
	}
	return -1;
}

/* ---- metrics -------------------------------------------------------------- */

static const struct health_server *
find_hs(const struct pd_upstream *u, size_t i, struct hc_up **hup)
{
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next)
		if (h->cfg == u) {
			*hup = h;
			return &h->hs[i];
		}
	*hup = NULL;
	return NULL;
}

void
hc_render(struct buf *o)
{
	struct pd_config *g = hc.gen;
	uint64_t now = hc.loop ? ev_now(hc.loop) : 0;

	if (g == NULL)
		return;
	buf_appendf(o, "# HELP tandem_server_state Admin state of a server: 0 ready, 1 drain, 2 maint.\n"
	    "# TYPE tandem_server_state gauge\n");
	for (size_t u = 0; u < g->nupstreams; u++)
		for (size_t s = 0; s < g->upstreams[u].nservers; s++)
			prom_u64(o, "tandem_server_state", atomic_load(&g->upstreams[u].servers[s].shared->state),
			    "upstream", g->upstreams[u].name, "server", g->upstreams[u].servers[s].name, NULL);
	buf_appendf(o, "# HELP tandem_server_weight Weight new requests see: admin state, health, ejection, panic and slow start included.\n"
	    "# TYPE tandem_server_weight gauge\n");
	for (size_t u = 0; u < g->nupstreams; u++)
		for (size_t s = 0; s < g->upstreams[u].nservers; s++) {
			const struct pd_server *sv = &g->upstreams[u].servers[s];
			uint32_t st = atomic_load(&sv->shared->state), hw = atomic_load(&sv->shared->hweight);
			uint32_t w = atomic_load(&sv->shared->weight_override);
			if (w == UINT32_MAX)
				w = sv->weight;
			if (hw != UINT32_MAX)
				w = hw;
			prom_u64(o, "tandem_server_weight", st == PD_SRV_READY ? w : 0,
			    "upstream", g->upstreams[u].name, "server", sv->name, NULL);
		}
	buf_appendf(o, "# HELP tandem_server_up Health of a server: 1 up (checks pass, not ejected), 0 down or ejected.\n"
	    "# TYPE tandem_server_up gauge\n");
	for (size_t u = 0; u < g->nupstreams; u++)
		for (size_t s = 0; s < g->upstreams[u].nservers; s++) {
			struct hc_up *h;
			const struct health_server *hs = find_hs(&g->upstreams[u], s, &h);
			prom_u64(o, "tandem_server_up", hs ? health_is_healthy(hs, now) : 1,
			    "upstream", g->upstreams[u].name, "server", g->upstreams[u].servers[s].name, NULL);
		}
	buf_appendf(o, "# HELP tandem_server_checks_total Active health checks, by result.\n"
	    "# TYPE tandem_server_checks_total counter\n");
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next)
		for (size_t s = 0; h->pr != NULL && s < h->n; s++) {
			prom_u64(o, "tandem_server_checks_total", h->hs[s].checks_ok,
			    "upstream", h->cfg->name, "server", h->cfg->servers[s].name, "result", "ok", NULL);
			prom_u64(o, "tandem_server_checks_total", h->hs[s].checks_failed,
			    "upstream", h->cfg->name, "server", h->cfg->servers[s].name, "result", "failed", NULL);
		}
	buf_appendf(o, "# HELP tandem_server_transitions_total Up/down changes decided by active checks.\n"
	    "# TYPE tandem_server_transitions_total counter\n");
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next)
		for (size_t s = 0; s < h->n; s++)
			prom_u64(o, "tandem_server_transitions_total", h->hs[s].transitions,
			    "upstream", h->cfg->name, "server", h->cfg->servers[s].name, NULL);
	buf_appendf(o, "# HELP tandem_server_ejections_total Passive outlier ejections (refused: kept by the panic threshold).\n"
	    "# TYPE tandem_server_ejections_total counter\n");
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next)
		for (size_t s = 0; h->cfg->eject_after > 0 && s < h->n; s++) {
			prom_u64(o, "tandem_server_ejections_total", h->hs[s].ejections,
			    "upstream", h->cfg->name, "server", h->cfg->servers[s].name, "result", "ejected", NULL);
			prom_u64(o, "tandem_server_ejections_total", h->hs[s].ejections_refused,
			    "upstream", h->cfg->name, "server", h->cfg->servers[s].name, "result", "refused", NULL);
		}
	buf_appendf(o, "# HELP tandem_upstream_panic 1 while an upstream is below its panic threshold.\n"
	    "# TYPE tandem_upstream_panic gauge\n");
	for (struct hc_up *h = hc.ups; h != NULL; h = h->next)
		prom_u64(o, "tandem_upstream_panic", h->panic, "upstream", h->cfg->name, NULL);
}
