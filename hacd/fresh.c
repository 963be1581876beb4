/*
 * hacd/fresh.c — proof of freshness per peer: a challenge the peer must
 * echo, sealed, before its datagrams count after either side restarted.
 *
 * Why a challenge and not persisted high-water marks: a recording made
 * while this node was down holds sequence numbers it never saw, so no
 * stored mark could reject it; and a peer's new epoch opens a new window
 * that a recording of that epoch fits into. A nonce drawn after the
 * recording ended is the one thing a recording cannot contain. The nonce
 * needs no secrecy of its own: the echo only counts inside a datagram that
 * lib/wire authenticated under the cluster key, and the challenge itself
 * travels sealed as well.
 *
 * How far the proof reaches: PROVEN binds to the epoch of the datagram
 * that carried the echo, and hacd/peer.c then marks everything at or below
 * that datagram's sequence number as seen (wire_replay_floor), so
 * datagrams the peer sent before the echo — a recording made earlier in
 * the same epoch — stay refused. A later epoch is a restart of the peer and
 * needs a new proof. What no challenge can stop is a man in the middle who
 * holds genuine datagrams back and releases them late; heartbeats carry no
 * clock for that, as in VRRP (RFC 5798 section 9 leaves it to the link).
 *
 * Pure: only this module's header; the one state setter is set_state().
 */
#include "hacd/fresh.h"

static const char *const state_names[] = { "unproven", "challenged", "proven" };

const char *fresh_state_str(enum fresh_state s)
{
	if ((unsigned)s > (unsigned)FRESH_PROVEN)
		return "invalid";
	return state_names[s];
}

/* Every change of f->state goes through here. */
static void set_state(struct fresh *f, enum fresh_state s, uint64_t epoch)
{
	f->state = s;
	f->epoch = s == FRESH_PROVEN ? epoch : 0;
}

static void copy_nonce(uint8_t *dst, const uint8_t *src)
{
	for (size_t i = 0; i < FRESH_NONCE_LEN; i++)
		dst[i] = src[i];
}

/* Compare without an early exit; the nonce is not secret (the echo must be
 * sealed to count), but there is no reason to leak how much of it matched. */
static int nonce_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (size_t i = 0; i < FRESH_NONCE_LEN; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

void fresh_init(struct fresh *f)
{
	for (size_t i = 0; i < FRESH_NONCE_LEN; i++)
		f->nonce[i] = 0;
	set_state(f, FRESH_UNPROVEN, 0);
}

const uint8_t *fresh_challenge(struct fresh *f, const uint8_t rnd[FRESH_NONCE_LEN])
{
	switch (f->state) {
	case FRESH_UNPROVEN:
		/* A new nonce for every new challenge: an echo of an older one
		 * may sit in a recording. */
		copy_nonce(f->nonce, rnd);
		set_state(f, FRESH_CHALLENGED, 0);
		return f->nonce;
	case FRESH_CHALLENGED:
		return f->nonce;
	case FRESH_PROVEN:
		break;
	}
	return NULL;
}

enum fresh_verdict fresh_input(struct fresh *f, uint64_t epoch, const uint8_t *echo, size_t echo_len)
{
	/* The replay window already refused older epochs, so another epoch
	 * here is a newer one: the peer restarted and its window started
	 * over, which a recording of the new epoch could fill. */
	if (f->state == FRESH_PROVEN && epoch != f->epoch)
		set_state(f, FRESH_UNPROVEN, 0);
	if (f->state == FRESH_PROVEN)
		return FRESH_V_ACCEPT;
	if (echo == NULL)
		return FRESH_V_UNPROVEN;
	if (f->state != FRESH_CHALLENGED || echo_len != FRESH_NONCE_LEN || !nonce_equal(echo, f->nonce))
		return FRESH_V_BAD_ECHO;
	set_state(f, FRESH_PROVEN, epoch);
	return FRESH_V_PROVED;
}
