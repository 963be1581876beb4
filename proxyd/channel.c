/*
 * proxyd/channel.c — proxyd's end of the local channel to hacd.
 *
 * hacd listens on a unix stream socket (DIR/hacd.chan unless the config names
 * one); proxyd connects from the control thread, says hello {node, pid,
 * generation}, then reports status {ready, draining, active_connections} on
 * every change and every second, which is what hacd uses to lower this node's
 * priority when proxyd is not ready. hacd may send drain {on}: drain mode
 * answers with Connection: close, closes idle keep-alive connections and makes
 * /readyz say 503; drain {off} ends it. hacd also sends sync {admin}: the
 * cluster-wide server admin state (hactl drain|enable|maint|weight on any
 * node), applied like the admin socket's "set server", and the rest of the
 * replicated state (rate counts, bans, health, ticket keys, the cluster
 * view), whose meaning is proxyd/cluster.c's; every sync interval this
 * node's own changes go up the same way. Every second the cache's summary
 * and its digest of hot keys go up too (proxyd/cache_digest.c), and peers'
 * digests come down for proxyd/prefetch.c. Frames are lib/frame
 * (4-byte length + ChannelMessage). Either side restarting is normal: when the socket is absent
 * or drops, proxyd retries every 500 ms and keeps serving meanwhile.
 * Untrusted input: a frame that does not unpack is counted and dropped.
 */
#include "proxyd/channel.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/frame.h"
#include "lib/log.h"
#include "lib/net.h"
#include "proto/tandem.pb-c.h"
#include "proxyd/admin.h"
#include "proxyd/balance.h"
#include "proxyd/cache_digest.h"
#include "proxyd/cluster.h"
#include "proxyd/config.h"
#include "proxyd/hcheck.h"
#include "proxyd/prefetch.h"
#include "proxyd/procstate.h"
#include "proxyd/status.h"

#define CHAN_RETRY_MS  500
#define CHAN_STATUS_MS 1000
/* While draining for a handover, how often the connection count is looked
 * at, and for how long it must stay at zero before proxyd reports "quiet":
 * hacd hands the VIP over at that moment, so that no request is in flight
 * when the address moves. A single zero between two connections of a busy
 * client is not a pause; a few milliseconds without any is. */
#define CHAN_QUIET_POLL_MS 1
#define CHAN_QUIET_MS      5

static struct {
	struct ev_loop *loop;
	char *path;
	char *node;
	uint64_t generation;
	struct frame_conn fc;
	struct ev_io io;
	struct ev_timer retry;
	struct ev_timer status;
	struct ev_timer quiet_timer;
	struct ev_timer sync_timer;  /* this node's replicated changes, every sync interval */
	uint64_t quiet_since;       /* ev_now when active connections fell to 0, 0 if not */
	int quiet;                  /* reported quiet during this drain */
	int connected;
	int warned;
	uint64_t bad_frames;
	uint64_t sync_applied;      /* admin entries applied */
	uint64_t sync_unknown;      /* admin entries naming a server this proxyd does not have */
	uint64_t sync_bad;          /* admin entries with a missing name, bad state or weight */
	uint64_t sync_hacd;         /* hacd's own entries ("@node/NODE"): not a server's */
	struct log_ratelimit rl;
} ch = { .fc = { .fd = -1 }, .rl = LOG_RATELIMIT_INIT(10000) };

static void chan_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents);

static void
chan_disconnect(const char *why)
{
	if (!ch.connected)
		return;
	log_info("hacd channel %s: disconnected: %s", ch.path, why);
	cluster_disconnected();
	ev_timer_stop(ch.loop, &ch.sync_timer);
	ev_io_stop(ch.loop, &ch.io);
	frame_conn_fini(&ch.fc);
	ch.fc.fd = -1;
	ch.connected = 0;
	ev_timer_start(ch.loop, &ch.retry, CHAN_RETRY_MS);
}

static void
chan_flush(void)
{
	int rc = frame_flush(&ch.fc);

	if (rc == -1) {
		chan_disconnect("write failed");
		return;
	}
	ev_io_start(ch.loop, &ch.io, EV_READ | (rc == 0 ? EV_WRITE : 0));
}

