/*
 * hacd/repl.c — replication between hacd nodes, on hacd's one loop.
 *
 * hacd/replica.c is the pure store (CRDT merges, delta and bulk export);
 * this file is what moves its bytes. Outgoing: every sync interval the
 * store's dirty entries are packed into PeerMessage{sync} payloads that fit
 * one datagram, sealed once by hacd/peer.c and sent to every peer (or once
 * to the multicast group). Incoming: hacd/peer.c hands over a StateSync or
 * SyncRequest only after its whole receive ladder (authentication, known
 * sender, source address, replay window, decoding, and the sender's proof
 * of freshness since either side restarted: hacd/fresh.c), so nothing
 * forged or replayed reaches the store. A node that starts, or sees a peer come
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
 * `hactl drain NODE` is an admin entry too (ADMINARG_NODE_UPSTREAM/NODE,
 * hacd/adminarg.h), set on any node: every change of one, here or merged,
 * goes to on_node_admin (hacd/node.c hands its own to hacd/bgp.c), not to
 * proxyd.
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

#include <sodium.h>

#include "hacd/adminarg.h"
#include "hacd/tickets.h"
#include "lib/ev.h"
#include "lib/wire.h"

#define REPL_DELTA_BURST   64     /* delta datagrams per sync tick; the rest 1 ms later */
#define REPL_BULK_BURST    8      /* bulk chunks per peer per pump run */
#define REPL_PUMP_MS       1
#define REPL_EXPIRE_MS     1000
#define REPL_BULK_RETRIES  3      /* incomplete bulk syncs asked again in a row */
#define REPL_TICKET_MS     1000   /* how often the ticket-key schedule is looked at */
#define REPL_TICKET_GRACE  3000   /* after start, wait for peers' keys before making one */

static const char *node_name(const struct repl *r, size_t node)
{
	return r->cfg->nodes[node].name;
}

static void pump_later(struct repl *r);
static size_t varint_put(uint8_t *p, uint64_t v);
static void apply_sync(struct repl *r, const Tandem__StateSync *sync, enum replica_source src);
static void purge_flush(struct repl *r);

/*
 * Append StateSync.sent_unix_ms to a packed envelope (PeerMessage{sync} or
 * ChannelMessage{sync}: one length-delimited field), so the receiver can
 * measure merge lag. The export left STAMP_ROOM bytes free. Returns the
 * new length, or n unchanged if the envelope is not the expected shape.
 */
#define STAMP_ROOM 16
static size_t stamp_envelope(uint8_t *buf, size_t n, size_t cap)
{
	uint8_t stamp[12], head[12];
	uint64_t body = 0;
	size_t i = 1, sl, hl;
	int shift = 0;

	if (n < 2 || (buf[0] & 7) != 2)
		return n;
	while (i < n && i < 11) {
		body |= (uint64_t)(buf[i] & 0x7f) << shift;
		shift += 7;
		if (!(buf[i++] & 0x80))
			break;
	}
	if (i + body != n)
		return n;
	stamp[0] = (9 << 3) | 0;
	sl = 1 + varint_put(stamp + 1, ev_wall_ms());
	head[0] = buf[0];
	hl = 1 + varint_put(head + 1, body + sl);
	if (hl + body + sl > cap)
		return n;
	memmove(buf + hl, buf + i, body);
	memcpy(buf, head, hl);
	memcpy(buf + hl + body, stamp, sl);
	return hl + body + sl;
}

/* ---- to the local proxyd ------------------------------------------------- */

/*
 * Entries for proxyd accumulate in r->fwd as a run of packed StateSync
 * messages of one entry each: protobuf concatenation merges messages
 * (repeated fields append), so the run is itself one StateSync and the
 * flush only puts the ChannelMessage field header in front. No copies of
 * the entries are kept, and the store may change freely in between.
 */
#define REPL_CHAN_CHUNK     (64u * 1024)   /* flush the forward buffer beyond this */
#define REPL_CHAN_BACKLOG   (1u << 20)     /* hold back while proxyd has this much unread */
#define REPL_CHAN_HOLD      (512u * 1024)  /* held back beyond this: proxyd is resynced with a bulk */
/* One frame is at most FRAME_MAX (1 MiB) and hacd/stream.c closes a
 * connection with more than 4 MiB queued: HOLD + BACKLOG + a bulk burst
 * stays below both. */
#define REPL_CHAN_BULK      (256u * 1024)  /* channel bulk chunk */

static size_t varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* Empties the forward buffer. It may hold ticket-key secrets: wiped, as
 * every buffer that held one is before its memory is reused or freed. */
static void fwd_clear(struct repl *r)
{
	if (r->fwd != NULL)
		sodium_memzero(r->fwd, r->fwd_len);
	r->fwd_len = 0;
}

/* Frame the forward buffer as ChannelMessage{sync = fwd + sent_unix_ms}
 * and send it; kept (and retried from the pump) while proxyd is behind. */
static void fwd_flush(struct repl *r)
{
	uint8_t stamp[16], head[16], *msg;
	size_t sl, hl;

	if (r->fwd_len == 0)
		return;
	if (r->chan->conn == NULL) {
		fwd_clear(r);        /* a proxyd that connects gets a bulk */
		return;
	}
	if (channel_pending(r->chan) > REPL_CHAN_BACKLOG) {
		if (!ev_timer_active(&r->pump_timer))
			ev_timer_start(r->loop, &r->pump_timer, REPL_PUMP_MS);
		return;
	}
	stamp[0] = (9 << 3) | 0;                 /* StateSync.sent_unix_ms, varint */
	sl = 1 + varint_put(stamp + 1, ev_wall_ms());
	head[0] = (4 << 3) | 2;                  /* ChannelMessage.sync, length-delimited */
	hl = 1 + varint_put(head + 1, r->fwd_len + sl);
	if ((msg = malloc(hl + r->fwd_len + sl)) == NULL) {
		r->stats.chan_tx_err++;
		return;
	}
	memcpy(msg, head, hl);
	memcpy(msg + hl, r->fwd, r->fwd_len);
	memcpy(msg + hl + r->fwd_len, stamp, sl);
	if (channel_send(r->chan, msg, hl + r->fwd_len + sl) == 0) {
		r->stats.chan_tx++;
		r->stats.chan_tx_bytes += hl + r->fwd_len + sl;
	} else {
		r->stats.chan_tx_err++;
	}
	sodium_memzero(msg, hl + r->fwd_len + sl);
	free(msg);
	fwd_clear(r);
}

