/*
 * hacd/repl.c — replication between hacd nodes, on hacd's one loop.
 *
 * hacd/replica.c is the pure store (CRDT merges, delta and bulk export);
 * this file is what moves its bytes. Outgoing: every sync interval the
 * store's dirty entries are packed into PeerMessage{sync} payloads that fit
 * one datagram, sealed once by hacd/peer.c and sent to every peer (or once
 * to the multicast group). Incoming: hacd/peer.c hands over a StateSync or
 * SyncRequest only after its whole receive ladder (authentication, known
 * sender, source address, replay window, decoding), so nothing forged or
 * replayed reaches the store. A node that starts, or sees a peer come
 * alive, sends that peer a SyncRequest; the peer answers with a bulk sync
 * of its whole store (replica_bulk_begin/next), a few chunks per loop
 * iteration from a 1 ms pump timer, so heartbeats (timers of the same loop)
 * are never held up behind a large store. Deltas are state, not
 * operations: a lost one is healed by the next bulk, and every
 * anti_entropy interval each live peer gets one, so loss only delays
 * convergence.
 *
 * The operator's server admin state (hactl drain|enable|maint|weight) is
 * set here with this node as origin, and every admin entry that changes the
 * store — set locally, or merged from a peer's delta or bulk — is forwarded
 * to the local proxyd as ChannelMessage{sync{admin}}; a proxyd that
 * (re)connects gets all of them. So a restarted hacd relearns the cluster's
 * admin state from its peers' bulk syncs and hands it to its proxyd.
 *
 * Timestamps in the store are wall-clock (they cross hosts); timers are on
 * the loop's monotonic clock.
 */
#include "hacd/repl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hacd/adminarg.h"
#include "lib/wire.h"

#define REPL_DELTA_BURST   64     /* delta datagrams per sync tick; the rest 1 ms later */
#define REPL_BULK_BURST    8      /* bulk chunks per peer per pump run */
#define REPL_PUMP_MS       1
#define REPL_EXPIRE_MS     1000
#define REPL_CHAN_BATCH    256    /* admin entries per channel frame */

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *node_name(const struct repl *r, size_t node)
{
	return r->cfg->nodes[node].name;
}

/* ---- to the local proxyd ------------------------------------------------- */

/* Send admin entries as one ChannelMessage{sync}. */
static void chan_send_admin(struct repl *r, Tandem__ServerAdmin **v, size_t n)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;
	uint8_t stackbuf[2048], *buf;
	size_t len;

	if (n == 0 || r->chan->conn == NULL)
		return;
	s.n_admin = n;
	s.admin = v;
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_SYNC;
	m.sync = &s;
	len = tandem__channel_message__get_packed_size(&m);
	buf = len <= sizeof(stackbuf) ? stackbuf : malloc(len);
	if (buf == NULL) {
		r->stats.chan_tx_err++;
		return;
	}
	tandem__channel_message__pack(&m, buf);
	if (channel_send(r->chan, buf, len) == 0)
		r->stats.chan_tx++;
	else
		r->stats.chan_tx_err++;
	if (buf != stackbuf)
		free(buf);
}

static void chan_send_one(struct repl *r, const Tandem__ServerAdmin *a)
{
	Tandem__ServerAdmin *v = (Tandem__ServerAdmin *)a;

	chan_send_admin(r, &v, 1);
}

struct admin_batch {
	struct repl *r;
	Tandem__ServerAdmin copy[REPL_CHAN_BATCH];
	Tandem__ServerAdmin *ptr[REPL_CHAN_BATCH];
	size_t n;
};

/* replica_foreach's pointers stay valid while the store does not change,
 * and sending does not change it: a shallow copy is enough. */
static void batch_add(void *arg, const struct replica_item *it)
{
	struct admin_batch *b = arg;

	b->copy[b->n] = *it->u.admin;
	b->ptr[b->n] = &b->copy[b->n];
	if (++b->n == REPL_CHAN_BATCH) {
		chan_send_admin(b->r, b->ptr, b->n);
		b->n = 0;
	}
}

