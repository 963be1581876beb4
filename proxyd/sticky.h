/*
 * proxyd/sticky.h — cookie stickiness for an upstream (HAProxy's
 * `cookie NAME insert indirect`, nginx's `sticky cookie`).
 *
 * Pure: no I/O, no clock. The configuration (struct sticky_conf, built once
 * per generation and never changed) maps an opaque per-server token to the
 * server's index and holds, per server, the whole Set-Cookie line the
 * response path appends with one copy. The Cookie-header helpers find our
 * cookie in a request and cut it out of the header forwarded to the backend.
 */
#ifndef PROXYD_STICKY_H
#define PROXYD_STICKY_H

#include <stddef.h>
#include <stdint.h>

#include "lib/conf.h"

#define STICKY_TOKEN_LEN   16       /* hex digits of a token */
#define STICKY_NAME_MAX    64       /* cookie name bytes */
#define STICKY_PATH_MAX    256      /* Path attribute bytes */
#define STICKY_MAX_AGE_MAX (400ull * 86400ull)  /* seconds: browsers cap Max-Age there (RFC 6265bis §5.6.2) */

struct sticky_ent {
	uint64_t token;
	uint32_t idx;
};

struct sticky_conf {
	char *name;                     /* cookie name, an RFC 9110 token */
	size_t name_len;
	size_t nservers;
	struct sticky_ent *by_token;    /* nservers entries sorted by token */
	char **set_cookie;              /* per server: "Set-Cookie: NAME=TOKEN; ...\r\n" */
	size_t *set_cookie_len;
};

/* The token of a server: balance_hash() of its name (the same value as its
 * struct bal_server id_hash), so it is stable across reloads, restarts and
 * cluster nodes, and does not reveal the server's address. */
uint64_t sticky_token(const char *server_name);
/* Writes the 16 lowercase hex digits of tok and a NUL into out. */
void sticky_token_str(uint64_t tok, char out[STICKY_TOKEN_LEN + 1]);
/* Accepts exactly 16 hex digits (either case) in s[0..len). 0 and *tok set,
 * or -1 (tok untouched). */
int sticky_token_parse(const char *s, size_t len, uint64_t *tok);

/* Builds the configuration for servers names[0..n) (n <= BAL_MAX_SERVERS).
 * name: the cookie name (RFC 6265 §4.1.1 cookie-name = token, at most
 * STICKY_NAME_MAX bytes); path: the Path attribute (starts with '/', no CTL
 * and no ';', at most STICKY_PATH_MAX bytes); max_age_s: Max-Age in seconds,
 * 0 for a session cookie. Copies what it keeps. Returns the new
 * configuration, or NULL with a message in err (errlen > 0): bad name or
 * path, two servers whose tokens collide, or ENOMEM. */
struct sticky_conf *sticky_conf_new(const char *name, const char *path, uint64_t max_age_s, int httponly,
    int secure, const char *const *names, size_t n, char *err, size_t errlen);
/* Frees sc and everything in it. NULL is a no-op. */
void sticky_conf_free(struct sticky_conf *sc);

/* Parses an upstream's optional `sticky = { cookie; max_age; path;
 * httponly; secure; }` group (member "sticky" of the upstream group ug) for
 * the servers names[0..n). *out = NULL when the group is absent. 0, or -1
 * with "file:line: message" in err (unknown key, wrong type, bad value). */
int sticky_conf_parse(const config_setting_t *ug, const char *upstream, const char *const *names, size_t n,
    struct sticky_conf **out, struct conf_err *err);

/* Index of the server whose token is tok, or -1. O(log n). */
int sticky_server(const struct sticky_conf *sc, uint64_t tok);

/* Looks for the cookie `name` (case-sensitive, RFC 6265 §5.4) in one Cookie
 * header value v[0..len) (RFC 6265 §4.2.1: pairs separated by ";", with
 * optional whitespace around pairs tolerated). The first pair with that name
 * wins. Returns 1 with *val and *vlen set to its value (surrounding whitespace
 * and one pair of DQUOTEs removed), or 0 when absent. Never reads past len. */
int sticky_cookie_find(const char *v, size_t len, const char *name, size_t nlen, const char **val, size_t *vlen);

/* Copies v[0..len) to out (room for len bytes) without every pair named
 * `name`: the other pairs keep their bytes exactly, joined by the ";" that
 * separated them; leading whitespace of the result is dropped. Returns the
 * new length (0: nothing left, drop the header), or (size_t)-1 when v has no
 * such pair (forward v unchanged; out is then unspecified). */
size_t sticky_cookie_strip(const char *v, size_t len, const char *name, size_t nlen, char *out);

#endif
