/*
 * hacd/bgp.c — VIP groups in mode "bgp" (see bgp.h), on hacd's loop.
 *
 * Where it sits: hacd/node.c runs the election for VRRP-style groups and
 * calls bgp_eval() from the same one evaluation per loop iteration; this
 * file decides, for each BGP-mode group, whether this node's route should
 * be up, and tells BIRD through hacd/bird.c. The route's state on this
 * node is assigned in one place (set_want for what hacd asks, bird_done
 * for what BIRD confirmed).
 *
 * When the route goes, and how:
 *  - at once when proxyd is gone or not ready, or a fault check fails (or
 *    the group's interface lost its carrier with track.interface): the
 *    node cannot serve, and a route to it only sends clients into a hole;
 *  - gracefully on hactl drain NODE, maintenance, a graceful stop, and a
 *    proxyd that drains on its own (SIGTERM): proxyd is asked to drain
 *    (Connection: close; idle keep-alives closed), new connections to the
 *    address are held off by the same nftables gate a planned VRRP-style
 *    handover uses (hacd/gate.h: the client's SYN is dropped and sent
 *    again 1 s later, RFC 6298 §2.1, by when the route is gone and the
 *    router sends it to another node; the gate is set first, and proxyd
 *    asked to drain only once nft has set it, or failed to), and the route
 *    is withdrawn once no
 *    connection to the address is open (or proxyd says it is quiet), at
 *    most NODE_DRAIN_WAIT_MS after the drain began. Withdrawing first
 *    would be wrong: a router that loses a next hop moves that next hop's
 *    flows to the others (with or without resilient next-hop groups), and
 *    the other nodes know nothing of those connections and reset them.
 * The route comes back only when proxyd says it is ready and not draining:
 * after a drain hacd first ends proxyd's drain, then waits for its status.
 *
 * The address stays on its (local) interface for as long as hacd runs,
 * announced or not: it is a host route on a loopback-like interface that
 * no neighbour resolves, so holding it costs nothing, and a segment of a
 * flow still in flight towards this node while the router converges is
 * answered instead of dropped.
 *
 * BIRD's side of each group is a static protocol the operator writes in
 * bird.conf (disabled at BIRD's start, exported to the BGP sessions):
 * hacd enables it to announce and disables it to withdraw; hacd writes no
 * BIRD configuration. Every second hacd asks again for what it wants
 * ("Already enabled" is BIRD's answer then), so a BIRD that restarted, and
 * came back with the protocol disabled, announces again within a second.
 */
#include "hacd/bgp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hacd/node.h"
#include "lib/log.h"

/* Same bounds as a planned VRRP-style handover (hacd/node.c says why). */
#define BGP_DRAIN_WAIT_MS 2500
#define BGP_POLL_MS       50
#define BGP_BIRD_TIMEOUT_MS 2000
/* The last word to BIRD at exit, when the loop no longer runs. */
#define BGP_FINI_TIMEOUT_MS 1000

static int is_bgp(const struct bgp *b, size_t v)
{
	return v < b->node->cfg->nvips && b->node->cfg->vips[v].bgp;
}

static void pump(struct bgp *b);

int bgp_announced(const struct bgp *b, size_t v)
{
	return is_bgp(b, v) && b->vips[v].have == 1 && b->vips[v].want == 1;
}

int bgp_holds(const struct bgp *b)
{
	for (size_t v = 0; v < b->node->cfg->nvips; v++)
		if (is_bgp(b, v) && (b->vips[v].want || b->vips[v].draining || b->vips[v].have != 0))
			return 1;
	return 0;
}

int bgp_wants_drain(const struct bgp *b)
{
	return b->drain_asked;
}

const char *bgp_state_str(const struct bgp *b, size_t v, const char **why)
{
	const struct bgp_vip *bv = &b->vips[v];

	*why = bv->why != NULL ? bv->why : "";
	if (bv->draining)
		return "draining";
	if (bv->want && bv->have == 1)
		return "announced";
	if (bv->want) {
		if (b->bird_last_error != NULL)
			*why = b->bird_last_error;
		return "pending";
	}
	if (bv->have != 0) {
		if (b->bird_last_error != NULL)
			*why = b->bird_last_error;
		return "withdrawing";
	}
	return "withdrawn";
}

