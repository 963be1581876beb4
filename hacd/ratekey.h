/*
 * hacd/ratekey.h — rate-limit and ban keys as an operator reads and writes
 * them (`hactl ratelimit top|show`, `hactl bans`). proxyd builds the keys
 * (proxyd/ratelimit.h rl_key_ip, rl_key_bytes) and hacd replicates them as
 * opaque bytes; this module turns them into text and back, the same way in
 * hactl (to print, and to refuse a malformed key with exit 2 before hacd is
 * asked) and in hacd/ctl.c (which must not trust its client). Pure: no I/O.
 */
#ifndef TANDEM_HACD_RATEKEY_H
#define TANDEM_HACD_RATEKEY_H

#include <stddef.h>
#include <stdint.h>

/* The first byte of a key says what the rest is; values and lengths are
 * proxyd's (proxyd/ratelimit.h RL_KEY_*, RL_KEY_IP_LEN, RL_KEY_MAX), which
 * tests/unit/test_ratekey.c checks against proxyd's own key builders. */
enum ratekey_kind { RATEKEY_IP = 1, RATEKEY_HEADER = 2, RATEKEY_ROUTE = 3 };

#define RATEKEY_MAX       64   /* longest key, bytes (hacd/replica.h REPLICA_KEY_MAX) */
#define RATEKEY_IP_LEN    17   /* kind byte + 16-byte IPv6 (IPv4-mapped) prefix */
#define RATEKEY_NAME_MAX  64   /* a limit name, bytes (hacd/replica.h REPLICA_NAME_MAX) */
#define RATEKEY_DIGEST_LEN 16  /* a header or route value of RATEKEY_MAX bytes or more: its BLAKE2b */
/* Longest text of a key of at most RATEKEY_MAX bytes, NUL included:
 * "header:" and 63 bytes escaped as \xNN. */
#define RATEKEY_TEXT_MAX  (7 + 4 * (RATEKEY_MAX - 1) + 1)

/*
 * Write key (len bytes, any) as text into out (outlen bytes, always
 * NUL-terminated when outlen > 0; truncated if short, as snprintf):
 *   ip:10.99.0.0        kind 1, 17 bytes, IPv4-mapped: dotted quad
 *   ip:2001:db8::       kind 1, 17 bytes, other IPv6
 *   header:VALUE        kind 2; route:VALUE kind 3; the bytes after the kind
 *                       byte, with '\' as \\ and every byte outside
 *                       0x21..0x7e (space included) as \xNN, so a key is
 *                       one word on a line and a shell argument once quoted
 *   hex:0a1b...         anything else (unknown kind, wrong IP key length,
 *                       the empty key), every byte in lowercase hex
 * A header or route value proxyd digested (64 bytes or more) prints as its
 * 16 digest bytes, escaped. Returns the length of the whole text (excluding
 * the NUL): at most RATEKEY_TEXT_MAX - 1 when len <= RATEKEY_MAX.
 */
size_t ratekey_format(const uint8_t *key, size_t len, char *out, size_t outlen);

/*
 * Parse text into the key bytes proxyd would build, into out
 * (RATEKEY_MAX bytes), its length in *len. Accepts everything
 * ratekey_format writes (parse(format(k)) == k for every key of at most
 * RATEKEY_MAX bytes), and also:
 *   ip:ADDR/N           the address masked to N bits (0..32 for IPv4 and
 *                       IPv4-mapped IPv6, 0..128 for IPv6), as proxyd
 *                       masks a client address with a limit's prefix
 *   ip:::ffff:a.b.c.d   IPv4-mapped IPv6 written out
 *   header:VALUE        with raw bytes as well as escapes; a value of
 *                       RATEKEY_MAX bytes or more (after unescaping) becomes
 *                       its digest, as in proxyd, so a long value can be
 *                       named as sent
 *   hex:                empty key (zero bytes)
 * Refuses (returns -1, a one-line reason in why, whylen bytes) an unknown
 * or missing "KIND:" prefix, an address inet_pton does not take, a prefix
 * length out of range, a backslash not followed by \ or xNN, odd or
 * non-hex digits after hex:, and a hex key longer than RATEKEY_MAX bytes.
 * Returns 0 on success. text must not be NULL.
 */
int ratekey_parse(const char *text, uint8_t out[RATEKEY_MAX], size_t *len, char *why, size_t whylen);

#define RATEKEY_TOP_DEFAULT 10
#define RATEKEY_TOP_MAX     1000   /* keys in one `ratelimit top` answer */

enum ratekey_cmd { RATEKEY_CMD_TOP = 0, RATEKEY_CMD_SHOW, RATEKEY_CMD_BANS, RATEKEY_CMD_RESET };

struct ratekey_args {
	enum ratekey_cmd cmd;
	unsigned top;               /* top: 1..RATEKEY_TOP_MAX */
	const char *limit;          /* top, bans: --limit NAME or NULL (all); show, reset: LIMIT. Points into argv */
	const char *key_text;       /* show, reset: KEY as given (points into argv) */
	uint8_t key[RATEKEY_MAX];   /* show, reset: KEY parsed */
	size_t key_len;
};

/*
 * Parse the arguments of `ratelimit` (argv[0] is the subcommand: "top"
 * [N] [--limit NAME], in any order; "show" LIMIT KEY; "reset" LIMIT KEY) or of `bans`
 * ([--limit NAME]) into out, the same way in hactl (exit 2 before asking
 * hacd) and in hacd/ctl.c. A limit name is 1..64 printable ASCII
 * characters without spaces (what hacd/replica.c stores); KEY is taken by
 * ratekey_parse. Any other subcommand is refused. Returns 0, or -1 with a one-line reason in msg (starting with
 * "usage: " when the shape is wrong).
 */
int ratekey_args_parse(const char *cmd, size_t argc, char *const *argv, struct ratekey_args *out,
    char *msg, size_t len);

#endif /* TANDEM_HACD_RATEKEY_H */
