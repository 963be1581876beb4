/*
 * tests/unit/test_hacd_gate.c — hacd/gate: counting the connections open to
 * a VIP (from /proc/net/tcp), on real loopback sockets.
 *
 * The "VIP" is a loopback address of its own (127.77.x.y, any 127/8 address
 * is local): a listener there, a client connected to it from 127.0.0.1.
 * Only the accepted socket has the VIP as its local address; the listener
 * (LISTEN) is not counted, nor is the accepted side once it has closed
 * first and its FIN was acknowledged (FIN_WAIT2, then TIME_WAIT).
 *
 * The rule itself is set by nft(8); here a stand-in script records what it
 * was asked, so the order of the runs can be checked: a removal asked for
 * while the setting still runs must come after it, never be overtaken.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hacd/gate.h"
#include "lib/ev.h"

static int listen_on(struct sockaddr_in *sa)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	socklen_t l = sizeof(*sa);

	assert_true(fd >= 0);
	sa->sin_port = 0;
	assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(*sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &l), 0);
	return fd;
}

static void loop_vip(struct vip_addr *va, unsigned a, unsigned b, unsigned c, unsigned d)
{
	memset(va, 0, sizeof(*va));
	va->family = AF_INET;
	va->addr[0] = (uint8_t)a;
	va->addr[1] = (uint8_t)b;
	va->addr[2] = (uint8_t)c;
	va->addr[3] = (uint8_t)d;
	va->prefix = 32;
}

/* Poll gate_conns until it says want (the kernel's state changes follow
 * segments on loopback, a moment after the calls that send them). */
static int settle(const struct vip_addr *va, int want)
{
	int n = -2;

	for (int i = 0; i < 200; i++) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		n = gate_conns(va);
		if (n == want)
			break;
		nanosleep(&ts, NULL);
	}
	return n;
}

static void test_conns_counts_the_vip_only(void **state)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct vip_addr va, other;
	int lfd, c1, c2, a1, a2;
	unsigned r = (unsigned)getpid();

	(void)state;
	/* An address of this run's own, so a parallel run does not count here
	 * (vip_parse refuses loopback addresses: filled in by hand). */
	loop_vip(&va, 127, 77, (r >> 8) & 0xff, (r & 0xfe) + 1);
	loop_vip(&other, 127, 77, 255, 254);
	memcpy(&sa.sin_addr, va.addr, 4);
	lfd = listen_on(&sa);
	assert_int_equal(settle(&va, 0), 0);           /* a listener is no connection */

	c1 = socket(AF_INET, SOCK_STREAM, 0);
	c2 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(connect(c2, (struct sockaddr *)&sa, sizeof(sa)), 0);
	a1 = accept(lfd, NULL, NULL);
	a2 = accept(lfd, NULL, NULL);
	assert_true(a1 >= 0 && a2 >= 0);
	assert_int_equal(settle(&va, 2), 2);
	assert_int_equal(gate_conns(&other), 0);       /* another address: none */

	/* The client closes first: our side is in CLOSE_WAIT, still ours to end. */
	close(c1);
	assert_int_equal(settle(&va, 2), 2);
	close(a1);
	assert_int_equal(settle(&va, 1), 1);
	/* We close first: FIN_WAIT2 once acknowledged, nothing of ours in flight. */
	close(a2);
	assert_int_equal(settle(&va, 0), 0);
	close(c2);
	close(lfd);
}

static void test_conns_ipv6_table(void **state)
{
	struct vip_addr va;

	(void)state;
	/* No connection has this address; the tcp6 table must still parse. */
	memset(&va, 0, sizeof(va));
	va.family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "fd00:77::1", va.addr), 1);
	int n = gate_conns(&va);
	assert_true(n == 0 || n == -1);                /* -1: no IPv6 in this kernel */
}

/* A stand-in for nft in a fresh directory: sleeps a little (so a second
 * request arrives while it runs), appends its argument to LOG, exits with
 * STATUS. */
static void fake_nft(char *dir, size_t dlen, char *prog, size_t plen, int status)
{
	char script[512];
	FILE *f;

	snprintf(dir, dlen, "/tmp/test_hacd_gate.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(prog, plen, "%s/nft", dir);
	snprintf(script, sizeof(script), "#!/bin/sh\nsleep 0.1\necho \"$1\" >>%s/log\nexit %d\n", dir, status);
	f = fopen(prog, "w");
	assert_non_null(f);
	fputs(script, f);
	fclose(f);
	assert_int_equal(chmod(prog, 0700), 0);
}

static int read_log(const char *dir, char lines[][512], int max)
{
	char path[300];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/log", dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (n < max && fgets(lines[n], 512, f) != NULL)
		n++;
	fclose(f);
	return n;
}

static void cleanup(const char *dir)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/log", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/nft", dir);
	unlink(path);
	rmdir(dir);
}

/* gate_notify's callback: counts the nft runs that ended, and what the
 * gate said at that moment (held, failed). */
struct done_log { struct gate *g; int runs, held, failed; };