static void
chan_send(const Tandem__ChannelMessage *m)
{
	size_t len = tandem__channel_message__get_packed_size(m);
	uint8_t stackbuf[512], *p = len <= sizeof(stackbuf) ? stackbuf : malloc(len);

	if (p == NULL)
		return;
	tandem__channel_message__pack(m, p);
	if (frame_queue(&ch.fc, p, len) == -1)
		log_warn("hacd channel: queue");
	if (p != stackbuf)
		free(p);
	chan_flush();
}

/* chan_send while connected (a send that fails disconnects: the next
 * message of a batch must not be queued on the closed connection). */
static void
chan_send_connected(const Tandem__ChannelMessage *m)
{
	if (ch.connected)
		chan_send(m);
}

static void
send_status(void)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__ProxydStatus st = TANDEM__PROXYD_STATUS__INIT;

	if (!ch.connected)
		return;
	st.has_ready = st.has_draining = st.has_active_connections = 1;
	st.ready = admin_ready();
	st.draining = atomic_load(&procstate_draining) || atomic_load(&procstate_stopping);
	st.active_connections = atomic_load(&procstate_active_conns);
	st.has_quiet = 1;
	st.quiet = ch.quiet && atomic_load(&procstate_draining);
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_STATUS;
	m.status = &st;
	chan_send(&m);
}

static void
send_hello(void)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__ProxydHello h = TANDEM__PROXYD_HELLO__INIT;

	h.node = ch.node;
	h.has_pid = h.has_generation = 1;
	h.pid = (uint32_t)getpid();
	h.generation = ch.generation;
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_HELLO;
	m.hello = &h;
	chan_send(&m);
}

static void
retry_cb(struct ev_loop *loop, struct ev_timer *t)
{
	int fd = net_connect_unix(ch.path);

	if (fd == -1) {
		if (!ch.warned)
			log_info("hacd channel %s: not available (%s); retrying every %d ms", ch.path, strerror(errno), CHAN_RETRY_MS);
		ch.warned = 1;
		ev_timer_start(loop, t, CHAN_RETRY_MS);
		return;
	}
	net_set_nonblock(fd);
	frame_conn_init(&ch.fc, fd);
	ev_io_init(&ch.io, fd, chan_io, NULL);
	ch.connected = 1;
	ch.warned = 0;
	log_info("hacd channel %s: connected", ch.path);
	ev_io_start(loop, &ch.io, EV_READ);
	{
		struct pd_config *g = procstate_current();

		cluster_channel_up(g != NULL && g->has_tls, ev_now(loop));
		config_unref(g);
	}
	send_hello();
	send_status();
	/* hacd may have restarted and lost this node's state: all of it. */
	cluster_collect(1, chan_send);
	ev_timer_start(loop, &ch.sync_timer, cluster_interval_ms());
}

static void
sync_cb(struct ev_loop *loop, struct ev_timer *t)
{
	if (!ch.connected)
		return;
	cluster_collect(0, chan_send);
	ev_timer_start(loop, t, cluster_interval_ms());
}

static void
status_cb(struct ev_loop *loop, struct ev_timer *t)
{
	send_status();
	/* The cache summary and hot keys (hactl cache stats, the warm
	 * standby): CDIG_INTERVAL_MS is this timer's period. */
	if (ch.connected)
		cdig_tick(chan_send_connected);
	ev_timer_start(loop, t, CHAN_STATUS_MS);
}

/* Draining: report the moment the last connection closes (an edge, not a
 * stream of statuses). Stops by itself when the drain ends. */
static void
quiet_cb(struct ev_loop *loop, struct ev_timer *t)
{
	uint64_t now = ev_now(loop);

	if (!atomic_load(&procstate_draining))
		return;
	if (atomic_load(&procstate_active_conns) != 0) {
		ch.quiet_since = 0;
	} else if (ch.quiet_since == 0) {
		ch.quiet_since = now;
	} else if (!ch.quiet && now - ch.quiet_since >= CHAN_QUIET_MS) {
		ch.quiet = 1;
		send_status();
		return;   /* reported once per drain */
	}
	ev_timer_start(loop, t, CHAN_QUIET_POLL_MS);
}