/* The reply to the command pump() sent for group b->sending. */
static void bird_done(void *arg, int code, const char *text)
{
	struct bgp *b = arg;
	struct node *n = b->node;
	int v = b->sending;
	struct bgp_vip *bv;
	int was;

	b->sending = -1;
	if (v < 0 || !is_bgp(b, (size_t)v))
		return;
	bv = &b->vips[v];
	was = bv->have;
	if (code == -1 || !bird_code_ok(code)) {
		b->bird_failures++;
		bv->have = -1;
		bv->resend = 0;     /* next try at the tick, not in a tight loop */
		b->bird_last_error = code == -1 ? "BIRD unreachable" : "BIRD refused the command";
		if (code != -1)
			log_rl_warnx(&b->bird.rl, ev_now(n->loop), "bird %s: %s %s: %d %s (is bird_protocol "
			    "the name of a protocol in bird.conf?)", b->bird.path, b->sent_want ? "enable" : "disable",
			    n->cfg->vips[v].bird_protocol, code, text);
		return;
	}
	b->bird_last_error = NULL;
	bv->have = code == BIRD_ENABLED || code == BIRD_ALREADY_ENABLED ? 1 :
	    code == BIRD_DISABLED || code == BIRD_ALREADY_DISABLED ? 0 : b->sent_want;
	if (bv->have != was && bv->have != -1) {
		if (bv->have)
			bv->announces++;
		else
			bv->withdrawals++;
		node_event(n, "vip %s %s: route %s (%s%s%s)", n->cfg->vips[v].name, n->cfg->vips[v].addr.text,
		    bv->have ? "announced" : "withdrawn", bv->why ? bv->why : "",
		    bv->detail[0] ? " " : "", bv->detail);
		/* Peers show who announces what (hactl status): now, not an
		 * interval later. */
		ev_defer(n->loop, &n->hb_defer);
	}
	pump(b);
}

/* Send the next command BIRD needs, if none is under way. */
static void pump(struct bgp *b)
{
	const struct hacd_config *cfg = b->node->cfg;
	char cmd[64];

	if (bird_busy(&b->bird) || b->sending >= 0)
		return;
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct bgp_vip *bv = &b->vips[v];

		if (!cfg->vips[v].bgp || (bv->have == bv->want && !bv->resend))
			continue;
		if (bv->have == -1 && !bv->resend && b->bird_last_error != NULL)
			continue;   /* failed: the tick tries again */
		snprintf(cmd, sizeof(cmd), "%s %s", bv->want ? "enable" : "disable", cfg->vips[v].bird_protocol);
		bv->resend = 0;
		if (bird_command(&b->bird, cmd, bird_done, b) == -1) {
			b->bird_failures++;
			b->bird_last_error = "BIRD unreachable";
			bv->have = -1;
			return;
		}
		b->sending = (int)v;
		b->sent_want = bv->want;
		return;
	}
}

static void set_want(struct bgp *b, size_t v, int want, const char *why, const char *detail)
{
	struct bgp_vip *bv = &b->vips[v];

	if (bv->want != want) {
		bv->since_ms = ev_now(b->node->loop);
		log_info("vip %s: %s the route (%s%s%s)", b->node->cfg->vips[v].name,
		    want ? "announcing" : "withdrawing", why, detail[0] ? " " : "", detail);
	}
	bv->want = want;
	bv->why = why;
	snprintf(bv->detail, sizeof(bv->detail), "%s", detail);
}

/*
 * What group v's route should be, from the node's state. Returns 1 (up) or
 * 0 (down); *graceful says whether open connections may end first.
 */
