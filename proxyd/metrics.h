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

#define MET_MAX_SERIES   1024
#define MET_LAT_BUCKETS  13
#define MET_MAX_REASONS  48

enum met_uperr { MET_UP_CONNECT_FAIL = 0, MET_UP_CONNECT_TIMEOUT, MET_UP_RESPONSE_TIMEOUT, MET_UP_BAD_RESPONSE,
	MET_UP_NO_SERVER, MET_UP_RETRY, MET_UP_ABORTED, MET_UP_MAX };
const char *metrics_uperr_str(enum met_uperr e);

struct wmetrics {
	_Atomic uint64_t req[MET_MAX_SERIES][5];      /* by series and status class 1xx..5xx */
	_Atomic uint64_t lat[MET_LAT_BUCKETS];        /* cumulative at render time; here per bucket */
	_Atomic uint64_t lat_sum_us;
	_Atomic uint64_t lat_count;
	_Atomic uint64_t conns_total;
	_Atomic uint64_t conns_active;
	_Atomic uint64_t up_err[MET_UP_MAX];
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
struct wmetrics *metrics_worker_new(void);
/* One finished request: status sent and latency in microseconds. */
void metrics_request(struct wmetrics *m, int series, int status, uint64_t us);
/* One malformed message, by the parser's reason (a static string). */
void metrics_parse_error(struct wmetrics *m, const char *reason);
/* Appends the whole exposition to out. 0/-1 (ENOMEM). */
int metrics_render(struct buf *out);

#endif
