/*
 * proxyd/route.c — matching requests against the routes of a configuration
 * generation, in declared order, and the pure parts of route actions (weighted
 * split choice, path rewrite).
 *
 * proxyd/config.c builds the table; proxyd/request.c calls route_match()
 * once per request on the worker thread with a struct route_req that points
 * into the client's read buffer, so matching copies nothing (except the path
 * for a regex, onto the stack) and allocates nothing for paths under 2 KiB.
 * Regular expressions are POSIX extended (regcomp).
 */
#include "proxyd/route.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
route_set_path(struct route *r, enum route_path_kind kind, const char *pattern, char *err, size_t errlen)
{
	char *copy = strdup(pattern);

	if (copy == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (kind == ROUTE_PATH_REGEX) {
		int rc = regcomp(&r->re, pattern, REG_EXTENDED | REG_NOSUB);
		if (rc != 0) {
			char msg[128];
			regerror(rc, &r->re, msg, sizeof(msg));
			snprintf(err, errlen, "bad regex \"%s\": %s", pattern, msg);
			free(copy);
			return -1;
		}
	}
	free(r->path);
	r->path = copy;
	r->path_kind = kind;
	return 0;
}

static void
free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
free_ops(struct route_hdr_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(ops[i].name);
		free(ops[i].value);
	}
	free(ops);
}

void
route_fini(struct route *r)
{
	free(r->name);
	free_strv(r->hosts, r->nhosts);
	if (r->path_kind == ROUTE_PATH_REGEX)
		regfree(&r->re);
	free(r->path);
	free_strv(r->methods, r->nmethods);
	for (size_t i = 0; i < r->nhdrs; i++) {
		free(r->hdrs[i].name);
		free(r->hdrs[i].value);
	}
	free(r->hdrs);
	free(r->splits);
	free(r->location);
	free(r->body);
	free(r->rw_prefix);
	free(r->rw_replace);
	free(r->allow);
	free(r->deny);
	free_strv(r->allow_methods, r->nallow_methods);
	free(r->allow_hdr);
	free_ops(r->req_ops, r->nreq_ops);
	free_ops(r->resp_ops, r->nresp_ops);
	memset(r, 0, sizeof(*r));
}

int
route_host_match(const char *pat, const char *host, size_t host_len)
{
	size_t plen = strlen(pat);

	if (plen >= 2 && pat[0] == '*' && pat[1] == '.') {
		/* "*.example.com": the host must end in ".example.com" with at least
		 * one character before the dot. */
		size_t slen = plen - 1;
		if (host_len <= slen)
			return 0;
		return strncasecmp(host + host_len - slen, pat + 1, slen) == 0;
	}
	return plen == host_len && strncasecmp(pat, host, host_len) == 0;
}

size_t
route_host_key(const char *host, size_t len)
{
	const char *e;

	if (len > 0 && host[0] == '[') {
		/* IP-literal: the port follows the ']'; no trailing dot. */
		e = memchr(host, ']', len);
		return e != NULL ? (size_t)(e - host) + 1 : len;
	}
	e = memchr(host, ':', len);
	if (e != NULL)
		len = (size_t)(e - host);
	if (len > 1 && host[len - 1] == '.')
		len--;
	return len;
}

static int
path_matches(const struct route *r, const char *path, size_t len)
{
	size_t plen;

	switch (r->path_kind) {
	case ROUTE_PATH_ANY:
		return 1;
	case ROUTE_PATH_EXACT:
		plen = strlen(r->path);
		return plen == len && memcmp(r->path, path, len) == 0;
	case ROUTE_PATH_PREFIX:
		plen = strlen(r->path);
		return plen <= len && memcmp(r->path, path, plen) == 0;
	case ROUTE_PATH_REGEX: {
		/* A NUL-terminated copy rather than REG_STARTEND: sanitizers'
		 * regexec interceptors read to the NUL regardless, and the bytes
		 * after the path belong to the client. */
		char stackbuf[2048], *p = len < sizeof(stackbuf) ? stackbuf : malloc(len + 1);
		int rc;
		if (p == NULL)
			return 0;
		memcpy(p, path, len);
		p[len] = '\0';
		rc = regexec(&r->re, p, 0, NULL, 0) == 0;
		if (p != stackbuf)
			free(p);
		return rc;
	}
	}
	return 0;
}

int
route_matches(const struct route *r, const struct route_req *q)
{
	size_t i;

	if (r->nhosts > 0) {
		for (i = 0; i < r->nhosts; i++)
			if (route_host_match(r->hosts[i], q->host, q->host_len))
				break;
		if (i == r->nhosts)
			return 0;
	}
	if (!path_matches(r, q->path, q->path_len))
		return 0;
	if (r->nmethods > 0) {
		for (i = 0; i < r->nmethods; i++)
			if (strlen(r->methods[i]) == q->method_len &&
			    memcmp(r->methods[i], q->method, q->method_len) == 0)
				break;
		if (i == r->nmethods)
			return 0;
	}
	for (i = 0; i < r->nhdrs; i++)
		if (q->has_header == NULL || !q->has_header(q->ctx, r->hdrs[i].name, r->hdrs[i].value))
			return 0;
	return 1;
}

int
route_match(const struct route *routes, size_t n, const struct route_req *q)
{
	for (size_t i = 0; i < n; i++)
		if (route_matches(&routes[i], q))
			return (int)i;
	return -1;
}

int
route_pick_upstream(const struct route *r, uint32_t rnd)
{
	uint32_t x;

	if (r->split_total == 0)
		return -1;
	if (r->nsplits == 1)
		return r->splits[0].upstream;
	x = rnd % r->split_total;
	for (size_t i = 0; i < r->nsplits; i++) {
		if (x < r->splits[i].weight)
			return r->splits[i].upstream;
		x -= r->splits[i].weight;
	}
	return -1;
}

int
route_rewrite(const struct route *r, const char *target, size_t len, char *out, size_t cap)
{
	size_t plen, rlen, rest, n = 0;

	if (r->rw_prefix == NULL)
		return 0;
	plen = strlen(r->rw_prefix);
	if (len < plen || memcmp(target, r->rw_prefix, plen) != 0)
		return 0;
	rlen = r->rw_replace ? strlen(r->rw_replace) : 0;
	rest = len - plen;
	if (rlen + rest + 1 > cap)
		return -1;
	if ((rlen == 0 || r->rw_replace[0] != '/') && (rlen > 0 || rest == 0 || target[plen] != '/'))
		out[n++] = '/';
	if (rlen > 0)
		memcpy(out + n, r->rw_replace, rlen);
	n += rlen;
	/* "/" + "/rest" would give "//rest": drop one slash at the seam. */
	if (n > 0 && out[n - 1] == '/' && rest > 0 && target[plen] == '/') {
		plen++;
		rest--;
	}
	memcpy(out + n, target + plen, rest);
	n += rest;
	return (int)n;
}

int
route_client_allowed(const struct route *r, int family, const void *addr)
{
	for (size_t i = 0; i < r->ndeny; i++)
		if (net_cidr_match_raw(&r->deny[i], family, addr))
			return 0;
	if (r->nallow == 0)
		return 1;
	for (size_t i = 0; i < r->nallow; i++)
		if (net_cidr_match_raw(&r->allow[i], family, addr))
			return 1;
	return 0;
}

int
route_method_allowed(const struct route *r, const char *method, size_t len)
{
	if (r->nallow_methods == 0)
		return 1;
	for (size_t i = 0; i < r->nallow_methods; i++)
		if (strlen(r->allow_methods[i]) == len && memcmp(r->allow_methods[i], method, len) == 0)
			return 1;
	return 0;
}