static int decide(const struct bgp *b, size_t v, int *graceful, const char **why, char *detail, size_t len)
{
	const struct node *n = b->node;
	const struct hacd_config *cfg = n->cfg;

	*graceful = 0;
	detail[0] = '\0';
	if (n->chan.conn == NULL) {
		*why = "proxyd not connected";
		return 0;
	}
	for (size_t i = 0; i < cfg->nchecks; i++)
		if (!n->checks[i].ok && cfg->checks[i].weight == HACD_WEIGHT_FAULT) {
			*why = "check failing:";
			snprintf(detail, len, "%s", cfg->checks[i].name);
			return 0;
		}
	if (cfg->track_interface && n->vips[v].link_down) {
		*why = "link down on";
		snprintf(detail, len, "%s", cfg->vips[v].addr.ifname);
		return 0;
	}
	*graceful = 1;
	if (n->stopping) {
		*why = "hacd stopping";
		return 0;
	}
	if (n->maintenance) {
		*why = "maintenance";
		return 0;
	}
	if (b->node_drain) {
		*why = "node drained (hactl drain)";
		return 0;
	}
	if (n->chan.draining) {
		*why = "proxyd draining";
		return 0;
	}
	*graceful = 0;
	if (!n->chan.ready) {
		*why = "proxyd not ready";
		return 0;
	}
	/* A restarted node relearns a drain set for it (hactl drain NODE on
	 * any node) from its peers' bulk syncs: no route before one arrived,
	 * or a few seconds passed with none (hacd/repl.h). */
	if (!repl_admin_settled(&n->repl)) {
		*why = "waiting for the cluster's admin state";
		return 0;
	}
	*why = "proxyd ready";
	return 1;
}

/* Is a draining group's withdrawal due: no connection open to its address
 * with new ones held off, proxyd quiet, proxyd gone, or the bound over? */
static int drain_done(const struct bgp *b, size_t v)
{
	const struct node *n = b->node;
	const struct bgp_vip *bv = &b->vips[v];

	if (n->chan.conn == NULL || (n->chan.draining && n->chan.quiet))
		return 1;
	if (gate_held(&bv->gate) && gate_conns(&n->cfg->vips[v].addr) == 0)
		return 1;
	return ev_now(n->loop) >= bv->drain_deadline_ms;
}

/* No VRRP-style handover of this node needs proxyd drained: bgp.c may end
 * the drain it asked for. */
static int vrrp_drain_idle(const struct node *n)
{
	for (size_t v = 0; v < n->cfg->nvips; v++)
		if (!n->cfg->vips[v].bgp && (n->vips[v].yield_to >= 0 || n->vips[v].lingering))
			return 0;
	return 1;
}

/* Does the drain still wait for group v's gate? A drain asked before nft
 * has set the rule meets, in those few ms, clients whose SYN passed: a
 * draining proxyd answers them on a route about to go. A gate that cannot
 * be set (nft = "", nft failing) does not hold the drain back: said once. */
static int gate_pending(struct bgp *b, size_t v)
{
	struct bgp_vip *bv = &b->vips[v];
	const struct hacd_config *cfg = b->node->cfg;

	if (!bv->gate_wait)
		return 0;
	if (gate_held(&bv->gate)) {
		bv->gate_wait = 0;
	} else if (gate_failed(&bv->gate) || !bv->draining) {
		bv->gate_wait = 0;
		node_event(b->node, "vip %s: new connections not held off (%s): proxyd drains anyway",
		    cfg->vips[v].name, !bv->draining ? "withdrawn before nft had set it" :
		    cfg->nft[0] == '\0' ? "nft = \"\"" : "nft failed");
	}
	return bv->gate_wait;
}

