/*
 * hacd/node.c — the node: where the election's decisions meet the kernel.
 *
 * Inputs arrive from hacd/peer.c (accepted heartbeats, dead peers; peers
 * coming alive or dying also go to hacd/repl.c, which owns replication),
 * hacd/channel.c (proxyd readiness), hacd/vip.c's netlink monitor (links,
 * addresses), script checks (hacd/proc.c) and the control socket
 * (hacd/ctl.c: failover, maintenance, reload). Each only marks the view as
 * changed; one deferred evaluation per loop iteration runs the pure election
 * (hacd/election.c) for every VIP and applies the results here, in one
 * place: add or remove the VIP, repeat announcements, run the notify hook,
 * log the transition with its reason, tell `hactl events` subscribers, and
 * send a heartbeat at once when what this node advertises changed. So the
 * state of a VIP is assigned in exactly one function (apply_result).
 *
 * Planned failover is make-before-break: the owner holds new connections to
 * the VIP off (hacd/gate.h), asks its proxyd to drain once that holds, then
 * advertises yield_to=TARGET; the target claims and announces; the owner
 * sees the target's claim, keeps the address a moment longer (the linger,
 * below), then removes the VIP, lets new connections in and ends the drain.
 */
#include "hacd/node.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "hacd/nodestatus.h"
#include "lib/log.h"
#include "lib/net.h"

static void stop_poll_cb(struct ev_loop *loop, struct ev_timer *t);

#define NODE_TICK_MS        1000
/* The bound on a planned handover's drain. New connections to the VIP are
 * held off meanwhile (hacd/gate.h): a client whose SYN was dropped sends it
 * again 1 s and 3 s after its first (RFC 6298 §2.1, §5.5), so the address
 * must have moved within about 3 s of the drain's start for that client to
 * reach the new owner inside a 5 s request deadline. Counted from the
 * request, before the gate (and so the drain) is in place. */
#define NODE_DRAIN_WAIT_MS  2500
/* How often the connections still open to a draining VIP are counted
 * (reading /proc/net/tcp walks the host's whole established hash: a few ms). */
#define NODE_GATE_POLL_MS   50
/* After a planned handover the old owner keeps the address this long. A
 * client may have opened a connection to it in the instant between proxyd
 * reporting "quiet" and the target's gratuitous ARP reaching the client;
 * removing the address at once would strand that connection (its answer
 * can no longer be routed from an address the node does not hold: the
 * client waits for a reply that never comes). The client's neighbour entry
 * already points at the target, so the old owner only finishes what it
 * accepted, still draining (Connection: close). */
#define NODE_LINGER_MS      200
#define NODE_NOTIFY_TIMEOUT 60000
/* With quorum on, an owner this node counts dead still counts as holding
 * its VIPs, for this node's claims, this many advert intervals more. A cut
 * owner gives its VIPs up when it counts its peers dead, and they count it
 * dead, each a dead interval after the last heartbeat it got; those last
 * heartbeats can be up to an interval apart (the nodes' heartbeats are not
 * in phase). One interval covers that, one more the scheduling, so the
 * owner on the smaller side has given a VIP up before the larger side
 * takes it: one owner at every instant, not just after the cut settles.
 * The price: a failover after an owner dies takes 2 intervals more. */
#define NODE_CLAIM_GRACE_ADVERTS 2
#define NODE_YIELD_MIN_MS   5000

static void schedule_eval(struct node *n)
{
	ev_defer(n->loop, &n->eval_defer);
}

/* One line for the log at info and for `hactl events`, wall-clock stamped. */
void node_event(struct node *n, const char *fmt, ...)
{
	char line[512], stamped[600];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("%s", line);
	if (n->event_cb == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(stamped, sizeof(stamped), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    ts.tv_nsec / 1000000, n->cfg->nodes[n->cfg->self].name, line);
	n->event_cb(n->event_arg, stamped);
}

unsigned node_effective_prio(const struct node *n, size_t v, int *fault)
{
	const struct hacd_config *cfg = n->cfg;
	unsigned p = cfg->vips[v].prio[cfg->self];
	unsigned weight = 0;

	*fault = 0;
	if (!node_quorate(n))
		*fault = 1;
	if (cfg->proxyd_weight != HACD_WEIGHT_OFF && !channel_ready(&n->chan)) {
		if (cfg->proxyd_weight == HACD_WEIGHT_FAULT)
			*fault = 1;
		else
			weight += (unsigned)cfg->proxyd_weight;
	}
	if (cfg->track_interface && n->vips[v].link_down)
		*fault = 1;
	for (size_t i = 0; i < cfg->nchecks; i++) {
		if (n->checks[i].ok)
			continue;
		if (cfg->checks[i].weight == HACD_WEIGHT_FAULT)
			*fault = 1;
		else
			weight += (unsigned)cfg->checks[i].weight;
	}
	if (*fault || p == 0)
		return 0;
	/* Maintenance is priority 0, but a VIP being handed over keeps its
	 * priority until the target holds it (make-before-break). */
	if ((n->maintenance || n->stopping) && n->vips[v].yield_to < 0)
		return 0;
	/* A failed weighted check lowers the priority but never to 0, which
	 * would mean "resigned" to every peer. */
	return p > weight ? p - weight : 1;
}

/* Why VIP v is in fault, for the transition line. */
static const char *fault_cause(const struct node *n, size_t v, char *buf, size_t len)
{
	const struct hacd_config *cfg = n->cfg;

	buf[0] = '\0';
	if (!node_quorate(n))
		snprintf(buf, len, " (%u of %zu votes, %u needed)", n->quorum.seen, cfg->nnodes,
		    n->quorum.needed);
	else if (cfg->proxyd_weight == HACD_WEIGHT_FAULT && !channel_ready(&n->chan))
		snprintf(buf, len, " (proxyd %s)", n->chan.conn ? "not ready" : "not connected");
	else if (cfg->track_interface && n->vips[v].link_down)
		snprintf(buf, len, " (link down on %s)", cfg->vips[v].addr.ifname);
	else
		for (size_t i = 0; i < cfg->nchecks; i++)
			if (!n->checks[i].ok && cfg->checks[i].weight == HACD_WEIGHT_FAULT) {
				snprintf(buf, len, " (check %s failing)", cfg->checks[i].name);
				break;
			}
	return buf;
}

int node_quorate(const struct node *n)
{
	return !n->cfg->quorum || n->quorum.quorate;
}

const char *node_vip_owner(const struct node *n, size_t v)
{
	const struct hacd_config *cfg = n->cfg;
	int best = -1;

	if (n->vips[v].st.role == ELECTION_MASTER)
		return cfg->nodes[cfg->self].name;
	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];

		if (i == cfg->self || !p->alive || p->vips[v].role != ELECTION_MASTER)
			continue;
		if (best < 0 || p->vips[v].prio > n->peers.peers[best].vips[v].prio)
			best = (int)i;
	}
	return best < 0 ? NULL : cfg->nodes[best].name;
}

/* ---- announcements ---------------------------------------------------- */

