/*
 * proxyd/status.c — the status document behind the status page (see
 * status.h). This node's upstreams, servers and rate limits come from its
 * own state (the generation serving now, struct pd_srv_shared, the health
 * checker, the rate-limit tables); the nodes and VIPs of the whole cluster
 * come from hacd's heartbeat view (ClusterStatus on the local channel), so
 * proxyd needs no access to the peers, no secret and no privilege for it.
 */
#include "proxyd/status.h"

#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/ev.h"
#include "proxyd/balance.h"
#include "proxyd/compress_rule.h"
#include "proxyd/config.h"
#include "proxyd/hcheck.h"
#include "proxyd/metrics.h"
#include "proxyd/procstate.h"
#include "proxyd/ratelimit.h"
#include "proxyd/srvstate.h"

#define STATUS_TOP_KEYS   10     /* busiest keys shown per limit */
#define STATUS_MAX_BANS   20     /* bans shown per limit */
#define STATUS_SCAN_MAX   8192   /* entries read from one limit's table per request */
#define STATUS_STALE_MS   3000   /* hacd sends every second: older is stale */

/* hacd's latest ClusterStatus, kept packed (the unpacked message is hacd's
 * frame, freed after the handler). */
static uint8_t *cl_buf;
static size_t cl_len;
static uint64_t cl_at_ms;

void
status_cluster(const Tandem__ClusterStatus *cs, uint64_t now_ms)
{
	size_t len = tandem__cluster_status__get_packed_size(cs);
	uint8_t *p = malloc(len ? len : 1);

	if (p == NULL)
		return;
	tandem__cluster_status__pack(cs, p);
	free(cl_buf);
	cl_buf = p;
	cl_len = len;
	cl_at_ms = now_ms;
}

void
status_free(void)
{
	free(cl_buf);
	cl_buf = NULL;
	cl_len = 0;
}

/* ---- JSON ---------------------------------------------------------------- */

/* A JSON string (RFC 8259 §7) of len bytes. Controls, '"', '\\', '<', '>',
 * '&' and every byte >= 0x80 are \u-escaped: config and network values may
 * hold anything, and the document must stay valid and inert as HTML. A byte
 * >= 0x80 shows as the code point of the same value (Latin-1), which is
 * lossy for UTF-8 names but never invalid. */
static void
jstr_n(struct buf *o, const void *v, size_t len)
{
	const unsigned char *p = v;

	buf_append(o, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&')
			buf_appendf(o, "\\u%04x", c);
		else
			buf_append(o, &c, 1);
	}
	buf_append(o, "\"", 1);
}

static void
jstr(struct buf *o, const char *s)
{
	if (s == NULL)
		buf_appendf(o, "null");
	else
		jstr_n(o, s, strlen(s));
}

/* "name": — keys are ours, plain ASCII. */
static void
jkey(struct buf *o, int *first, const char *k)
{
	buf_appendf(o, "%s\"%s\":", *first ? "" : ",", k);
	*first = 0;
}

static void
jkstr(struct buf *o, int *first, const char *k, const char *v)
{
	jkey(o, first, k);
	jstr(o, v);
}

static void
jkbool(struct buf *o, int *first, const char *k, int v)
{
	jkey(o, first, k);
	buf_appendf(o, "%s", v ? "true" : "false");
}

static void
jkuint(struct buf *o, int *first, const char *k, uint64_t v)
{
	jkey(o, first, k);
	buf_appendf(o, "%llu", (unsigned long long)v);
}

/* ---- sections ------------------------------------------------------------ */

static void
render_proxyd(struct buf *o, const struct pd_config *g)
{
	uint64_t cls[5] = { 0 }, conns = 0;
	int f = 1;

	metrics_totals(cls, &conns);
	buf_appendf(o, "\"proxyd\":{");
	jkuint(o, &f, "pid", (uint64_t)getpid());
	jkuint(o, &f, "generation", g != NULL ? g->generation : 0);
	jkbool(o, &f, "draining", atomic_load(&procstate_draining));
	jkbool(o, &f, "stopping", atomic_load(&procstate_stopping));
	jkuint(o, &f, "workers", (uint64_t)procstate_workers());
	jkuint(o, &f, "connections_active", atomic_load(&procstate_active_conns));
	jkuint(o, &f, "connections_total", conns);
	buf_appendf(o, ",\"requests\":{\"1xx\":%llu,\"2xx\":%llu,\"3xx\":%llu,\"4xx\":%llu,\"5xx\":%llu}}",
	    (unsigned long long)cls[0], (unsigned long long)cls[1], (unsigned long long)cls[2],
	    (unsigned long long)cls[3], (unsigned long long)cls[4]);
}

