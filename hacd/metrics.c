/*
 * hacd/metrics.c — what an operator pages on, as Prometheus metrics.
 *
 * The data is the node's own (hacd/node.c, hacd/peer.c, hacd/repl.c):
 * nothing is counted here, everything is read when /metrics is scraped, on
 * hacd's one loop. Names follow Prometheus' rules (promtool check metrics):
 * base units (seconds), _total on counters, one HELP and TYPE per family.
 * Every node reports its own view, so the cluster-wide questions (does a VIP
 * have exactly one owner?) are sums over the nodes in PromQL: see
 * contrib/prometheus/tandem-alerts.yml and docs/metrics.md.
 */
#include "hacd/metrics.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/prom.h"
#include "lib/wire.h"

static const char *const role_names[NODE_ROLES] = { "init", "backup", "master", "fault" };

/* What a scrape reads besides the node: lib/httpget hands each request to
 * metrics_http with this as its argument. */
struct hacd_metrics_ctx {
	struct node *node;
	const struct ctl *ctl;
	const struct httpget *http;
};

/* Groups in mode "bgp" have no owner, role or priority (the families
 * above leave them out, so an alert on a VIP without owner stays quiet):
 * which nodes announce each, as this node sees it (hacd/bgp.c). */
static void render_bgp(struct buf *o, const struct node *n)
{
	const struct hacd_config *cfg = n->cfg;
	int any = 0;

	for (size_t v = 0; v < cfg->nvips; v++)
		any |= cfg->vips[v].bgp;
	if (!any)
		return;
	prom_family(o, "tandem_hacd_bgp_announced", PROM_GAUGE,
	    "A VIP group in mode bgp: 1 for each node whose route is announced (this node as BIRD confirmed, "
	    "live peers as their heartbeats say), 0 for the others.");
	for (size_t v = 0; v < cfg->nvips; v++)
		for (size_t i = 0; i < cfg->nnodes && cfg->vips[v].bgp; i++)
			prom_u64(o, "tandem_hacd_bgp_announced", i == cfg->self ? bgp_announced(&n->bgp, v) :
			    n->peers.peers[i].alive && (n->peers.peers[i].bgp_announcing & (1u << v)) != 0,
			    "vip", cfg->vips[v].name, "node", cfg->nodes[i].name, NULL);
}