/* proxyd (re)connected: it knows nothing yet, so it gets every entry. */
static void on_chan_connected(void *arg)
{
	struct repl *r = arg;
	struct admin_batch *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		r->stats.chan_tx_err++;
		return;
	}
	b->r = r;
	replica_foreach(r->store, REPLICA_ADMIN, batch_add, b);
	chan_send_admin(r, b->ptr, b->n);
	free(b);
}

/* Every entry a merge changed; admin entries go on to proxyd. */
static void on_change(void *arg, const struct replica_item *it)
{
	struct repl *r = arg;
	const Tandem__ServerAdmin *a;

	if (it->kind != REPLICA_ADMIN)
		return;
	char w[32] = "";

	a = it->u.admin;
	if (a->has_weight)
		snprintf(w, sizeof(w), ", weight %u", (unsigned)a->weight);
	log_info("replication: %s/%s is now %s%s (set by %s)", a->upstream, a->server,
	    adminarg_state_str(a->has_state ? (int)a->state : 0), w,
	    a->origin != NULL && a->origin[0] != '\0' ? a->origin : "?");
	chan_send_one(r, a);
}

/* proxyd's own observations (rate counts, bans, health): merged as this
 * node's, exported in the next delta. */
static void on_chan_sync(void *arg, const Tandem__StateSync *sync)
{
	struct repl *r = arg;

	r->stats.chan_rx++;
	replica_apply(r->store, sync, REPLICA_SRC_LOCAL, wall_ms(), on_change, r);
}

/* ---- to peers -------------------------------------------------------------- */

static void pump_later(struct repl *r)
{
	if (!ev_timer_active(&r->pump_timer))
		ev_timer_start(r->loop, &r->pump_timer, REPL_PUMP_MS);
}

/* Seal and send one packed PeerMessage to node (or every peer, node < 0).
 * In multicast mode everything goes to the group: the operator chose one
 * destination for hacd's datagrams, and every other peer merges a bulk
 * meant for one of them harmlessly (merges are idempotent). */
static void send_payload(struct repl *r, const uint8_t *p, size_t len, int node)
{
	if (r->cfg->mcast.enabled)
		node = -1;
	if (peer_send_payload(r->peers, p, len, node) == 0) {
		r->stats.tx++;
		r->stats.tx_bytes += len;
	} else {
		r->stats.tx_err++;
	}
}

static void send_sync_request(struct repl *r, size_t node)
{
	Tandem__PeerMessage m = TANDEM__PEER_MESSAGE__INIT;
	Tandem__SyncRequest q = TANDEM__SYNC_REQUEST__INIT;
	uint8_t buf[128];
	size_t len;

	q.node = (char *)node_name(r, r->cfg->self);
	m.body_case = TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST;
	m.sync_request = &q;
	len = tandem__peer_message__get_packed_size(&m);
	if (len > sizeof(buf))
		return;
	tandem__peer_message__pack(&m, buf);
	r->stats.req_tx++;
	if (peer_send_payload(r->peers, buf, len, r->cfg->mcast.enabled ? -1 : (int)node) == -1)
		r->stats.tx_err++;
}

static void begin_bulk(struct repl *r, size_t node)
{
	struct repl_peer *rp = &r->peer[node];

	if (rp->bulk.active)
		return;
	replica_bulk_begin(r->store, &rp->bulk);
	r->stats.bulk_started++;
	pump_later(r);
}

/* Bulk chunks: a few per peer, then back to the loop. */
static void pump_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;
	uint8_t buf[WIRE_MAX_PAYLOAD];
	int more = 0;

	(void)loop;
	for (size_t i = 0; i < r->cfg->nnodes; i++) {
		struct repl_peer *rp = &r->peer[i];

		for (int k = 0; k < REPL_BULK_BURST && rp->bulk.active; k++) {
			ssize_t n = replica_bulk_next(&rp->bulk, REPLICA_ENV_PEER, buf, sizeof(buf));

			if (n == -1) {
				r->stats.export_err++;
				break;        /* no memory: the cursor did not move; retry */
			}
			if (n == 0)
				break;
			send_payload(r, buf, (size_t)n, (int)i);
			r->stats.tx_bulk++;
		}
		more |= rp->bulk.active;
	}
	if (more)
		pump_later(r);
}

