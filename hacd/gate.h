/*
 * hacd/gate.h — new connections to a VIP held off during a planned
 * handover, and the connections still open to it counted.
 *
 * A TCP connection open to a VIP when the address moves is cut: the
 * client's next segment reaches the new owner, which knows no such
 * connection and resets it. So, as keepalived+HAProxy operators do, the old
 * owner first stops taking new connections on the VIP, lets the open ones
 * finish, and only then hands the address over. New connections are held
 * off, not refused: an nftables rule drops the SYNs sent to the VIP, and the
 * client sends its SYN again (after its initial retransmission timeout of
 * 1 s, then 2 s later: RFC 6298 §2.1, §5.5), by which time the VIP answers
 * from the new owner. The rule is set and removed by running nft(8)
 * (hacd/proc.c: never waited for on the event loop), one run at a time per
 * VIP so that a removal can never be overtaken by the setting it undoes.
 */
#ifndef TANDEM_HACD_GATE_H
#define TANDEM_HACD_GATE_H

#include <sys/types.h>

#include "hacd/config.h"
#include "hacd/proc.h"
#include "hacd/vip.h"

/* The nftables table every gate's chain lives in (in hacd's namespace). */
#define GATE_TABLE "tandem_hacd"

/* Called when an nft run has ended, its result already in the gate
 * (gate_held, gate_failed): a drain that must not start before the rule is
 * in place waits for this (hacd/node.c begin_yield, hacd/bgp.c). */
typedef void (*gate_done_cb)(void *arg);

struct gate {
	struct proc_table *procs;
	struct vip_addr va;
	char nft[HACD_PATH_MAX];
	int want;      /* 1: new connections to va held off */
	int applied;   /* what the last successful nft run made true */
	int op_running; /* what the nft running now makes true */
	int failures;  /* nft runs failed in a row (retries stop at 3) */
	pid_t pid;     /* nft running, 0 none */
	gate_done_cb done;  /* optional: told when each nft run ends */
	void *done_arg;
};

void gate_init(struct gate *g, struct proc_table *procs);

/* Call done(arg) each time an nft run for g ends (after gate_init). */
void gate_notify(struct gate *g, gate_done_cb done, void *arg);

/*
 * Hold off (hold = 1) or let in (0) new connections to va, using the nft
 * program at path nft ("" = no gate: gate_held stays 0). Returns at once;
 * the change is made by a child process.
 */
void gate_set(struct gate *g, const char *nft, const struct vip_addr *va, int hold);

/*
 * A removal that failed (nft missing, killed, refused) is tried again: a
 * rule left behind would hold new connections off the VIP the next time
 * this node owns it. Called every second; does nothing otherwise.
 */
void gate_retry(struct gate *g);

/* Are new connections to the VIP held off now (the rule is in place)? */
int gate_held(const struct gate *g);

/*
 * Did holding new connections off fail: wanted, not in place, and the last
 * nft run for it failed or could not start, or there is no nft to run? A
 * retry may be under way (the rule can still come later).
 */
int gate_failed(const struct gate *g);

/* Is an nft run still to finish, or the rule still in place? */
int gate_busy(const struct gate *g);

/*
 * Remove every gate (the whole table) and wait for nft to finish: at start
 * (a crashed predecessor's rule must not keep holding a VIP off) and at
 * exit. A missing or empty nft path does nothing.
 */
void gate_clear_all(const char *nft);

/*
 * The number of TCP connections in this network namespace whose local
 * address is va's and that are not yet closed on our side (established,
 * half-open, or with our FIN not yet acknowledged; listeners, TIME_WAIT and
 * FIN_WAIT2 are not counted: nothing of ours is still to reach the client),
 * from /proc/net/tcp or /proc/net/tcp6. -1 if the table cannot be read.
 */
int gate_conns(const struct vip_addr *va);

#endif /* TANDEM_HACD_GATE_H */