static void garp_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct node_vip *nv = t->data;
	struct node *n = nv->node;
	size_t v = (size_t)(nv - n->vips);

	if (nv->st.role != ELECTION_MASTER || nv->garp_left == 0)
		return;
	if (n->vip != NULL)
		vip_announce(n->vip, &n->cfg->vips[v].addr);
	if (--nv->garp_left > 0)
		ev_timer_start(loop, t, n->cfg->garp_spacing_ms);
}

/* Announce now, then garp_count - 1 more times every garp_spacing. */
static void announce(struct node *n, size_t v)
{
	struct node_vip *nv = &n->vips[v];

	nv->garp_left = n->cfg->garp_count;
	ev_timer_stop(n->loop, &nv->garp_timer);
	garp_cb(n->loop, &nv->garp_timer);
}

/* ---- notify hook ------------------------------------------------------ */

static void notify_exit_cb(void *arg, pid_t pid, int status)
{
	struct node *n = arg;

	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		n->notify_failed++;
		log_warnx("notify %s (pid %d): %s %d", n->cfg->notify, (int)pid,
		    status == -1 ? "timed out" : WIFEXITED(status) ? "exited with" : "killed by signal",
		    status == -1 ? 0 : WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
}

static void run_notify(struct node *n, size_t v, enum election_role from, enum election_role to,
    const char *reason)
{
	const struct hacd_config *cfg = n->cfg;
	char e_addr[128], e_if[64], e_reason[300], e_node[64];
	char *argv[5], *env[5];

	if (cfg->notify[0] == '\0')
		return;
	argv[0] = (char *)cfg->notify;
	argv[1] = (char *)cfg->vips[v].name;
	argv[2] = (char *)election_role_str(from);
	argv[3] = (char *)election_role_str(to);
	argv[4] = NULL;
	snprintf(e_addr, sizeof(e_addr), "TANDEM_VIP_ADDRESS=%s", cfg->vips[v].addr.text);
	snprintf(e_if, sizeof(e_if), "TANDEM_VIP_INTERFACE=%s", cfg->vips[v].addr.ifname);
	snprintf(e_reason, sizeof(e_reason), "TANDEM_REASON=%s", reason);
	snprintf(e_node, sizeof(e_node), "TANDEM_NODE=%s", cfg->nodes[cfg->self].name);
	env[0] = e_addr;
	env[1] = e_if;
	env[2] = e_reason;
	env[3] = e_node;
	env[4] = NULL;
	if (proc_spawn(&n->procs, argv, env, NODE_NOTIFY_TIMEOUT, notify_exit_cb, n) == -1) {
		n->notify_failed++;
		log_warn("notify %s: cannot start", cfg->notify);
	}
}

/* ---- heartbeats ------------------------------------------------------- */

static void send_heartbeat(struct node *n)
{
	const struct hacd_config *cfg = n->cfg;
	Tandem__Heartbeat hb = TANDEM__HEARTBEAT__INIT;
	Tandem__VipAdvert va[HACD_MAX_VIPS], *vp[HACD_MAX_VIPS];
	char *heard[HACD_MAX_NODES];
	char *announcing[HACD_MAX_VIPS];
	uint32_t health = 0;
	int links = 1, scripts = 1, fault;

	if (channel_ready(&n->chan))
		health |= TANDEM__HEALTH_BITS__HEALTH_PROXYD_READY;
	for (size_t v = 0; v < cfg->nvips; v++)
		links &= !n->vips[v].link_down;
	for (size_t i = 0; i < cfg->nchecks; i++)
		scripts &= n->checks[i].ok;
	if (links)
		health |= TANDEM__HEALTH_BITS__HEALTH_LINK_UP;
	if (scripts)
		health |= TANDEM__HEALTH_BITS__HEALTH_SCRIPT_OK;
	hb.node = (char *)cfg->nodes[cfg->self].name;
	hb.has_health = 1;
	hb.health = health;
	hb.has_config_digest = 1;
	hb.config_digest.data = (uint8_t *)cfg->digest;
	hb.config_digest.len = sizeof(cfg->digest);
	hb.has_uptime_ms = 1;
	hb.uptime_ms = ev_now(n->loop) - n->start_ms;
	hb.has_maintenance = 1;
	hb.maintenance = n->maintenance;
	hb.has_advert_ms = 1;
	hb.advert_ms = (uint32_t)cfg->advert_ms;
	/* Whom we hear: a better peer preempts us only once we name it,
	 * so its claim is sure to reach us (hacd/election.c). */
	hb.has_lists_heard = 1;
	hb.lists_heard = 1;
	for (size_t i = 0; i < cfg->nnodes; i++)
		if (i != cfg->self && n->peers.peers[i].alive)
			heard[hb.n_heard++] = (char *)cfg->nodes[i].name;
	hb.heard = heard;
	hb.has_quorate = 1;
	hb.quorate = node_quorate(n);
	hb.has_votes = 1;
	hb.votes = n->quorum.seen;
	if (n->witness) {
		/* Only a vote: no VIP advert at all, so no peer ever sees it as
		 * a candidate whatever its configuration says. */
		hb.has_witness = 1;
		hb.witness = 1;
		hb.vote_for = n->vote_for >= 0 ? (char *)cfg->nodes[n->vote_for].name : (char *)"";
		hb.n_vips = 0;
		peer_send_heartbeat(&n->peers, &hb);
		ev_timer_start(n->loop, &n->hb_timer, cfg->advert_ms);
		return;
	}
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];

		tandem__vip_advert__init(&va[v]);
		va[v].name = (char *)cfg->vips[v].name;
		va[v].has_priority = 1;
		va[v].priority = node_effective_prio(n, v, &fault);
		va[v].has_role = 1;
		va[v].role = (Tandem__VipRole)nv->st.role;
		if (nv->yield_to >= 0 && nv->yield_armed) {
			va[v].yield_to = (char *)cfg->nodes[nv->yield_to].name;
			va[v].has_drained = 1;
			va[v].drained = n->chan.draining;
		}
		nv->adv_prio = va[v].priority;
		vp[v] = &va[v];
	}
	hb.n_vips = cfg->nvips;
	hb.vips = vp;
	for (size_t v = 0; v < cfg->nvips; v++)
		if (bgp_announced(&n->bgp, v))
			announcing[hb.n_bgp_announcing++] = (char *)cfg->vips[v].name;
	hb.bgp_announcing = announcing;
	peer_send_heartbeat(&n->peers, &hb);
	ev_timer_start(n->loop, &n->hb_timer, cfg->advert_ms);
}

static void hb_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	send_heartbeat(t->data);
}

static void hb_defer_cb(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	send_heartbeat(d->data);
}

/* hacd/peer.c has a challenge to send or one to echo: a peer's proof of
 * freshness (hacd/fresh.c) then takes one round trip, not up to two advert
 * intervals, so neither a restart's start-up wait nor a failover waits on
 * it. Coalesced: one heartbeat per loop iteration at most. */
static void on_peer_kick(void *arg)
{
	struct node *n = arg;

	ev_defer(n->loop, &n->hb_defer);
}

/* ---- the election, applied -------------------------------------------- */

