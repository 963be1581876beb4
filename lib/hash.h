/*
 * lib/hash — a hash table for keys that clients choose.
 *
 * Keys are byte strings (any length, NULs allowed) hashed with SipHash-2-4
 * (libsodium's crypto_shorthash) under a random key drawn for each table, so
 * a client who picks the keys (rate-limit keys, Host names, cookies) cannot
 * aim them at one bucket.  Keys are copied into the table; values are
 * opaque pointers the caller owns unless handed to htab_free's free_val.
 *
 * Not thread-safe: proxyd gives each worker its own tables.
 */
#ifndef TANDEM_LIB_HASH_H
#define TANDEM_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

struct htab;

/*
 * A table sized for initial_capacity entries before its first growth (0 is
 * fine).  Calls sodium_init() and draws the table's SipHash key.  NULL when
 * memory or libsodium initialisation fails.
 */
struct htab *htab_new(size_t initial_capacity);

/* Free the table and its copies of the keys; free_val (may be NULL) is called
 * on each value.  h may be NULL. */
void   htab_free(struct htab *h, void (*free_val)(void *));

/* The value stored under the klen bytes at key, or NULL.  A NULL value is
 * indistinguishable from absence: store non-NULL values. */
void  *htab_get(const struct htab *h, const void *key, size_t klen);

/*
 * Insert, or replace the value of an existing key (the old value is not
 * freed: get it first if it must be).  The key bytes are copied.  Returns 0,
 * or -1 on ENOMEM (table unchanged).  Replacing never allocates, so it is
 * allowed during iteration; inserting a new key is not.
 */
int    htab_put(struct htab *h, const void *key, size_t klen, void *val);

/* Remove key; returns its value, or NULL when absent.  The table never
 * shrinks, so deleting the entry an iterator just returned is safe. */
void  *htab_del(struct htab *h, const void *key, size_t klen);

/* Number of entries. */
size_t htab_count(const struct htab *h);

/*
 * Iteration in no particular order; each entry is visited once.  Deleting
 * the entry just returned (htab_del) is allowed; any other insertion or
 * deletion during iteration is not.  *key points into the table and is
 * valid until that entry is deleted.
 */
struct htab_iter { const struct htab *h; size_t i; void *node; };
void   htab_iter_init(struct htab_iter *it, const struct htab *h);
int    htab_next(struct htab_iter *it, const void **key, size_t *klen, void **val); /* 1 = got one, 0 = end */

/* SipHash-2-4 of data under a 16-byte key (crypto_shorthash); the 8-byte tag
 * read as a little-endian integer.  sodium_init() must have been called. */
uint64_t hash_siphash(const uint8_t key[16], const void *data, size_t len);

#endif /* TANDEM_LIB_HASH_H */
