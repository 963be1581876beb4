/*
 * hacd/nodestatus.h — the cluster as this hacd sees it, as NodeStatus and
 * VipStatus messages: what `hactl status` prints (hacd/ctl.c) and what
 * proxyd's status page shows (a ClusterStatus on the local channel, once a
 * second). One function fills both, so the page and the CLI never disagree.
 * Module prefix: nodestatus_.
 */
#ifndef HACD_NODESTATUS_H
#define HACD_NODESTATUS_H

#include <stdint.h>

#include "hacd/config.h"
#include "lib/net.h"
#include "proto/tandem.pb-c.h"

struct node;

/* The messages and the storage their strings point into; valid while the
 * node and its configuration are unchanged (within one loop callback). */
struct nodestatus {
	Tandem__NodeStatus ns[HACD_MAX_NODES], *nsp[HACD_MAX_NODES];
	Tandem__VipStatus vs[HACD_MAX_VIPS], *vsp[HACD_MAX_VIPS];
	char addrs[HACD_MAX_NODES][NET_ADDRSTRLEN];
	char *announced_by[HACD_MAX_VIPS][HACD_MAX_NODES];   /* BGP-mode groups: node names */
	char why[HACD_MAX_VIPS][128];
	size_t nnodes, nvips;
};

/* Fills st from n at monotonic time now_ms (ages are relative to it). */
void nodestatus_fill(struct nodestatus *st, struct node *n, uint64_t now_ms);

/* Sends a ClusterStatus to the local proxyd when one is connected (node.c's
 * once-a-second tick). A failed send is counted by the channel; the next
 * tick sends a fresh one. */
void nodestatus_send(struct node *n);

#endif
