/*
 * hacd/tickets.c — when the next TLS ticket key is due, and making it.
 * See tickets.h for the schedule and why it has a lead time.
 */
#include "hacd/tickets.h"

#include <sodium.h>
#include <string.h>

uint64_t tickets_lead_ms(uint64_t rotate_ms)
{
	return rotate_ms / 2 < TICKETS_MAX_LEAD_MS ? rotate_ms / 2 : TICKETS_MAX_LEAD_MS;
}

int tickets_plan_next(int have, uint64_t newest_created, uint64_t now_unix_ms, uint64_t rotate_ms,
    struct tickets_plan *plan)
{
	uint64_t lead = tickets_lead_ms(rotate_ms), next;

	if (rotate_ms == 0)
		return 0;
	if (!have) {
		next = now_unix_ms;
	} else {
		next = newest_created + rotate_ms;
		if (next > now_unix_ms + lead)
			return 0;
		/* Overdue (the maker was down, or clocks jumped): seal now
		 * rather than back-date a key no node has yet. */
		if (next < now_unix_ms)
			next = now_unix_ms;
	}
	plan->created_unix_ms = next;
	plan->expires_unix_ms = next + 2 * rotate_ms + lead;
	return 1;
}

int tickets_make(struct replica *store, const struct tickets_plan *plan, uint64_t now_unix_ms,
    replica_change_cb cb, void *arg)
{
	uint8_t name[REPLICA_TICKET_NAME_LEN], secret[REPLICA_TICKET_SECRET_LEN];
	Tandem__TicketKey k = TANDEM__TICKET_KEY__INIT, *kp = &k;
	Tandem__StateSync s = TANDEM__STATE_SYNC__INIT;
	int rc;

	if (sodium_init() < 0)
		return -1;
	randombytes_buf(name, sizeof(name));
	randombytes_buf(secret, sizeof(secret));
	k.has_id = k.has_name = k.has_secret = k.has_created_unix_ms = k.has_expires_unix_ms = 1;
	k.id = randombytes_random();
	k.name.data = name;
	k.name.len = sizeof(name);
	k.secret.data = secret;
	k.secret.len = sizeof(secret);
	k.created_unix_ms = plan->created_unix_ms;
	k.expires_unix_ms = plan->expires_unix_ms;
	s.n_tickets = 1;
	s.tickets = &kp;
	rc = replica_apply(store, &s, REPLICA_SRC_LOCAL, now_unix_ms, cb, arg);
	sodium_memzero(secret, sizeof(secret));
	return rc == 1 ? 0 : -1;
}
