/*
 * hacd/cacheview.c — see cacheview.h. Everything a peer or proxyd sends is
 * bounded here before it is kept or passed on: a peer may be compromised,
 * and a digest is a list of URLs another node will fetch.
 */
#include "hacd/cacheview.h"

#include <string.h>

#include "lib/wire.h"

_Static_assert(CV_CHUNK_BYTES <= WIRE_MAX_PAYLOAD, "a digest chunk must fit one datagram");
_Static_assert(CV_SUMMARY_MAX + 16 <= WIRE_MAX_PAYLOAD, "a summary must fit one datagram");

/* Printable ASCII without space (RFC 9110 §4.2.3 host and RFC 3986 target
 * characters all are): nothing that could end a request line or a field
 * when proxyd puts it into a request. */
static int printable(const char *s, size_t max)
{
	size_t n = 0;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (; s[n] != '\0'; n++)
		if (n >= max || (unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
			return 0;
	return 1;
}

int cv_summary_ok(const Tandem__CacheSummary *s)
{
	if (s == NULL || s->n_caches > CV_MAX_CACHES)
		return 0;
	for (size_t i = 0; i < s->n_caches; i++)
		if (s->caches[i] == NULL || !printable(s->caches[i]->name, CV_NAME_MAX))
			return 0;
	return 1;
}

int cv_key_ok(const Tandem__CacheDigestKey *k)
{
	if (k == NULL || !printable(k->cache, CV_NAME_MAX) || !printable(k->host, CV_HOST_MAX) ||
	    !printable(k->target, CV_KEY_MAX) || k->target[0] != '/')
		return 0;
	/* A host is a name or an address with an optional port: no path,
	 * userinfo or query may hide in it. */
	if (strpbrk(k->host, "/@?#\\") != NULL)
		return 0;
	return strlen(k->host) + strlen(k->target) <= CV_KEY_MAX;
}

int cv_digest_ok(const Tandem__CacheDigest *d)
{
	if (d == NULL || d->n_keys == 0 || d->n_keys > CV_DIGEST_KEYS)
		return 0;
	for (size_t i = 0; i < d->n_keys; i++)
		if (!cv_key_ok(d->keys[i]))
			return 0;
	return 1;
}

int cv_keep_summary(struct cacheview *cv, size_t node, const char *node_name, const Tandem__CacheSummary *s,
    uint64_t now_ms)
{
	Tandem__CacheSummary c = *s;
	size_t len;

	if (node >= HACD_MAX_NODES || !cv_summary_ok(s))
		return -1;
	c.node = (char *)node_name;
	c.has_age_ms = 0;
	if ((len = tandem__cache_summary__get_packed_size(&c)) > CV_SUMMARY_MAX)
		return -1;
	tandem__cache_summary__pack(&c, cv->node[node].sum);
	cv->node[node].len = len;
	cv->node[node].at_ms = now_ms;
	return 0;
}

size_t cv_digest_chunk(const Tandem__CacheDigest *d, const char *origin, size_t *from, uint8_t *buf, size_t cap)
{
	Tandem__PeerMessage pm = TANDEM__PEER_MESSAGE__INIT;
	Tandem__CacheDigest c = TANDEM__CACHE_DIGEST__INIT;
	size_t len = 0, limit = cap < CV_CHUNK_BYTES ? cap : CV_CHUNK_BYTES;

	c.origin = (char *)origin;
	pm.body_case = TANDEM__PEER_MESSAGE__BODY_CACHE_DIGEST;
	pm.cache_digest = &c;
	while (*from < d->n_keys) {
		size_t l;

		c.keys = d->keys + *from;
		c.n_keys = 0;
		len = 0;
		/* Grow the chunk one key at a time while it fits. */
		while (*from + c.n_keys < d->n_keys) {
			c.n_keys++;
			if ((l = tandem__peer_message__get_packed_size(&pm)) > limit) {
				c.n_keys--;
				break;
			}
			len = l;
		}
		if (c.n_keys == 0) {
			(*from)++;          /* one key alone is too large: skipped */
			continue;
		}
		tandem__peer_message__pack(&pm, buf);
		*from += c.n_keys;
		return len;
	}
	return 0;
}