static const char *
role_str(Tandem__VipRole r)
{
	switch (r) {
	case TANDEM__VIP_ROLE__VIP_BACKUP: return "backup";
	case TANDEM__VIP_ROLE__VIP_MASTER: return "master";
	case TANDEM__VIP_ROLE__VIP_FAULT:  return "fault";
	default:                           return "init";
	}
}

/* hacd's view: "hacd", "nodes" and "vips". Without one (no hacd, an older
 * hacd, or not yet) the lists are empty and hacd.connected says why. */
static void
render_cluster(struct buf *o, const Tandem__ClusterStatus *cs, uint64_t now_ms)
{
	int f = 1;

	buf_appendf(o, "\"hacd\":{");
	jkbool(o, &f, "seen", cs != NULL);
	if (cs != NULL) {
		jkuint(o, &f, "age_ms", now_ms - cl_at_ms);
		jkbool(o, &f, "stale", now_ms - cl_at_ms > STATUS_STALE_MS);
		jkstr(o, &f, "node", cs->node);
	}
	buf_appendf(o, "},\"nodes\":[");
	for (size_t i = 0; cs != NULL && i < cs->n_nodes; i++) {
		const Tandem__NodeStatus *n = cs->nodes[i];
		f = 1;
		buf_appendf(o, "%s{", i ? "," : "");
		jkstr(o, &f, "name", n->node);
		jkstr(o, &f, "address", n->address);
		jkbool(o, &f, "self", n->has_self && n->self);
		jkbool(o, &f, "alive", n->has_alive && n->alive);
		jkbool(o, &f, "maintenance", n->has_maintenance && n->maintenance);
		if (n->has_health) {
			jkbool(o, &f, "proxyd_ready", (n->health & TANDEM__HEALTH_BITS__HEALTH_PROXYD_READY) != 0);
			jkbool(o, &f, "link_up", (n->health & TANDEM__HEALTH_BITS__HEALTH_LINK_UP) != 0);
			jkbool(o, &f, "script_ok", (n->health & TANDEM__HEALTH_BITS__HEALTH_SCRIPT_OK) != 0);
		}
		if (n->has_last_heard_ms)
			jkuint(o, &f, "last_heard_ms", n->last_heard_ms);
		if (n->has_last_sync_ms)
			jkuint(o, &f, "last_sync_ms", n->last_sync_ms);
		if (n->has_synced)
			jkbool(o, &f, "synced", n->synced);
		if (n->has_config_drift)
			jkbool(o, &f, "config_drift", n->config_drift);
		buf_appendf(o, "}");
	}
	buf_appendf(o, "],\"vips\":[");
	for (size_t i = 0; cs != NULL && i < cs->n_vips; i++) {
		const Tandem__VipStatus *v = cs->vips[i];
		f = 1;
		buf_appendf(o, "%s{", i ? "," : "");
		jkstr(o, &f, "name", v->name);
		jkstr(o, &f, "address", v->address);
		jkstr(o, &f, "interface", v->interface);
		jkstr(o, &f, "owner", v->owner != NULL && v->owner[0] != '\0' ? v->owner : NULL);
		jkstr(o, &f, "role", role_str(v->has_role ? v->role : TANDEM__VIP_ROLE__VIP_INIT));
		jkuint(o, &f, "priority", v->has_priority ? v->priority : 0);
		if (v->yield_to != NULL)
			jkstr(o, &f, "yield_to", v->yield_to);
		/* A group in mode "bgp" has no owner (every healthy node
		 * announces it): this node's route and who announces it. */
		if (v->has_bgp && v->bgp) {
			jkbool(o, &f, "bgp", 1);
			jkstr(o, &f, "announce", v->announce);
			jkstr(o, &f, "announce_why", v->announce_why);
			jkey(o, &f, "announced_by");
			buf_appendf(o, "[");
			for (size_t k = 0; k < v->n_announced_by; k++) {
				buf_appendf(o, "%s", k ? "," : "");
				jstr(o, v->announced_by[k]);
			}
			buf_appendf(o, "]");
		}
		buf_appendf(o, "}");
	}
	buf_appendf(o, "]");
}

/* "by_node": every node's own verdict on upstream/server as hacd's
 * replicated store holds it (newest per node), with its age. */
