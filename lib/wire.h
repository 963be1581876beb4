/*
 * lib/wire.h — seal and open one authenticated peer datagram (hacd <-> hacd).
 *
 * Every peer datagram is a fixed 60-byte header followed by the payload (a
 * packed tandem.PeerMessage) sealed with XChaCha20-Poly1305 and its 16-byte
 * tag. All integers are big-endian (network order):
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0|                     magic 0x544e4431 "TND1"                   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  4|    version    |     flags     |        reserved (zero)        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  8|                            key_id                             |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 12|                          cluster_id                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 16|                           sender_id                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 20|                        epoch (64 bits)                        |
 *   +                                                               +
 * 24|                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 28|                         seq (64 bits)                         |
 *   +                                                               +
 * 32|                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 36|                                                               |
 *   +               nonce (24 random bytes, XChaCha20)              +
 *   ~                                                               ~
 * 56|                                                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 60|              ciphertext (same length as payload)              ~
 *   ~                                                               ~
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                 Poly1305 tag (16 bytes)                       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The whole 60-byte header is the AEAD additional data, so no header field
 * can be changed without failing authentication. Version 1 defines no flags;
 * senders write flags and reserved as zero and receivers ignore them (they
 * are authenticated, so a later version may use them for hints an older
 * receiver can safely skip; anything it would misread bumps the version).
 *
 * Replay protection is split from authentication on purpose: wire_open()
 * touches no state, and the caller runs wire_replay_check() and
 * wire_replay_update() only on datagrams that opened, so a forged datagram
 * can never advance a sender's window or epoch.
 */
#ifndef TANDEM_LIB_WIRE_H
#define TANDEM_LIB_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define WIRE_MAGIC        0x544e4431u  /* "TND1" */
#define WIRE_VERSION      1
#define WIRE_MAX_DATAGRAM 1400         /* fits a 1500-byte MTU with IPv6/UDP headers */
#define WIRE_KEY_LEN      32
#define WIRE_HDR_LEN      60
#define WIRE_NONCE_LEN    24
#define WIRE_TAG_LEN      16
#define WIRE_OVERHEAD     (WIRE_HDR_LEN + WIRE_TAG_LEN)
#define WIRE_MAX_PAYLOAD  (WIRE_MAX_DATAGRAM - WIRE_OVERHEAD)
#define WIRE_REPLAY_WINDOW 1024        /* bits in struct wire_replay's bitmap */
#define WIRE_MAX_KEYS     2
#define WIRE_KEYGEN_LINE  80           /* enough for "<id> <64 hex>" and its NUL */

enum wire_verdict { WIRE_OK = 0, WIRE_ERR_SHORT, WIRE_ERR_OVERSIZE, WIRE_ERR_MAGIC, WIRE_ERR_VERSION,
  WIRE_ERR_CLUSTER, WIRE_ERR_KEYID, WIRE_ERR_AUTH, WIRE_ERR_REPLAY, WIRE_ERR_OLD_EPOCH, WIRE_ERR_SELF,
  WIRE_VERDICT_MAX };

/*
 * Short name of a verdict for logs and counter names: "ok", "short",
 * "oversize", "bad-magic", "bad-version", "wrong-cluster", "unknown-key",
 * "auth-failed", "replay", "old-epoch", "own-datagram"; "invalid" for a
 * value outside the enum. Never NULL.
 */
const char *wire_verdict_str(enum wire_verdict v);

struct wire_hdr { uint32_t magic; uint8_t version; uint8_t flags; uint16_t reserved; uint32_t key_id;
                  uint32_t cluster_id; uint32_t sender_id; uint64_t epoch; uint64_t seq; uint8_t nonce[24]; };

/* Keyring in sodium_malloc'd memory; up to 2 keys accepted at once (rotation), keys[0] is used to send. */
struct wire_key { uint32_t id; uint8_t key[WIRE_KEY_LEN]; };
struct wire_keyring { struct wire_key keys[2]; int nkeys; };

