/*
 * proxyd/metrics.c — Prometheus text exposition of proxyd's counters.
 *
 * Workers count into their own struct wmetrics (single writer, relaxed
 * load+store); the admin listener on the control thread sums them with
 * relaxed loads when /metrics is scraped. Series names (route, upstream) are
 * registered while a generation is built, so a label pair keeps its id — and
 * its counts — across reloads. Samples whose labels come from the
 * configuration (route, upstream, server and limit names) go through lib/prom,
 * which escapes them: a name with a quote or a backslash must not break the
 * exposition for every other metric. Exposition format:
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */
#include "proxyd/metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/prom.h"
#include "proxyd/cluster.h"
#include "proxyd/cache_store.h"
#include "proxyd/cache_digest.h"
#include "proxyd/compress.h"
#include "proxyd/compress_rule.h"
#include "proxyd/config.h"
#include "proxyd/connlimit.h"
#include "proxyd/hcheck.h"
#include "proxyd/procstate.h"
#include "proxyd/ratelimit.h"
#include "proxyd/tls.h"

struct series { char *route, *upstream; };

static pthread_mutex_t series_mu = PTHREAD_MUTEX_INITIALIZER;
static struct series series[MET_MAX_SERIES];
static _Atomic int nseries;

static const uint64_t lat_bounds_us[MET_LAT_BUCKETS - 1] = { 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 1000000, 5000000 };

const char *
metrics_uperr_str(enum met_uperr e)
{
	switch (e) {
	case MET_UP_CONNECT_FAIL: return "connect_failed";
	case MET_UP_CONNECT_TIMEOUT: return "connect_timeout";
	case MET_UP_RESPONSE_TIMEOUT: return "response_timeout";
	case MET_UP_BAD_RESPONSE: return "bad_response";
	case MET_UP_NO_SERVER: return "no_server";
	case MET_UP_RETRY: return "retry";
	case MET_UP_ABORTED: return "aborted";
	case MET_UP_MAX: break;
	}
	return "?";
}

const char *
metrics_guard_str(enum met_guard g)
{
	switch (g) {
	case MET_G_LISTENER_ACL: return "listener_acl";
	case MET_G_CONN_WORKER: return "max_connections";
	case MET_G_CONN_TOTAL: return "max_connections_total";
	case MET_G_CONN_PER_IP: return "max_connections_per_ip";
	case MET_G_ROUTE_ACL: return "route_acl";
	case MET_G_METHOD: return "method_not_allowed";
	case MET_G_BODY_SIZE: return "body_too_large";
	case MET_G_RATE_LIMITED: return "rate_limited";
	case MET_G_RATE_BANNED: return "banned";
	case MET_G_HEADER_TIMEOUT: return "header_timeout";
	case MET_G_SLOW_BODY: return "slow_body";
	case MET_G_TUNNEL_IDLE: return "tunnel_idle";
	case MET_G_URI_TOO_LONG: return "uri_too_long";
	case MET_G_REWRITE_OVERFLOW: return "rewrite_overflow";
	case MET_G_MAX: break;
	}
	return "?";
}

const char *
metrics_conntok_str(enum met_conntok k)
{
	switch (k) {
	case MET_CT_FRAMING: return "framing";
	case MET_CT_HOST: return "host";
	case MET_CT_PROXY: return "proxy_set";
	case MET_CT_MAX: break;
	}
	return "?";
}

int
metrics_series(const char *route, const char *upstream)
{
	int n, id = -1;

	pthread_mutex_lock(&series_mu);
	n = atomic_load(&nseries);
	if (n == 0) {
		series[0].route = strdup("-");
		series[0].upstream = strdup("-");
		n = 1;
	}
	for (int i = 0; i < n; i++)
		if (strcmp(series[i].route, route) == 0 && strcmp(series[i].upstream, upstream) == 0)
			id = i;
	if (id < 0 && n < MET_MAX_SERIES) {
		series[n].route = strdup(route);
		series[n].upstream = strdup(upstream);
		if (series[n].route != NULL && series[n].upstream != NULL)
			id = n++;
	}
	atomic_store(&nseries, n);
	pthread_mutex_unlock(&series_mu);
	return id;
}