static void render_vips(struct buf *o, const struct node *n)
{
	const struct hacd_config *cfg = n->cfg;
	const char *self = cfg->nodes[cfg->self].name;
	int fault;

	prom_family(o, "tandem_hacd_vip_role", PROM_GAUGE,
	    "Role of this node for a VIP: 1 for the role it is in (master holds the address), 0 for the others.");
	for (size_t v = 0; v < cfg->nvips; v++)
		for (int r = 0; r < NODE_ROLES && !cfg->vips[v].bgp; r++)
			prom_u64(o, "tandem_hacd_vip_role", (unsigned)n->vips[v].st.role == (unsigned)r,
			    "vip", cfg->vips[v].name, "role", role_names[r], NULL);
	prom_family(o, "tandem_hacd_vip_owner", PROM_GAUGE,
	    "Owner of a VIP as this node sees it: 1 for the owner (this node if master, else the live peer that "
	    "claims it), 0 for every other node; all 0 when it sees no owner.");
	for (size_t v = 0; v < cfg->nvips; v++) {
		const char *owner = node_vip_owner(n, v);

		for (size_t i = 0; i < cfg->nnodes && !cfg->vips[v].bgp; i++)
			prom_u64(o, "tandem_hacd_vip_owner", owner != NULL && strcmp(owner, cfg->nodes[i].name) == 0,
			    "vip", cfg->vips[v].name, "node", cfg->nodes[i].name, NULL);
	}
	prom_family(o, "tandem_hacd_vip_claimants", PROM_GAUGE,
	    "Nodes claiming a VIP (master) as this node sees it: itself and live peers. 2 or more is a split brain.");
	for (size_t v = 0; v < cfg->nvips; v++) {
		uint64_t k = n->vips[v].st.role == ELECTION_MASTER;

		if (cfg->vips[v].bgp)
			continue;
		for (size_t i = 0; i < cfg->nnodes; i++)
			if (i != cfg->self && n->peers.peers[i].alive && n->peers.peers[i].vips[v].role == ELECTION_MASTER)
				k++;
		prom_u64(o, "tandem_hacd_vip_claimants", k, "vip", cfg->vips[v].name, NULL);
	}
	prom_family(o, "tandem_hacd_vip_priority", PROM_GAUGE,
	    "Effective priority for a VIP: this node's (failed tracked checks and maintenance subtracted, 0 in fault) "
	    "and what each live peer last advertised.");
	for (size_t v = 0; v < cfg->nvips; v++)
		for (size_t i = 0; i < cfg->nnodes && !cfg->vips[v].bgp; i++) {
			const struct peer *p = &n->peers.peers[i];

			if (i == cfg->self)
				prom_u64(o, "tandem_hacd_vip_priority", node_effective_prio(n, v, &fault),
				    "vip", cfg->vips[v].name, "node", self, NULL);
			else if (p->alive)
				prom_u64(o, "tandem_hacd_vip_priority", p->vips[v].prio,
				    "vip", cfg->vips[v].name, "node", cfg->nodes[i].name, NULL);
		}
	prom_family(o, "tandem_hacd_vip_configured_priority", PROM_GAUGE,
	    "This node's configured priority for a VIP (hacd.conf), before tracked checks.");
	for (size_t v = 0; v < cfg->nvips; v++)
		if (!cfg->vips[v].bgp)
			prom_u64(o, "tandem_hacd_vip_configured_priority", cfg->vips[v].prio[cfg->self],
		    "vip", cfg->vips[v].name, NULL);
	prom_family(o, "tandem_hacd_vip_transitions_total", PROM_COUNTER,
	    "Role changes of this node for a VIP since hacd started, by the role entered.");
	for (size_t v = 0; v < cfg->nvips; v++)
		for (int r = 0; r < NODE_ROLES && !cfg->vips[v].bgp; r++)
			prom_u64(o, "tandem_hacd_vip_transitions_total", n->vips[v].transitions[r],
			    "vip", cfg->vips[v].name, "to", role_names[r], NULL);
	render_bgp(o, n);
}

static void render_peers(struct buf *o, const struct node *n, uint64_t now)
{
	const struct hacd_config *cfg = n->cfg;

	prom_family(o, "tandem_hacd_peer_up", PROM_GAUGE,
	    "1 while a peer is alive (an authenticated, fresh heartbeat within its dead interval), else 0.");
	for (size_t i = 0; i < cfg->nnodes; i++)
		if (i != cfg->self)
			prom_u64(o, "tandem_hacd_peer_up", n->peers.peers[i].alive != 0, "node", cfg->nodes[i].name, NULL);
	prom_family(o, "tandem_hacd_peer_last_heard_seconds", PROM_GAUGE,
	    "Age of a peer's newest accepted heartbeat (absent until one was heard).");
	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];

		if (i != cfg->self && p->last_heard_ms != 0)
			prom_f64(o, "tandem_hacd_peer_last_heard_seconds",
			    prom_ms_to_s(now > p->last_heard_ms ? now - p->last_heard_ms : 0), "node", cfg->nodes[i].name, NULL);
	}
	prom_family(o, "tandem_hacd_peer_config_drift", PROM_GAUGE,
	    "1 when a live peer's hacd.conf digest differs from this node's.");
	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];

		if (i != cfg->self && p->last_heard_ms != 0)
			prom_u64(o, "tandem_hacd_peer_config_drift",
			    p->have_digest && memcmp(p->digest, cfg->digest, sizeof(cfg->digest)) != 0,
			    "node", cfg->nodes[i].name, NULL);
	}
	prom_family(o, "tandem_hacd_peer_replication_synced", PROM_GAUGE,
	    "1 once a complete bulk sync arrived from a peer since it was last dead.");
	for (size_t i = 0; i < cfg->nnodes; i++)
		if (i != cfg->self)
			prom_u64(o, "tandem_hacd_peer_replication_synced", n->repl.peer[i].synced != 0,
			    "node", cfg->nodes[i].name, NULL);
	prom_family(o, "tandem_hacd_peer_replication_last_seconds", PROM_GAUGE,
	    "Age of the newest state sync accepted from a peer (absent until one arrived).");
	for (size_t i = 0; i < cfg->nnodes; i++) {
		uint64_t t = n->repl.peer[i].last_rx_ms;

		if (i != cfg->self && t != 0)
			prom_f64(o, "tandem_hacd_peer_replication_last_seconds", prom_ms_to_s(now > t ? now - t : 0),
			    "node", cfg->nodes[i].name, NULL);
	}
}

