/*
 * proxyd/ratelimit.h — named rate limits whose counters are cluster-wide
 * G-counters per fixed time window, decided by a sliding-window estimate.
 *
 * Pure: no I/O and no clock; every call takes the wall-clock time as
 * milliseconds since the Unix epoch (windows are aligned to the epoch so that
 * every node of the cluster agrees on their boundaries: the nodes' clocks must
 * be NTP-synchronised, a skew of a few milliseconds only blurs the boundary).
 * Module prefix: rl_.
 *
 * Model (DESIGN.md "Rate limiting"):
 *   - A limit "rate R per period P with burst B" counts requests per key in
 *     fixed windows of length P starting at multiples of P since the epoch.
 *   - Each node counts in its own slot (a G-counter: one grow-only count per
 *     node and window); the cluster-wide total of a window is the sum over
 *     nodes.  Remote counts arrive through rl_merge_remote and merge by max per
 *     (origin, key, window), so a merge is idempotent, commutative and
 *     associative, and lost, duplicated or reordered updates only delay
 *     convergence.
 *   - The decision uses the sliding estimate of the last P milliseconds:
 *         est = prev_total * (1 - elapsed / P) + cur_total
 *     and admits the request while  est < L,  where
 *         L = R + B * max(0, 1 - prev_total / R).
 *     So a key that was idle in the previous window may take R + B requests
 *     at once (the burst), the allowance shrinks as the previous window fills
 *     up to R, and under sustained load the admitted rate is R per P: the
 *     burst is a one-time allowance regained by idling, as with a token
 *     bucket, not extra rate.  B = 0 is a plain sliding-window limit of R.
 *     (With only two windows of memory, a key that alternates one idle period
 *     and one full period gets (R + B) / 2 per period; keep B <= R if that
 *     matters.)
 *   - Only admitted requests are counted.  Counting rejected ones too would
 *     let a client that retries in a loop keep itself limited forever and a
 *     spoofed flood lock out the key's legitimate owner; persistent offenders
 *     are what bans are for.
 *   - Over the limit: RL_LIMITED and a Retry-After in whole seconds, the ceiling
 *     of the time until the estimate would fall below the limit if nothing else
 *     arrived (at least 1).
 *   - Bans (optional, ban_after > 0): a key rejected ban_after times within
 *     ban_period_ms (a window opened by its first rejection) is banned for
 *     ban_ms; the request that reaches ban_after gets RL_BANNED.  Bans live in
 *     their own small table, merge from peers by the max of their end time,
 *     and survive the eviction of the key's counters.
 *
 * Memory: at most max_keys counter entries per limit, whatever the traffic.
 * When a new key arrives at a full table, an entry whose windows have
 * expired is evicted first (found by a short scan from the LRU end), else
 * the least recently used entry.  Keys are hashed with lib/hash (SipHash
 * under a random key), so clients cannot aim keys at one bucket.
 *
 * Threads: one struct rl_table per configured limit, shared by all workers
 * of the node (and the control thread, which merges what hacd sends), split
 * into shards by key hash, each shard with its own mutex, hash table and LRU
 * list.  A table per worker would count each worker's share only (a node
 * limit would become workers x limit until merged) and multiply memory by
 * the number of workers; merging per-worker counts periodically would admit
 * up to workers x limit within a merge interval.  The critical section is a
 * hash lookup and a few additions (no allocation once a key exists), so with
 * 16 shards contention is negligible at proxy request rates.
 *
 * Keys are byte strings of 1..RL_KEY_MAX bytes, identical on every node for
 * the same client (they are replicated): build them with rl_key_ip,
 * rl_key_bytes (header value, route name).
 */