/*
 * The cluster's server admin state (hactl drain|enable|maint|weight on any
 * node, replicated by hacd): applied through the same runtime mechanism as
 * the admin socket's "set server UPSTREAM/SERVER state|weight"
 * (srvstate_set, then the health checker and the workers are
 * told). hacd sends every entry when proxyd connects and each change after,
 * so applying them in arrival order converges on hacd's (last writer wins)
 * view. hacd does not know this proxyd's configuration: a server it does
 * not have is ignored and counted, never an error; so is a state or weight
 * outside what the admin socket accepts.
 */
static void
apply_sync(const Tandem__StateSync *sync)
{
	size_t applied = 0;

	for (size_t i = 0; i < sync->n_admin; i++) {
		const Tandem__ServerAdmin *a = sync->admin[i];
		int state = PD_SRV_READY;
		int64_t weight = -1;
		char wbuf[32];

		if (a == NULL || a->upstream == NULL || a->server == NULL) {
			ch.sync_bad++;
			continue;
		}
		/* "@node/NODE" is hacd's own entry (hactl drain NODE,
		 * hacd/adminarg.h), carried in hacd's bulk syncs: no server. */
		if (a->upstream[0] == '@') {
			ch.sync_hacd++;
			continue;
		}
		/* An absent state is the proto default, ready. */
		if (a->has_state) {
			switch (a->state) {
			case TANDEM__ADMIN_STATE__ADMIN_READY: state = PD_SRV_READY; break;
			case TANDEM__ADMIN_STATE__ADMIN_DRAIN: state = PD_SRV_DRAIN; break;
			case TANDEM__ADMIN_STATE__ADMIN_MAINT: state = PD_SRV_MAINT; break;
			default: state = -1; break;
			}
		}
		if (a->has_weight)
			weight = a->weight;
		if (state < 0 || weight > (int64_t)BAL_MAX_WEIGHT) {
			ch.sync_bad++;
			log_rl_warnx(&ch.rl, ev_now(ch.loop), "hacd channel: admin entry for %.64s/%.64s refused: state %d, weight %lld (%llu refused so far)",
			    a->upstream, a->server, a->has_state ? (int)a->state : 0, (long long)weight,
			    (unsigned long long)ch.sync_bad);
			continue;
		}
		if (srvstate_set(a->upstream, a->server, state, weight) == -1) {
			ch.sync_unknown++;
			log_rl_warnx(&ch.rl, ev_now(ch.loop), "hacd channel: admin entry for unknown server %.64s/%.64s ignored (%llu so far)",
			    a->upstream, a->server, (unsigned long long)ch.sync_unknown);
			continue;
		}
		ch.sync_applied++;
		applied++;
		if (weight >= 0)
			snprintf(wbuf, sizeof(wbuf), ", weight %u", (unsigned)weight);
		else
			wbuf[0] = '\0';
		log_info("hacd channel: server %s/%s %s%s (cluster admin state, set on %s)", a->upstream, a->server,
		    srvstate_str((enum pd_admin_state)state), wbuf,
		    a->origin != NULL && a->origin[0] != '\0' ? a->origin : "?");
	}
	if (applied > 0) {
		hc_admin_changed();
		procstate_kick();
	}
}

/* Frees an unpacked ChannelMessage after wiping the TLS ticket-key
 * secrets a sync may carry (they are installed in the keyring's
 * sodium_malloc'd memory; this copy must not go back to malloc as it is). */
static void
free_message(Tandem__ChannelMessage *m)
{
	if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_SYNC && m->sync != NULL)
		for (size_t i = 0; i < m->sync->n_tickets; i++)
			if (m->sync->tickets[i] != NULL && m->sync->tickets[i]->secret.data != NULL)
				sodium_memzero(m->sync->tickets[i]->secret.data, m->sync->tickets[i]->secret.len);
	tandem__channel_message__free_unpacked(m, NULL);
}

