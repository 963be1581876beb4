/*
 * lib/wire.c — the peer datagram: sealing, opening, replay windows, keys and
 * the epoch.
 *
 * hacd's peer module (hacd/peer.c) hands a packed tandem.PeerMessage to
 * wire_seal() and sends the result over UDP; on receipt it calls wire_open(),
 * and only if that authenticates the datagram does it consult and advance the
 * sender's replay window and unpack the protobuf. This file owns the on-wire
 * layout (documented with a byte diagram in wire.h), the key file format,
 * and the epoch file that makes a restarted node's sequence numbers fresh.
 * It does no I/O on the network and keeps no state of its own: counters and
 * rate-limited logging of rejections belong to the caller, which knows the
 * peer's address. Key material lives only in sodium_malloc'd memory and is
 * never formatted into a message.
 */
#include "lib/wire.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/secfile.h"

/* Header field offsets; see the diagram in wire.h. */
enum {
	OFF_MAGIC = 0,
	OFF_VERSION = 4,
	OFF_FLAGS = 5,
	OFF_RESERVED = 6,
	OFF_KEY_ID = 8,
	OFF_CLUSTER = 12,
	OFF_SENDER = 16,
	OFF_EPOCH = 20,
	OFF_SEQ = 28,
	OFF_NONCE = 36,
};

