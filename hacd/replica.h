/*
 * hacd/replica.h — the replicated cluster state: rate-limit G-counters,
 * bans, backend health observations, operator admin state and TLS ticket
 * keys, merged from peers and exported to them.
 *
 * Pure: no sockets and no clock. Every function that needs the time takes
 * it (wall-clock milliseconds, because these timestamps cross hosts), so the
 * module is driven by unit tests on a fake clock. hacd feeds it StateSync
 * messages from peers (sealed datagrams) and from its local proxyd (the
 * channel), and asks it for packed PeerMessage / ChannelMessage payloads to
 * seal and send: deltas at the sync interval, and bulk syncs for a joining
 * or restarted node.
 *
 * Not thread-safe: hacd's one loop owns the store.
 */
#ifndef TANDEM_HACD_REPLICA_H
#define TANDEM_HACD_REPLICA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "proto/tandem.pb-c.h"

#define REPLICA_NAME_MAX       64           /* origin, limit, upstream, server: bytes, excluding NUL */
#define REPLICA_KEY_MAX        64           /* rate-limit / ban key bytes */
#define REPLICA_MAX_COUNT      (1ull << 40) /* a larger per-node window count is corrupt, not traffic */
#define REPLICA_MAX_ORIGINS    32           /* distinct rate-count origins (cluster nodes) */
#define REPLICA_TICKET_NAME_LEN   16
#define REPLICA_TICKET_SECRET_LEN 32
#define REPLICA_MIN_CHUNK      512          /* smallest max_bytes an export accepts: the largest entry fits */

enum replica_kind { REPLICA_RATE = 0, REPLICA_BAN, REPLICA_HEALTH, REPLICA_ADMIN, REPLICA_TICKET, REPLICA_KIND_MAX };

/* "rate", "ban", "health", "admin", "ticket"; "invalid" otherwise. */
const char *replica_kind_str(enum replica_kind k);

/* Why a received entry was refused. */
enum replica_bad {
	REPLICA_BAD_MISSING = 0, /* a required field is absent */
	REPLICA_BAD_NAME,        /* a name is empty, longer than REPLICA_NAME_MAX or not printable */
	REPLICA_BAD_KEY,         /* a key longer than REPLICA_KEY_MAX */
	REPLICA_BAD_FUTURE,      /* a timestamp beyond now + max_future_ms (ban end: now + max_ban_ms) */
	REPLICA_BAD_COUNT,       /* a count above REPLICA_MAX_COUNT */
	REPLICA_BAD_STATE,       /* an admin state outside enum AdminState */
	REPLICA_BAD_TICKET,      /* ticket name not 16 bytes or secret not 32 */
	REPLICA_BAD_ORIGIN,      /* local input naming another origin; an origin not a configured node */
	REPLICA_BAD_MAX
};

/* "missing-field", "bad-name", "bad-key", "future", "bad-count",
 * "bad-state", "bad-ticket", "bad-origin"; "invalid" otherwise. */
const char *replica_bad_str(enum replica_bad b);

/* Where a StateSync came from. */
enum replica_source {
	REPLICA_SRC_PEER = 0,    /* another hacd: merged, exported in deltas only when relay_remote */
	REPLICA_SRC_LOCAL,       /* this node's proxyd: merged and exported in deltas */
};

struct replica_config {
	const char *self;          /* this node's name (copied by replica_new) */
	size_t max_rates;          /* rate-count entries, all origins together */
	size_t max_bans;
	size_t max_health;
	size_t max_admin;
	size_t max_tickets;        /* the newest N by (created, id) are kept */
	uint64_t rate_retention_ms; /* a window expires when window_start + retention <= now */
	uint64_t max_future_ms;    /* timestamps later than now + this are refused */
	uint64_t max_ban_ms;       /* bans ending later than now + this are refused */
	int relay_remote;          /* also put entries merged from peers into deltas */
	/* The cluster's node names (self among them, or it is added), at
	 * most REPLICA_MAX_ORIGINS; copied. Every origin a received entry
	 * names must be one of them: an origin is a node, and a peer that
	 * invents names must not use up the slots the nodes need. NULL / 0:
	 * any valid name, first come first served (tests of the merges). */
	const char *const *nodes;
	size_t nnodes;
};

