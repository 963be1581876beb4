/*
 * hacd/election.h — who owns a VIP, as a pure function of what this node
 * has heard. No I/O and no clock: the caller passes the view (every node's
 * liveness, effective priority, claimed role and handover target) and the
 * current time, and gets back the role to take, the actions to perform and
 * when to ask again. hacd/node.c applies the result; tests/unit/
 * test_election.c drives it from tables on a fake clock.
 */
#ifndef TANDEM_HACD_ELECTION_H
#define TANDEM_HACD_ELECTION_H

#include <stddef.h>
#include <stdint.h>

/* Same order and values as tandem.VipRole, so a role crosses the wire as is. */
enum election_role {
	ELECTION_INIT = 0,   /* just started: waiting to hear the cluster */
	ELECTION_BACKUP = 1, /* does not hold the VIP */
	ELECTION_MASTER = 2, /* holds the VIP */
	ELECTION_FAULT = 3,  /* cannot serve (proxyd down, link down): no VIP */
};

/* "init", "backup", "master", "fault"; "invalid" otherwise. */
const char *election_role_str(enum election_role role);

/* One node as this node sees it, for one VIP. */
struct election_node {
	const char *name;        /* unique in the cluster; ties are broken on it */
	int alive;               /* authenticated heartbeat within the dead interval (self: 1) */
	unsigned prio;           /* effective priority for this VIP; 0 = resigned, never owns */
	enum election_role role; /* what the node claims in its heartbeats (ignored for self) */
	int yield_to;            /* index of the node it hands the VIP over to, -1 none (ignored for self) */
	int hears_self;          /* its latest heartbeat says it hears this node (ignored for self) */
	int no_quorum;           /* its latest heartbeat says it counts no majority (quorum on; ignored for self) */
};

/* Everything one decision depends on. */
struct election_view {
	uint64_t now_ms;
	const struct election_node *nodes;
	size_t nnodes;
	size_t self;                /* index of this node in nodes */
	int self_fault;             /* a fault check failed: give the VIP up at once */
	int self_no_quorum;         /* quorum on and this node counts no majority: give it up, claim nothing */
	int self_yield_to;          /* local planned-failover request: target index, -1 none */
	int preempt;                /* a better node may take the VIP from a live owner */
	uint64_t preempt_delay_ms;  /* ... once it has been the better node this long */
	uint64_t startup_until_ms;  /* before this, claim only after hearing every node */
	int peer_returned;          /* a peer became alive again since the last step */
};

/* Per-VIP memory of the election, owned by the caller, replaced by each step. */
struct election_state {
	enum election_role role;
	int preempt_pending;        /* we are better than the live owner, waiting for the delay */
	uint64_t preempt_since_ms;
	int yielded_to;             /* after a handover: do not preempt this node while it holds, -1 none */
	int contested;              /* another node claims the VIP while we hold it (split brain) */
};

#define ELECTION_ACT_ADD      0x1u /* configure the VIP and start announcing it */
#define ELECTION_ACT_DEL      0x2u /* remove the VIP */
#define ELECTION_ACT_ANNOUNCE 0x4u /* (re)send gratuitous ARP / unsolicited NA */

struct election_result {
	struct election_state next;
	unsigned actions;           /* ELECTION_ACT_* */
	uint64_t reeval_ms;         /* call again at this time even if nothing is heard; 0 = no need */
	const char *reason;         /* static text for the transition log line */
	int other;                  /* index of the node the reason names, -1 none */
	int yield_done;             /* the local handover request completed: clear it */
	int yield_failed;           /* the local handover request cannot proceed: clear it */
	int preempt_unheard;        /* a preemption is held back: the owner does not hear this node yet */
};

/* A fresh state: INIT, nothing pending. */
void election_state_init(struct election_state *st);

/*
 * One decision for one VIP. Accepts any view (indices out of range are
 * treated as "none"); never fails. Fills *out; the caller stores out->next
 * as the new state and performs out->actions. Pure: the same inputs always
 * give the same output.
 */
void election_step(const struct election_state *cur, const struct election_view *v,
    struct election_result *out);

#endif /* TANDEM_HACD_ELECTION_H */