static void render_datagrams(struct buf *o, const struct node *n)
{
	const struct peer_stats *ps = &n->peers.stats;

	prom_family(o, "tandem_hacd_datagrams_received_total", PROM_COUNTER,
	    "Datagrams read from the heartbeat sockets (heartbeats and state syncs), before any check.");
	prom_u64(o, "tandem_hacd_datagrams_received_total", ps->rx, NULL);
	prom_family(o, "tandem_hacd_datagrams_accepted_total", PROM_COUNTER,
	    "Datagrams that passed every check (authenticated, fresh, from a configured peer's address).");
	prom_u64(o, "tandem_hacd_datagrams_accepted_total", ps->drops[PEER_ACCEPTED], NULL);
	prom_family(o, "tandem_hacd_heartbeats_sent_total", PROM_COUNTER,
	    "Heartbeat datagrams sent (one per peer each advert interval; one per interval in multicast mode).");
	prom_u64(o, "tandem_hacd_heartbeats_sent_total", ps->tx, NULL);
	prom_family(o, "tandem_hacd_heartbeat_send_errors_total", PROM_COUNTER, "Heartbeat sends that failed.");
	prom_u64(o, "tandem_hacd_heartbeat_send_errors_total", ps->tx_err, NULL);
	prom_family(o, "tandem_hacd_heartbeat_drops_total", PROM_COUNTER,
	    "Datagrams on the heartbeat port dropped unacted, by reason: the sealed-datagram checks (lib/wire: "
	    "bad-magic, auth-failed, replay, ...) and the peer checks after them (unknown-sender, wrong-source, "
	    "hb-unproven, sync-unproven, ...). State syncs travel there too.");
	for (int v = 1; v < WIRE_VERDICT_MAX; v++)
		prom_u64(o, "tandem_hacd_heartbeat_drops_total", ps->wire[v],
		    "reason", wire_verdict_str((enum wire_verdict)v), NULL);
	for (int d = PEER_DROP_UNKNOWN_SENDER; d < PEER_DROP_MAX; d++)
		prom_u64(o, "tandem_hacd_heartbeat_drops_total", ps->drops[d], "reason", peer_drop_str((enum peer_drop)d), NULL);
}