static void
render_by_node(struct buf *o, const Tandem__ClusterStatus *cs, const char *up, const char *srv, uint64_t wall)
{
	int first = 1;

	buf_appendf(o, ",\"by_node\":[");
	for (size_t i = 0; cs != NULL && i < cs->n_health; i++) {
		const Tandem__HealthObs *h = cs->health[i];
		int f = 1;

		if (h->origin == NULL || h->upstream == NULL || h->server == NULL ||
		    strcmp(h->upstream, up) != 0 || strcmp(h->server, srv) != 0)
			continue;
		buf_appendf(o, "%s{", first ? "" : ",");
		first = 0;
		jkstr(o, &f, "node", h->origin);
		jkstr(o, &f, "health", h->has_up && h->up ? "up" : "down");
		if (h->has_observed_unix_ms && h->observed_unix_ms <= wall)
			jkuint(o, &f, "age_ms", wall - h->observed_unix_ms);
		buf_appendf(o, "}");
	}
	buf_appendf(o, "]");
}

static void
render_upstreams(struct buf *o, const struct pd_config *g, const Tandem__ClusterStatus *cs, uint64_t wall)
{
	buf_appendf(o, "\"upstreams\":[");
	for (size_t u = 0; g != NULL && u < g->nupstreams; u++) {
		const struct pd_upstream *up = &g->upstreams[u];
		int f = 1;

		buf_appendf(o, "%s{", u ? "," : "");
		jkstr(o, &f, "name", up->name);
		jkstr(o, &f, "balance", balance_algo_str(up->algo));
		buf_appendf(o, ",\"servers\":[");
		for (size_t s = 0; s < up->nservers; s++) {
			const struct pd_server *sv = &up->servers[s];
			uint32_t w = atomic_load(&sv->shared->weight_override);
			uint32_t hw = atomic_load(&sv->shared->hweight), st = atomic_load(&sv->shared->state);
			uint32_t cur = w == UINT32_MAX ? sv->weight : w;
			/* What new requests see: admin state, health, ejection and
			 * slow start folded in (as `show servers` on the admin socket). */
			uint32_t eff = st != PD_SRV_READY ? 0 : cur;
			const char *src = NULL;
			int hup = 1;

			if (hw != UINT32_MAX && hw < eff)
				eff = hw;
			f = 1;
			buf_appendf(o, "%s{", s ? "," : "");
			jkstr(o, &f, "name", sv->name);
			jkstr(o, &f, "address", sv->address);
			jkstr(o, &f, "admin", srvstate_str((enum pd_admin_state)st));
			if (hc_server_health(up->name, sv->name, &hup, &src) == 0) {
				jkstr(o, &f, "health", hup ? "up" : "down");
				jkstr(o, &f, "health_source", src);
			} else {
				jkstr(o, &f, "health", "unchecked");
			}
			jkuint(o, &f, "weight", cur);
			jkuint(o, &f, "configured_weight", sv->weight);
			jkuint(o, &f, "effective_weight", eff);
			jkuint(o, &f, "active", atomic_load(&sv->shared->inuse));
			jkuint(o, &f, "max_conns", sv->max_conns);
			render_by_node(o, cs, up->name, sv->name, wall);
			buf_appendf(o, "}");
		}
		buf_appendf(o, "]}");
	}
	buf_appendf(o, "]");
}

/* ---- compression ----------------------------------------------------------- */

/* This node's response compression, every worker's pool summed by the code
 * /metrics uses (metrics_compress_totals), so page and scrape agree.
 * ratio: bytes in over bytes out (4.0: a quarter of the size), null before
 * the first coded byte. coders_limit: max_streams per worker times the
 * workers; at it, responses go out plain as skipped.pool_full. */
