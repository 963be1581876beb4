/*
 * proxyd/status.h — the cluster status page on the admin listener:
 * GET /status (one static HTML page, inline CSS and JS, compiled in from
 * proxyd/status_page.html) and GET /status.json (what the page polls),
 * assembled from this proxyd's own state and the ClusterStatus hacd sends
 * over the local channel once a second (nodes, VIPs and owners, each node's
 * check verdicts). Control thread only. Module prefix: status_.
 *
 * Polling, not server-sent events: the admin listener (lib/httpget) answers
 * one request per connection and closes, under admin.max_connections and a
 * 10 s lifetime; an event stream would hold a connection (and a slot of
 * that cap) per open browser tab on the control thread. A few kilobytes of
 * JSON every 2 s per viewer costs less than that.
 */
#ifndef PROXYD_STATUS_H
#define PROXYD_STATUS_H

#include <stdint.h>

#include "lib/buf.h"
#include "proto/tandem.pb-c.h"

/* The page (NUL-terminated; generated from proxyd/status_page.html). */
extern const char status_page[];

/* Keep hacd's latest view of the cluster (a copy), received at now_ms on
 * the control loop's monotonic clock. Out of memory: the old one stays. */
void status_cluster(const Tandem__ClusterStatus *cs, uint64_t now_ms);

/* Appends the status document (JSON, RFC 8259) to o at now_ms (monotonic,
 * for the age of hacd's view). Every string is escaped, '<', '>' and '&'
 * too, so the document is inert even if something renders it as HTML.
 * 0, or -1 when memory ran out (o then holds a partial document). */
int status_render_json(struct buf *o, uint64_t now_ms);

/* Frees the kept view (at exit, for leak checkers). */
void status_free(void);

#endif
