/*
 * proxyd/cluster.c — the meaning of the replicated state on proxyd's side.
 *
 * Up (to hacd, every sync interval): for each `scope = "cluster"` limit,
 * the counts and bans this node changed since the last collection
 * (rl_collect_deltas / rl_collect_bans: absolute G-counter values, so a lost
 * or repeated frame does no harm), and the health verdicts its own checks
 * reached lately. No origin is set: hacd credits local input to its node
 * and refuses anything else (hacd/replica.c), so proxyd cannot speak for
 * another node even by mistake.
 *
 * Down (from hacd, as they change and in a bulk when proxyd connects):
 * peers' counts (rl_merge_remote: max per origin, key and window, so the
 * decision sums the nodes), bans (max of end times: cluster-wide), health
 * observations (used only while this node's own checks have no verdict:
 * a restarted node does not start with every server assumed up), and TLS
 * ticket keys (installed in the keyring every listener seals under; the
 * keys proxyd made for itself are dropped then, so every node seals under
 * the cluster's key). hacd's store is keyed by hacd's node name, which need
 * not be proxyd's `node`: the view says it, and this node's own counts
 * coming back under it are merged as the table's own (relearnt after a
 * restart) rather than as a second node's.
 *
 * The view also names every configured node: a count whose origin is not
 * one of them is refused (each origin holds one of a table's RL_MAX_NODES
 * slots for good; hacd refuses such counts too, this is the second line).
 *
 * The view also carries how many of the configured nodes hacd sees alive:
 * a `partition = "share"` limit then enforces alive/nodes of its rate, so
 * the sides of a partition, each unable to see the other's counts, admit
 * no more than the limit together; `partition = "full"` (the default)
 * keeps the whole limit on every node and admits up to N times it while
 * the nodes cannot hear each other.
 *
 * Readiness waits for the cluster's ticket keys. A proxyd with TLS
 * listeners whose hacd hands out ticket keys (the view says so) reports
 * not ready (/readyz 503, status to hacd) until the first cluster key is
 * installed: a ticket sealed under the key it made for itself would resume
 * on this node only, and not even here once the cluster's key replaces it.
 * After a cold start of the whole cluster the first key takes up to about
 * REPL_TICKET_GRACE (3 s, hacd/repl.c) plus one ticket tick (1 s) to be
 * made, after a proxyd restart only the channel's bulk. The wait starts
 * when the channel connects (hacd's view, sent first, says whether hacd
 * hands out keys at all; until it comes the answer is not known, so not
 * ready either) and is bounded by CL_TICKET_WAIT_MS from then, so an hacd
 * that never
 * delivers a key (broken, or a ticket maker that cannot make one) cannot
 * keep this node out of service: proxyd then reports ready with its own
 * key, logs it and counts it (tandem_cluster_ticket_wait_total{result=
 * "timeout"}). The wait happens once per process: a key that expires
 * later (hacd gone for a key's life) is handled by proxyd rotating its own
 * again (proxyd/main.c), not by going unready.
 */
#include "proxyd/cluster.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/ev.h"
#include "lib/log.h"
#include "lib/prom.h"
#include "proxyd/cache_rule.h"
#include "proxyd/cache_store.h"
#include "proxyd/config.h"
#include "proxyd/hcheck.h"
#include "proxyd/procstate.h"
#include "proxyd/ratelimit.h"
#include "proxyd/tls_tickets.h"

#define CL_DEFAULT_INTERVAL_MS 20
#define CL_HEALTH_EVERY_MS     250    /* health verdicts are few and slow: look less often */
#define CL_HEALTH_SLACK_MS     2000   /* resend verdicts this much older than the last look */
#define CL_BATCH               1024   /* entries per frame (a frame is at most ~150 KiB) */
#define CL_TICKET_WAIT_MS      10000  /* longest not-ready wait for the first cluster ticket key */
#define CL_MAX_MEMBERS         32     /* node names the view may list (hacd allows 16) */