/* VIP v's handover stops waiting for its gate without the rule in place:
 * said once, as the drain then goes ahead unprotected. */
static void gate_given_up(struct node *n, size_t v, const char *why)
{
	n->vips[v].gate_wait = 0;
	node_event(n, "vip %s: new connections not held off (%s): proxyd drains anyway",
	    n->cfg->vips[v].name, why);
}

/* A planned handover asks proxyd to drain only once new connections to
 * every VIP it moves are held off (begin_yield). Asked earlier, a client
 * whose SYN passed in the few ms before nft had set the rule met a proxyd
 * already draining, on an address about to move: the protection came after
 * what it protects had begun. A gate that cannot be set (nft = "", nft
 * missing or failing) does not hold the drain back. Called when a gate's
 * nft run ends and whenever a handover stops waiting. */
static void drain_if_gated(struct node *n)
{
	int pending = 0;

	for (size_t v = 0; v < n->cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];

		if (!nv->gate_wait)
			continue;
		if (gate_held(&nv->gate)) {
			nv->gate_wait = 0;
			node_event(n, "vip %s: new connections held off", n->cfg->vips[v].name);
		} else if (gate_failed(&nv->gate)) {
			gate_given_up(n, v, n->cfg->nft[0] == '\0' ? "nft = \"\"" : "nft failed");
		} else {
			pending = 1;
		}
	}
	if (!pending && n->drain_owed) {
		n->drain_owed = 0;
		channel_send_drain(&n->chan, 1);
	}
}

static void on_gate_done(void *arg)
{
	drain_if_gated(arg);
}

static void drain_off_if_idle(struct node *n)
{
	for (size_t v = 0; v < n->cfg->nvips; v++)
		if (n->vips[v].yield_to >= 0 || n->vips[v].lingering) {
			/* The handover that ended may be the one the drain waited for. */
			drain_if_gated(n);
			return;
		}
	n->drain_owed = 0;
	ev_timer_stop(n->loop, &n->drain_timer);
	/* A BGP-mode drain (hacd/bgp.c) is not over with the handover. */
	if (n->chan.drain_wanted && !bgp_wants_drain(&n->bgp))
		channel_send_drain(&n->chan, 0);
}

static void gate_update(struct node *n, size_t v);

static void clear_yield(struct node *n, size_t v)
{
	n->vips[v].yield_to = -1;
	n->vips[v].yield_armed = 0;
	n->vips[v].gate_wait = 0;
	gate_update(n, v);
	drain_off_if_idle(n);
}

/* The linger after a planned handover is over: remove the address (unless
 * this node won the VIP back meanwhile) and end the drain. */
static void linger_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct node_vip *nv = t->data;
	struct node *n = nv->node;
	size_t v = (size_t)(nv - n->vips);
	const struct vip_addr *va = &n->cfg->vips[v].addr;

	(void)loop;
	nv->lingering = 0;
	if (nv->st.role != ELECTION_MASTER && n->vip != NULL && vip_del(n->vip, va) == -1)
		log_warnx("vip %s %s: removal failed; retried every second", n->cfg->vips[v].name, va->text);
	gate_update(n, v);
	drain_off_if_idle(n);
}

/* The one place a VIP's state changes. */
static void apply_result(struct node *n, size_t v, const struct election_result *r)
{
	const struct hacd_config *cfg = n->cfg;
	struct node_vip *nv = &n->vips[v];
	const struct vip_addr *va = &cfg->vips[v].addr;
	enum election_role from = nv->st.role, to = r->next.role;
	char other[80] = "";
	uint64_t now = ev_now(n->loop);

	if (r->other >= 0 && (size_t)r->other < cfg->nnodes)
		snprintf(other, sizeof(other), " [%s]", cfg->nodes[r->other].name);
	else if (to == ELECTION_FAULT)
		fault_cause(n, v, other, sizeof(other));
	nv->st = r->next;
	if (r->actions & ELECTION_ACT_DEL) {
		ev_timer_stop(n->loop, &nv->garp_timer);
		nv->garp_left = 0;
		if (r->yield_done && n->vip != NULL) {
			nv->lingering = 1;
			ev_timer_start(n->loop, &nv->linger_timer, NODE_LINGER_MS);
		} else if (n->vip != NULL && vip_del(n->vip, va) == -1) {
			log_warnx("vip %s %s: removal failed; retried every second", cfg->vips[v].name, va->text);
		}
	}
	if (r->actions & ELECTION_ACT_ADD) {
		nv->lingering = 0;
		ev_timer_stop(n->loop, &nv->linger_timer);
		/* Won back during the linger: let new connections in again. */
		gate_update(n, v);
		if (n->vip != NULL && vip_add(n->vip, va) == -1)
			log_warnx("vip %s %s: add failed; retried every second", cfg->vips[v].name, va->text);
	}
	if (r->actions & ELECTION_ACT_ANNOUNCE)
		announce(n, v);
	if (from != to) {
		nv->since_ms = now;
		nv->reason = r->reason;
		if ((unsigned)to < NODE_ROLES)
			nv->transitions[to]++;
		node_event(n, "vip %s %s on %s: %s -> %s: %s%s", cfg->vips[v].name, va->text, va->ifname,
		    election_role_str(from), election_role_str(to), r->reason, other);
		run_notify(n, v, from, to, r->reason);
	} else if (r->actions & ELECTION_ACT_ANNOUNCE) {
		node_event(n, "vip %s %s: %s%s", cfg->vips[v].name, va->text, r->reason, other);
	}
	if (r->yield_done) {
		node_event(n, "vip %s: planned failover to %s complete", cfg->vips[v].name,
		    nv->yield_to >= 0 ? cfg->nodes[nv->yield_to].name : "?");
		clear_yield(n, v);
	} else if (r->yield_failed && nv->yield_to >= 0) {
		node_event(n, "vip %s: planned failover to %s abandoned (target dead, resigned, or this node no longer owner)",
		    cfg->vips[v].name, cfg->nodes[nv->yield_to].name);
		clear_yield(n, v);
	}
	/* Counted once per wait, however many steps it lasts. */
	if (r->preempt_unheard && !nv->preempt_unheard)
		n->preempt_unheard++;
	nv->preempt_unheard = r->preempt_unheard;
	if (r->reeval_ms > 0)
		ev_timer_start(n->loop, &nv->reeval_timer, r->reeval_ms > now ? r->reeval_ms - now : 0);
	else
		ev_timer_stop(n->loop, &nv->reeval_timer);
}

/* When peer i's claim grace ends (NODE_CLAIM_GRACE_ADVERTS), 0 if it has none. */
static uint64_t claim_grace_until(const struct node *n, size_t i)
{
	const struct peer *p = &n->peers.peers[i];

	if (!n->cfg->quorum || p->alive || p->last_heard_ms == 0)
		return 0;
	return p->last_heard_ms + peer_dead_after_ms(&n->peers, i) + NODE_CLAIM_GRACE_ADVERTS * n->cfg->advert_ms;
}

