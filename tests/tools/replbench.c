/*
 * tests/tools/replbench.c — a stand-in for proxyd on hacd's local channel,
 * for scripts/bench-repl.
 *
 * Replication is measured end to end the way proxyd sees it: counts go in
 * at one node's channel and come out at another node's channel. This
 * program plays proxyd on either end, so the figures are hacd's alone (no
 * HTTP traffic, no proxyd batching in front of it):
 *
 *   replbench send -s A/hacd.chan ...   pushes rate-limit counts into node
 *       A's hacd as ChannelMessage{sync{counts}} frames (lib/frame), at a
 *       target rate or as fast as hacd reads them, round-robin over K keys;
 *   replbench recv -s B/hacd.chan ...   reads what node B's hacd forwards
 *       (the ClusterView, the bulk of its store, then every entry that
 *       changed) and reports entries/s, lag percentiles and bulk timings.
 *
 * How the lag is carried. The send time of an update travels inside the
 * entry itself: window_start_unix_ms is the sender's start time rounded
 * down to a minute and fixed for the run, and count is the number of
 * microseconds from that window start to the moment the update was built
 * (CLOCK_REALTIME). So every update of a key carries a larger count, which
 * is what a G-counter needs to count as a change, and the receiver's lag
 * is now - (window_start + count), with no side channel and no shared
 * state between the two processes (both run on one host: one clock). The
 * key is an IPv4-mapped IP key as proxyd builds them (kind 1, 16 bytes,
 * hacd/ratekey.h) with the key index in the last four bytes, so the
 * receiver also counts distinct keys (a bitmap) for the bulk measurements.
 * Putting the time in the key instead would make every update a new entry
 * and grow the store without bound.
 *
 * Lag is measured for entries hacd forwarded as they changed (deltas);
 * entries of a channel bulk (StateSync.bulk, sent when the receiver
 * connects or after it fell behind) are counted apart, since their age is
 * the age of the store, not of the path.
 *
 * One nonblocking unix socket and poll with bounded timeouts, no threads;
 * every run is bounded by a duration (the sender also by a count, the
 * receiver also by a number of distinct keys, an idle time or the end of
 * a channel bulk). The sender builds its next frame only when the last one
 * is written, so the socket buffer is the only queue and a slow hacd slows
 * it down rather than piling up updates in this process.
 *
 * Output: one human line on stderr, then one line of key=value pairs on
 * stdout that scripts/bench-repl reads:
 *   send sent= frames= elapsed_ms= rate= target= max_behind_ms= unsent_bytes=
 *        in_bytes= cpu_ms= window_ms= ok=
 *   recv deltas= measured= window_ms= rate= lag_p50_ms= lag_p90_ms=
 *        lag_p99_ms= lag_max_ms= lag_avg_ms= bulk_entries= bulk_chunks=
 *        bulk_ms= unique= expect_ms= expect_unix_ms= connect_unix_ms=
 *        first_delta_ms= last_delta_ms= last_entry_ms= frames= bytes= views=
 *        foreign= other= cpu_ms= ok=
 * (recv times in ms since it connected, -1 when it did not happen; rate is
 * over the measured window, after the warm-up). Exit 0 when it ran to one
 * of its ends, 1 when the channel failed (ok=0 then), 2 on usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/frame.h"
#include "lib/net.h"
#include "proto/tandem.pb-c.h"

#define RB_KEY_LEN       17             /* hacd/ratekey.h RATEKEY_IP_LEN */
#define RB_KEY_KIND_IP   1
#define RB_MAX_KEYS      (1u << 24)     /* 2 MiB of bitmap */
#define RB_MAX_BATCH     10000          /* entries per frame: ~40 bytes each, far below FRAME_MAX */
#define RB_WINDOW_MS     60000u         /* the window every update of a run uses */
#define RB_HIST_RES_US   100u           /* lag histogram resolution */
#define RB_HIST_N        100000u        /* 10 s of 0.1 ms buckets; beyond: the last bucket */
#define RB_POLL_MAX_MS   100

