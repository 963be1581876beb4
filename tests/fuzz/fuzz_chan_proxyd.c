/*
 * tests/fuzz/fuzz_chan_proxyd.c — libFuzzer harness for what proxyd does
 * with the bytes hacd sends on the local channel: lib/frame cuts the stream
 * (as proxyd/channel.c's chan_io does), channel_handle_frame() unpacks each
 * ChannelMessage and acts on it: drain on/off, the cluster's server admin
 * state (applied to this proxyd's servers), and through proxyd/cluster.c
 * peers' rate counts and bans (into the cluster-scope rate table), health
 * observations, TLS ticket keys, the cluster view, rate-limit resets and
 * cache purges (hactl cache purge).
 *
 * proxyd here is real: a configuration parsed from text (one upstream with
 * two servers, one cluster-scope rate limit) published as the current
 * generation, the channel started on a lib/ev loop that never runs (so it
 * never connects; its sends are skipped). Its channel and cluster state is
 * module-global, as in proxyd, so it carries over from input to input.
 *
 * Checked after every frame, against the harness's own unpacking of it:
 * each admin entry of a sync is accounted for exactly once (applied, unknown
 * server, refused or hacd's own "@node/": channel_sync_counts), a drain message sets drain mode
 * to what it says, and the Prometheus text proxyd serves from this state
 * (cluster_render) stays well formed: every line ends in a newline and is a
 * comment or "name[{labels}] value". The status page's JSON (proxyd/status.c,
 * hacd's ClusterStatus included) stays well formed too: brackets balance
 * outside strings, and no byte of it is a control, non-ASCII, '<', '>' or
 * '&' (names from the channel are escaped).
 *
 * Seeds: tests/fuzz/corpus/chan_proxyd/, streams hacd's own code wrote to
 * the channel (tests/fuzz/corpus/README says how).
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/conf.h"
#include "lib/ev.h"
#include "lib/frame.h"
#include "lib/log.h"
#include "proto/tandem.pb-c.h"
#include "proxyd/channel.h"
#include "proxyd/cluster.h"
#include "proxyd/config.h"
#include "proxyd/procstate.h"
#include "proxyd/status.h"
#include "proxyd/worker.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] =
    "threads = 1;\n"
    "node = \"n1\";\n"
    "log = { access = \"off\"; };\n"
    "listeners = ( { name = \"l\"; listen = \"127.0.0.1:27001\"; } );\n"
    "upstreams = ( { name = \"app\"; servers = ( { name = \"s1\"; address = \"127.0.0.1:27002\"; },\n"
    "                                           { name = \"s2\"; address = \"127.0.0.1:27003\"; } ); } );\n"
    "ratelimits = ( { name = \"api\"; key = \"ip\"; rate = 100; period = \"10s\"; scope = \"cluster\";\n"
    "                 max_keys = 64; ban = { after = 2; within = \"1m\"; duration = \"10m\"; }; } );\n"
    "routes = ( { name = \"default\"; upstream = \"app\"; ratelimit = \"api\"; } );\n";

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_chan_proxyd: invariant broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct conf_err err;
	struct pd_config *g;
	struct ev_loop *loop;

	(void)argc;
	(void)argv;
	log_set_level(LOG_LVL_ERR);
	g = config_load_string("fuzz.conf", conf_text, &err);
	if (g == NULL) {
		fprintf(stderr, "fuzz_chan_proxyd: %s\n", err.msg);
		abort();
	}
	worker_publish(g);
	loop = ev_loop_new();
	check(loop != NULL, "loop");
	check(channel_start(loop, "/nonexistent/hacd.chan", "n1") == 0, "channel_start");
	return 0;
}

/* cluster_render's text: "# ..." comments and "name[{labels}] value". */
static void check_metrics(void)
{
	struct buf o;
	const char *p, *end;

	buf_init(&o);
	cluster_render(&o);
	p = (const char *)buf_rptr(&o);
	end = p + buf_len(&o);
	check(buf_len(&o) == 0 || end[-1] == '\n', "metrics end with a newline");
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;

		check(nl != NULL, "metrics line");
		if (*p != '#') {
			sp = memrchr(p, ' ', (size_t)(nl - p));
			check(sp != NULL && sp > p && sp + 1 < nl, "metric line has a name and a value");
			for (const char *q = p; q < sp && *q != '{'; q++)
				check((*q >= 'a' && *q <= 'z') || *q == '_' || (*q >= '0' && *q <= '9'), "metric name");
		}
		p = nl + 1;
	}
	buf_fini(&o);
}

/* status_render_json's document: balanced, and inert as HTML. */
static void check_status_json(void)
{
	struct buf o;
	const unsigned char *p, *end;
	int depth = 0, in_str = 0, esc = 0;

	buf_init(&o);
	check(status_render_json(&o, 1000) == 0, "status json rendered");
	p = buf_rptr(&o);
	end = p + buf_len(&o);
	for (; p < end; p++) {
		unsigned char c = *p;

		check(c != '<' && c != '>' && c != '&' && c < 0x7f && (c >= 0x20 || c == '\n'),
		    "status json byte escaped");
		if (in_str) {
			if (esc)
				esc = 0;
			else if (c == '\\')
				esc = 1;
			else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			check(--depth >= 0, "status json brackets");
	}
	check(depth == 0 && !in_str, "status json balanced");
	buf_fini(&o);
}

static void one_frame(const uint8_t *msg, size_t len)
{
	Tandem__ChannelMessage *m = tandem__channel_message__unpack(NULL, len, msg);
	uint64_t a0, u0, b0, h0, a1, u1, b1, h1;
	size_t n_admin = 0;

	channel_sync_counts(&a0, &u0, &b0, &h0);
	if (m != NULL && m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_SYNC && m->sync != NULL)
		n_admin = m->sync->n_admin;
	channel_handle_frame(msg, len);
	channel_sync_counts(&a1, &u1, &b1, &h1);
	check((a1 - a0) + (u1 - u0) + (b1 - b0) + (h1 - h0) == n_admin, "each admin entry accounted for once");
	if (m != NULL && m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_DRAIN && m->drain != NULL)
		check(atomic_load(&procstate_draining) == (m->drain->has_on && m->drain->on), "drain follows hacd");
	if (m != NULL && m->body_case == TANDEM__CHANNEL_MESSAGE__BODY_CLUSTER)
		check_status_json();
	if (m != NULL)
		tandem__channel_message__free_unpacked(m, NULL);
	check_metrics();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_conn fc;
	const uint8_t *msg;
	size_t len, split = size > 0 ? data[size - 1] % (size + 1) : 0;
	int rc = 0;

	/* The stream arrives in two reads, cut where the last byte says. */
	frame_conn_init(&fc, -1);
	for (int part = 0; part < 2 && rc == 0; part++) {
		size_t from = part == 0 ? 0 : split, to = part == 0 ? split : size;

		check(buf_append(&fc.in, data + from, to - from) == 0, "buffer");
		while ((rc = frame_next(&fc, &msg, &len)) == 1)
			one_frame(msg, len);
	}
	frame_conn_fini(&fc);
	return 0;
}
