/*
 * proxyd/tls_tickets.c — session-ticket keys shared by the whole cluster.
 *
 * proxyd terminates TLS (proxyd/tls.c); this file holds the keys under which
 * OpenSSL seals session tickets, so that a ticket issued by one node opens on
 * every other node. The keys come from hacd (which generates them on one node
 * and replicates them inside sealed datagrams, proto TicketKey) or, for a
 * standalone proxyd, from tls_tickets_rotate. Key rules are in tls_tickets.h.
 *
 * Locking. Workers read the keyring from OpenSSL's ticket callback, once per
 * full handshake (to seal) and once per resumption attempt (to open); the
 * control thread writes it a few times an hour. The keyring sits behind a
 * pthread rwlock that prefers writers, and readers hold it only while they
 * load a key into the EVP contexts (well under a microsecond). A lock-free
 * pointer swap would need a grace period before freeing the old snapshot,
 * i.e. every worker reporting quiescent states; that machinery buys nothing
 * here: a read lock costs tens of nanoseconds on a path that spends hundreds
 * of microseconds in public-key crypto, writers come once an hour, and a
 * rwlock is easy to show correct. Keeping key bytes in one sodium_malloc'd
 * place (never copied to a stack) also falls out of it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sodium.h>

#include "lib/log.h"
#include "proxyd/tls_tickets.h"

#define KDF_CONTEXT "tndtickt"          /* crypto_kdf_CONTEXTBYTES == 8 */
#define KDF_ID_AES  1
#define KDF_ID_HMAC 2

struct tkey {
	uint8_t name[TLS_TICKET_NAME_LEN];
	uint8_t aes[32];
	uint8_t hmac[32];
	uint64_t created_ms;
	uint64_t expires_ms;             /* 0: never */
	int local;                       /* made by tls_tickets_rotate, not installed */
};

/* Everything secret, in one sodium_malloc region: the keys sorted newest
 * `created` first, and scratch space where new keys are derived. */
struct ring {
	struct tkey key[TLS_TICKET_MAX_KEYS];
	struct tkey scratch;
	uint8_t secret[TLS_TICKET_SECRET_LEN];   /* rotate's fresh secret, wiped after use */
	int n;
	int cur;                                 /* sealing key index, -1 when n == 0 */
};

struct tls_ticket_keys {
	pthread_rwlock_t lock;
	struct ring *r;
	size_t rsize;
};

static struct {
	_Atomic uint64_t sealed, no_key, opened, renewed, unknown;
} stats;

static pthread_once_t cipher_once = PTHREAD_ONCE_INIT;
static EVP_CIPHER *aes_cbc;              /* fetched once: implicit fetches cost a lookup per call */

static void cipher_init(void)
{
	aes_cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
}

const char *tls_ticket_status_str(enum tls_ticket_status s)
{
	switch (s) {
	case TLS_TICKET_UNKNOWN: return "unknown";
	case TLS_TICKET_CURRENT: return "current";
	case TLS_TICKET_PENDING: return "pending";
	case TLS_TICKET_OLD:     return "old";
	}
	return "?";
}

void tls_tickets_stats(struct tls_ticket_stats *out)
{
	out->sealed = atomic_load_explicit(&stats.sealed, memory_order_relaxed);
	out->no_key = atomic_load_explicit(&stats.no_key, memory_order_relaxed);
	out->opened = atomic_load_explicit(&stats.opened, memory_order_relaxed);
	out->renewed = atomic_load_explicit(&stats.renewed, memory_order_relaxed);
	out->unknown = atomic_load_explicit(&stats.unknown, memory_order_relaxed);
}

struct tls_ticket_keys *tls_tickets_new(void)
{
	struct tls_ticket_keys *k;
	pthread_rwlockattr_t attr;

	if (sodium_init() == -1)
		return NULL;
	pthread_once(&cipher_once, cipher_init);
	if (aes_cbc == NULL)
		return NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	/* sodium_malloc puts the block against a guard page, so its alignment
	 * is that of the size: round the size up to keep uint64_t aligned. */
	k->rsize = (sizeof(struct ring) + 63) & ~(size_t)63;
	if ((k->r = sodium_malloc(k->rsize)) == NULL) {
		free(k);
		return NULL;
	}
	sodium_memzero(k->r, k->rsize);
	k->r->cur = -1;
	pthread_rwlockattr_init(&attr);
	/* A steady stream of handshakes must not starve a rotation. */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&k->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return k;
}

