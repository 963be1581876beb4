/*
 * hacd/purgelog.h — the cluster's recent cache purges (hactl cache purge),
 * so that a node that was down applies what it missed when it rejoins.
 *
 * A purge is named by (origin, epoch, seq): epoch is the origin hacd's
 * start (wall ms), seq counts from 1 within it. Every hacd keeps the newest
 * PURGELOG_MAX purges it accepted (its own and its peers') and, per origin,
 * the newest (epoch, seq) it accepted. A seq that skips ahead means purges
 * were missed that no log still holds: the caller purges everything.
 * Pure logic, no I/O (tests/unit/test_purgelog.c).
 */
#ifndef TANDEM_HACD_PURGELOG_H
#define TANDEM_HACD_PURGELOG_H

#include <stddef.h>
#include <stdint.h>

#include "hacd/config.h"
#include "hacd/replica.h"

#define PURGELOG_MAX     64         /* purges remembered: the bound on what a rejoining node can catch up on */
#define PURGE_URL_MAX    2048       /* bytes: one purge (and its datagram) stays well under WIRE_MAX_PAYLOAD */

struct purge_entry {
	char origin[REPLICA_NAME_MAX + 1];
	uint64_t epoch, seq, at;         /* at: wall ms of the operator's command */
	int kind;                        /* enum purge_kind */
	int unsent;                      /* accepted while proxyd was not connected: send when it is */
	char url[PURGE_URL_MAX + 1];      /* the URL, the prefix, or the tag */
};

enum purge_kind { PURGE_KIND_URL = 0, PURGE_KIND_PREFIX = 1, PURGE_KIND_TAG = 2 };

struct purgelog {
	struct purge_entry e[PURGELOG_MAX];
	size_t next, n;                  /* ring: next slot, entries held */
	uint64_t epoch[HACD_MAX_NODES];  /* per configured node: newest accepted (epoch, seq); 0 = none */
	uint64_t hi[HACD_MAX_NODES];
	uint64_t my_epoch, my_seq;       /* this node's numbering */
};

enum purge_verdict {
	PURGE_NEW = 0,    /* apply it */
	PURGE_NEW_GAP,    /* apply it, and everything: purges of its origin were missed */
	PURGE_DUP,        /* already applied (the second copy, a log resent) or older than one applied */
	PURGE_BAD         /* malformed: unknown origin, no URL, too long, seq 0 */
};

/* Empty log; this node's purges are numbered in epoch (wall ms, not 0). */
void purgelog_init(struct purgelog *l, uint64_t epoch);

/* The index of a configured node named origin, or -1. */
int purgelog_node(const struct hacd_config *cfg, const char *origin);

/*
 * A purge from a peer (or a peer's log): the verdict, and on PURGE_NEW /
 * PURGE_NEW_GAP it is logged and its origin's newest (epoch, seq) moves.
 * node is purgelog_node(origin), checked by the caller (not self).
 */
enum purge_verdict purgelog_take(struct purgelog *l, size_t node, const char *origin, uint64_t epoch,
    uint64_t seq, const char *url, int kind, uint64_t at);

/* The operator's purge on this node: numbered, logged, returned (NULL when
 * the URL is empty or too long). */
const struct purge_entry *purgelog_add_own(struct purgelog *l, size_t self, const char *origin,
    const char *url, int kind, uint64_t at);

/* The i-th entry, oldest first (i < l->n). */
const struct purge_entry *purgelog_at(const struct purgelog *l, size_t i);
struct purge_entry *purgelog_at_mut(struct purgelog *l, size_t i);

#endif
