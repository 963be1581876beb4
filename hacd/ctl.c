/*
 * hacd/ctl.c — the control socket hactl talks to.
 *
 * RUNDIR/hacd.ctl (mode 0600; a connecting process must run as root or as
 * hacd's user, checked with SO_PEERCRED) carries CtlRequest frames in and
 * CtlResponse frames out (lib/frame over hacd/stream.c). Each request gets
 * one response, except `events`, which keeps the connection as a
 * subscriber: hacd/node.c's transition lines are pushed to it as
 * CtlResponse.event frames until the client goes away. The commands
 * themselves live in hacd/node.c (VIPs) and hacd/repl.c (cluster-wide
 * server admin state: drain, enable, maint, weight, admin); this file
 * decodes, dispatches and builds the status tables, and the rate-limit
 * listings (ratelimit top|show, bans) straight from the replicated store.
 */
#include "hacd/ctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hacd/adminarg.h"
#include "hacd/nodestatus.h"
#include "hacd/ratekey.h"
#include "lib/ev.h"
#include "lib/frame.h"
#include "lib/net.h"
#include "proto/tandem.pb-c.h"

#define CTL_MAX_COUNTERS 160
#define CTL_SUBSCRIBER   ((void *)1)
/* Listings stop short of a frame (lib/frame FRAME_MAX): the rest of the
 * response (node name, message) and the entries' framing fit in the slack. */
#define CTL_LIST_BUDGET  (FRAME_MAX - 16384)

static void respond(struct stream *s, const Tandem__CtlResponse *r)
{
	size_t n = tandem__ctl_response__get_packed_size(r);
	uint8_t *buf = malloc(n ? n : 1);

	if (buf == NULL) {
		stream_close(s);
		return;
	}
	tandem__ctl_response__pack(r, buf);
	stream_send(s, buf, n);
	free(buf);
}

static void respond_msg(struct stream *s, int status, const char *msg)
{
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;

	r.has_status = 1;
	r.status = status;
	r.message = (char *)msg;
	respond(s, &r);
}

struct counter_acc {
	Tandem__Counter c[CTL_MAX_COUNTERS];
	Tandem__Counter *p[CTL_MAX_COUNTERS];
	char names[CTL_MAX_COUNTERS][48];
	size_t n;
};

static void add_counter(void *arg, const char *name, uint64_t value)
{
	struct counter_acc *a = arg;

	if (a->n >= CTL_MAX_COUNTERS)
		return;
	tandem__counter__init(&a->c[a->n]);
	snprintf(a->names[a->n], sizeof(a->names[a->n]), "%s", name);
	a->c[a->n].name = a->names[a->n];
	a->c[a->n].has_value = 1;
	a->c[a->n].value = value;
	a->p[a->n] = &a->c[a->n];
	a->n++;
}

/* Room for element n of a caller's growing array v of *cap elements of
 * elem bytes: v itself while it has room, else v moved to twice the size
 * (*cap updated), or NULL (v untouched) when memory ran out. */
static void *grow(void *v, size_t n, size_t *cap, size_t elem)
{
	size_t nc;
	void *p;

	if (n < *cap)
		return v;
	nc = *cap ? *cap * 2 : 64;
	if ((p = realloc(v, nc * elem)) == NULL)
		return NULL;
	*cap = nc;
	return p;
}

/* The admin entries of a response: shallow copies (repl_admin_foreach's
 * messages live only during the callback; their strings point into the
 * store and stay valid until it changes), so fill, respond and free in one
 * go. */
struct admin_acc {
	Tandem__ServerAdmin *v;
	size_t n, cap;
	int nomem;
};

static void add_admin(void *arg, const Tandem__ServerAdmin *a)
{
	struct admin_acc *acc = arg;
	Tandem__ServerAdmin *v = grow(acc->v, acc->n, &acc->cap, sizeof(*v));

	if (v == NULL) {
		acc->nomem = 1;
		return;
	}
	acc->v = v;
	acc->v[acc->n++] = *a;
}

static void do_admin_list(struct ctl *c, struct stream *s)
{
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;
	struct admin_acc acc = { NULL, 0, 0, 0 };
	Tandem__ServerAdmin **ptrs;

	repl_admin_foreach(&c->node->repl, add_admin, &acc);
	ptrs = calloc(acc.n ? acc.n : 1, sizeof(*ptrs));
	if (acc.nomem || ptrs == NULL) {
		free(acc.v);
		free(ptrs);
		respond_msg(s, CTL_ERR, "out of memory");
		return;
	}
	for (size_t i = 0; i < acc.n; i++)
		ptrs[i] = &acc.v[i];
	r.has_status = 1;
	r.status = CTL_OK;
	r.node = (char *)c->node->cfg->nodes[c->node->cfg->self].name;
	r.n_admin = acc.n;
	r.admin = ptrs;
	respond(s, &r);
	free(ptrs);
	free(acc.v);
}