/*
 * Allocate an empty keyring in guarded sodium_malloc memory (guard pages,
 * locked against swapping where allowed). Calls sodium_init(). Returns NULL
 * if libsodium cannot initialise or memory is short. Free with
 * wire_keyring_free().
 */
struct wire_keyring *wire_keyring_new(void);

/* Wipe and free a keyring from wire_keyring_new(); NULL is a no-op. */
void wire_keyring_free(struct wire_keyring *kr);

/*
 * Append one key (copied) to kr. The first key added is the sending key.
 * Returns 0, or -1 when kr already holds WIRE_MAX_KEYS keys or a key with
 * the same id (an id must name exactly one key, or a receiver could not
 * tell which to try).
 */
int wire_keyring_add(struct wire_keyring *kr, uint32_t id, const uint8_t key[WIRE_KEY_LEN]);

/*
 * Load a key file into kr, replacing its keys only on success (a failed
 * reload leaves the running keys in place).
 *
 * Format: one key per line, "<id> <64 hex chars>" with id a decimal
 * uint32; blank lines and lines starting with '#' are skipped; leading and
 * trailing blanks are ignored. The first key line is the sending key; at
 * most two keys (old and new during a rotation).
 *
 * Refused: a symbolic link (opened with O_NOFOLLOW), anything but a regular
 * file, a file with any group or other permission bit (mode & 077; checked
 * with fstat on the opened descriptor, so the file checked is the file
 * read), a file over 64 KiB, a malformed line, a duplicate id, a third key,
 * no key at all. The file is read into sodium_malloc'd memory and wiped.
 *
 * Returns 0, or -1 with a message in err ("PATH: ..." or "PATH:LINE: ...").
 * Messages never contain key bytes or the text of a key line.
 */
int wire_keyring_load(struct wire_keyring *kr, const char *path, char *err, size_t errlen);

/*
 * Stable 32-bit cluster id: the first four bytes (big-endian) of the
 * BLAKE2b (crypto_generichash) digest of the name. NULL is treated as "".
 * Only a guard against talking to another cluster by mistake; it is not a
 * secret and not a security boundary (the key is).
 */
uint32_t wire_cluster_id(const char *cluster_name);

/* Write the 64-char lowercase hex of key into out (NUL-terminated). Returns 0. */
int wire_key_hex(char out[65], const uint8_t key[WIRE_KEY_LEN]);

/*
 * Make a fresh random key and format it as one key-file line
 * "<id> <64 hex chars>" (no newline) into line. Calls sodium_init(). The
 * temporary key is wiped. Returns 0, or -1 if len < WIRE_KEYGEN_LINE or
 * libsodium cannot initialise. The line is key material: the caller must
 * not log it.
 */
int wire_keygen(uint32_t id, char *line, size_t len);

struct wire_sender { uint32_t cluster_id; uint32_t sender_id; uint64_t epoch; uint64_t next_seq; };

/* Set up a sender; sequence numbers restart at 0 for each epoch. */
void wire_sender_init(struct wire_sender *s, uint32_t cluster_id, uint32_t sender_id, uint64_t epoch);

/*
 * Seal payload into out (header || ciphertext || tag) under kr->keys[0],
 * with a fresh random nonce and seq = s->next_seq (then incremented).
 * payload and out must not overlap. Returns the total length
 * (len + WIRE_OVERHEAD), or -1 if kr has no key, the datagram would exceed
 * WIRE_MAX_DATAGRAM or outcap, or s's sequence numbers are exhausted (the
 * sender must take a new epoch). On -1, s is unchanged.
 */
ssize_t wire_seal(const struct wire_keyring *kr, struct wire_sender *s, const void *payload, size_t len,
                  uint8_t *out, size_t outcap);

