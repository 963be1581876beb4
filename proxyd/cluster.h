/*
 * proxyd/cluster.h — proxyd's share of the replicated cluster state:
 * what goes up the local channel to hacd (this node's
 * rate-limit counts and bans for `scope = "cluster"` limits, its own health
 * verdicts) and what comes down (peers' counts and bans, peers' health
 * observations, TLS ticket keys, and the cluster view that drives the
 * partition policy). proxyd/channel.c owns the socket; this module owns the
 * meaning. Control thread only. Module prefix: cluster_.
 */
#ifndef PROXYD_CLUSTER_H
#define PROXYD_CLUSTER_H

#include <stdint.h>

#include "lib/buf.h"
#include "proto/tandem.pb-c.h"

/* Merge what hacd sent (its admin entries are proxyd/channel.c's). Entries
 * for limits this proxyd does not have, or has with scope node, are
 * counted and skipped; so is anything malformed. Never fails. */
void cluster_apply(const Tandem__StateSync *sync);

/* The operator's reset of a rate-limit key (hactl ratelimit reset on any
 * node): rl_reset on the limit of that name, whatever its scope. Counted;
 * an unknown limit or a malformed message is skipped. */
void cluster_reset(const Tandem__RateReset *rr);

/* hactl cache purge on some node, through hacd: drop the URL's objects
 * (or every key starting with it, or every object listing the tag in its
 * cache's tag_header, or everything when all is set) from every cache of
 * this proxyd (docs/cache.md). */
void cluster_purge(const Tandem__CachePurge *cp);

/* hacd's view of the cluster: node count and alive count (the partition
 * policy of each `partition = "share"` limit), its node name (to recognise
 * this node's own counts coming back), the sync interval, and whether hacd
 * hands out TLS ticket keys. */
void cluster_view(const Tandem__ClusterView *v);

/* The channel to hacd is up (channel.c, before the first status): a proxyd
 * with TLS listeners (has_tls) starts waiting for hacd's view, and if hacd
 * hands out ticket keys, for the first key (see cluster.c). Once per
 * process. now_ms: the control loop's monotonic clock (ev_now). */
void cluster_channel_up(int has_tls, uint64_t now_ms);

/* 1 while this proxyd waits for hacd's view or the cluster's first ticket
 * key and must report not ready; 0 once the key is installed, hacd says it
 * hands out none, or the bounded wait (10 s from the connection, on the
 * same monotonic clock as now_ms) ran out, which is logged and counted
 * once. Control thread only. */
int cluster_tickets_awaited(uint64_t now_ms);

/* hacd went away: the node now sees no peer (share limits fall to 1/N). */
void cluster_disconnected(void);

/* The interval at which channel.c should call cluster_collect: hacd's
 * sync interval, 20 ms until told. */
uint64_t cluster_interval_ms(void);

/*
 * This node's changes since the last call (full: everything it holds, after
 * a (re)connect), as ChannelMessage{sync} messages handed to send one by one
 * (each valid during the call only). Returns the number of entries sent.
 */
size_t cluster_collect(int full, void (*send)(const Tandem__ChannelMessage *m));

/* Prometheus text: replication counters and merge lag. */
void cluster_render(struct buf *o);

#endif