static void sync_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;
	uint8_t buf[WIRE_MAX_PAYLOAD];
	int k;

	for (k = 0; k < REPL_DELTA_BURST; k++) {
		ssize_t n = replica_export_delta(r->store, REPLICA_ENV_PEER, buf, sizeof(buf));

		if (n == -1) {
			r->stats.export_err++;
			break;
		}
		if (n == 0)
			break;
		/* A single-node cluster still drains, so dirty marks stay bounded. */
		if (r->cfg->nnodes > 1) {
			send_payload(r, buf, (size_t)n, -1);
			r->stats.tx_delta++;
		}
	}
	ev_timer_start(loop, t, replica_dirty_count(r->store) > 0 && k == REPL_DELTA_BURST ?
	    REPL_PUMP_MS : r->cfg->repl.sync_interval_ms);
}

static void expire_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;

	replica_expire(r->store, wall_ms());
	ev_timer_start(loop, t, REPL_EXPIRE_MS);
}

/* Anti-entropy: a bulk to every live peer, so whatever deltas were lost
 * (a full socket buffer, a partition shorter than the dead interval) heal. */
static void ae_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;

	(void)loop;
	r->stats.anti_entropy++;
	for (size_t i = 0; i < r->cfg->nnodes; i++)
		if (i != r->cfg->self && r->peers->peers[i].alive)
			begin_bulk(r, i);
	if (r->cfg->repl.anti_entropy_ms > 0)
		ev_timer_start(r->loop, t, r->cfg->repl.anti_entropy_ms);
}

/* An accepted StateSync or SyncRequest (hacd/peer.c's ladder passed). */
static void on_peer_sync(void *arg, size_t node, const Tandem__PeerMessage *msg, size_t len)
{
	struct repl *r = arg;
	struct repl_peer *rp = &r->peer[node];

	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST) {
		r->stats.req_rx++;
		if (rp->bulk.active) {
			/* The bulk under way began moments ago; what changed
			 * since travels in deltas. */
			r->stats.req_busy++;
			return;
		}
		log_info("replication: %s asked for a bulk sync", node_name(r, node));
		begin_bulk(r, node);
		return;
	}
	r->stats.rx++;
	r->stats.rx_bytes += len;
	rp->last_rx_ms = ev_now(r->loop);
	replica_apply(r->store, msg->sync, REPLICA_SRC_PEER, wall_ms(), on_change, r);
	if (msg->sync->has_bulk && msg->sync->bulk) {
		r->stats.rx_bulk++;
		if (msg->sync->has_bulk_chunk && msg->sync->bulk_chunk == 0)
			rp->bulk_rx_chunks = 0;
		rp->bulk_rx_chunks++;
		if (msg->sync->has_bulk_last && msg->sync->bulk_last) {
			r->stats.rx_bulk_done++;
			if (!rp->synced)
				log_info("replication: bulk sync from %s complete (%llu chunks)",
				    node_name(r, node), (unsigned long long)rp->bulk_rx_chunks);
			rp->synced = 1;
		}
	}
}

/* ---- life cycle and operator commands -------------------------------------- */