#ifndef PROXYD_RATELIMIT_H
#define PROXYD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RL_NAME_MAX       64          /* limit and node names, NUL included */
#define RL_KEY_MAX        64          /* longest key, bytes */
#define RL_MAX_NODES      16          /* remote origins a table tracks, besides itself */
#define RL_MAX_PERIOD_MS  (1ull << 30) /* ~12.4 days */
#define RL_MAX_RATE       (1ull << 32) /* rate + burst at most this */
#define RL_SHARDS         16          /* shards when max_keys >= RL_SHARD_MIN_KEYS, else 1 */
#define RL_SHARD_MIN_KEYS 256

/* First byte of every key: what the rest is.  Keeps an IP key from ever
 * equalling a header value of the same bytes. */
enum rl_key_kind { RL_KEY_IP = 1, RL_KEY_HEADER = 2, RL_KEY_ROUTE = 3 };

#define RL_KEY_IP_LEN 17              /* kind byte + 16-byte (IPv4-mapped) IPv6 prefix */

struct rl_limit_conf {
	char name[RL_NAME_MAX];
	uint64_t period_ms;       /* window length P, 1..RL_MAX_PERIOD_MS */
	uint64_t rate;            /* R requests per period, >= 1 */
	uint64_t burst;           /* B, extra requests after an idle period, >= 0 */
	uint32_t max_keys;        /* counter entries, >= 1; never exceeded */
	uint32_t max_bans;        /* ban entries; 0 = max_keys / 8 (at least 16).  At least one per shard */
	uint32_t ban_after;       /* rejections within ban_period_ms that ban a key; 0 = no bans */
	uint64_t ban_period_ms;
	uint64_t ban_ms;          /* how long a ban lasts */
};

enum rl_verdict { RL_ALLOW = 0, RL_LIMITED, RL_BANNED, RL_VERDICT_MAX };

struct rl_stats {
	uint64_t keys;            /* counter entries now */
	uint64_t bans;            /* ban entries now (expired ones included until reused) */
	uint64_t allowed;
	uint64_t limited;         /* RL_LIMITED verdicts */
	uint64_t banned;          /* RL_BANNED verdicts (requests refused by a ban) */
	uint64_t bans_issued;     /* bans this node started */
	uint64_t evict_expired;   /* full table: entry with expired windows reused */
	uint64_t evict_lru;       /* full table: live entry evicted (max_keys too small?) */
	uint64_t ban_evictions;   /* full ban table: oldest ban dropped */
	uint64_t merged;          /* remote counts that raised a count */
	uint64_t merge_stale;     /* remote counts for a window no longer relevant, or not above ours */
	uint64_t merge_bad;       /* refused: unaligned or future window, bad key, too many origins */
	uint64_t bad_key;         /* rl_check with an empty or oversized key (allowed, not counted) */
};

struct rl_table;

/* "allow", "limited", "banned"; "?" out of range. */
const char *rl_verdict_str(enum rl_verdict v);

/*
 * Validate a limit configuration before building a table (the config loader
 * reports *why with the setting's file:line).  Returns 0, or -1 with *why a
 * static string naming the first problem.
 */
int rl_conf_check(const struct rl_limit_conf *c, const char **why);

/*
 * A table for limit c, counting as node self_node (1..RL_NAME_MAX-1 bytes;
 * the origin name this node's counts carry in replication).  c is copied.
 * Returns NULL when rl_conf_check fails (errno EINVAL) or on ENOMEM.
 */
struct rl_table *rl_table_new(const struct rl_limit_conf *c, const char *self_node);
/* Frees everything.  NULL is a no-op.  No other call may be running on t. */
void rl_table_free(struct rl_table *t);
/* The node name this table counts as (its own origin). */
const char *rl_table_node(const struct rl_table *t);
/* The configuration the table was built with. */
const struct rl_limit_conf *rl_table_conf(const struct rl_table *t);

/*
 * Tables outlive configuration generations: a reload that keeps a limit's
 * name and parameters keeps its table (counters and bans survive). The
 * parser acquires one reference per limit of a generation and the
 * generation's last unref releases it. acquire returns the registered table
 * whose configuration equals c, or a new one (rl_table_new) registered with
 * one reference; NULL as rl_table_new. release drops one reference and frees
 * the table with the last; NULL is a no-op. Thread-safe (a mutex; never on
 * the request path).
 */