enum { K_RATE = 0, K_BAN, K_HEALTH, K_TICKET, K_RESET, K_PURGE, K_MAX };
enum { R_MERGED = 0, R_STALE, R_UNKNOWN, R_REFUSED, R_MAX };
static const char *const kind_name[K_MAX] = { "rate", "ban", "health", "ticket", "reset", "purge" };
static const char *const result_name[R_MAX] = { "merged", "stale", "unknown", "refused" };

/* The ticket-key wait (see the top of the file); control thread only. */
enum tk_wait {
	TK_IDLE = 0,                /* no hacd yet */
	TK_VIEW,                    /* connected: does hacd hand out keys? (its view says, right away) */
	TK_WAITING,                 /* it does: waiting for the first */
	TK_DONE                     /* a key came, the wait ran out, or hacd hands out none */
};
static struct {
	enum tk_wait state;
	uint64_t until_ms;          /* monotonic deadline while TK_WAITING */
	uint64_t got, timeouts;     /* how waits ended */
} tk;

static struct {
	char node[64];              /* hacd's name for this node, "" until the view */
	uint32_t nodes, alive;      /* 0 until the view */
	char members[CL_MAX_MEMBERS][64]; /* the cluster's node names, from the view */
	size_t nmembers;            /* 0: no list (an older hacd): any origin */
	uint64_t bad_origin;        /* counts naming an origin that is not a node */
	int connected;
	uint64_t interval_ms;
	uint64_t health_hwm;        /* wall ms of the last health look */
	uint64_t rx[K_MAX][R_MAX];
	uint64_t tx[K_MAX];
	uint64_t rx_msgs, tx_msgs;
	uint64_t lag_last, lag_max, lag_sum, lag_n;
	struct log_ratelimit rl;
} cl = { .interval_ms = CL_DEFAULT_INTERVAL_MS, .rl = LOG_RATELIMIT_INIT(10000) };

static const struct pd_rlimit *find_limit(const struct pd_config *g, const char *name)
{
	for (size_t i = 0; g != NULL && name != NULL && i < g->nrlimits; i++)
		if (g->rlimits[i].cluster && strcmp(g->rlimits[i].name, name) == 0)
			return &g->rlimits[i];
	return NULL;
}

static void refused(int kind, const char *what)
{
	cl.rx[kind][R_REFUSED]++;
	log_rl_warnx(&cl.rl, ev_wall_ms(), "hacd channel: %s entry refused: %s (%llu so far)", kind_name[kind], what,
	    (unsigned long long)cl.rx[kind][R_REFUSED]);
}

/* Is origin one of the cluster's nodes? Each origin takes one of a rate
 * table's RL_MAX_NODES slots for good, so only a node may have one. */
static int origin_is_member(const char *origin)
{
	if (cl.nmembers == 0)
		return 1;
	for (size_t i = 0; i < cl.nmembers; i++)
		if (strcmp(cl.members[i], origin) == 0)
			return 1;
	return 0;
}

static void apply_counts(const struct pd_config *g, const Tandem__StateSync *s, uint64_t now)
{
	for (size_t i = 0; i < s->n_counts; i++) {
		const Tandem__RateCount *c = s->counts[i];
		const struct pd_rlimit *L;
		const char *origin;
		int rc;

		if (c == NULL || c->limit == NULL || !c->has_key || !c->has_window_start_unix_ms || !c->has_count ||
		    c->origin == NULL || c->origin[0] == '\0') {
			refused(K_RATE, "a field is missing");
			continue;
		}
		if (!origin_is_member(c->origin)) {
			cl.bad_origin++;
			refused(K_RATE, "the origin is not a cluster node");
			continue;
		}
		if ((L = find_limit(g, c->limit)) == NULL) {
			cl.rx[K_RATE][R_UNKNOWN]++;
			continue;
		}
		origin = cl.node[0] != '\0' && strcmp(c->origin, cl.node) == 0 ? rl_table_node(L->t) : c->origin;
		rc = rl_merge_remote(L->t, origin, c->key.data, c->key.len, c->window_start_unix_ms, c->count, now);
		cl.rx[K_RATE][rc == 1 ? R_MERGED : rc == 0 ? R_STALE : R_REFUSED]++;
	}
	for (size_t i = 0; i < s->n_bans; i++) {
		const Tandem__Ban *b = s->bans[i];
		const struct pd_rlimit *L;
		int rc;

		if (b == NULL || b->limit == NULL || !b->has_key || !b->has_until_unix_ms) {
			refused(K_BAN, "a field is missing");
			continue;
		}
		if ((L = find_limit(g, b->limit)) == NULL) {
			cl.rx[K_BAN][R_UNKNOWN]++;
			continue;
		}
		rc = rl_ban_merge(L->t, b->key.data, b->key.len, b->until_unix_ms, now);
		cl.rx[K_BAN][rc == 1 ? R_MERGED : rc == 0 ? R_STALE : R_REFUSED]++;
	}
}