void tls_tickets_free(struct tls_ticket_keys *k)
{
	if (k == NULL)
		return;
	sodium_free(k->r);               /* wipes */
	pthread_rwlock_destroy(&k->lock);
	free(k);
}

/* Removes key i, keeping the order, and wipes the freed slot. */
static void ring_remove(struct ring *r, int i)
{
	memmove(&r->key[i], &r->key[i + 1], (size_t)(r->n - i - 1) * sizeof(r->key[0]));
	r->n--;
	sodium_memzero(&r->key[r->n], sizeof(r->key[0]));
}

/* The sealing key: the newest whose time has come; if every key is still in
 * the future (this node's clock behind the generator's), the oldest one,
 * since sealing under a key the cluster already holds beats issuing no
 * ticket at all. */
static void ring_settle(struct ring *r, uint64_t now_ms)
{
	for (int i = 0; i < r->n;) {
		if (r->key[i].expires_ms != 0 && r->key[i].expires_ms <= now_ms)
			ring_remove(r, i);
		else
			i++;
	}
	r->cur = r->n > 0 ? r->n - 1 : -1;
	for (int i = 0; i < r->n; i++)
		if (r->key[i].created_ms <= now_ms) {
			r->cur = i;
			break;
		}
}

static int ring_find(const struct ring *r, const uint8_t name[TLS_TICKET_NAME_LEN])
{
	for (int i = 0; i < r->n; i++)
		if (memcmp(r->key[i].name, name, TLS_TICKET_NAME_LEN) == 0)
			return i;
	return -1;
}