/* Queue one entry for proxyd. */
static void fwd_add(struct repl *r, const struct replica_item *it)
{
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;
	void *one;
	size_t len;

	if (r->chan->conn == NULL)
		return;
	/* A node's drain (ADMINARG_NODE_UPSTREAM) is hacd's, not a server:
	 * proxyd has nothing to apply. (A bulk sync to proxyd still carries
	 * it; proxyd/channel.c skips it there.) */
	if (it->kind == REPLICA_ADMIN && adminarg_is_node(it->u.admin->upstream))
		return;
	one = (void *)it->u.rate;
	switch (it->kind) {
	case REPLICA_RATE:   s.n_counts = 1;  s.counts = (Tandem__RateCount **)&one; break;
	case REPLICA_BAN:    s.n_bans = 1;    s.bans = (Tandem__Ban **)&one; break;
	case REPLICA_HEALTH: s.n_health = 1;  s.health = (Tandem__HealthObs **)&one; break;
	case REPLICA_ADMIN:  s.n_admin = 1;   s.admin = (Tandem__ServerAdmin **)&one; break;
	case REPLICA_TICKET: s.n_tickets = 1; s.tickets = (Tandem__TicketKey **)&one; break;
	default: return;
	}
	len = tandem__state_sync__get_packed_size(&s);
	if (r->fwd_len + len > r->fwd_cap) {
		size_t cap = r->fwd_cap ? r->fwd_cap : 4096;
		uint8_t *p;

		while (cap < r->fwd_len + len)
			cap *= 2;
		/* Not realloc: the old block is wiped before it is freed. */
		if ((p = malloc(cap)) == NULL) {
			r->stats.chan_tx_err++;
			return;
		}
		if (r->fwd != NULL) {
			memcpy(p, r->fwd, r->fwd_len);
			sodium_memzero(r->fwd, r->fwd_cap);
			free(r->fwd);
		}
		r->fwd = p;
		r->fwd_cap = cap;
	}
	tandem__state_sync__pack(&s, r->fwd + r->fwd_len);
	r->fwd_len += len;
	r->stats.chan_fwd++;
	if (r->fwd_len >= REPL_CHAN_CHUNK)
		fwd_flush(r);
	if (r->fwd_len >= REPL_CHAN_HOLD) {
		/* proxyd reads too slowly to follow entry by entry: drop
		 * the backlog and send it the whole store once it has
		 * caught up (the pump checks). */
		fwd_clear(r);
		r->chan_resync = 1;
		r->stats.chan_overflow++;
		pump_later(r);
	}
}

/* How much of the cluster this node sees, for proxyd's partition policy. */
static void send_view(struct repl *r)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__ClusterView v = TANDEM__CLUSTER_VIEW__INIT;
	char *members[HACD_MAX_NODES];
	uint8_t buf[128 + HACD_MAX_NODES * (REPLICA_NAME_MAX + 2)];
	size_t len;
	uint32_t alive = 1;

	if (r->chan->conn == NULL)
		return;
	/* The origins proxyd's rate tables may hold: the nodes, nothing else. */
	for (size_t i = 0; i < r->cfg->nnodes; i++)
		members[i] = (char *)node_name(r, i);
	v.n_members = r->cfg->nnodes;
	v.members = members;
	uint32_t nodes = 0;

	/* A witness (hacd --witness) serves no traffic: a share of the
	 * cluster's rate is split among the nodes that do. */
	for (size_t i = 0; i < r->cfg->nnodes; i++) {
		if (r->cfg->nodes[i].witness)
			continue;
		nodes++;
		if (i != r->cfg->self && r->peers->peers[i].alive)
			alive++;
	}
	v.has_nodes = v.has_alive = v.has_sync_interval_ms = v.has_tickets = 1;
	v.nodes = nodes;
	v.alive = alive;
	v.sync_interval_ms = (uint32_t)r->cfg->repl.sync_interval_ms;
	v.tickets = r->cfg->repl.ticket_rotate_ms > 0;
	v.node = (char *)node_name(r, r->cfg->self);
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_VIEW;
	m.view = &v;
	len = tandem__channel_message__get_packed_size(&m);
	if (len > sizeof(buf))
		return;
	tandem__channel_message__pack(&m, buf);
	if (channel_send(r->chan, buf, len) == 0)
		r->stats.chan_tx++;
	else
		r->stats.chan_tx_err++;
}

/* proxyd (re)connected: it knows nothing yet, so it gets the whole store
 * (its own earlier counts included: a restarted proxyd relearns them), in
 * chunks from the pump, after the view. */
static void on_chan_connected(void *arg)
{
	struct repl *r = arg;

	fwd_clear(r);
	send_view(r);
	replica_bulk_abort(&r->chan_bulk);
	replica_bulk_begin(r->store, &r->chan_bulk);
	r->chan_resync = 0;
	r->stats.chan_bulk++;
	purge_flush(r);
	pump_later(r);
}

/* Every entry a merge changed goes on to proxyd, except what proxyd itself
 * sent (its own counts, bans and observations). */
static void on_change(void *arg, const struct replica_item *it)
{
	struct repl *r = arg;

	if (it->src == REPLICA_SRC_LOCAL && it->kind != REPLICA_ADMIN && it->kind != REPLICA_TICKET)
		return;
	if (it->kind == REPLICA_ADMIN) {
		const Tandem__ServerAdmin *a = it->u.admin;
		char w[32] = "";

		if (a->has_weight)
			snprintf(w, sizeof(w), ", weight %u", (unsigned)a->weight);
		log_info("replication: %s/%s is now %s%s (set by %s)", a->upstream, a->server,
		    adminarg_state_str(a->has_state ? (int)a->state : 0), w,
		    a->origin != NULL && a->origin[0] != '\0' ? a->origin : "?");
		if (adminarg_is_node(a->upstream) && r->on_node_admin != NULL)
			r->on_node_admin(r->node_admin_arg, a->server, a->has_state ? (int)a->state : 0, a->origin);
	} else if (it->kind == REPLICA_TICKET && it->src == REPLICA_SRC_PEER) {
		log_info("replication: TLS ticket key %08x from a peer", (unsigned)it->u.ticket->id);
	}
	fwd_add(r, it);
}

/* Merge lag: how old a StateSync is when it is merged (the sender's wall
 * clock; NTP-synchronised nodes, as the rate windows already assume). */