/* Defaults: 200000 rates, 100000 bans, 4096 health, 1024 admin, 3 tickets,
 * retention 120 s (twice a 60 s window), max_future 1 h, max_ban 7 d,
 * relay off. self is left NULL: the caller must set it. */
void replica_config_defaults(struct replica_config *c);

struct replica_stats {
	uint64_t entries[REPLICA_KIND_MAX];   /* current entries */
	uint64_t merged[REPLICA_KIND_MAX];    /* received entries that changed the store */
	uint64_t stale[REPLICA_KIND_MAX];     /* received entries that changed nothing (old or duplicate) */
	uint64_t expired_rx[REPLICA_KIND_MAX]; /* received entries already expired */
	uint64_t bad[REPLICA_BAD_MAX];        /* received entries refused, by reason */
	uint64_t expired[REPLICA_KIND_MAX];   /* entries removed by expiry */
	uint64_t evicted[REPLICA_KIND_MAX];   /* entries removed to make room (table full) */
	uint64_t dropped_full[REPLICA_KIND_MAX]; /* received entries not kept: full, and older than all kept */
	uint64_t syncs;                       /* StateSync messages applied */
	uint64_t export_msgs, export_bytes, export_entries; /* deltas and bulk chunks produced */
	uint64_t nomem;                       /* entries lost to allocation failure */
};

/*
 * One entry, as a protobuf message whose pointers point into the store:
 * valid only until the store changes (during a callback: until it returns).
 * Exactly the member named by kind is set.
 */
struct replica_item {
	enum replica_kind kind;
	enum replica_source src;   /* for changes: who sent the entry; for replica_foreach: unused */
	union {
		const Tandem__RateCount *rate;
		const Tandem__Ban *ban;
		const Tandem__HealthObs *health;
		const Tandem__ServerAdmin *admin;
		const Tandem__TicketKey *ticket;
	} u;
};

/* Called once for every received entry that changed the store, with its
 * merged value (not necessarily the received one). Must not modify the store. */
typedef void (*replica_change_cb)(void *arg, const struct replica_item *item);

/* Envelope an export packs: tandem.PeerMessage{sync} for peers (seal the
 * bytes with wire_seal), tandem.ChannelMessage{sync} for the local proxyd. */
enum replica_env { REPLICA_ENV_PEER = 0, REPLICA_ENV_CHANNEL };

struct replica;

/*
 * A store configured by cfg (copied; cfg->self must be a valid name, each
 * max_* at least 1). NULL on a bad config or when memory or libsodium (the
 * hash key) fails. Free with replica_free.
 */
struct replica *replica_new(const struct replica_config *cfg);

/* Free the store, wiping ticket secrets; active bulk cursors end (their
 * next call returns 0). NULL is a no-op. */
void replica_free(struct replica *r);

/*
 * Merge every valid entry of sync into the store at wall-clock time
 * now_unix_ms. Entries are checked one by one and a bad one is skipped and
 * counted (stats.bad by reason, logged at most once per 10 s): each entry
 * is a self-contained piece of state, so the rest of an authenticated
 * message is still worth merging, and skipping one cannot make stores
 * diverge for longer than until the sender's next delta or bulk sync.
 *
 * From REPLICA_SRC_LOCAL, an absent origin means this node and any other
 * origin is refused (proxyd speaks only for its node); from REPLICA_SRC_PEER
 * an absent ban or admin origin reads as "" (rolling upgrades), and a
 * named origin must be one of cfg->nodes (REPLICA_BAD_ORIGIN). The bulk
 * fields are the caller's business (e.g. noting bulk_last).
 *
 * cb (may be NULL) is called for each entry that changed the store. Returns
 * the number of changed entries, or -1 if sync is NULL.
 */
int replica_apply(struct replica *r, const Tandem__StateSync *sync, enum replica_source src,
    uint64_t now_unix_ms, replica_change_cb cb, void *arg);

/*
 * This node's operator sets a server's admin state (hactl drain/enable/
 * maint/weight). Stamped with origin = self and set_unix_ms =
 * max(now, current set_unix_ms + 1), so the command wins the last-writer-wins
 * merge even when the previous writer's clock ran ahead. weight < 0 leaves
 * the weight unset. Returns 0, or -1 on a bad name or state or no memory.
 */