static void apply_health(const Tandem__StateSync *s)
{
	for (size_t i = 0; i < s->n_health; i++) {
		const Tandem__HealthObs *h = s->health[i];
		int rc;

		if (h == NULL || h->upstream == NULL || h->server == NULL || !h->has_up || !h->has_observed_unix_ms) {
			refused(K_HEALTH, "a field is missing");
			continue;
		}
		/* This node's own verdicts come back in a bulk: its checker
		 * already knows them. */
		if (h->origin != NULL && cl.node[0] != '\0' && strcmp(h->origin, cl.node) == 0) {
			cl.rx[K_HEALTH][R_STALE]++;
			continue;
		}
		rc = hc_peer_view(h->upstream, h->server, h->up, h->observed_unix_ms);
		cl.rx[K_HEALTH][rc == 1 ? R_MERGED : rc == 0 ? R_STALE : R_UNKNOWN]++;
	}
}

static void apply_tickets(const Tandem__StateSync *s, uint64_t now)
{
	struct tls_ticket_keys *k;

	if (s->n_tickets == 0 || (k = tls_tickets_shared()) == NULL)
		return;
	for (size_t i = 0; i < s->n_tickets; i++) {
		const Tandem__TicketKey *t = s->tickets[i];
		char err[128];

		if (t == NULL || !t->has_name || !t->has_secret || !t->has_created_unix_ms ||
		    t->name.len != TLS_TICKET_NAME_LEN || t->secret.len != TLS_TICKET_SECRET_LEN) {
			refused(K_TICKET, "a field is missing or the wrong size");
			continue;
		}
		if (tls_tickets_install(k, t->name.data, t->secret.data, t->created_unix_ms,
		    t->has_expires_unix_ms ? t->expires_unix_ms : 0, now, err, sizeof(err)) == -1) {
			refused(K_TICKET, err);
			continue;
		}
		cl.rx[K_TICKET][R_MERGED]++;
		atomic_store(&tls_tickets_external, 1);
		if (tk.state == TK_VIEW || tk.state == TK_WAITING) {
			log_info("tls: the cluster's first session-ticket key is here: ready");
			tk.got++;
		}
		tk.state = TK_DONE;
		if (tls_tickets_drop_local(k, now) > 0)
			log_info("tls: the cluster's session-ticket keys replace this node's own");
	}
}

void cluster_apply(const Tandem__StateSync *s)
{
	struct pd_config *g;
	uint64_t now = ev_wall_ms();

	if (s == NULL)
		return;
	cl.rx_msgs++;
	if (s->has_sent_unix_ms && s->sent_unix_ms <= now + 1000) {
		uint64_t lag = now > s->sent_unix_ms ? now - s->sent_unix_ms : 0;

		cl.lag_last = lag;
		if (lag > cl.lag_max)
			cl.lag_max = lag;
		cl.lag_sum += lag;
		cl.lag_n++;
	}
	g = procstate_current();
	apply_counts(g, s, now);
	config_unref(g);
	apply_health(s);
	apply_tickets(s, now);
}