static void note_lag(struct repl *r, const Tandem__StateSync *sync)
{
	uint64_t now = ev_wall_ms(), lag;

	if (!sync->has_sent_unix_ms || sync->sent_unix_ms > now + 1000)
		return;
	lag = now > sync->sent_unix_ms ? now - sync->sent_unix_ms : 0;
	r->stats.lag_last_ms = lag;
	if (lag > r->stats.lag_max_ms)
		r->stats.lag_max_ms = lag;
	r->stats.lag_sum_ms += lag;
	r->stats.lag_n++;
}

/*
 * proxyd's own observations (rate counts, bans, health): merged as this
 * node's, exported in the next delta. That is all proxyd has to say: admin
 * state is the operator's (hactl, through hacd's control socket) and
 * ticket keys are hacd's (ticket_cb), so a sync from the channel naming
 * either is refused entry by entry, counted, and never replicated. The
 * channel admits only proxyd's user (hacd/channel.c), but a process that
 * got in must still not be able to drain every node's servers or plant a
 * ticket key the whole cluster would seal sessions under.
 */
static void on_chan_sync(void *arg, const Tandem__StateSync *sync)
{
	struct repl *r = arg;
	Tandem__StateSync s;

	r->stats.chan_rx++;
	if (sync->n_admin > 0 || sync->n_tickets > 0) {
		r->stats.chan_refused_admin += sync->n_admin;
		r->stats.chan_refused_ticket += sync->n_tickets;
		log_rl_warnx(&r->chan_rl, ev_now(r->loop),
		    "channel: %zu admin and %zu ticket-key entries from proxyd refused "
		    "(only hactl and hacd set those; %llu and %llu so far)", sync->n_admin, sync->n_tickets,
		    (unsigned long long)r->stats.chan_refused_admin, (unsigned long long)r->stats.chan_refused_ticket);
		s = *sync;
		s.n_admin = s.n_tickets = 0;
		s.admin = NULL;
		s.tickets = NULL;
		sync = &s;
	}
	apply_sync(r, sync, REPLICA_SRC_LOCAL);
	fwd_flush(r);
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

/* The channel's share of the pump: the held-back forward buffer, then bulk
 * chunks while proxyd keeps up. 1 when more is waiting. */
static int pump_channel(struct repl *r)
{
	static uint8_t cbuf[REPL_CHAN_BULK + STAMP_ROOM];

	if (r->chan->conn == NULL) {
		replica_bulk_abort(&r->chan_bulk);
		fwd_clear(r);
		return 0;
	}
	fwd_flush(r);
	if (r->chan_resync && r->fwd_len == 0 && channel_pending(r->chan) <= REPL_CHAN_BACKLOG) {
		replica_bulk_abort(&r->chan_bulk);
		replica_bulk_begin(r->store, &r->chan_bulk);
		r->chan_resync = 0;
		r->stats.chan_bulk++;
	}
	for (int k = 0; k < REPL_BULK_BURST && r->chan_bulk.active; k++) {
		ssize_t n;

		if (channel_pending(r->chan) > REPL_CHAN_BACKLOG)
			break;
		n = replica_bulk_next(&r->chan_bulk, REPLICA_ENV_CHANNEL, cbuf, REPL_CHAN_BULK);
		if (n == -1) {
			r->stats.export_err++;
			break;
		}
		if (n == 0)
			break;
		n = (ssize_t)stamp_envelope(cbuf, (size_t)n, sizeof(cbuf));
		if (channel_send(r->chan, cbuf, (size_t)n) == 0) {
			r->stats.chan_tx++;
			r->stats.chan_tx_bytes += (uint64_t)n;
		} else {
			r->stats.chan_tx_err++;
		}
		sodium_memzero(cbuf, (size_t)n);     /* a bulk carries the ticket keys */
	}
	return r->chan_bulk.active || r->fwd_len > 0 || r->chan_resync;
}

/* Bulk chunks: a few per peer and a few to proxyd, then back to the loop;
 * and the forward buffer, when proxyd was behind. */
static void pump_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;
	uint8_t buf[WIRE_MAX_PAYLOAD];
	int more = 0;

	(void)loop;
	for (size_t i = 0; i < r->cfg->nnodes; i++) {
		struct repl_peer *rp = &r->peer[i];

		for (int k = 0; k < REPL_BULK_BURST && rp->bulk.active; k++) {
			ssize_t n = replica_bulk_next(&rp->bulk, REPLICA_ENV_PEER, buf,
			    sizeof(buf) - STAMP_ROOM);

			if (n == -1) {
				r->stats.export_err++;
				break;        /* no memory: the cursor did not move; retry */
			}
			if (n == 0)
				break;
			n = (ssize_t)stamp_envelope(buf, (size_t)n, sizeof(buf));
			send_payload(r, buf, (size_t)n, (int)i);
			sodium_memzero(buf, (size_t)n);
			r->stats.tx_bulk++;
		}
		more |= rp->bulk.active;
	}
	more |= pump_channel(r);
	if (more)
		pump_later(r);
}

static void sync_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;
	uint8_t buf[WIRE_MAX_PAYLOAD];
	int k;

	for (k = 0; k < REPL_DELTA_BURST; k++) {
		ssize_t n = replica_export_delta(r->store, REPLICA_ENV_PEER, buf, sizeof(buf) - STAMP_ROOM);

		if (n == -1) {
			r->stats.export_err++;
			break;
		}
		if (n == 0)
			break;
		/* A single-node cluster still drains, so dirty marks stay bounded. */
		if (r->cfg->nnodes > 1) {
			n = (ssize_t)stamp_envelope(buf, (size_t)n, sizeof(buf));
			send_payload(r, buf, (size_t)n, -1);
			r->stats.tx_delta++;
		}
		sodium_memzero(buf, (size_t)n);      /* deltas carry new ticket keys */
	}
	ev_timer_start(loop, t, replica_dirty_count(r->store) > 0 && k == REPL_DELTA_BURST ?
	    REPL_PUMP_MS : r->cfg->repl.sync_interval_ms);
}

static void expire_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;

	replica_expire(r->store, ev_wall_ms());
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

/* ---- hactl ratelimit reset ------------------------------------------------- */

static void remember_reset(struct repl *r, const char *limit, const uint8_t *key, size_t klen, uint64_t at)
{
	struct repl_reset *x = &r->resets[r->reset_next++ % REPL_RESETS];

	snprintf(x->limit, sizeof(x->limit), "%s", limit);
	memcpy(x->key, key, klen);
	x->klen = klen;
	x->at = at;
}