static volatile sig_atomic_t stop_requested;

static void on_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
}

static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t real_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static double cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: replbench send -s SOCKET [options]   push counts into a hacd channel\n"
	    "       replbench recv -s SOCKET [options]   read what a hacd channel forwards\n"
	    "common:\n"
	    "  -s, --socket PATH       hacd's channel socket (RUNDIR/hacd.chan)\n"
	    "  -l, --limit NAME        the limit name of every entry (bench)\n"
	    "  -k, --keys N            distinct keys, 1..%u (send: 100000; recv: bitmap size, %u)\n"
	    "  -d, --duration DUR      hard bound on the run (send 10s, recv 30s)\n"
	    "  -c, --connect-wait DUR  retry connecting this long (5s): hacd may be starting\n"
	    "send:\n"
	    "  -r, --rate N            updates per second, 0 = as fast as hacd reads (0)\n"
	    "  -n, --count N           stop after N updates (0 = at the end of the duration)\n"
	    "  -b, --batch N           entries per frame, 1..%d (500)\n"
	    "  -o, --offset N          first key index (0)\n"
	    "recv:\n"
	    "  -w, --warmup DUR        deltas in the first DUR after the first one count for\n"
	    "                          nothing (0)\n"
	    "  -i, --idle DUR          stop when no entry (delta or bulk) came for DUR after\n"
	    "                          the first (off)\n"
	    "  -e, --expect N          stop once N distinct keys arrived (bulk or delta; off)\n"
	    "  -B, --bulk-only         stop at the end of the first channel bulk (bulk_last)\n"
	    "DUR takes units: 10ms, 2s, 1m (a bare number is ms).\n"
	    "The last line on stdout is key=value pairs (see the source's header).\n",
	    RB_MAX_KEYS, RB_MAX_KEYS, RB_MAX_BATCH);
}

