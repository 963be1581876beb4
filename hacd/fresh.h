/*
 * hacd/fresh.h — has a peer proved that what it sends now is new? A pure
 * state machine per peer, no I/O, no clock, no randomness of its own (the
 * caller hands in the random bytes), so tests/unit/test_fresh.c drives it
 * from a table.
 *
 * A replay window (lib/wire) only rejects what this process has seen. After
 * this node restarts its windows are empty, and after a peer restarts (a
 * new epoch) its window starts over: in both cases a recording of the
 * peer's genuine datagrams would pass. So a peer in that situation is
 * UNPROVEN until it echoes, inside a sealed datagram, a random nonce this
 * node sent it (CHALLENGED while one is out); a recording made before the
 * nonce existed cannot contain it. Only a PROVEN peer's heartbeats count for
 * the election and only its state sync reaches the store (hacd/peer.c).
 *
 *   UNPROVEN --fresh_challenge--> CHALLENGED --echo == nonce--> PROVEN(epoch)
 *       ^                             |  ^                           |
 *       |                             +--+ no echo, or a wrong one   |
 *       +------------------- a datagram of another epoch ------------+
 */
#ifndef TANDEM_HACD_FRESH_H
#define TANDEM_HACD_FRESH_H

#include <stddef.h>
#include <stdint.h>

#define FRESH_NONCE_LEN 16

enum fresh_state { FRESH_UNPROVEN = 0, FRESH_CHALLENGED, FRESH_PROVEN };

/* What to do with one authenticated datagram that passed the replay window. */
enum fresh_verdict {
	FRESH_V_ACCEPT = 0,    /* proven peer, same epoch: act on it */
	FRESH_V_PROVED,        /* this datagram carries the right echo: proven from now on, act on it */
	FRESH_V_UNPROVEN,    /* no proof yet: drop it (it still moved the replay window) */
	FRESH_V_BAD_ECHO,      /* an echo that is not our outstanding nonce: drop it */
};

struct fresh {
	enum fresh_state state;
	uint64_t epoch;                     /* PROVEN: the epoch the proof holds for */
	uint8_t nonce[FRESH_NONCE_LEN];     /* CHALLENGED, PROVEN: the nonce we sent */
};

/* "unproven", "challenged", "proven"; "invalid" otherwise. */
const char *fresh_state_str(enum fresh_state s);

/* Start UNPROVEN: nothing is known of the peer (start-up). */
void fresh_init(struct fresh *f);

/*
 * The nonce this node must send the peer in its next heartbeat, or NULL
 * when the peer is PROVEN and needs none. An UNPROVEN peer takes rnd
 * (FRESH_NONCE_LEN random bytes from the caller) as its nonce and becomes
 * CHALLENGED; a CHALLENGED one keeps its nonce (rnd is ignored), so every
 * heartbeat repeats the same challenge until it is answered.
 */
const uint8_t *fresh_challenge(struct fresh *f, const uint8_t rnd[FRESH_NONCE_LEN]);

/*
 * One datagram from the peer that opened and passed the replay window, in
 * sender epoch `epoch`, with echo (echo_len bytes; NULL, 0 when it carries
 * none for us). A datagram of another epoch than the proven one sends a
 * PROVEN peer back to UNPROVEN first (the peer restarted; the window just
 * started over). Then: PROVEN -> ACCEPT; CHALLENGED with an echo equal to
 * the nonce -> PROVEN in this epoch, PROVED; a different echo -> BAD_ECHO;
 * otherwise UNPROVEN (FRESH_V_UNPROVEN). Never accepts without an echo unless already proven.
 */
enum fresh_verdict fresh_input(struct fresh *f, uint64_t epoch, const uint8_t *echo, size_t echo_len);

#endif /* TANDEM_HACD_FRESH_H */
