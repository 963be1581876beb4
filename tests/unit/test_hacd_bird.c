/*
 * tests/unit/test_hacd_bird.c — hacd/bird: BIRD's numbered reply lines as a
 * table (line → kind, code, last, text), and the client against sockets
 * that are not BIRD's (none at all, one that answers junk, one that never
 * answers): a failure counted and reported, never a crash or a hang.
 * The client against a real BIRD is tests/integration/test_bgp.sh's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "hacd/bird.h"
#include "lib/ev.h"

struct line_case {
	const char *line;
	enum bird_line_kind kind;
	int code;
	int last;
	const char *text;
};

static const struct line_case line_cases[] = {
	{ "0001 BIRD 2.0.12 ready.", BIRD_LINE_CODE, 1, 1, "BIRD 2.0.12 ready." },
	{ "0011 Enabled", BIRD_LINE_CODE, 11, 1, "Enabled" },
	{ "0010 Already enabled", BIRD_LINE_CODE, 10, 1, "Already enabled" },
	{ "0009 Disabled", BIRD_LINE_CODE, 9, 1, "Disabled" },
	{ "0008 Already disabled", BIRD_LINE_CODE, 8, 1, "Already disabled" },
	{ "8003 No protocols match", BIRD_LINE_CODE, 8003, 1, "No protocols match" },
	{ "9001 Parse error", BIRD_LINE_CODE, 9001, 1, "Parse error" },
	/* a table: heading and data lines go on, "0000" alone ends it */
	{ "2002-Name       Proto      Table      State  Since         Info", BIRD_LINE_CODE, 2002, 0,
	  "Name       Proto      Table      State  Since         Info" },
	{ "1002-vip_web    Static     master4    up     01:02:03.456  ", BIRD_LINE_CODE, 1002, 0,
	  "vip_web    Static     master4    up     01:02:03.456  " },
	{ "0000 ", BIRD_LINE_CODE, 0, 1, "" },
	{ "0000", BIRD_LINE_CODE, 0, 1, "" },
	{ " more of the previous line", BIRD_LINE_CONT, 0, 0, "more of the previous line" },
	{ "+reconfigured", BIRD_LINE_ASYNC, 0, 0, "reconfigured" },
	{ "0011\tEnabled", BIRD_LINE_BAD, 0, 0, NULL },
	{ "001 Enabled", BIRD_LINE_BAD, 0, 0, NULL },
	{ "00a1 Enabled", BIRD_LINE_BAD, 0, 0, NULL },
	{ "HTTP/1.1 400 Bad Request", BIRD_LINE_BAD, 0, 0, NULL },
	{ "0011 Enabled\r", BIRD_LINE_BAD, 0, 0, NULL },
	{ "", BIRD_LINE_BAD, 0, 0, NULL },
	{ "001", BIRD_LINE_BAD, 0, 0, NULL },
	{ "0011 En\x01" "abled", BIRD_LINE_BAD, 0, 0, NULL },
};

static void test_line_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *c = &line_cases[i];
		struct bird_line l;
		enum bird_line_kind k = bird_line_parse(c->line, strlen(c->line), &l);

		if (k != c->kind)
			fail_msg("row %zu \"%s\": kind %d, want %d", i, c->line, (int)k, (int)c->kind);
		if (k == BIRD_LINE_BAD)
			continue;
		assert_int_equal(l.code, c->code);
		assert_int_equal(l.last, c->last);
		assert_int_equal(l.textlen, strlen(c->text));
		assert_memory_equal(l.text, c->text, l.textlen);
	}
}

static void test_line_too_long(void **state)
{
	char line[BIRD_LINE_MAX + 2];
	struct bird_line l;

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line, "1002-", 5);
	assert_int_equal(bird_line_parse(line, BIRD_LINE_MAX, &l), BIRD_LINE_CODE);
	assert_int_equal(bird_line_parse(line, BIRD_LINE_MAX + 1, &l), BIRD_LINE_BAD);
	assert_int_equal(bird_line_parse(NULL, 4, &l), BIRD_LINE_BAD);
}

static void test_code_ok(void **state)
{
	(void)state;
	assert_true(bird_code_ok(0));
	assert_true(bird_code_ok(11));
	assert_true(bird_code_ok(999));
	assert_false(bird_code_ok(1002));
	assert_false(bird_code_ok(8003));
	assert_false(bird_code_ok(9001));
	assert_false(bird_code_ok(-1));
}

