/*
 * proxyd/metrics.h — request counters and latency histograms, per worker,
 * rendered in the Prometheus text exposition format by the admin listener.
 *
 * Each worker writes only its own struct wmetrics with relaxed atomic
 * load+store (a single writer needs no read-modify-write); the control thread
 * sums the workers with relaxed loads. No lock, no shared cache line written
 * on the request path.
 */
#ifndef PROXYD_METRICS_H
#define PROXYD_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/httpget.h"
#include "proxyd/compress-t.h"

struct compress_stats;

#define MET_MAX_SERIES   1024
#define MET_LAT_BUCKETS  13
#define MET_MAX_REASONS  48

enum met_uperr { MET_UP_CONNECT_FAIL = 0, MET_UP_CONNECT_TIMEOUT, MET_UP_RESPONSE_TIMEOUT, MET_UP_BAD_RESPONSE,
	MET_UP_NO_SERVER, MET_UP_RETRY, MET_UP_ABORTED, MET_UP_MAX };
const char *metrics_uperr_str(enum met_uperr e);

/* Requests and connections refused by a guard, by reason. */
enum met_guard {
	MET_G_LISTENER_ACL = 0,  /* connection closed at accept: listener allow/deny */
	MET_G_CONN_WORKER,       /* connection closed: limits.max_connections (per worker) */
	MET_G_CONN_TOTAL,        /* connection closed: limits.max_connections_total */
	MET_G_CONN_PER_IP,       /* connection closed: limits.max_connections_per_ip */
	MET_G_ROUTE_ACL,         /* 403: route allow/deny */
	MET_G_METHOD,            /* 405: route allow_methods */
	MET_G_BODY_SIZE,         /* 413: max_body */
	MET_G_RATE_LIMITED,      /* 429: over a rate limit */
	MET_G_RATE_BANNED,       /* 429 + close: banned key */
	MET_G_HEADER_TIMEOUT,    /* 408 or close: request head not complete within client_header */
	MET_G_SLOW_BODY,         /* 408: request body below min_body_rate */
	MET_G_TUNNEL_IDLE,       /* Upgrade tunnel closed after tunnel_idle */
	MET_G_URI_TOO_LONG,      /* 414: the target to forward does not fit the proxy's buffer */
	MET_G_REWRITE_OVERFLOW,  /* 414: the route's rewrite of the target does not fit */
	MET_G_MAX
};
const char *metrics_guard_str(enum met_guard g);

/* Connection tokens ignored because they named a field a peer may not make
 * hop-by-hop (http_field_protected()), by class of the field. */
/* Why an HTTP/2 connection was told ENHANCE_YOUR_CALM (tandem_h2_floods_total). */
enum met_h2flood { MET_H2F_RESET = 0, MET_H2F_CONTROL, MET_H2F_CONTINUATION, MET_H2F_HEADERS, MET_H2F_N };
enum met_conntok { MET_CT_FRAMING = 0, MET_CT_HOST, MET_CT_PROXY, MET_CT_MAX };
enum met_side { MET_SIDE_REQUEST = 0, MET_SIDE_RESPONSE, MET_SIDE_MAX };
/* How a lingering close (conn_close_linger(), RFC 9112 §9.6) ended. */
enum met_linger { MET_LINGER_FIN = 0, MET_LINGER_TIMEOUT, MET_LINGER_BYTES, MET_LINGER_ERROR, MET_LINGER_MAX };
const char *metrics_conntok_str(enum met_conntok k);

