/*
 * hacd/ratekey.c — rate-limit keys as text, both ways.
 *
 * proxyd keys a request by the first byte's kind (client address prefix,
 * header value, route name) followed by the value (proxyd/ratelimit.c
 * rl_key_ip, rl_key_bytes), and hacd/replica.c replicates those bytes
 * without looking inside. The operator sees them through hactl, which
 * prints them with ratekey_format and reads them back with ratekey_parse:
 * the text form is canonical (one text per key, no spaces), so a key
 * copied from `hactl ratelimit top` names exactly the bytes it came from.
 * Parsing also rebuilds what proxyd would build from raw input (an address
 * with a prefix length, a long header value digested), and
 * tests/unit/test_ratekey.c checks that against proxyd's own functions, so
 * the two cannot drift apart silently.
 */
#include "hacd/ratekey.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "lib/net.h"

static const uint8_t v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Output that never overflows and counts what it would have written. */
struct text {
	char *p;
	size_t cap, n;
};

static void put(struct text *t, char c)
{
	if (t->n + 1 < t->cap)
		t->p[t->n] = c;
	t->n++;
}

static void puts_(struct text *t, const char *s)
{
	while (*s != '\0')
		put(t, *s++);
}

static void put_hex(struct text *t, uint8_t b)
{
	static const char digits[] = "0123456789abcdef";

	put(t, digits[b >> 4]);
	put(t, digits[b & 15]);
}

size_t ratekey_format(const uint8_t *key, size_t len, char *out, size_t outlen)
{
	struct text t = { out, outlen, 0 };

	if (len == RATEKEY_IP_LEN && key[0] == RATEKEY_IP) {
		char a[INET6_ADDRSTRLEN];

		if (memcmp(key + 1, v4_mapped, sizeof(v4_mapped)) == 0)
			inet_ntop(AF_INET, key + 13, a, sizeof(a));
		else
			inet_ntop(AF_INET6, key + 1, a, sizeof(a));
		puts_(&t, "ip:");
		puts_(&t, a);
	} else if (len >= 1 && (key[0] == RATEKEY_HEADER || key[0] == RATEKEY_ROUTE)) {
		puts_(&t, key[0] == RATEKEY_HEADER ? "header:" : "route:");
		for (size_t i = 1; i < len; i++) {
			if (key[i] == '\\') {
				puts_(&t, "\\\\");
			} else if (key[i] >= 0x21 && key[i] <= 0x7e) {
				put(&t, (char)key[i]);
			} else {
				puts_(&t, "\\x");
				put_hex(&t, key[i]);
			}
		}
	} else {
		puts_(&t, "hex:");
		for (size_t i = 0; i < len; i++)
			put_hex(&t, key[i]);
	}
	if (outlen > 0)
		out[t.n < outlen ? t.n : outlen - 1] = '\0';
	return t.n;
}

static int fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A reason for the operator in why; -1 for the caller to return. */
static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* ADDR or ADDR/N; the prefix counts bits of the IPv4 address for IPv4 and
 * IPv4-mapped IPv6, as rl_key_ip does for a dual-stack socket. */
static int parse_ip(const char *s, uint8_t out[RATEKEY_MAX], size_t *len, char *why, size_t whylen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strrchr(s, '/');
	size_t alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	uint8_t a[16];
	int bits = 128, max, v4;

	if (alen == 0)
		return fail(why, whylen, "no address after ip:");
	if (alen >= sizeof(addr))
		return fail(why, whylen, "ip:%.60s...: not an IPv4 or IPv6 address", s);
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, a + 12) == 1) {
		memcpy(a, v4_mapped, sizeof(v4_mapped));
	} else if (inet_pton(AF_INET6, addr, a) != 1) {
		return fail(why, whylen, "ip:%s: not an IPv4 or IPv6 address", addr);
	}
	v4 = memcmp(a, v4_mapped, sizeof(v4_mapped)) == 0;
	max = v4 ? 32 : 128;
	if (slash != NULL) {
		const char *p = slash + 1;
		int n = 0;

		if (*p == '\0' || strlen(p) > 3)
			return fail(why, whylen, "ip:%s: the prefix length after '/' must be a number", s);
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return fail(why, whylen, "ip:%s: the prefix length after '/' must be a number", s);
			n = n * 10 + (*p - '0');
		}
		if (n > max)
			return fail(why, whylen, v4 ? "ip:%s: an IPv4 prefix length is 0..32" :
			    "ip:%s: an IPv6 prefix length is 0..128", s);
		bits = v4 ? 96 + n : n;
	}
	net_mask_bits(a, 16, bits);
	out[0] = RATEKEY_IP;
	memcpy(out + 1, a, 16);
	*len = RATEKEY_IP_LEN;
	return 0;
}