void cluster_reset(const Tandem__RateReset *rr)
{
	struct pd_config *g;
	int rc = -1, found = 0;

	if (rr->limit == NULL || !rr->has_key || !rr->has_at_unix_ms) {
		refused(K_RESET, "a field is missing");
		return;
	}
	g = procstate_current();
	for (size_t i = 0; g != NULL && i < g->nrlimits; i++)
		if (strcmp(g->rlimits[i].name, rr->limit) == 0) {
			found = 1;
			rc = rl_reset(g->rlimits[i].t, rr->key.data, rr->key.len, rr->at_unix_ms, ev_wall_ms());
		}
	config_unref(g);
	if (!found) {
		cl.rx[K_RESET][R_UNKNOWN]++;
		return;
	}
	cl.rx[K_RESET][rc == 1 ? R_MERGED : rc == 0 ? R_STALE : R_REFUSED]++;
	if (rc == 1)
		log_info("rate limit %s: a key was reset (hactl ratelimit reset on %s)", rr->limit,
		    rr->origin != NULL && rr->origin[0] != '\0' ? rr->origin : "?");
}

struct purge_ctx { const char *key; size_t klen; int prefix; size_t n; };

static void purge_one(void *arg, struct cache_store *s)
{
	struct purge_ctx *pc = arg;

	if (pc->prefix)
		pc->n += cache_store_purge_prefix(s, pc->key, pc->klen);
	else
		pc->n += cache_store_remove(s, cache_key_hash(pc->key, pc->klen), pc->key, pc->klen);
}

void cluster_purge(const Tandem__CachePurge *cp)
{
	static char key[8448];
	struct purge_ctx pc = { key, 0, 1, 0 };
	const char *who = cp->origin != NULL && cp->origin[0] != '\0' ? cp->origin : "?";
	int kl;

	if (cp->has_all && cp->all) {
		/* hacd missed purges its peers' logs no longer hold: every
		 * object may be one of them (the empty prefix matches all). */
		cache_store_foreach(purge_one, &pc);
		cl.rx[K_PURGE][R_MERGED]++;
		log_warnx("cache: every object of every cache purged (purges from %s were missed while this node "
		    "was away: more than hacd's purge log holds)", who);
		return;
	}
	if (cp->tag != NULL && cp->tag[0] != '\0') {
		/* By tag: each cache with a tag_header (its objects remember
		 * their tags in their stored heads). */
		struct pd_config *g = procstate_current();

		for (size_t i = 0; g != NULL && i < g->ncaches; i++)
			if (g->caches[i].tag_header != NULL)
				pc.n += cache_store_purge_tag(g->caches[i].store, g->caches[i].tag_header, cp->tag);
		config_unref(g);
		cl.rx[K_PURGE][R_MERGED]++;
		log_info("cache: purged %zu object%s tagged %s (hactl cache purge on %s)", pc.n, pc.n == 1 ? "" : "s",
		    cp->tag, who);
		return;
	}
	if (cp->url == NULL || (kl = cache_url_key(cp->url, strlen(cp->url), key, sizeof(key))) < 0) {
		refused(K_PURGE, "no URL, or not an http:// or https:// URL with a path");
		return;
	}
	pc.klen = (size_t)kl;
	pc.prefix = cp->has_prefix && cp->prefix;
	cache_store_foreach(purge_one, &pc);
	cl.rx[K_PURGE][R_MERGED]++;
	log_info("cache: purged %zu object%s for %s%s (hactl cache purge on %s)", pc.n, pc.n == 1 ? "" : "s",
	    pc.prefix ? "prefix " : "", cp->url, who);
}