_Static_assert(OFF_NONCE + WIRE_NONCE_LEN == WIRE_HDR_LEN, "header layout");
_Static_assert(WIRE_NONCE_LEN == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, "nonce size");
_Static_assert(WIRE_TAG_LEN == crypto_aead_xchacha20poly1305_ietf_ABYTES, "tag size");
_Static_assert(WIRE_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");
_Static_assert(WIRE_REPLAY_WINDOW == 64 * sizeof(((struct wire_replay *)0)->bitmap) / sizeof(uint64_t),
	       "replay bitmap size");

/* A key file holds two lines of about 80 bytes; anything this large is not one. */
#define KEYFILE_MAX (64 * 1024)

static const char *const verdict_names[WIRE_VERDICT_MAX] = {
	[WIRE_OK] = "ok",
	[WIRE_ERR_SHORT] = "short",
	[WIRE_ERR_OVERSIZE] = "oversize",
	[WIRE_ERR_MAGIC] = "bad-magic",
	[WIRE_ERR_VERSION] = "bad-version",
	[WIRE_ERR_CLUSTER] = "wrong-cluster",
	[WIRE_ERR_KEYID] = "unknown-key",
	[WIRE_ERR_AUTH] = "auth-failed",
	[WIRE_ERR_REPLAY] = "replay",
	[WIRE_ERR_OLD_EPOCH] = "old-epoch",
	[WIRE_ERR_SELF] = "own-datagram",
};

const char *wire_verdict_str(enum wire_verdict v)
{
	if ((unsigned)v >= WIRE_VERDICT_MAX)
		return "invalid";
	return verdict_names[v];
}

/* Big-endian helpers; kept local so the wire format depends on nothing else. */
static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- keys --------------------------------------------------------------- */

struct wire_keyring *wire_keyring_new(void)
{
	struct wire_keyring *kr;

	if (sodium_init() < 0)
		return NULL;
	kr = sodium_malloc(sizeof(*kr));
	if (kr == NULL)
		return NULL;
	sodium_memzero(kr, sizeof(*kr));
	return kr;
}

void wire_keyring_free(struct wire_keyring *kr)
{
	/* sodium_free wipes the region before unmapping it. */
	if (kr != NULL)
		sodium_free(kr);
}

static const struct wire_key *keyring_find(const struct wire_keyring *kr, uint32_t id)
{
	for (int i = 0; i < kr->nkeys && i < WIRE_MAX_KEYS; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

int wire_keyring_add(struct wire_keyring *kr, uint32_t id, const uint8_t key[WIRE_KEY_LEN])
{
	if (kr->nkeys < 0 || kr->nkeys >= WIRE_MAX_KEYS || keyring_find(kr, id) != NULL)
		return -1;
	kr->keys[kr->nkeys].id = id;
	memcpy(kr->keys[kr->nkeys].key, key, WIRE_KEY_LEN);
	kr->nkeys++;
	return 0;
}

/*
 * Read at most KEYFILE_MAX bytes of fd into a NUL-terminated sodium_malloc'd
 * buffer, so key text never sits in stdio buffers or the ordinary heap.
 */
static char *read_secret_file(int fd, size_t *lenp)
{
	char *buf = sodium_malloc(KEYFILE_MAX + 1);
	size_t len = 0;

	if (buf == NULL)
		return NULL;
	for (;;) {
		ssize_t n = read(fd, buf + len, KEYFILE_MAX + 1 - len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			sodium_free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEYFILE_MAX) {
			sodium_free(buf);
			errno = EFBIG;
			return NULL;
		}
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/*
 * Parse one key line "<id> <64 hex>" (already trimmed, not a comment).
 * Returns 0 or -1 with a reason that never quotes the line.
 */
static int parse_key_line(char *line, uint32_t *id, uint8_t key[WIRE_KEY_LEN], const char **why)
{
	char *p = line, *end;
	unsigned long long v;
	size_t hexlen, binlen;

	/* Shape first (digits then a blank), so a line holding only a key is
	 * reported as such and not as an id out of range. */
	size_t ndigits = strspn(p, "0123456789");

	if (ndigits == 0 || !is_blank(p[ndigits])) {
		*why = "expected \"<id> <64 hex chars>\"";
		return -1;
	}
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno != 0 || v > UINT32_MAX || end != p + ndigits) {
		*why = "key id out of range (0..4294967295)";
		return -1;
	}
	p = end;
	while (is_blank(*p))
		p++;
	hexlen = strlen(p);
	if (hexlen != 2 * WIRE_KEY_LEN) {
		*why = "key must be exactly 64 hex characters";
		return -1;
	}
	if (sodium_hex2bin(key, WIRE_KEY_LEN, p, hexlen, NULL, &binlen, NULL) != 0 || binlen != WIRE_KEY_LEN) {
		*why = "key is not valid hex";
		return -1;
	}
	*id = (uint32_t)v;
	return 0;
}

/* Parse the whole key file text into tmp; 0 or -1 with err set. */
static int parse_key_text(struct wire_keyring *tmp, char *text, const char *path, char *err, size_t errlen)
{
	char *line = text;
	unsigned lineno = 0;

	while (line != NULL && *line != '\0') {
		char *nl = strchr(line, '\n'), *end;
		const char *why = NULL;
		uint32_t id;
		uint8_t key[WIRE_KEY_LEN];
		int rc;

		lineno++;
		if (nl != NULL)
			*nl = '\0';
		while (is_blank(*line))
			line++;
		end = line + strlen(line);
		while (end > line && is_blank(end[-1]))
			*--end = '\0';
		if (*line == '\0' || *line == '#')
			goto next;
		rc = parse_key_line(line, &id, key, &why);
		if (rc == 0 && tmp->nkeys >= WIRE_MAX_KEYS) {
			why = "more than two keys (at most the new and the old one during a rotation)";
			rc = -1;
		} else if (rc == 0 && wire_keyring_add(tmp, id, key) != 0) {
			why = "duplicate key id";
			rc = -1;
		}
		sodium_memzero(key, sizeof(key));
		if (rc != 0) {
			errf(err, errlen, "%s:%u: %s", path, lineno, why);
			return -1;
		}
next:
		line = nl != NULL ? nl + 1 : NULL;
	}
	if (tmp->nkeys == 0) {
		errf(err, errlen, "%s: no key found (expected lines \"<id> <64 hex chars>\")", path);
		return -1;
	}
	return 0;
}

int wire_keyring_load(struct wire_keyring *kr, const char *path, char *err, size_t errlen)
{
	struct wire_keyring *tmp = NULL;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, rc = -1;

	if (sodium_init() < 0) {
		errf(err, errlen, "%s: libsodium failed to initialise", path);
		return -1;
	}
	/* O_NOFOLLOW: a symlink could point a root daemon at a file someone else controls. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1) {
		if (errno == ELOOP)
			errf(err, errlen, "%s: is a symbolic link; refusing to follow it", path);
		else if (errno == EACCES)
			/* hacd.service runs hacd as its own user, and root there
			 * lacks CAP_DAC_OVERRIDE: a key file of another uid (0600)
			 * is out of its reach. Say how to fix it. */
			errf(err, errlen, "%s: %s (uid %u reads it: the key file must be owned by that uid, "
			    "mode 0600; chown it)", path, strerror(errno), (unsigned)geteuid());
		else
			errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Checked on the opened fd: the file checked is the file read (no
	 * stat/open race). Owner and mode: lib/secfile. */
	if (secfile_check(fd, path, "cluster key", SECFILE_SECRET, err, errlen) == -1)
		goto out;
	if (fstat(fd, &st) == -1) {
		errf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		goto out;
	}
	if (st.st_size > KEYFILE_MAX) {
		errf(err, errlen, "%s: larger than %d bytes; not a key file", path, KEYFILE_MAX);
		goto out;
	}
	text = read_secret_file(fd, &len);
	if (text == NULL) {
		errf(err, errlen, "%s: read: %s", path, strerror(errno));
		goto out;
	}
	if (memchr(text, '\0', len) != NULL) {
		errf(err, errlen, "%s: contains a NUL byte; not a key file", path);
		goto out;
	}
	tmp = wire_keyring_new();
	if (tmp == NULL) {
		errf(err, errlen, "%s: out of secure memory", path);
		goto out;
	}
	if (parse_key_text(tmp, text, path, err, errlen) != 0)
		goto out;
	/* Replace only now, so a bad reload keeps the running keys. */
	sodium_memzero(kr, sizeof(*kr));
	memcpy(kr, tmp, sizeof(*kr));
	rc = 0;
out:
	if (text != NULL)
		sodium_free(text);
	wire_keyring_free(tmp);
	close(fd);
	return rc;
}

uint32_t wire_cluster_id(const char *cluster_name)
{
	uint8_t digest[crypto_generichash_BYTES_MIN];
	const char *name = cluster_name != NULL ? cluster_name : "";

	/* BLAKE2b needs no sodium_init; it is pure computation. */
	crypto_generichash(digest, sizeof(digest), (const unsigned char *)name, strlen(name), NULL, 0);
	return get32(digest);
}

int wire_key_hex(char out[65], const uint8_t key[WIRE_KEY_LEN])
{
	sodium_bin2hex(out, 2 * WIRE_KEY_LEN + 1, key, WIRE_KEY_LEN);
	return 0;
}

int wire_keygen(uint32_t id, char *line, size_t len)
{
	uint8_t key[WIRE_KEY_LEN];
	char hex[2 * WIRE_KEY_LEN + 1];
	int n;

	if (line == NULL || len < WIRE_KEYGEN_LINE || sodium_init() < 0)
		return -1;
	randombytes_buf(key, sizeof(key));
	wire_key_hex(hex, key);
	n = snprintf(line, len, "%" PRIu32 " %s", id, hex);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	return n > 0 && (size_t)n < len ? 0 : -1;
}

/* ---- seal and open ------------------------------------------------------ */

void wire_sender_init(struct wire_sender *s, uint32_t cluster_id, uint32_t sender_id, uint64_t epoch)
{
	s->cluster_id = cluster_id;
	s->sender_id = sender_id;
	s->epoch = epoch;
	s->next_seq = 0;
}

ssize_t wire_seal(const struct wire_keyring *kr, struct wire_sender *s, const void *payload, size_t len,
		  uint8_t *out, size_t outcap)
{
	const struct wire_key *k;
	unsigned long long clen;

	if (kr == NULL || kr->nkeys < 1 || len > WIRE_MAX_PAYLOAD || len + WIRE_OVERHEAD > outcap)
		return -1;
	/* seq must never repeat within an epoch, or receivers would drop the datagram as a replay. */
	if (s->next_seq == UINT64_MAX)
		return -1;
	k = &kr->keys[0];
	put32(out + OFF_MAGIC, WIRE_MAGIC);
	out[OFF_VERSION] = WIRE_VERSION;
	out[OFF_FLAGS] = 0;
	out[OFF_RESERVED] = 0;
	out[OFF_RESERVED + 1] = 0;
	put32(out + OFF_KEY_ID, k->id);
	put32(out + OFF_CLUSTER, s->cluster_id);
	put32(out + OFF_SENDER, s->sender_id);
	put64(out + OFF_EPOCH, s->epoch);
	put64(out + OFF_SEQ, s->next_seq);
	/* 192-bit random nonces: collisions are negligible without any nonce state to persist. */
	randombytes_buf(out + OFF_NONCE, WIRE_NONCE_LEN);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + WIRE_HDR_LEN, &clen, payload, len, out,
						       WIRE_HDR_LEN, NULL, out + OFF_NONCE, k->key) != 0)
		return -1;
	s->next_seq++;
	return (ssize_t)(WIRE_HDR_LEN + clen);
}

static void parse_hdr(const uint8_t *p, struct wire_hdr *h)
{
	h->magic = get32(p + OFF_MAGIC);
	h->version = p[OFF_VERSION];
	h->flags = p[OFF_FLAGS];
	h->reserved = (uint16_t)(p[OFF_RESERVED] << 8 | p[OFF_RESERVED + 1]);
	h->key_id = get32(p + OFF_KEY_ID);
	h->cluster_id = get32(p + OFF_CLUSTER);
	h->sender_id = get32(p + OFF_SENDER);
	h->epoch = get64(p + OFF_EPOCH);
	h->seq = get64(p + OFF_SEQ);
	memcpy(h->nonce, p + OFF_NONCE, WIRE_NONCE_LEN);
}

enum wire_verdict wire_open(const struct wire_keyring *kr, uint32_t expect_cluster, uint32_t self_id,
			    const uint8_t *dgram, size_t len, struct wire_hdr *hdr, uint8_t *payload_out,
			    size_t *payload_len)
{
	struct wire_hdr local, *h = hdr != NULL ? hdr : &local;
	const struct wire_key *k;
	unsigned long long mlen;

	*payload_len = 0;
	if (len < WIRE_OVERHEAD)
		return WIRE_ERR_SHORT;
	if (len > WIRE_MAX_DATAGRAM)
		return WIRE_ERR_OVERSIZE;
	parse_hdr(dgram, h);
	if (h->magic != WIRE_MAGIC)
		return WIRE_ERR_MAGIC;
	/* Proto rule 3: a version we do not know may mean fields we would misread. */
	if (h->version != WIRE_VERSION)
		return WIRE_ERR_VERSION;
	if (h->cluster_id != expect_cluster)
		return WIRE_ERR_CLUSTER;
	if (h->sender_id == self_id)
		return WIRE_ERR_SELF;
	k = kr != NULL ? keyring_find(kr, h->key_id) : NULL;
	if (k == NULL)
		return WIRE_ERR_KEYID;
	/* The tag covers the full header as additional data, so a header
	 * field changed in flight fails here even though it passed above. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(payload_out, &mlen, NULL, dgram + WIRE_HDR_LEN,
						       len - WIRE_HDR_LEN, dgram, WIRE_HDR_LEN,
						       dgram + OFF_NONCE, k->key) != 0)
		return WIRE_ERR_AUTH;
	*payload_len = (size_t)mlen;
	return WIRE_OK;
}

/* ---- replay window (RFC 4303 section 3.4.3) ------------------------------ */

/*
 * The bitmap is a ring: seq s lives at bit s mod 1024. The window covers
 * [top - 1023, top], exactly 1024 distinct residues, so moving top forward
 * clears the bits of the sequence numbers that fall out before they are
 * reused.
 */
static int bit_get(const struct wire_replay *r, uint64_t seq)
{
	uint64_t b = seq % WIRE_REPLAY_WINDOW;

	return (int)(r->bitmap[b / 64] >> (b % 64) & 1);
}

static void bit_set(struct wire_replay *r, uint64_t seq)
{
	uint64_t b = seq % WIRE_REPLAY_WINDOW;

	r->bitmap[b / 64] |= (uint64_t)1 << (b % 64);
}

static void bit_clear(struct wire_replay *r, uint64_t seq)
{
	uint64_t b = seq % WIRE_REPLAY_WINDOW;

	r->bitmap[b / 64] &= ~((uint64_t)1 << (b % 64));
}

void wire_replay_init(struct wire_replay *r)
{
	memset(r, 0, sizeof(*r));
}

enum wire_verdict wire_replay_check(const struct wire_replay *r, uint64_t epoch, uint64_t seq)
{
	if (!r->init || epoch > r->epoch)
		return WIRE_OK;
	/* An epoch below the current one is a restart older than the one we saw: a replay. */
	if (epoch < r->epoch)
		return WIRE_ERR_OLD_EPOCH;
	if (seq > r->top)
		return WIRE_OK;
	/* Left of the window: RFC 4303 3.4.3 rejects it, since it can no longer be told apart. */
	if (r->top - seq >= WIRE_REPLAY_WINDOW)
		return WIRE_ERR_REPLAY;
	return bit_get(r, seq) ? WIRE_ERR_REPLAY : WIRE_OK;
}

void wire_replay_update(struct wire_replay *r, uint64_t epoch, uint64_t seq)
{
	if (!r->init || epoch > r->epoch) {
		/* First datagram, or the sender restarted: a fresh window in the new epoch. */
		memset(r->bitmap, 0, sizeof(r->bitmap));
		r->epoch = epoch;
		r->top = seq;
		r->init = 1;
		bit_set(r, seq);
		return;
	}
	if (epoch < r->epoch)
		return;
	if (seq > r->top) {
		if (seq - r->top >= WIRE_REPLAY_WINDOW) {
			memset(r->bitmap, 0, sizeof(r->bitmap));
		} else {
			for (uint64_t s = r->top + 1; s != seq; s++)
				bit_clear(r, s);
		}
		r->top = seq;
	}
	bit_set(r, seq);
}

void wire_replay_floor(struct wire_replay *r, uint64_t epoch, uint64_t seq)
{
	if (r->init && epoch < r->epoch)
		return;
	if (!r->init || epoch > r->epoch || seq > r->top) {
		r->epoch = epoch;
		r->top = seq;
		r->init = 1;
	}
	/* Every bit set: each seq in [top - 1023, top] reads as seen, and
	 * anything left of that is refused as too old. Moving top forward
	 * clears bits as usual, so seq > top stays fresh. */
	memset(r->bitmap, 0xff, sizeof(r->bitmap));
}

/* ---- epoch -------------------------------------------------------------- */

/* mkdir -p for the directory part of path, creating components with mode 0700. */
static int make_parent_dirs(const char *path, char *err, size_t errlen)
{
	char dir[PATH_MAX];
	char *slash;
	size_t n = strlen(path);

	if (n >= sizeof(dir)) {
		errf(err, errlen, "%s: path too long", path);
		return -1;
	}
	memcpy(dir, path, n + 1);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;

		*p = '\0';
		if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
			errf(err, errlen, "%s: mkdir: %s", dir, strerror(errno));
			return -1;
		}
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

/* Read the stored epoch: 0 if the file is absent. */
static int epoch_read(const char *path, uint64_t *out, char *err, size_t errlen)
{
	char buf[64], *end;
	ssize_t n;
	size_t len = 0;
	unsigned long long v;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd == -1) {
		if (errno == ENOENT) {
			*out = 0;
			return 0;
		}
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* The epoch is what keeps replays of an earlier run out: a file
	 * someone else may write could roll it back. */
	if (secfile_check(fd, path, "epoch", SECFILE_INTEGRITY, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			errf(err, errlen, "%s: read: %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (len == 0 || buf[0] < '0' || buf[0] > '9' || *end != '\0' || errno != 0) {
		errf(err, errlen, "%s:1: expected one decimal epoch; refusing to guess (remove the file only "
		     "if the clock is known to be right)", path);
		return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Durably replace path with text: tmp file + fsync + rename + fsync(dir). */
static int epoch_write(const char *path, uint64_t v, char *err, size_t errlen)
{
	char tmp[PATH_MAX], dir[PATH_MAX], text[32];
	char *slash;
	int fd, n, dfd;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errf(err, errlen, "%s: path too long", path);
		return -1;
	}
	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", v);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		errf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, text, (size_t)n) == -1 || fsync(fd) == -1) {
		errf(err, errlen, "%s: write: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) == -1) {
		errf(err, errlen, "%s: close: %s", tmp, strerror(errno));
		unlink(tmp);
		return -1;
	}
	if (rename(tmp, path) == -1) {
		errf(err, errlen, "%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	/* The rename is durable only once the directory entry is on disk. */
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || fsync(dfd) == -1) {
		errf(err, errlen, "%s: fsync: %s", dir, strerror(errno));
		if (dfd != -1)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

int wire_epoch_next(const char *statefile, uint64_t *epoch, char *err, size_t errlen)
{
	uint64_t stored, next;
	time_t now;

	if (make_parent_dirs(statefile, err, errlen) != 0)
		return -1;
	if (epoch_read(statefile, &stored, err, errlen) != 0)
		return -1;
	if (stored == UINT64_MAX) {
		errf(err, errlen, "%s:1: epoch exhausted", statefile);
		return -1;
	}
	/* stored + 1 keeps epochs growing when the clock stands still or steps
	 * back; the clock keeps them roughly meaningful across a lost file. */
	next = stored + 1;
	now = time(NULL);
	if (now != (time_t)-1 && (uint64_t)now > next)
		next = (uint64_t)now;
	if (epoch_write(statefile, next, err, errlen) != 0)
		return -1;
	*epoch = next;
	return 0;
}