/* The value after header: or route:, unescaped; kept verbatim up to
 * RATEKEY_MAX - 1 bytes, digested beyond (proxyd/ratelimit.c rl_key_bytes:
 * an unkeyed 16-byte BLAKE2b of the whole value), streaming so that a long
 * value needs no buffer. */
static int parse_value(uint8_t kind, const char *s, uint8_t out[RATEKEY_MAX], size_t *len, char *why,
    size_t whylen)
{
	crypto_generichash_state st;
	size_t n = 0;
	int hashing = 0;

	out[0] = kind;
	for (const char *p = s; *p != '\0'; p++) {
		uint8_t b = (uint8_t)*p;

		if (b == '\\') {
			if (p[1] == '\\') {
				p++;
			} else if (p[1] == 'x') {
				int hi = hexval(p[2]), lo = hi < 0 ? -1 : hexval(p[3]);

				if (hi < 0 || lo < 0)
					return fail(why, whylen, "%s: \\x needs two hex digits (\\xNN)",
					    kind == RATEKEY_HEADER ? "header" : "route");
				b = (uint8_t)(hi << 4 | lo);
				p += 3;
			} else {
				return fail(why, whylen, "%s: a backslash starts \\\\ or \\xNN",
				    kind == RATEKEY_HEADER ? "header" : "route");
			}
		}
		if (!hashing && n < RATEKEY_MAX - 1) {
			out[1 + n++] = b;
			continue;
		}
		if (!hashing) {
			if (sodium_init() == -1 || crypto_generichash_init(&st, NULL, 0, RATEKEY_DIGEST_LEN) != 0)
				return fail(why, whylen, "cannot digest a long value (libsodium)");
			crypto_generichash_update(&st, out + 1, n);
			hashing = 1;
		}
		crypto_generichash_update(&st, &b, 1);
	}
	if (hashing) {
		crypto_generichash_final(&st, out + 1, RATEKEY_DIGEST_LEN);
		n = RATEKEY_DIGEST_LEN;
	}
	*len = 1 + n;
	return 0;
}

static int parse_hex(const char *s, uint8_t out[RATEKEY_MAX], size_t *len, char *why, size_t whylen)
{
	size_t n = strlen(s);

	if (n % 2 != 0)
		return fail(why, whylen, "hex: needs an even number of digits");
	if (n / 2 > RATEKEY_MAX)
		return fail(why, whylen, "hex: a key is at most %d bytes", RATEKEY_MAX);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hexval(s[i]), lo = hexval(s[i + 1]);

		if (hi < 0 || lo < 0)
			return fail(why, whylen, "hex: only digits 0-9 and a-f");
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*len = n / 2;
	return 0;
}

int ratekey_parse(const char *text, uint8_t out[RATEKEY_MAX], size_t *len, char *why, size_t whylen)
{
	if (strncmp(text, "ip:", 3) == 0)
		return parse_ip(text + 3, out, len, why, whylen);
	if (strncmp(text, "header:", 7) == 0)
		return parse_value(RATEKEY_HEADER, text + 7, out, len, why, whylen);
	if (strncmp(text, "route:", 6) == 0)
		return parse_value(RATEKEY_ROUTE, text + 6, out, len, why, whylen);
	if (strncmp(text, "hex:", 4) == 0)
		return parse_hex(text + 4, out, len, why, whylen);
	return fail(why, whylen, "a key is ip:ADDRESS[/N], header:VALUE, route:VALUE or hex:BYTES");
}