struct rl_table *rl_table_acquire(const struct rl_limit_conf *c, const char *self_node);
void rl_table_release(struct rl_table *t);

/*
 * Enforce num/den of the configured rate and burst (0 < num <= den), e.g.
 * 1/N during a partition in which this node cannot see its N - 1 peers'
 * counts, so that the cluster as a whole still stays within the limit; 1/1
 * (the default) restores it.  Which policy applies during a partition (a
 * share, or the full limit on every node) is the caller's configuration;
 * `scope node` limits simply never replicate.  Takes effect on the next
 * rl_check; thread-safe.  0, or -1 for a bad fraction (unchanged).
 */
int rl_table_set_share(struct rl_table *t, uint32_t num, uint32_t den);

/*
 * The key for a client address: kind byte RL_KEY_IP then the address as 16
 * bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), masked to its first
 * v4_prefix (0..32) or v6_prefix (0..128) bits, so that e.g. every address of
 * one /64 shares a key.  An AF_INET6 address that is IPv4-mapped (a dual-stack
 * socket) is treated as IPv4.  Returns RL_KEY_IP_LEN, or -1 for another
 * family or a prefix out of range (out untouched).
 */
int rl_key_ip(const struct sockaddr *sa, int v4_prefix, int v6_prefix, uint8_t out[RL_KEY_IP_LEN]);

/*
 * A key from arbitrary bytes (a header value, a route name) of kind
 * RL_KEY_HEADER or RL_KEY_ROUTE.  Values up to RL_KEY_MAX - 1 bytes are kept
 * verbatim after the kind byte; longer ones are replaced by their 16-byte
 * unkeyed BLAKE2b digest (deterministic, so every node derives the same key).
 * out holds RL_KEY_MAX bytes.  Returns the key length, or -1 for a bad kind.
 */
int rl_key_bytes(enum rl_key_kind kind, const void *val, size_t len, uint8_t out[RL_KEY_MAX]);

/*
 * Decide on one request for key (klen 1..RL_KEY_MAX bytes) at now_unix_ms and
 * count it when admitted.  A banned key gets RL_BANNED; a key over the limit
 * RL_LIMITED (and may become banned, see top of file).  *retry_after_s (may be
 * NULL) is set to the seconds to announce in Retry-After (>= 1) unless
 * RL_ALLOW.  A bad key length is admitted without counting (stats.bad_key):
 * the caller built it, a client cannot cause it.  Never fails: on ENOMEM for a
 * new key the request is admitted uncounted.  Thread-safe.
 */
enum rl_verdict rl_check(struct rl_table *t, const uint8_t *key, size_t klen,
			 uint64_t now_unix_ms, uint32_t *retry_after_s);

/*
 * Is key banned at now_unix_ms?  1 (and *retry_after_s, may be NULL, set to
 * the ceiling of the seconds left, >= 1) or 0.  Neither counts nor creates
 * anything.  Thread-safe.
 */
int rl_ban_check(struct rl_table *t, const uint8_t *key, size_t klen,
		 uint64_t now_unix_ms, uint32_t *retry_after_s);

/*
 * The cluster-wide sliding estimate for key at now (what rl_check compares
 * with the limit); 0 for an unknown key.  For `hactl ratelimit show` and tests.
 */
double rl_estimate(struct rl_table *t, const uint8_t *key, size_t klen, uint64_t now_unix_ms);

/*
 * Merge one replicated G-counter entry: origin node counted count requests
 * for key in the window starting at window_start_ms.  Idempotent: the stored
 * count of (origin, key, window) becomes the max of both.  An entry with
 * origin equal to this table's node raises this node's own count (a
 * restarted node relearns its counts from its peers).  Windows other than the
 * current or the previous one at now_unix_ms are dropped, since they can no
 * longer affect a decision (a future window is refused rather than allowed to
 * displace the previous one: clocks are assumed in sync).  May create the key
 * (evicting another if the table is full).
 * Returns 1 when a count rose, 0 when nothing changed (duplicate, old
 * window), -1 when refused (unaligned window, bad key or origin, more than
 * RL_MAX_NODES remote origins, ENOMEM).  Thread-safe.
 */