static void
render_compression(struct buf *o, const struct pd_config *g)
{
	struct met_compress t;
	uint32_t per = g != NULL ? g->compress.max_streams : 0;
	int f = 1;

	metrics_compress_totals(&t);
	buf_appendf(o, "\"compression\":{\"codings\":[");
	for (int a = COMPRESS_GZIP; a < COMPRESS_NALG; a++) {
		f = 1;
		buf_appendf(o, "%s{", a != COMPRESS_GZIP ? "," : "");
		jkstr(o, &f, "coding", compress_alg_str((enum compress_alg)a));
		jkuint(o, &f, "responses", t.streams[a]);
		jkuint(o, &f, "bytes_in", t.bytes_in[a]);
		jkuint(o, &f, "bytes_out", t.bytes_out[a]);
		jkey(o, &f, "ratio");
		if (t.bytes_out[a] == 0)
			buf_appendf(o, "null}");
		else
			buf_appendf(o, "%.2f}", (double)t.bytes_in[a] / (double)t.bytes_out[a]);
	}
	buf_appendf(o, "],\"skipped\":{");
	f = 1;
	for (int why = COMPRESS_SKIP_OFF; why < COMPRESS_SKIP_MAX; why++)
		jkuint(o, &f, compress_skip_str((enum compress_skip)why), t.skipped[why]);
	buf_appendf(o, "}");
	f = 0;
	jkuint(o, &f, "coders_busy", t.busy);
	jkuint(o, &f, "coders_idle", t.live - t.busy);
	jkuint(o, &f, "coders_limit", (uint64_t)per * (uint64_t)procstate_workers());
	jkuint(o, &f, "max_streams_per_worker", per);
	jkuint(o, &f, "memory_bytes", t.mem_bytes);
	jkuint(o, &f, "errors", t.errors);
	buf_appendf(o, "}");
}

/* ---- rate limits ---------------------------------------------------------- */

struct rl_ent {
	uint8_t key[RL_KEY_MAX];
	size_t klen;
	uint64_t window, count;
};

struct rl_acc {
	struct rl_ent *c;       /* counts */
	size_t nc;
	struct rl_ent *b;       /* bans (window: until) */
	size_t nb;
	int partial;
};

static int
acc_count(void *arg, const char *origin, const uint8_t *key, size_t klen, uint64_t window, uint64_t count)
{
	struct rl_acc *a = arg;
	struct rl_ent *e;

	(void)origin;
	if (a->nc >= STATUS_SCAN_MAX || klen > RL_KEY_MAX) {
		a->partial = 1;
		return 1;
	}
	e = &a->c[a->nc++];
	memcpy(e->key, key, klen);
	e->klen = klen;
	e->window = window;
	e->count = count;
	return 0;
}

static int
acc_ban(void *arg, const uint8_t *key, size_t klen, uint64_t until)
{
	struct rl_acc *a = arg;
	struct rl_ent *e;

	if (a->nb >= STATUS_SCAN_MAX || klen > RL_KEY_MAX) {
		a->partial = 1;
		return 1;
	}
	e = &a->b[a->nb++];
	memcpy(e->key, key, klen);
	e->klen = klen;
	e->window = until;
	e->count = 0;
	return 0;
}

/* By key, then newest window first. */
static int
cmp_key_window(const void *x, const void *y)
{
	const struct rl_ent *a = x, *b = y;
	size_t l = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->key, b->key, l);

	if (c != 0)
		return c;
	if (a->klen != b->klen)
		return a->klen < b->klen ? -1 : 1;
	return a->window > b->window ? -1 : a->window < b->window;
}

static int
cmp_count_desc(const void *x, const void *y)
{
	const struct rl_ent *a = x, *b = y;

	return a->count > b->count ? -1 : a->count < b->count;
}

static int
cmp_until_desc(const void *x, const void *y)
{
	const struct rl_ent *a = x, *b = y;

	return a->window > b->window ? -1 : a->window < b->window;
}

/* A key as an operator reads it: the client prefix for IP keys, the header
 * value or route name otherwise (escaped by jstr_n like everything else). */
static void
render_key(struct buf *o, int *f, const struct rl_ent *e)
{
	char a[INET6_ADDRSTRLEN];
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (e->klen == RL_KEY_IP_LEN && e->key[0] == RL_KEY_IP) {
		if (memcmp(e->key + 1, mapped, 12) == 0)
			inet_ntop(AF_INET, e->key + 13, a, sizeof(a));
		else
			inet_ntop(AF_INET6, e->key + 1, a, sizeof(a));
		jkstr(o, f, "kind", "ip");
		jkstr(o, f, "key", a);
		return;
	}
	jkstr(o, f, "kind", e->klen > 0 && e->key[0] == RL_KEY_ROUTE ? "route" : "header");
	jkey(o, f, "key");
	jstr_n(o, e->key + (e->klen > 0), e->klen > 0 ? e->klen - 1 : 0);
}