/* Every worker's counters, for rendering from the control thread. Written
 * at startup only (worker_start_all, before the first render can run). */
static struct wmetrics *wm[PD_MAX_WORKERS];
static _Atomic int nwm;

struct wmetrics *
metrics_worker_new(void)
{
	int n = atomic_load(&nwm);
	struct wmetrics *m;

	if (n >= PD_MAX_WORKERS || (m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	wm[n] = m;
	atomic_store(&nwm, n + 1);
	return m;
}

void
metrics_worker_compress(struct wmetrics *m, const struct compress_stats *st)
{
	atomic_store_explicit(&m->compress, st, memory_order_release);
}

_Atomic uint64_t metrics_admin_refused;
static const struct httpget *admin_http;

void
metrics_admin_listener(const struct httpget *hg)
{
	admin_http = hg;
}

void
metrics_totals(uint64_t cls[5], uint64_t *conns)
{
	int nw = atomic_load(&nwm);

	for (int w = 0; w < nw; w++) {
		*conns += atomic_load_explicit(&wm[w]->conns_total, memory_order_relaxed);
		for (int s = 0; s < MET_MAX_SERIES; s++)
			for (int k = 0; k < 5; k++)
				cls[k] += atomic_load_explicit(&wm[w]->req[s][k], memory_order_relaxed);
	}
}

void
metrics_request(struct wmetrics *m, int series_id, int status, uint64_t us)
{
	int cls = status / 100 - 1;
	int b = 0;

	if (cls < 0 || cls > 4)
		cls = 4;
	if (series_id < 0 || series_id >= MET_MAX_SERIES)
		series_id = 0;
	MET_INC(m->req[series_id][cls]);
	while (b < MET_LAT_BUCKETS - 1 && us > lat_bounds_us[b])
		b++;
	MET_INC(m->lat[b]);
	MET_ADD(m->lat_sum_us, us);
	MET_INC(m->lat_count);
}

void
metrics_parse_error(struct wmetrics *m, const char *reason)
{
	if (reason == NULL)
		reason = "unknown";
	for (int i = 0; i < MET_MAX_REASONS; i++) {
		const char *r = atomic_load_explicit(&m->perr_reason[i], memory_order_acquire);
		if (r == NULL) {
			atomic_store_explicit(&m->perr_reason[i], reason, memory_order_release);
			MET_INC(m->perr_count[i]);
			return;
		}
		if (r == reason || strcmp(r, reason) == 0) {
			MET_INC(m->perr_count[i]);
			return;
		}
	}
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void
metrics_compress_totals(struct met_compress *t)
{
	int nw = atomic_load(&nwm);

	memset(t, 0, sizeof(*t));
	for (int w = 0; w < nw; w++) {
		const struct compress_stats *st = atomic_load_explicit(&wm[w]->compress, memory_order_acquire);

		if (st == NULL)
			continue;
		for (int a = 0; a < COMPRESS_NALG; a++) {
			t->streams[a] += LOAD(st->streams[a]);
			t->bytes_in[a] += LOAD(st->bytes_in[a]);
			t->bytes_out[a] += LOAD(st->bytes_out[a]);
		}
		for (int why = 0; why < COMPRESS_SKIP_MAX; why++)
			t->skipped[why] += LOAD(st->skipped[why]);
		t->errors += LOAD(st->errors);
		t->live += LOAD(st->live);
		t->busy += LOAD(st->busy);
		t->mem_bytes += LOAD(st->mem_bytes);
	}
	/* Each worker's gauges are written by it alone: a sum read while
	 * one moves can see busy ahead of live for an instant. */
	if (t->busy > t->live)
		t->live = t->busy;
}

/* One family of per-coding counters. */
static void
render_by_coding(struct buf *o, const char *name, const char *help, const uint64_t v[COMPRESS_NALG])
{
	buf_appendf(o, "# HELP %s %s\n# TYPE %s counter\n", name, help, name);
	for (int a = COMPRESS_GZIP; a < COMPRESS_NALG; a++)
		buf_appendf(o, "%s{coding=\"%s\"} %llu\n", name, compress_alg_str((enum compress_alg)a),
		    (unsigned long long)v[a]);
}

/* Response compression, every worker's pool summed (docs/compression.md). */
static void
render_compress(struct buf *o)
{
	struct met_compress t;

	metrics_compress_totals(&t);
	render_by_coding(o, "tandem_compress_responses_total", "Responses sent compressed, by coding.", t.streams);
	render_by_coding(o, "tandem_compress_bytes_in_total", "Response body bytes fed to the coders, by coding.", t.bytes_in);
	render_by_coding(o, "tandem_compress_bytes_out_total", "Coded bytes the coders produced, by coding.", t.bytes_out);
	buf_appendf(o, "# HELP tandem_compress_skipped_total Backend responses sent uncompressed, by the first reason that held.\n"
	    "# TYPE tandem_compress_skipped_total counter\n");
	for (int why = COMPRESS_SKIP_OFF; why < COMPRESS_SKIP_MAX; why++)
		buf_appendf(o, "tandem_compress_skipped_total{reason=\"%s\"} %llu\n", compress_skip_str((enum compress_skip)why),
		    (unsigned long long)t.skipped[why]);
	buf_appendf(o, "# HELP tandem_compress_errors_total Coder failures; each cut its response short (connection closed).\n"
	    "# TYPE tandem_compress_errors_total counter\ntandem_compress_errors_total %llu\n"
	    "# HELP tandem_compress_coders Coders held by the workers' pools, busy (coding a response) or idle.\n"
	    "# TYPE tandem_compress_coders gauge\n"
	    "tandem_compress_coders{state=\"busy\"} %llu\ntandem_compress_coders{state=\"idle\"} %llu\n"
	    "# HELP tandem_compress_memory_bytes Memory the coders hold, their block cache included.\n"
	    "# TYPE tandem_compress_memory_bytes gauge\ntandem_compress_memory_bytes %llu\n",
	    (unsigned long long)t.errors, (unsigned long long)t.busy, (unsigned long long)(t.live - t.busy),
	    (unsigned long long)t.mem_bytes);
}

static void
render_ratelimits(struct buf *o, const struct pd_config *g)
{
	static const struct { const char *name, *type, *help; } fam[] = {
		{ "tandem_ratelimit_requests_total", "counter", "Requests checked against a rate limit, by verdict." },
		{ "tandem_ratelimit_bans_total", "counter", "Bans this node issued." },
		{ "tandem_ratelimit_keys", "gauge", "Keys (counter entries) held now; bans held now." },
		{ "tandem_ratelimit_evictions_total", "counter", "Entries evicted from a full table (lru: a live key; max_keys too small?)." },
	};
	struct rl_stats st;

	if (g->nrlimits == 0)
		return;
	for (size_t f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		buf_appendf(o, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
		for (size_t i = 0; i < g->nrlimits; i++) {
			const char *n = g->rlimits[i].name;
			rl_stats_get(g->rlimits[i].t, &st);
			switch (f) {
			case 0:
				prom_u64(o, fam[f].name, st.allowed, "limit", n, "verdict", "allow", NULL);
				prom_u64(o, fam[f].name, st.limited, "limit", n, "verdict", "limited", NULL);
				prom_u64(o, fam[f].name, st.banned, "limit", n, "verdict", "banned", NULL);
				break;
			case 1:
				prom_u64(o, fam[f].name, st.bans_issued, "limit", n, NULL);
				break;
			case 2:
				prom_u64(o, fam[f].name, st.keys, "limit", n, "kind", "keys", NULL);
				prom_u64(o, fam[f].name, st.bans, "limit", n, "kind", "bans", NULL);
				break;
			case 3:
				prom_u64(o, fam[f].name, st.evict_expired,
				    "limit", n, "kind", "expired", NULL);
				prom_u64(o, fam[f].name, st.evict_lru, "limit", n, "kind", "lru", NULL);
				break;
			}
		}
	}
}

/* The HTTP/2 front's counters (proxyd/h2.c). */
static void
metrics_h2(struct buf *o, int nw)
{
	static const struct { const char *name, *help; size_t off; } one[] = {
		{ "tandem_h2_connections_total", "Client connections that negotiated HTTP/2 (ALPN h2).",
		  offsetof(struct wmetrics, h2_conns) },
		{ "tandem_h2_streams_total", "HTTP/2 streams that became an exchange.", offsetof(struct wmetrics, h2_streams) },
		{ "tandem_h2_rst_stream_sent_total", "RST_STREAM frames proxyd sent (stream errors, refused streams).",
		  offsetof(struct wmetrics, h2_rst_sent) },
		{ "tandem_h2_goaway_sent_total", "GOAWAY frames proxyd sent (drain, idle, connection errors, floods).",
		  offsetof(struct wmetrics, h2_goaway_sent) },
		{ "tandem_h2_protocol_errors_total", "Malformed HTTP/2 frames or requests refused (RFC 9113 sections 5.4 and 8.1.1).",
		  offsetof(struct wmetrics, h2_proto_err) },
		{ "tandem_h2_settings_timeouts_total", "HTTP/2 connections closed because our SETTINGS were not acknowledged in time.",
		  offsetof(struct wmetrics, h2_settings_timeout) },
	};
	static const char *const kind[MET_H2F_N] = { "rapid_reset", "control_frames", "continuation", "header_list" };
	uint64_t v;

	for (size_t i = 0; i < sizeof(one) / sizeof(one[0]); i++) {
		v = 0;
		for (int w = 0; w < nw; w++)
			v += atomic_load_explicit((_Atomic uint64_t *)((char *)wm[w] + one[i].off), memory_order_relaxed);
		buf_appendf(o, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", one[i].name, one[i].help, one[i].name,
		    one[i].name, (unsigned long long)v);
	}
	buf_appendf(o, "# HELP tandem_h2_floods_total HTTP/2 connections told ENHANCE_YOUR_CALM and closed, by the flood seen.\n"
	    "# TYPE tandem_h2_floods_total counter\n");
	for (int k = 0; k < MET_H2F_N; k++) {
		v = 0;
		for (int w = 0; w < nw; w++)
			v += LOAD(wm[w]->h2_flood[k]);
		buf_appendf(o, "tandem_h2_floods_total{kind=\"%s\"} %llu\n", kind[k], (unsigned long long)v);
	}
}

int
metrics_render(struct buf *o)
{
	int nw = atomic_load(&nwm), ns = atomic_load(&nseries);
	static const char *const cls[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };
	struct pd_config *g;
	uint64_t v, cum;

	buf_appendf(o, "# HELP tandem_requests_total Requests answered, by route, upstream and status class.\n"
	    "# TYPE tandem_requests_total counter\n");
	for (int s = 0; s < ns; s++)
		for (int k = 0; k < 5; k++) {
			v = 0;
			for (int w = 0; w < nw; w++)
				v += LOAD(wm[w]->req[s][k]);
			if (v > 0)
				prom_u64(o, "tandem_requests_total", v,
				    "route", series[s].route, "upstream", series[s].upstream, "code_class", cls[k], NULL);
		}
	buf_appendf(o, "# HELP tandem_request_duration_seconds Time from request head to last response byte.\n"
	    "# TYPE tandem_request_duration_seconds histogram\n");
	cum = 0;
	for (int b = 0; b < MET_LAT_BUCKETS; b++) {
		for (int w = 0; w < nw; w++)
			cum += LOAD(wm[w]->lat[b]);
		if (b < MET_LAT_BUCKETS - 1)
			buf_appendf(o, "tandem_request_duration_seconds_bucket{le=\"%g\"} %llu\n",
			    (double)lat_bounds_us[b] / 1e6, (unsigned long long)cum);
		else
			buf_appendf(o, "tandem_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	}
	v = 0;
	for (int w = 0; w < nw; w++)
		v += LOAD(wm[w]->lat_sum_us);
	buf_appendf(o, "tandem_request_duration_seconds_sum %.6f\n", (double)v / 1e6);
	buf_appendf(o, "tandem_request_duration_seconds_count %llu\n", (unsigned long long)cum);

	buf_appendf(o, "# HELP tandem_connections_active Client connections open now.\n"
	    "# TYPE tandem_connections_active gauge\ntandem_connections_active %llu\n",
	    (unsigned long long)atomic_load(&procstate_active_conns));
	v = 0;
	for (int w = 0; w < nw; w++)
		v += LOAD(wm[w]->conns_total);
	buf_appendf(o, "# HELP tandem_connections_total Client connections accepted.\n"
	    "# TYPE tandem_connections_total counter\ntandem_connections_total %llu\n", (unsigned long long)v);

	buf_appendf(o, "# HELP tandem_client_addresses Client addresses with connections open, as counted for max_connections_per_ip.\n"
	    "# TYPE tandem_client_addresses gauge\ntandem_client_addresses %llu\n", (unsigned long long)cl_addresses());

	buf_appendf(o, "# HELP tandem_upstream_errors_total Upstream failures and retries, by kind.\n"
	    "# TYPE tandem_upstream_errors_total counter\n");
	for (int e = 0; e < MET_UP_MAX; e++) {
		v = 0;
		for (int w = 0; w < nw; w++)
			v += LOAD(wm[w]->up_err[e]);
		buf_appendf(o, "tandem_upstream_errors_total{kind=\"%s\"} %llu\n", metrics_uperr_str((enum met_uperr)e),
		    (unsigned long long)v);
	}

	buf_appendf(o, "# HELP tandem_guard_total Connections and requests refused or closed by a guard, by reason.\n"
	    "# TYPE tandem_guard_total counter\n");
	for (int e = 0; e < MET_G_MAX; e++) {
		v = 0;
		for (int w = 0; w < nw; w++)
			v += LOAD(wm[w]->guard[e]);
		buf_appendf(o, "tandem_guard_total{reason=\"%s\"} %llu\n", metrics_guard_str((enum met_guard)e),
		    (unsigned long long)v);
	}
	/* Counted on the control thread, not per worker. */
	buf_appendf(o, "tandem_guard_total{reason=\"admin_max_connections\"} %llu\n",
	    (unsigned long long)(atomic_load_explicit(&metrics_admin_refused, memory_order_relaxed) +
	    httpget_refused(admin_http)));
	buf_appendf(o, "tandem_guard_total{reason=\"admin_bad_request\"} %llu\n",
	    (unsigned long long)httpget_bad_requests(admin_http));

	buf_appendf(o, "# HELP tandem_http_conn_token_ignored_total Connection tokens ignored because they named a field a peer may not remove (framing, Host, fields proxyd sets), by side and field class.\n"
	    "# TYPE tandem_http_conn_token_ignored_total counter\n");
	for (int side = 0; side < MET_SIDE_MAX; side++)
		for (int k = 0; k < MET_CT_MAX; k++) {
			v = 0;
			for (int w = 0; w < nw; w++)
				v += LOAD(wm[w]->conn_tok_ignored[side][k]);
			buf_appendf(o, "tandem_http_conn_token_ignored_total{side=\"%s\",field=\"%s\"} %llu\n",
			    side == MET_SIDE_REQUEST ? "request" : "response", metrics_conntok_str((enum met_conntok)k),
			    (unsigned long long)v);
		}
	v = 0;
	for (int w = 0; w < nw; w++)
		v += LOAD(wm[w]->upgrade_stripped);
	buf_appendf(o, "# HELP tandem_http_upgrade_stripped_total Requests whose Upgrade (anything but a WebSocket handshake) was removed and which went on as plain HTTP/1.1.\n"
	    "# TYPE tandem_http_upgrade_stripped_total counter\ntandem_http_upgrade_stripped_total %llu\n",
	    (unsigned long long)v);
	metrics_h2(o, nw);
	buf_appendf(o, "# HELP tandem_lingering_closes_total Client connections closed after their last response with the write side shut first and the client's unread bytes drained (RFC 9112 section 9.6), by how the wait ended.\n"
	    "# TYPE tandem_lingering_closes_total counter\n");
	{
		static const char *const end[MET_LINGER_MAX] = { "client_fin", "timeout", "byte_bound", "error" };
		for (int k = 0; k < MET_LINGER_MAX; k++) {
			v = 0;
			for (int w = 0; w < nw; w++)
				v += LOAD(wm[w]->linger[k]);
			buf_appendf(o, "tandem_lingering_closes_total{end=\"%s\"} %llu\n", end[k], (unsigned long long)v);
		}
	}

	{
		uint64_t pin = 0, unk = 0;

		for (int w = 0; w < nw; w++) {
			pin += LOAD(wm[w]->sticky_pinned);
			unk += LOAD(wm[w]->sticky_unknown);
		}
		buf_appendf(o, "# HELP tandem_sticky_cookies_total Requests with this proxy's sticky cookie: pinned to the server it names, or unknown (malformed, or no such server: balanced and re-pinned).\n"
		    "# TYPE tandem_sticky_cookies_total counter\n"
		    "tandem_sticky_cookies_total{result=\"pinned\"} %llu\ntandem_sticky_cookies_total{result=\"unknown\"} %llu\n",
		    (unsigned long long)pin, (unsigned long long)unk);
	}

	render_compress(o);
	cache_store_render(o);
	cdig_render(o);

	buf_appendf(o, "# HELP tandem_parse_errors_total Malformed HTTP messages, by reason.\n"
	    "# TYPE tandem_parse_errors_total counter\n");
	{
		const char *seen[MET_MAX_REASONS * 4];
		int nseen = 0;
		for (int w = 0; w < nw; w++)
			for (int i = 0; i < MET_MAX_REASONS; i++) {
				const char *r = atomic_load_explicit(&wm[w]->perr_reason[i], memory_order_acquire);
				int dup = 0;
				if (r == NULL)
					break;
				for (int k = 0; k < nseen; k++)
					if (strcmp(seen[k], r) == 0)
						dup = 1;
				if (dup || nseen >= MET_MAX_REASONS * 4)
					continue;
				seen[nseen++] = r;
				v = 0;
				for (int w2 = 0; w2 < nw; w2++)
					for (int i2 = 0; i2 < MET_MAX_REASONS; i2++) {
						const char *r2 = atomic_load_explicit(&wm[w2]->perr_reason[i2], memory_order_acquire);
						if (r2 != NULL && strcmp(r2, r) == 0)
							v += LOAD(wm[w2]->perr_count[i2]);
					}
				buf_appendf(o, "tandem_parse_errors_total{reason=\"%s\"} %llu\n", r, (unsigned long long)v);
			}
	}

	{
		struct tls_stats ts;
		struct tls_ticket_stats tk;

		tls_stats_get(&ts);
		tls_tickets_stats(&tk);
		buf_appendf(o, "# HELP tandem_tls_handshakes_total TLS handshakes completed with clients.\n"
		    "# TYPE tandem_tls_handshakes_total counter\ntandem_tls_handshakes_total %llu\n"
		    "# HELP tandem_tls_resumptions_total Of those, resumed from a session ticket.\n"
		    "# TYPE tandem_tls_resumptions_total counter\ntandem_tls_resumptions_total %llu\n"
		    "# HELP tandem_tls_handshake_failures_total Failed client handshakes, by reason (\"other\": all the rest).\n"
		    "# TYPE tandem_tls_handshake_failures_total counter\n"
		    "tandem_tls_handshake_failures_total{reason=\"version\"} %llu\n"
		    "tandem_tls_handshake_failures_total{reason=\"client_cert\"} %llu\n"
		    "tandem_tls_handshake_failures_total{reason=\"other\"} %llu\n"
		    "# HELP tandem_tls_client_cert_recheck_refused_total Of the client_cert failures: a finished (resumed) handshake without the client certificate the listener requires.\n"
		    "# TYPE tandem_tls_client_cert_recheck_refused_total counter\ntandem_tls_client_cert_recheck_refused_total %llu\n"
		    "# HELP tandem_tls_backend_handshake_failures_total Failed handshakes with TLS backends, by reason (\"name\": the certificate is for another name or address).\n"
		    "# TYPE tandem_tls_backend_handshake_failures_total counter\n"
		    "tandem_tls_backend_handshake_failures_total{reason=\"name\"} %llu\n"
		    "tandem_tls_backend_handshake_failures_total{reason=\"other\"} %llu\n"
		    "# HELP tandem_tls_sni_default_total Handshakes served the default certificate (no SNI or no match).\n"
		    "# TYPE tandem_tls_sni_default_total counter\ntandem_tls_sni_default_total %llu\n"
		    "# HELP tandem_tls_alpn_refused_total Handshakes refused: no common ALPN protocol.\n"
		    "# TYPE tandem_tls_alpn_refused_total counter\ntandem_tls_alpn_refused_total %llu\n"
		    "# HELP tandem_tls_ocsp_stapled_total OCSP responses stapled.\n"
		    "# TYPE tandem_tls_ocsp_stapled_total counter\ntandem_tls_ocsp_stapled_total %llu\n"
		    "# HELP tandem_tls_tickets_total Session tickets, by outcome.\n"
		    "# TYPE tandem_tls_tickets_total counter\n"
		    "tandem_tls_tickets_total{outcome=\"sealed\"} %llu\n"
		    "tandem_tls_tickets_total{outcome=\"opened\"} %llu\n"
		    "tandem_tls_tickets_total{outcome=\"renewed\"} %llu\n"
		    "tandem_tls_tickets_total{outcome=\"unknown_key\"} %llu\n"
		    "tandem_tls_tickets_total{outcome=\"no_key\"} %llu\n",
		    (unsigned long long)ts.handshakes, (unsigned long long)ts.resumed,
		    (unsigned long long)ts.failed_version, (unsigned long long)ts.failed_client_cert,
		    (unsigned long long)(ts.failed - ts.failed_version - ts.failed_client_cert),
		    (unsigned long long)ts.client_cert_recheck, (unsigned long long)ts.backend_failed_name,
		    (unsigned long long)(ts.backend_failed - ts.backend_failed_name),
		    (unsigned long long)ts.sni_default, (unsigned long long)ts.alpn_refused,
		    (unsigned long long)ts.ocsp_stapled, (unsigned long long)tk.sealed, (unsigned long long)tk.opened,
		    (unsigned long long)tk.renewed, (unsigned long long)tk.unknown, (unsigned long long)tk.no_key);
	}

	g = procstate_current();
	if (g != NULL) {
		buf_appendf(o, "# HELP tandem_upstream_server_state Operator state: 0 ready, 1 drain, 2 maint.\n"
		    "# TYPE tandem_upstream_server_state gauge\n");
		for (size_t u = 0; u < g->nupstreams; u++)
			for (size_t s = 0; s < g->upstreams[u].nservers; s++)
				prom_u64(o, "tandem_upstream_server_state", atomic_load(&g->upstreams[u].servers[s].shared->state),
				    "upstream", g->upstreams[u].name, "server", g->upstreams[u].servers[s].name, NULL);
		buf_appendf(o, "# HELP tandem_upstream_server_weight Effective configured weight.\n"
		    "# TYPE tandem_upstream_server_weight gauge\n");
		for (size_t u = 0; u < g->nupstreams; u++)
			for (size_t s = 0; s < g->upstreams[u].nservers; s++) {
				const struct pd_server *sv = &g->upstreams[u].servers[s];
				uint32_t w = atomic_load(&sv->shared->weight_override);
				prom_u64(o, "tandem_upstream_server_weight", w == UINT32_MAX ? sv->weight : w,
				    "upstream", g->upstreams[u].name, "server", sv->name, NULL);
			}
		hc_render(o);
		render_ratelimits(o, g);
		cluster_render(o);
		buf_appendf(o, "# HELP tandem_config_generation Configuration generation serving new requests.\n"
		    "# TYPE tandem_config_generation gauge\ntandem_config_generation %llu\n",
		    (unsigned long long)g->generation);
		config_unref(g);
	}
	return 0;
}