/*
 * Authenticate and decrypt one datagram. Touches no state: replay checking
 * is the caller's next step (wire_replay_check / wire_replay_update), only
 * after this returned WIRE_OK.
 *
 * Checks, in order, each with its own verdict: length below WIRE_OVERHEAD
 * (SHORT), above WIRE_MAX_DATAGRAM (OVERSIZE), magic (MAGIC), version
 * (VERSION), cluster_id != expect_cluster (CLUSTER), sender_id == self_id
 * (SELF: our own datagram looped back, e.g. by multicast), key_id not in kr
 * (KEYID), AEAD verification (AUTH). The cheap header checks come first so
 * that junk and misconfiguration get a precise verdict without crypto;
 * none of them is a security decision, the AEAD is.
 *
 * hdr (may be NULL) receives the parsed header once the length checks pass;
 * its fields are attacker-controlled unless the verdict is WIRE_OK.
 * payload_out must hold at least len - WIRE_OVERHEAD bytes (len, or
 * WIRE_MAX_PAYLOAD, always suffices); *payload_len is set to the plaintext
 * length on WIRE_OK and to 0 otherwise.
 */
enum wire_verdict wire_open(const struct wire_keyring *kr, uint32_t expect_cluster, uint32_t self_id,
                            const uint8_t *dgram, size_t len, struct wire_hdr *hdr, uint8_t *payload_out,
                            size_t *payload_len);

/*
 * Per-sender replay window (RFC 4303 3.4.3-style sliding window of 1024 over
 * seq, per epoch). Bit (seq mod 1024) of bitmap records whether seq was
 * seen, for seq in [top - 1023, top]. A zeroed struct (wire_replay_init)
 * accepts anything first.
 */
struct wire_replay { uint64_t epoch; uint64_t top; uint64_t bitmap[16]; int init; };

/* Reset a window to "nothing seen" (a new peer). */
void wire_replay_init(struct wire_replay *r);

/*
 * Would (epoch, seq) be fresh? WIRE_OK for a first datagram, a higher epoch
 * (the sender restarted), a seq above the window or an unseen seq inside it;
 * WIRE_ERR_REPLAY for a seq already seen or older than the window;
 * WIRE_ERR_OLD_EPOCH for an epoch below the current one. Pure.
 */
enum wire_verdict wire_replay_check(const struct wire_replay *r, uint64_t epoch, uint64_t seq);

/*
 * Record (epoch, seq) as seen. Call only after wire_open() returned WIRE_OK
 * and wire_replay_check() returned WIRE_OK for the same values: a forged
 * datagram must never move the window. A higher epoch resets the window; a
 * lower one is ignored.
 */
void wire_replay_update(struct wire_replay *r, uint64_t epoch, uint64_t seq);

/*
 * Treat every sequence number of epoch up to and including seq as seen:
 * afterwards only (epoch, s > seq) or a higher epoch is fresh. For the
 * moment a peer proves its freshness (hacd/fresh.c) with the datagram
 * (epoch, seq): whatever it sent before that may sit in a recording made
 * while this node was not looking, and an empty window would take it.
 * Call only for an (epoch, seq) already passed to wire_replay_update; a
 * lower epoch than the window's is ignored.
 */
void wire_replay_floor(struct wire_replay *r, uint64_t epoch, uint64_t seq);

/*
 * Epoch that only grows across restarts: reads the decimal value in
 * statefile (absent counts as 0), takes max(stored + 1, unix seconds), and
 * persists it atomically (tmp file in the same directory, fsync, rename,
 * fsync of the directory) before returning it, so no two runs of this node
 * ever seal under the same epoch even if the clock is stepped back.
 * Missing parent directories are created with mode 0700.
 * Returns 0 with *epoch set, or -1 with a message in err (a malformed state
 * file is an error, not a reset: "PATH:1: ...").
 */
int wire_epoch_next(const char *statefile, uint64_t *epoch, char *err, size_t errlen);

#endif