/* ---- the client against sockets that are not BIRD's ------------------- */

struct outcome { int called; int code; char text[160]; };

static void done_cb(void *arg, int code, const char *text)
{
	struct outcome *o = arg;

	o->called++;
	o->code = code;
	snprintf(o->text, sizeof(o->text), "%s", text);
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static void run_until(struct ev_loop *loop, const struct outcome *o, int max_iter)
{
	for (int i = 0; i < max_iter && o->called == 0; i++)
		ev_run_once(loop, 20);
}

static void test_no_socket(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct bird_client b;
	struct outcome o = { 0, 0, "" };

	(void)state;
	bird_init(&b, loop, "/nonexistent/tandem-test/bird.ctl", 200);
	assert_int_equal(bird_command(&b, "enable vip_web", done_cb, &o), -1);
	assert_int_equal(b.st.connect_failed, 1);
	assert_int_equal(o.called, 0);
	assert_int_equal(bird_command_sync(&b, "disable vip_web", 100), -1);
	/* a command with a newline could smuggle a second one */
	assert_int_equal(bird_command(&b, "enable x\nrestart all", done_cb, &o), -1);
	bird_close(&b);
	ev_loop_free(loop);
}

/* A socket whose server greets like an HTTP server: a bad reply, counted. */
static void test_not_bird(void **state)
{
	char path[64];
	struct ev_loop *loop = ev_loop_new();
	struct bird_client b;
	struct outcome o = { 0, 0, "" };
	int lfd, cfd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/tandem-bird-test-%d.sock", (int)getpid());
	lfd = listen_at(path);
	bird_init(&b, loop, path, 2000);
	assert_int_equal(bird_command(&b, "enable vip_web", done_cb, &o), 0);
	assert_true(bird_busy(&b));
	assert_int_equal(bird_command(&b, "enable vip_web", done_cb, &o), -1);  /* one at a time */
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	assert_int_equal(write(cfd, "HTTP/1.1 400 Bad Request\n", 25), 25);
	run_until(loop, &o, 50);
	assert_int_equal(o.called, 1);
	assert_int_equal(o.code, -1);
	assert_int_equal(b.st.bad_replies, 1);
	assert_false(bird_busy(&b));
	close(cfd);
	close(lfd);
	unlink(path);
	bird_close(&b);
	ev_loop_free(loop);
}

/* A server that speaks BIRD's lines: the welcome, then an error reply, then
 * a good one; and one that never answers (the timeout). */
static void test_replies_and_timeout(void **state)
{
	char path[64];
	struct ev_loop *loop = ev_loop_new();
	struct bird_client b;
	struct outcome o = { 0, 0, "" };
	int lfd, cfd;
	const char *r1 = "0001 BIRD 2.0.12 ready.\n8003 No protocols match\n";
	const char *r2 = "0011 Enabled\n";

	(void)state;
	snprintf(path, sizeof(path), "/tmp/tandem-bird-test2-%d.sock", (int)getpid());
	lfd = listen_at(path);
	bird_init(&b, loop, path, 150);
	assert_int_equal(bird_command(&b, "enable nope", done_cb, &o), 0);
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	assert_int_equal(write(cfd, r1, strlen(r1)), (ssize_t)strlen(r1));
	run_until(loop, &o, 50);
	assert_int_equal(o.code, 8003);
	assert_string_equal(o.text, "No protocols match");
	assert_int_equal(b.st.errors, 1);
	assert_int_equal(b.st.connects, 1);
	o.called = 0;
	assert_int_equal(bird_command(&b, "enable vip_web", done_cb, &o), 0);
	assert_int_equal(write(cfd, r2, strlen(r2)), (ssize_t)strlen(r2));
	run_until(loop, &o, 50);
	assert_int_equal(o.code, BIRD_ENABLED);
	o.called = 0;
	assert_int_equal(bird_command(&b, "disable vip_web", done_cb, &o), 0);
	run_until(loop, &o, 100);       /* nothing written: the 150 ms timeout */
	assert_int_equal(o.called, 1);
	assert_int_equal(o.code, -1);
	assert_int_equal(b.st.timeouts, 1);
	close(cfd);
	close(lfd);
	unlink(path);
	bird_close(&b);
	ev_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_table),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_code_ok),
		cmocka_unit_test(test_no_socket),
		cmocka_unit_test(test_not_bird),
		cmocka_unit_test(test_replies_and_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