static void do_admin_set(struct ctl *c, struct stream *s, const Tandem__CtlRequest *req)
{
	struct adminarg a;
	char msg[300];
	int rc;

	if (adminarg_parse(req->command, req->n_args, req->args, &a, msg, sizeof(msg)) == -1) {
		c->bad_request++;
		respond_msg(s, CTL_USAGE, msg);
		return;
	}
	rc = repl_admin_set(&c->node->repl, a.upstream, a.server, a.state, a.weight, msg, sizeof(msg));
	respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
}

/* ---- hactl ratelimit top|show, hactl bans -------------------------------
 *
 * Read from the replicated store, which holds every node's count per
 * (origin, limit, key, window) and every ban; hacd, not hactl, does the
 * sums, so that every client sees the numbers the cluster decides with.
 * The store's strings and key bytes stay valid until it changes, and it
 * cannot change while this request is served (one loop), so the rows and
 * the response point into it and are freed before returning. */

struct rate_row {
	const char *limit, *origin;
	const uint8_t *key;
	size_t klen;
	uint64_t ws, count;
	uint64_t h;                 /* of (limit, key): sorting only needs equal keys adjacent */
};

struct rate_acc {
	struct rate_row *v;
	size_t n, cap;
	const char *limit;          /* filter, or NULL */
	const uint8_t *key;         /* filter (show), or NULL */
	size_t klen;
	int nomem;
};

/* FNV-1a of limit, NUL, key. Grouping sorts by it first so that most
 * comparisons of a 200000-entry store are one integer compare; a collision
 * (chosen by a client or not) only falls through to the full compare. */
static uint64_t key_hash(const char *limit, const uint8_t *key, size_t klen)
{
	uint64_t h = 14695981039346656037ull;

	for (const char *p = limit; ; p++) {
		h = (h ^ (uint8_t)*p) * 1099511628211ull;
		if (*p == '\0')
			break;
	}
	for (size_t i = 0; i < klen; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return h;
}

static void add_rate(void *arg, const struct replica_item *it)
{
	struct rate_acc *a = arg;
	const Tandem__RateCount *m = it->u.rate;
	struct rate_row *v;

	if (a->limit != NULL && strcmp(m->limit, a->limit) != 0)
		return;
	if (a->key != NULL && (m->key.len != a->klen || memcmp(m->key.data, a->key, a->klen) != 0))
		return;
	if ((v = grow(a->v, a->n, &a->cap, sizeof(*v))) == NULL) {
		a->nomem = 1;
		return;
	}
	a->v = v;
	a->v[a->n++] = (struct rate_row){ m->limit, m->origin, m->key.data, m->key.len,
	    m->window_start_unix_ms, m->count, key_hash(m->limit, m->key.data, m->key.len) };
}

static int cmp_key(const char *l1, const uint8_t *k1, size_t n1, const char *l2, const uint8_t *k2, size_t n2)
{
	int c = strcmp(l1, l2);

	if (c != 0)
		return c;
	if (n1 != n2)
		return n1 < n2 ? -1 : 1;
	return n1 ? memcmp(k1, k2, n1) : 0;
}

/* (limit, key) by hash, then the newest window first, then origin. */
static int cmp_rate_row(const void *pa, const void *pb)
{
	const struct rate_row *a = pa, *b = pb;
	int c;

	if (a->h != b->h)
		return a->h < b->h ? -1 : 1;
	c = cmp_key(a->limit, a->key, a->klen, b->limit, b->key, b->klen);
	if (c != 0)
		return c;
	if (a->ws != b->ws)
		return a->ws > b->ws ? -1 : 1;
	return strcmp(a->origin, b->origin);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

struct limit_seen {
	const char *limit;
	int seen;
};

static void see_rate(void *arg, const struct replica_item *it)
{
	struct limit_seen *l = arg;

	l->seen |= strcmp(it->u.rate->limit, l->limit) == 0;
}

static void see_ban(void *arg, const struct replica_item *it)
{
	struct limit_seen *l = arg;

	l->seen |= strcmp(it->u.ban->limit, l->limit) == 0;
}

/* hacd does not know proxyd.conf: a limit "exists" when some node counted
 * or banned under it recently enough for the store to hold it. */
static int limit_known(const struct replica *store, const char *limit)
{
	struct limit_seen l = { limit, 0 };

	replica_foreach(store, REPLICA_RATE, see_rate, &l);
	if (!l.seen)
		replica_foreach(store, REPLICA_BAN, see_ban, &l);
	return l.seen;
}

static void respond_unknown_limit(struct stream *s, const char *limit)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "no limit \"%s\" in the cluster store (not in proxyd.conf, scope node, "
	    "or nothing counted lately)", limit);
	respond_msg(s, CTL_ERR, msg);
}

