/*
 * tests/unit/test_ratekey.c — rate-limit keys as text (hacd/ratekey.c).
 *
 * Tables: (key bytes) -> (text) and back; (text) -> (key bytes) for the
 * forms only parsing takes; (text) -> (refused, with a substring of the
 * reason). Then properties: every key of up to 64 bytes survives
 * format -> parse unchanged and its text has no space or control byte;
 * and parsing builds the same bytes as proxyd's own key builders
 * (proxyd/ratelimit.c rl_key_ip, rl_key_bytes), so an operator's
 * "ip:10.99.0.7/24" or long header value names what proxyd counted. Last,
 * the arguments of `hactl ratelimit` and `hactl bans` as a table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <cmocka.h>

#include "hacd/ratekey.h"
#include "proxyd/ratelimit.h"

#define K(...) { __VA_ARGS__ }
#define MAPPED 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff

struct kcase {
	size_t len;
	uint8_t key[RATEKEY_MAX];
	const char *text;
};

/* Canonical: format gives text, parse gives the key back. */
static const struct kcase canon[] = {
	{ 17, K(1, MAPPED, 10, 99, 0, 10), "ip:10.99.0.10" },
	{ 17, K(1, MAPPED, 10, 99, 0, 0), "ip:10.99.0.0" },
	{ 17, K(1, MAPPED, 0, 0, 0, 0), "ip:0.0.0.0" },
	{ 17, K(1, MAPPED, 255, 255, 255, 255), "ip:255.255.255.255" },
	{ 17, K(1, 0x20, 0x01, 0x0d, 0xb8), "ip:2001:db8::" },
	{ 17, K(1, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "ip:2001:db8::1" },
	{ 17, K(1), "ip:::" },
	{ 17, K(1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "ip:::1" },
	{ 4, K(2, 'a', 'b', 'c'), "header:abc" },
	{ 1, K(2), "header:" },
	{ 6, K(3, 'a', 'p', 'i', '/', 'x'), "route:api/x" },
	{ 8, K(2, 'a', ' ', 'b', '\\', 'c', 0, 0x7f), "header:a\\x20b\\\\c\\x00\\x7f" },
	{ 4, K(2, 0xc3, 0xa9, '"'), "header:\\xc3\\xa9\"" },
	{ 4, K(3, '\t', '\r', '\n'), "route:\\x09\\x0d\\x0a" },
	{ 3, K(2, '\\', 'x'), "header:\\\\x" },
	{ 0, K(0), "hex:" },
	{ 1, K(0), "hex:00" },
	{ 3, K(9, 0xab, 0xcd), "hex:09abcd" },
	{ 16, K(1, MAPPED, 10, 99, 0), "hex:0100000000000000000000ffff0a6300" },  /* IP kind, wrong length */
	{ 1, K(1), "hex:01" },
};

/* Only parsing: other spellings of a key. */
static const struct kcase parse_only[] = {
	{ 17, K(1, MAPPED, 10, 99, 0, 0), "ip:10.99.0.10/24" },
	{ 17, K(1, MAPPED, 10, 99, 0, 10), "ip:10.99.0.10/32" },
	{ 17, K(1, MAPPED, 0, 0, 0, 0), "ip:10.99.0.10/0" },
	{ 17, K(1, MAPPED, 10, 99, 0, 8), "ip:10.99.0.10/29" },
	{ 17, K(1, MAPPED, 10, 99, 0, 10), "ip:::ffff:10.99.0.10" },
	{ 17, K(1, MAPPED, 10, 99, 0, 0), "ip:::ffff:10.99.0.10/24" },   /* mapped: IPv4 prefix */
	{ 17, K(1, 0x20, 0x01, 0x0d, 0xb8), "ip:2001:db8::77/64" },
	{ 17, K(1, 0x20, 0x01, 0x0d, 0xb8, 0x12, 0x30), "ip:2001:db8:1234::/44" },
	{ 17, K(1, 0x20, 0x01, 0x0d, 0xb8), "ip:2001:DB8::" },
	{ 4, K(2, 'a', ' ', 'b'), "header:a b" },                        /* raw bytes as well */
	{ 3, K(2, 0xc3, 0xa9), "header:\xc3\xa9" },
	{ 3, K(2, 0xab, 'Z'), "header:\\xABZ" },
	{ 3, K(9, 0xab, 0xcd), "hex:09ABcd" },
};

static const struct {
	const char *text;
	const char *why;
} refused[] = {
	{ "", "a key is ip:ADDRESS[/N], header:VALUE, route:VALUE or hex:BYTES" },
	{ "10.99.0.10", "a key is ip:" },
	{ "IP:10.99.0.10", "a key is ip:" },
	{ "addr:10.99.0.10", "a key is ip:" },
	{ "ip:", "no address after ip:" },
	{ "ip:/24", "no address after ip:" },
	{ "ip:10.99.0", "not an IPv4 or IPv6 address" },
	{ "ip:10.99.0.256", "not an IPv4 or IPv6 address" },
	{ "ip:010.99.0.1", "not an IPv4 or IPv6 address" },
	{ "ip:host.example", "not an IPv4 or IPv6 address" },
	{ "ip: 10.99.0.10", "not an IPv4 or IPv6 address" },
	{ "ip:2001:db8:::1", "not an IPv4 or IPv6 address" },
	{ "ip:1111:2222:3333:4444:5555:6666:7777:8888:9999", "not an IPv4 or IPv6 address" },
	{ "ip:10.99.0.10/33", "an IPv4 prefix length is 0..32" },
	{ "ip:::ffff:10.99.0.10/120", "an IPv4 prefix length is 0..32" },
	{ "ip:2001:db8::/129", "an IPv6 prefix length is 0..128" },
	{ "ip:10.99.0.10/", "prefix length after '/' must be a number" },
	{ "ip:10.99.0.10/-1", "prefix length after '/' must be a number" },
	{ "ip:10.99.0.10/2x", "prefix length after '/' must be a number" },
	{ "ip:10.99.0.10/0024", "prefix length after '/' must be a number" },
	{ "ip:10.99.0.10/24/8", "not an IPv4 or IPv6 address" },
	{ "header:a\\", "header: a backslash starts \\\\ or \\xNN" },
	{ "header:a\\n", "header: a backslash starts \\\\ or \\xNN" },
	{ "route:\\x", "route: \\x needs two hex digits" },
	{ "route:\\x4", "route: \\x needs two hex digits" },
	{ "route:\\x4g", "route: \\x needs two hex digits" },
	{ "route:\\xg4", "route: \\x needs two hex digits" },
	{ "hex:0", "hex: needs an even number of digits" },
	{ "hex:0g", "hex: only digits 0-9 and a-f" },
	{ "hex: 0", "hex: only digits 0-9 and a-f" },
	{ "hex:"
	  "00000000000000000000000000000000000000000000000000000000000000000000000000000000"
	  "0000000000000000000000000000000000000000000000000a", "hex: a key is at most 64 bytes" },
};

static void dump(const uint8_t *k, size_t n, char *out, size_t len)
{
	out[0] = '\0';
	for (size_t i = 0; i < n && 2 * i + 3 < len; i++)
		snprintf(out + 2 * i, 3, "%02x", k[i]);
}

static void expect_key(const char *what, size_t i, const char *text, const uint8_t *want, size_t want_len)
{
	uint8_t got[RATEKEY_MAX];
	size_t len = 0;
	char why[200] = "", a[200], b[200];

	if (ratekey_parse(text, got, &len, why, sizeof(why)) != 0)
		fail_msg("%s %zu: \"%s\" refused: %s", what, i, text, why);
	if (len != want_len || memcmp(got, want, len) != 0) {
		dump(got, len, a, sizeof(a));
		dump(want, want_len, b, sizeof(b));
		fail_msg("%s %zu: \"%s\" parsed to %s (%zu bytes), want %s (%zu)", what, i, text, a, len, b,
		    want_len);
	}
}

static void test_canonical(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		char text[RATEKEY_TEXT_MAX];
		size_t n = ratekey_format(canon[i].key, canon[i].len, text, sizeof(text));

		if (strcmp(text, canon[i].text) != 0 || n != strlen(canon[i].text))
			fail_msg("canon %zu: formatted \"%s\" (%zu), want \"%s\"", i, text, n, canon[i].text);
		expect_key("canon", i, canon[i].text, canon[i].key, canon[i].len);
	}
}

static void test_parse_only(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(parse_only) / sizeof(parse_only[0]); i++)
		expect_key("parse", i, parse_only[i].text, parse_only[i].key, parse_only[i].len);
}

