/*
 * tests/unit/test_hacd_gate.c — hacd/gate: counting the connections open to
 * a VIP (from /proc/net/tcp), on real loopback sockets.
 *
 * The "VIP" is a loopback address of its own (127.77.x.y, any 127/8 address
 * is local): a listener there, a client connected to it from 127.0.0.1.
 * Only the accepted socket has the VIP as its local address; the listener
 * (LISTEN) is not counted, nor is the accepted side once it has closed
 * first and its FIN was acknowledged (FIN_WAIT2, then TIME_WAIT).
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
#include <time.h>
#include <unistd.h>

#include "hacd/gate.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_conns_counts_the_vip_only),
		cmocka_unit_test(test_conns_ipv6_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