static void eval_vip(struct node *n, size_t v)
{
	const struct hacd_config *cfg = n->cfg;
	struct election_node nodes[HACD_MAX_NODES];
	struct election_view view;
	struct election_result r;
	int fault = 0;

	/* No election for a BGP-mode group: hacd/bgp.c decides its route. */
	if (cfg->vips[v].bgp)
		return;
	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];

		nodes[i].name = cfg->nodes[i].name;
		if (i == cfg->self) {
			nodes[i].alive = 1;
			nodes[i].prio = node_effective_prio(n, v, &fault);
			nodes[i].role = n->vips[v].st.role;
			nodes[i].yield_to = -1;
			nodes[i].hears_self = 1;
			nodes[i].no_quorum = 0;
		} else {
			uint64_t until = claim_grace_until(n, i);

			nodes[i].alive = p->alive;
			if (!p->alive && p->vips[v].role == ELECTION_MASTER &&
			    n->vips[v].st.role != ELECTION_MASTER && until > ev_now(n->loop)) {
				nodes[i].alive = 1;
				if (n->grace_next == 0 || until < n->grace_next)
					n->grace_next = until;
			}
			nodes[i].prio = p->vips[v].prio;
			nodes[i].role = p->vips[v].role;
			nodes[i].yield_to = p->vips[v].yield_to;
			nodes[i].hears_self = p->hears_self;
			/* A witness's own count does not matter: it never claims. */
			nodes[i].no_quorum = cfg->quorum && !p->quorate && !cfg->nodes[i].witness;
		}
	}
	memset(&view, 0, sizeof(view));
	view.now_ms = ev_now(n->loop);
	view.nodes = nodes;
	view.nnodes = cfg->nnodes;
	view.self = cfg->self;
	view.self_fault = fault;
	view.self_no_quorum = !node_quorate(n);
	view.self_yield_to = n->vips[v].yield_armed ? n->vips[v].yield_to : -1;
	view.preempt = cfg->vips[v].preempt;
	view.preempt_delay_ms = cfg->vips[v].preempt_delay_ms;
	view.startup_until_ms = n->startup_until_ms;
	view.peer_returned = n->peer_returned;
	election_step(&n->vips[v].st, &view, &r);
	apply_result(n, v, &r);
}

/* The configured nodes as quorum_count and quorum_witness_vote see them. */
static void fill_voters(const struct node *n, struct quorum_voter *qv)
{
	const struct hacd_config *cfg = n->cfg;

	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];

		qv[i].name = cfg->nodes[i].name;
		qv[i].witness = cfg->nodes[i].witness;
		qv[i].alive = i == cfg->self ? 1 : p->alive;
		qv[i].votes_for_self = p->vote_for == (int)cfg->self;
		qv[i].claims = 0;
		for (size_t v = 0; v < cfg->nvips && i != cfg->self; v++)
			qv[i].claims += p->vips[v].role == ELECTION_MASTER;
	}
}

/* Count the votes; log (once per change) and count a lost majority. A
 * majority regained is a start-up of its own, as a link that comes back:
 * cut off, this node heard only its own side, so it listens for the dead
 * interval (or until it hears every node, or an owner) before it claims. */
static void update_quorum(struct node *n)
{
	const struct hacd_config *cfg = n->cfg;
	struct quorum_voter qv[HACD_MAX_NODES];
	int known = n->quorum.needed != 0, was = node_quorate(n);

	fill_voters(n, qv);
	quorum_count(qv, cfg->nnodes, cfg->self, &n->quorum);
	if (!cfg->quorum || n->witness)
		return;
	if (known && was == n->quorum.quorate)
		return;
	if (n->quorum.quorate) {
		uint64_t until = ev_now(n->loop) + cfg->dead_intervals * cfg->advert_ms;

		if (known && until > n->startup_until_ms)
			n->startup_until_ms = until;
		node_event(n, "quorum: %u of %zu votes, %u needed: this node may hold VIPs", n->quorum.seen,
		    cfg->nnodes, n->quorum.needed);
	} else {
		if (known)
			n->quorum_lost++;
		node_event(n, "quorum %s: %u of %zu votes, %u needed: this node holds no VIP and claims none",
		    known ? "lost" : "not yet", n->quorum.seen, cfg->nnodes, n->quorum.needed);
	}
}

/* A witness gives its vote (hacd/quorum.c), once it has heard the cluster:
 * every node, or for the dead interval after its start, so a restarted
 * witness does not hand its vote to the first node it hears while the
 * owner's heartbeat is still on its way. Returns 1 if the vote moved. */
static int witness_vote(struct node *n)
{
	const struct hacd_config *cfg = n->cfg;
	struct quorum_voter qv[HACD_MAX_NODES];
	uint64_t now = ev_now(n->loop);
	int all = 1, vf;

	fill_voters(n, qv);
	for (size_t i = 0; i < cfg->nnodes; i++)
		all &= qv[i].alive;
	if (n->vote_for < 0 && !all && now < n->startup_until_ms) {
		ev_timer_start(n->loop, &n->quorum_timer, n->startup_until_ms - now);
		return 0;
	}
	vf = quorum_witness_vote(qv, cfg->nnodes, n->vote_for);
	if (vf == n->vote_for)
		return 0;
	node_event(n, "witness: vote %s -> %s", n->vote_for >= 0 ? cfg->nodes[n->vote_for].name : "nobody",
	    vf >= 0 ? cfg->nodes[vf].name : "nobody");
	n->vote_for = vf;
	n->vote_moves++;
	return 1;
}

static void quorum_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	schedule_eval(t->data);
}

static void eval_all(struct node *n)
{
	int send = 0, fault;

	update_quorum(n);
	if (n->witness) {
		if (witness_vote(n) || n->peer_returned)
			send_heartbeat(n);
		n->peer_returned = 0;
		return;
	}
	n->grace_next = 0;
	for (size_t v = 0; v < n->cfg->nvips; v++) {
		enum election_role before = n->vips[v].st.role;

		eval_vip(n, v);
		if (n->vips[v].st.role != before ||
		    node_effective_prio(n, v, &fault) != n->vips[v].adv_prio)
			send = 1;
	}
	if (n->grace_next > 0)
		ev_timer_start(n->loop, &n->grace_timer,
		    n->grace_next > ev_now(n->loop) ? n->grace_next - ev_now(n->loop) : 0);
	else
		ev_timer_stop(n->loop, &n->grace_timer);
	/* A peer that came back waits for our heartbeat to name it before
	 * it may preempt: tell it now rather than an interval later. */
	if (n->peer_returned)
		send = 1;
	n->peer_returned = 0;
	bgp_eval(&n->bgp);
	/* Peers learn of a transition now rather than an interval later:
	 * make-before-break handovers and split-brain healing wait on it. */
	if (send)
		send_heartbeat(n);
}

static void eval_defer_cb(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	eval_all(d->data);
}

static void reeval_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct node_vip *nv = t->data;

	(void)loop;
	schedule_eval(nv->node);
}

static void on_peer_changed(void *arg, size_t node, const char *what)
{
	struct node *n = arg;

	if (what != NULL)
		node_event(n, "peer %s: %s", n->cfg->nodes[node].name, what);
	if (what != NULL && strcmp(what, "alive") == 0) {
		n->peer_returned = 1;
		repl_peer_alive(&n->repl, node);
	} else if (what != NULL && strncmp(what, "dead", 4) == 0) {
		repl_peer_dead(&n->repl, node);
	}
	schedule_eval(n);
}

