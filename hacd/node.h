/*
 * hacd/node.h — one hacd node: its configuration, peers, VIPs, checks and
 * the orchestration that turns election results into VIP changes.
 * hacd/main.c creates one; hacd/ctl.c reads it for `hactl status` and calls
 * the node_* operations below for the other commands.
 */
#ifndef TANDEM_HACD_NODE_H
#define TANDEM_HACD_NODE_H

#include <stddef.h>
#include <stdint.h>

#include "hacd/bgp.h"
#include "hacd/channel.h"
#include "hacd/config.h"
#include "hacd/election.h"
#include "hacd/gate.h"
#include "hacd/peer.h"
#include "hacd/proc.h"
#include "hacd/quorum.h"
#include "hacd/repl.h"
#include "hacd/vip.h"
#include "lib/ev.h"
#include "lib/wire.h"

struct node;

/* enum election_role values: INIT, BACKUP, MASTER, FAULT. */
#define NODE_ROLES 4

struct node_vip {
	struct election_state st;
	const char *reason;         /* of the last transition (static text) */
	uint64_t since_ms;          /* loop time of the last transition */
	int link_down;              /* its interface has no carrier (tracked when track.interface) */
	int yield_to;               /* planned failover target (node index), -1 none */
	int yield_armed;            /* the target is advertised (proxyd drained or the wait ended) */
	uint64_t yield_deadline_ms; /* abandon the handover if the target has not claimed by then */
	unsigned garp_left;         /* announcements still to send */
	unsigned adv_prio;          /* what the last heartbeat said */
	int lingering;              /* handed over, address kept for NODE_LINGER_MS */
	struct gate gate;           /* new connections held off while it is handed over (hacd/gate.h) */
	int gate_wait;              /* its handover's drain waits for that gate (begin_yield) */
	int preempt_unheard;        /* the last step held a preemption back (the owner does not hear us) */
	uint64_t transitions[NODE_ROLES]; /* role changes since start, by the role entered (metrics) */
	struct ev_timer garp_timer;
	struct ev_timer linger_timer;
	struct ev_timer reeval_timer;
	struct node *node;
};

struct node_check {
	int ok;                     /* last result (optimistic before the first run) */
	pid_t pid;                  /* running, 0 none */
	struct ev_timer timer;
	struct node *node;
};

struct node {
	struct ev_loop *loop;
	struct hacd_config *cfg;        /* owned; swapped whole on reload */
	struct wire_keyring *kr;        /* owned */
	uint64_t epoch;
	uint64_t start_ms;
	uint64_t startup_until_ms;      /* elections claim only after hearing all nodes before this */
	struct peer_table peers;
	struct vip_ctx *vip;            /* NULL: VIP changes are skipped (hacd -t) */
	struct ev_io mon_io;
	struct ev_timer hb_timer;       /* heartbeat every advert interval */
	struct ev_timer tick_timer;     /* once a second: VIP presence and link state */
	struct ev_timer drain_timer;    /* bounded wait for proxyd to drain before a handover */
	struct ev_timer gate_timer;     /* during that wait: is any connection still open to the VIP? */
	int drain_owed;                 /* a handover's drain is sent once no gate_wait is left */
	struct ev_timer stop_timer;     /* bounded graceful stop */
	struct ev_defer eval_defer;     /* coalesces re-evaluations into one per iteration */
	struct ev_defer recheck_defer;  /* coalesces netlink monitor events */
	struct ev_defer hb_defer;       /* an early heartbeat: a freshness challenge or echo waits */
	struct channel chan;
	int chan_open;
	struct repl repl;               /* replication (hacd/repl.c); repl.store NULL until up */
	struct proc_table procs;
	struct node_vip vips[HACD_MAX_VIPS];
	struct node_check checks[HACD_MAX_CHECKS];
	int maintenance;
	int peer_returned;              /* a peer came alive since the last evaluation */
	int stopping;                   /* graceful stop in progress */
	uint64_t notify_failed;
	uint64_t preempt_unheard;       /* preemptions held back until the owner heard us ("preempt-wait-unheard") */
	int witness;                    /* hacd --witness: only a vote, no VIP, no election (hacd/quorum.c) */
	int vote_for;                   /* a witness: the node it votes for, -1 nobody yet */
	struct quorum_count quorum;     /* the votes this node counts now (quorate 1 when quorum is off) */
	uint64_t quorum_lost;           /* times this node lost its majority ("quorum-lost") */
	uint64_t vote_moves;            /* a witness: times its vote moved ("witness-vote-moves") */
	struct ev_timer quorum_timer;   /* a witness: its start-up wait ends (it votes only then) */
	struct ev_timer grace_timer;    /* quorum on: a dead owner's claim grace ends (eval_vip) */
	uint64_t grace_next;            /* the earliest such end in the last evaluation, 0 none */
	void (*event_cb)(void *arg, const char *line);  /* hactl events subscribers (hacd/ctl.c) */
	void *event_arg;
	struct bgp bgp;                 /* the VIP groups in mode "bgp" (hacd/bgp.c) */
};

/* One line for the log at info and for `hactl events` subscribers. */
void node_event(struct node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Bring the node up: bind the heartbeat socket, open the VIP context and its
 * monitor, listen on rundir/hacd.chan, remove every configured VIP from
 * this host (a crashed daemon must not leave a second holder behind), start
 * checks and heartbeats. Takes ownership of cfg and kr (also on failure).
 * Returns 0, or -1 with the reason logged.
 */
int node_init(struct node *n, struct ev_loop *loop, struct hacd_config *cfg,
    struct wire_keyring *kr, uint64_t epoch, const char *rundir);

/* Remove owned VIPs, tell peers (a last heartbeat with no claims), close
 * everything and free cfg and kr. */
void node_fini(struct node *n);

/*
 * Graceful stop: hand every owned VIP to the best other live node
 * (make-before-break, like maintenance) and call done(arg) once no VIP is
 * held or after a bounded wait (10 advert intervals, at least 1 s). A
 * second call calls done(arg) at once.
 */
void node_stop(struct node *n, void (*done)(void *arg), void *arg);

/* Effective priority of VIP v on this node; *fault set when a fault check
 * failed (the priority is then 0). */
unsigned node_effective_prio(const struct node *n, size_t v, int *fault);

/*
 * Planned failover of VIP `vip` (name or address; NULL or "" = every VIP
 * this node holds) to node `to` (NULL or "" = the best other live node).
 * Only the owner can hand a VIP over: on another node this fails with a
 * message naming the owner. Returns 0 (started) or -1, with a message for
 * the operator in msg either way.
 */
int node_failover(struct node *n, const char *vip, const char *to, char *msg, size_t len);

/* Maintenance on: priority 0 for every VIP, owned ones handed over first;
 * off: configured priorities back (failback follows the preempt rules).
 * Returns 0, with a message in msg. */
int node_maintenance(struct node *n, int on, char *msg, size_t len);

/* Re-read the configuration file and the key file. On any error the
 * running configuration stays; msg gets the file:line message. 0/-1. */
int node_reload(struct node *n, char *msg, size_t len);

/* May this node hold VIPs? 1 with quorum off, or when it counts a majority. */
int node_quorate(const struct node *n);

/* Role and owner of VIP v as this node sees it: the owner is this node if
 * it is MASTER, else a live peer claiming MASTER, else NULL. */
const char *node_vip_owner(const struct node *n, size_t v);

#endif /* TANDEM_HACD_NODE_H */