int rl_merge_remote(struct rl_table *t, const char *origin, const uint8_t *key, size_t klen,
		    uint64_t window_start_ms, uint64_t count, uint64_t now_unix_ms);

/*
 * Merge a ban from a peer (or a bulk sync): the key's ban ends at the max of
 * both end times.  Bans already over at now_unix_ms are dropped.  Returns 1
 * when the ban was created or extended, 0 when nothing changed, -1 for a bad
 * key or ENOMEM.  A merged ban is not re-exported by rl_collect_bans (its
 * origin already replicates it).  Thread-safe.
 */
int rl_ban_merge(struct rl_table *t, const uint8_t *key, size_t klen,
		 uint64_t until_unix_ms, uint64_t now_unix_ms);

/*
 * The operator's reset of key (hactl ratelimit reset, on any node), stamped
 * at (unix ms, > 0): every node's counts in the windows that started at or
 * before at are forgotten, and so is the key's ban. A G-counter cannot go
 * down, so the reset is remembered instead: later merges of those windows,
 * and bans that began before at, are ignored (a peer that has not heard of
 * the reset yet cannot bring them back). The price: for the rest of the
 * window the reset fell in, each node counts only its own requests, so the
 * cluster may admit up to one limit per node in that window. Idempotent
 * (an older or equal at changes nothing). Returns 1 when something was
 * forgotten or the mark moved, 0 when nothing changed, -1 for a bad key,
 * at 0 or ENOMEM. Thread-safe.
 */
int rl_reset(struct rl_table *t, const uint8_t *key, size_t klen, uint64_t at, uint64_t now);

/*
 * Replication callbacks, called with a shard lock held: they must not call
 * back into the table.  Return 0 to continue, non-zero to stop (e.g. the
 * datagram being filled is full); the entry that was refused stays pending.
 */
typedef int (*rl_count_cb)(void *arg, const char *origin, const uint8_t *key, size_t klen,
			   uint64_t window_start_ms, uint64_t count);
typedef int (*rl_ban_cb)(void *arg, const uint8_t *key, size_t klen, uint64_t until_unix_ms);

/*
 * Export this node's counts that changed since the previous export, each as
 * (self_node, key, window, absolute count) — the G-counter state, not an
 * increment, so the receiver merges by max and a lost or repeated export does
 * no harm.  At most max entries (0 = no limit).  Returns the number exported.
 * Thread-safe.
 */
size_t rl_collect_deltas(struct rl_table *t, size_t max, rl_count_cb cb, void *arg);

/* Export the bans this node issued since the previous export.  Same rules. */
size_t rl_collect_bans(struct rl_table *t, size_t max, rl_ban_cb cb, void *arg);

/*
 * Bulk sync for a joining peer: every count of every origin (this node's and
 * merged remote ones) in the windows still relevant at now_unix_ms, and every
 * ban not over.  Does not touch the pending-export state.  Returns the number
 * of entries passed to the callbacks (either may be NULL to skip that kind).
 */
size_t rl_dump(struct rl_table *t, uint64_t now_unix_ms, rl_count_cb ccb, rl_ban_cb bcb, void *arg);

/*
 * Drop every counter entry whose windows are both over and every ended ban
 * (a periodic sweep from the control thread keeps memory down when traffic
 * stops; eviction works without it).  Returns the number of entries freed.
 */
size_t rl_expire(struct rl_table *t, uint64_t now_unix_ms);

/* A snapshot of the counters (summed over shards). */
void rl_stats_get(struct rl_table *t, struct rl_stats *out);

#endif /* PROXYD_RATELIMIT_H */