static void render_replication(struct buf *o, const struct node *n)
{
	const struct repl_stats *rs = &n->repl.stats;
	const struct cacheview *cv = &n->repl.cv;
	const struct replica_stats *st = n->repl.store != NULL ? replica_stats(n->repl.store) : NULL;

	prom_family(o, "tandem_hacd_replication_lag_seconds", PROM_GAUGE,
	    "Age of a peer's state sync when merged here (the sender's clock): the last merge, the largest and the "
	    "mean since start.");
	prom_f64(o, "tandem_hacd_replication_lag_seconds", prom_ms_to_s(rs->lag_last_ms), "stat", "last", NULL);
	prom_f64(o, "tandem_hacd_replication_lag_seconds", prom_ms_to_s(rs->lag_max_ms), "stat", "max", NULL);
	prom_f64(o, "tandem_hacd_replication_lag_seconds",
	    rs->lag_n ? (double)rs->lag_sum_ms / (double)rs->lag_n / 1000.0 : 0.0, "stat", "avg", NULL);
	prom_family(o, "tandem_hacd_replication_datagrams_total", PROM_COUNTER,
	    "State-sync datagrams (deltas and bulk chunks) sent to and accepted from peers.");
	prom_u64(o, "tandem_hacd_replication_datagrams_total", rs->tx, "dir", "tx", NULL);
	prom_u64(o, "tandem_hacd_replication_datagrams_total", rs->rx, "dir", "rx", NULL);
	prom_family(o, "tandem_hacd_replication_bytes_total", PROM_COUNTER,
	    "Payload bytes of those state-sync datagrams.");
	prom_u64(o, "tandem_hacd_replication_bytes_total", rs->tx_bytes, "dir", "tx", NULL);
	prom_u64(o, "tandem_hacd_replication_bytes_total", rs->rx_bytes, "dir", "rx", NULL);
	prom_family(o, "tandem_hacd_replication_send_errors_total", PROM_COUNTER, "State-sync sends that failed.");
	prom_u64(o, "tandem_hacd_replication_send_errors_total", rs->tx_err, NULL);
	prom_family(o, "tandem_hacd_replication_bulk_syncs_total", PROM_COUNTER,
	    "Bulk syncs received from peers, by how they ended (incomplete: chunks missing, asked again).");
	prom_u64(o, "tandem_hacd_replication_bulk_syncs_total", rs->rx_bulk_done, "result", "complete", NULL);
	prom_u64(o, "tandem_hacd_replication_bulk_syncs_total", rs->rx_bulk_incomplete, "result", "incomplete", NULL);
	prom_family(o, "tandem_hacd_replication_drops_total", PROM_COUNTER,
	    "Replicated entries from accepted syncs that were refused or not kept, by reason: malformed or "
	    "implausible (bad-*, future), a full table (full-KIND), older than an operator's reset (reset), and "
	    "malformed reset datagrams (bad-reset).");
	if (st != NULL) {
		for (int b = 0; b < REPLICA_BAD_MAX; b++)
			prom_u64(o, "tandem_hacd_replication_drops_total", st->bad[b],
			    "reason", replica_bad_str((enum replica_bad)b), NULL);
		for (int k = 0; k < REPLICA_KIND_MAX; k++) {
			char r[32];

			snprintf(r, sizeof(r), "full-%s", replica_kind_str((enum replica_kind)k));
			prom_u64(o, "tandem_hacd_replication_drops_total", st->dropped_full[k], "reason", r, NULL);
		}
	}
	prom_u64(o, "tandem_hacd_replication_drops_total", rs->reset_dropped, "reason", "reset", NULL);
	prom_u64(o, "tandem_hacd_replication_drops_total", rs->reset_bad, "reason", "bad-reset", NULL);
	prom_family(o, "tandem_hacd_cache_purges_total", PROM_COUNTER,
	    "hactl cache purge datagrams: sent (two per purge), resent from the purge log to a rejoining peer "
	    "(log), and received: new, duplicate, malformed (bad), or revealing purges missed beyond every log "
	    "(gap: the whole cache purged).");
	prom_u64(o, "tandem_hacd_cache_purges_total", rs->purge_tx, "result", "sent", NULL);
	prom_u64(o, "tandem_hacd_cache_purges_total", rs->purge_log_tx, "result", "log", NULL);
	prom_u64(o, "tandem_hacd_cache_purges_total", rs->purge_rx, "result", "new", NULL);
	prom_u64(o, "tandem_hacd_cache_purges_total", rs->purge_dup, "result", "duplicate", NULL);
	prom_u64(o, "tandem_hacd_cache_purges_total", rs->purge_bad, "result", "bad", NULL);
	prom_u64(o, "tandem_hacd_cache_purges_total", rs->purge_gap, "result", "gap", NULL);
	prom_family(o, "tandem_hacd_cache_digests_total", PROM_COUNTER,
	    "Warm-standby digest datagrams (chunks of a node's hot cache keys): sent to peers, received from "
	    "them, refused as malformed (bad), passed to proxyd (forwarded) or not (unsent: proxyd not connected).");
	prom_u64(o, "tandem_hacd_cache_digests_total", cv->dig_tx, "result", "sent", NULL);
	prom_u64(o, "tandem_hacd_cache_digests_total", cv->dig_rx, "result", "received", NULL);
	prom_u64(o, "tandem_hacd_cache_digests_total", cv->dig_bad, "result", "bad", NULL);
	prom_u64(o, "tandem_hacd_cache_digests_total", cv->dig_fwd, "result", "forwarded", NULL);
	prom_u64(o, "tandem_hacd_cache_digests_total", cv->dig_unsent, "result", "unsent", NULL);
	prom_family(o, "tandem_hacd_cache_summaries_total", PROM_COUNTER,
	    "Cache summaries (hactl cache stats): this node's sent to peers, peers' received, malformed ones refused.");
	prom_u64(o, "tandem_hacd_cache_summaries_total", cv->sum_tx, "result", "sent", NULL);
	prom_u64(o, "tandem_hacd_cache_summaries_total", cv->sum_rx, "result", "received", NULL);
	prom_u64(o, "tandem_hacd_cache_summaries_total", cv->sum_bad, "result", "bad", NULL);
	if (st == NULL)
		return;
	prom_family(o, "tandem_hacd_replication_entries", PROM_GAUGE, "Entries held in the replicated store, by kind.");
	for (int k = 0; k < REPLICA_KIND_MAX; k++)
		prom_u64(o, "tandem_hacd_replication_entries", st->entries[k],
		    "kind", replica_kind_str((enum replica_kind)k), NULL);
	prom_family(o, "tandem_hacd_replication_merged_total", PROM_COUNTER,
	    "Received entries that changed the store, by kind.");
	for (int k = 0; k < REPLICA_KIND_MAX; k++)
		prom_u64(o, "tandem_hacd_replication_merged_total", st->merged[k],
		    "kind", replica_kind_str((enum replica_kind)k), NULL);
}