/* Does a remembered reset of (limit, key) come after t? Resets older than
 * the rate retention are forgotten: nothing that old is kept anyway. */
static int reset_after(struct repl *r, const char *limit, const ProtobufCBinaryData *key, uint64_t t,
    uint64_t now)
{
	for (size_t i = 0; i < REPL_RESETS; i++) {
		struct repl_reset *x = &r->resets[i];

		if (x->at == 0)
			continue;
		if (x->at + r->cfg->repl.rate_retention_ms < now) {
			x->at = 0;
			continue;
		}
		if (t <= x->at && x->klen == key->len && memcmp(x->key, key->data, key->len) == 0 &&
		    strcmp(x->limit, limit) == 0)
			return 1;
	}
	return 0;
}

static int any_reset(const struct repl *r)
{
	for (size_t i = 0; i < REPL_RESETS; i++)
		if (r->resets[i].at != 0)
			return 1;
	return 0;
}

/*
 * replica_apply, minus what a recent reset forgot: counts of windows that
 * began by the reset and bans that began before it, still on their way
 * from a node (or its proxyd) that had not heard of the reset when it sent
 * them. A ban that does not say when it began is kept (an older sender).
 */
static void apply_sync(struct repl *r, const Tandem__StateSync *sync, enum replica_source src)
{
	Tandem__StateSync s;
	Tandem__RateCount **counts = NULL;
	Tandem__Ban **bans = NULL;
	uint64_t now = ev_wall_ms();
	size_t nc = 0, nb = 0;

	if (!any_reset(r)) {
		replica_apply(r->store, sync, src, now, on_change, r);
		return;
	}
	s = *sync;
	if (sync->n_counts > 0 && (counts = malloc(sync->n_counts * sizeof(*counts))) != NULL) {
		for (size_t i = 0; i < sync->n_counts; i++) {
			const Tandem__RateCount *c = sync->counts[i];

			if (c->limit != NULL && c->has_key && reset_after(r, c->limit, &c->key, c->window_start_unix_ms, now))
				r->stats.reset_dropped++;
			else
				counts[nc++] = sync->counts[i];
		}
		s.counts = counts;
		s.n_counts = nc;
	}
	if (sync->n_bans > 0 && (bans = malloc(sync->n_bans * sizeof(*bans))) != NULL) {
		for (size_t i = 0; i < sync->n_bans; i++) {
			const Tandem__Ban *b = sync->bans[i];

			if (b->limit != NULL && b->has_key && b->has_started_unix_ms &&
			    reset_after(r, b->limit, &b->key, b->started_unix_ms, now))
				r->stats.reset_dropped++;
			else
				bans[nb++] = sync->bans[i];
		}
		s.bans = bans;
		s.n_bans = nb;
	}
	replica_apply(r->store, &s, src, now, on_change, r);
	free(counts);
	free(bans);
}

/* Send reset to proxyd (as ChannelMessage{reset}) and, when peers is set,
 * to every peer (as PeerMessage{reset}, twice: it is a command, not state
 * that a later delta would repair). */
static void send_reset(struct repl *r, Tandem__RateReset *rr, int peers)
{
	Tandem__ChannelMessage cm = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__PeerMessage pm = TANDEM__PEER_MESSAGE__INIT;
	uint8_t buf[512];
	size_t len;

	cm.body_case = TANDEM__CHANNEL_MESSAGE__BODY_RESET;
	cm.reset = rr;
	if (r->chan->conn != NULL && (len = tandem__channel_message__get_packed_size(&cm)) <= sizeof(buf)) {
		tandem__channel_message__pack(&cm, buf);
		if (channel_send(r->chan, buf, len) == 0)
			r->stats.chan_tx++;
		else
			r->stats.chan_tx_err++;
	}
	if (!peers || r->cfg->nnodes < 2)
		return;
	pm.body_case = TANDEM__PEER_MESSAGE__BODY_RESET;
	pm.reset = rr;
	if ((len = tandem__peer_message__get_packed_size(&pm)) > sizeof(buf))
		return;
	tandem__peer_message__pack(&pm, buf);
	for (int k = 0; k < 2; k++) {
		send_payload(r, buf, len, -1);
		r->stats.reset_tx++;
	}
}

/* A peer's operator reset a key: the same here, and on to proxyd. */
static void apply_reset(struct repl *r, size_t node, const Tandem__RateReset *rr)
{
	size_t n, ll = rr->limit != NULL ? strlen(rr->limit) : 0;

	if (ll == 0 || ll > REPLICA_NAME_MAX || !rr->has_key || rr->key.len == 0 || rr->key.len > REPLICA_KEY_MAX ||
	    !rr->has_at_unix_ms || rr->at_unix_ms == 0 || rr->at_unix_ms > ev_wall_ms() + r->cfg->repl.max_future_ms) {
		r->stats.reset_bad++;
		log_rl_warnx(&r->rl, ev_now(r->loop), "replication: malformed reset from %s dropped (%llu so far)",
		    node_name(r, node), (unsigned long long)r->stats.reset_bad);
		return;
	}
	r->stats.reset_rx++;
	remember_reset(r, rr->limit, rr->key.data, rr->key.len, rr->at_unix_ms);
	n = replica_forget(r->store, rr->limit, rr->key.data, rr->key.len, rr->at_unix_ms);
	log_info("replication: rate-limit key reset on %s for limit %s (%zu entries forgotten here)",
	    node_name(r, node), rr->limit, n);
	send_reset(r, (Tandem__RateReset *)rr, 0);
}

int repl_rate_reset(struct repl *r, const char *limit, const uint8_t *key, size_t klen, char *msg, size_t len)
{
	Tandem__RateReset rr = TANDEM__RATE_RESET__INIT;
	uint64_t at = ev_wall_ms();
	size_t n;

	if (r->store == NULL || klen == 0 || klen > REPLICA_KEY_MAX) {
		snprintf(msg, len, "cannot reset: replication is not running or the key is invalid");
		return -1;
	}
	remember_reset(r, limit, key, klen, at);
	n = replica_forget(r->store, limit, key, klen, at);
	rr.limit = (char *)limit;
	rr.has_key = rr.has_at_unix_ms = 1;
	rr.key.data = (uint8_t *)key;
	rr.key.len = klen;
	rr.at_unix_ms = at;
	rr.origin = (char *)node_name(r, r->cfg->self);
	send_reset(r, &rr, 1);
	log_info("replication: operator reset a key of limit %s (%zu entries forgotten here)", limit, n);
	snprintf(msg, len, "%.64s: key reset on every node (%zu entries forgotten here; for the rest of the "
	    "current window each node counts only its own requests)", limit, n);
	return 0;
}