/* Advertise the handover of VIP only (or of every VIP waiting, only < 0). */
static void arm_yields_of(struct node *n, int only, const char *why)
{
	int any = 0, waiting = 0;

	for (size_t v = 0; v < n->cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];

		if (nv->yield_to < 0 || nv->yield_armed)
			continue;
		if (only < 0 || (size_t)only == v) {
			/* The drain bound ran out first (a slow nft): drain now. */
			if (nv->gate_wait)
				gate_given_up(n, v, why);
			nv->yield_armed = 1;
			gate_update(n, v);
			any = 1;
		} else {
			waiting = 1;
		}
	}
	if (any) {
		if (only < 0)
			log_info("planned failover: advertising the handover (%s)", why);
		else
			log_info("planned failover: advertising the handover of %s (%s)",
			    n->cfg->vips[only].name, why);
		if (!waiting) {
			ev_timer_stop(n->loop, &n->drain_timer);
			ev_timer_stop(n->loop, &n->gate_timer);
		}
		drain_if_gated(n);
		schedule_eval(n);
		send_heartbeat(n);
	}
}

static void arm_yields(struct node *n, const char *why)
{
	arm_yields_of(n, -1, why);
}

/* While a handover drains: a VIP whose new connections are held off and
 * that has none open any more can move now, whatever the node's other VIPs
 * carry (proxyd's own "quiet" counts every connection, so it never comes
 * on a node that keeps serving another VIP). */
static void gate_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct node *n = t->data;
	int waiting = 0;

	for (size_t v = 0; v < n->cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];

		if (nv->yield_to < 0 || nv->yield_armed)
			continue;
		if (gate_held(&nv->gate) && gate_conns(&n->cfg->vips[v].addr) == 0)
			arm_yields_of(n, (int)v, "new connections held off, none open");
		else
			waiting = 1;
	}
	if (waiting)
		ev_timer_start(loop, t, NODE_GATE_POLL_MS);
}

/* A VIP's gate is closed from the start of its handover, while it drains,
 * while the handover is advertised and the target has yet to claim, and
 * through the linger that follows, until the address is gone (or won back,
 * or the handover abandoned). A SYN that still reaches the old owner after
 * the drain (a client whose neighbour entry has not taken the target's
 * announcement yet: Linux ignores a gratuitous ARP within locktime, 1 s, of
 * the entry's last update) must not be accepted there: once the client's
 * entry moves, its next segment reaches the target, which has no such
 * connection and resets it. A WebSocket opened in the linger was cut that
 * way in the soak. Dropped, the SYN is retransmitted after 1 s and reaches
 * the target. (Lifted when the handover was advertised and set again for
 * the linger, the gate let such SYNs in for the round trip between.) */
static void gate_update(struct node *n, size_t v)
{
	struct node_vip *nv = &n->vips[v];
	int hold = nv->yield_to >= 0 || nv->lingering;

	if (hold || gate_busy(&nv->gate) || nv->gate.want)
		gate_set(&nv->gate, n->cfg->nft, &n->cfg->vips[v].addr, hold);
}

static void drain_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	arm_yields(t->data, "drain wait over");
}

/* A node's replicated drain entry changed (hactl drain|enable NODE on any
 * node, hacd/repl.c): this node's goes to its BGP routes; the others' are
 * theirs to act on. A state other than ready (maint, from a newer peer)
 * reads as drained. */
static void on_node_admin(void *arg, const char *node, int state, const char *origin)
{
	struct node *n = arg;

	if (strcmp(node, n->cfg->nodes[n->cfg->self].name) == 0)
		bgp_node_drain(&n->bgp, state != TANDEM__ADMIN_STATE__ADMIN_READY, origin);
}

static void on_channel_changed(void *arg)
{
	struct node *n = arg;

	node_event(n, "proxyd %s%s", channel_ready(&n->chan) ? "ready" : "not ready",
	    n->chan.draining ? " (draining)" : "");
	/* Hand over when the drained proxyd has no connection open (the drain
	 * timer is the bound when traffic never pauses). */
	if (n->chan.draining && n->chan.quiet)
		arm_yields(n, "proxyd drained, no connection open");
	schedule_eval(n);
}

/* ---- VIP presence and link state -------------------------------------- */

static void recheck(struct node *n)
{
	const struct hacd_config *cfg = n->cfg;
	int changed = 0;

	if (n->vip == NULL)
		return;
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];
		const struct vip_addr *va = &cfg->vips[v].addr;
		int up = vip_link_up(n->vip, va->ifname), present;

		if (up != -1 && (up == 0) != nv->link_down) {
			int logged = 0;

			nv->link_down = up == 0;
			/* A link that comes back is a start-up of its own: while it
			 * was down this node heard nobody and thinks every peer
			 * dead, so it must listen for dead_intervals before it
			 * claims, or it grabs the VIP from a live owner at once,
			 * past preempt_delay, with its neighbour entries still
			 * unresolved (the election treats FAULT before
			 * startup_until_ms as start-up). */
			if (up == 1) {
				uint64_t until = ev_now(n->loop) + cfg->dead_intervals * cfg->advert_ms;

				if (until > n->startup_until_ms)
					n->startup_until_ms = until;
			}
			/* One line per interface, however many VIPs it carries. */
			for (size_t w = 0; w < v; w++)
				logged |= strcmp(cfg->vips[w].addr.ifname, va->ifname) == 0;
			if (!logged)
				node_event(n, "interface %s: link %s", va->ifname, up ? "up" : "down");
			changed = 1;
		}
		if (cfg->vips[v].bgp)
			continue;   /* held on every node: hacd/bgp.c checks it */
		present = vip_present(n->vip, va);
		if (present == 0 && nv->st.role == ELECTION_MASTER) {
			node_event(n, "vip %s %s: removed behind hacd's back: putting it back",
			    cfg->vips[v].name, va->text);
			if (vip_add(n->vip, va) == 0)
				announce(n, v);
		} else if (present == 1 && nv->st.role != ELECTION_MASTER && !nv->lingering) {
			node_event(n, "vip %s %s: present while this node is %s: removing it",
			    cfg->vips[v].name, va->text, election_role_str(nv->st.role));
			vip_del(n->vip, va);
		}
	}
	if (changed)
		schedule_eval(n);
}

static void recheck_defer_cb(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	recheck(d->data);
}

static void tick_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct node *n = t->data;

	peer_table_connect(&n->peers);
	for (size_t v = 0; v < n->cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];

		if (nv->yield_to < 0 || ev_now(loop) < nv->yield_deadline_ms)
			continue;
		node_event(n, "vip %s: planned failover to %s abandoned: the target did not claim in time",
		    n->cfg->vips[v].name, n->cfg->nodes[nv->yield_to].name);
		clear_yield(n, v);
		schedule_eval(n);
	}
	/* Reconcile every gate with its VIP's state, whatever path changed it. */
	for (size_t v = 0; v < n->cfg->nvips; v++) {
		gate_update(n, v);
		gate_retry(&n->vips[v].gate);
	}
	recheck(n);
	if (!n->witness)   /* a witness announces nothing, BGP routes neither */
		bgp_tick(&n->bgp);
	nodestatus_send(n);
	ev_timer_start(loop, t, NODE_TICK_MS);
}