static int parse_dur_us(const char *s, uint64_t *us)
{
	uint64_t ms;

	if (conf_parse_duration(s, &ms) == -1 || ms > 3600u * 1000u)
		return -1;
	*us = ms * 1000u;
	return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Connect to path, retrying every 10 ms for wait_us (the socket file may
 * not exist yet: hacd is starting). A nonblocking fd, or -1. */
static int channel_connect(const char *path, uint64_t wait_us)
{
	uint64_t deadline = mono_us() + wait_us;
	int fd;

	for (;;) {
		fd = net_connect_unix(path);
		if (fd != -1)
			break;
		if (stop_requested || mono_us() >= deadline) {
			fprintf(stderr, "replbench: connect %s: %s\n", path, strerror(errno));
			return -1;
		}
		usleep(10000);
	}
	if (net_set_nonblock(fd) == -1) {
		fprintf(stderr, "replbench: %s: nonblock: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void key_make(uint8_t *k, uint32_t idx)
{
	memset(k, 0, RB_KEY_LEN);
	k[0] = RB_KEY_KIND_IP;
	k[11] = 0xff;                   /* ::ffff:a.b.c.d, the IPv4-mapped form */
	k[12] = 0xff;
	k[13] = (uint8_t)(idx >> 24);
	k[14] = (uint8_t)(idx >> 16);
	k[15] = (uint8_t)(idx >> 8);
	k[16] = (uint8_t)idx;
}

/* The index of a key key_make built; -1 for any other key. */
static int64_t key_index(const ProtobufCBinaryData *k)
{
	static const uint8_t head[13] = { RB_KEY_KIND_IP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (k->len != RB_KEY_LEN || memcmp(k->data, head, sizeof(head)) != 0)
		return -1;
	return (int64_t)(((uint32_t)k->data[13] << 24) | ((uint32_t)k->data[14] << 16) |
	    ((uint32_t)k->data[15] << 8) | k->data[16]);
}

/* ---- send ---------------------------------------------------------------------- */

struct send_opt {
	const char *path, *limit;
	uint64_t keys, rate, count, batch, offset, duration_us, connect_us;
};

struct sender {
	const struct send_opt *o;
	struct frame_conn fc;
	Tandem__RateCount *rc;
	Tandem__RateCount **rcp;
	uint8_t (*key)[RB_KEY_LEN];
	uint8_t *pack;
	uint64_t window_ms, cursor, sent, frames, in_bytes;
};

/* Queue one frame of n updates, the next keys round-robin, all stamped now. */
static int send_batch(struct sender *s, size_t n)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__StateSync sync = TANDEM__STATE_SYNC__INIT;
	uint64_t stamp = real_us() - s->window_ms * 1000u;
	size_t len;

	for (size_t i = 0; i < n; i++) {
		uint32_t idx = (uint32_t)(s->o->offset + s->cursor % s->o->keys);

		s->cursor++;
		key_make(s->key[i], idx);
		s->rc[i].key.data = s->key[i];
		s->rc[i].key.len = RB_KEY_LEN;
		s->rc[i].count = stamp;
	}
	sync.n_counts = n;
	sync.counts = s->rcp;
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_SYNC;
	m.sync = &sync;
	len = tandem__channel_message__pack(&m, s->pack);
	if (frame_queue(&s->fc, s->pack, len) == -1)
		return -1;
	s->sent += n;
	s->frames++;
	return 0;
}

/* Read and drop what hacd sends this end (its view, the bulk of its store,
 * entries from peers): a proxyd that does not read would make hacd close
 * the channel. 0, or -1 when hacd closed it. */
static int send_drain_input(struct sender *s)
{
	const uint8_t *msg;
	size_t len, before = buf_len(&s->fc.in);
	int r = frame_read(&s->fc);

	if (r <= 0)
		return -1;
	s->in_bytes += buf_len(&s->fc.in) - before;
	while ((r = frame_next(&s->fc, &msg, &len)) == 1)
		;
	return r == -1 ? -1 : 0;
}

static int run_send(const struct send_opt *o)
{
	struct sender s = { .o = o };
	uint64_t t0, end, next, now, behind = 0, elapsed;
	double c0, interval_us = 0;
	int fd, rc = 1;
	size_t bmax = (size_t)(o->batch < o->keys ? o->batch : o->keys);

	s.rc = calloc(bmax, sizeof(*s.rc));
	s.rcp = calloc(bmax, sizeof(*s.rcp));
	s.key = calloc(bmax, sizeof(*s.key));
	s.pack = malloc(bmax * 64 + 64);
	if (s.rc == NULL || s.rcp == NULL || s.key == NULL || s.pack == NULL) {
		fprintf(stderr, "replbench: out of memory\n");
		goto out;
	}
	s.window_ms = real_us() / 1000u / RB_WINDOW_MS * RB_WINDOW_MS;
	for (size_t i = 0; i < bmax; i++) {
		tandem__rate_count__init(&s.rc[i]);
		s.rc[i].limit = (char *)o->limit;
		s.rc[i].has_key = s.rc[i].has_window_start_unix_ms = s.rc[i].has_count = 1;
		s.rc[i].window_start_unix_ms = s.window_ms;
		s.rcp[i] = &s.rc[i];
	}
	if ((fd = channel_connect(o->path, o->connect_us)) == -1)
		goto out;
	frame_conn_init(&s.fc, fd);
	c0 = cpu_ms();
	t0 = next = mono_us();
	end = t0 + o->duration_us;
	if (o->rate > 0)
		interval_us = (double)bmax * 1e6 / (double)o->rate;
	while (!stop_requested) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int timeout;

		now = mono_us();
		if (now >= end || (o->count > 0 && s.sent >= o->count && frame_pending(&s.fc) == 0))
			break;
		/* The next frame is built only when the last one is written:
		 * the socket buffer is the only queue, so a slow hacd slows the
		 * sender down (unlimited rate) or makes it fall behind (paced). */
		if (frame_pending(&s.fc) == 0 && (o->count == 0 || s.sent < o->count) &&
		    (o->rate == 0 || now >= next)) {
			size_t n = bmax;

			if (o->count > 0 && o->count - s.sent < n)
				n = (size_t)(o->count - s.sent);
			if (send_batch(&s, n) == -1) {
				fprintf(stderr, "replbench: frame_queue: %s\n", strerror(errno));
				goto out_conn;
			}
			if (o->rate > 0) {
				if (now > next && now - next > behind)
					behind = now - next;
				next = t0 + (uint64_t)((double)s.frames * interval_us);
			}
			if (frame_flush(&s.fc) == -1) {
				fprintf(stderr, "replbench: write: %s\n", strerror(errno));
				goto out_conn;
			}
			continue;
		}
		if (frame_pending(&s.fc) > 0)
			p.events |= POLLOUT;
		timeout = RB_POLL_MAX_MS;
		if (frame_pending(&s.fc) == 0 && o->rate > 0 && next > now && (next - now) / 1000 < (uint64_t)timeout)
			timeout = (int)((next - now) / 1000);
		if (poll(&p, 1, timeout) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "replbench: poll: %s\n", strerror(errno));
			goto out_conn;
		}
		if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && send_drain_input(&s) == -1) {
			fprintf(stderr, "replbench: hacd closed the channel\n");
			goto out_conn;
		}
		if ((p.revents & POLLOUT) && frame_flush(&s.fc) == -1) {
			fprintf(stderr, "replbench: write: %s\n", strerror(errno));
			goto out_conn;
		}
	}
	rc = 0;
out_conn:
	elapsed = mono_us() - t0;
	fprintf(stderr, "replbench send: %" PRIu64 " updates over %" PRIu64 " keys in %.3f s (%.0f/s%s), "
	    "%" PRIu64 " frames, %zu bytes unsent\n", s.sent, o->keys, (double)elapsed / 1e6,
	    elapsed ? (double)s.sent * 1e6 / (double)elapsed : 0.0,
	    o->rate ? "" : ", unpaced", s.frames, frame_pending(&s.fc));
	printf("send sent=%" PRIu64 " frames=%" PRIu64 " elapsed_ms=%.1f rate=%.0f target=%" PRIu64
	    " max_behind_ms=%.1f unsent_bytes=%zu in_bytes=%" PRIu64 " cpu_ms=%.0f window_ms=%" PRIu64
	    " ok=%d\n", s.sent, s.frames, (double)elapsed / 1000.0,
	    elapsed ? (double)s.sent * 1e6 / (double)elapsed : 0.0, o->rate, (double)behind / 1000.0,
	    frame_pending(&s.fc), s.in_bytes, cpu_ms() - c0, s.window_ms, rc == 0);
	frame_conn_fini(&s.fc);
out:
	free(s.rc);
	free(s.rcp);
	free(s.key);
	free(s.pack);
	return rc;
}

/* ---- recv ---------------------------------------------------------------------- */

struct recv_opt {
	const char *path, *limit;
	uint64_t keys, duration_us, connect_us, warmup_us, idle_us, expect;
	int bulk_only;
};

struct receiver {
	const struct recv_opt *o;
	struct frame_conn fc;
	uint8_t *seen;                  /* bitmap over key indices */
	uint32_t *hist;                 /* lag, RB_HIST_RES_US buckets */
	uint64_t t0;                    /* connected (monotonic) */
	uint64_t frames, bytes, views, other, foreign;
	uint64_t deltas, bulk_entries, bulk_chunks, unique;
	uint64_t first_delta, last_delta;   /* monotonic, 0 none yet */
	uint64_t last_entry;            /* monotonic, of the last entry of ours, delta or bulk */
	uint64_t measured, lag_max_us, lag_sum_us;
	uint64_t bulk_done;             /* monotonic time of the first bulk_last, 0 none */
	uint64_t expect_done, expect_real_us;
	int done;
};

static void recv_count(struct receiver *r, const Tandem__RateCount *c, int bulk, uint64_t now, uint64_t rnow)
{
	int64_t idx;

	if (c->limit == NULL || strcmp(c->limit, r->o->limit) != 0 || !c->has_key ||
	    !c->has_count || !c->has_window_start_unix_ms || (idx = key_index(&c->key)) < 0) {
		r->foreign++;
		return;
	}
	r->last_entry = now;
	if ((uint64_t)idx < r->o->keys && !(r->seen[idx >> 3] & (1u << (idx & 7)))) {
		r->seen[idx >> 3] |= (uint8_t)(1u << (idx & 7));
		r->unique++;
	}
	if (bulk) {
		r->bulk_entries++;
		return;
	}
	r->deltas++;
	if (r->first_delta == 0)
		r->first_delta = now;
	r->last_delta = now;
	if (now - r->first_delta >= r->o->warmup_us) {
		uint64_t sent = c->window_start_unix_ms * 1000u + c->count;
		uint64_t lag = rnow > sent ? rnow - sent : 0;
		uint64_t b = lag / RB_HIST_RES_US;

		r->hist[b < RB_HIST_N ? b : RB_HIST_N] += 1;
		r->measured++;
		r->lag_sum_us += lag;
		if (lag > r->lag_max_us)
			r->lag_max_us = lag;
	}
}

static void recv_frame(struct receiver *r, const uint8_t *msg, size_t len)
{
	Tandem__ChannelMessage *m = tandem__channel_message__unpack(NULL, len, msg);
	uint64_t now = mono_us(), rnow = real_us();
	const Tandem__StateSync *s;
	int bulk;

	r->frames++;
	if (m == NULL) {
		r->other++;
		return;
	}
	if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_VIEW) {
		r->views++;
	} else if (m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_SYNC && m->sync != NULL) {
		s = m->sync;
		bulk = s->has_bulk && s->bulk;
		for (size_t i = 0; i < s->n_counts; i++)
			recv_count(r, s->counts[i], bulk, now, rnow);
		if (bulk) {
			r->bulk_chunks++;
			if (s->has_bulk_last && s->bulk_last && r->bulk_done == 0) {
				r->bulk_done = now;
				if (r->o->bulk_only)
					r->done = 1;
			}
		}
	} else {
		r->other++;
	}
	tandem__channel_message__free_unpacked(m, NULL);
	if (r->o->expect > 0 && r->expect_done == 0 && r->unique >= r->o->expect) {
		r->expect_done = now;
		r->expect_real_us = rnow;
		r->done = 1;
	}
}