void cluster_view(const Tandem__ClusterView *v)
{
	if (v->node != NULL && strlen(v->node) < sizeof(cl.node) && strcmp(cl.node, v->node) != 0) {
		snprintf(cl.node, sizeof(cl.node), "%s", v->node);
		log_info("hacd channel: this node is \"%s\" in the cluster", cl.node);
	}
	if (v->n_members > 0) {
		size_t n = 0;

		for (size_t i = 0; i < v->n_members && n < CL_MAX_MEMBERS; i++)
			if (v->members[i] != NULL && v->members[i][0] != '\0' &&
			    strlen(v->members[i]) < sizeof(cl.members[0]))
				snprintf(cl.members[n++], sizeof(cl.members[0]), "%s", v->members[i]);
		cl.nmembers = n;
	}
	if (v->has_nodes && v->has_alive && v->nodes > 0 && v->alive <= v->nodes &&
	    (v->nodes != cl.nodes || v->alive != cl.alive)) {
		log_info("hacd channel: %u of %u nodes alive", (unsigned)v->alive, (unsigned)v->nodes);
		cl.nodes = v->nodes;
		cl.alive = v->alive;
	}
	if (v->has_sync_interval_ms && v->sync_interval_ms > 0)
		cl.interval_ms = v->sync_interval_ms;
	if (v->has_tickets && v->tickets) {
		atomic_store(&tls_tickets_external, 1);
		if (tk.state == TK_VIEW) {
			tk.state = TK_WAITING;
			log_info("tls: not ready until the cluster's session-ticket key arrives (at most %d s)",
			    CL_TICKET_WAIT_MS / 1000);
		}
	} else if (tk.state == TK_VIEW) {
		tk.state = TK_DONE;         /* this node's own keys are the only ones */
	}
	cl.connected = 1;
}

void cluster_disconnected(void)
{
	cl.connected = 0;
	if (cl.nodes > 0)
		cl.alive = 1;
}

uint64_t cluster_interval_ms(void)
{
	return cl.interval_ms;
}

/* ---- collection ------------------------------------------------------------ */

static struct collector {
	void (*send)(const Tandem__ChannelMessage *m);
	const char *limit;          /* of the table being collected */
	const char *self;           /* its node name (dump: only own counts go up) */
	uint64_t ban_ms;            /* its ban duration: a ban began until - ban_ms */
	Tandem__RateCount rc[CL_BATCH];
	Tandem__RateCount *rcp[CL_BATCH];
	uint8_t rkey[CL_BATCH][RL_KEY_MAX];
	size_t nrc;
	Tandem__Ban ban[CL_BATCH];
	Tandem__Ban *banp[CL_BATCH];
	uint8_t bkey[CL_BATCH][RL_KEY_MAX];
	size_t nban;
	Tandem__HealthObs hobs[CL_BATCH];
	Tandem__HealthObs *hobsp[CL_BATCH];
	size_t nh;
	uint64_t health_since;
	size_t total;
} co;

static void flush(void)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;

	if (co.nrc + co.nban + co.nh == 0)
		return;
	s.n_counts = co.nrc;
	s.counts = co.rcp;
	s.n_bans = co.nban;
	s.bans = co.banp;
	s.n_health = co.nh;
	s.health = co.hobsp;
	s.has_sent_unix_ms = 1;
	s.sent_unix_ms = ev_wall_ms();
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_SYNC;
	m.sync = &s;
	co.send(&m);
	cl.tx[K_RATE] += co.nrc;
	cl.tx[K_BAN] += co.nban;
	cl.tx[K_HEALTH] += co.nh;
	cl.tx_msgs++;
	co.total += co.nrc + co.nban + co.nh;
	co.nrc = co.nban = co.nh = 0;
}

/* Called with a shard lock held: only copies, and sends (which never
 * calls back into the table). */
static int take_count(void *arg, const char *origin, const uint8_t *key, size_t klen, uint64_t window_start_ms,
    uint64_t count)
{
	Tandem__RateCount *c;

	(void)arg;
	if (strcmp(origin, co.self) != 0 || klen > RL_KEY_MAX)
		return 0;
	if (co.nrc == CL_BATCH)
		flush();
	c = &co.rc[co.nrc];
	tandem__rate_count__init(c);
	memcpy(co.rkey[co.nrc], key, klen);
	c->limit = (char *)co.limit;
	c->has_key = c->has_window_start_unix_ms = c->has_count = 1;
	c->key.data = co.rkey[co.nrc];
	c->key.len = klen;
	c->window_start_unix_ms = window_start_ms;
	c->count = count;
	co.rcp[co.nrc] = c;
	co.nrc++;
	return 0;
}