static void test_refused(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		uint8_t k[RATEKEY_MAX];
		size_t len = 12345;
		char why[200] = "";

		if (ratekey_parse(refused[i].text, k, &len, why, sizeof(why)) != -1)
			fail_msg("refused %zu: \"%s\" accepted", i, refused[i].text);
		if (strstr(why, refused[i].why) == NULL)
			fail_msg("refused %zu: \"%s\": reason \"%s\", want \"%s\"", i, refused[i].text, why,
			    refused[i].why);
		assert_int_equal(len, 12345);      /* *len untouched on refusal */
	}
	/* A reason never overruns its buffer, and whylen 0 is allowed. */
	{
		uint8_t k[RATEKEY_MAX];
		size_t len;
		char why[8];

		memset(why, 'x', sizeof(why));
		assert_int_equal(ratekey_parse("nope", k, &len, why, 4), -1);
		assert_string_equal(why, "a k");
		assert_int_equal(why[4], 'x');
		assert_int_equal(ratekey_parse("nope", k, &len, NULL, 0), -1);
	}
}

/* Every key of up to 64 bytes, of every kind and length, random bytes:
 * format -> parse is the identity, the text fits RATEKEY_TEXT_MAX and is one
 * word of printable ASCII. Deterministic (fixed seed). */