int repl_init(struct repl *r, struct ev_loop *loop, const struct hacd_config *cfg,
    struct peer_table *peers, struct channel *chan)
{
	struct replica_config rc;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->cfg = cfg;
	r->peers = peers;
	r->chan = chan;
	r->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000);
	replica_config_defaults(&rc);
	rc.self = cfg->nodes[cfg->self].name;
	rc.max_rates = (size_t)cfg->repl.max_rate_keys;
	rc.max_bans = (size_t)cfg->repl.max_bans;
	rc.max_health = (size_t)cfg->repl.max_health;
	rc.max_admin = (size_t)cfg->repl.max_admin;
	rc.max_tickets = (size_t)cfg->repl.max_tickets;
	rc.rate_retention_ms = cfg->repl.rate_retention_ms;
	rc.max_future_ms = cfg->repl.max_future_ms;
	rc.max_ban_ms = cfg->repl.max_ban_ms;
	rc.relay_remote = cfg->repl.relay;
	r->store = replica_new(&rc);
	if (r->store == NULL) {
		log_warnx("replication: cannot create the store");
		return -1;
	}
	ev_timer_init(&r->sync_timer, sync_cb, r);
	ev_timer_init(&r->pump_timer, pump_cb, r);
	ev_timer_init(&r->expire_timer, expire_cb, r);
	ev_timer_init(&r->ae_timer, ae_cb, r);
	peer_table_set_sync(peers, on_peer_sync, r);
	chan->connected = on_chan_connected;
	chan->sync = on_chan_sync;
	chan->sync_arg = r;
	ev_timer_start(loop, &r->sync_timer, cfg->repl.sync_interval_ms);
	ev_timer_start(loop, &r->expire_timer, REPL_EXPIRE_MS);
	if (cfg->repl.anti_entropy_ms > 0)
		ev_timer_start(loop, &r->ae_timer, cfg->repl.anti_entropy_ms);
	/* Just started: whatever the cluster holds, this node does not. */
	for (size_t i = 0; i < cfg->nnodes; i++) {
		if (i == cfg->self)
			continue;
		send_sync_request(r, i);
		if (cfg->mcast.enabled)
			break;          /* it went to the group: every peer has it */
	}
	if (cfg->repl.anti_entropy_ms > 0)
		log_info("replication: deltas every %llu ms, a full resync to every live peer every %llu ms",
		    (unsigned long long)cfg->repl.sync_interval_ms, (unsigned long long)cfg->repl.anti_entropy_ms);
	else
		log_info("replication: deltas every %llu ms, anti-entropy off",
		    (unsigned long long)cfg->repl.sync_interval_ms);
	return 0;
}

void repl_fini(struct repl *r)
{
	if (r->store == NULL)
		return;
	ev_timer_stop(r->loop, &r->sync_timer);
	ev_timer_stop(r->loop, &r->pump_timer);
	ev_timer_stop(r->loop, &r->expire_timer);
	ev_timer_stop(r->loop, &r->ae_timer);
	peer_table_set_sync(r->peers, NULL, NULL);
	r->chan->connected = NULL;
	r->chan->sync = NULL;
	for (size_t i = 0; i < HACD_MAX_NODES; i++)
		replica_bulk_abort(&r->peer[i].bulk);
	replica_free(r->store);
	r->store = NULL;
}

void repl_set_config(struct repl *r, const struct hacd_config *cfg)
{
	r->cfg = cfg;
	ev_timer_start(r->loop, &r->sync_timer, cfg->repl.sync_interval_ms);
	if (cfg->repl.anti_entropy_ms > 0)
		ev_timer_start(r->loop, &r->ae_timer, cfg->repl.anti_entropy_ms);
	else
		ev_timer_stop(r->loop, &r->ae_timer);
}

void repl_peer_alive(struct repl *r, size_t node)
{
	if (r->store == NULL || node >= r->cfg->nnodes || node == r->cfg->self)
		return;
	send_sync_request(r, node);
}

void repl_peer_dead(struct repl *r, size_t node)
{
	if (r->store == NULL || node >= HACD_MAX_NODES)
		return;
	replica_bulk_abort(&r->peer[node].bulk);
	r->peer[node].synced = 0;
}

struct admin_find {
	const char *upstream, *server;
	int found;
	Tandem__ServerAdmin a;
};

static void find_cb(void *arg, const struct replica_item *it)
{
	struct admin_find *f = arg;

	if (f->found || strcmp(it->u.admin->upstream, f->upstream) != 0 ||
	    strcmp(it->u.admin->server, f->server) != 0)
		return;
	f->a = *it->u.admin;
	f->found = 1;
}

