/*
 * tests/unit/test_election.c — the VIP election (hacd/election.c) as tables.
 *
 * Each scenario starts from a fresh INIT state and applies its steps in
 * order, feeding each step's state into the next, on a fake clock (the
 * `now` column). A step gives what this node hears (per node: alive,
 * effective priority, claimed role, handover target) and the local inputs
 * (fault, handover request), and expects the role, the actions and the
 * re-evaluation time the election returns.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "hacd/election.h"

#define MAXN 3

struct nv { int alive; unsigned prio; enum election_role role; int yield_to; int hears; };

struct step {
	uint64_t now;
	struct nv n[MAXN];
	int fault;
	int yield;                  /* local handover request, -1 none */
	enum election_role want;
	unsigned act;
	uint64_t reeval;
	int yield_done;
	int yield_failed;
	int returned;               /* view.peer_returned */
};

struct scenario {
	const char *name;
	size_t nnodes;
	size_t self;
	int preempt;
	uint64_t delay;
	uint64_t startup_until;
	size_t nsteps;
	struct step steps[10];
};

/* Node columns: alive Master/Backup/Init, dead, with priority and target.
 * A live peer hears this node (its heartbeat lists us) unless it is MD:
 * a master whose heartbeats do not list us yet. */
#define M(p)    { 1, (p), ELECTION_MASTER, -1, 1 }
#define MD(p)   { 1, (p), ELECTION_MASTER, -1, 0 }
#define B(p)    { 1, (p), ELECTION_BACKUP, -1, 1 }
#define I(p)    { 1, (p), ELECTION_INIT, -1, 1 }
#define MY(p, t) { 1, (p), ELECTION_MASTER, (t), 1 }
#define DEAD    { 0, 100, ELECTION_INIT, -1, 0 }
#define SELF(p) { 1, (p), ELECTION_INIT, -1, 0 }

#define R_INIT   ELECTION_INIT
#define R_BACKUP ELECTION_BACKUP
#define R_MASTER ELECTION_MASTER
#define R_FAULT  ELECTION_FAULT
#define ADD  ELECTION_ACT_ADD
#define DEL  ELECTION_ACT_DEL
#define ANN  ELECTION_ACT_ANNOUNCE
#define TAKE (ADD | ANN)