/* The RateCount of one row (origin NULL: "" = summed over nodes) and what
 * it adds to the response. */
static size_t rate_msg(Tandem__RateCount *m, const struct rate_row *r, const char *origin, uint64_t ws,
    uint64_t count)
{
	tandem__rate_count__init(m);
	m->origin = (char *)origin;
	m->limit = (char *)r->limit;
	m->has_key = 1;
	m->key.len = r->klen;
	m->key.data = (uint8_t *)r->key;
	m->has_window_start_unix_ms = 1;
	m->window_start_unix_ms = ws;
	m->has_count = 1;
	m->count = count;
	return tandem__rate_count__get_packed_size(m) + 4;   /* tag and length */
}

static void respond_rates(struct ctl *c, struct stream *s, Tandem__RateCount *msgs, size_t n,
    const char *note)
{
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;
	Tandem__RateCount **ptrs = calloc(n ? n : 1, sizeof(*ptrs));

	if (ptrs == NULL) {
		respond_msg(s, CTL_ERR, "out of memory");
		return;
	}
	for (size_t i = 0; i < n; i++)
		ptrs[i] = &msgs[i];
	r.has_status = 1;
	r.status = CTL_OK;
	r.node = (char *)c->node->cfg->nodes[c->node->cfg->self].name;
	r.message = (char *)note;
	r.n_rates = n;
	r.rates = ptrs;
	respond(s, &r);
	free(ptrs);
}

/* One (limit, key): its rows start at row, newest window first; the
 * current window is the newest any node has for it. */
struct rate_group {
	const struct rate_row *row;
	size_t ncur;                /* rows of the current window: one per contributing node */
	uint64_t cur_ws, prev_ws;
	uint64_t cur, prev;
	int has_prev;
};

/* Rank: current sum, then previous sum, descending; then (limit, key), so
 * that the output does not depend on the store's order. */
static int cmp_group(const void *pa, const void *pb)
{
	const struct rate_group *a = pa, *b = pb;

	if (a->cur != b->cur)
		return a->cur > b->cur ? -1 : 1;
	if (a->prev != b->prev)
		return a->prev > b->prev ? -1 : 1;
	return cmp_key(a->row->limit, a->row->key, a->row->klen, b->row->limit, b->row->key, b->row->klen);
}

/* The N best groups in a heap whose root is the worst kept: O(G log N)
 * rather than sorting every key of the store. */
static void top_sift_down(struct rate_group *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, w = i;
		struct rate_group t;

		if (l < n && cmp_group(&h[l], &h[w]) > 0)
			w = l;
		if (l + 1 < n && cmp_group(&h[l + 1], &h[w]) > 0)
			w = l + 1;
		if (w == i)
			return;
		t = h[i];
		h[i] = h[w];
		h[w] = t;
		i = w;
	}
}

static void top_offer(struct rate_group *h, size_t *n, size_t want, const struct rate_group *g)
{
	size_t i;

	if (*n < want) {
		for (i = (*n)++; i > 0 && cmp_group(g, &h[(i - 1) / 2]) > 0; i = (i - 1) / 2)
			h[i] = h[(i - 1) / 2];
		h[i] = *g;
	} else if (want > 0 && cmp_group(g, &h[0]) < 0) {
		h[0] = *g;
		top_sift_down(h, *n, 0);
	}
}

/*
 * top: per (limit, key), in this order: the current window's sum (origin
 * ""), the previous window's sum if the store has one (origin "", an older
 * window_start), then each contributing node's count in the current window
 * (origin set), so that the client can show how many nodes contributed.
 * Keys sorted by current sum, at most a.top of them, fewer if the response
 * would not fit in a frame (then the message says so). The loop is blocked
 * meanwhile: about 45 ms of CPU for a full store of 200000 entries on the
 * 2-core lab machine (mostly the sort and the cache misses of walking the
 * store), well under the 300 ms dead interval of a 100 ms advert.
 */
