/*
 * proxyd/balance.h — load-balancing algorithms for one upstream, per worker.
 *
 * Pure: no I/O, no clock, no configuration parsing, no locks. Each worker thread owns
 * its own struct balancer over its own array of struct bal_server, so picks and
 * updates never contend. The upstream/health code owns the servers array and writes
 * `eff_weight` (0 = unusable: down, drain, maint, ejected; ramped during slow start)
 * and `active`; the balancer reads them and writes only `cur`.
 */
#ifndef PROXYD_BALANCE_H
#define PROXYD_BALANCE_H

#include <stddef.h>
#include <stdint.h>

enum balance_algo {
	BAL_ROUNDROBIN,   /* smooth weighted round robin (nginx) */
	BAL_LEASTCONN,    /* fewest active/eff_weight, ties by smooth weighted round robin */
	BAL_HASH,         /* consistent hashing on key_hash (ring, stable under removal) */
	BAL_RANDOM2,      /* power of two random choices, weighted draws */
	BAL_ALGO_MAX
};

#define BAL_MAX_WEIGHT   256u
#define BAL_MAX_SERVERS  4096u

/* "roundrobin", "leastconn", "hash", "random"; "?" for an out-of-range value. */
const char *balance_algo_str(enum balance_algo a);
/* Accepts exactly the four names above (case-sensitive). 0 and *out set, or -1 (out untouched). */
int balance_algo_parse(const char *s, enum balance_algo *out);

struct bal_server {
	uint32_t weight;      /* configured, 0..256; 0 = never picked */
	uint32_t eff_weight;  /* runtime: 0 when down/drain/maint or ejected; slow start ramps it */
	uint32_t active;      /* connections in flight on this worker */
	int32_t  cur;         /* swrr state; owned by the balancer */
	uint64_t id_hash;     /* stable hash of the server's name for the ring: balance_hash(name) */
};

struct balancer;

/* Creates a balancer over servers[0..n). The array is borrowed, not copied: it must
 * outlive the balancer and keep its address; its `cur` fields are reset to 0.
 * seed feeds the random2 PRNG (any value; 0 is replaced by a fixed constant).
 * Returns NULL on bad arguments (algo out of range, n > BAL_MAX_SERVERS, servers NULL
 * with n > 0) or ENOMEM. n == 0 is allowed: every pick then returns -1. */
struct balancer *balancer_new(enum balance_algo a, struct bal_server *servers, size_t n, uint64_t seed);
/* Frees the balancer (not the servers array). NULL is a no-op. */
void balancer_free(struct balancer *b);

/* Picks a server and returns its index, or -1 when none is available: a server is
 * available when weight > 0, eff_weight > 0 and its bit is not set in exclude_mask.
 * exclude_mask (may be NULL) holds BAL_MASK_BYTES(n) bytes, bit i = server i (see
 * bal_mask_set), e.g. the servers a retry already tried. key_hash is used by BAL_HASH
 * only (any 64-bit hash of the request key, e.g. balance_hash of the client address);
 * with the key's home server excluded or down, the next server on the ring is used.
 * Does not change `active`: the caller increments it when the connection starts and
 * decrements it when it ends. */
int balancer_pick(struct balancer *b, uint64_t key_hash, const uint8_t *exclude_mask);

/* Call after weight or eff_weight changes. Rebuilds the hash ring when the set of
 * usable servers or a configured weight changed (slow-start ramps of eff_weight do
 * not move hash keys) and zeroes the swrr state of servers out of rotation, so one
 * that comes back does not get a burst. O(n) when nothing relevant changed. Without
 * it picks never return an unusable server, but under BAL_HASH a server that became
 * usable receives no keys until the next update. Never fails: on ENOMEM the old ring
 * is kept. */
void balancer_update(struct balancer *b);

enum balance_algo balancer_algo(const struct balancer *b);
size_t balancer_count(const struct balancer *b);

/* Stable 64-bit hash (FNV-1a then a 64-bit finalizer), identical on every node and
 * every run, so all workers and all cluster nodes map a key to the same server.
 * Not keyed: the ring has no chains to flood, only the choice of server is at stake. */
uint64_t balance_hash(const void *data, size_t len);

/* Exclude-mask helpers: the mask for n servers is BAL_MASK_BYTES(n) zeroed bytes. */
#define BAL_MASK_BYTES(n) (((size_t)(n) + 7u) / 8u)
static inline void bal_mask_set(uint8_t *mask, size_t i) { mask[i / 8u] |= (uint8_t)(1u << (i % 8u)); }
static inline int bal_mask_test(const uint8_t *mask, size_t i)
{
	return mask != NULL && (mask[i / 8u] >> (i % 8u)) & 1u;
}

#endif /* PROXYD_BALANCE_H */