static const struct scenario scenarios[] = {
	{ "start-up alone: wait, then claim", 2, 0, 1, 0, 300, 3, {
		{ 0,   { SELF(150), DEAD }, 0, -1, R_INIT, 0, 300, 0, 0, 0 },
		{ 200, { SELF(150), DEAD }, 0, -1, R_INIT, 0, 300, 0, 0, 0 },
		{ 300, { SELF(150), DEAD }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "start-up in fault (proxyd not there yet): the wait still applies", 2, 0, 1, 0, 300, 4, {
		{ 0,   { SELF(150), DEAD }, 1, -1, R_FAULT, 0, 0, 0, 0, 0 },
		{ 50,  { SELF(150), DEAD }, 0, -1, R_INIT, 0, 300, 0, 0, 0 },
		{ 100, { SELF(150), DEAD }, 0, -1, R_INIT, 0, 300, 0, 0, 0 },
		{ 300, { SELF(150), DEAD }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	/* hacd/node.c opens a new listening window (startup_until) when a
	 * link comes back: here at 5000 with 3 x 100 ms. Cut off, the node
	 * heard nobody; it must not claim before it has listened, and then
	 * it fails back only after the preempt delay. */
	{ "link back after a fault: listen first, then preempt after the delay", 2, 0, 1, 1000, 5300, 5, {
		{ 4000, { SELF(150), DEAD }, 1, -1, R_FAULT, 0, 0, 0, 0, 0 },
		{ 5000, { SELF(150), DEAD }, 0, -1, R_INIT, 0, 5300, 0, 0, 0 },
		{ 5100, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 6100, 0, 0, 0 },
		{ 5600, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 6100, 0, 0, 0 },
		{ 6100, { SELF(150), M(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	/* The same with preempt_delay 0, as the returning node sees it: it
	 * hears the owner before its own heartbeats get out (neighbour
	 * resolution), so the owner does not list it yet. Claiming then
	 * would make two owners until the claim got through; it claims
	 * once the owner hears it. */
	{ "link back, delay 0: preempt only once the owner hears this node", 2, 0, 1, 0, 5300, 5, {
		{ 4000, { SELF(150), DEAD }, 1, -1, R_FAULT, 0, 0, 0, 0, 0 },
		{ 5000, { SELF(150), DEAD }, 0, -1, R_INIT, 0, 5300, 0, 0, 0 },
		{ 5100, { SELF(150), MD(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 5400, { SELF(150), MD(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 5450, { SELF(150), M(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "preempt delay over but the owner does not hear this node: wait for it", 2, 0, 1, 1000, 0, 4, {
		{ 1000, { SELF(150), MD(100) }, 0, -1, R_BACKUP, 0, 2000, 0, 0, 0 },
		{ 2000, { SELF(150), MD(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 2100, { SELF(150), MD(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 2200, { SELF(150), M(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "an owner that stops hearing this node dies: taken at once, not waited for", 2, 1, 1, 0, 0, 3, {
		{ 0,   { MD(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { MD(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 400, { DEAD, SELF(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "start-up hearing a better peer: backup at once, never master", 2, 1, 1, 0, 300, 3, {
		{ 10,  { I(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 20,  { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 400, { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
	} },
	{ "start-up both at once: the better one claims without waiting", 2, 0, 1, 0, 300, 1, {
		{ 10,  { SELF(150), I(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "start-up with a live lower owner: failback after the preempt delay", 2, 0, 1, 1000, 300, 3, {
		{ 10,   { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 1010, 0, 0, 0 },
		{ 500,  { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 1010, 0, 0, 0 },
		{ 1010, { SELF(150), M(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "owner death: the backup takes over", 2, 1, 1, 0, 0, 3, {
		{ 0,   { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 400, { DEAD, SELF(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "priority change: owner keeps until the better node claims", 2, 0, 1, 0, 0, 4, {
		{ 0,   { SELF(150), B(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(150), B(200) }, 0, -1, R_MASTER, 0, 0, 0, 0, 0 },
		{ 200, { SELF(150), M(200) }, 0, -1, R_BACKUP, DEL, 0, 0, 0, 0 },
		{ 300, { SELF(150), M(200) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
	} },
	{ "priority change seen by the challenger: preempt at once (delay 0)", 2, 1, 1, 0, 0, 2, {
		{ 0,   { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { M(150), SELF(200) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "preempt delay: restarts when the challenger's priority dips", 2, 0, 1, 2000, 0, 6, {
		{ 1000, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 3000, 0, 0, 0 },
		{ 2000, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 3000, 0, 0, 0 },
		{ 2500, { SELF(90),  M(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 2600, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 4600, 0, 0, 0 },
		{ 3000, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 4600, 0, 0, 0 },
		{ 4600, { SELF(150), M(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "preempt off: a lower owner keeps the VIP until it dies", 2, 0, 0, 0, 0, 3, {
		{ 0,     { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 60000, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 60100, { SELF(150), DEAD },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "equal priorities: name breaks the tie at start, no preemption later", 2, 0, 1, 0, 0, 3, {
		{ 0,   { SELF(100), I(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(100), DEAD },   0, 0,  R_MASTER, 0, 0, 0, 1, 0 },
		{ 200, { SELF(100), B(100) }, 0, -1, R_MASTER, 0, 0, 0, 0, 0 },
	} },
	{ "equal priorities: the other name never claims, never preempts", 2, 1, 1, 0, 0, 3, {
		{ 0,   { I(100), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { DEAD, SELF(100) },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 200, { B(100), SELF(100) }, 0, -1, R_MASTER, 0, 0, 0, 0, 0 },
	} },
	{ "resignation: priority 0 gives the VIP up; a zero-priority claim is ignored", 2, 0, 1, 0, 0, 3, {
		{ 0,   { SELF(150), B(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(0),   B(100) }, 0, -1, R_BACKUP, DEL, 0, 0, 0, 0 },
		{ 200, { SELF(0),   DEAD },   0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
	} },
	{ "resignation seen by the backup: take over from a priority-0 owner", 2, 1, 1, 5000, 0, 2, {
		{ 0,   { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { M(0),   SELF(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "split brain, winner: announce on contest and on heal, once each", 2, 0, 0, 0, 1, 5, {
		{ 0,   { SELF(150), DEAD },   0, -1, R_INIT, 0, 1, 0, 0, 0 },
		{ 1,   { SELF(150), DEAD },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(150), M(100) }, 0, -1, R_MASTER, ANN, 0, 0, 0, 0 },
		{ 200, { SELF(150), M(100) }, 0, -1, R_MASTER, 0, 0, 0, 0, 0 },
		{ 300, { SELF(150), B(100) }, 0, -1, R_MASTER, ANN, 0, 0, 0, 0 },
	} },
	{ "split brain healed before the winner saw the claim: announce on the peer's return", 2, 0, 1, 0, 0, 4, {
		{ 0,   { SELF(150), B(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(150), DEAD },   0, -1, R_MASTER, 0, 0, 0, 0, 0 },
		{ 900, { SELF(150), B(100) }, 0, -1, R_MASTER, ANN, 0, 0, 0, 1 },
		{ 1000, { SELF(150), B(100) }, 0, -1, R_MASTER, 0, 0, 0, 0, 0 },
	} },
	{ "a returning peer does not make a backup announce", 2, 1, 1, 0, 0, 2, {
		{ 0,   { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 1 },
	} },
	{ "split brain, loser: step down even with preempt off", 2, 1, 0, 0, 0, 3, {
		{ 0,   { DEAD, SELF(100) },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { M(150), SELF(100) }, 0, -1, R_BACKUP, DEL, 0, 0, 0, 0 },
		{ 200, { M(150), SELF(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
	} },
	{ "flapping challenger health: the preempt delay never completes", 2, 0, 1, 3000, 0, 6, {
		{ 0,    { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 3000, 0, 0, 0 },
		{ 1000, { SELF(0),   M(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 2000, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 5000, 0, 0, 0 },
		{ 3000, { SELF(150), M(100) }, 1, -1, R_FAULT, 0, 0, 0, 0, 0 },
		{ 4000, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 7000, 0, 0, 0 },
		{ 5000, { SELF(0),   M(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
	} },
	{ "flapping peer seen by the owner: no transition, no action", 2, 1, 1, 5000, 0, 5, {
		{ 0,   { DEAD, SELF(100) },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { B(150), SELF(100) }, 0, -1, R_MASTER, 0, 0, 0, 0, 0 },
		{ 200, { DEAD, SELF(100) },   0, -1, R_MASTER, 0, 0, 0, 0, 0 },
		{ 300, { B(150), SELF(100) }, 0, -1, R_MASTER, 0, 0, 0, 0, 0 },
		{ 400, { DEAD, SELF(100) },   0, -1, R_MASTER, 0, 0, 0, 0, 0 },
	} },
	{ "three nodes: the third waits for the second, then takes over", 3, 2, 1, 0, 0, 4, {
		{ 0,   { M(150), B(100), SELF(50) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { DEAD,   B(100), SELF(50) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 200, { DEAD,   M(100), SELF(50) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 300, { DEAD,   DEAD,   SELF(50) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
	{ "three nodes: a handover between others leaves the third alone", 3, 2, 1, 0, 0, 2, {
		{ 0,   { M(50), B(100), SELF(30) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { MY(50, 1), B(100), SELF(30) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
	} },
	{ "three nodes, split three ways: the best one keeps it", 3, 1, 1, 0, 0, 2, {
		{ 0,   { DEAD, SELF(100), DEAD },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { M(150), SELF(100), M(50) }, 0, -1, R_BACKUP, DEL, 0, 0, 0, 0 },
	} },
	{ "planned failover, old owner: make before break, then no preemption", 2, 0, 1, 0, 0, 6, {
		{ 0,   { SELF(150), B(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(150), B(100) }, 0, 1,  R_MASTER, 0, 0, 0, 0, 0 },
		{ 200, { SELF(150), M(100) }, 0, 1,  R_BACKUP, DEL, 0, 1, 0, 0 },
		{ 300, { SELF(150), M(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 400, { SELF(150), DEAD },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 500, { SELF(150), M(100) }, 0, -1, R_MASTER, ANN, 0, 0, 0, 0 },
	} },
	{ "planned failover, target: takes the VIP from a higher owner", 2, 1, 1, 0, 0, 3, {
		{ 0,   { M(150), SELF(100) },     0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
		{ 100, { MY(150, 1), SELF(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 200, { B(150), SELF(100) },     0, -1, R_MASTER, 0, 0, 0, 0, 0 },
	} },
	{ "planned failover to a dead or unwilling node fails, VIP kept", 2, 0, 1, 0, 1, 3, {
		{ 0,   { SELF(150), DEAD },   0, -1, R_INIT, 0, 1, 0, 0, 0 },
		{ 1,   { SELF(150), DEAD },   0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(150), DEAD },   0, 1,  R_MASTER, 0, 0, 0, 1, 0 },
	} },
	{ "maintenance: priority 0 with a handover keeps the VIP until the target claims", 2, 0, 1, 0, 0, 4, {
		{ 0,   { SELF(150), B(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(0),   B(100) }, 0, 1,  R_MASTER, 0, 0, 0, 0, 0 },
		{ 200, { SELF(0),   M(100) }, 0, 1,  R_BACKUP, DEL, 0, 1, 0, 0 },
		{ 300, { SELF(0),   M(100) }, 0, -1, R_BACKUP, 0, 0, 0, 0, 0 },
	} },
	{ "fault: give up at once, take the VIP back when healthy", 2, 0, 1, 0, 0, 4, {
		{ 0,   { SELF(150), B(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
		{ 100, { SELF(150), B(100) }, 1, -1, R_FAULT, DEL, 0, 0, 0, 0 },
		{ 200, { SELF(150), M(100) }, 1, -1, R_FAULT, 0, 0, 0, 0, 0 },
		{ 300, { SELF(150), M(100) }, 0, -1, R_MASTER, TAKE, 0, 0, 0, 0 },
	} },
};

static const char *const names[MAXN] = { "n1", "n2", "n3" };

static void run_scenario(const struct scenario *sc)
{
	struct election_state st;
	struct election_node nodes[MAXN];
	struct election_view v;
	struct election_result r;

	memset(nodes, 0, sizeof(nodes));
	election_state_init(&st);
	for (size_t k = 0; k < sc->nsteps; k++) {
		const struct step *s = &sc->steps[k];

		for (size_t i = 0; i < sc->nnodes; i++) {
			nodes[i].name = names[i];
			nodes[i].alive = s->n[i].alive;
			nodes[i].prio = s->n[i].prio;
			nodes[i].role = s->n[i].role;
			nodes[i].yield_to = s->n[i].yield_to;
			nodes[i].hears_self = s->n[i].hears;
		}
		memset(&v, 0, sizeof(v));
		v.now_ms = s->now;
		v.nodes = nodes;
		v.nnodes = sc->nnodes;
		v.self = sc->self;
		v.self_fault = s->fault;
		v.self_yield_to = s->yield;
		v.preempt = sc->preempt;
		v.preempt_delay_ms = sc->delay;
		v.startup_until_ms = sc->startup_until;
		v.peer_returned = s->returned;
		election_step(&st, &v, &r);
		if (r.next.role != s->want || r.actions != s->act || r.reeval_ms != s->reeval ||
		    r.yield_done != s->yield_done || r.yield_failed != s->yield_failed) {
			print_error("%s: step %zu (t=%llu): got role %s actions %#x reeval %llu "
			    "done %d failed %d (%s); want %s %#x %llu %d %d\n",
			    sc->name, k, (unsigned long long)s->now, election_role_str(r.next.role),
			    r.actions, (unsigned long long)r.reeval_ms, r.yield_done, r.yield_failed,
			    r.reason, election_role_str(s->want), s->act,
			    (unsigned long long)s->reeval, s->yield_done, s->yield_failed);
			fail();
		}
		assert_non_null(r.reason);
		st = r.next;
	}
}

static void test_scenarios(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		run_scenario(&scenarios[i]);
}

/* Both nodes of a pair, fed each other's claims, converge on one owner from
 * every combination of starting roles: the property split-brain healing
 * relies on. */
static void test_pair_converges(void **unused)
{
	static const enum election_role roles[] = { ELECTION_INIT, ELECTION_BACKUP, ELECTION_MASTER };
	static const unsigned prios[][2] = { { 150, 100 }, { 100, 150 }, { 100, 100 } };

	(void)unused;
	for (size_t p = 0; p < 3; p++)
	for (size_t a = 0; a < 3; a++)
	for (size_t b = 0; b < 3; b++)
	for (int preempt = 0; preempt < 2; preempt++) {
		struct election_state st[2];
		struct election_node nodes[2];
		struct election_view v;
		struct election_result r;
		int masters;

		memset(nodes, 0, sizeof(nodes));
		election_state_init(&st[0]);
		election_state_init(&st[1]);
		st[0].role = roles[a];
		st[1].role = roles[b];
		for (int round = 0; round < 4; round++) {
			enum election_role seen[2] = { st[0].role, st[1].role };

			for (size_t self = 0; self < 2; self++) {
				for (size_t i = 0; i < 2; i++) {
					nodes[i].name = names[i];
					nodes[i].alive = 1;
					nodes[i].prio = prios[p][i];
					nodes[i].role = seen[i];
					nodes[i].yield_to = -1;
					nodes[i].hears_self = 1;
				}
				memset(&v, 0, sizeof(v));
				v.now_ms = (uint64_t)round * 100;
				v.nodes = nodes;
				v.nnodes = 2;
				v.self = self;
				v.self_yield_to = -1;
				v.preempt = preempt;
				election_step(&st[self], &v, &r);
				st[self] = r.next;
			}
		}
		masters = (st[0].role == ELECTION_MASTER) + (st[1].role == ELECTION_MASTER);
		if (masters != 1) {
			print_error("prios %u/%u start %s/%s preempt %d: %d owners\n",
			    prios[p][0], prios[p][1], election_role_str(roles[a]),
			    election_role_str(roles[b]), preempt, masters);
			fail();
		}
	}
}

/* A view of two nodes, this one first, nothing else set. */
static void pair_view(struct election_view *v, const struct election_node *nodes, uint64_t now)
{
	memset(v, 0, sizeof(*v));
	v->now_ms = now;
	v->nodes = nodes;
	v->nnodes = 2;
	v->self = 0;
	v->self_yield_to = -1;
}

/* The held-back preemption is flagged (hacd/node.c counts it as
 * "preempt-wait-unheard"), and only that: not an ordinary preempt, not a
 * wait for the delay, not a dead owner. */
static void test_preempt_unheard_flag(void **unused)
{
	static const struct {
		struct nv owner;
		uint64_t delay;
		int flag;
		enum election_role want;
	} rows[] = {
		{ MD(100), 0,    1, ELECTION_BACKUP },
		{ M(100),  0,    0, ELECTION_MASTER },
		{ MD(100), 1000, 0, ELECTION_BACKUP },  /* the delay runs first */
		{ DEAD,    0,    0, ELECTION_MASTER },
	};

	(void)unused;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct election_state st;
		struct election_node nodes[2] = {
			{ "n1", 1, 150, ELECTION_BACKUP, -1, 0, 0 },
			{ "n2", rows[i].owner.alive, rows[i].owner.prio, rows[i].owner.role,
			  rows[i].owner.yield_to, rows[i].owner.hears, 0 },
		};
		struct election_view v;
		struct election_result r;

		election_state_init(&st);
		st.role = ELECTION_BACKUP;
		pair_view(&v, nodes, 10000);
		v.preempt = 1;
		v.preempt_delay_ms = rows[i].delay;
		election_step(&st, &v, &r);
		if (r.preempt_unheard != rows[i].flag || r.next.role != rows[i].want)
			fail_msg("row %zu: flag %d role %s (%s); want %d %s", i, r.preempt_unheard,
			    election_role_str(r.next.role), r.reason, rows[i].flag,
			    election_role_str(rows[i].want));
	}
}

static void test_invalid_view(void **unused)
{
	struct election_state st;
	struct election_result r;
	struct election_view v;

	(void)unused;
	election_state_init(&st);
	memset(&v, 0, sizeof(v));
	v.nnodes = 0;
	election_step(&st, &v, &r);
	assert_int_equal(r.next.role, ELECTION_INIT);
	assert_int_equal(r.actions, 0);
	assert_string_equal(election_role_str(ELECTION_FAULT), "fault");
	assert_string_equal(election_role_str((enum election_role)42), "invalid");
}

/* No quorum: an owner gives the VIP up at once and a backup that would
 * be the best candidate claims nothing; with the majority back the node
 * hears the cluster first (the FAULT start-up rule) before it claims. */
static void test_no_quorum(void **unused)
{
	struct election_node nodes[2] = {
		{ "n1", 1, 150, ELECTION_MASTER, -1, 1, 0 },
		{ "n2", 0, 100, ELECTION_INIT, -1, 0, 0 },
	};
	struct election_state st;
	struct election_result r;
	struct election_view v;

	(void)unused;
	election_state_init(&st);
	st.role = ELECTION_MASTER;
	pair_view(&v, nodes, 1000);
	v.self_no_quorum = 1;
	election_step(&st, &v, &r);
	assert_int_equal(r.next.role, ELECTION_FAULT);
	assert_int_equal(r.actions, ELECTION_ACT_DEL);
	assert_non_null(strstr(r.reason, "no quorum"));
	st = r.next;
	v.now_ms = 2000;
	election_step(&st, &v, &r);
	assert_int_equal(r.next.role, ELECTION_FAULT);
	assert_int_equal(r.actions, 0);
	/* Majority back, within the start-up wait, nobody heard claiming. */
	st = r.next;
	v.self_no_quorum = 0;
	v.startup_until_ms = 2300;
	election_step(&st, &v, &r);
	assert_int_equal(r.next.role, ELECTION_INIT);
	assert_int_equal(r.reeval_ms, 2300);
	st = r.next;
	v.now_ms = 2300;
	election_step(&st, &v, &r);
	assert_int_equal(r.next.role, ELECTION_MASTER);

	/* Starting, n2 hears n1 (better) which has no majority yet and so
	 * advertises priority 0: n2 waits out its start-up rather than take
	 * the VIP; once n1 counts its majority n2 defers to it. */
	{
		struct election_node two[2] = {
			{ "n1", 1, 0, ELECTION_FAULT, -1, 1, 1 },
			{ "n2", 1, 100, ELECTION_INIT, -1, 1, 0 },
		};

		election_state_init(&st);
		v.nodes = two;
		v.self = 1;
		v.now_ms = 1000;
		v.startup_until_ms = 1300;
		election_step(&st, &v, &r);
		assert_int_equal(r.next.role, ELECTION_INIT);
		two[0].prio = 150;
		two[0].role = ELECTION_INIT;
		two[0].no_quorum = 0;
		v.now_ms = 1010;
		election_step(&r.next, &v, &r);
		assert_int_equal(r.next.role, ELECTION_BACKUP);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
		cmocka_unit_test(test_pair_converges),
		cmocka_unit_test(test_preempt_unheard_flag),
		cmocka_unit_test(test_invalid_view),
		cmocka_unit_test(test_no_quorum),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