static void render_local(struct buf *o, const struct node *n, const struct ctl *ctl, const struct httpget *http)
{
	const struct repl_stats *rs = &n->repl.stats;

	prom_family(o, "tandem_hacd_channel_drops_total", PROM_COUNTER,
	    "Refusals on the local channel to proxyd, by reason: connections from another uid or while proxyd "
	    "was connected, undecodable or unexpected messages, entries proxyd may not set, and a backlog dropped "
	    "because proxyd read too slowly (overflow: a bulk sync follows).");
	prom_u64(o, "tandem_hacd_channel_drops_total", n->chan.rejected_uid, "reason", "rejected-uid", NULL);
	prom_u64(o, "tandem_hacd_channel_drops_total", n->chan.rejected_busy, "reason", "rejected-busy", NULL);
	prom_u64(o, "tandem_hacd_channel_drops_total", n->chan.bad_message, "reason", "bad-message", NULL);
	prom_u64(o, "tandem_hacd_channel_drops_total", n->chan.unexpected, "reason", "unexpected-message", NULL);
	prom_u64(o, "tandem_hacd_channel_drops_total", rs->chan_refused_admin, "reason", "refused-admin", NULL);
	prom_u64(o, "tandem_hacd_channel_drops_total", rs->chan_refused_ticket, "reason", "refused-ticket", NULL);
	prom_u64(o, "tandem_hacd_channel_drops_total", rs->chan_overflow, "reason", "overflow", NULL);
	prom_family(o, "tandem_hacd_admin_drops_total", PROM_COUNTER,
	    "Refusals on hacd's control socket (hactl) and on this metrics listener, by socket and reason.");
	prom_u64(o, "tandem_hacd_admin_drops_total", ctl != NULL ? ctl->rejected_uid : 0,
	    "socket", "control", "reason", "rejected-uid", NULL);
	prom_u64(o, "tandem_hacd_admin_drops_total", ctl != NULL ? ctl->bad_request : 0,
	    "socket", "control", "reason", "bad-request", NULL);
	prom_u64(o, "tandem_hacd_admin_drops_total", httpget_refused(http),
	    "socket", "metrics", "reason", "max-connections", NULL);
	prom_u64(o, "tandem_hacd_admin_drops_total", httpget_bad_requests(http),
	    "socket", "metrics", "reason", "bad-request", NULL);
	prom_family(o, "tandem_hacd_notify_failures_total", PROM_COUNTER,
	    "Notify hook runs that could not start, failed or timed out.");
	prom_u64(o, "tandem_hacd_notify_failures_total", n->notify_failed, NULL);
	prom_family(o, "tandem_hacd_preemptions_held_total", PROM_COUNTER,
	    "Preemptions held back because the owner did not hear this node (each wait counted once).");
	prom_u64(o, "tandem_hacd_preemptions_held_total", n->preempt_unheard, NULL);
}

/* Quorum (hacd/quorum.c): whether this node may hold VIPs, its votes, and
 * a witness's vote. Always rendered, so an alert on quorate == 0 needs no
 * special case for quorum off (quorate is then 1). */
