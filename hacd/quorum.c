/*
 * hacd/quorum.c — majority votes and the witness's tie-break.
 *
 * With quorum = "majority" a node holds VIPs only while it counts more
 * than half of the configured nodes' votes, itself included: of two parts
 * of a cut cluster at most one can have a majority, so at most one part
 * has an owner (a 2+2+1 cut has none, which is the price: no owner is
 * better than two). A node counts a peer's vote for as long as it counts
 * the peer alive (hacd/peer.c: an authenticated heartbeat, proven fresh,
 * within the dead interval), so losing the majority takes the same dead
 * interval as noticing a dead owner.
 *
 * Two nodes cannot make a majority of one when their link breaks: each
 * sees 1 of 2. A witness is a third vote that holds no VIP, on another
 * host, in the spirit of corosync-qdevice's qnetd: both nodes may still
 * reach it when they cannot reach each other, so it must not simply count
 * for everyone it hears (each side would then see 2 of 3). It gives its
 * one vote to one node at a time and says which in its heartbeat; a node
 * counts the witness only when that vote names it. The witness votes for
 * the node that holds the VIPs (quorum_witness_vote), so a cut of the
 * pair's link leaves the owner with 2 of 3 and the other with 1 of 3:
 * exactly one owner, and the owner does not change. When the owner dies
 * the witness moves its vote to the survivor once it counts the owner
 * dead.
 */
#include "hacd/quorum.h"

#include <string.h>

void quorum_count(const struct quorum_voter *v, size_t n, size_t self, struct quorum_count *out)
{
	out->seen = 0;
	out->needed = (unsigned)(n / 2 + 1);
	for (size_t i = 0; i < n; i++) {
		if (i == self)
			out->seen++;
		else if (v[i].alive && (!v[i].witness || v[i].votes_for_self))
			out->seen++;
	}
	out->quorate = out->seen >= out->needed;
}

static int candidate(const struct quorum_voter *v, size_t n, int i)
{
	return i >= 0 && (size_t)i < n && v[i].alive && !v[i].witness;
}

int quorum_witness_vote(const struct quorum_voter *v, size_t n, int current)
{
	int best = -1;

	for (size_t i = 0; i < n; i++) {
		if (!candidate(v, n, (int)i))
			continue;
		if (best < 0 || v[i].claims > v[best].claims ||
		    (v[i].claims == v[best].claims &&
		    strcmp(v[i].name ? v[i].name : "", v[best].name ? v[best].name : "") < 0))
			best = (int)i;
	}
	if (candidate(v, n, current) && v[current].claims >= v[best].claims)
		return current;
	return best;
}