int replica_admin_set(struct replica *r, const char *upstream, const char *server,
    Tandem__AdminState state, int64_t weight, uint64_t now_unix_ms);

/*
 * Cluster count for (limit, key, window_start): the sum over every origin
 * except exclude_origin (may be NULL) — proxyd adds its own live count.
 * Saturates at UINT64_MAX. 0 for unknown limits or keys.
 */
uint64_t replica_rate_sum(const struct replica *r, const char *limit, const void *key, size_t key_len,
    uint64_t window_start_unix_ms, const char *exclude_origin);

/*
 * Remove expired entries: rate windows with window_start + retention <= now,
 * bans with until <= now, tickets with expires <= now. Call at least every
 * few seconds; inserting into a full rate table also expires first.
 */
void replica_expire(struct replica *r, uint64_t now_unix_ms);

/*
 * Pack the next delta: entries changed since they were last exported (local
 * changes, and merged remote ones when relay_remote), greedily, into one
 * envelope of at most max_bytes (>= REPLICA_MIN_CHUNK; WIRE_MAX_PAYLOAD for
 * peers) written to out (cap >= max_bytes). Exported entries are clean
 * until they change again. Returns the packed length, 0 when nothing is
 * dirty, -1 with errno EINVAL when max_bytes is too small or ENOMEM (nothing
 * consumed; try again later). Call until it returns 0,
 * or a few times per loop iteration: the rest waits.
 */
ssize_t replica_export_delta(struct replica *r, enum replica_env env, uint8_t *out, size_t max_bytes);

/* Entries waiting for replica_export_delta. */
size_t replica_dirty_count(const struct replica *r);

/*
 * A bulk-sync cursor, embedded by the caller (one per receiving peer).
 * It walks the entries present when it began, in insertion order; entries
 * removed meanwhile are skipped, and entries added later are not included
 * (they travel in deltas). Fields are private to replica.c.
 */
struct replica_bulk {
	struct replica *r;
	struct replica_bulk *next_cursor;
	void *pos;               /* next entry to send */
	uint64_t end_seq;        /* entries inserted after begin are not walked */
	uint32_t chunk;          /* next bulk_chunk number */
	int active;
};

/* Start a bulk sync of r's current state. b must not be active (zeroed,
 * finished or aborted): an active cursor is registered with its store. */
void replica_bulk_begin(struct replica *r, struct replica_bulk *b);

/*
 * Pack the next chunk (bulk = true, bulk_chunk = 0, 1, ...; bulk_last on
 * the final one; an empty store gives one empty final chunk) into out, at
 * most max_bytes (>= REPLICA_MIN_CHUNK). Returns the length, 0 once the
 * final chunk was produced (the cursor is then inactive), -1 with errno
 * EINVAL when max_bytes is too small or ENOMEM (the cursor did not move).
 */
ssize_t replica_bulk_next(struct replica_bulk *b, enum replica_env env, uint8_t *out, size_t max_bytes);

/* Stop a cursor early (peer gone). Idempotent; a finished cursor is fine. */
void replica_bulk_abort(struct replica_bulk *b);

/*
 * The operator's reset of a rate-limit key (hactl ratelimit reset): remove
 * every origin's counts of (limit, key) in windows that began at or before
 * at_unix_ms, and the key's ban. Not a merge: a peer that has not heard of
 * the reset may send them again, and they come back here (harmlessly:
 * proxyd remembers the reset and ignores them, proxyd/ratelimit.h
 * rl_reset). Returns the number of entries removed.
 */
size_t replica_forget(struct replica *r, const char *limit, const void *key, size_t key_len,
    uint64_t at_unix_ms);

/* Visit every entry of one kind (any order); for hactl listings and tests.
 * cb must not modify r. */
void replica_foreach(const struct replica *r, enum replica_kind kind,
    void (*cb)(void *arg, const struct replica_item *item), void *arg);

/* Counters (entries included). */
const struct replica_stats *replica_stats(const struct replica *r);

/* Visit every counter with a stable name ("entries-rate", "merged-ban",
 * "bad-future", "export-bytes", ...), for metrics and hactl. */
void replica_counters(const struct replica *r, void (*cb)(void *arg, const char *name, uint64_t value),
    void *arg);

#endif /* TANDEM_HACD_REPLICA_H */