/* Derives scratch's working keys from secret (both in the ring's memory). */
static int derive(struct tkey *t, const uint8_t secret[TLS_TICKET_SECRET_LEN])
{
	_Static_assert(TLS_TICKET_SECRET_LEN == crypto_kdf_KEYBYTES, "secret is a crypto_kdf master key");
	_Static_assert(sizeof(KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context is 8 bytes");
	if (crypto_kdf_derive_from_key(t->aes, sizeof(t->aes), KDF_ID_AES, KDF_CONTEXT, secret) != 0 ||
	    crypto_kdf_derive_from_key(t->hmac, sizeof(t->hmac), KDF_ID_HMAC, KDF_CONTEXT, secret) != 0)
		return -1;
	return 0;
}

/* Inserts r->scratch (derived, with its times) in created order, dropping
 * the oldest key when the ring is full (which may be the new key itself).
 * before_equal puts it ahead of keys with the same `created` (a rotation
 * within the same millisecond still takes over). */
static void ring_insert_scratch(struct ring *r, int before_equal)
{
	int pos = 0;

	while (pos < r->n && (before_equal ? r->key[pos].created_ms > r->scratch.created_ms
	    : r->key[pos].created_ms >= r->scratch.created_ms))
		pos++;
	if (r->n == TLS_TICKET_MAX_KEYS) {
		if (pos == r->n)
			return;
		ring_remove(r, r->n - 1);
	}
	memmove(&r->key[pos + 1], &r->key[pos], (size_t)(r->n - pos) * sizeof(r->key[0]));
	r->key[pos] = r->scratch;
	r->n++;
}

static void name_hex(const uint8_t name[TLS_TICKET_NAME_LEN], char out[9])
{
	snprintf(out, 9, "%02x%02x%02x%02x", name[0], name[1], name[2], name[3]);
}

int tls_tickets_rotate(struct tls_ticket_keys *k, uint64_t now_ms, uint64_t lifetime_ms)
{
	struct ring *r = k->r;
	char hex[9];
	int rc = -1;

	pthread_rwlock_wrlock(&k->lock);
	randombytes_buf(r->secret, sizeof(r->secret));
	randombytes_buf(r->scratch.name, sizeof(r->scratch.name));
	r->scratch.created_ms = now_ms;
	r->scratch.expires_ms = lifetime_ms == 0 ? 0 : now_ms + lifetime_ms;
	r->scratch.local = 1;
	if (derive(&r->scratch, r->secret) == 0) {
		ring_settle(r, now_ms);
		ring_insert_scratch(r, 1);
		ring_settle(r, now_ms);
		name_hex(r->scratch.name, hex);
		rc = 0;
	}
	sodium_memzero(r->secret, sizeof(r->secret));
	sodium_memzero(&r->scratch, sizeof(r->scratch));
	pthread_rwlock_unlock(&k->lock);
	if (rc == 0)
		log_info("tls: session-ticket key %s... rotated in (%zu held)", hex, tls_tickets_count(k));
	return rc;
}

int tls_tickets_install(struct tls_ticket_keys *k, const uint8_t name[TLS_TICKET_NAME_LEN],
    const uint8_t secret[TLS_TICKET_SECRET_LEN], uint64_t created_ms, uint64_t expires_ms,
    uint64_t now_ms, char *err, size_t errlen)
{
	static const uint8_t zero[TLS_TICKET_NAME_LEN];
	struct ring *r = k->r;
	char hex[9];
	int i, rc = 0;

	name_hex(name, hex);
	if (memcmp(name, zero, sizeof(zero)) == 0) {
		if (err != NULL)
			snprintf(err, errlen, "ticket key: all-zero name");
		return -1;
	}
	if (expires_ms != 0 && expires_ms <= created_ms) {
		if (err != NULL)
			snprintf(err, errlen, "ticket key %s...: expires before it is created", hex);
		return -1;
	}
	pthread_rwlock_wrlock(&k->lock);
	memcpy(r->scratch.name, name, TLS_TICKET_NAME_LEN);
	r->scratch.created_ms = created_ms;
	r->scratch.expires_ms = expires_ms;
	r->scratch.local = 0;
	if (derive(&r->scratch, secret) != 0) {
		if (err != NULL)
			snprintf(err, errlen, "ticket key %s...: key derivation failed", hex);
		rc = -1;
	} else if ((i = ring_find(r, name)) >= 0) {
		if (sodium_memcmp(r->key[i].aes, r->scratch.aes, sizeof(r->scratch.aes)) != 0 ||
		    sodium_memcmp(r->key[i].hmac, r->scratch.hmac, sizeof(r->scratch.hmac)) != 0) {
			if (err != NULL)
				snprintf(err, errlen, "ticket key %s...: name already held with another secret", hex);
			rc = -1;
		} else {
			/* Replicated state arrives again and again: refresh the times
			 * and re-sort (created may have been corrected). */
			ring_remove(r, i);
			ring_insert_scratch(r, 0);
		}
	} else {
		ring_insert_scratch(r, 0);
	}
	if (rc == 0)
		ring_settle(r, now_ms);
	sodium_memzero(&r->scratch, sizeof(r->scratch));
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

size_t tls_tickets_drop_local(struct tls_ticket_keys *k, uint64_t now_ms)
{
	struct ring *r = k->r;
	size_t dropped = 0;
	int installed = 0;

	pthread_rwlock_wrlock(&k->lock);
	for (int i = 0; i < r->n; i++)
		installed |= !r->key[i].local;
	for (int i = 0; installed && i < r->n;) {
		if (r->key[i].local) {
			ring_remove(r, i);
			dropped++;
		} else {
			i++;
		}
	}
	ring_settle(r, now_ms);
	pthread_rwlock_unlock(&k->lock);
	return dropped;
}

void tls_tickets_tick(struct tls_ticket_keys *k, uint64_t now_ms)
{
	pthread_rwlock_wrlock(&k->lock);
	ring_settle(k->r, now_ms);
	pthread_rwlock_unlock(&k->lock);
}

size_t tls_tickets_count(struct tls_ticket_keys *k)
{
	int n;

	pthread_rwlock_rdlock(&k->lock);
	n = k->r->n;
	pthread_rwlock_unlock(&k->lock);
	return (size_t)n;
}

int tls_tickets_current(struct tls_ticket_keys *k, uint8_t name[TLS_TICKET_NAME_LEN])
{
	int rc = -1;

	pthread_rwlock_rdlock(&k->lock);
	if (k->r->cur >= 0) {
		memcpy(name, k->r->key[k->r->cur].name, TLS_TICKET_NAME_LEN);
		rc = 0;
	}
	pthread_rwlock_unlock(&k->lock);
	return rc;
}

static enum tls_ticket_status status_of(const struct ring *r, int i)
{
	if (i < 0)
		return TLS_TICKET_UNKNOWN;
	if (i == r->cur)
		return TLS_TICKET_CURRENT;
	return i < r->cur ? TLS_TICKET_PENDING : TLS_TICKET_OLD;
}

enum tls_ticket_status tls_tickets_status(struct tls_ticket_keys *k, const uint8_t name[TLS_TICKET_NAME_LEN])
{
	enum tls_ticket_status s;

	pthread_rwlock_rdlock(&k->lock);
	s = status_of(k->r, ring_find(k->r, name));
	pthread_rwlock_unlock(&k->lock);
	return s;
}

/* Loads key t into the ticket's cipher and MAC contexts. The ticket format
 * (name, IV, AES-256-CBC ciphertext, HMAC-SHA256 over all of it) is
 * OpenSSL's, RFC 5077 §4's recommended layout. */
static int load_key(const struct tkey *t, const unsigned char *iv, EVP_CIPHER_CTX *cctx,
    EVP_MAC_CTX *hctx, int enc)
{
	OSSL_PARAM params[3];

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)t->hmac, sizeof(t->hmac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (EVP_CipherInit_ex2(cctx, aes_cbc, t->aes, iv, enc, NULL) != 1 ||
	    EVP_MAC_CTX_set_params(hctx, params) != 1)
		return -1;
	return 0;
}

int tls_tickets_evp_cb(struct tls_ticket_keys *k, unsigned char key_name[16], unsigned char *iv,
    struct evp_cipher_ctx_st *cctx, struct evp_mac_ctx_st *hctx, int enc)
{
	const struct ring *r = k->r;
	int i, rc;

	_Static_assert(TLS_TICKET_NAME_LEN == 16, "OpenSSL ticket key names are 16 bytes");
	if (enc) {
		if (RAND_bytes(iv, 16) != 1)          /* AES-CBC IV length */
			return -1;
		pthread_rwlock_rdlock(&k->lock);
		if (r->cur < 0) {
			pthread_rwlock_unlock(&k->lock);
			atomic_fetch_add_explicit(&stats.no_key, 1, memory_order_relaxed);
			return 0;
		}
		memcpy(key_name, r->key[r->cur].name, TLS_TICKET_NAME_LEN);
		rc = load_key(&r->key[r->cur], iv, cctx, hctx, 1) == 0 ? 1 : -1;
		pthread_rwlock_unlock(&k->lock);
		if (rc == 1)
			atomic_fetch_add_explicit(&stats.sealed, 1, memory_order_relaxed);
		return rc;
	}
	pthread_rwlock_rdlock(&k->lock);
	if ((i = ring_find(r, key_name)) < 0) {
		pthread_rwlock_unlock(&k->lock);
		atomic_fetch_add_explicit(&stats.unknown, 1, memory_order_relaxed);
		return 0;
	}
	if (load_key(&r->key[i], iv, cctx, hctx, 0) != 0)
		rc = -1;
	else
		rc = status_of(r, i) == TLS_TICKET_OLD ? 2 : 1;
	pthread_rwlock_unlock(&k->lock);
	if (rc == 2)
		atomic_fetch_add_explicit(&stats.renewed, 1, memory_order_relaxed);
	else if (rc == 1)
		atomic_fetch_add_explicit(&stats.opened, 1, memory_order_relaxed);
	return rc;
}

/* ---- the process's keyring ------------------------------------------------ */

_Atomic int tls_tickets_external;
static pthread_once_t shared_once = PTHREAD_ONCE_INIT;
static struct tls_ticket_keys *shared_keys;

static void
shared_init(void)
{
	shared_keys = tls_tickets_new();
}

struct tls_ticket_keys *
tls_tickets_shared(void)
{
	pthread_once(&shared_once, shared_init);
	return shared_keys;
}