static void monitor_event_cb(void *arg, int event, const char *ifname)
{
	struct node *n = arg;

	(void)event;
	(void)ifname;
	ev_defer(n->loop, &n->recheck_defer);
}

static void monitor_io_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct node *n = w->data;

	(void)loop;
	(void)revents;
	vip_monitor_read(n->vip, monitor_event_cb, n);
}

/* ---- script checks ---------------------------------------------------- */

static void check_exit_cb(void *arg, pid_t pid, int status)
{
	struct node_check *c = arg;
	struct node *n = c->node;
	size_t i = (size_t)(c - n->checks);
	int ok = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0;

	(void)pid;
	c->pid = 0;
	if (i >= n->cfg->nchecks)
		return;
	if (ok != c->ok) {
		c->ok = ok;
		node_event(n, "check %s: %s (%s)", n->cfg->checks[i].name, ok ? "passing" : "failing",
		    status == -1 ? "timed out" : WIFEXITED(status) ? "exit status" : "killed by a signal");
		schedule_eval(n);
	}
}

static void check_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct node_check *c = t->data;
	struct node *n = c->node;
	size_t i = (size_t)(c - n->checks);
	const struct hacd_check_conf *cc = &n->cfg->checks[i];
	char *argv[] = { "/bin/sh", "-c", (char *)cc->command, NULL };

	ev_timer_start(loop, t, cc->interval_ms);
	if (c->pid != 0)
		return;   /* still running: its timeout will end it */
	c->pid = proc_spawn(&n->procs, argv, NULL, cc->timeout_ms, check_exit_cb, c);
	if (c->pid == -1) {
		c->pid = 0;
		log_warn("check %s: cannot start", cc->name);
	}
}

static void start_checks(struct node *n)
{
	for (size_t i = 0; i < HACD_MAX_CHECKS; i++) {
		struct node_check *c = &n->checks[i];

		c->node = n;
		c->ok = 1;
		ev_timer_init(&c->timer, check_timer_cb, c);
		if (i < n->cfg->nchecks)
			ev_timer_start(n->loop, &c->timer, 0);
	}
}

static void stop_checks(struct node *n)
{
	for (size_t i = 0; i < HACD_MAX_CHECKS; i++) {
		ev_timer_stop(n->loop, &n->checks[i].timer);
		proc_forget(&n->procs, &n->checks[i]);
		n->checks[i].pid = 0;
	}
}

/* ---- life cycle ------------------------------------------------------- */

int node_init(struct node *n, struct ev_loop *loop, struct hacd_config *cfg,
    struct wire_keyring *kr, uint64_t epoch, const char *rundir)
{
	char path[HACD_PATH_MAX];
	struct channel_policy pol;
	int fd;

	memset(n, 0, sizeof(*n));
	n->loop = loop;
	n->cfg = cfg;
	n->kr = kr;
	n->epoch = epoch;
	n->chan.lfd = -1;
	n->start_ms = ev_now(loop);
	/* The same wait a backup gives a silent owner before it claims. */
	n->startup_until_ms = n->start_ms + cfg->dead_intervals * cfg->advert_ms;
	ev_timer_init(&n->hb_timer, hb_cb, n);
	ev_timer_init(&n->tick_timer, tick_cb, n);
	ev_timer_init(&n->drain_timer, drain_timer_cb, n);
	ev_timer_init(&n->gate_timer, gate_timer_cb, n);
	ev_timer_init(&n->stop_timer, stop_poll_cb, n);
	ev_timer_init(&n->quorum_timer, quorum_timer_cb, n);
	ev_timer_init(&n->grace_timer, quorum_timer_cb, n);
	n->witness = cfg->nodes[cfg->self].witness;
	n->vote_for = -1;
	ev_defer_init(&n->eval_defer, eval_defer_cb, n);
	ev_defer_init(&n->recheck_defer, recheck_defer_cb, n);
	ev_defer_init(&n->hb_defer, hb_defer_cb, n);
	for (size_t v = 0; v < HACD_MAX_VIPS; v++) {
		struct node_vip *nv = &n->vips[v];

		election_state_init(&nv->st);
		nv->node = n;
		nv->yield_to = -1;
		nv->reason = "start-up";
		nv->since_ms = n->start_ms;
		ev_timer_init(&nv->garp_timer, garp_cb, nv);
		ev_timer_init(&nv->reeval_timer, reeval_cb, nv);
		ev_timer_init(&nv->linger_timer, linger_cb, nv);
		gate_init(&nv->gate, &n->procs);
		gate_notify(&nv->gate, on_gate_done, n);
	}
	/* A predecessor that crashed mid-handover must not leave a VIP's new
	 * connections held off. */
	gate_clear_all(cfg->nft);
	peer_table_init(&n->peers, loop, cfg, kr, epoch, on_peer_changed, n);
	peer_table_set_kick(&n->peers, on_peer_kick, n);
	if (proc_table_init(&n->procs, loop) == -1) {
		log_warn("cannot watch SIGCHLD");
		return -1;
	}
	if (peer_table_open(&n->peers) == -1) {
		char a[128];

		log_warn("cannot bind the heartbeat socket to %s",
		    net_addr_str((const struct sockaddr *)&cfg->nodes[cfg->self].addr, a, sizeof(a)));
		return -1;
	}
	/* A witness holds no VIP: no netlink, no address ever touched. */
	n->vip = n->witness ? NULL : vip_ctx_new();
	if (n->vip == NULL && !n->witness) {
		log_warnx("cannot open netlink for VIP management");
		return -1;
	}
	fd = n->vip != NULL ? vip_monitor_fd(n->vip) : -1;
	if (fd >= 0) {
		ev_io_init(&n->mon_io, fd, monitor_io_cb, n);
		ev_io_start(loop, &n->mon_io, EV_READ);
	} else if (!n->witness) {
		log_warnx("no netlink monitor: VIP removal and link changes are seen by the 1 s poll only");
	}
	snprintf(path, sizeof(path), "%s/hacd.chan", rundir);
	pol.has_proxyd_uid = cfg->has_proxyd_uid;
	pol.proxyd_uid = cfg->proxyd_uid;
	pol.allow_root = cfg->chan_allow_root;
	pol.replace = cfg->chan_replace;
	if (!pol.has_proxyd_uid && getuid() == 0 && !pol.allow_root)
		log_warnx("channel: no proxyd_user in %s and hacd runs as root: no proxyd can connect "
		    "(set proxyd_user, or channel.allow_root)", cfg->path);
	if (channel_open(&n->chan, loop, path, &pol, on_channel_changed, n) == -1) {
		log_warn("cannot listen on %s", path);
		return -1;
	}
	n->chan_open = 1;
	if (repl_init(&n->repl, loop, cfg, &n->peers, &n->chan) == -1)
		return -1;
	n->repl.on_node_admin = on_node_admin;
	n->repl.node_admin_arg = n;
	/* A crashed predecessor may have left VIPs behind: holding one this
	 * node has not won would make a second owner. */
	for (size_t v = 0; v < cfg->nvips && n->vip != NULL; v++) {
		const struct vip_addr *va = &cfg->vips[v].addr;
		int up = vip_link_up(n->vip, va->ifname);

		if (!cfg->vips[v].bgp && vip_present(n->vip, va) == 1) {
			log_info("vip %s %s: present at start-up, removing it until this node wins it",
			    cfg->vips[v].name, va->text);
			vip_del(n->vip, va);
		}
		n->vips[v].link_down = up == 0;
		if (up == 0)
			log_info("interface %s: link down at start-up", va->ifname);
	}
	if (bgp_init(&n->bgp, n, rundir) == -1)
		return -1;
	start_checks(n);
	ev_timer_start(loop, &n->tick_timer, NODE_TICK_MS);
	send_heartbeat(n);
	schedule_eval(n);
	log_info("node %s: up%s (cluster %s, %zu nodes, %zu VIPs, advert %llu ms, epoch %llu)",
	    cfg->nodes[cfg->self].name, n->witness ? " as a witness (a vote, no VIP)" : "",
	    cfg->cluster, cfg->nnodes, cfg->nvips,
	    (unsigned long long)cfg->advert_ms, (unsigned long long)epoch);
	return 0;
}