static void do_rate_top(struct ctl *c, struct stream *s, const struct ratekey_args *a)
{
	const struct replica *store = repl_store(&c->node->repl);
	struct rate_acc acc = { NULL, 0, 0, a->limit, NULL, 0, 0 };
	struct rate_group *g = NULL;
	Tandem__RateCount *msgs = NULL;
	size_t ng = 0, nmsg = 0, budget = CTL_LIST_BUDGET, shown = 0;
	char note[160] = "";

	replica_foreach(store, REPLICA_RATE, add_rate, &acc);
	if (acc.nomem)
		goto nomem;
	if (acc.n == 0 && a->limit != NULL && !limit_known(store, a->limit)) {
		respond_unknown_limit(s, a->limit);
		goto out;
	}
	/* An empty store leaves acc.v NULL, and qsort's array may not be a
	 * null pointer even for no elements (C11 7.22.5). */
	if (acc.n > 1)
		qsort(acc.v, acc.n, sizeof(*acc.v), cmp_rate_row);
	if ((g = calloc(a->top, sizeof(*g))) == NULL)
		goto nomem;
	for (size_t i = 0, j; i < acc.n; i = j) {
		struct rate_group p = { &acc.v[i], 0, acc.v[i].ws, 0, 0, 0, 0 };

		for (j = i; j < acc.n && (j == i || (acc.v[j].h == p.row->h && cmp_key(p.row->limit,
		    p.row->key, p.row->klen, acc.v[j].limit, acc.v[j].key, acc.v[j].klen) == 0)); j++) {
			const struct rate_row *r = &acc.v[j];

			if (r->ws == p.cur_ws) {
				p.cur = add_sat(p.cur, r->count);
				p.ncur++;
			} else if (!p.has_prev || r->ws == p.prev_ws) {
				p.has_prev = 1;
				p.prev_ws = r->ws;
				p.prev = add_sat(p.prev, r->count);
			}
		}
		top_offer(g, &ng, a->top, &p);
	}
	qsort(g, ng, sizeof(*g), cmp_group);
	for (size_t k = 0; k < ng; k++)
		nmsg += 2 + g[k].ncur;
	if ((msgs = calloc(nmsg ? nmsg : 1, sizeof(*msgs))) == NULL)
		goto nomem;
	nmsg = 0;
	for (; shown < ng; shown++) {
		const struct rate_group *p = &g[shown];
		size_t mark = nmsg, used = 0;

		used += rate_msg(&msgs[nmsg++], p->row, "", p->cur_ws, p->cur);
		if (p->has_prev)
			used += rate_msg(&msgs[nmsg++], p->row, "", p->prev_ws, p->prev);
		for (size_t k = 0; k < p->ncur; k++) {
			const struct rate_row *r = &p->row[k];

			used += rate_msg(&msgs[nmsg++], r, r->origin, r->ws, r->count);
		}
		if (used > budget) {
			nmsg = mark;
			break;
		}
		budget -= used;
	}
	if (shown < ng)
		snprintf(note, sizeof(note), "only the first %zu of %zu keys fit in one answer", shown, ng);
	respond_rates(c, s, msgs, nmsg, note);
	goto out;
nomem:
	respond_msg(s, CTL_ERR, "out of memory");
out:
	free(msgs);
	free(g);
	free(acc.v);
}

/*
 * show: every window the store holds for (limit, key), newest first: the
 * sum over nodes (origin "", replica_rate_sum: what proxyd adds its own
 * live count to), then each node's count. Unknown limit or key: CTL_ERR.
 */
static void do_rate_show(struct ctl *c, struct stream *s, const struct ratekey_args *a)
{
	const struct replica *store = repl_store(&c->node->repl);
	struct rate_acc acc = { NULL, 0, 0, a->limit, a->key, a->key_len, 0 };
	Tandem__RateCount *msgs = NULL;
	size_t nmsg = 0, budget = CTL_LIST_BUDGET, windows = 0, shown = 0;
	char note[160] = "", msg[RATEKEY_TEXT_MAX + 200], text[RATEKEY_TEXT_MAX];

	replica_foreach(store, REPLICA_RATE, add_rate, &acc);
	if (acc.nomem)
		goto nomem;
	if (acc.n == 0) {
		if (!limit_known(store, a->limit)) {
			respond_unknown_limit(s, a->limit);
		} else {
			ratekey_format(a->key, a->key_len, text, sizeof(text));
			snprintf(msg, sizeof(msg), "limit \"%s\" has no count for key %s (name the key as "
			    "\"hactl ratelimit top\" prints it: an IP key is the limit's prefix)", a->limit, text);
			respond_msg(s, CTL_ERR, msg);
		}
		goto out;
	}
	qsort(acc.v, acc.n, sizeof(*acc.v), cmp_rate_row);
	for (size_t i = 0; i < acc.n; i++)
		windows += i == 0 || acc.v[i].ws != acc.v[i - 1].ws;
	if ((msgs = calloc(acc.n + windows, sizeof(*msgs))) == NULL)
		goto nomem;
	for (size_t i = 0; i < acc.n; shown++) {
		const struct rate_row *r0 = &acc.v[i];
		size_t mark = nmsg, used = 0, j;

		used += rate_msg(&msgs[nmsg++], r0, "", r0->ws,
		    replica_rate_sum(store, a->limit, a->key, a->key_len, r0->ws, NULL));
		for (j = i; j < acc.n && acc.v[j].ws == r0->ws; j++)
			used += rate_msg(&msgs[nmsg++], &acc.v[j], acc.v[j].origin, acc.v[j].ws, acc.v[j].count);
		if (used > budget) {
			nmsg = mark;
			break;
		}
		budget -= used;
		i = j;
	}
	if (shown < windows)
		snprintf(note, sizeof(note), "only the newest %zu of %zu windows fit in one answer", shown, windows);
	respond_rates(c, s, msgs, nmsg, note);
	goto out;
nomem:
	respond_msg(s, CTL_ERR, "out of memory");
out:
	free(msgs);
	free(acc.v);
}