int repl_admin_set(struct repl *r, const char *upstream, const char *server, int state,
    int64_t weight, char *msg, size_t len)
{
	struct admin_find f = { upstream, server, 0, TANDEM__SERVER_ADMIN__INIT };

	/* One entry holds state and weight together (last writer wins as a
	 * whole), so the half the operator did not name is carried over. */
	replica_foreach(r->store, REPLICA_ADMIN, find_cb, &f);
	if (state < 0)
		state = f.found && f.a.has_state ? (int)f.a.state : TANDEM__ADMIN_STATE__ADMIN_READY;
	if (weight < 0 && f.found && f.a.has_weight)
		weight = f.a.weight;
	if (replica_admin_set(r->store, upstream, server, (Tandem__AdminState)state, weight, wall_ms()) == -1) {
		snprintf(msg, len, "%.64s/%.64s: refused (bad name, or out of memory)", upstream, server);
		return -1;
	}
	f.found = 0;
	replica_foreach(r->store, REPLICA_ADMIN, find_cb, &f);
	if (f.found)
		chan_send_one(r, &f.a);
	if (weight >= 0)
		log_info("replication: operator set %s/%s to %s, weight %lld", upstream, server,
		    adminarg_state_str(state), (long long)weight);
	else
		log_info("replication: operator set %s/%s to %s", upstream, server, adminarg_state_str(state));
	if (weight >= 0)
		snprintf(msg, len, "%.64s/%.64s: %s, weight %lld (cluster-wide)", upstream, server,
		    adminarg_state_str(state), (long long)weight);
	else
		snprintf(msg, len, "%.64s/%.64s: %s (cluster-wide)", upstream, server, adminarg_state_str(state));
	return 0;
}

struct foreach_ctx {
	void (*cb)(void *arg, const Tandem__ServerAdmin *a);
	void *arg;
};

static void foreach_cb(void *arg, const struct replica_item *it)
{
	struct foreach_ctx *c = arg;

	c->cb(c->arg, it->u.admin);
}

void repl_admin_foreach(const struct repl *r, void (*cb)(void *arg, const Tandem__ServerAdmin *a),
    void *arg)
{
	struct foreach_ctx c = { cb, arg };

	if (r->store != NULL)
		replica_foreach(r->store, REPLICA_ADMIN, foreach_cb, &c);
}

struct prefix_ctx {
	void (*cb)(void *arg, const char *name, uint64_t value);
	void *arg;
};

static void prefixed(void *arg, const char *name, uint64_t value)
{
	struct prefix_ctx *p = arg;
	char full[64];

	snprintf(full, sizeof(full), "replica-%s", name);
	p->cb(p->arg, full, value);
}

void repl_counters(const struct repl *r, void (*cb)(void *arg, const char *name, uint64_t value),
    void *arg)
{
	const struct repl_stats *s = &r->stats;
	struct prefix_ctx p = { cb, arg };

	cb(arg, "sync-tx", s->tx);
	cb(arg, "sync-tx-bytes", s->tx_bytes);
	cb(arg, "sync-tx-error", s->tx_err);
	cb(arg, "sync-tx-delta", s->tx_delta);
	cb(arg, "sync-tx-bulk", s->tx_bulk);
	cb(arg, "sync-rx", s->rx);
	cb(arg, "sync-rx-bytes", s->rx_bytes);
	cb(arg, "sync-rx-bulk", s->rx_bulk);
	cb(arg, "sync-rx-bulk-complete", s->rx_bulk_done);
	cb(arg, "sync-request-tx", s->req_tx);
	cb(arg, "sync-request-rx", s->req_rx);
	cb(arg, "sync-request-busy", s->req_busy);
	cb(arg, "sync-bulk-started", s->bulk_started);
	cb(arg, "sync-anti-entropy", s->anti_entropy);
	cb(arg, "sync-export-error", s->export_err);
	cb(arg, "channel-admin-tx", s->chan_tx);
	cb(arg, "channel-admin-tx-error", s->chan_tx_err);
	cb(arg, "channel-sync-rx", s->chan_rx);
	if (r->store != NULL)
		replica_counters(r->store, prefixed, &p);
}