static void test_round_trip(void **unused)
{
	static const uint8_t kinds[] = { 0, RATEKEY_IP, RATEKEY_HEADER, RATEKEY_ROUTE, 4, 0xff };
	unsigned seed = 12345;

	(void)unused;
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t k[RATEKEY_MAX];
		size_t len = (size_t)(rand_r(&seed) % (RATEKEY_MAX + 1));
		char text[RATEKEY_TEXT_MAX];
		size_t n;

		if (iter % 4 == 0)
			len = iter % 8 == 0 ? RATEKEY_IP_LEN : RATEKEY_MAX;   /* the edges, often */
		for (size_t i = 0; i < len; i++)
			k[i] = (uint8_t)rand_r(&seed);
		if (len > 0)
			k[0] = kinds[rand_r(&seed) % sizeof(kinds)];
		if (len == RATEKEY_IP_LEN && k[0] == RATEKEY_IP && iter % 3 == 0)
			memcpy(k + 1, (const uint8_t[]){ MAPPED }, 12);
		n = ratekey_format(k, len, text, sizeof(text));
		assert_true(n < sizeof(text));
		assert_int_equal(n, strlen(text));
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)text[i] < 0x21 || (unsigned char)text[i] > 0x7e)
				fail_msg("iter %d: \"%s\": byte 0x%02x at %zu", iter, text, (unsigned char)text[i], i);
		expect_key("round trip", (size_t)iter, text, k, len);
	}
}

/* A short buffer truncates like snprintf and still reports the length. */
static void test_truncation(void **unused)
{
	static const uint8_t k[] = { 2, 'a', ' ', 'b' };
	char buf[8];

	(void)unused;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(ratekey_format(k, sizeof(k), buf, 6), strlen("header:a\\x20b"));
	assert_string_equal(buf, "heade");
	assert_int_equal(buf[6], 'x');
	assert_int_equal(ratekey_format(k, sizeof(k), NULL, 0), strlen("header:a\\x20b"));
	/* The longest key fits RATEKEY_TEXT_MAX exactly. */
	{
		uint8_t big[RATEKEY_MAX];
		char text[RATEKEY_TEXT_MAX];

		memset(big, 0, sizeof(big));
		big[0] = RATEKEY_HEADER;
		assert_int_equal(ratekey_format(big, sizeof(big), text, sizeof(text)), RATEKEY_TEXT_MAX - 1);
	}
}

