/*
 * tests/fuzz/fuzz_ctl.c — libFuzzer harness for hacd's control socket:
 * what hactl (or anything running as root or hacd's user) sends to
 * hacd.ctl. lib/frame cuts the stream, hacd/ctl.c's ctl_input() decodes each
 * CtlRequest and dispatches it: status, failover, maintenance, reload, the
 * admin verbs (drain, enable, maint, weight through hacd/adminarg.c), admin,
 * ratelimit top|show and bans (hacd/ratekey.c parses their arguments),
 * events.
 *
 * hacd here is a node assembled by hand from its real parts: configuration
 * parsed from text (its path does not exist, so "reload" fails cleanly),
 * the peer table, the replication module with its store; the node's VIP
 * and check state is as node_init leaves it before any election (no VIP
 * context: VIP changes are skipped, as with hacd -t); the re-evaluation
 * and heartbeat a command queues do nothing. A fresh node per input.
 * The client is a socketpair stream, as accept_cb would make.
 *
 * Checked: every request that decodes gets exactly one response frame, and
 * it decodes as a CtlResponse whose status is CTL_OK, CTL_ERR or CTL_USAGE
 * (hactl's exit codes); an undecodable request closes the connection and is
 * counted; nothing else closes it short of an oversized frame.
 *
 * Seeds: tests/fuzz/corpus/ctl/, request streams hactl wrote, captured on a
 * recording socket (tests/fuzz/corpus/README says how).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hacd/config.h"
#include "hacd/ctl.h"
#include "hacd/node.h"
#include "hacd/stream.h"
#include "lib/ev.h"
#include "lib/frame.h"
#include "lib/log.h"
#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf_text[] =
    "cluster = \"t\";\n"
    "key_file = \"/nonexistent\";\n"
    "advert = \"100ms\";\n"
    "replication = { sync_interval = \"20ms\"; anti_entropy = \"0\"; max_admin = 8; };\n"
    "nodes = ( { name = \"n1\"; address = \"10.99.9.1\"; },\n"
    "          { name = \"n2\"; address = \"10.99.9.2\"; } );\n"
    "vips = ( { name = \"web\"; address = \"10.99.9.100/24\"; interface = \"eth0\";\n"
    "           priority = { n1 = 150; n2 = 100; }; } );\n";

static uint64_t fake_now = 1000;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_ctl: invariant broken: %s\n", what);
		abort();
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_level(LOG_LVL_ERR);
	return 0;
}

static void idle_timer(struct ev_loop *loop, struct ev_timer *t)
{
	(void)loop;
	(void)t;
}

static void idle_defer(struct ev_loop *loop, struct ev_defer *d)
{
	(void)loop;
	(void)d;
}

static void ignore_frame(struct stream *s, const uint8_t *msg, size_t len)
{
	(void)s;
	(void)msg;
	(void)len;
}

/* Read every response frame waiting on fd; returns how many, each checked. */
static size_t responses(int fd, struct frame_conn *rx)
{
	const uint8_t *msg;
	size_t len, n = 0;
	int rc;

	(void)fd;
	check(frame_read(rx) >= 0, "read responses");
	while ((rc = frame_next(rx, &msg, &len)) == 1) {
		Tandem__CtlResponse *r = tandem__ctl_response__unpack(NULL, len, msg);

		check(r != NULL, "a response that does not decode");
		check(!r->has_status || r->status == CTL_OK || r->status == CTL_ERR || r->status == CTL_USAGE,
		    "response status is OK, ERR or USAGE");
		tandem__ctl_response__free_unpacked(r, NULL);
		n++;
	}
	check(rc == 0, "a response frame too large");
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct node n;
	static struct ctl c;
	struct conf_err err;
	struct frame_conn in, rx;
	struct stream *s;
	const uint8_t *msg;
	size_t len;
	int sv[2], rc;
	uint8_t key[WIRE_KEY_LEN];

	memset(&n, 0, sizeof(n));
	n.loop = ev_loop_new();
	check(n.loop != NULL, "loop");
	ev_set_clock(n.loop, fake_clock, NULL);
	ev_now_update(n.loop);
	n.cfg = hacd_config_load_string("/nonexistent/hacd-fuzz.conf", conf_text, "n1", &err);
	check(n.cfg != NULL, "config");
	n.kr = wire_keyring_new();
	memset(key, 0x42, sizeof(key));
	check(n.kr != NULL && wire_keyring_add(n.kr, 1, key) == 0, "keyring");
	peer_table_init(&n.peers, n.loop, n.cfg, n.kr, 100, NULL, NULL);
	n.chan.loop = n.loop;
	n.chan.lfd = -1;
	check(repl_init(&n.repl, n.loop, n.cfg, &n.peers, &n.chan) == 0, "repl_init");
	/* As node_init does: the status answer asks bgp.c about every group. */
	check(bgp_init(&n.bgp, &n, "/nonexistent") == 0, "bgp_init");
	/* node_init's watchers, with callbacks that do nothing: the
	 * re-evaluation and heartbeats a command asks for are the election's
	 * and the peer protocol's business, fuzzed elsewhere. */
	ev_timer_init(&n.hb_timer, idle_timer, &n);
	ev_timer_init(&n.tick_timer, idle_timer, &n);
	ev_timer_init(&n.drain_timer, idle_timer, &n);
	ev_timer_init(&n.stop_timer, idle_timer, &n);
	ev_defer_init(&n.eval_defer, idle_defer, &n);
	ev_defer_init(&n.recheck_defer, idle_defer, &n);
	ev_defer_init(&n.hb_defer, idle_defer, &n);
	for (size_t v = 0; v < HACD_MAX_VIPS; v++) {
		n.vips[v].yield_to = -1;
		ev_timer_init(&n.vips[v].garp_timer, idle_timer, &n);
		ev_timer_init(&n.vips[v].reeval_timer, idle_timer, &n);
	}

	memset(&c, 0, sizeof(c));
	c.loop = n.loop;
	c.node = &n;
	c.lfd = -1;
	c.rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	s = stream_new(n.loop, sv[0], ignore_frame, NULL, NULL);
	check(s != NULL, "stream");
	frame_conn_init(&rx, sv[1]);

	frame_conn_init(&in, -1);
	check(buf_append(&in.in, data, size) == 0, "buffer");
	while (!s->closing && (rc = frame_next(&in, &msg, &len)) == 1) {
		Tandem__CtlRequest *req = tandem__ctl_request__unpack(NULL, len, msg);
		uint64_t bad = c.bad_request;

		ctl_input(&c, s, msg, len);
		if (req == NULL) {
			check(s->closing && c.bad_request == bad + 1, "an undecodable request closes the connection");
		} else {
			check(!s->closing, "a decodable request closed the connection");
			check(responses(sv[1], &rx) == 1, "one response per request");
			tandem__ctl_request__free_unpacked(req, NULL);
		}
	}
	frame_conn_fini(&in);

	for (size_t v = 0; v < HACD_MAX_VIPS; v++) {
		ev_timer_stop(n.loop, &n.vips[v].garp_timer);
		ev_timer_stop(n.loop, &n.vips[v].reeval_timer);
	}
	ev_timer_stop(n.loop, &n.hb_timer);
	ev_timer_stop(n.loop, &n.tick_timer);
	ev_timer_stop(n.loop, &n.drain_timer);
	ev_timer_stop(n.loop, &n.stop_timer);
	bgp_fini(&n.bgp);
	stream_close(s);
	ev_run_once(n.loop, 0);     /* reaps the stream */
	frame_conn_fini(&rx);
	repl_fini(&n.repl);
	peer_table_fini(&n.peers);
	wire_keyring_free(n.kr);
	hacd_config_free(n.cfg);
	ev_loop_free(n.loop);
	return 0;
}