void bgp_eval(struct bgp *b)
{
	struct node *n = b->node;
	const struct hacd_config *cfg = n->cfg;
	int any_draining = 0, want_drain = 0, gates_pending = 0;

	if (b->nbgp == 0)
		return;
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct bgp_vip *bv = &b->vips[v];
		const char *why;
		char detail[64];
		int graceful, up;

		if (!cfg->vips[v].bgp)
			continue;
		up = decide(b, v, &graceful, &why, detail, sizeof(detail));
		if (up) {
			bv->draining = 0;
			bv->gate_wait = 0;
			if (gate_busy(&bv->gate) || bv->gate.want)
				gate_set(&bv->gate, cfg->nft, &cfg->vips[v].addr, 0);
			set_want(b, v, 1, why, detail);
			continue;
		}
		if (!graceful || (bv->want == 0 && !bv->draining)) {
			bv->draining = 0;
			bv->gate_wait = 0;
			set_want(b, v, 0, why, detail);
			if (graceful)
				want_drain |= n->maintenance || n->stopping || b->node_drain;
			continue;
		}
		/* Graceful: drain first, withdraw once the connections ended. */
		want_drain |= n->maintenance || n->stopping || b->node_drain;
		if (!bv->draining) {
			bv->draining = 1;
			bv->why = why;
			snprintf(bv->detail, sizeof(bv->detail), "%s", detail);
			bv->drain_deadline_ms = ev_now(n->loop) + BGP_DRAIN_WAIT_MS;
			gate_set(&bv->gate, cfg->nft, &cfg->vips[v].addr, 1);
			bv->gate_wait = 1;
			log_info("vip %s: draining before the route is withdrawn (%s): new connections held off, "
			    "at most %d ms", cfg->vips[v].name, why, BGP_DRAIN_WAIT_MS);
		}
		if (drain_done(b, v)) {
			bv->draining = 0;
			set_want(b, v, 0, why, detail);
		} else {
			any_draining = 1;
		}
		gates_pending |= gate_pending(b, v);
	}
	if (want_drain && !b->drain_asked && !gates_pending) {
		b->drain_asked = 1;
		channel_send_drain(&n->chan, 1);
	} else if (!want_drain && b->drain_asked) {
		b->drain_asked = 0;
		if (vrrp_drain_idle(n))
			channel_send_drain(&n->chan, 0);
	}
	if (any_draining && !ev_timer_active(&b->poll))
		ev_timer_start(n->loop, &b->poll, BGP_POLL_MS);
	else if (!any_draining)
		ev_timer_stop(n->loop, &b->poll);
	pump(b);
}

static void poll_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct bgp *b = t->data;

	(void)loop;
	bgp_eval(b);
}

/* A gate's nft run ended: a drain may wait for it. */
static void gate_done(void *arg)
{
	bgp_eval(arg);
}

int bgp_init(struct bgp *b, struct node *n, const char *rundir)
{
	const struct hacd_config *cfg = n->cfg;
	char path[sizeof(b->bird.path)];

	memset(b, 0, sizeof(*b));
	b->node = n;
	b->sending = -1;
	ev_timer_init(&b->poll, poll_cb, b);
	if (cfg->bird_socket[0] == '/')
		snprintf(path, sizeof(path), "%s", cfg->bird_socket);
	else if (snprintf(path, sizeof(path), "%s/%s", rundir, cfg->bird_socket) >= (int)sizeof(path)) {
		log_warnx("bird.socket %s/%s: path too long for a unix socket", rundir, cfg->bird_socket);
		return -1;
	}
	bird_init(&b->bird, n->loop, path, BGP_BIRD_TIMEOUT_MS);
	for (size_t v = 0; v < HACD_MAX_VIPS; v++) {
		gate_init(&b->vips[v].gate, &n->procs);
		gate_notify(&b->vips[v].gate, gate_done, b);
		b->vips[v].have = -1;
		b->vips[v].why = "start-up";
	}
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct bgp_vip *bv = &b->vips[v];

		if (!cfg->vips[v].bgp)
			continue;
		b->nbgp++;
		/* Unknown until BIRD answers: the first evaluation sends
		 * "disable" (proxyd is not connected yet), so a route a crashed
		 * predecessor left announced goes. */
		bv->want = 0;
		bv->since_ms = ev_now(n->loop);
		if (n->vip != NULL && vip_add(n->vip, &cfg->vips[v].addr) == 0)
			bv->addr_held = 1;
		else if (n->vip != NULL)
			log_warnx("vip %s %s: cannot add it to %s; retried every second", cfg->vips[v].name,
			    cfg->vips[v].addr.text, cfg->vips[v].addr.ifname);
	}
	if (b->nbgp > 0)
		log_info("bgp: %zu VIP group(s) announced through BIRD at %s", b->nbgp, cfg->bird_socket);
	return 0;
}

