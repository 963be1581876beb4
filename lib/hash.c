/*
 * lib/hash.c — separate-chaining hash table under a per-table SipHash key.
 *
 * Used wherever a key comes off the network: proxyd's rate-limit counters
 * and bans, consistent-hash and sticky-session lookups, hacd's per-peer
 * state.  SipHash-2-4 with a secret key drawn per table makes collisions
 * unpredictable to a client (hash flooding), which plain FNV or murmur would
 * not.
 *
 * Why chaining rather than open addressing: every entry needs its own
 * allocation anyway (keys have any length and are copied), so a node with
 * the key inline costs one malloc either way, and chaining then gives the
 * two properties callers rely on cheaply — deleting the entry an iterator
 * just returned never moves other entries (open addressing's backward-shift
 * or tombstones would skip or revisit), and pointers to stored keys stay
 * valid across growth.  Each node caches its full 64-bit hash, so growth
 * re-links nodes without rehashing and a lookup compares keys only when the
 * hashes match.  The bucket array doubles when the count exceeds it (load
 * factor 1) and never shrinks.
 */
#include "lib/hash.h"

#include <stdlib.h>
#include <string.h>
#include <sodium.h>

#define HTAB_MIN_BUCKETS 8

struct hnode {
	struct hnode *next;
	uint64_t hash;
	void *val;
	size_t klen;
	unsigned char key[];	/* the copied key, in the same allocation */
};

struct htab {
	struct hnode **buckets;
	size_t nbuckets;	/* a power of two */
	size_t count;
	uint8_t key[crypto_shorthash_KEYBYTES];
};

uint64_t hash_siphash(const uint8_t key[16], const void *data, size_t len)
{
	unsigned char out[crypto_shorthash_BYTES];
	uint64_t v = 0;

	/* libsodium reads no bytes when len is 0, but wants a valid pointer. */
	crypto_shorthash(out, data ? data : (const void *)out, len, key);
	for (int i = crypto_shorthash_BYTES - 1; i >= 0; i--)
		v = v << 8 | out[i];
	return v;
}

struct htab *htab_new(size_t initial_capacity)
{
	struct htab *h;
	size_t n = HTAB_MIN_BUCKETS;

	if (sodium_init() == -1)
		return NULL;
	while (n < initial_capacity) {
		if (n > SIZE_MAX / 2 / sizeof(struct hnode *))
			return NULL;
		n *= 2;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	if ((h->buckets = calloc(n, sizeof(*h->buckets))) == NULL) {
		free(h);
		return NULL;
	}
	h->nbuckets = n;
	randombytes_buf(h->key, sizeof(h->key));
	return h;
}

void htab_free(struct htab *h, void (*free_val)(void *))
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct hnode *n = h->buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			if (free_val != NULL)
				free_val(n->val);
			free(n);
		}
	}
	sodium_memzero(h->key, sizeof(h->key));
	free(h->buckets);
	free(h);
}

/* The link that points at key's node (or the NULL link ending its chain). */
static struct hnode **find(const struct htab *h, uint64_t hv, const void *key, size_t klen)
{
	struct hnode **pp = &h->buckets[hv & (h->nbuckets - 1)];

	for (; *pp != NULL; pp = &(*pp)->next) {
		const struct hnode *n = *pp;

		if (n->hash == hv && n->klen == klen && (klen == 0 || memcmp(n->key, key, klen) == 0))
			break;
	}
	return pp;
}

void *htab_get(const struct htab *h, const void *key, size_t klen)
{
	struct hnode *n = *find(h, hash_siphash(h->key, key, klen), key, klen);

	return n ? n->val : NULL;
}

/* Double the bucket array.  Failure is harmless: chains just get longer. */
static void grow(struct htab *h)
{
	size_t nb = h->nbuckets * 2;
	struct hnode **b;

	if (nb > SIZE_MAX / sizeof(*b) || (b = calloc(nb, sizeof(*b))) == NULL)
		return;
	for (size_t i = 0; i < h->nbuckets; i++) {
		struct hnode *n = h->buckets[i], *next;

		for (; n != NULL; n = next) {
			next = n->next;
			n->next = b[n->hash & (nb - 1)];
			b[n->hash & (nb - 1)] = n;
		}
	}
	free(h->buckets);
	h->buckets = b;
	h->nbuckets = nb;
}

int htab_put(struct htab *h, const void *key, size_t klen, void *val)
{
	uint64_t hv = hash_siphash(h->key, key, klen);
	struct hnode **pp = find(h, hv, key, klen), *n;

	if (*pp != NULL) {
		(*pp)->val = val;
		return 0;
	}
	if (klen > SIZE_MAX - sizeof(*n) || (n = malloc(sizeof(*n) + klen)) == NULL)
		return -1;
	n->hash = hv;
	n->val = val;
	n->klen = klen;
	if (klen > 0)
		memcpy(n->key, key, klen);
	n->next = *pp;
	*pp = n;
	if (++h->count > h->nbuckets)
		grow(h);
	return 0;
}

void *htab_del(struct htab *h, const void *key, size_t klen)
{
	struct hnode **pp = find(h, hash_siphash(h->key, key, klen), key, klen), *n = *pp;
	void *val;

	if (n == NULL)
		return NULL;
	*pp = n->next;
	val = n->val;
	free(n);
	h->count--;
	return val;
}

size_t htab_count(const struct htab *h)
{
	return h->count;
}

void htab_iter_init(struct htab_iter *it, const struct htab *h)
{
	it->h = h;
	it->i = 0;
	it->node = NULL;
}

int htab_next(struct htab_iter *it, const void **key, size_t *klen, void **val)
{
	struct hnode *n;

	/* it->node is the next node to return, taken before the caller sees the
	 * current one, so deleting the current one cannot strand the iterator. */
	while (it->node == NULL) {
		if (it->i >= it->h->nbuckets)
			return 0;
		it->node = it->h->buckets[it->i++];
	}
	n = it->node;
	it->node = n->next;
	if (key != NULL)
		*key = n->key;
	if (klen != NULL)
		*klen = n->klen;
	if (val != NULL)
		*val = n->val;
	return 1;
}