static void count_done(void *arg)
{
	struct done_log *d = arg;

	d->runs++;
	d->held += gate_held(d->g);
	d->failed += gate_failed(d->g);
}

/* Run the loop until the gate has no nft running (bounded: 5 s). */
static void settle_gate(struct ev_loop *loop, struct gate *g)
{
	for (int i = 0; i < 500 && g->pid != 0; i++)
		ev_run_once(loop, 10);
	assert_int_equal(g->pid, 0);
}

static void test_release_waits_for_hold(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct proc_table pt;
	struct gate g;
	struct done_log d = { &g, 0, 0, 0 };
	struct vip_addr va;
	char dir[64], prog[128], lines[4][512];

	(void)state;
	assert_non_null(loop);
	assert_int_equal(proc_table_init(&pt, loop), 0);
	fake_nft(dir, sizeof(dir), prog, sizeof(prog), 0);
	loop_vip(&va, 10, 99, 0, 100);
	gate_init(&g, &pt);
	gate_notify(&g, count_done, &d);
	gate_set(&g, prog, &va, 1);
	assert_true(gate_busy(&g));
	assert_false(gate_held(&g));                   /* not until nft has run */
	assert_false(gate_failed(&g));                 /* nor failed: still running */
	gate_set(&g, prog, &va, 0);                    /* asked while the first runs */
	settle_gate(loop, &g);
	settle_gate(loop, &g);
	assert_false(gate_held(&g));
	assert_false(gate_busy(&g));
	/* Told of both runs; the hold was undone before it ended. */
	assert_int_equal(d.runs, 2);
	assert_int_equal(d.held, 0);
	assert_int_equal(d.failed, 0);
	assert_int_equal(read_log(dir, lines, 4), 2);
	assert_non_null(strstr(lines[0], "ip daddr 10.99.0.100 tcp flags & (syn | ack) == syn drop"));
	assert_non_null(strstr(lines[1], "delete chain inet " GATE_TABLE " gate_0a630064"));

	gate_set(&g, prog, &va, 1);
	settle_gate(loop, &g);
	assert_true(gate_held(&g));
	/* Held when the callback ran: a drain waiting on it may start. */
	assert_int_equal(d.runs, 3);
	assert_int_equal(d.held, 1);
	gate_set(&g, prog, &va, 0);
	settle_gate(loop, &g);
	assert_false(gate_busy(&g));
	assert_int_equal(read_log(dir, lines, 4), 4);
	proc_table_fini(&pt);
	ev_loop_free(loop);
	cleanup(dir);
}

static void test_failed_nft_holds_nothing(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct proc_table pt;
	struct gate g;
	struct done_log d = { &g, 0, 0, 0 };
	struct vip_addr va;
	char dir[64], prog[128], lines[8][512];

	(void)state;
	assert_non_null(loop);
	assert_int_equal(proc_table_init(&pt, loop), 0);
	fake_nft(dir, sizeof(dir), prog, sizeof(prog), 1);
	loop_vip(&va, 10, 99, 0, 101);
	gate_init(&g, &pt);
	gate_notify(&g, count_done, &d);
	gate_set(&g, prog, &va, 1);
	assert_false(gate_failed(&g));
	for (int i = 0; i < 4; i++)
		settle_gate(loop, &g);
	/* Never held (the handover then waits for its bound), and tried at
	 * most 3 times. */
	assert_false(gate_held(&g));
	assert_int_equal(read_log(dir, lines, 8), 3);
	/* Failed from the first run's end on, retries under way or not: a
	 * drain waiting on it goes ahead then. */
	assert_true(gate_failed(&g));
	assert_int_equal(d.runs, 3);
	assert_int_equal(d.failed, 3);
	assert_int_equal(d.held, 0);
	gate_set(&g, prog, &va, 0);
	assert_false(gate_failed(&g));                 /* nothing wanted */
	settle_gate(loop, &g);
	assert_false(gate_busy(&g));
	assert_int_equal(read_log(dir, lines, 8), 3);  /* nothing to remove */
	proc_table_fini(&pt);
	ev_loop_free(loop);
	cleanup(dir);
}

/* No nft configured (nft = ""): the hold is wanted, never set, failed at once. */
static void test_no_nft_fails_at_once(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct proc_table pt;
	struct gate g;
	struct vip_addr va;

	(void)state;
	assert_non_null(loop);
	assert_int_equal(proc_table_init(&pt, loop), 0);
	loop_vip(&va, 10, 99, 0, 102);
	gate_init(&g, &pt);
	gate_set(&g, "", &va, 1);
	assert_int_equal(g.pid, 0);
	assert_false(gate_held(&g));
	assert_true(gate_failed(&g));
	assert_false(gate_busy(&g));
	gate_set(&g, "", &va, 0);
	assert_false(gate_failed(&g));
	proc_table_fini(&pt);
	ev_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conns_counts_the_vip_only),
		cmocka_unit_test(test_conns_ipv6_table),
		cmocka_unit_test(test_release_waits_for_hold),
		cmocka_unit_test(test_failed_nft_holds_nothing),
		cmocka_unit_test(test_no_nft_fails_at_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
