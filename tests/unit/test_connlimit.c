/*
 * tests/unit/test_connlimit.c — limits.max_connections_per_ip counts per
 * prefix (proxyd/connlimit.c cl_key, cl_acquire, cl_release): the addresses
 * of one IPv6 /64 share one allowance, as one host usually holds the whole
 * /64; IPv4 counts per /32 unless configured otherwise.
 *
 * The attack: a client with many addresses of its /64 opens a connection from
 * each. Counted per address, every one would be the first of its address.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "proxyd/connlimit.h"

static void
key6(const char *s, int prefix, uint8_t out[16])
{
	uint8_t a[16];

	assert_int_equal(inet_pton(AF_INET6, s, a), 1);
	cl_key(AF_INET6, a, 32, prefix, out);
}

static void
key4(const char *s, int prefix, uint8_t out[16])
{
	uint8_t a[16] = { 0 };

	assert_int_equal(inet_pton(AF_INET, s, a), 1);
	cl_key(AF_INET, a, prefix, 64, out);
}

static void
test_key_prefix(void **state)
{
	uint8_t a[16], b[16];

	(void)state;
	key6("2001:db8:1:2:aaaa::1", 64, a);
	key6("2001:db8:1:2:ffff:1:2:3", 64, b);
	assert_memory_equal(a, b, 16);           /* one /64, one key */
	key6("2001:db8:1:3::1", 64, b);
	assert_memory_not_equal(a, b, 16);       /* the next /64 */
	key6("2001:db8:1:2:aaaa::1", 128, a);
	key6("2001:db8:1:2:aaaa::2", 128, b);
	assert_memory_not_equal(a, b, 16);       /* per address when asked */
	key6("2001:db8:1:2:aaaa::1", 56, a);
	key6("2001:db8:1:ff:aaaa::1", 56, b);
	assert_memory_equal(a, b, 16);
	key4("192.0.2.1", 32, a);
	key4("192.0.2.2", 32, b);
	assert_memory_not_equal(a, b, 16);
	key4("192.0.2.1", 24, a);
	key4("192.0.2.200", 24, b);
	assert_memory_equal(a, b, 16);
	/* IPv4 keys use 4 bytes; the rest is zero so equal keys compare equal. */
	for (int i = 4; i < 16; i++)
		assert_int_equal(a[i], 0);
}

static void
test_acquire_per_64(void **state)
{
	uint8_t k[6][16];
	const char *addrs[] = { "2001:db8:5:6::1", "2001:db8:5:6::2", "2001:db8:5:6:ffff::3",
		"2001:db8:5:7::1", "2001:db8:5:6::4", "2001:db8:5:6::5" };

	(void)state;
	for (int i = 0; i < 6; i++)
		key6(addrs[i], 64, k[i]);
	/* max 2 per /64: two addresses of the /64 take it; a third is refused. */
	assert_int_equal(cl_acquire(AF_INET6, k[0], 2), 1);
	assert_int_equal(cl_acquire(AF_INET6, k[1], 2), 1);
	assert_int_equal(cl_acquire(AF_INET6, k[2], 2), 0);
	assert_int_equal(cl_acquire(AF_INET6, k[4], 2), 0);
	/* Another /64 has its own allowance. */
	assert_int_equal(cl_acquire(AF_INET6, k[3], 2), 1);
	assert_int_equal(cl_addresses(), 2);
	/* A release from any address of the /64 frees one place. */
	cl_release(AF_INET6, k[1]);
	assert_int_equal(cl_acquire(AF_INET6, k[5], 2), 1);
	cl_release(AF_INET6, k[0]);
	cl_release(AF_INET6, k[5]);
	cl_release(AF_INET6, k[3]);
	assert_int_equal(cl_addresses(), 0);
}

static void
test_acquire_v4_per_address(void **state)
{
	uint8_t a[16], b[16];

	(void)state;
	key4("198.51.100.1", 32, a);
	key4("198.51.100.2", 32, b);
	assert_int_equal(cl_acquire(AF_INET, a, 1), 1);
	assert_int_equal(cl_acquire(AF_INET, a, 1), 0);
	assert_int_equal(cl_acquire(AF_INET, b, 1), 1);
	cl_release(AF_INET, a);
	cl_release(AF_INET, b);
	assert_int_equal(cl_addresses(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_prefix),
		cmocka_unit_test(test_acquire_per_64),
		cmocka_unit_test(test_acquire_v4_per_address),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