/* The same bytes proxyd builds from the same input. */
static void test_matches_proxyd(void **unused)
{
	static const struct {
		const char *addr;
		int v4, v6;              /* proxyd's prefixes */
		const char *text;        /* what the operator types */
	} ips[] = {
		{ "10.99.0.10", 32, 64, "ip:10.99.0.10" },
		{ "10.99.0.10", 24, 64, "ip:10.99.0.10/24" },
		{ "10.99.0.10", 24, 64, "ip:10.99.0.0" },
		{ "192.0.2.200", 25, 64, "ip:192.0.2.128" },
		{ "192.0.2.200", 0, 64, "ip:0.0.0.0" },
		{ "::ffff:10.99.0.10", 24, 64, "ip:10.99.0.0" },
		{ "2001:db8:aa:bb:cc:dd:ee:ff", 32, 64, "ip:2001:db8:aa:bb::" },
		{ "2001:db8:aa:bb:cc:dd:ee:ff", 32, 48, "ip:2001:db8:aa:bb:cc::/48" },
		{ "2001:db8:aa:bb:cc:dd:ee:ff", 32, 128, "ip:2001:db8:aa:bb:cc:dd:ee:ff" },
	};
	char longval[300];

	(void)unused;
	assert_int_equal(RATEKEY_IP, RL_KEY_IP);
	assert_int_equal(RATEKEY_HEADER, RL_KEY_HEADER);
	assert_int_equal(RATEKEY_ROUTE, RL_KEY_ROUTE);
	assert_int_equal(RATEKEY_IP_LEN, RL_KEY_IP_LEN);
	assert_int_equal(RATEKEY_MAX, RL_KEY_MAX);
	for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		struct sockaddr_storage ss;
		uint8_t want[RL_KEY_MAX];

		memset(&ss, 0, sizeof(ss));
		if (strchr(ips[i].addr, ':') == NULL) {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			s4->sin_family = AF_INET;
			assert_int_equal(inet_pton(AF_INET, ips[i].addr, &s4->sin_addr), 1);
		} else {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			s6->sin6_family = AF_INET6;
			assert_int_equal(inet_pton(AF_INET6, ips[i].addr, &s6->sin6_addr), 1);
		}
		assert_int_equal(rl_key_ip((struct sockaddr *)&ss, ips[i].v4, ips[i].v6, want), RL_KEY_IP_LEN);
		expect_key("proxyd ip", i, ips[i].text, want, RL_KEY_IP_LEN);
	}
	/* Header and route values around the digest threshold (63 kept, 64 digested). */
	for (size_t n = 0; n < sizeof(longval) - 1; n += (n < 70 ? 1 : 37)) {
		char text[sizeof(longval) + 8];
		uint8_t want[RL_KEY_MAX];
		int wl;

		for (size_t i = 0; i < n; i++)
			longval[i] = (char)('a' + (i * 7) % 26);
		longval[n] = '\0';
		wl = rl_key_bytes(RL_KEY_HEADER, longval, n, want);
		snprintf(text, sizeof(text), "header:%s", longval);
		expect_key("proxyd header", n, text, want, (size_t)wl);
		wl = rl_key_bytes(RL_KEY_ROUTE, longval, n, want);
		snprintf(text, sizeof(text), "route:%s", longval);
		expect_key("proxyd route", n, text, want, (size_t)wl);
	}
	/* A digested value is named by its escaped digest as well (what top prints). */
	{
		uint8_t want[RL_KEY_MAX];
		char text[RATEKEY_TEXT_MAX];
		int wl;

		memset(longval, 'v', 200);
		wl = rl_key_bytes(RL_KEY_HEADER, longval, 200, want);
		assert_int_equal(wl, 1 + RATEKEY_DIGEST_LEN);
		ratekey_format(want, (size_t)wl, text, sizeof(text));
		expect_key("digest", 0, text, want, (size_t)wl);
	}
}

/* (command, arguments) -> (accepted: subcommand, N, limit, key length) or
 * (refused, with a substring of the reason). */
