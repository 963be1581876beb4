/*
 * hacd/election.c — the VIP election: a pure function from what this node
 * has heard to the role it should take for one VIP.
 *
 * hacd/peer.c turns authenticated heartbeats into a view (who is alive, at
 * which effective priority, claiming which role, handing over to whom);
 * hacd/node.c calls election_step() for each VIP whenever that view changes
 * or a re-evaluation time passes, stores the returned state and performs the
 * returned actions through hacd/vip.c. Nothing here reads a clock, a socket
 * or a global, so tests/unit/test_election.c drives every rule from tables
 * on a fake clock. Because every node sees every other node's priority, the
 * owner is a function of the view: the highest effective priority alive,
 * ties broken by the node name that sorts first. The rules below keep that
 * owner from changing hands needlessly (an owner is never preempted on a tie,
 * only with preempt on and after the preempt delay) and make planned
 * handovers make-before-break.
 *
 * State diagram for one VIP (docs/man/hacd.8 shows the same):
 *
 *                 heard every node, or a node claims MASTER,
 *     +------+    or the start-up wait (3 intervals) ended      +--------+
 *     | INIT |------------------------------------------------->| BACKUP |
 *     +------+                                                  +--------+
 *        |                                                       |  ^  ^
 *        | fault                      highest priority alive and |  |  |
 *        v                            nobody claims; or preempt  |  |  | a better node claims
 *     +-------+  fault cleared        (on, delay over, the owner |  |  | (split brain, preempt);
 *     | FAULT |-----> BACKUP (INIT    hears us); or it yields    v  |  | handed over to the
 *     +-------+                                                 +--------+ target once it claims;
 *        ^   during start-up)   fault (any state): remove VIP    | MASTER | priority 0
 *        +-------------------------------------------------------+--------+
 *
 * No quorum (hacd/quorum.c) is a fault like any other, with its own reason.
 *
 * A MASTER that sees another node claim MASTER keeps the VIP if it has
 * precedence (priority, then name) and announces it again, on the first
 * sight of the contest and again when it ends, and whenever a peer becomes
 * reachable again (it may have claimed, announced and stepped down before
 * its claim ever reached us), so that every neighbour ends up with the
 * winner's MAC (the fix for keepalived's lingering stale ARP after a split
 * brain).
 *
 * A BACKUP preempts a live owner only once the owner's heartbeat says it
 * hears this node (election_node.hears_self): until then the claim could
 * not reach the owner, and both would hold the VIP. This matters when a
 * link comes back: the returning node hears the owner before its own
 * heartbeats get out (its neighbour entries are still unresolved), and
 * with preempt_delay 0 it would claim on the first heartbeat it heard. A
 * dead owner is not waited for: its VIP is taken as before.
 */
#include "hacd/election.h"

#include <string.h>

const char *election_role_str(enum election_role role)
{
	switch (role) {
	case ELECTION_INIT:   return "init";
	case ELECTION_BACKUP: return "backup";
	case ELECTION_MASTER: return "master";
	case ELECTION_FAULT:  return "fault";
	}
	return "invalid";
}

void election_state_init(struct election_state *st)
{
	memset(st, 0, sizeof(*st));
	st->role = ELECTION_INIT;
	st->yielded_to = -1;
}

static int valid_idx(const struct election_view *v, int i)
{
	return i >= 0 && (size_t)i < v->nnodes;
}

/* Precedence: higher priority, then the name that sorts first. Total on
 * distinct names, so every node that sees the same priorities agrees. */
static int better(const struct election_view *v, size_t a, size_t b)
{
	const struct election_node *na = &v->nodes[a], *nb = &v->nodes[b];

	if (na->prio != nb->prio)
		return na->prio > nb->prio;
	return strcmp(na->name ? na->name : "", nb->name ? nb->name : "") < 0;
}

/* Is node i (not self) alive and claiming the VIP? */
static int claims(const struct election_view *v, size_t i)
{
	return i != v->self && v->nodes[i].alive && v->nodes[i].role == ELECTION_MASTER;
}

/* The best candidate alive with a non-zero priority, self included; -1 none. */
static int best_alive(const struct election_view *v)
{
	int best = -1;

	for (size_t i = 0; i < v->nnodes; i++) {
		if (i != v->self && !v->nodes[i].alive)
			continue;
		if (v->nodes[i].prio == 0)
			continue;
		if (best < 0 || better(v, i, (size_t)best))
			best = (int)i;
	}
	return best;
}

