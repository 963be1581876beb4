/*
 * tests/unit/test_hacd_ctl.c — hacd's control socket (hacd/ctl.c): requests
 * through ctl_input() on a socketpair stream, against a node assembled from
 * its real parts (configuration, peer table, replication store) without
 * node_init's sockets, as tests/fuzz/fuzz_ctl.c does.
 *
 * The listings on an empty store: `hactl ratelimit top` and `hactl bans` on
 * a node that holds no count or ban (just started, or no cluster limit)
 * sorted a NULL array, undefined behaviour that the sanitized build aborts
 * on (fuzz_ctl found it). They must answer OK with nothing listed. And an
 * undecodable request closes the connection and is counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "hacd/config.h"
#include "hacd/ctl.h"
#include "hacd/node.h"
#include "hacd/stream.h"
#include "lib/ev.h"
#include "lib/frame.h"
#include "lib/log.h"
#include "lib/wire.h"
#include "proto/tandem.pb-c.h"

static const char conf_text[] =
    "cluster = \"t\";\n"
    "key_file = \"/nonexistent\";\n"
    "advert = \"100ms\";\n"
    "replication = { sync_interval = \"20ms\"; anti_entropy = \"0\"; };\n"
    "nodes = ( { name = \"n1\"; address = \"10.99.9.1\"; },\n"
    "          { name = \"n2\"; address = \"10.99.9.2\"; } );\n"
    "vips = ( { name = \"web\"; address = \"10.99.9.100/24\"; interface = \"eth0\";\n"
    "           priority = { n1 = 150; n2 = 100; }; } );\n";

static struct node n;
static struct ctl c;
static struct stream *s;
static struct frame_conn rx;

static uint64_t fake_clock(void *arg)
{
	(void)arg;
	return 1000;
}

static void ignore_frame(struct stream *st, const uint8_t *msg, size_t len)
{
	(void)st;
	(void)msg;
	(void)len;
}

static int setup(void **state)
{
	struct conf_err err;
	uint8_t key[WIRE_KEY_LEN];
	int sv[2];

	(void)state;
	log_set_level(LOG_LVL_ERR);
	memset(&n, 0, sizeof(n));
	n.loop = ev_loop_new();
	assert_non_null(n.loop);
	ev_set_clock(n.loop, fake_clock, NULL);
	ev_now_update(n.loop);
	n.cfg = hacd_config_load_string("/nonexistent/hacd.conf", conf_text, "n1", &err);
	if (n.cfg == NULL)
		fail_msg("%s", err.msg);
	n.kr = wire_keyring_new();
	memset(key, 0x42, sizeof(key));
	assert_int_equal(wire_keyring_add(n.kr, 1, key), 0);
	peer_table_init(&n.peers, n.loop, n.cfg, n.kr, 100, NULL, NULL);
	n.chan.loop = n.loop;
	n.chan.lfd = -1;
	assert_int_equal(repl_init(&n.repl, n.loop, n.cfg, &n.peers, &n.chan), 0);
	memset(&c, 0, sizeof(c));
	c.loop = n.loop;
	c.node = &n;
	c.lfd = -1;
	c.rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	s = stream_new(n.loop, sv[0], ignore_frame, NULL, NULL);
	assert_non_null(s);
	frame_conn_init(&rx, sv[1]);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	stream_close(s);
	ev_run_once(n.loop, 0);
	frame_conn_fini(&rx);
	repl_fini(&n.repl);
	peer_table_fini(&n.peers);
	wire_keyring_free(n.kr);
	hacd_config_free(n.cfg);
	ev_loop_free(n.loop);
	return 0;
}

/* Send COMMAND ARGS... and return the response (caller frees). */
static Tandem__CtlResponse *request(const char *command, size_t nargs, const char **args)
{
	Tandem__CtlRequest req = TANDEM__CTL_REQUEST__INIT;
	uint8_t buf[512];
	const uint8_t *msg;
	size_t len;

	req.command = (char *)command;
	req.n_args = nargs;
	req.args = (char **)args;
	len = tandem__ctl_request__pack(&req, buf);
	ctl_input(&c, s, buf, len);
	assert_false(s->closing);
	assert_int_equal(frame_read(&rx), 1);
	assert_int_equal(frame_next(&rx, &msg, &len), 1);
	return tandem__ctl_response__unpack(NULL, len, msg);
}

static void test_rate_top_empty_store(void **state)
{
	const char *args[] = { "top", "5" };
	Tandem__CtlResponse *r;

	(void)state;
	r = request("ratelimit", 2, args);
	assert_non_null(r);
	assert_int_equal(r->status, CTL_OK);
	assert_int_equal(r->n_rates, 0);
	tandem__ctl_response__free_unpacked(r, NULL);
}

static void test_bans_empty_store(void **state)
{
	Tandem__CtlResponse *r;

	(void)state;
	r = request("bans", 0, NULL);
	assert_non_null(r);
	assert_int_equal(r->status, CTL_OK);
	assert_int_equal(r->n_bans, 0);
	tandem__ctl_response__free_unpacked(r, NULL);
}

static void test_undecodable_request_closes(void **state)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff };

	(void)state;
	ctl_input(&c, s, junk, sizeof(junk));
	assert_true(s->closing);
	assert_int_equal(c.bad_request, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rate_top_empty_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bans_empty_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_undecodable_request_closes, setup, teardown),
	};

	return cmocka_run_group_tests_name("hacd_ctl", tests, NULL, NULL);
}
