/*
 * proxyd/tls_tickets.h — the keyring that encrypts TLS session tickets.
 *
 * A ticket is the server's session state sealed under a key only servers
 * know (RFC 5077 §4 for TLS 1.2; the same sealed blob is the PSK identity of
 * a TLS 1.3 NewSessionTicket, RFC 8446 §4.6.1). When every node seals under
 * the same keys, a client resumes on whichever node it reaches: after a
 * failover, across active-active nodes, after a rotation.
 *
 * A key is what proto/tandem.proto's TicketKey carries: a 16-byte name (sent
 * in clear at the front of each ticket, so a server finds the key) and a
 * 32-byte secret from which the AES-256-CBC key and the HMAC-SHA256 key are
 * derived (libsodium crypto_kdf, context "tndtickt", subkeys 1 and 2), plus
 * created/expires times in unix milliseconds. Only name and secret travel;
 * every node derives the same working keys. Secrets are never stored: only
 * the derived keys, in sodium_malloc'd memory, wiped when dropped.
 *
 * Which key seals: the newest key whose `created` has come (created <= now).
 * Keys created in the future are "pending": they already decrypt but do not
 * seal yet, so hacd can hand the next key to every node before any node
 * starts using it (distribute it some time before its `created`) and no node
 * ever meets a ticket under a key it has not heard of yet. Keys older than
 * the sealing key still decrypt, and the ticket is then renewed (the TLS
 * layer issues a fresh ticket under the current key) so clients migrate.
 * At most TLS_TICKET_MAX_KEYS keys are held; the oldest falls off first.
 *
 * Threads: proxyd's workers read the keyring from OpenSSL's ticket callback
 * while the control thread rotates or installs keys; see tls_tickets.c for
 * the locking and why.
 */
#ifndef PROXYD_TLS_TICKETS_H
#define PROXYD_TLS_TICKETS_H

#include <stddef.h>
#include <stdint.h>

#define TLS_TICKET_NAME_LEN   16
#define TLS_TICKET_SECRET_LEN 32
#define TLS_TICKET_MAX_KEYS   4    /* the sealing key, pending keys and older keys */

struct tls_ticket_keys;

/* What a key name means to the keyring right now (tls_tickets_status). */
enum tls_ticket_status {
	TLS_TICKET_UNKNOWN = 0,   /* no such key: the ticket is ignored, full handshake */
	TLS_TICKET_CURRENT,       /* the sealing key */
	TLS_TICKET_PENDING,       /* newer than the sealing key: decrypts, no renewal */
	TLS_TICKET_OLD            /* older than the sealing key: decrypts, ticket renewed */
};
const char *tls_ticket_status_str(enum tls_ticket_status s);

/* Counters of the ticket callback, process-wide (all keyrings, all threads). */
struct tls_ticket_stats {
	uint64_t sealed;          /* tickets issued */
	uint64_t no_key;          /* tickets not issued: the keyring had no sealing key */
	uint64_t opened;          /* tickets decrypted under the current or a pending key */
	uint64_t renewed;         /* tickets decrypted under an older key (a fresh one follows) */
	uint64_t unknown;         /* tickets whose key name we do not hold (ignored) */
};
void tls_tickets_stats(struct tls_ticket_stats *out);

/* An empty keyring (no key: no tickets are issued and none resume until a
 * key is rotated in or installed). NULL when memory (or sodium_init) fails.
 * The keyring must outlive every struct tls_server built on it and every
 * connection of those; proxyd keeps one for the life of the process. */
struct tls_ticket_keys *tls_tickets_new(void);

/* Wipes and frees the keyring. NULL is accepted. */
void tls_tickets_free(struct tls_ticket_keys *k);

/* The process-wide keyring every listener seals tickets under (created on
 * first use; never freed, as connections of any generation may still use
 * it). NULL only when memory ran out. */