#define USAGE_RATELIMIT "usage: ratelimit top [N] [--limit NAME] | ratelimit show|reset LIMIT KEY"
#define USAGE_BANS      "usage: bans [--limit NAME]"

/* hacd/replica.c's rule for names (origin, limit): what it would refuse
 * can never be found, so it is a usage error rather than "not found". */
static int name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > RATEKEY_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* --limit NAME at argv[*i]; 1 taken, 0 not an option, -1 refused. */
static int limit_opt(size_t argc, char *const *argv, size_t *i, struct ratekey_args *out, const char *usage,
    char *msg, size_t len)
{
	if (strcmp(argv[*i], "--limit") != 0)
		return 0;
	if (*i + 1 >= argc || out->limit != NULL)
		return fail(msg, len, "%s", usage);
	out->limit = argv[++*i];
	if (!name_ok(out->limit))
		return fail(msg, len, "limit names are 1..%d printable characters without spaces", RATEKEY_NAME_MAX);
	return 1;
}

static int parse_top(size_t argc, char *const *argv, struct ratekey_args *out, char *msg, size_t len)
{
	int have_n = 0;

	for (size_t i = 1; i < argc; i++) {
		int rc = limit_opt(argc, argv, &i, out, USAGE_RATELIMIT, msg, len);
		unsigned long n = 0;
		const char *p = argv[i];

		if (rc == -1)
			return -1;
		if (rc == 1)
			continue;
		if (have_n++ || *p == '-')
			return fail(msg, len, "%s", USAGE_RATELIMIT);
		if (*p == '\0' || strlen(p) > 4)
			return fail(msg, len, "top N: a number 1..%d", RATEKEY_TOP_MAX);
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				return fail(msg, len, "top N: a number 1..%d", RATEKEY_TOP_MAX);
			n = n * 10 + (unsigned long)(*p - '0');
		}
		if (n < 1 || n > RATEKEY_TOP_MAX)
			return fail(msg, len, "top N: a number 1..%d", RATEKEY_TOP_MAX);
		out->top = (unsigned)n;
	}
	return 0;
}

int ratekey_args_parse(const char *cmd, size_t argc, char *const *argv, struct ratekey_args *out,
    char *msg, size_t len)
{
	char why[200];

	memset(out, 0, sizeof(*out));
	out->top = RATEKEY_TOP_DEFAULT;
	if (cmd != NULL && strcmp(cmd, "bans") == 0) {
		out->cmd = RATEKEY_CMD_BANS;
		for (size_t i = 0; i < argc; i++) {
			int rc = limit_opt(argc, argv, &i, out, USAGE_BANS, msg, len);

			if (rc == -1)
				return -1;
			if (rc == 0)
				return fail(msg, len, "%s", USAGE_BANS);
		}
		return 0;
	}
	if (cmd == NULL || strcmp(cmd, "ratelimit") != 0)
		return fail(msg, len, "unknown rate-limit command \"%.64s\"", cmd ? cmd : "");
	if (argc >= 1 && strcmp(argv[0], "top") == 0) {
		out->cmd = RATEKEY_CMD_TOP;
		return parse_top(argc, argv, out, msg, len);
	}
	if (argc >= 1 && (strcmp(argv[0], "show") == 0 || strcmp(argv[0], "reset") == 0)) {
		out->cmd = argv[0][0] == 's' ? RATEKEY_CMD_SHOW : RATEKEY_CMD_RESET;
		if (argc != 3)
			return fail(msg, len, "%s", USAGE_RATELIMIT);
		out->limit = argv[1];
		if (!name_ok(out->limit))
			return fail(msg, len, "limit names are 1..%d printable characters without spaces",
			    RATEKEY_NAME_MAX);
		out->key_text = argv[2];
		if (ratekey_parse(argv[2], out->key, &out->key_len, why, sizeof(why)) == -1)
			return fail(msg, len, "bad key: %s", why);
		return 0;
	}
	if (argc >= 1)
		return fail(msg, len, "unknown subcommand \"ratelimit %.64s\"; %s", argv[0], USAGE_RATELIMIT);
	return fail(msg, len, "%s", USAGE_RATELIMIT);
}