/* ---- hactl cache purge ------------------------------------------------------ */

static void purge_msg(Tandem__CachePurge *cp, const struct purge_entry *e)
{
	tandem__cache_purge__init(cp);
	cp->origin = (char *)e->origin;
	cp->has_epoch = cp->has_seq = cp->has_at_unix_ms = cp->has_prefix = 1;
	cp->epoch = e->epoch;
	cp->seq = e->seq;
	cp->at_unix_ms = e->at;
	cp->prefix = e->kind == PURGE_KIND_PREFIX;
	if (e->kind == PURGE_KIND_TAG)
		cp->tag = (char *)e->url;
	else
		cp->url = (char *)e->url;
}

/* 0 when the purge went to proxyd; -1 when it is not connected (or the
 * send failed: the channel then closes and reconnects). */
static int purge_to_proxyd(struct repl *r, Tandem__CachePurge *cp)
{
	Tandem__ChannelMessage cm = TANDEM__CHANNEL_MESSAGE__INIT;
	uint8_t buf[PURGE_URL_MAX + 256];
	size_t len;

	cm.body_case = TANDEM__CHANNEL_MESSAGE__BODY_PURGE;
	cm.purge = cp;
	if (r->chan->conn == NULL || (len = tandem__channel_message__get_packed_size(&cm)) > sizeof(buf))
		return -1;
	tandem__channel_message__pack(&cm, buf);
	if (channel_send(r->chan, buf, len) == 0) {
		r->stats.chan_tx++;
		return 0;
	}
	r->stats.chan_tx_err++;
	return -1;
}

static int purge_all_to_proxyd(struct repl *r, const char *origin)
{
	Tandem__CachePurge all = TANDEM__CACHE_PURGE__INIT;

	all.origin = (char *)origin;
	all.has_all = all.all = 1;
	return purge_to_proxyd(r, &all);
}

/* proxyd (re)connected: what it missed while it was not (a restarted hacd
 * catching up from its peers' logs before proxyd found its socket). */
static void purge_flush(struct repl *r)
{
	Tandem__CachePurge cp = TANDEM__CACHE_PURGE__INIT;

	if (r->purge_all_unsent && purge_all_to_proxyd(r, r->purge_all_origin) == 0)
		r->purge_all_unsent = 0;
	for (size_t i = 0; i < r->purges.n; i++) {
		struct purge_entry *e = purgelog_at_mut(&r->purges, i);

		if (!e->unsent)
			continue;
		purge_msg(&cp, e);
		if (purge_to_proxyd(r, &cp) == -1)
			return;
		e->unsent = 0;
	}
}

/* To one peer (node) or every peer (-1), copies times. */
static void purge_to_peers(struct repl *r, const struct purge_entry *e, int node, int copies)
{
	Tandem__PeerMessage pm = TANDEM__PEER_MESSAGE__INIT;
	Tandem__CachePurge cp = TANDEM__CACHE_PURGE__INIT;
	uint8_t buf[PURGE_URL_MAX + 256];
	size_t len;

	if (r->cfg->nnodes < 2)
		return;
	purge_msg(&cp, e);
	pm.body_case = TANDEM__PEER_MESSAGE__BODY_PURGE;
	pm.purge = &cp;
	if ((len = tandem__peer_message__get_packed_size(&pm)) > sizeof(buf))
		return;
	tandem__peer_message__pack(&pm, buf);
	for (int k = 0; k < copies; k++) {
		send_payload(r, buf, len, node);
		if (node == -1)
			r->stats.purge_tx++;
		else
			r->stats.purge_log_tx++;
	}
}

/* A peer's purge (live, or from its log): new ones go on to proxyd; a gap
 * means purges no log holds any more were missed here, so everything. */
static void apply_purge(struct repl *r, size_t node, const Tandem__CachePurge *cp)
{
	int o = purgelog_node(r->cfg, cp->origin);
	const char *what = cp->tag != NULL ? cp->tag : cp->url;
	enum purge_verdict v;

	if (o >= 0 && (size_t)o == r->cfg->self)
		/* This node's own purge coming back in a peer's log: applied
		 * when it was made (an earlier epoch: before a restart). One
		 * this node has not made yet is not its own. */
		v = cp->has_epoch && cp->has_seq && (cp->epoch < r->purges.my_epoch ||
		    (cp->epoch == r->purges.my_epoch && cp->seq <= r->purges.my_seq)) ? PURGE_DUP : PURGE_BAD;
	else
		v = o < 0 || !cp->has_epoch || !cp->has_seq || (cp->url != NULL) == (cp->tag != NULL) ||
	    cp->epoch > ev_wall_ms() + r->cfg->repl.max_future_ms ? PURGE_BAD :
	    purgelog_take(&r->purges, (size_t)o, cp->origin, cp->epoch, cp->seq, what,
	    cp->tag != NULL ? PURGE_KIND_TAG : cp->has_prefix && cp->prefix ? PURGE_KIND_PREFIX : PURGE_KIND_URL,
	    cp->has_at_unix_ms ? cp->at_unix_ms : 0);
	if (v == PURGE_BAD) {
		r->stats.purge_bad++;
		log_rl_warnx(&r->rl, ev_now(r->loop), "replication: malformed cache purge from %s dropped (%llu so far)",
		    node_name(r, node), (unsigned long long)r->stats.purge_bad);
		return;
	}
	if (v == PURGE_DUP) {
		r->stats.purge_dup++;
		return;
	}
	r->stats.purge_rx++;
	if (v == PURGE_NEW_GAP) {
		r->stats.purge_gap++;
		log_warnx("replication: cache purges from %s were missed beyond every purge log (%u kept): "
		    "purging the whole cache", cp->origin, (unsigned)PURGELOG_MAX);
		if (purge_all_to_proxyd(r, cp->origin) == -1) {
			r->purge_all_unsent = 1;
			snprintf(r->purge_all_origin, sizeof(r->purge_all_origin), "%s", cp->origin);
		}
	}
	log_info("replication: cache purge %s%s from %s (via %s)", cp->tag != NULL ? "--tag " :
	    cp->has_prefix && cp->prefix ? "--prefix " : "", what, cp->origin, node_name(r, node));
	if (purge_to_proxyd(r, (Tandem__CachePurge *)cp) == -1)
		purgelog_at_mut(&r->purges, r->purges.n - 1)->unsent = 1;
}