void node_fini(struct node *n)
{
	struct hacd_config *cfg = n->cfg;

	if (cfg == NULL)
		return;
	ev_defer_cancel(n->loop, &n->eval_defer);
	ev_defer_cancel(n->loop, &n->recheck_defer);
	ev_defer_cancel(n->loop, &n->hb_defer);
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];

		if ((nv->st.role == ELECTION_MASTER || nv->lingering) && n->vip != NULL) {
			vip_del(n->vip, &cfg->vips[v].addr);
			log_info("vip %s %s: released at shutdown", cfg->vips[v].name, cfg->vips[v].addr.text);
		}
		nv->st.role = ELECTION_BACKUP;
		nv->yield_to = -1;
		nv->lingering = 0;
		ev_timer_stop(n->loop, &nv->linger_timer);
		ev_timer_stop(n->loop, &nv->garp_timer);
		ev_timer_stop(n->loop, &nv->reeval_timer);
	}
	/* Priority 0 and no claims: peers take over now, not after the dead
	 * interval. */
	n->maintenance = 1;
	if (n->peers.fd != -1)
		send_heartbeat(n);
	stop_checks(n);
	bgp_fini(&n->bgp);
	repl_fini(&n->repl);
	ev_timer_stop(n->loop, &n->hb_timer);
	ev_timer_stop(n->loop, &n->tick_timer);
	ev_timer_stop(n->loop, &n->drain_timer);
	ev_timer_stop(n->loop, &n->gate_timer);
	ev_timer_stop(n->loop, &n->stop_timer);
	ev_timer_stop(n->loop, &n->quorum_timer);
	ev_timer_stop(n->loop, &n->grace_timer);
	if (n->chan_open)
		channel_close(&n->chan);
	if (n->vip != NULL) {
		if (ev_io_active(&n->mon_io))
			ev_io_stop(n->loop, &n->mon_io);
		vip_ctx_free(n->vip);
		n->vip = NULL;
	}
	peer_table_fini(&n->peers);
	proc_table_fini(&n->procs);
	for (size_t v = 0; v < cfg->nvips; v++)
		if (gate_busy(&n->vips[v].gate)) {
			gate_clear_all(cfg->nft);
			break;
		}
	/* Nothing above may leave the node's own work queued: ev_loop_free
	 * runs what is still deferred (the streams' reapers), and these would
	 * run on a node already torn down. */
	ev_defer_cancel(n->loop, &n->eval_defer);
	ev_defer_cancel(n->loop, &n->recheck_defer);
	ev_defer_cancel(n->loop, &n->hb_defer);
	hacd_config_free(cfg);
	wire_keyring_free(n->kr);
	n->cfg = NULL;
	n->kr = NULL;
}

/* ---- operator commands ------------------------------------------------ */

/* The best other live node for VIP v (priority, then name), -1 none. */
static int best_target(const struct node *n, size_t v)
{
	const struct hacd_config *cfg = n->cfg;
	int best = -1;

	for (size_t i = 0; i < cfg->nnodes; i++) {
		const struct peer *p = &n->peers.peers[i];

		if (i == cfg->self || !p->alive || p->vips[v].prio == 0)
			continue;
		if (best < 0 || p->vips[v].prio > n->peers.peers[best].vips[v].prio ||
		    (p->vips[v].prio == n->peers.peers[best].vips[v].prio &&
		    strcmp(cfg->nodes[i].name, cfg->nodes[best].name) < 0))
			best = (int)i;
	}
	return best;
}

/* Start a handover of VIP v to target; the caller made sure this node owns it. */
static void begin_yield(struct node *n, size_t v, int target)
{
	uint64_t bound = n->cfg->advert_ms * 20;

	n->vips[v].yield_to = target;
	n->vips[v].yield_armed = 0;
	/* A target that never claims (it cannot hear us, or sees a better
	 * owner) must not leave proxyd draining for ever. */
	n->vips[v].yield_deadline_ms = ev_now(n->loop) + (bound < NODE_YIELD_MIN_MS ? NODE_YIELD_MIN_MS : bound);
	node_event(n, "vip %s: planned failover to %s requested", n->cfg->vips[v].name,
	    n->cfg->nodes[target].name);
	/* Without a proxyd there is nothing to drain (the request is kept for
	 * one that connects), and a quiet one has nothing open. */
	if (n->chan.conn == NULL || n->chan.quiet) {
		channel_send_drain(&n->chan, 1);
		arm_yields(n, n->chan.quiet ? "proxyd drained, no connection open" : "no proxyd connected");
		return;
	}
	/* New connections to the VIP are held off first (hacd/gate.h), then
	 * proxyd drains (Connection: close, idle keep-alives closed, HTTP/2
	 * GOAWAY), so the connections open to it end and none straddles the
	 * move; the drain waits for nft to have set the rule (drain_if_gated).
	 * The drain bound counts from here, the gate's few ms included. */
	n->vips[v].gate_wait = 1;
	n->drain_owed = 1;
	gate_update(n, v);
	if (!ev_timer_active(&n->drain_timer))
		ev_timer_start(n->loop, &n->drain_timer, NODE_DRAIN_WAIT_MS);
	ev_timer_start(n->loop, &n->gate_timer, NODE_GATE_POLL_MS);
	/* No gate to wait for (nft = "", or it could not start): drain now. */
	drain_if_gated(n);
}