/* The lag below which a fraction q of the measured entries fell, in ms
 * (bucket upper bound; the last bucket reads as the maximum). */
static double lag_quantile(const struct receiver *r, double q)
{
	uint64_t want, acc = 0;

	if (r->measured == 0)
		return -1;
	want = (uint64_t)ceil(q * (double)r->measured);
	if (want == 0)
		want = 1;
	for (uint32_t b = 0; b <= RB_HIST_N; b++) {
		acc += r->hist[b];
		if (acc >= want)
			return b == RB_HIST_N ? (double)r->lag_max_us / 1000.0 :
			    (double)(b + 1) * RB_HIST_RES_US / 1000.0;
	}
	return (double)r->lag_max_us / 1000.0;
}

static double since_ms(uint64_t t, uint64_t t0)
{
	return t == 0 ? -1.0 : (double)(t - t0) / 1000.0;
}

static int run_recv(const struct recv_opt *o)
{
	struct receiver r = { .o = o };
	const uint8_t *msg;
	uint64_t end, connect_real;
	double c0, window_ms = 0, rate = 0;
	size_t len;
	int fd, rc = 1, n;

	r.seen = calloc((size_t)(o->keys + 7) / 8, 1);
	r.hist = calloc(RB_HIST_N + 1, sizeof(*r.hist));
	if (r.seen == NULL || r.hist == NULL) {
		fprintf(stderr, "replbench: out of memory\n");
		goto out;
	}
	if ((fd = channel_connect(o->path, o->connect_us)) == -1)
		goto out;
	frame_conn_init(&r.fc, fd);
	c0 = cpu_ms();
	connect_real = real_us();
	r.t0 = mono_us();
	end = r.t0 + o->duration_us;
	while (!stop_requested && !r.done) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		uint64_t now = mono_us();
		size_t before;

		if (now >= end)
			break;
		if (o->idle_us > 0 && r.last_entry != 0 && now - r.last_entry >= o->idle_us)
			break;
		n = poll(&p, 1, RB_POLL_MAX_MS);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "replbench: poll: %s\n", strerror(errno));
			goto out_conn;
		}
		if (n == 0)
			continue;
		before = buf_len(&r.fc.in);
		n = frame_read(&r.fc);
		if (n <= 0) {
			fprintf(stderr, "replbench: hacd closed the channel%s\n", n == 0 ? "" : " (read error)");
			goto out_conn;
		}
		r.bytes += buf_len(&r.fc.in) - before;
		while (!r.done && (n = frame_next(&r.fc, &msg, &len)) == 1)
			recv_frame(&r, msg, len);
		if (n == -1) {
			fprintf(stderr, "replbench: oversized frame from hacd\n");
			goto out_conn;
		}
	}
	rc = 0;