void
channel_handle_frame(const uint8_t *p, size_t len)
{
	Tandem__ChannelMessage *m = tandem__channel_message__unpack(NULL, len, p);
	int was_ready = admin_ready();

	if (m == NULL) {
		ch.bad_frames++;
		log_rl_warnx(&ch.rl, ev_now(ch.loop), "hacd channel: undecodable message dropped (%llu so far)",
		    (unsigned long long)ch.bad_frames);
		return;
	}
	if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_DRAIN && m->drain != NULL) {
		int on = m->drain->has_on && m->drain->on;
		if (atomic_exchange(&procstate_draining, on) != on) {
			log_info("hacd channel: drain %s", on ? "on: Connection: close, idle keep-alives closed" : "off");
			procstate_kick();
		}
		free_message(m);
		ch.quiet = 0;
		ch.quiet_since = 0;
		send_status();
		if (on)
			ev_timer_start(ch.loop, &ch.quiet_timer, CHAN_QUIET_POLL_MS);
		else
			ev_timer_stop(ch.loop, &ch.quiet_timer);
		return;
	}
	if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_SYNC && m->sync != NULL) {
		apply_sync(m->sync);
		cluster_apply(m->sync);
	} else if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_VIEW && m->view != NULL) {
		cluster_view(m->view);
	} else if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_RESET && m->reset != NULL) {
		cluster_reset(m->reset);
	} else if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_PURGE && m->purge != NULL) {
		cluster_purge(m->purge);
	} else if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_CACHE_DIGEST && m->cache_digest != NULL) {
		prefetch_digest(m->cache_digest);
	} else if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_CLUSTER && m->cluster != NULL) {
		status_cluster(m->cluster, ev_now(ch.loop));
	}
	free_message(m);
	/* The view may start the wait for the cluster's ticket key, a sync
	 * may end it: hacd hears at once, not at the next status tick. */
	if (admin_ready() != was_ready)
		send_status();
}

static void
chan_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	const uint8_t *msg;
	size_t len;
	int rc, n = 0;

	(void)loop;
	(void)w;
	if (revents & EV_WRITE) {
		chan_flush();
		if (!ch.connected)
			return;
	}
	if (!(revents & EV_READ))
		return;
	rc = frame_read(&ch.fc);
	while (ch.connected && (n = frame_next(&ch.fc, &msg, &len)) == 1)
		channel_handle_frame(msg, len);
	if (!ch.connected)
		return;
	if (n == -1)
		chan_disconnect("oversized frame");
	else if (rc == 0)
		chan_disconnect("closed by hacd");
	else if (rc == -1)
		chan_disconnect("read error");
}

int
channel_start(struct ev_loop *loop, const char *path, const char *node)
{
	ch.loop = loop;
	ch.path = strdup(path);
	ch.node = strdup(node ? node : "");
	if (ch.path == NULL || ch.node == NULL)
		return -1;
	ev_timer_init(&ch.retry, retry_cb, NULL);
	ev_timer_init(&ch.status, status_cb, NULL);
	ev_timer_init(&ch.quiet_timer, quiet_cb, NULL);
	ev_timer_init(&ch.sync_timer, sync_cb, NULL);
	ev_timer_start(loop, &ch.retry, 0);
	ev_timer_start(loop, &ch.status, CHAN_STATUS_MS);
	prefetch_start(loop);
	return 0;
}

void
channel_status_changed(void)
{
	send_status();
}

void
channel_set_generation(uint64_t gen)
{
	ch.generation = gen;
}

void
channel_stop(void)
{
	if (ch.loop == NULL)
		return;
	if (ch.connected) {
		/* Last word: not ready, draining. Best effort, not waited for. */
		send_status();
		ev_io_stop(ch.loop, &ch.io);
		frame_conn_fini(&ch.fc);
		ch.connected = 0;
	}
	ev_timer_stop(ch.loop, &ch.retry);
	ev_timer_stop(ch.loop, &ch.status);
	ev_timer_stop(ch.loop, &ch.quiet_timer);
	ev_timer_stop(ch.loop, &ch.sync_timer);
	prefetch_stop();
}

void
channel_sync_counts(uint64_t *applied, uint64_t *unknown, uint64_t *bad, uint64_t *hacd)
{
	/* Control-thread counters; a racy read from another thread is only
	 * ever a stale statistic. */
	*applied = ch.sync_applied;
	*unknown = ch.sync_unknown;
	*hacd = ch.sync_hacd;
	*bad = ch.sync_bad;
}