static int take_ban(void *arg, const uint8_t *key, size_t klen, uint64_t until_unix_ms)
{
	Tandem__Ban *b;

	(void)arg;
	if (klen > RL_KEY_MAX)
		return 0;
	if (co.nban == CL_BATCH)
		flush();
	b = &co.ban[co.nban];
	tandem__ban__init(b);
	memcpy(co.bkey[co.nban], key, klen);
	b->limit = (char *)co.limit;
	b->has_key = b->has_until_unix_ms = 1;
	b->key.data = co.bkey[co.nban];
	b->key.len = klen;
	b->until_unix_ms = until_unix_ms;
	if (co.ban_ms != 0 && until_unix_ms > co.ban_ms) {
		b->has_started_unix_ms = 1;
		b->started_unix_ms = until_unix_ms - co.ban_ms;
	}
	co.banp[co.nban] = b;
	co.nban++;
	return 0;
}

/* Health verdicts: names point into the live configuration, which stays
 * referenced until the flush at the end of cluster_collect. */
static void take_health(void *arg, const char *upstream, const char *server, int up, uint64_t observed)
{
	Tandem__HealthObs *h;

	(void)arg;
	if (observed < co.health_since)
		return;
	if (co.nh == CL_BATCH)
		flush();
	h = &co.hobs[co.nh];
	tandem__health_obs__init(h);
	h->upstream = (char *)upstream;
	h->server = (char *)server;
	h->has_up = h->has_observed_unix_ms = 1;
	h->up = up;
	h->observed_unix_ms = observed;
	co.hobsp[co.nh] = h;
	co.nh++;
}

size_t cluster_collect(int full, void (*send)(const Tandem__ChannelMessage *m))
{
	struct pd_config *g = procstate_current();
	uint64_t now = ev_wall_ms();

	co.send = send;
	co.total = 0;
	for (size_t i = 0; g != NULL && i < g->nrlimits; i++) {
		const struct pd_rlimit *L = &g->rlimits[i];

		if (!L->cluster)
			continue;
		/* The partition policy, re-applied each round: cheap, and a
		 * reload that changed it takes effect without a new view. */
		if (L->partition_share && cl.nodes > 0 && cl.alive > 0)
			rl_table_set_share(L->t, cl.alive, cl.nodes);
		else
			rl_table_set_share(L->t, 1, 1);
		co.limit = L->name;
		co.self = rl_table_node(L->t);
		co.ban_ms = rl_table_conf(L->t)->ban_ms;
		if (full)
			rl_dump(L->t, now, take_count, take_ban, NULL);
		else {
			rl_collect_deltas(L->t, 0, take_count, NULL);
			rl_collect_bans(L->t, 0, take_ban, NULL);
		}
		flush();   /* co.limit changes with the next table */
	}
	if (full || now - cl.health_hwm >= CL_HEALTH_EVERY_MS) {
		co.health_since = full || cl.health_hwm < CL_HEALTH_SLACK_MS ? 0 : cl.health_hwm - CL_HEALTH_SLACK_MS;
		cl.health_hwm = now;
		hc_foreach_observation(take_health, NULL);
	}
	flush();
	config_unref(g);
	return co.total;
}

void cluster_channel_up(int has_tls, uint64_t now_ms)
{
	if (tk.state != TK_IDLE || !has_tls)
		return;
	tk.state = TK_VIEW;
	tk.until_ms = now_ms + CL_TICKET_WAIT_MS;
}

int cluster_tickets_awaited(uint64_t now_ms)
{
	if (tk.state != TK_VIEW && tk.state != TK_WAITING)
		return 0;
	if (now_ms < tk.until_ms)
		return 1;
	tk.state = TK_DONE;
	tk.timeouts++;
	log_warnx("tls: no session-ticket key from hacd within %d s: ready with this node's own key "
	    "(its sessions resume on this node only until the cluster's key arrives)", CL_TICKET_WAIT_MS / 1000);
	return 0;
}

