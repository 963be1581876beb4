/*
 * hacd/repl.h — replication on hacd's loop: hacd/replica.c's store, fed by
 * authenticated peer datagrams and the operator, drained into sealed deltas
 * at the sync interval, bulk syncs for joining peers and anti-entropy, and
 * the admin state forwarded to the local proxyd over the channel.
 */
#ifndef TANDEM_HACD_REPL_H
#define TANDEM_HACD_REPL_H

#include <stddef.h>
#include <stdint.h>

#include "hacd/cacheview.h"
#include "hacd/channel.h"
#include "hacd/config.h"
#include "hacd/peer.h"
#include "hacd/purgelog.h"
#include "hacd/replica.h"
#include "lib/ev.h"
#include "lib/log.h"

struct repl_peer {
	struct replica_bulk bulk;   /* our bulk sync to this peer; active while sending */
	uint64_t bulk_rx_chunks;    /* chunks of its current bulk sync to us */
	int synced;                 /* a bulk sync from it arrived complete since it was last dead */
	unsigned bulk_retries;      /* incomplete bulks from it asked again in a row */
	uint64_t last_rx_ms;        /* loop time of its last accepted sync, 0 never */
};

struct repl_stats {
	uint64_t tx, tx_bytes, tx_err;   /* sync datagrams sent (deltas and bulk chunks) */
	uint64_t tx_delta, tx_bulk;
	uint64_t rx, rx_bytes;           /* accepted sync datagrams from peers */
	uint64_t rx_bulk, rx_bulk_done;  /* bulk chunks, complete bulk syncs */
	uint64_t rx_bulk_incomplete;     /* bulk syncs that ended with chunks missing */
	uint64_t req_tx, req_rx, req_busy; /* sync requests; busy: a bulk to it was under way */
	uint64_t bulk_started, anti_entropy;
	uint64_t chan_tx, chan_tx_bytes, chan_tx_err; /* frames to proxyd */
	uint64_t chan_fwd;               /* entries forwarded to proxyd as they changed */
	uint64_t chan_overflow;          /* proxyd too slow: backlog dropped, bulk instead */
	uint64_t chan_bulk;              /* bulk syncs to proxyd (each connection, each overflow) */
	uint64_t chan_rx;                /* StateSync frames from proxyd */
	uint64_t chan_refused_admin;     /* admin entries from proxyd: not its to set */
	uint64_t chan_refused_ticket;    /* ticket keys from proxyd: hacd makes them */
	uint64_t export_err;             /* replica_export_* failures (no memory) */
	uint64_t lag_last_ms, lag_max_ms, lag_sum_ms, lag_n; /* merge lag of peers' syncs */
	uint64_t tickets_made;           /* TLS ticket keys this node made */
	uint64_t reset_tx, reset_rx, reset_bad; /* hactl ratelimit reset datagrams */
	uint64_t reset_dropped;          /* entries refused: from before a reset of their key */
	uint64_t purge_tx, purge_rx;     /* hactl cache purge datagrams (each sent twice) */
	uint64_t purge_dup, purge_bad;   /* received: already applied; malformed or from no configured node */
	uint64_t purge_gap;              /* purges missed beyond every log: the whole cache purged */
	uint64_t purge_log_tx;           /* log entries resent to a peer that asked for a bulk sync */
};

#define REPL_RESETS 64             /* recent rate-limit resets remembered */

/* A recent hactl ratelimit reset: entries of (limit, key) from before at
 * are refused for as long as rate windows are kept (they may still be in
 * flight from a node that had not heard of it). */
struct repl_reset {
	char limit[REPLICA_NAME_MAX + 1];
	uint8_t key[REPLICA_KEY_MAX];
	size_t klen;
	uint64_t at;                     /* wall ms; 0 = free slot */
};