/* A peer asked for a bulk sync (it joined, restarted or came back): the
 * purges it may have missed, oldest first, once each. */
static void send_purge_log(struct repl *r, size_t node)
{
	for (size_t i = 0; i < r->purges.n; i++)
		purge_to_peers(r, purgelog_at(&r->purges, i), (int)node, 1);
}

int repl_cache_purge(struct repl *r, const char *url, int kind, char *msg, size_t len)
{
	const struct purge_entry *e;
	Tandem__CachePurge cp = TANDEM__CACHE_PURGE__INIT;

	static const char *const opt[] = { "", "--prefix ", "--tag " };

	if (kind < PURGE_KIND_URL || kind > PURGE_KIND_TAG) {
		snprintf(msg, len, "cannot purge: unknown kind");
		return -1;
	}
	if (kind != PURGE_KIND_TAG && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
		snprintf(msg, len, "cannot purge: not an http:// or https:// URL: %.200s", url);
		return -1;
	}
	e = purgelog_add_own(&r->purges, r->cfg->self, node_name(r, r->cfg->self), url, kind, ev_wall_ms());
	if (e == NULL) {
		snprintf(msg, len, "cannot purge: empty, or longer than %d bytes", PURGE_URL_MAX);
		return -1;
	}
	purge_msg(&cp, e);
	if (purge_to_proxyd(r, &cp) == -1)
		purgelog_at_mut(&r->purges, r->purges.n - 1)->unsent = 1;
	purge_to_peers(r, e, -1, 2);
	log_info("replication: operator purged %s%s from every node's cache (purge %llu)", opt[kind],
	    url, (unsigned long long)e->seq);
	snprintf(msg, len, "purge %llu sent to this node's proxyd and %zu peer%s: %s%.200s",
	    (unsigned long long)e->seq, r->cfg->nnodes - 1, r->cfg->nnodes == 2 ? "" : "s",
	    opt[kind], url);
	return 0;
}

/* ---- the cache's cluster view (hacd/cacheview.h) ------------------------------ */

/* To every peer (cache summaries and digests are not replicated state:
 * not counted as sync datagrams). */
static void cache_to_peers(struct repl *r, const uint8_t *p, size_t len)
{
	if (r->cfg->nnodes < 2)
		return;
	if (peer_send_payload(r->peers, p, len, -1) == -1)
		r->stats.tx_err++;
}

/* proxyd's summary (every second) and digest of hot keys: kept, and sent
 * to every peer. */
static void on_chan_cache(void *arg, const Tandem__ChannelMessage *m)
{
	struct repl *r = arg;
	struct cacheview *cv = &r->cv;
	uint8_t buf[CV_SUMMARY_MAX + 64];

	if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_CACHE_SUMMARY && m->cache_summary != NULL) {
		Tandem__PeerMessage pm = TANDEM__PEER_MESSAGE__INIT;
		Tandem__CacheSummary *sum;
		size_t len;

		if (cv_keep_summary(cv, r->cfg->self, node_name(r, r->cfg->self), m->cache_summary, ev_now(r->loop)) == -1) {
			cv->chan_bad++;
			return;
		}
		/* What was kept, named: sent as it is. */
		sum = tandem__cache_summary__unpack(NULL, cv->node[r->cfg->self].len, cv->node[r->cfg->self].sum);
		if (sum == NULL)
			return;
		pm.body_case = TANDEM__PEER_MESSAGE__BODY_CACHE_SUMMARY;
		pm.cache_summary = sum;
		if ((len = tandem__peer_message__get_packed_size(&pm)) <= sizeof(buf)) {
			tandem__peer_message__pack(&pm, buf);
			cache_to_peers(r, buf, len);
			cv->sum_tx++;
		}
		tandem__cache_summary__free_unpacked(sum, NULL);
		return;
	}
	if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_CACHE_DIGEST && m->cache_digest != NULL) {
		size_t from = 0, len, before;

		if (!cv_digest_ok(m->cache_digest)) {
			cv->chan_bad++;
			return;
		}
		for (;;) {
			before = from;
			if ((len = cv_digest_chunk(m->cache_digest, node_name(r, r->cfg->self), &from, buf, sizeof(buf))) == 0)
				break;
			cache_to_peers(r, buf, len);
			cv->dig_tx++;
			cv->dig_keys_tx += from - before;
		}
	}
}

/* A peer's summary is kept; a peer's digest goes to this node's proxyd.
 * Authentic and fresh already (hacd/peer.c's ladder); here, the shape:
 * a digest must be its sender's own (origin) and every key within bounds,
 * or the whole datagram is dropped and counted. */
static void apply_cache(struct repl *r, size_t node, const Tandem__PeerMessage *msg)
{
	struct cacheview *cv = &r->cv;

	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_SUMMARY) {
		if (cv_keep_summary(cv, node, node_name(r, node), msg->cache_summary, ev_now(r->loop)) == -1) {
			cv->sum_bad++;
			log_rl_warnx(&r->rl, ev_now(r->loop), "replication: malformed cache summary from %s dropped (%llu so far)",
			    node_name(r, node), (unsigned long long)cv->sum_bad);
			return;
		}
		cv->sum_rx++;
		return;
	}
	{
		const Tandem__CacheDigest *d = msg->cache_digest;
		Tandem__ChannelMessage cm = TANDEM__CHANNEL_MESSAGE__INIT;
		uint8_t buf[CV_CHUNK_BYTES + 64];
		size_t len;

		if (d->origin == NULL || strcmp(d->origin, node_name(r, node)) != 0 || !cv_digest_ok(d)) {
			cv->dig_bad++;
			log_rl_warnx(&r->rl, ev_now(r->loop), "replication: malformed cache digest from %s dropped (%llu so far)",
			    node_name(r, node), (unsigned long long)cv->dig_bad);
			return;
		}
		cv->dig_rx++;
		cv->dig_keys_rx += d->n_keys;
		cm.body_case = TANDEM__CHANNEL_MESSAGE__BODY_CACHE_DIGEST;
		cm.cache_digest = (Tandem__CacheDigest *)d;
		if (r->chan->conn == NULL || (len = tandem__channel_message__get_packed_size(&cm)) > sizeof(buf)) {
			cv->dig_unsent++;
			return;
		}
		tandem__channel_message__pack(&cm, buf);
		if (channel_send(r->chan, buf, len) == 0)
			cv->dig_fwd++;
		else
			cv->dig_unsent++;
	}
}