struct ban_acc {
	Tandem__Ban *v;
	size_t n, cap;
	const char *limit;
	uint64_t now;
	int nomem;
};

/* Shallow copies: the strings and key bytes point into the store. */
static void add_ban(void *arg, const struct replica_item *it)
{
	struct ban_acc *a = arg;
	const Tandem__Ban *b = it->u.ban;
	Tandem__Ban *v;

	if (b->until_unix_ms <= a->now || (a->limit != NULL && strcmp(b->limit, a->limit) != 0))
		return;
	if ((v = grow(a->v, a->n, &a->cap, sizeof(*v))) == NULL) {
		a->nomem = 1;
		return;
	}
	a->v = v;
	a->v[a->n++] = *b;
}

static int cmp_ban(const void *pa, const void *pb)
{
	const Tandem__Ban *a = pa, *b = pb;

	return cmp_key(a->limit, a->key.data, a->key.len, b->limit, b->key.data, b->key.len);
}

/* bans: every ban not over yet (the store expires them each second; one
 * that ended since is left out here), by limit and key. */
static void do_bans(struct ctl *c, struct stream *s, const struct ratekey_args *a)
{
	const struct replica *store = repl_store(&c->node->repl);
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;
	struct ban_acc acc = { NULL, 0, 0, a->limit, ev_wall_ms(), 0 };
	Tandem__Ban **ptrs = NULL;
	size_t budget = CTL_LIST_BUDGET, shown = 0;
	char note[160] = "";

	replica_foreach(store, REPLICA_BAN, add_ban, &acc);
	if (acc.nomem || (ptrs = calloc(acc.n ? acc.n : 1, sizeof(*ptrs))) == NULL) {
		respond_msg(s, CTL_ERR, "out of memory");
		goto out;
	}
	if (acc.n == 0 && a->limit != NULL && !limit_known(store, a->limit)) {
		respond_unknown_limit(s, a->limit);
		goto out;
	}
	if (acc.n > 1)                  /* acc.v is NULL without bans (C11 7.22.5) */
		qsort(acc.v, acc.n, sizeof(*acc.v), cmp_ban);
	for (; shown < acc.n; shown++) {
		size_t used = tandem__ban__get_packed_size(&acc.v[shown]) + 4;

		if (used > budget)
			break;
		budget -= used;
		ptrs[shown] = &acc.v[shown];
	}
	if (shown < acc.n)
		snprintf(note, sizeof(note), "only %zu of %zu bans fit in one answer: use --limit NAME",
		    shown, acc.n);
	r.has_status = 1;
	r.status = CTL_OK;
	r.node = (char *)c->node->cfg->nodes[c->node->cfg->self].name;
	r.message = note;
	r.n_bans = shown;
	r.bans = ptrs;
	respond(s, &r);
out:
	free(ptrs);
	free(acc.v);
}

static void do_ratelimit(struct ctl *c, struct stream *s, const Tandem__CtlRequest *req)
{
	struct ratekey_args a;
	char msg[400];
	int rc;

	if (ratekey_args_parse(req->command, req->n_args, req->args, &a, msg, sizeof(msg)) == -1) {
		c->bad_request++;
		respond_msg(s, CTL_USAGE, msg);
		return;
	}
	if (repl_store(&c->node->repl) == NULL) {
		respond_msg(s, CTL_ERR, "replication is not running");
		return;
	}
	switch (a.cmd) {
	case RATEKEY_CMD_TOP:  do_rate_top(c, s, &a); break;
	case RATEKEY_CMD_SHOW: do_rate_show(c, s, &a); break;
	case RATEKEY_CMD_BANS: do_bans(c, s, &a); break;
	case RATEKEY_CMD_RESET:
		rc = repl_rate_reset(&c->node->repl, a.limit, a.key, a.key_len, msg, sizeof(msg));
		respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
		break;
	}
}

/* hactl cache stats: every node's newest cache summary (this node's
 * proxyd's and each peer's, hacd/cacheview.h), with its age. */