static void become(struct election_result *out, enum election_role from,
    enum election_role to, const char *reason, int other)
{
	out->next.role = to;
	out->reason = reason;
	out->other = other;
	if (to == ELECTION_MASTER && from != ELECTION_MASTER)
		out->actions |= ELECTION_ACT_ADD | ELECTION_ACT_ANNOUNCE;
	if (to != ELECTION_MASTER && from == ELECTION_MASTER)
		out->actions |= ELECTION_ACT_DEL;
	if (to != ELECTION_MASTER)
		out->next.contested = 0;
	if (to == ELECTION_MASTER)
		out->next.preempt_pending = 0;
}

static void master_step(const struct election_state *cur, const struct election_view *v,
    struct election_result *out)
{
	const struct election_node *self = &v->nodes[v->self];
	int t = v->self_yield_to, lost_to = -1, contender = -1;

	if (t >= 0) {
		if (valid_idx(v, t) && (size_t)t != v->self && v->nodes[t].alive &&
		    v->nodes[t].prio > 0) {
			if (v->nodes[t].role == ELECTION_MASTER) {
				/* Make-before-break: the target holds the VIP now. */
				become(out, ELECTION_MASTER, ELECTION_BACKUP,
				    "planned failover: handed over to the target", t);
				out->next.yielded_to = t;
				out->yield_done = 1;
				return;
			}
			become(out, ELECTION_MASTER, ELECTION_MASTER,
			    "planned failover: waiting for the target to claim", t);
			return;
		}
		out->yield_failed = 1;
	}
	if (self->prio == 0) {
		become(out, ELECTION_MASTER, ELECTION_BACKUP, "priority 0: resigned", -1);
		return;
	}
	for (size_t i = 0; i < v->nnodes; i++) {
		if (!claims(v, i) || v->nodes[i].yield_to == (int)v->self)
			continue;
		if (better(v, i, v->self)) {
			if (lost_to < 0 || better(v, i, (size_t)lost_to))
				lost_to = (int)i;
		} else {
			contender = (int)i;
		}
	}
	if (lost_to >= 0) {
		become(out, ELECTION_MASTER, ELECTION_BACKUP,
		    "another owner has precedence (preempted or split brain)", lost_to);
		return;
	}
	if (contender >= 0) {
		become(out, ELECTION_MASTER, ELECTION_MASTER,
		    "split brain: also claimed by a node of lower precedence; announcing", contender);
		out->next.contested = 1;
		if (!cur->contested)
			out->actions |= ELECTION_ACT_ANNOUNCE;
		else
			out->reason = "split brain: still contested";
		return;
	}
	if (cur->contested) {
		become(out, ELECTION_MASTER, ELECTION_MASTER,
		    "split brain healed: sole owner, announcing again", -1);
		out->actions |= ELECTION_ACT_ANNOUNCE;
		return;
	}
	if (v->peer_returned) {
		/* A peer we could not hear may have claimed and announced the
		 * VIP meanwhile, and may already have stepped down before its
		 * claim reached us: announce so neighbours drop its MAC. */
		become(out, ELECTION_MASTER, ELECTION_MASTER,
		    "a peer is reachable again: announcing again", -1);
		out->actions |= ELECTION_ACT_ANNOUNCE;
		return;
	}
	become(out, ELECTION_MASTER, ELECTION_MASTER, "holding", -1);
}