/* An accepted StateSync or SyncRequest (hacd/peer.c's ladder passed). */
static void on_peer_sync(void *arg, size_t node, const Tandem__PeerMessage *msg, size_t len)
{
	struct repl *r = arg;
	struct repl_peer *rp = &r->peer[node];

	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_RESET) {
		apply_reset(r, node, msg->reset);
		return;
	}
	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_PURGE) {
		apply_purge(r, node, msg->purge);
		return;
	}
	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_SUMMARY ||
	    msg->body_case == TANDEM__PEER_MESSAGE__BODY_CACHE_DIGEST) {
		apply_cache(r, node, msg);
		return;
	}
	if (msg->body_case == TANDEM__PEER_MESSAGE__BODY_SYNC_REQUEST) {
		r->stats.req_rx++;
		send_purge_log(r, node);
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
	note_lag(r, msg->sync);
	apply_sync(r, msg->sync, REPLICA_SRC_PEER);
	fwd_flush(r);
	if (msg->sync->has_bulk && msg->sync->bulk) {
		r->stats.rx_bulk++;
		if (msg->sync->has_bulk_chunk && msg->sync->bulk_chunk == 0)
			rp->bulk_rx_chunks = 0;
		rp->bulk_rx_chunks++;
		if (msg->sync->has_bulk_last && msg->sync->bulk_last) {
			uint64_t sent = msg->sync->has_bulk_chunk ? (uint64_t)msg->sync->bulk_chunk + 1 : 0;

			/* Chunks are numbered from 0: fewer received than the
			 * last one's number says means datagrams were lost (a
			 * full socket buffer). Ask again, a few times; past that,
			 * anti-entropy repairs. In multicast mode every bulk to
			 * any peer reaches everyone, interleaved, so the count
			 * proves nothing there. */
			if (!r->cfg->mcast.enabled && sent != 0 && rp->bulk_rx_chunks != sent) {
				r->stats.rx_bulk_incomplete++;
				log_rl_warnx(&r->rl, ev_now(r->loop), "replication: bulk sync from %s incomplete: %llu of %llu chunks%s",
				    node_name(r, node), (unsigned long long)rp->bulk_rx_chunks, (unsigned long long)sent,
				    rp->bulk_retries < REPL_BULK_RETRIES ? "; asking again" : "; anti-entropy will repair");
				if (rp->bulk_retries < REPL_BULK_RETRIES) {
					rp->bulk_retries++;
					send_sync_request(r, node);
				}
				return;
			}
			r->stats.rx_bulk_done++;
			rp->bulk_retries = 0;
			if (!rp->synced)
				log_info("replication: bulk sync from %s complete (%llu chunks)",
				    node_name(r, node), (unsigned long long)rp->bulk_rx_chunks);
			rp->synced = 1;
		}
	}
}

/* ---- TLS session-ticket keys ------------------------------------------------ */

struct newest_ticket {
	uint64_t created;
	int any;
};

static void newest_cb(void *arg, const struct replica_item *it)
{
	struct newest_ticket *nt = arg;

	if (!nt->any || it->u.ticket->created_unix_ms > nt->created)
		nt->created = it->u.ticket->created_unix_ms;
	nt->any = 1;
}

/*
 * The cluster's ticket keys: one node, the first alive in the
 * configuration's order, makes the next key a lead time before it is due
 * and puts it in the store, whence it reaches every node in sealed
 * datagrams and every proxyd over the channel; hacd/tickets.c has the
 * schedule. Keys live only in memory: a restarted node learns them back in
 * its peers' bulk sync, which is why a fresh hacd waits REPL_TICKET_GRACE
 * (or until every live peer's bulk arrived) before deciding none exist.
 * During a partition both sides may make a key; both are kept (the newest
 * seals), so that only costs a spare key.
 */
static void ticket_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct repl *r = t->data;
	const struct hacd_config *cfg = r->cfg;
	struct newest_ticket nt = { 0, 0 };
	struct tickets_plan plan;
	int first = 1, synced = 1;

	ev_timer_start(loop, t, REPL_TICKET_MS);
	if (cfg->repl.ticket_rotate_ms == 0)
		return;
	for (size_t i = 0; i < cfg->nnodes; i++) {
		if (i == cfg->self || !r->peers->peers[i].alive)
			continue;
		if (i < cfg->self)
			first = 0;
		if (!r->peer[i].synced)
			synced = 0;
	}
	if (!first || (!synced && ev_now(loop) - r->started_ms < REPL_TICKET_GRACE))
		return;
	replica_foreach(r->store, REPLICA_TICKET, newest_cb, &nt);
	if (tickets_plan_next(nt.any, nt.created, ev_wall_ms(), cfg->repl.ticket_rotate_ms, &plan) == 0)
		return;
	if (tickets_make(r->store, &plan, ev_wall_ms(), on_change, r) == -1) {
		r->stats.export_err++;
		log_rl_warnx(&r->rl, ev_now(loop), "replication: cannot make a TLS ticket key (randomness or memory)");
		return;
	}
	r->stats.tickets_made++;
	log_info("replication: new TLS ticket key, sealing from %s (every %llu s)",
	    plan.created_unix_ms <= ev_wall_ms() ? "now" : "the next rotation",
	    (unsigned long long)(cfg->repl.ticket_rotate_ms / 1000));
	fwd_flush(r);
}

/* ---- life cycle and operator commands -------------------------------------- */