static void
render_limit(struct buf *o, const struct pd_rlimit *L, struct rl_acc *a, uint64_t wall)
{
	struct rl_stats rs;
	size_t nkeys = 0, shown;
	int f = 1;

	a->nc = a->nb = 0;
	a->partial = 0;
	rl_stats_get(L->t, &rs);
	(void)rl_dump(L->t, wall, acc_count, acc_ban, a);
	/* Per key, the newest window summed over the nodes that counted it:
	 * the cluster-wide count the limit is enforced on. */
	qsort(a->c, a->nc, sizeof(*a->c), cmp_key_window);
	for (size_t i = 0; i < a->nc;) {
		size_t j = i + 1;
		struct rl_ent sum = a->c[i];
		for (; j < a->nc && cmp_key_window(&a->c[j], &a->c[i]) == 0; j++)
			sum.count += a->c[j].count;
		while (j < a->nc && a->c[j].klen == sum.klen && memcmp(a->c[j].key, sum.key, sum.klen) == 0)
			j++;
		a->c[nkeys++] = sum;
		i = j;
	}
	qsort(a->c, nkeys, sizeof(*a->c), cmp_count_desc);
	qsort(a->b, a->nb, sizeof(*a->b), cmp_until_desc);
	buf_appendf(o, "{");
	jkstr(o, &f, "name", L->name);
	jkstr(o, &f, "scope", L->cluster ? "cluster" : "node");
	jkuint(o, &f, "keys", rs.keys);
	jkuint(o, &f, "limited", rs.limited);
	jkuint(o, &f, "refused_by_ban", rs.banned);
	jkbool(o, &f, "partial", a->partial);
	buf_appendf(o, ",\"top\":[");
	shown = nkeys < STATUS_TOP_KEYS ? nkeys : STATUS_TOP_KEYS;
	for (size_t i = 0; i < shown; i++) {
		f = 1;
		buf_appendf(o, "%s{", i ? "," : "");
		render_key(o, &f, &a->c[i]);
		jkuint(o, &f, "count", a->c[i].count);
		buf_appendf(o, "}");
	}
	buf_appendf(o, "],\"bans\":[");
	shown = a->nb < STATUS_MAX_BANS ? a->nb : STATUS_MAX_BANS;
	for (size_t i = 0; i < shown; i++) {
		f = 1;
		buf_appendf(o, "%s{", i ? "," : "");
		render_key(o, &f, &a->b[i]);
		jkuint(o, &f, "until_unix_ms", a->b[i].window);
		buf_appendf(o, "}");
	}
	buf_appendf(o, "],\"banned\":%zu}", a->nb);
}

static int
render_ratelimits(struct buf *o, const struct pd_config *g, uint64_t wall)
{
	struct rl_acc a = { 0 };
	int first = 1;

	buf_appendf(o, "\"ratelimits\":[");
	if (g != NULL && g->nrlimits > 0) {
		a.c = malloc(STATUS_SCAN_MAX * sizeof(*a.c));
		a.b = malloc(STATUS_SCAN_MAX * sizeof(*a.b));
		if (a.c == NULL || a.b == NULL) {
			free(a.c);
			free(a.b);
			buf_appendf(o, "]");
			return -1;
		}
		for (size_t i = 0; i < g->nrlimits; i++) {
			if (g->rlimits[i].t == NULL)
				continue;
			if (!first)
				buf_appendf(o, ",");
			first = 0;
			render_limit(o, &g->rlimits[i], &a, wall);
		}
		free(a.c);
		free(a.b);
	}
	buf_appendf(o, "]");
	return 0;
}

int
status_render_json(struct buf *o, uint64_t now_ms)
{
	struct pd_config *g = procstate_current();
	Tandem__ClusterStatus *cs = cl_buf != NULL ? tandem__cluster_status__unpack(NULL, cl_len, cl_buf) : NULL;
	uint64_t wall = ev_wall_ms();
	int rc = 0, f = 1;

	buf_appendf(o, "{");
	jkuint(o, &f, "version", 1);
	jkuint(o, &f, "now_unix_ms", wall);
	buf_appendf(o, ",");
	render_proxyd(o, g);
	buf_appendf(o, ",");
	render_cluster(o, cs, now_ms);
	buf_appendf(o, ",");
	render_upstreams(o, g, cs, wall);
	buf_appendf(o, ",");
	render_compression(o, g);
	buf_appendf(o, ",");
	if (render_ratelimits(o, g, wall) == -1)
		rc = -1;
	if (buf_appendf(o, "}\n") == -1)
		rc = -1;
	if (cs != NULL)
		tandem__cluster_status__free_unpacked(cs, NULL);
	config_unref(g);
	return rc;
}