struct tls_ticket_keys *tls_tickets_shared(void);
/* Set (to 1) by whoever installs cluster ticket keys from hacd with
 * tls_tickets_install() into the shared keyring (the local channel): the
 * control thread then stops rotating its own keys and only ticks expiry,
 * and rotates again by itself only if no sealing key is left (hacd gone for
 * longer than a key's life). 0: standalone rotation (tls_tickets in
 * proxyd.conf). */
extern _Atomic int tls_tickets_external;

/* For a standalone proxyd (no hacd): draws a fresh random name and secret and
 * makes it the sealing key as of now_ms (unix ms), expiring at
 * now_ms + lifetime_ms (lifetime_ms 0: never; it then leaves only by falling
 * off the ring). The previous keys keep decrypting. Expired keys are dropped.
 * 0, or -1 if the randomness or the derivation failed (keyring unchanged). */
int tls_tickets_rotate(struct tls_ticket_keys *k, uint64_t now_ms, uint64_t lifetime_ms);

/* Installs a key received from hacd (TicketKey): name and secret as on the
 * wire, created/expires in unix ms (expires 0: never), now_ms the caller's
 * clock. Installing a name already held with the same secret only updates its
 * times (idempotent, as replicated state must be). Then drops expired keys,
 * picks the sealing key for now_ms, and if more than TLS_TICKET_MAX_KEYS
 * remain, drops the oldest.
 * 0 on success, -1 when: the name is all zero, the name is held with a
 * different secret (err says so; nothing changes), or expires <= created.
 * err (may be NULL) never contains key material. */
int tls_tickets_install(struct tls_ticket_keys *k, const uint8_t name[TLS_TICKET_NAME_LEN],
    const uint8_t secret[TLS_TICKET_SECRET_LEN], uint64_t created_ms, uint64_t expires_ms,
    uint64_t now_ms, char *err, size_t errlen);

/* Drops the keys this process made with tls_tickets_rotate, if the ring
 * holds any installed key (the cluster's keys arrived: every node must
 * seal under those, or a ticket would not resume on another node). The
 * tickets sealed under a dropped key no longer resume: a full handshake,
 * once. Returns the number of keys dropped. */
size_t tls_tickets_drop_local(struct tls_ticket_keys *k, uint64_t now_ms);

/* Clock tick from the control thread (every second or so): drops keys whose
 * expiry has passed and promotes a pending key whose `created` has come.
 * Expiry is applied only here and by rotate/install (the ticket callback
 * does not read a clock), so a key can outlive its expiry by one tick. */
void tls_tickets_tick(struct tls_ticket_keys *k, uint64_t now_ms);

/* Number of keys held, and the name of the sealing key (0, or -1 if none).
 * Names are not secret: they travel in clear in every ticket. */
size_t tls_tickets_count(struct tls_ticket_keys *k);
int tls_tickets_current(struct tls_ticket_keys *k, uint8_t name[TLS_TICKET_NAME_LEN]);

/* What a ticket sealed under `name` would get now. */
enum tls_ticket_status tls_tickets_status(struct tls_ticket_keys *k, const uint8_t name[TLS_TICKET_NAME_LEN]);

/* The OpenSSL 3 ticket callback (SSL_CTX_set_tlsext_ticket_key_evp_cb) of
 * every SSL_CTX that tls.c builds on keyring k: enc=1 seals under the current
 * key (returns 1, or 0 = no ticket when there is none); enc=0 finds the key by
 * name and returns 1 (current or pending), 2 (older: renew) or 0 (unknown:
 * full handshake). Exposed for tls.c only; the types are OpenSSL's. */
struct evp_cipher_ctx_st;
struct evp_mac_ctx_st;
int tls_tickets_evp_cb(struct tls_ticket_keys *k, unsigned char key_name[16], unsigned char *iv,
    struct evp_cipher_ctx_st *cctx, struct evp_mac_ctx_st *hctx, int enc);

#endif