static void cache_stats(struct ctl *c, struct stream *s)
{
	const struct cacheview *cv = &c->node->repl.cv;
	const struct hacd_config *cfg = c->node->cfg;
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;
	Tandem__CacheSummary *sum[HACD_MAX_NODES];
	size_t n = 0;
	uint64_t now = ev_now(c->loop);

	for (size_t i = 0; i < cfg->nnodes && i < HACD_MAX_NODES; i++) {
		if (cv->node[i].len == 0 ||
		    (sum[n] = tandem__cache_summary__unpack(NULL, cv->node[i].len, cv->node[i].sum)) == NULL)
			continue;
		sum[n]->has_age_ms = 1;
		sum[n]->age_ms = now - cv->node[i].at_ms;
		n++;
	}
	r.has_status = 1;
	r.status = CTL_OK;
	r.node = (char *)cfg->nodes[cfg->self].name;
	r.n_cache_nodes = n;
	r.cache_nodes = sum;
	if (n == 0)
		r.message = "no cache summary yet (no proxyd with a cache has reported)";
	respond(s, &r);
	for (size_t i = 0; i < n; i++)
		tandem__cache_summary__free_unpacked(sum[i], NULL);
}

/* hactl cache purge URL | cache purge --prefix URL | cache purge --tag TAG (docs/cache.md). */
static void do_cache(struct ctl *c, struct stream *s, const Tandem__CtlRequest *req)
{
	char msg[400];
	int kind = req->n_args != 3 ? PURGE_KIND_URL : strcmp(req->args[1], "--prefix") == 0 ? PURGE_KIND_PREFIX :
	    strcmp(req->args[1], "--tag") == 0 ? PURGE_KIND_TAG : -1;
	int rc;

	if (req->n_args == 1 && strcmp(req->args[0], "stats") == 0) {
		cache_stats(c, s);
		return;
	}
	if (req->n_args < 2 || req->n_args > 3 || strcmp(req->args[0], "purge") != 0 || kind < 0) {
		c->bad_request++;
		respond_msg(s, CTL_USAGE, "usage: cache purge URL | cache purge --prefix URL | cache purge --tag TAG");
		return;
	}
	if (repl_store(&c->node->repl) == NULL) {
		respond_msg(s, CTL_ERR, "replication is not running");
		return;
	}
	rc = repl_cache_purge(&c->node->repl, req->args[req->n_args - 1], kind, msg, sizeof(msg));
	respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
}

static void do_status(struct ctl *c, struct stream *s)
{
	struct node *n = c->node;
	const struct hacd_config *cfg = n->cfg;
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;
	struct counter_acc *acc = calloc(1, sizeof(*acc));
	struct nodestatus *st = malloc(sizeof(*st));

	if (acc == NULL || st == NULL) {
		free(acc);
		free(st);
		respond_msg(s, CTL_ERR, "out of memory");
		return;
	}
	nodestatus_fill(st, n, ev_now(c->loop));
	peer_counters(&n->peers, add_counter, acc);
	add_counter(acc, "channel-rejected-uid", n->chan.rejected_uid);
	add_counter(acc, "channel-rejected-busy", n->chan.rejected_busy);
	add_counter(acc, "channel-bad-message", n->chan.bad_message);
	add_counter(acc, "channel-unexpected-message", n->chan.unexpected);
	add_counter(acc, "ctl-rejected-uid", c->rejected_uid);
	add_counter(acc, "ctl-bad-request", c->bad_request);
	add_counter(acc, "notify-failed", n->notify_failed);
	add_counter(acc, "preempt-wait-unheard", n->preempt_unheard);
	add_counter(acc, "quorum-lost", n->quorum_lost);
	if (n->witness)
		add_counter(acc, "witness-vote-moves", n->vote_moves);
	repl_counters(&n->repl, add_counter, acc);
	bgp_counters(&n->bgp, add_counter, acc);
	r.has_status = 1;
	r.status = CTL_OK;
	r.node = (char *)cfg->nodes[cfg->self].name;
	r.has_maintenance = 1;
	r.maintenance = n->maintenance;
	r.has_proxyd_ready = 1;
	r.proxyd_ready = channel_ready(&n->chan);
	r.has_quorum = 1;
	r.quorum = cfg->quorum != 0;
	r.has_quorate = 1;
	r.quorate = node_quorate(n);
	r.has_votes_seen = r.has_votes_needed = 1;
	r.votes_seen = n->quorum.seen;
	r.votes_needed = n->quorum.needed;
	r.has_witness = 1;
	r.witness = n->witness;
	if (n->witness && n->vote_for >= 0)
		r.vote_for = (char *)cfg->nodes[n->vote_for].name;
	r.n_nodes = st->nnodes;
	r.nodes = st->nsp;
	r.n_vips = st->nvips;
	r.vips = st->vsp;
	r.n_counters = acc->n;
	r.counters = acc->p;
	respond(s, &r);
	free(acc);
	free(st);
}

