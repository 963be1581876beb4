/*
 * hacd/metrics.h — hacd's Prometheus metrics: the node as `hactl status`
 * shows it (VIP roles and owners, priorities, peers, replication), in the
 * text exposition format, served on the admin listener (hacd.conf admin,
 * lib/httpget). docs/metrics.md lists every family.
 */
#ifndef TANDEM_HACD_METRICS_H
#define TANDEM_HACD_METRICS_H

#include <stdint.h>

#include "hacd/ctl.h"
#include "hacd/node.h"
#include "lib/buf.h"
#include "lib/httpget.h"

/*
 * Appends the whole exposition for node n at loop time now_ms. ctl (may be
 * NULL) adds the control socket's refusals, http (may be NULL) the admin
 * listener's own. Reads only; never fails (a short buffer on ENOMEM).
 */
void hacd_metrics_render(struct buf *o, const struct node *n, const struct ctl *ctl,
    const struct httpget *http, uint64_t now_ms);

/* The admin listener of n's configuration (admin.listen), answering
 * GET /metrics; NULL when none is configured (*failed = 0) or it cannot be
 * opened (*failed = 1, logged). ctl is read at each scrape. */
struct httpget *hacd_metrics_listen(struct node *n, const struct ctl *ctl, int *failed);

#endif /* TANDEM_HACD_METRICS_H */
