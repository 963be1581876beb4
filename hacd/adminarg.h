/*
 * hacd/adminarg.h — the arguments of the cluster-wide server admin commands
 * (`hactl drain|enable|maint UPSTREAM/SERVER`, `hactl weight UPSTREAM/SERVER
 * N`), parsed the same way by hactl (to answer a typo with exit 2 before
 * hacd is even asked) and by hacd/ctl.c (which must not trust its client).
 * Pure: no I/O.
 */
#ifndef TANDEM_HACD_ADMINARG_H
#define TANDEM_HACD_ADMINARG_H

#include <stddef.h>
#include <stdint.h>

#include "hacd/replica.h"

/* proxyd's balancers take weights 0..256 (proxyd/balance.h BAL_MAX_WEIGHT);
 * a larger one could only be clamped there, so it is refused here. */
#define ADMINARG_MAX_WEIGHT 256

/* The replicated admin entry behind `hactl drain NODE` / `hactl enable
 * NODE` (hacd/bgp.c): upstream "@node", server the node's name, state
 * drain or ready. It rides the server admin entries' authenticated
 * replication (hacd/repl.c) so any node can set it and a restarted node
 * relearns it from its peers' bulk syncs. adminarg_parse refuses an
 * upstream beginning with '@', so no server command can set or clash
 * with it; hacd does not forward it to proxyd. */
#define ADMINARG_NODE_UPSTREAM "@node"

/* 1 if an admin entry's upstream is ADMINARG_NODE_UPSTREAM. */
int adminarg_is_node(const char *upstream);

struct adminarg {
	char upstream[REPLICA_NAME_MAX + 1];
	char server[REPLICA_NAME_MAX + 1];
	int state;                  /* Tandem__AdminState, or -1: keep the current one (weight) */
	int64_t weight;             /* 0..ADMINARG_MAX_WEIGHT, or -1: keep the current one */
};

/*
 * Parse verb ("drain", "enable", "maint" with one argument UPSTREAM/SERVER;
 * "weight" with UPSTREAM/SERVER and N) into out. Names are 1..64 printable
 * ASCII characters without spaces (what hacd/replica.c stores); the server
 * name may not contain '/', so "a/b/c" is refused rather than guessed.
 * Returns 0, or -1 with a one-line reason (usage included) in msg.
 */
int adminarg_parse(const char *verb, size_t argc, char *const *argv, struct adminarg *out,
    char *msg, size_t len);

/* 1 if verb is one of the four admin verbs. */
int adminarg_is_verb(const char *verb);

/* "ready", "drain", "maint"; "?" otherwise. */
const char *adminarg_state_str(int state);

#endif /* TANDEM_HACD_ADMINARG_H */