static void render_quorum(struct buf *o, const struct node *n)
{
	const struct hacd_config *cfg = n->cfg;

	prom_family(o, "tandem_hacd_quorum_enabled", PROM_GAUGE, "1 when hacd.conf says quorum = \"majority\".");
	prom_u64(o, "tandem_hacd_quorum_enabled", cfg->quorum != 0, NULL);
	prom_family(o, "tandem_hacd_quorate", PROM_GAUGE,
	    "1 while this node may hold VIPs: quorum off, or it counts a majority of the votes.");
	prom_u64(o, "tandem_hacd_quorate", node_quorate(n) != 0, NULL);
	prom_family(o, "tandem_hacd_quorum_votes", PROM_GAUGE,
	    "Votes this node counts (itself, live peers, a witness voting for it) and the majority needed.");
	prom_u64(o, "tandem_hacd_quorum_votes", n->quorum.seen, "kind", "seen", NULL);
	prom_u64(o, "tandem_hacd_quorum_votes", n->quorum.needed, "kind", "needed", NULL);
	prom_family(o, "tandem_hacd_quorum_lost_total", PROM_COUNTER, "Times this node lost its majority.");
	prom_u64(o, "tandem_hacd_quorum_lost_total", n->quorum_lost, NULL);
	if (!n->witness)
		return;
	prom_family(o, "tandem_hacd_witness_vote", PROM_GAUGE, "A witness: 1 for the node it gives its vote to.");
	for (size_t i = 0; i < cfg->nnodes; i++)
		if (!cfg->nodes[i].witness)
			prom_u64(o, "tandem_hacd_witness_vote", n->vote_for == (int)i, "node", cfg->nodes[i].name, NULL);
	prom_family(o, "tandem_hacd_witness_vote_moves_total", PROM_COUNTER, "A witness: times its vote moved.");
	prom_u64(o, "tandem_hacd_witness_vote_moves_total", n->vote_moves, NULL);
}

void hacd_metrics_render(struct buf *o, const struct node *n, const struct ctl *ctl,
    const struct httpget *http, uint64_t now_ms)
{
	const struct hacd_config *cfg = n->cfg;

	prom_family(o, "tandem_hacd_info", PROM_GAUGE, "Always 1: this hacd's node and cluster names.");
	prom_u64(o, "tandem_hacd_info", 1, "node", cfg->nodes[cfg->self].name, "cluster", cfg->cluster, NULL);
	prom_family(o, "tandem_hacd_uptime_seconds", PROM_GAUGE, "Time since this hacd started.");
	prom_f64(o, "tandem_hacd_uptime_seconds", prom_ms_to_s(now_ms > n->start_ms ? now_ms - n->start_ms : 0), NULL);
	prom_family(o, "tandem_hacd_maintenance", PROM_GAUGE, "1 while this node is in maintenance (hactl maintenance on).");
	prom_u64(o, "tandem_hacd_maintenance", n->maintenance != 0, NULL);
	prom_family(o, "tandem_hacd_proxyd_ready", PROM_GAUGE,
	    "1 while the local proxyd is connected on the channel and says it is ready.");
	prom_u64(o, "tandem_hacd_proxyd_ready", channel_ready(&n->chan) != 0, NULL);
	render_quorum(o, n);
	render_vips(o, n);
	render_peers(o, n, now_ms);
	render_datagrams(o, n);
	render_replication(o, n);
	render_local(o, n, ctl, http);
}

static int metrics_http(void *arg, const char *path, struct buf *body, const char **ctype)
{
	const struct hacd_metrics_ctx *m = arg;

	if (strcmp(path, "/metrics") != 0) {
		buf_appendf(body, "not found: try /metrics\n");
		return 404;
	}
	hacd_metrics_render(body, m->node, m->ctl, m->http, ev_now(m->node->loop));
	*ctype = PROM_CONTENT_TYPE;
	return 200;
}

static uint32_t metrics_cap(void *arg)
{
	const struct hacd_metrics_ctx *m = arg;

	return m->node->cfg->admin_max_conns;
}

struct httpget *hacd_metrics_listen(struct node *n, const struct ctl *ctl, int *failed)
{
	/* One per process: hacd runs one node and one listener. */
	static struct hacd_metrics_ctx ctx;
	struct httpget *hg;

	*failed = 0;
	if (n->cfg->admin_listen[0] == '\0')
		return NULL;
	ctx.node = n;
	ctx.ctl = ctl;
	hg = httpget_new(n->loop, n->cfg->admin_listen, "metrics listener", metrics_http, metrics_cap, &ctx);
	if (hg == NULL)
		*failed = 1;
	ctx.http = hg;
	return hg;
}