struct wmetrics {
	_Atomic uint64_t req[MET_MAX_SERIES][5];      /* by series and status class 1xx..5xx */
	_Atomic uint64_t lat[MET_LAT_BUCKETS];        /* cumulative at render time; here per bucket */
	_Atomic uint64_t lat_sum_us;
	_Atomic uint64_t lat_count;
	_Atomic uint64_t conns_total;
	_Atomic uint64_t conns_active;
	_Atomic uint64_t up_err[MET_UP_MAX];
	_Atomic uint64_t guard[MET_G_MAX];
	_Atomic uint64_t conn_tok_ignored[MET_SIDE_MAX][MET_CT_MAX];
	_Atomic uint64_t upgrade_stripped;            /* requests whose non-WebSocket Upgrade was removed */
	/* The HTTP/2 front (proxyd/h2.c). */
	_Atomic uint64_t h2_conns, h2_streams, h2_rst_sent, h2_goaway_sent, h2_proto_err, h2_settings_timeout;
	_Atomic uint64_t h2_flood[MET_H2F_N];         /* connections told ENHANCE_YOUR_CALM, by kind */
	_Atomic uint64_t linger[MET_LINGER_MAX];      /* lingering closes, by how they ended */
	_Atomic uint64_t sticky_pinned;               /* requests whose sticky cookie named a known server */
	_Atomic uint64_t sticky_unknown;              /* ... a malformed token or no such server: balanced, re-pinned */
	/* The worker's compression pool counters (proxyd/compress.h), written
	 * by the pool; NULL until metrics_worker_compress(). */
	const struct compress_stats *_Atomic compress;
	const char *_Atomic perr_reason[MET_MAX_REASONS];
	_Atomic uint64_t perr_count[MET_MAX_REASONS];
};

#define MET_ADD(x, n) atomic_store_explicit(&(x), atomic_load_explicit(&(x), memory_order_relaxed) + (n), memory_order_relaxed)
#define MET_INC(x) MET_ADD(x, 1)

/* Series id for (route, upstream), registered on first use; "-" for no upstream.
 * Control thread only (config building). -1 when the table is full: the caller
 * then counts into series 0 ("unmatched"). */
int metrics_series(const char *route, const char *upstream);
/* Zeroed per-worker counters; NULL on ENOMEM. */
/* A worker's counters (zeroed), kept for metrics_render; NULL when memory
 * ran out or PD_MAX_WORKERS were made. At startup only. */
struct wmetrics *metrics_worker_new(void);
/* The counters of m's worker's compression pool, summed into the
 * tandem_compress_* families; they must live as long as the process. */
void metrics_worker_compress(struct wmetrics *m, const struct compress_stats *st);
/* Every worker's compression pool counters (struct compress_stats), summed:
 * what /metrics renders as tandem_compress_* and the status page shows.
 * The gauges are read one worker at a time while each moves, so the sum
 * keeps busy <= live. */
struct met_compress {
	uint64_t streams[COMPRESS_NALG];      /* responses coded, by coding */
	uint64_t bytes_in[COMPRESS_NALG];
	uint64_t bytes_out[COMPRESS_NALG];
	uint64_t skipped[COMPRESS_SKIP_MAX];  /* by reason */
	uint64_t errors;
	uint64_t live, busy;                  /* coders held; of them, coding a response */
	uint64_t mem_bytes;
};
void metrics_compress_totals(struct met_compress *t);
/* Adds every worker's requests by status class (1xx..5xx) to cls and its
 * accepted connections to conns (admin "show stats"). */
void metrics_totals(uint64_t cls[5], uint64_t *conns);
/* Counted by the control thread (proxyd/admin.c), rendered here: admin
 * socket connections refused because admin.max_connections were open. */
extern _Atomic uint64_t metrics_admin_refused;
/* The admin HTTP listener (proxyd/admin.c; NULL: none): its own refusals
 * at admin.max_connections and its 400s are rendered with the guards.
 * Control thread only, like the render. */
void metrics_admin_listener(const struct httpget *hg);
/* One finished request: status sent and latency in microseconds. */
void metrics_request(struct wmetrics *m, int series, int status, uint64_t us);
/* One malformed message, by the parser's reason (a static string). */
void metrics_parse_error(struct wmetrics *m, const char *reason);
/* Appends the whole exposition to out. 0/-1 (ENOMEM). */
int metrics_render(struct buf *out);

#endif
