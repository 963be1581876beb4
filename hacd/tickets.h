/*
 * hacd/tickets.h — the schedule of the cluster's TLS session-ticket keys:
 * when the node that makes keys makes the next one, and the key
 * itself, put into the replicated store (hacd/replica.h) so it travels to
 * every node in sealed datagrams and to every proxyd over the channel.
 *
 * A key made at rotation n is "pending" for a lead time (it decrypts, but
 * no node seals with it before its `created`), so every proxyd holds it
 * before any proxyd issues tickets under it; it seals for one rotation
 * period and keeps decrypting for one more, plus the lead. So a ticket is
 * good for at least one rotation period on every node, and at most three
 * keys are alive at once (previous, current, pending): the store's default
 * max_tickets. Pure schedule; tickets_make draws the randomness.
 */
#ifndef TANDEM_HACD_TICKETS_H
#define TANDEM_HACD_TICKETS_H

#include <stdint.h>

#include "hacd/replica.h"

#define TICKETS_MAX_LEAD_MS 10000   /* lead time: min(rotate / 2, this) */

struct tickets_plan {
	uint64_t created_unix_ms;   /* seals from then on */
	uint64_t expires_unix_ms;   /* created + 2 x rotate + lead */
};

/* The lead for a rotation period: min(rotate / 2, TICKETS_MAX_LEAD_MS). */
uint64_t tickets_lead_ms(uint64_t rotate_ms);

/*
 * Is a new key due at now? have: the store holds any key; newest_created:
 * the newest key's creation time. With no key, one is made that seals at
 * once; otherwise the next is made lead before newest + rotate, sealing at
 * max(newest + rotate, now). Returns 1 with *plan filled, 0 when not due
 * (or rotate_ms is 0).
 */
int tickets_plan_next(int have, uint64_t newest_created, uint64_t now_unix_ms, uint64_t rotate_ms,
    struct tickets_plan *plan);

/*
 * Draw a key (random id, 16-byte name, 32-byte secret from libsodium) with
 * plan's times and merge it into store as this node's (REPLICA_SRC_LOCAL:
 * exported to peers in the next delta), calling cb for the change like
 * replica_apply. The secret on the stack is wiped. 0, or -1 (store refused
 * it: no memory, or times outside the store's bounds).
 */
int tickets_make(struct replica *store, const struct tickets_plan *plan, uint64_t now_unix_ms,
    replica_change_cb cb, void *arg);

#endif /* TANDEM_HACD_TICKETS_H */