/* ---- metrics ------------------------------------------------------------------ */

void cluster_render(struct buf *o)
{
	buf_appendf(o, "# HELP tandem_cluster_rx_entries_total Replicated entries from hacd, by kind and what became of them.\n"
	    "# TYPE tandem_cluster_rx_entries_total counter\n");
	for (int k = 0; k < K_MAX; k++)
		for (int r = 0; r < R_MAX; r++)
			buf_appendf(o, "tandem_cluster_rx_entries_total{kind=\"%s\",result=\"%s\"} %llu\n", kind_name[k],
			    result_name[r], (unsigned long long)cl.rx[k][r]);
	buf_appendf(o, "# HELP tandem_cluster_rx_bad_origin_total Rate counts from hacd naming an origin that is not a cluster node (refused).\n"
	    "# TYPE tandem_cluster_rx_bad_origin_total counter\n"
	    "tandem_cluster_rx_bad_origin_total %llu\n", (unsigned long long)cl.bad_origin);
	buf_appendf(o, "# HELP tandem_cluster_tx_entries_total This node's entries sent to hacd.\n"
	    "# TYPE tandem_cluster_tx_entries_total counter\n");
	for (int k = 0; k < K_TICKET; k++)   /* tickets and resets only come down */
		buf_appendf(o, "tandem_cluster_tx_entries_total{kind=\"%s\"} %llu\n", kind_name[k],
		    (unsigned long long)cl.tx[k]);
	buf_appendf(o, "# HELP tandem_cluster_messages_total State messages on the hacd channel.\n"
	    "# TYPE tandem_cluster_messages_total counter\n"
	    "tandem_cluster_messages_total{dir=\"rx\"} %llu\ntandem_cluster_messages_total{dir=\"tx\"} %llu\n",
	    (unsigned long long)cl.rx_msgs, (unsigned long long)cl.tx_msgs);
	prom_family(o, "tandem_cluster_merge_lag_seconds", PROM_GAUGE,
	    "Age of replicated state when merged here (sender's clock): the last merge, the largest and the mean since start.");
	prom_f64(o, "tandem_cluster_merge_lag_seconds", prom_ms_to_s(cl.lag_last), "stat", "last", NULL);
	prom_f64(o, "tandem_cluster_merge_lag_seconds", prom_ms_to_s(cl.lag_max), "stat", "max", NULL);
	prom_f64(o, "tandem_cluster_merge_lag_seconds", cl.lag_n ? (double)cl.lag_sum / (double)cl.lag_n / 1000.0 : 0.0,
	    "stat", "avg", NULL);
	buf_appendf(o, "# HELP tandem_cluster_nodes Cluster nodes as hacd reports them (0: no view yet).\n"
	    "# TYPE tandem_cluster_nodes gauge\n"
	    "tandem_cluster_nodes{state=\"configured\"} %u\ntandem_cluster_nodes{state=\"alive\"} %u\n",
	    (unsigned)cl.nodes, (unsigned)cl.alive);
	buf_appendf(o, "# HELP tandem_cluster_ticket_wait Not ready: waiting for the cluster's first TLS ticket key (1/0).\n"
	    "# TYPE tandem_cluster_ticket_wait gauge\ntandem_cluster_ticket_wait %d\n"
	    "# HELP tandem_cluster_ticket_wait_total How waits for the first cluster ticket key ended.\n"
	    "# TYPE tandem_cluster_ticket_wait_total counter\n"
	    "tandem_cluster_ticket_wait_total{result=\"key\"} %llu\ntandem_cluster_ticket_wait_total{result=\"timeout\"} %llu\n",
	    tk.state == TK_VIEW || tk.state == TK_WAITING, (unsigned long long)tk.got, (unsigned long long)tk.timeouts);
}