struct repl {
	struct ev_loop *loop;
	const struct hacd_config *cfg;   /* borrowed; repl_set_config on reload */
	struct peer_table *peers;        /* borrowed */
	struct channel *chan;            /* borrowed */
	struct replica *store;
	struct ev_timer sync_timer;      /* deltas every sync interval */
	struct ev_timer pump_timer;      /* bulk chunks, a few per loop iteration */
	struct ev_timer expire_timer;    /* replica_expire every second */
	struct ev_timer ae_timer;        /* anti-entropy rounds */
	struct ev_timer ticket_timer;    /* the TLS ticket-key schedule */
	uint64_t started_ms;             /* loop time of repl_init */
	uint8_t *fwd;                    /* entries for proxyd, packed (see repl.c) */
	size_t fwd_len, fwd_cap;
	struct replica_bulk chan_bulk;   /* the whole store to a (re)connected proxyd */
	int chan_resync;                 /* proxyd fell behind: bulk once it caught up */
	struct repl_reset resets[REPL_RESETS];
	size_t reset_next;               /* ring position of the next reset remembered */
	struct purgelog purges;          /* recent hactl cache purges, for rejoining peers */
	int purge_all_unsent;            /* a gap was seen while proxyd was not connected */
	char purge_all_origin[REPLICA_NAME_MAX + 1];
	struct repl_peer peer[HACD_MAX_NODES];
	struct cacheview cv;             /* cache summaries and digests (hacd/cacheview.h) */
	struct repl_stats stats;
	/* A node's drain entry (hactl drain|enable NODE, ADMINARG_NODE_UPSTREAM)
	 * changed: set here or merged from a peer's delta or bulk sync.
	 * state: Tandem__AdminState; origin: the node whose operator set it.
	 * Set by the caller after repl_init. */
	void (*on_node_admin)(void *arg, const char *node, int state, const char *origin);
	void *node_admin_arg;
	struct log_ratelimit rl;
	struct log_ratelimit chan_rl;    /* refusals of proxyd's input */
};

/*
 * Create the store with cfg->repl's limits, take peers' sync messages and
 * chan's connections and StateSyncs (setting their callbacks), start the
 * timers and ask every peer for a bulk sync (this node just started).
 * Borrows loop, cfg, peers and chan, which must outlive it. 0, or -1
 * (logged) when the store cannot be created.
 */
int repl_init(struct repl *r, struct ev_loop *loop, const struct hacd_config *cfg,
    struct peer_table *peers, struct channel *chan);

/* Stop the timers and bulk cursors, free the store. Idempotent. */
void repl_fini(struct repl *r);

/* A reloaded configuration (hacd_config_reloadable kept the limits):
 * re-arm the timers with its intervals. */
void repl_set_config(struct repl *r, const struct hacd_config *cfg);

/* Peer `node` came alive: ask it for a bulk sync (it may hold state this
 * node missed, or this node restarted). */
void repl_peer_alive(struct repl *r, size_t node);

/* Peer `node` was declared dead: stop any bulk sync to it. */
void repl_peer_dead(struct repl *r, size_t node);

/*
 * The operator's command for UPSTREAM/SERVER: state (Tandem__AdminState)
 * and weight (0.., or -1 = keep what the store holds; state -1 likewise).
 * Stored with this node as origin, replicated in the next delta, and sent
 * to the local proxyd at once. Returns 0 with a message for the operator
 * in msg, or -1 (bad name, no memory) with the reason.
 */
int repl_admin_set(struct repl *r, const char *upstream, const char *server, int state,
    int64_t weight, char *msg, size_t len);

/*
 * hactl ratelimit reset LIMIT KEY: forget the key's counts and ban in this
 * store (replica_forget), and tell the local proxyd and every peer (which
 * do the same and tell theirs), stamped with this node's wall clock. 0 with
 * a message for the operator in msg, or -1 with the reason.
 */
int repl_rate_reset(struct repl *r, const char *limit, const uint8_t *key, size_t klen, char *msg, size_t len);

/*
 * hactl cache purge URL | --prefix URL | --tag TAG (kind: enum purge_kind): numbered into the purge log, sent
 * to the local proxyd and to every peer (twice: a command; a peer that
 * misses both gets it from the log when it next asks for a bulk sync).
 * 0 with a message for the operator in msg, or -1 with the reason.
 */
int repl_cache_purge(struct repl *r, const char *url, int kind, char *msg, size_t len);

/* 1 once this node may trust its store's admin entries to be the
 * cluster's: a bulk sync from a peer arrived complete, or REPL_TICKET_GRACE
 * passed since start, or it is the only node. */
int repl_admin_settled(const struct repl *r);

/* Visit every admin entry (hacd/ctl.c's listings); cb must not change r. */
void repl_admin_foreach(const struct repl *r, void (*cb)(void *arg, const Tandem__ServerAdmin *a),
    void *arg);

/* The store, read-only (hacd/ctl.c's `hactl ratelimit` and `hactl bans`
 * listings: replica_foreach, replica_rate_sum). NULL before repl_init. */
const struct replica *repl_store(const struct repl *r);

/* Visit every counter with a stable name: this module's ("sync-tx",
 * "sync-rx-bytes", ...) then the store's, prefixed "replica-". */
void repl_counters(const struct repl *r, void (*cb)(void *arg, const char *name, uint64_t value),
    void *arg);

#endif /* TANDEM_HACD_REPL_H */