static const struct {
	const char *cmd;
	size_t argc;
	const char *argv[5];
	const char *why;           /* NULL: accepted */
	enum ratekey_cmd sub;
	unsigned top;
	const char *limit;
	size_t key_len;
} args[] = {
	{ "ratelimit", 1, { "top" }, NULL, RATEKEY_CMD_TOP, 10, NULL, 0 },
	{ "ratelimit", 2, { "top", "5" }, NULL, RATEKEY_CMD_TOP, 5, NULL, 0 },
	{ "ratelimit", 2, { "top", "1000" }, NULL, RATEKEY_CMD_TOP, 1000, NULL, 0 },
	{ "ratelimit", 4, { "top", "3", "--limit", "per-client" }, NULL, RATEKEY_CMD_TOP, 3, "per-client", 0 },
	{ "ratelimit", 4, { "top", "--limit", "per-client", "3" }, NULL, RATEKEY_CMD_TOP, 3, "per-client", 0 },
	{ "ratelimit", 3, { "top", "--limit", "api" }, NULL, RATEKEY_CMD_TOP, 10, "api", 0 },
	{ "ratelimit", 2, { "top", "0" }, "top N: a number 1..1000", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "top", "1001" }, "top N: a number 1..1000", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "top", "99999999999999999999" }, "top N: a number 1..1000", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "top", "5x" }, "top N: a number 1..1000", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "top", "" }, "top N: a number 1..1000", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "top", "-5" }, "usage: ratelimit top", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "top", "5", "6" }, "usage: ratelimit top", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "top", "--limit" }, "usage: ratelimit top", 0, 0, NULL, 0 },
	{ "ratelimit", 5, { "top", "--limit", "a", "--limit", "b" }, "usage: ratelimit top", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "top", "--limit", "a b" }, "limit names are 1..64 printable", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "top", "--limit", "" }, "limit names are 1..64 printable", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "show", "per-client", "ip:10.99.0.10" }, NULL, RATEKEY_CMD_SHOW, 10, "per-client", 17 },
	{ "ratelimit", 3, { "show", "api", "header:k1" }, NULL, RATEKEY_CMD_SHOW, 10, "api", 3 },
	{ "ratelimit", 3, { "show", "api", "k1" }, "bad key: a key is ip:", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "show", "api", "ip:10.99.0.300" }, "bad key: ip:10.99.0.300: not an IPv4", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "show", "a\x01", "header:k1" }, "limit names are", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "show", "api" }, "usage: ratelimit top [N] [--limit NAME] | ratelimit show|reset LIMIT KEY", 0, 0, NULL, 0 },
	{ "ratelimit", 4, { "show", "api", "header:a", "x" }, "usage: ratelimit", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "reset", "per-client", "ip:10.99.0.10" }, NULL, RATEKEY_CMD_RESET, 10, "per-client", 17 },
	{ "ratelimit", 2, { "reset", "ip:10.99.0.10" }, "usage: ratelimit", 0, 0, NULL, 0 },
	{ "ratelimit", 3, { "reset", "api", "nokind" }, "bad key: a key is ip:", 0, 0, NULL, 0 },
	{ "ratelimit", 2, { "forget", "x" }, "unknown subcommand \"ratelimit forget\"; usage: ratelimit top", 0, 0, NULL, 0 },
	{ "ratelimit", 0, { NULL }, "usage: ratelimit top", 0, 0, NULL, 0 },
	{ "bans", 0, { NULL }, NULL, RATEKEY_CMD_BANS, 10, NULL, 0 },
	{ "bans", 2, { "--limit", "per-client" }, NULL, RATEKEY_CMD_BANS, 10, "per-client", 0 },
	{ "bans", 1, { "--limit" }, "usage: bans [--limit NAME]", 0, 0, NULL, 0 },
	{ "bans", 1, { "per-client" }, "usage: bans [--limit NAME]", 0, 0, NULL, 0 },
	{ "bans", 2, { "--limit", "a\tb" }, "limit names are", 0, 0, NULL, 0 },
	{ "admin", 0, { NULL }, "unknown rate-limit command", 0, 0, NULL, 0 },
	{ NULL, 0, { NULL }, "unknown rate-limit command", 0, 0, NULL, 0 },
};

static void test_args(void **unused)
{
	(void)unused;
	for (size_t i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		struct ratekey_args a;
		char msg[300] = "";
		int rc = ratekey_args_parse(args[i].cmd, args[i].argc, (char *const *)args[i].argv, &a, msg,
		    sizeof(msg));

		if (args[i].why != NULL) {
			if (rc != -1)
				fail_msg("args %zu: accepted, want \"%s\"", i, args[i].why);
			if (strstr(msg, args[i].why) == NULL)
				fail_msg("args %zu: message \"%s\", want \"%s\"", i, msg, args[i].why);
			continue;
		}
		if (rc != 0)
			fail_msg("args %zu: refused: %s", i, msg);
		assert_int_equal(a.cmd, args[i].sub);
		assert_int_equal(a.top, args[i].top);
		if (args[i].limit == NULL)
			assert_null(a.limit);
		else
			assert_string_equal(a.limit, args[i].limit);
		assert_int_equal(a.key_len, args[i].key_len);
		if (a.cmd == RATEKEY_CMD_SHOW)
			assert_string_equal(a.key_text, args[i].argv[2]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_parse_only),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_matches_proxyd),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