int node_failover(struct node *n, const char *vip, const char *to, char *msg, size_t len)
{
	const struct hacd_config *cfg = n->cfg;
	size_t started = 0, off = 0;
	int target = -1, v0 = -1;

	msg[0] = '\0';
	if (vip != NULL && vip[0] != '\0') {
		v0 = hacd_config_vip(cfg, vip);
		if (v0 < 0) {
			snprintf(msg, len, "no VIP group or address \"%s\"", vip);
			return -1;
		}
	}
	if (to != NULL && to[0] != '\0') {
		target = hacd_config_node(cfg, to);
		if (target < 0) {
			snprintf(msg, len, "no node \"%s\"", to);
			return -1;
		}
		if ((size_t)target == cfg->self) {
			snprintf(msg, len, "--to %s is this node: run hactl failover on the owner", to);
			return -1;
		}
		if (!n->peers.peers[target].alive) {
			snprintf(msg, len, "node %s is not alive", to);
			return -1;
		}
	}
	for (size_t v = 0; v < cfg->nvips; v++) {
		int t = target;

		if (v0 >= 0 && (size_t)v0 != v)
			continue;
		if (n->vips[v].st.role != ELECTION_MASTER) {
			if (v0 >= 0) {
				const char *owner = node_vip_owner(n, v);

				snprintf(msg, len, "this node does not own %s; run hactl failover on its owner (%s)",
				    cfg->vips[v].name, owner ? owner : "none alive");
				return -1;
			}
			continue;
		}
		if (t < 0)
			t = best_target(n, v);
		if (t < 0 || n->peers.peers[t].vips[v].prio == 0) {
			off += (size_t)snprintf(msg + off, off < len ? len - off : 0,
			    "%s%s: no other live node can take it", off ? "; " : "", cfg->vips[v].name);
			continue;
		}
		begin_yield(n, v, t);
		started++;
		off += (size_t)snprintf(msg + off, off < len ? len - off : 0, "%s%s: handing over to %s",
		    off ? "; " : "", cfg->vips[v].name, cfg->nodes[t].name);
	}
	if (started == 0) {
		if (off == 0)
			snprintf(msg, len, "this node owns no VIP; run hactl failover on the owner");
		return -1;
	}
	schedule_eval(n);
	return 0;
}

int node_maintenance(struct node *n, int on, char *msg, size_t len)
{
	const struct hacd_config *cfg = n->cfg;
	size_t off = 0;

	if (on == n->maintenance) {
		snprintf(msg, len, "maintenance already %s", on ? "on" : "off");
		return 0;
	}
	n->maintenance = on;
	node_event(n, "maintenance %s", on ? "on" : "off");
	off += (size_t)snprintf(msg, len, "maintenance %s", on ? "on" : "off");
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct node_vip *nv = &n->vips[v];

		if (!on) {
			/* Back to the configured priority; failback follows preempt. */
			nv->st.yielded_to = -1;
			continue;
		}
		if (nv->st.role != ELECTION_MASTER || nv->yield_to >= 0)
			continue;
		int t = best_target(n, v);

		if (t < 0) {
			off += (size_t)snprintf(msg + off, off < len ? len - off : 0,
			    "; %s: no other live node, released", cfg->vips[v].name);
			continue;
		}
		begin_yield(n, v, t);
		off += (size_t)snprintf(msg + off, off < len ? len - off : 0, "; %s: handing over to %s",
		    cfg->vips[v].name, cfg->nodes[t].name);
	}
	schedule_eval(n);
	send_heartbeat(n);
	return 0;
}

int node_reload(struct node *n, char *msg, size_t len)
{
	struct conf_err err;
	struct hacd_config *nc;
	struct wire_keyring *kr;
	char kerr[512];

	nc = hacd_config_load(n->cfg->path, n->cfg->nodes[n->cfg->self].name, &err);
	if (nc == NULL) {
		snprintf(msg, len, "%s", err.msg);
		return -1;
	}
	if (hacd_config_reloadable(n->cfg, nc, &err) == -1) {
		snprintf(msg, len, "%s", err.msg);
		hacd_config_free(nc);
		return -1;
	}
	kr = wire_keyring_new();
	if (kr == NULL || wire_keyring_load(kr, nc->key_file, kerr, sizeof(kerr)) == -1) {
		snprintf(msg, len, "%s", kr == NULL ? "out of memory" : kerr);
		wire_keyring_free(kr);
		hacd_config_free(nc);
		return -1;
	}
	stop_checks(n);
	peer_table_set_config(&n->peers, nc, kr);
	if (n->repl.store != NULL)
		repl_set_config(&n->repl, nc);
	hacd_config_free(n->cfg);
	wire_keyring_free(n->kr);
	n->cfg = nc;
	n->kr = kr;
	start_checks(n);
	node_event(n, "configuration reloaded from %s", nc->path);
	snprintf(msg, len, "reloaded %s", nc->path);
	schedule_eval(n);
	send_heartbeat(n);
	return 0;
}

/* ---- graceful stop ---------------------------------------------------- */

/* One node per process: the stop callback needs no per-node storage. */
struct stop_ctx { void (*done)(void *); void *arg; uint64_t deadline_ms; };
static struct stop_ctx stop_ctx;

static int holds_any(const struct node *n)
{
	for (size_t v = 0; v < n->cfg->nvips; v++)
		if (n->vips[v].st.role == ELECTION_MASTER || n->vips[v].lingering)
			return 1;
	return bgp_holds(&n->bgp);
}

static void stop_poll_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct node *n = t->data;

	if (!holds_any(n) || ev_now(loop) >= stop_ctx.deadline_ms) {
		if (holds_any(n))
			log_warnx("stopping: handover not complete in time; releasing VIPs anyway");
		stop_ctx.done(stop_ctx.arg);
		return;
	}
	ev_timer_start(loop, t, 10);
}

void node_stop(struct node *n, void (*done)(void *arg), void *arg)
{
	uint64_t wait = n->cfg->advert_ms * 10;
	int handing = 0;

	if (n->stopping) {
		/* A second signal: stop now, without waiting for handovers. */
		done(arg);
		return;
	}
	n->stopping = 1;
	stop_ctx.done = done;
	stop_ctx.arg = arg;
	for (size_t v = 0; v < n->cfg->nvips; v++) {
		int t;

		if (n->vips[v].st.role != ELECTION_MASTER || n->vips[v].yield_to >= 0)
			continue;
		t = best_target(n, v);
		if (t >= 0) {
			begin_yield(n, v, t);
			handing = 1;
		}
	}
	/* BGP-mode routes drain and are withdrawn first (hacd/bgp.c). */
	if (!handing && !bgp_holds(&n->bgp)) {
		done(arg);
		return;
	}
	if (wait < 1000)
		wait = 1000;
	/* Traffic that never pauses makes the drain take its whole bound, and
	 * after the target's claim the old owner keeps the address for the
	 * linger: a deadline of the drain bound alone ran out at the very
	 * moment of the handover and removed the VIPs with no linger, as the
	 * target was only just taking them. */
	wait += NODE_DRAIN_WAIT_MS + NODE_LINGER_MS;
	log_info("stopping: handing VIPs over first (at most %llu ms)", (unsigned long long)wait);
	stop_ctx.deadline_ms = ev_now(n->loop) + wait;
	schedule_eval(n);
	ev_timer_start(n->loop, &n->stop_timer, 10);
}