static void backup_step(const struct election_state *cur, enum election_role from,
    const struct election_view *v, struct election_result *out)
{
	const struct election_node *self = &v->nodes[v->self];
	int holder = -1, best;

	if (v->self_yield_to >= 0)
		out->yield_failed = 1; /* only an owner can hand over */
	if (self->prio == 0) {
		become(out, from, ELECTION_BACKUP, "priority 0: not a candidate", -1);
		out->next.preempt_pending = 0;
		return;
	}
	for (size_t i = 0; i < v->nnodes; i++) {
		if (claims(v, i) && v->nodes[i].yield_to == (int)v->self) {
			become(out, from, ELECTION_MASTER,
			    "planned failover: the owner hands over to this node", (int)i);
			out->next.yielded_to = -1;
			return;
		}
	}
	for (size_t i = 0; i < v->nnodes; i++) {
		int t = v->nodes[i].yield_to;

		if (claims(v, i) && valid_idx(v, t) && v->nodes[t].alive) {
			become(out, from, ELECTION_BACKUP,
			    "planned failover between other nodes in progress", (int)i);
			out->next.preempt_pending = 0;
			return;
		}
	}
	for (size_t i = 0; i < v->nnodes; i++) {
		if (claims(v, i) && v->nodes[i].prio > 0 &&
		    (holder < 0 || better(v, i, (size_t)holder)))
			holder = (int)i;
	}
	best = best_alive(v);
	if (holder < 0) {
		out->next.preempt_pending = 0;
		if (best == (int)v->self)
			become(out, from, ELECTION_MASTER,
			    "no live owner: highest priority alive", -1);
		else
			become(out, from, ELECTION_BACKUP,
			    "no live owner: waiting for a better node to claim", best);
		return;
	}
	/* Preemption needs a strictly higher priority: an owner is never
	 * displaced on a tie, which would only move traffic for nothing. */
	if (best != (int)v->self || self->prio <= v->nodes[holder].prio) {
		out->next.preempt_pending = 0;
		become(out, from, ELECTION_BACKUP, "owner alive", holder);
		return;
	}
	if (!v->preempt) {
		out->next.preempt_pending = 0;
		become(out, from, ELECTION_BACKUP,
		    "owner has a lower priority but preempt is off", holder);
		return;
	}
	if (cur->yielded_to == holder) {
		out->next.preempt_pending = 0;
		become(out, from, ELECTION_BACKUP,
		    "owner took over by planned failover: not preempting", holder);
		return;
	}
	if (!cur->preempt_pending) {
		out->next.preempt_pending = 1;
		out->next.preempt_since_ms = v->now_ms;
	}
	if (v->now_ms - out->next.preempt_since_ms >= v->preempt_delay_ms) {
		/* Our claim must reach the owner, or both hold the VIP until
		 * it does: a node whose link just came back hears the owner
		 * before its own sends work (neighbour resolution). Only the
		 * owner can say it hears us; its next heartbeat that does
		 * moves the view and brings us back here. A dead owner is
		 * not waited for (no holder: the branch above). */
		if (!v->nodes[holder].hears_self) {
			become(out, from, ELECTION_BACKUP,
			    "preempt waits until the owner hears this node", holder);
			out->preempt_unheard = 1;
			return;
		}
		become(out, from, ELECTION_MASTER,
		    "preempting an owner of lower priority", holder);
		return;
	}
	out->reeval_ms = out->next.preempt_since_ms + v->preempt_delay_ms;
	become(out, from, ELECTION_BACKUP, "preempt delay running", holder);
}

void election_step(const struct election_state *cur, const struct election_view *v,
    struct election_result *out)
{
	enum election_role from = cur->role;
	int all_alive = 1, any_claim = 0, y;

	memset(out, 0, sizeof(*out));
	out->next = *cur;
	out->other = -1;
	if (v->self >= v->nnodes || v->nodes == NULL) {
		out->reason = "invalid view";
		return;
	}
	/* The handover mark lasts while its node holds the VIP. */
	y = out->next.yielded_to;
	if (y >= 0 && !(valid_idx(v, y) && claims(v, (size_t)y)))
		out->next.yielded_to = -1;

	/* Without a majority of the votes this node may be on the smaller
	 * side of a cut, where the other side elects an owner of its own
	 * (hacd/quorum.c): FAULT, so it holds nothing, and on regaining the
	 * majority it hears the cluster first, as after a start. */
	if (v->self_no_quorum) {
		become(out, from, ELECTION_FAULT, "no quorum: fewer than a majority of the votes heard", -1);
		out->next.preempt_pending = 0;
		out->yield_failed = v->self_yield_to >= 0;
		return;
	}
	if (v->self_fault) {
		become(out, from, ELECTION_FAULT, "fault: a tracked check failed", -1);
		out->next.preempt_pending = 0;
		out->yield_failed = v->self_yield_to >= 0;
		return;
	}
	/* FAULT too: a node whose proxyd connects a moment after start-up
	 * must still hear the cluster before it claims anything. */
	if (from == ELECTION_INIT || (from == ELECTION_FAULT && v->now_ms < v->startup_until_ms)) {
		for (size_t i = 0; i < v->nnodes; i++) {
			if (i == v->self)
				continue;
			/* A peer without its majority yet advertises priority
			 * 0 (it may not hold anything): deciding on that would
			 * give the VIP to a worse node while the better one is
			 * one heartbeat from its quorum. Its own start-up wait
			 * ends once it counts the majority, so this one waits
			 * for it as for a peer not heard (bounded the same). */
			if (!v->nodes[i].alive || v->nodes[i].no_quorum)
				all_alive = 0;
			else if (v->nodes[i].role == ELECTION_MASTER)
				any_claim = 1;
		}
		/* Claiming before hearing the cluster would make a restarted
		 * node a second owner for a moment. */
		if (v->now_ms < v->startup_until_ms && !all_alive && !any_claim) {
			out->next.role = ELECTION_INIT;
			out->reason = "start-up: waiting to hear the cluster";
			out->reeval_ms = v->startup_until_ms;
			out->yield_failed = v->self_yield_to >= 0;
			return;
		}
	}
	if (from == ELECTION_MASTER)
		master_step(cur, v, out);
	else
		backup_step(cur, from, v, out);
}