static void broadcast_event(void *arg, const char *line)
{
	struct ctl *c = arg;
	Tandem__CtlResponse r = TANDEM__CTL_RESPONSE__INIT;

	r.event = (char *)line;
	for (struct stream *s = c->clients; s != NULL; s = s->next)
		if (s->data == CTL_SUBSCRIBER && !s->closing)
			respond(s, &r);
}

/* hactl drain NODE / enable NODE, for any node: stored as the node's
 * admin entry (ADMINARG_NODE_UPSTREAM/NODE) and replicated like a server's
 * (hacd/repl.c: sealed, authenticated, fresh, last writer wins); the named
 * node's hacd withdraws or announces its BGP-mode routes (hacd/bgp.c) when
 * the entry reaches it, and relearns it from its peers after a restart. */
static void do_node_drain(struct ctl *c, struct stream *s, const Tandem__CtlRequest *req, int on)
{
	const struct hacd_config *cfg = c->node->cfg;
	char msg[300];
	int node, bgp = 0, alive;

	if (req->n_args != 1) {
		c->bad_request++;
		respond_msg(s, CTL_USAGE, on ? "usage: drain NODE" : "usage: enable NODE");
		return;
	}
	/* A name that is no configured node is a malformed command (an
	 * upstream without its "/SERVER", say), not a refusal: usage, exit 2. */
	if (hacd_config_node(cfg, req->args[0]) < 0) {
		c->bad_request++;
		snprintf(msg, sizeof(msg), "no node named \"%.64s\": %s NODE or %s UPSTREAM/SERVER",
		    req->args[0], on ? "drain" : "enable", on ? "drain" : "enable");
		respond_msg(s, CTL_USAGE, msg);
		return;
	}
	if ((node = hacd_config_node(cfg, req->args[0])) >= 0 && cfg->nodes[node].witness) {
		snprintf(msg, sizeof(msg), "%s is a witness: it announces no route", req->args[0]);
		respond_msg(s, CTL_ERR, msg);
		return;
	}
	for (size_t v = 0; v < cfg->nvips; v++)
		bgp |= cfg->vips[v].bgp;
	if (!bgp) {
		respond_msg(s, CTL_ERR, "no VIP group in mode \"bgp\" in this cluster (for a VRRP-style VIP: hactl failover)");
		return;
	}
	if (repl_store(&c->node->repl) == NULL) {
		respond_msg(s, CTL_ERR, "replication is not running");
		return;
	}
	if (repl_admin_set(&c->node->repl, ADMINARG_NODE_UPSTREAM, req->args[0],
	    on ? TANDEM__ADMIN_STATE__ADMIN_DRAIN : TANDEM__ADMIN_STATE__ADMIN_READY, -1, msg, sizeof(msg)) == -1) {
		respond_msg(s, CTL_ERR, msg);
		return;
	}
	alive = (size_t)node == cfg->self || c->node->peers.peers[node].alive;
	snprintf(msg, sizeof(msg), "node %s: %s (cluster-wide)%s", req->args[0],
	    on ? "drain: its BGP routes are withdrawn once its open connections end (at most 2.5 s)" :
	    "enabled: its BGP routes are announced once its proxyd is ready",
	    alive ? "" : "; it is not heard now: it acts on this when it rejoins");
	respond_msg(s, CTL_OK, msg);
}