int repl_init(struct repl *r, struct ev_loop *loop, const struct hacd_config *cfg,
    struct peer_table *peers, struct channel *chan)
{
	struct replica_config rc;
	const char *names[HACD_MAX_NODES];

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->cfg = cfg;
	r->peers = peers;
	r->chan = chan;
	r->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000);
	r->chan_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(10000);
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
	for (size_t i = 0; i < cfg->nnodes; i++)
		names[i] = cfg->nodes[i].name;
	rc.nodes = names;
	rc.nnodes = cfg->nnodes;
	r->store = replica_new(&rc);
	if (r->store == NULL) {
		log_warnx("replication: cannot create the store");
		return -1;
	}
	ev_timer_init(&r->sync_timer, sync_cb, r);
	ev_timer_init(&r->pump_timer, pump_cb, r);
	ev_timer_init(&r->expire_timer, expire_cb, r);
	ev_timer_init(&r->ae_timer, ae_cb, r);
	ev_timer_init(&r->ticket_timer, ticket_cb, r);
	r->started_ms = ev_now(loop);
	purgelog_init(&r->purges, ev_wall_ms());
	peer_table_set_sync(peers, on_peer_sync, r);
	chan->connected = on_chan_connected;
	chan->sync = on_chan_sync;
	chan->cache = on_chan_cache;
	chan->sync_arg = r;
	memset(&r->cv, 0, sizeof(r->cv));
	ev_timer_start(loop, &r->sync_timer, cfg->repl.sync_interval_ms);
	ev_timer_start(loop, &r->expire_timer, REPL_EXPIRE_MS);
	ev_timer_start(loop, &r->ticket_timer, REPL_TICKET_MS);
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
	ev_timer_stop(r->loop, &r->ticket_timer);
	peer_table_set_sync(r->peers, NULL, NULL);
	r->chan->connected = NULL;
	r->chan->sync = NULL;
	r->chan->cache = NULL;
	for (size_t i = 0; i < HACD_MAX_NODES; i++)
		replica_bulk_abort(&r->peer[i].bulk);
	replica_bulk_abort(&r->chan_bulk);
	if (r->fwd != NULL)
		sodium_memzero(r->fwd, r->fwd_cap);
	free(r->fwd);
	r->fwd = NULL;
	r->fwd_len = r->fwd_cap = 0;
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
	send_view(r);
}

void repl_peer_alive(struct repl *r, size_t node)
{
	if (r->store == NULL || node >= r->cfg->nnodes || node == r->cfg->self)
		return;
	send_sync_request(r, node);
	send_view(r);
}

void repl_peer_dead(struct repl *r, size_t node)
{
	if (r->store == NULL || node >= HACD_MAX_NODES)
		return;
	replica_bulk_abort(&r->peer[node].bulk);
	r->peer[node].synced = 0;
	r->peer[node].bulk_retries = 0;
	send_view(r);
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
	if (replica_admin_set(r->store, upstream, server, (Tandem__AdminState)state, weight, ev_wall_ms()) == -1) {
		snprintf(msg, len, "%.64s/%.64s: refused (bad name, or out of memory)", upstream, server);
		return -1;
	}
	f.found = 0;
	replica_foreach(r->store, REPLICA_ADMIN, find_cb, &f);
	if (f.found && adminarg_is_node(upstream) && r->on_node_admin != NULL)
		r->on_node_admin(r->node_admin_arg, server, f.a.has_state ? (int)f.a.state : 0, f.a.origin);
	if (f.found) {
		struct replica_item it = { .kind = REPLICA_ADMIN, .src = REPLICA_SRC_LOCAL };

		it.u.admin = &f.a;
		fwd_add(r, &it);
		fwd_flush(r);
	}
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

int repl_admin_settled(const struct repl *r)
{
	if (r->cfg == NULL || r->cfg->nnodes <= 1 || ev_now(r->loop) - r->started_ms >= REPL_TICKET_GRACE)
		return 1;
	for (size_t i = 0; i < r->cfg->nnodes; i++)
		if (i != r->cfg->self && r->peer[i].synced)
			return 1;
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

const struct replica *repl_store(const struct repl *r)
{
	return r->store;
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
	cb(arg, "sync-rx-bulk-incomplete", s->rx_bulk_incomplete);
	cb(arg, "sync-request-tx", s->req_tx);
	cb(arg, "sync-request-rx", s->req_rx);
	cb(arg, "sync-request-busy", s->req_busy);
	cb(arg, "sync-bulk-started", s->bulk_started);
	cb(arg, "sync-anti-entropy", s->anti_entropy);
	cb(arg, "sync-export-error", s->export_err);
	cb(arg, "sync-lag-last-ms", s->lag_last_ms);
	cb(arg, "sync-lag-max-ms", s->lag_max_ms);
	cb(arg, "sync-lag-avg-ms", s->lag_n ? s->lag_sum_ms / s->lag_n : 0);
	cb(arg, "channel-tx", s->chan_tx);
	cb(arg, "channel-tx-bytes", s->chan_tx_bytes);
	cb(arg, "channel-tx-error", s->chan_tx_err);
	cb(arg, "channel-forwarded", s->chan_fwd);
	cb(arg, "channel-overflow", s->chan_overflow);
	cb(arg, "channel-bulk", s->chan_bulk);
	cb(arg, "channel-sync-rx", s->chan_rx);
	cb(arg, "channel-refused-admin", s->chan_refused_admin);
	cb(arg, "channel-refused-ticket", s->chan_refused_ticket);
	cb(arg, "tickets-made", s->tickets_made);
	cb(arg, "reset-tx", s->reset_tx);
	cb(arg, "reset-rx", s->reset_rx);
	cb(arg, "reset-bad", s->reset_bad);
	cb(arg, "reset-dropped", s->reset_dropped);
	cb(arg, "purge-tx", s->purge_tx);
	cb(arg, "purge-rx", s->purge_rx);
	cb(arg, "purge-dup", s->purge_dup);
	cb(arg, "purge-bad", s->purge_bad);
	cb(arg, "purge-gap", s->purge_gap);
	cb(arg, "purge-log-tx", s->purge_log_tx);
	cb(arg, "cache-summary-tx", r->cv.sum_tx);
	cb(arg, "cache-summary-rx", r->cv.sum_rx);
	cb(arg, "cache-summary-bad", r->cv.sum_bad);
	cb(arg, "cache-digest-tx", r->cv.dig_tx);
	cb(arg, "cache-digest-rx", r->cv.dig_rx);
	cb(arg, "cache-digest-bad", r->cv.dig_bad);
	cb(arg, "cache-digest-keys-tx", r->cv.dig_keys_tx);
	cb(arg, "cache-digest-keys-rx", r->cv.dig_keys_rx);
	cb(arg, "cache-digest-forwarded", r->cv.dig_fwd);
	cb(arg, "cache-digest-unsent", r->cv.dig_unsent);
	cb(arg, "cache-channel-bad", r->cv.chan_bad);
	if (r->store != NULL)
		replica_counters(r->store, prefixed, &p);
}