out_conn:
	if (r.measured > 0 && r.last_delta > r.first_delta + o->warmup_us) {
		window_ms = (double)(r.last_delta - r.first_delta - o->warmup_us) / 1000.0;
		rate = (double)r.measured * 1000.0 / window_ms;
	}
	fprintf(stderr, "replbench recv: %" PRIu64 " deltas (%" PRIu64 " measured, %.0f/s), %" PRIu64
	    " bulk entries in %" PRIu64 " chunks, %" PRIu64 " distinct keys; lag p50 %.1f p99 %.1f max %.1f ms\n",
	    r.deltas, r.measured, rate, r.bulk_entries, r.bulk_chunks, r.unique,
	    lag_quantile(&r, 0.5), lag_quantile(&r, 0.99), (double)r.lag_max_us / 1000.0);
	printf("recv deltas=%" PRIu64 " measured=%" PRIu64 " window_ms=%.1f rate=%.0f"
	    " lag_p50_ms=%.1f lag_p90_ms=%.1f lag_p99_ms=%.1f lag_max_ms=%.1f lag_avg_ms=%.1f"
	    " bulk_entries=%" PRIu64 " bulk_chunks=%" PRIu64 " bulk_ms=%.1f unique=%" PRIu64
	    " expect_ms=%.1f expect_unix_ms=%" PRIu64 " connect_unix_ms=%" PRIu64
	    " first_delta_ms=%.1f last_delta_ms=%.1f last_entry_ms=%.1f frames=%" PRIu64 " bytes=%" PRIu64
	    " views=%" PRIu64 " foreign=%" PRIu64 " other=%" PRIu64 " cpu_ms=%.0f ok=%d\n",
	    r.deltas, r.measured, window_ms, rate,
	    lag_quantile(&r, 0.5), lag_quantile(&r, 0.9), lag_quantile(&r, 0.99),
	    (double)r.lag_max_us / 1000.0,
	    r.measured ? (double)r.lag_sum_us / (double)r.measured / 1000.0 : -1.0,
	    r.bulk_entries, r.bulk_chunks, since_ms(r.bulk_done, r.t0), r.unique,
	    since_ms(r.expect_done, r.t0), r.expect_real_us / 1000u, connect_real / 1000u,
	    since_ms(r.first_delta, r.t0), since_ms(r.last_delta, r.t0), since_ms(r.last_entry, r.t0), r.frames, r.bytes,
	    r.views, r.foreign, r.other, cpu_ms() - c0, rc == 0);
	frame_conn_fini(&r.fc);
