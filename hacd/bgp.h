/*
 * hacd/bgp.h — VIP groups in mode "bgp": every healthy node holds the
 * address (a /32 or /128 on a local interface) and announces it through its
 * local BIRD, and routers spread flows over the nodes with ECMP. No
 * election: each node decides for itself whether its route should be up,
 * and tells BIRD (hacd/bird.h) by enabling or disabling the static protocol
 * hacd.conf names for the group. docs/scale.md has the operator's side.
 */
#ifndef TANDEM_HACD_BGP_H
#define TANDEM_HACD_BGP_H

#include <stddef.h>
#include <stdint.h>

#include "hacd/bird.h"
#include "hacd/config.h"
#include "hacd/gate.h"
#include "lib/ev.h"

struct node;

/* One BGP-mode group's route on this node. */
struct bgp_vip {
	int want;               /* 1: the route should be announced */
	int have;               /* what BIRD last confirmed: 1 enabled, 0 disabled, -1 unknown */
	int resend;             /* the reconcile tick asks for the command again */
	int draining;           /* a graceful withdrawal waits for open connections to end */
	uint64_t drain_deadline_ms;
	const char *why;        /* why want is what it is (static text) */
	char detail[64];        /* e.g. the failing check's name */
	uint64_t since_ms;      /* loop time want last changed */
	int addr_held;          /* this hacd put the address on its interface */
	struct gate gate;       /* new connections held off while it drains */
	int gate_wait;          /* the drain it asks for waits for that gate */
	uint64_t announces, withdrawals;
};

struct bgp {
	struct bird_client bird;
	struct bgp_vip vips[HACD_MAX_VIPS];
	size_t nbgp;            /* groups in mode "bgp" */
	int node_drain;         /* hactl drain NODE on this node */
	int drain_asked;        /* bgp.c asked proxyd to drain */
	int sending;            /* index of the group whose command is under way, -1 none */
	int sent_want;          /* what that command asks */
	struct ev_timer poll;   /* while a group drains: are its connections gone? */
	uint64_t bird_failures; /* commands that got no reply or an error */
	const char *bird_last_error;
	struct node *node;
};

/* Set up the groups in mode "bgp" and put their addresses on their
 * interfaces; nothing is announced until bgp_eval says so. A relative
 * bird.socket is taken relative to rundir. No-op without such groups.
 * Returns 0, or -1 with the reason logged (the socket path too long). */
int bgp_init(struct bgp *b, struct node *n, const char *rundir);

/* Decide every group's route from the node's state (proxyd's readiness and
 * drain, fault checks, maintenance, stop, drain) and act on it. Called
 * from the node's one evaluation per loop iteration. */
void bgp_eval(struct bgp *b);

/* Once a second: ask BIRD again for what each group wants (a BIRD that
 * restarted came back with the protocols as its configuration says), put
 * back an address removed behind hacd's back, retry gates. */
void bgp_tick(struct bgp *b);

/* At exit: withdraw every route (blocking, bounded) and remove the
 * addresses. */
void bgp_fini(struct bgp *b);

/* This node's replicated drain entry (hactl drain|enable NODE, run on any
 * node; hacd/repl.c hands it over, by = the node whose operator set it):
 * withdraw every route once open connections ended (on) or announce them
 * again (off). */
void bgp_node_drain(struct bgp *b, int on, const char *by);

/* 1 while a route is announced or a withdrawal drains (a graceful stop
 * waits for it), 0 when there is none. */
int bgp_holds(const struct bgp *b);

/* 1 while bgp.c wants proxyd drained (node.c must not end that drain). */
int bgp_wants_drain(const struct bgp *b);

/* 1 if group v is announced (BIRD confirmed) on this node. */
int bgp_announced(const struct bgp *b, size_t v);

/* This node's state of group v for hactl status: "announced", "pending"
 * (wanted, BIRD has not confirmed), "draining", "withdrawing", "withdrawn";
 * *why gets the reason (static text or b's buffer). */
const char *bgp_state_str(const struct bgp *b, size_t v, const char **why);

/* Counters for hactl status --counters. */
void bgp_counters(const struct bgp *b, void (*add)(void *arg, const char *name, uint64_t v), void *arg);

#endif /* TANDEM_HACD_BGP_H */
