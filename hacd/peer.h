/*
 * hacd/peer.h — the peer table: one entry per configured node, fed only by
 * heartbeats that passed every check of the receive ladder, plus the UDP
 * socket heartbeats travel on (sealed by lib/wire).
 */
#ifndef TANDEM_HACD_PEER_H
#define TANDEM_HACD_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hacd/config.h"
#include "hacd/election.h"
#include "hacd/fresh.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

/* Why a datagram was dropped after lib/wire accepted it (wire's own
 * verdicts are counted by verdict). */
enum peer_drop {
	PEER_ACCEPTED = 0,
	PEER_DROP_WIRE,           /* wire_open or the replay check refused it: see wire[] */
	PEER_DROP_UNKNOWN_SENDER, /* authenticated, but the sender id is no configured peer */
	PEER_DROP_WRONG_SOURCE,   /* from an address other than the sender's configured one */
	PEER_DROP_BAD_PROTOBUF,   /* authenticated, but not a PeerMessage */
	PEER_DROP_NAME_MISMATCH,  /* heartbeat names another node than its sender id */
	PEER_DROP_IGNORED,        /* a valid message nobody takes (state sync without a sync callback) */
	PEER_DROP_HB_UNPROVEN,    /* heartbeat from a peer that has not proven freshness (hacd/fresh.c) */
	PEER_DROP_SYNC_UNPROVEN,  /* state sync, sync request or reset from such a peer */
	PEER_DROP_BAD_ECHO,       /* heartbeat echoing a nonce that is not our outstanding challenge */
	PEER_DROP_MAX
};

/* "accepted", "wire", "unknown-sender", "wrong-source", "bad-protobuf",
 * "name-mismatch", "ignored", "hb-unproven", "sync-unproven",
 * "challenge-bad-echo". */
const char *peer_drop_str(enum peer_drop d);

/* One VIP as a peer advertised it. */
struct peer_vip {
	unsigned prio;
	enum election_role role;
	int yield_to;             /* node index, -1 none */
};

struct peer {
	int alive;
	uint64_t last_heard_ms;   /* loop time of the newest accepted heartbeat; 0 never */
	uint64_t epoch;           /* sender epoch of that heartbeat */
	struct wire_replay replay;
	struct fresh fresh;       /* has it proven that its datagrams are new? (hacd/fresh.c) */
	int have_echo;            /* it challenges us: echo[] goes into our heartbeats */
	uint8_t echo[FRESH_NONCE_LEN];
	int sync_req_pending;     /* it asked for a bulk sync before it was proven */
	int legacy;               /* its last heartbeat did not say proves_freshness (an older hacd) */
	struct ev_timer dead_timer;
	uint32_t health;          /* HEALTH_* bits */
	int maintenance;
	int have_digest;
	uint8_t digest[16];
	uint32_t advert_ms;
	uint64_t uptime_ms;
	int hears_self;           /* its latest heartbeat lists this node as heard (older senders: 1) */
	int vote_for;             /* a witness: the node index its heartbeat votes for, -1 none (hacd/quorum.c) */
	int quorate;              /* what it says of itself: it counts a majority (or quorum is off) */
	unsigned votes;           /* ... and how many votes it counts */
	struct peer_vip vips[HACD_MAX_VIPS];
	uint32_t bgp_announcing;  /* bit v: it announces BGP-mode group v (its heartbeat says) */
	struct peer_table *table;
};

struct peer_stats {
	uint64_t rx;                      /* datagrams read */
	uint64_t drops[PEER_DROP_MAX];    /* [PEER_ACCEPTED] counts accepted ones */
	uint64_t wire[WIRE_VERDICT_MAX];  /* per lib/wire verdict (WIRE_OK unused) */
	uint64_t tx, tx_err;
	uint64_t rx_mcast, tx_mcast;      /* multicast mode: read from / sent to the group */
	uint64_t proved;                  /* peers that proved freshness (echoed our challenge) */
	uint64_t challenged;              /* challenges we answered (a peer's new nonce echoed) */
	uint64_t legacy;                  /* taken unproven from an older peer (legacy_peers on) */
};

/* Send a heartbeat soon (not from inside this call): a challenge or an
 * echo is waiting, and a peer's proof should not wait an advert interval. */
typedef void (*peer_kick_cb)(void *arg);

/* Called after an accepted heartbeat changed what the election sees
 * (what == NULL), when a peer comes alive (what == "alive") or is declared
 * dead (what describes why). */
typedef void (*peer_changed_cb)(void *arg, size_t node, const char *what);

/* Called for an accepted StateSync or SyncRequest from peer `node` (only
 * after every rung of the ladder); msg is valid only during the call and
 * len is the decrypted payload's size. */
typedef void (*peer_sync_cb)(void *arg, size_t node, const Tandem__PeerMessage *msg, size_t len);

struct peer_table {
	struct ev_loop *loop;
	const struct hacd_config *cfg;    /* borrowed; peer_table_set_config on reload */
	const struct wire_keyring *kr;    /* borrowed */
	uint32_t cluster_id;
	struct wire_sender sender;
	struct peer peers[HACD_MAX_NODES]; /* by node index; the self entry is unused */
	struct peer_stats stats;
	struct log_ratelimit rl;
	int fd;                           /* bound, unconnected: anything from anywhere */
	struct ev_io io;
	/* One socket per peer, bound to the same address and port and
	 * connected to the peer: the kernel delivers the peer's datagrams
	 * there (a connected socket is the better match), so a flood from
	 * other addresses fills only the shared socket's queue and cannot
	 * crowd genuine heartbeats out. */
	int peer_fd[HACD_MAX_NODES];
	struct ev_io peer_io[HACD_MAX_NODES];
	/* Multicast mode (cfg->mcast.enabled): heartbeats go out once, to the
	 * group, from fd; peer_fd[i] is then bound to the group and connected
	 * to peer i, which keeps the same isolation (see hacd/peer.c). */
	unsigned mcast_ifindex;           /* interface the sockets joined on; 0 not yet */
	peer_changed_cb changed;
	void *arg;
	peer_sync_cb sync;                /* NULL: state sync is counted as ignored */
	void *sync_arg;
	peer_kick_cb kick;                /* NULL: challenges wait for the next heartbeat */
	void *kick_arg;
	size_t fresh_rr;                  /* rotation when challenges do not all fit one heartbeat */
};