out:
	free(r.seen);
	free(r.hist);
	return rc;
}

/* ---- command line ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "limit", required_argument, NULL, 'l' },
		{ "keys", required_argument, NULL, 'k' },
		{ "duration", required_argument, NULL, 'd' },
		{ "connect-wait", required_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "count", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "offset", required_argument, NULL, 'o' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "idle", required_argument, NULL, 'i' },
		{ "expect", required_argument, NULL, 'e' },
		{ "bulk-only", no_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct send_opt so = { .limit = "bench", .keys = 100000, .batch = 500,
	    .duration_us = 10000000, .connect_us = 5000000 };
	struct recv_opt ro = { .limit = "bench", .keys = RB_MAX_KEYS,
	    .duration_us = 30000000, .connect_us = 5000000 };
	struct sigaction sa;
	const char *mode;
	int ch, is_send, keys_set = 0, dur_set = 0;
	uint64_t v, dur = 0, cw = 5000000;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	mode = argv[1];
	if (strcmp(mode, "send") != 0 && strcmp(mode, "recv") != 0) {
		usage(stderr);
		return 2;
	}
	is_send = mode[0] == 's';
	optind = 2;
	while ((ch = getopt_long(argc, argv, "s:l:k:d:c:r:n:b:o:w:i:e:Bh", lopts, NULL)) != -1) {
		switch (ch) {
		case 's': so.path = ro.path = optarg; break;
		case 'l': so.limit = ro.limit = optarg; break;
		case 'k':
			if (parse_u64(optarg, RB_MAX_KEYS, &v) == -1 || v == 0) goto bad;
			so.keys = ro.keys = v;
			keys_set = 1;
			break;
		case 'd':
			if (parse_dur_us(optarg, &dur) == -1 || dur == 0) goto bad;
			dur_set = 1;
			break;
		case 'c':
			if (parse_dur_us(optarg, &cw) == -1) goto bad;
			break;
		case 'r':
			if (!is_send || parse_u64(optarg, 100000000, &so.rate) == -1) goto bad;
			break;
		case 'n':
			if (!is_send || parse_u64(optarg, UINT32_MAX, &so.count) == -1) goto bad;
			break;
		case 'b':
			if (!is_send || parse_u64(optarg, RB_MAX_BATCH, &so.batch) == -1 || so.batch == 0) goto bad;
			break;
		case 'o':
			if (!is_send || parse_u64(optarg, UINT32_MAX, &so.offset) == -1) goto bad;
			break;
		case 'w':
			if (is_send || parse_dur_us(optarg, &ro.warmup_us) == -1) goto bad;
			break;
		case 'i':
			if (is_send || parse_dur_us(optarg, &ro.idle_us) == -1) goto bad;
			break;
		case 'e':
			if (is_send || parse_u64(optarg, RB_MAX_KEYS, &ro.expect) == -1) goto bad;
			break;
		case 'B':
			if (is_send) goto bad;
			ro.bulk_only = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || so.path == NULL)
		goto bad;
	if (is_send && so.offset + so.keys > (uint64_t)UINT32_MAX + 1)
		goto bad;
	if (!is_send && keys_set && ro.expect > ro.keys)
		goto bad;
	if (dur_set)
		so.duration_us = ro.duration_us = dur;
	so.connect_us = ro.connect_us = cw;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return is_send ? run_send(&so) : run_recv(&ro);
bad:
	usage(stderr);
	return 2;
}
