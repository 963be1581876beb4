/*
 * hacd/quorum.h — who may hold VIPs when the cluster is cut in parts: the
 * vote count of quorum = "majority" and the vote of a witness
 * (hacd --witness), as pure functions of what a node has heard. No I/O and
 * no clock; hacd/node.c feeds them from the peer table, and
 * tests/unit/test_quorum.c drives them from tables. Module prefix: quorum_.
 */
#ifndef TANDEM_HACD_QUORUM_H
#define TANDEM_HACD_QUORUM_H

#include <stddef.h>

/* One configured node as this node sees it. */
struct quorum_voter {
	const char *name;
	int alive;          /* an accepted, fresh heartbeat within its dead interval (self: 1) */
	int witness;        /* configured as a witness */
	int votes_for_self; /* a witness: its latest heartbeat gives its vote to this node */
	unsigned claims;    /* VIPs it claims (MASTER) in its latest heartbeat; for the witness's choice */
};

struct quorum_count {
	unsigned seen;      /* this node, live non-witness peers, and witnesses voting for it */
	unsigned needed;    /* a strict majority of all configured nodes, witnesses included */
	int quorate;        /* seen >= needed */
};

/* Count the votes node `self` holds among the n configured nodes. */
void quorum_count(const struct quorum_voter *v, size_t n, size_t self, struct quorum_count *out);

/*
 * The node a witness gives its one vote to, or -1 for nobody: a live
 * non-witness node; the one it votes for now (`current`) while that one is
 * alive and claims no fewer VIPs than any other, else the live node that
 * claims the most VIPs, ties to the name that sorts first. Sticky, so the
 * vote follows the owner and never moves while its holder is alive and
 * still holds as much as anyone: a pair whose link breaks keeps its owner.
 */
int quorum_witness_vote(const struct quorum_voter *v, size_t n, int current);

#endif /* TANDEM_HACD_QUORUM_H */