void bgp_tick(struct bgp *b)
{
	struct node *n = b->node;
	const struct hacd_config *cfg = n->cfg;

	if (b->nbgp == 0)
		return;
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct bgp_vip *bv = &b->vips[v];
		const struct vip_addr *va = &cfg->vips[v].addr;

		if (!cfg->vips[v].bgp)
			continue;
		bv->resend = 1;
		gate_retry(&bv->gate);
		if (n->vip != NULL && vip_present(n->vip, va) == 0) {
			node_event(n, "vip %s %s: not on %s: putting it back", cfg->vips[v].name, va->text, va->ifname);
			if (vip_add(n->vip, va) == 0)
				bv->addr_held = 1;
		}
	}
	b->bird_last_error = NULL;
	bgp_eval(b);
}

void bgp_fini(struct bgp *b)
{
	struct node *n = b->node;
	const struct hacd_config *cfg;
	int gates = 0;

	if (n == NULL || b->nbgp == 0)
		return;
	cfg = n->cfg;
	ev_timer_stop(n->loop, &b->poll);
	bird_close(&b->bird);
	for (size_t v = 0; v < cfg->nvips; v++) {
		struct bgp_vip *bv = &b->vips[v];
		char cmd[64];
		int code;

		if (!cfg->vips[v].bgp)
			continue;
		if (bv->have != 0) {
			snprintf(cmd, sizeof(cmd), "disable %s", cfg->vips[v].bird_protocol);
			code = bird_command_sync(&b->bird, cmd, BGP_FINI_TIMEOUT_MS);
			if (code == -1 || !bird_code_ok(code))
				log_warnx("vip %s: cannot withdraw the route at exit (BIRD %s %d): it stays announced "
				    "until BIRD is told", cfg->vips[v].name, b->bird.path, code);
			else
				log_info("vip %s %s: route withdrawn at shutdown", cfg->vips[v].name, cfg->vips[v].addr.text);
		}
		if (bv->addr_held && n->vip != NULL)
			vip_del(n->vip, &cfg->vips[v].addr);
		gates |= gate_busy(&bv->gate);
	}
	if (gates)
		gate_clear_all(cfg->nft);
}

void bgp_node_drain(struct bgp *b, int on, const char *by)
{
	struct node *n = b->node;

	if (n == NULL || b->node_drain == on)
		return;
	b->node_drain = on;
	if (b->nbgp == 0)
		return;
	node_event(n, "node %s: %s (hactl on %s)", n->cfg->nodes[n->cfg->self].name,
	    on ? "drain: routes withdrawn once open connections end" : "back in service: routes announced once proxyd is ready",
	    by != NULL && by[0] != '\0' ? by : "?");
	bgp_eval(b);
}

void bgp_counters(const struct bgp *b, void (*add)(void *arg, const char *name, uint64_t v), void *arg)
{
	uint64_t ann = 0, wd = 0;

	if (b->nbgp == 0)
		return;
	for (size_t v = 0; v < HACD_MAX_VIPS; v++) {
		ann += b->vips[v].announces;
		wd += b->vips[v].withdrawals;
	}
	add(arg, "bgp-announces", ann);
	add(arg, "bgp-withdrawals", wd);
	add(arg, "bird-commands", b->bird.st.commands);
	add(arg, "bird-connects", b->bird.st.connects);
	add(arg, "bird-connect-failed", b->bird.st.connect_failed);
	add(arg, "bird-timeouts", b->bird.st.timeouts);
	add(arg, "bird-bad-replies", b->bird.st.bad_replies);
	add(arg, "bird-errors", b->bird.st.errors);
	add(arg, "bird-failures", b->bird_failures);
}