/*
 * Set up the table for cfg's node list (cfg->self is this node) with the
 * sending epoch from wire_epoch_next. Opens no socket (peer_table_open does),
 * so tests can feed peer_input directly. Borrows loop, cfg and kr.
 */
void peer_table_init(struct peer_table *pt, struct ev_loop *loop, const struct hacd_config *cfg,
    const struct wire_keyring *kr, uint64_t epoch, peer_changed_cb changed, void *arg);
/* Stop timers and close the socket. */
void peer_table_fini(struct peer_table *pt);
/* Swap in a reloaded configuration (same node list: hacd_config_reloadable). */
void peer_table_set_config(struct peer_table *pt, const struct hacd_config *cfg,
    const struct wire_keyring *kr);

/* Bind the UDP sockets (the shared one and one connected per peer) to this
 * node's configured address and port and start reading; in multicast mode
 * also set the group's TTL on the shared one, which then sends. 0, or -1
 * with errno set. */
int peer_table_open(struct peer_table *pt);

/* Open the connected socket of every peer that has none yet (called by
 * peer_table_open, and again every second by the node: a peer without a
 * route at start-up is reached through the shared socket meanwhile). In
 * multicast mode these sockets are bound to the group and joined on the
 * configured interface, and they are the only way in: a peer without one
 * is not heard until a retry works. If the interface is missing nothing is
 * opened (logged, retried), and if it came back with another index every
 * group socket is reopened on the new one. */
void peer_table_connect(struct peer_table *pt);

/*
 * The receive ladder for one datagram from `from`, in order: size and
 * authentication (wire_open), sender id known, source address equal to the
 * sender's configured address and port, replay window, protobuf decoding,
 * heartbeat (or sync request) node name equal to the sender's name. Each refusal bumps one
 * counter and logs at most once per second; a refused datagram changes
 * nothing else: no peer field, no timer, no callback. Then freshness
 * (hacd/fresh.c): a datagram that passed every rung but comes from a peer
 * that has not echoed our challenge since we (or it) restarted moves the
 * replay window and, for a heartbeat, records the challenge the peer sent
 * us and checks its echo, and nothing else: it is counted (hb-unproven,
 * sync-unproven, challenge-bad-echo) and dropped, so a recording replayed
 * into an empty window makes no peer alive and reaches no store. Only an
 * accepted heartbeat of a proven peer updates the peer entry and its dead
 * timer, and calls `changed` if the view moved; an accepted StateSync,
 * RateReset or SyncRequest of a proven peer goes to the sync callback
 * (nothing else; a SyncRequest that came before the proof is handed over
 * at the proof). Returns the outcome.
 */
enum peer_drop peer_input(struct peer_table *pt, const uint8_t *dgram, size_t len,
    const struct sockaddr *from);

/* Take accepted StateSync and SyncRequest messages (hacd/repl.c). */
void peer_table_set_sync(struct peer_table *pt, peer_sync_cb cb, void *arg);

/* Ask for an early heartbeat when a challenge or an echo is waiting (hacd/node.c). */
void peer_table_set_kick(struct peer_table *pt, peer_kick_cb cb, void *arg);

/* Dead interval for a peer: dead_intervals x its advert interval, plus the
 * VRRP skew (256 - prio) / 256 x interval when `skew` is on (prio: this
 * node's best configured VIP priority, as RFC 5798 6.1). */
uint64_t peer_dead_after_ms(const struct peer_table *pt, size_t node);

/*
 * Seal hb (packed as a PeerMessage) once and send it to every peer, or in
 * multicast mode once to the group. Returns 0 if it went to every peer, -1 if packing/sealing failed or any
 * send failed (counted in tx_err, logged rate-limited).
 */
int peer_send_heartbeat(struct peer_table *pt, const Tandem__Heartbeat *hb);

/*
 * Pack hb as a PeerMessage into payload (cap bytes), adding this node's
 * freshness challenges to peers not yet proven and its echoes of their
 * challenges (hacd/fresh.c; as many as fit, rotating). A peer challenged
 * here for the first time gets its nonce now (UNPROVEN -> CHALLENGED).
 * Returns the length, or -1 if it does not fit cap or one datagram.
 */
ssize_t peer_build_heartbeat(struct peer_table *pt, const Tandem__Heartbeat *hb, uint8_t *payload,
    size_t cap);

/*
 * Seal payload (a packed PeerMessage of at most WIRE_MAX_PAYLOAD bytes) once
 * and send it: to peer `node`, or with node < 0 to every peer (in multicast
 * mode once to the group). Returns 0 if every send worked, -1 otherwise
 * (sealing failed, or a send did: counted in tx_err, logged rate-limited).
 */
int peer_send_payload(struct peer_table *pt, const uint8_t *payload, size_t len, int node);

/* Visit every counter with a stable name ("rx", "accepted", "drop-auth-failed", ...;
 * "rx-multicast" and "tx-multicast" only in multicast mode). */
void peer_counters(const struct peer_table *pt,
    void (*cb)(void *arg, const char *name, uint64_t value), void *arg);

#endif /* TANDEM_HACD_PEER_H */