static void dispatch(struct ctl *c, struct stream *s, const Tandem__CtlRequest *req)
{
	char msg[1024];
	const char *cmd = req->command ? req->command : "";
	int rc;

	if (strcmp(cmd, "status") == 0) {
		do_status(c, s);
	} else if (strcmp(cmd, "failover") == 0) {
		const char *vip = NULL, *to = NULL;

		for (size_t i = 0; i < req->n_args; i++) {
			if (strcmp(req->args[i], "--to") == 0 && i + 1 < req->n_args)
				to = req->args[++i];
			else if (vip == NULL && req->args[i][0] != '-')
				vip = req->args[i];
			else {
				respond_msg(s, CTL_USAGE, "usage: failover [VIP] [--to NODE]");
				return;
			}
		}
		rc = node_failover(c->node, vip, to, msg, sizeof(msg));
		respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
	} else if (strcmp(cmd, "maintenance") == 0) {
		if (req->n_args != 1 || (strcmp(req->args[0], "on") != 0 && strcmp(req->args[0], "off") != 0)) {
			respond_msg(s, CTL_USAGE, "usage: maintenance on|off");
			return;
		}
		rc = node_maintenance(c->node, strcmp(req->args[0], "on") == 0, msg, sizeof(msg));
		respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
	} else if (strcmp(cmd, "reload") == 0) {
		if (c->on_reload != NULL)
			c->on_reload(c->reload_arg, -1);
		rc = node_reload(c->node, msg, sizeof(msg));
		if (c->on_reload != NULL)
			c->on_reload(c->reload_arg, rc == 0);
		respond_msg(s, rc == 0 ? CTL_OK : CTL_ERR, msg);
	} else if (strcmp(cmd, "node-drain") == 0 || strcmp(cmd, "node-enable") == 0) {
		do_node_drain(c, s, req, strcmp(cmd, "node-drain") == 0);
	} else if (adminarg_is_verb(cmd)) {
		do_admin_set(c, s, req);
	} else if (strcmp(cmd, "admin") == 0) {
		if (req->n_args != 0) {
			respond_msg(s, CTL_USAGE, "usage: admin");
			return;
		}
		do_admin_list(c, s);
	} else if (strcmp(cmd, "ratelimit") == 0 || strcmp(cmd, "bans") == 0) {
		do_ratelimit(c, s, req);
	} else if (strcmp(cmd, "cache") == 0) {
		do_cache(c, s, req);
	} else if (strcmp(cmd, "events") == 0) {
		s->data = CTL_SUBSCRIBER;
		respond_msg(s, CTL_OK, "following events; interrupt to stop");
	} else {
		c->bad_request++;
		snprintf(msg, sizeof(msg), "unknown command \"%.64s\"", cmd);
		respond_msg(s, CTL_USAGE, msg);
	}
}

static struct ctl *ctl_of(struct stream *s);

void ctl_input(struct ctl *c, struct stream *s, const uint8_t *msg, size_t len)
{
	Tandem__CtlRequest *req = tandem__ctl_request__unpack(NULL, len, msg);

	if (req == NULL) {
		c->bad_request++;
		log_rl_warnx(&c->rl, ev_now(c->loop), "ctl: undecodable request: closing");
		stream_close(s);
		return;
	}
	dispatch(c, s, req);
	tandem__ctl_request__free_unpacked(req, NULL);
}

static void client_frame_cb(struct stream *s, const uint8_t *msg, size_t len)
{
	ctl_input(ctl_of(s), s, msg, len);
}

/* Streams carry the subscriber mark in data, so the ctl is found through a
 * single-instance pointer: hacd has one control socket. */
static struct ctl *the_ctl;

static struct ctl *ctl_of(struct stream *s)
{
	(void)s;
	return the_ctl;
}

static void client_close_cb(struct stream *s)
{
	struct ctl *c = ctl_of(s);

	for (struct stream **pp = &c->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
}

static void accept_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct ctl *c = w->data;
	struct stream *s;
	uid_t uid = (uid_t)-1;
	int fd;

	(void)revents;
	for (int i = 0; i < 16; i++) {
		fd = net_accept(c->lfd, NULL, NULL);
		if (fd == -1)
			return;
		if (net_peer_uid(fd, &uid) == -1 || (uid != 0 && uid != getuid())) {
			c->rejected_uid++;
			log_rl_warnx(&c->rl, ev_now(loop), "ctl: connection from uid %d refused", (int)uid);
			close(fd);
			continue;
		}
		s = stream_new(loop, fd, client_frame_cb, client_close_cb, NULL);
		if (s == NULL)
			continue;
		s->next = c->clients;
		c->clients = s;
	}
}

int ctl_open(struct ctl *c, struct ev_loop *loop, const char *path, struct node *node)
{
	memset(c, 0, sizeof(*c));
	c->loop = loop;
	c->node = node;
	c->lfd = -1;
	c->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	if (strlen(path) >= sizeof(c->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(c->path, sizeof(c->path), "%s", path);
	c->lfd = net_listen_unix(path, 0600);
	if (c->lfd == -1)
		return -1;
	ev_io_init(&c->lio, c->lfd, accept_cb, c);
	if (ev_io_start(loop, &c->lio, EV_READ) == -1) {
		close(c->lfd);
		c->lfd = -1;
		return -1;
	}
	the_ctl = c;
	node->event_cb = broadcast_event;
	node->event_arg = c;
	return 0;
}

void ctl_close(struct ctl *c)
{
	if (c->node != NULL && c->node->event_arg == c) {
		c->node->event_cb = NULL;
		c->node->event_arg = NULL;
	}
	while (c->clients != NULL)
		stream_close(c->clients);   /* the close callback unlinks it */
	if (c->lfd != -1) {
		ev_io_stop(c->loop, &c->lio);
		close(c->lfd);
		c->lfd = -1;
		unlink(c->path);
	}
}
