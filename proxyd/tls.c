/*
 * proxyd/tls.c — TLS termination (listeners) and TLS origination (backends).
 *
 * proxyd's workers accept a socket, wrap it with tls_conn_new and drive the
 * handshake and the record layer from their epoll loop through the four
 * nonblocking calls in tls.h, whose AGAIN_READ/AGAIN_WRITE results say which
 * event to wait for. Everything a listener's TLS needs is built once, off the
 * hot path, into an immutable struct tls_server (config load or reload, on
 * the control thread) and shared read-only by all workers; connections hold a
 * reference, so a reload that swaps certificates never disturbs a connection
 * in flight. Session tickets are sealed under the cluster-wide keys of
 * proxyd/tls_tickets.c, the only mutable state a handshake reads.
 *
 * Inside a tls_server: one SSL_CTX per certificate set (certificates with the
 * same names, at most one per key type), a SipHash table from name to set for
 * the SNI callback (RFC 6066 §3), the ALPN list (RFC 7301), the OCSP
 * responses to staple (RFC 6066 §8). Every SSL_CTX carries the same protocol
 * policy, ticket callback, session id context and client-certificate
 * settings, because after SSL_set_SSL_CTX OpenSSL reads some of these from
 * the first context and some from the switched-to one.
 *
 * Nothing here logs per connection: workers count and rate-limit with their
 * own state (tls_stats_get, tls_conn_error). Load errors go to the caller's
 * err buffer, naming the file; key bytes never leave OpenSSL and the
 * sodium_malloc'd read buffer, which is wiped.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "lib/hash.h"
#include "lib/secfile.h"
#include "proxyd/tls.h"

/* Mozilla "intermediate" TLS 1.2 suites without the DHE ones (no
 * dhparam files to manage; every client that can do DHE-GCM does ECDHE). */
#define CIPHERS_TLS12 \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define GROUPS "X25519:P-256:P-384"
#define SID_CTX_LABEL "tandem sid_ctx v1"  /* domain separation for the session id context digest */
#define MAX_CA_FILE (16 * 1024 * 1024)
#define MAX_NAME 253                    /* RFC 1035 §2.3.4, as text without the final dot */
#define MAX_KEY_FILE (64 * 1024)
#define MAX_OCSP_FILE (1024 * 1024)
#define KT_EC  0
#define KT_RSA 1

struct tls_cert {
	X509 *x509;                     /* our reference; the SSL_CTX holds its own */
	uint8_t *ocsp;                  /* DER response to staple, or NULL */
	size_t ocsp_len;
};

struct tls_certset {
	SSL_CTX *ctx;
	char *namekey;                  /* sorted names joined by '\n': the set's identity */
	const char *file[2];            /* cert file per key type, for messages; valid during tls_server_new only */
	struct tls_cert cert[2];        /* by key type: KT_EC, KT_RSA */
};

/* What a listener asks of clients; part of its session id context. */
enum tls_client_auth {
	TLS_CLIENT_AUTH_NONE = 0,
	TLS_CLIENT_AUTH_OPTIONAL = 1,
	TLS_CLIENT_AUTH_REQUIRED = 2
};

struct tls_server {
	_Atomic int refs;
	struct tls_ticket_keys *keys;
	enum tls_client_auth client_auth;
	uint8_t sid_ctx[SSL_MAX_SID_CTX_LENGTH];        /* see sid_ctx_digest */
	struct tls_certset *sets;
	size_t nsets;
	struct htab *names;             /* lowercase name -> set index + 1 */
	char **namelist;                /* exact names first, then wildcards */
	size_t nnames;
	uint8_t alpn[256];              /* wire format (RFC 7301 §3.1) */
	size_t alpn_len;
};

struct tls_client {
	SSL_CTX *ctx;
	char *sni;
	int verify;
};

static struct {
	_Atomic uint64_t handshakes, resumed, failed, failed_version, failed_client_cert, client_cert_recheck;
	_Atomic uint64_t sni_default, alpn_refused, ocsp_stapled, backend_handshakes, backend_failed;
	_Atomic uint64_t backend_failed_name;
} stats;

#define BUMP(f) atomic_fetch_add_explicit(&stats.f, 1, memory_order_relaxed)
#define LOAD(f) atomic_load_explicit(&stats.f, memory_order_relaxed)

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int conn_idx = -1;               /* SSL ex_data slot: the connection's tls_server reference */

static void conn_exfree(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	tls_server_unref(ptr);
}

static void init_once(void)
{
	conn_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, conn_exfree);
}

void tls_stats_get(struct tls_stats *out)
{
	out->handshakes = LOAD(handshakes);
	out->resumed = LOAD(resumed);
	out->failed = LOAD(failed);
	out->failed_version = LOAD(failed_version);
	out->failed_client_cert = LOAD(failed_client_cert);
	out->sni_default = LOAD(sni_default);
	out->alpn_refused = LOAD(alpn_refused);
	out->ocsp_stapled = LOAD(ocsp_stapled);
	out->backend_handshakes = LOAD(backend_handshakes);
	out->backend_failed = LOAD(backend_failed);
	out->backend_failed_name = LOAD(backend_failed_name);
	out->client_cert_recheck = LOAD(client_cert_recheck);
}

const char *tls_rc_str(int rc)
{
	switch (rc) {
	case TLS_OK:          return "ok";
	case TLS_ERROR:       return "error";
	case TLS_AGAIN_READ:  return "again-read";
	case TLS_AGAIN_WRITE: return "again-write";
	}
	return rc > 0 ? "bytes" : "?";
}

/* ---- load-time helpers ---------------------------------------------------- */

/* err := "prefix: <first OpenSSL reason>", emptying the error queue. */
static void ssl_errf(char *err, size_t errlen, const char *prefix)
{
	unsigned long e = ERR_peek_error();
	const char *why = e != 0 ? ERR_reason_error_string(e) : NULL;

	snprintf(err, errlen, "%s: %s", prefix, why != NULL ? why : "OpenSSL error");
	ERR_clear_error();
}

static void x509_subject(X509 *x, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253);
	n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

static void asn1_time_str(const ASN1_TIME *t, char *buf, size_t len)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n;

	buf[0] = '\0';
	if (b == NULL)
		return;
	ASN1_TIME_print(b, t);
	n = BIO_read(b, buf, (int)len - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* Refuses a certificate outside its validity period: clients would refuse
 * it anyway, one handshake at a time. */
static int check_validity(X509 *x, const char *file, char *err, size_t errlen)
{
	char subj[256], when[64];

	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		x509_subject(x, subj, sizeof(subj));
		asn1_time_str(X509_get0_notAfter(x), when, sizeof(when));
		snprintf(err, errlen, "%s: certificate \"%s\" expired (notAfter %s)", file, subj, when);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		x509_subject(x, subj, sizeof(subj));
		asn1_time_str(X509_get0_notBefore(x), when, sizeof(when));
		snprintf(err, errlen, "%s: certificate \"%s\" is not yet valid (notBefore %s)", file, subj, when);
		return -1;
	}
	return 0;
}

/* Reads the leaf and its chain from a PEM file and checks every validity. */
static int load_certs(const char *file, X509 **leaf, STACK_OF(X509) **chain, char *err, size_t errlen)
{
	FILE *f;
	BIO *b;
	X509 *x;

	*leaf = NULL;
	*chain = NULL;
	if ((f = fopen(file, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	if ((b = BIO_new_fp(f, BIO_CLOSE)) == NULL) {
		fclose(f);
		ssl_errf(err, errlen, file);
		return -1;
	}
	if ((*chain = sk_X509_new_null()) == NULL)
		goto fail_ssl;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (*leaf == NULL)
			*leaf = x;
		else if (sk_X509_push(*chain, x) == 0) {
			X509_free(x);
			goto fail_ssl;
		}
	}
	/* The loop ends on "no start line" at EOF: expected once a cert was read. */
	if (*leaf == NULL) {
		snprintf(err, errlen, "%s: no PEM certificate found", file);
		ERR_clear_error();
		goto fail;
	}
	ERR_clear_error();
	BIO_free(b);
	b = NULL;
	if (check_validity(*leaf, file, err, errlen) != 0)
		goto fail;
	for (int i = 0; i < sk_X509_num(*chain); i++)
		if (check_validity(sk_X509_value(*chain, i), file, err, errlen) != 0)
			goto fail;
	return 0;
fail_ssl:
	ssl_errf(err, errlen, file);
fail:
	BIO_free(b);
	X509_free(*leaf);
	sk_X509_pop_free(*chain, X509_free);
	*leaf = NULL;
	*chain = NULL;
	return -1;
}

/* A passphrase prompt would block a daemon on a terminal it does not have. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;
}

/* Reads a private key, refusing a file others may read or own: the key is the
 * certificate's identity, and a readable key file is a leaked one. The bytes
 * pass through sodium_malloc'd memory only, wiped before returning. */
static EVP_PKEY *load_key(const char *file, char *err, size_t errlen)
{
	struct stat st;
	EVP_PKEY *pk = NULL;
	uint8_t *mem = NULL;
	BIO *b = NULL;
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return NULL;
	}
	/* Owner (root, this process or its service user) and mode: lib/secfile. */
	if (secfile_check(fd, file, "private key", SECFILE_SECRET, err, errlen) == -1)
		goto out;
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > MAX_KEY_FILE) {
		snprintf(err, errlen, "%s: private key file is empty or larger than %d bytes", file, MAX_KEY_FILE);
		goto out;
	}
	if ((mem = sodium_malloc((size_t)st.st_size)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", file);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, mem + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", file, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if ((b = BIO_new_mem_buf(mem, (int)got)) == NULL) {
		ssl_errf(err, errlen, file);
		goto out;
	}
	if ((pk = PEM_read_bio_PrivateKey(b, NULL, no_passphrase, NULL)) == NULL) {
		snprintf(err, errlen, "%s: no usable PEM private key (encrypted keys are not supported)", file);
		ERR_clear_error();
	}
out:
	BIO_free(b);
	if (mem != NULL)
		sodium_free(mem);       /* wipes */
	close(fd);
	return pk;
}

static int key_type(EVP_PKEY *pk, const char *file, char *err, size_t errlen)
{
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_EC:
		return KT_EC;
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pk) < 2048) {
			snprintf(err, errlen, "%s: RSA key of %d bits; at least 2048 required", file, EVP_PKEY_get_bits(pk));
			return -1;
		}
		return KT_RSA;
	}
	snprintf(err, errlen, "%s: key type %s not supported (ECDSA or RSA)", file,
	    OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
	return -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lowercases a DNS name into a fresh string; NULL for empty, too long, or
 * containing bytes that are not hostname characters (or '*'). */
static char *name_dup(const char *s, size_t len)
{
	char *d;

	if (len == 0 || len > MAX_NAME)
		return NULL;
	if ((d = malloc(len + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(isalnum(c) || c == '-' || c == '.' || c == '*' || c == '_')) {
			free(d);
			return NULL;
		}
		d[i] = (char)tolower(c);
	}
	d[len] = '\0';
	return d;
}

/* The DNS names a certificate is for: its subjectAltName dNSNames, else its
 * CN (RFC 6125 §6.4.4). Returns a count (names malloc'd into *out). */
static int cert_names(X509 *x, char ***out, const char *file, char *err, size_t errlen)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	char **v = NULL;
	int n = 0, cap = 0;

	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char *d;

		if (g->type != GEN_DNS)
			continue;
		d = name_dup((const char *)ASN1_STRING_get0_data(g->d.dNSName), (size_t)ASN1_STRING_length(g->d.dNSName));
		if (d == NULL)
			continue;
		if (n == cap) {
			char **nv = realloc(v, sizeof(*v) * (size_t)(cap = cap ? cap * 2 : 4));

			if (nv == NULL) {
				free(d);
				goto nomem;
			}
			v = nv;
		}
		v[n++] = d;
	}
	GENERAL_NAMES_free(gens);
	gens = NULL;
	if (n == 0) {
		char cn[MAX_NAME + 2];
		int len = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
		char *d = len > 0 ? name_dup(cn, (size_t)len) : NULL;

		if (d == NULL || (v = malloc(sizeof(*v))) == NULL) {
			free(d);
			snprintf(err, errlen, "%s: certificate names no DNS host (no subjectAltName dNSName, no CN)", file);
			return -1;
		}
		v[n++] = d;
	}
	qsort(v, (size_t)n, sizeof(*v), cmp_str);
	*out = v;
	return n;
nomem:
	GENERAL_NAMES_free(gens);
	for (int i = 0; i < n; i++)
		free(v[i]);
	free(v);
	snprintf(err, errlen, "%s: out of memory", file);
	return -1;
}

static char *read_small_file(const char *file, size_t max, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(file, "rbe");
	char *buf;
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", file);
		return NULL;
	}
	n = fread(buf, 1, max + 1, f);
	if (ferror(f) || n == 0 || n > max) {
		snprintf(err, errlen, "%s: %s", file, ferror(f) ? strerror(errno) : n == 0 ? "empty file" : "file too large");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* The session id context of a listener: what a session (and so a ticket)
 * is bound to. OpenSSL resumes a session only on an SSL whose context is
 * the one the session was made under (TLS 1.2 and the TLS 1.3 PSK path
 * alike), and ticket keys are shared by every listener of a node and every
 * node of a cluster, so the context is what keeps a ticket from a plain
 * listener from resuming on one that requires a client certificate (a
 * resumed session skips the CertificateRequest: RFC 8446 §4.6.2, RFC 5246
 * §7.3). It is a digest (BLAKE2b-256, SSL_MAX_SID_CTX_LENGTH bytes) of
 *  - the listener's identity as written in the configuration (its name,
 *    else its address), so every node running the same file computes the
 *    same value and cross-node resumption keeps working;
 *  - the client-certificate policy (none, optional, required);
 *  - the bytes of the client CA file, so a session verified under one CA
 *    set does not resume under another.
 * A reload that changes none of them keeps sessions; one that changes any
 * starts them afresh. */
static int sid_ctx_digest(const char *identity, enum tls_client_auth auth, const char *ca_file,
    uint8_t out[SSL_MAX_SID_CTX_LENGTH], char *err, size_t errlen)
{
	crypto_generichash_state st;
	uint8_t ca[crypto_generichash_BYTES], lenb[8], a = (uint8_t)auth;
	const char *id = identity != NULL ? identity : "";
	uint64_t idlen = strlen(id);

	_Static_assert(crypto_generichash_BYTES == SSL_MAX_SID_CTX_LENGTH, "sid_ctx is one BLAKE2b-256 digest");
	memset(ca, 0, sizeof(ca));
	if (ca_file != NULL) {
		crypto_generichash_state cs;
		uint8_t chunk[8192];
		size_t n, total = 0;
		FILE *f = fopen(ca_file, "rbe");

		if (f == NULL) {
			snprintf(err, errlen, "%s: %s", ca_file, strerror(errno));
			return -1;
		}
		crypto_generichash_init(&cs, NULL, 0, sizeof(ca));
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && (total += n) <= MAX_CA_FILE)
			crypto_generichash_update(&cs, chunk, n);
		if (ferror(f) || total > MAX_CA_FILE) {
			snprintf(err, errlen, "%s: %s", ca_file, ferror(f) ? strerror(errno) : "file too large");
			fclose(f);
			return -1;
		}
		fclose(f);
		crypto_generichash_final(&cs, ca, sizeof(ca));
	}
	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(idlen >> (8 * i));
	crypto_generichash_init(&st, NULL, 0, SSL_MAX_SID_CTX_LENGTH);
	crypto_generichash_update(&st, (const uint8_t *)SID_CTX_LABEL, sizeof(SID_CTX_LABEL));
	crypto_generichash_update(&st, lenb, sizeof(lenb));
	crypto_generichash_update(&st, (const uint8_t *)id, (size_t)idlen);
	crypto_generichash_update(&st, &a, 1);
	crypto_generichash_update(&st, ca, sizeof(ca));
	crypto_generichash_final(&st, out, SSL_MAX_SID_CTX_LENGTH);
	return 0;
}

/* Loads the OCSP response to staple and checks it is one worth sending: a
 * successful response that covers this certificate, says "good", and is
 * current. A stale or foreign staple makes strict clients (must-staple) fail,
 * so it is refused here rather than served. */
static int load_ocsp(const char *file, X509 *leaf, STACK_OF(X509) *chain, struct tls_cert *tc,
    char *err, size_t errlen)
{
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *basic = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *thisupd, *nextupd;
	const unsigned char *p;
	size_t len;
	char *buf;
	int status, reason, rc = -1;

	if ((buf = read_small_file(file, MAX_OCSP_FILE, &len, err, errlen)) == NULL)
		return -1;
	p = (const unsigned char *)buf;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL || p != (const unsigned char *)buf + len) {
		snprintf(err, errlen, "%s: not a DER OCSP response", file);
		goto out;
	}
	if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		snprintf(err, errlen, "%s: OCSP response status is %s", file,
		    OCSP_response_status_str(OCSP_response_status(resp)));
		goto out;
	}
	if ((basic = OCSP_response_get1_basic(resp)) == NULL) {
		snprintf(err, errlen, "%s: OCSP response is not a basic response", file);
		goto out;
	}
	if (sk_X509_num(chain) < 1 || (id = OCSP_cert_to_id(NULL, leaf, sk_X509_value(chain, 0))) == NULL) {
		snprintf(err, errlen, "%s: stapling needs the issuer certificate after the leaf in the cert file", file);
		goto out;
	}
	if (OCSP_resp_find_status(basic, id, &status, &reason, NULL, &thisupd, &nextupd) != 1) {
		snprintf(err, errlen, "%s: OCSP response is not about this certificate", file);
		goto out;
	}
	if (status != V_OCSP_CERTSTATUS_GOOD) {
		snprintf(err, errlen, "%s: OCSP response says the certificate is %s", file, OCSP_cert_status_str(status));
		goto out;
	}
	if (OCSP_check_validity(thisupd, nextupd, 300, -1) != 1) {
		snprintf(err, errlen, "%s: OCSP response is outside its validity period", file);
		goto out;
	}
	tc->ocsp = (uint8_t *)buf;
	tc->ocsp_len = len;
	buf = NULL;
	rc = 0;
out:
	ERR_clear_error();
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(basic);
	OCSP_RESPONSE_free(resp);
	free(buf);
	return rc;
}

/* "h2,http/1.1" -> RFC 7301 §3.1 wire format. */
static int alpn_wire(const char *list, uint8_t *out, size_t cap, size_t *outlen)
{
	size_t n = 0;
	const char *p = list;

	while (*p != '\0') {
		const char *e = strchr(p, ',');
		size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

		if (l == 0 || l > 255 || n + 1 + l > cap)
			return -1;
		out[n++] = (uint8_t)l;
		memcpy(out + n, p, l);
		n += l;
		p += l;
		if (*p == ',' && *++p == '\0')
			return -1;         /* trailing comma: an empty name */
	}
	*outlen = n;
	return 0;
}

/* ---- server callbacks ----------------------------------------------------- */

/* The set index for a client's server_name: exact match, then a wildcard
 * covering exactly one leftmost label (RFC 6125 §6.4.3: "*.b.test" matches
 * "x.b.test", not "b.test" nor "y.x.b.test"), else -1. Case-insensitive
 * (RFC 4343). */
static int lookup_name(const struct tls_server *srv, const char *name)
{
	char low[MAX_NAME + 2];
	size_t len = strnlen(name, MAX_NAME + 1);
	void *v;
	char *dot;

	if (len == 0 || len > MAX_NAME)
		return -1;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)tolower((unsigned char)name[i]);
	low[len] = '\0';
	if ((v = htab_get(srv->names, low, len)) != NULL)
		return (int)((uintptr_t)v - 1);
	if ((dot = strchr(low, '.')) != NULL && dot != low && dot[1] != '\0') {
		dot[-1] = '*';
		v = htab_get(srv->names, dot - 1, len - (size_t)(dot - 1 - low));
		if (v != NULL)
			return (int)((uintptr_t)v - 1);
	}
	return -1;
}

static int sni_cb(SSL *s, int *alert, void *arg)
{
	struct tls_server *srv = arg;
	const char *name = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
	int i;

	if (name == NULL) {
		BUMP(sni_default);
		return SSL_TLSEXT_ERR_NOACK;
	}
	if ((i = lookup_name(srv, name)) < 0) {
		/* RFC 6066 §3 lets a server go on with its default certificate;
		 * the client then decides whether that will do. */
		BUMP(sni_default);
		return SSL_TLSEXT_ERR_OK;
	}
	if (srv->sets[i].ctx != SSL_get_SSL_CTX(s) && SSL_set_SSL_CTX(s, srv->sets[i].ctx) == NULL) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	/* SSL_set_SSL_CTX carries the new context's sid_ctx over only when the
	 * connection's equals the old context's; say it outright, so the
	 * connection is bound to its listener whatever set SNI picked. */
	if (SSL_set_session_id_context(s, srv->sid_ctx, sizeof(srv->sid_ctx)) != 1) {
		*alert = SSL_AD_INTERNAL_ERROR;
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
    unsigned int inlen, void *arg)
{
	struct tls_server *srv = arg;
	unsigned char *sel;

	(void)s;
	/* Our order wins; a client offering only protocols we do not speak gets
	 * the no_application_protocol alert (RFC 7301 §3.2). */
	if (SSL_select_next_proto(&sel, outlen, srv->alpn, (unsigned int)srv->alpn_len, in, inlen)
	    != OPENSSL_NPN_NEGOTIATED) {
		BUMP(alpn_refused);
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* Called only when the client asked for status, after the certificate was
 * chosen; staples the chosen certificate's response. */
static int ocsp_cb(SSL *s, void *arg)
{
	const struct tls_certset *set = arg;
	X509 *x = SSL_get_certificate(s);
	uint8_t *copy;

	for (int i = 0; i < 2; i++) {
		const struct tls_cert *c = &set->cert[i];

		if (c->x509 == NULL || c->x509 != x || c->ocsp == NULL)
			continue;
		/* OpenSSL takes ownership of the copy. */
		if ((copy = OPENSSL_memdup(c->ocsp, c->ocsp_len)) == NULL)
			return SSL_TLSEXT_ERR_NOACK;
		if (SSL_set_tlsext_status_ocsp_resp(s, copy, (long)c->ocsp_len) != 1) {
			OPENSSL_free(copy);
			return SSL_TLSEXT_ERR_NOACK;
		}
		BUMP(ocsp_stapled);
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

static int ticket_cb(SSL *s, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
    EVP_MAC_CTX *hctx, int enc)
{
	struct tls_server *srv = SSL_CTX_get_app_data(SSL_get_SSL_CTX(s));

	return tls_tickets_evp_cb(srv->keys, key_name, iv, cctx, hctx, enc);
}

/* ---- building a server ---------------------------------------------------- */

/* The protocol policy shared by server and client contexts. */
static int ctx_policy(SSL_CTX *ctx)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, CIPHERS_TLS12) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, GROUPS) != 1)
		return -1;
	/* No renegotiation (TLS 1.3 has none): client-initiated, it lets one
	 * client make the server do full handshakes at will, and HTTP/1.1 here
	 * never needs it (client certificates are asked for up front). */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* Intermediate profile: the client knows its hardware (AES-NI or not)
	 * best. Tickets are ours (tls_tickets.c), so they stay on. */
	SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET |
	    SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
	/* Idle connections keep no record buffers; writes come from a struct
	 * buf that may be compacted between retries. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	return 0;
}

static SSL_CTX *server_ctx_new(struct tls_server *srv, struct tls_certset *set,
    const struct tls_listener_conf *conf, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL || ctx_policy(ctx) != 0) {
		ssl_errf(err, errlen, "TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_app_data(ctx, srv);
	/* Resumption by tickets only: a session-id cache would be per node
	 * and would not survive a failover. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_set_session_id_context(ctx, srv->sid_ctx, sizeof(srv->sid_ctx)) != 1) {
		ssl_errf(err, errlen, "TLS context");
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (conf->session_timeout_s != 0)
		SSL_CTX_set_timeout(ctx, (long)conf->session_timeout_s);
	SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
	SSL_CTX_set_tlsext_servername_arg(ctx, srv);
	if (srv->alpn_len > 0)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, srv);
	SSL_CTX_set_tlsext_status_cb(ctx, ocsp_cb);
	SSL_CTX_set_tlsext_status_arg(ctx, set);
	if (conf->client_ca_file != NULL) {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, conf->client_ca_file, NULL) != 1 ||
		    (names = SSL_load_client_CA_file(conf->client_ca_file)) == NULL) {
			ssl_errf(err, errlen, conf->client_ca_file);
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE |
		    (conf->require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	}
	return ctx;
}

static void server_free(struct tls_server *srv)
{
	for (size_t i = 0; i < srv->nsets; i++) {
		struct tls_certset *set = &srv->sets[i];

		SSL_CTX_free(set->ctx);
		free(set->namekey);
		for (int k = 0; k < 2; k++) {
			X509_free(set->cert[k].x509);
			free(set->cert[k].ocsp);
		}
	}
	free(srv->sets);
	if (srv->names != NULL)
		htab_free(srv->names, NULL);
	for (size_t i = 0; i < srv->nnames; i++)
		free(srv->namelist[i]);
	free(srv->namelist);
	free(srv);
}

static char *join_names(char **v, int n)
{
	size_t len = 1;
	char *s;

	for (int i = 0; i < n; i++)
		len += strlen(v[i]) + 1;
	if ((s = malloc(len)) == NULL)
		return NULL;
	s[0] = '\0';
	for (int i = 0; i < n; i++) {
		strcat(s, v[i]);
		strcat(s, "\n");
	}
	return s;
}

/* Registers a set's names for SNI; an earlier set keeps a name it shares. */
static int add_names(struct tls_server *srv, size_t idx, char **v, int n)
{
	for (int i = 0; i < n; i++) {
		char **nl;

		if (htab_get(srv->names, v[i], strlen(v[i])) != NULL)
			continue;
		if (htab_put(srv->names, v[i], strlen(v[i]), (void *)(uintptr_t)(idx + 1)) != 0 ||
		    (nl = realloc(srv->namelist, sizeof(*nl) * (srv->nnames + 1))) == NULL)
			return -1;
		srv->namelist = nl;
		if ((nl[srv->nnames] = strdup(v[i])) == NULL)
			return -1;
		srv->nnames++;
	}
	return 0;
}

/* Exact names before wildcards, each group in configuration order. */
static int order_names(struct tls_server *srv)
{
	char **v;
	size_t n = 0;

	if (srv->nnames == 0)
		return 0;
	if ((v = malloc(sizeof(*v) * srv->nnames)) == NULL)
		return -1;
	for (int wild = 0; wild <= 1; wild++)
		for (size_t i = 0; i < srv->nnames; i++)
			if ((srv->namelist[i][0] == '*') == wild)
				v[n++] = srv->namelist[i];
	free(srv->namelist);
	srv->namelist = v;
	return 0;
}

/* Loads one certificate into its set (a new one or the set with the same
 * names), taking the set's slot for its key type. */
static int add_cert(struct tls_server *srv, const struct tls_listener_conf *conf,
    const struct tls_cert_conf *cc, char *err, size_t errlen)
{
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	EVP_PKEY *pk = NULL;
	struct tls_certset *set = NULL;
	struct tls_cert tc = { 0 };
	char **names = NULL, *namekey = NULL;
	int nnames = 0, kt, rc = -1;
	size_t si;

	if (cc->cert_file == NULL || cc->key_file == NULL) {
		snprintf(err, errlen, "certificate entry needs both a cert and a key file");
		return -1;
	}
	if (load_certs(cc->cert_file, &leaf, &chain, err, errlen) != 0)
		return -1;
	if ((pk = load_key(cc->key_file, err, errlen)) == NULL)
		goto out;
	if (X509_check_private_key(leaf, pk) != 1) {
		snprintf(err, errlen, "%s: private key does not match certificate %s", cc->key_file, cc->cert_file);
		ERR_clear_error();
		goto out;
	}
	if ((kt = key_type(pk, cc->key_file, err, errlen)) < 0)
		goto out;
	if (cc->ocsp_file != NULL && load_ocsp(cc->ocsp_file, leaf, chain, &tc, err, errlen) != 0)
		goto out;
	if ((nnames = cert_names(leaf, &names, cc->cert_file, err, errlen)) < 0) {
		nnames = 0;
		goto out;
	}
	if ((namekey = join_names(names, nnames)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", cc->cert_file);
		goto out;
	}
	for (si = 0; si < srv->nsets; si++)
		if (strcmp(srv->sets[si].namekey, namekey) == 0)
			break;
	if (si == srv->nsets) {
		struct tls_certset *ns = realloc(srv->sets, sizeof(*ns) * (srv->nsets + 1));

		if (ns == NULL) {
			snprintf(err, errlen, "%s: out of memory", cc->cert_file);
			goto out;
		}
		srv->sets = ns;
		set = &srv->sets[srv->nsets];
		memset(set, 0, sizeof(*set));
		set->namekey = namekey;
		namekey = NULL;
		srv->nsets++;
		/* SSL_CTX status args point at the set: realloc moved them. */
		for (size_t i = 0; i + 1 < srv->nsets; i++)
			SSL_CTX_set_tlsext_status_arg(srv->sets[i].ctx, &srv->sets[i]);
		if ((set->ctx = server_ctx_new(srv, set, conf, err, errlen)) == NULL)
			goto out;
		if (add_names(srv, si, names, nnames) != 0) {
			snprintf(err, errlen, "%s: out of memory", cc->cert_file);
			goto out;
		}
	}
	set = &srv->sets[si];
	if (set->cert[kt].x509 != NULL) {
		snprintf(err, errlen, "%s: a second %s certificate for the same names as %s", cc->cert_file,
		    kt == KT_EC ? "ECDSA" : "RSA", set->file[kt]);
		goto out;
	}
	if (SSL_CTX_use_cert_and_key(set->ctx, leaf, pk, chain, 1) != 1) {
		ssl_errf(err, errlen, cc->cert_file);
		goto out;
	}
	set->file[kt] = cc->cert_file;
	set->cert[kt] = tc;
	set->cert[kt].x509 = leaf;
	leaf = NULL;
	tc.ocsp = NULL;
	rc = 0;
out:
	for (int i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(namekey);
	free(tc.ocsp);
	EVP_PKEY_free(pk);
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	return rc;
}

struct tls_server *tls_server_new(const struct tls_listener_conf *conf, struct tls_ticket_keys *keys,
    char *err, size_t errlen)
{
	struct tls_server *srv;

	pthread_once(&once, init_once);
	if (conn_idx < 0) {
		snprintf(err, errlen, "TLS: cannot allocate the connection data index");
		return NULL;
	}
	if (conf->ncerts == 0 || conf->certs == NULL) {
		snprintf(err, errlen, "TLS listener needs at least one certificate");
		return NULL;
	}
	if (keys == NULL) {
		snprintf(err, errlen, "TLS listener needs a ticket keyring");
		return NULL;
	}
	if ((srv = calloc(1, sizeof(*srv))) == NULL || (srv->names = htab_new(16)) == NULL) {
		snprintf(err, errlen, "out of memory");
		free(srv);
		return NULL;
	}
	atomic_init(&srv->refs, 1);
	srv->keys = keys;
	srv->client_auth = conf->client_ca_file == NULL ? TLS_CLIENT_AUTH_NONE
	    : conf->require_client_cert ? TLS_CLIENT_AUTH_REQUIRED : TLS_CLIENT_AUTH_OPTIONAL;
	if (sid_ctx_digest(conf->identity, srv->client_auth, conf->client_ca_file, srv->sid_ctx, err, errlen) != 0)
		goto fail;
	if (alpn_wire(conf->alpn != NULL ? conf->alpn : conf->http2 ? "h2,http/1.1" : "http/1.1", srv->alpn, sizeof(srv->alpn), &srv->alpn_len) != 0) {
		snprintf(err, errlen, "ALPN list \"%s\": empty or overlong protocol name", conf->alpn);
		goto fail;
	}
	for (size_t i = 0; i < conf->ncerts; i++)
		if (add_cert(srv, conf, &conf->certs[i], err, errlen) != 0)
			goto fail;
	if (order_names(srv) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return srv;
fail:
	server_free(srv);
	return NULL;
}

struct tls_server *tls_server_ref(struct tls_server *srv)
{
	atomic_fetch_add_explicit(&srv->refs, 1, memory_order_relaxed);
	return srv;
}

void tls_server_unref(struct tls_server *srv)
{
	if (srv != NULL && atomic_fetch_sub_explicit(&srv->refs, 1, memory_order_acq_rel) == 1)
		server_free(srv);
}

size_t tls_server_names(const struct tls_server *srv, const char **names, size_t max)
{
	size_t n = srv->nnames < max ? srv->nnames : max;

	for (size_t i = 0; i < n; i++)
		names[i] = srv->namelist[i];
	return srv->nnames;
}

/* ---- backends ------------------------------------------------------------- */

struct tls_client *tls_client_new(const char *ca_file, int verify, const char *sni, char *err, size_t errlen)
{
	static const uint8_t alpn[] = "\x08http/1.1";
	struct tls_client *cli;

	pthread_once(&once, init_once);
	if ((cli = calloc(1, sizeof(*cli))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cli->verify = verify != 0;
	if (sni != NULL && (cli->sni = strdup(sni)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((cli->ctx = SSL_CTX_new(TLS_client_method())) == NULL || ctx_policy(cli->ctx) != 0) {
		ssl_errf(err, errlen, "backend TLS context");
		goto fail;
	}
	/* SSL_CTX_set_alpn_protos returns 0 on success. */
	if (SSL_CTX_set_alpn_protos(cli->ctx, alpn, sizeof(alpn) - 1) != 0) {
		ssl_errf(err, errlen, "backend TLS context");
		goto fail;
	}
	if (cli->verify) {
		int ok = ca_file != NULL ? SSL_CTX_load_verify_locations(cli->ctx, ca_file, NULL)
		    : SSL_CTX_set_default_verify_paths(cli->ctx);

		if (ok != 1) {
			ssl_errf(err, errlen, ca_file != NULL ? ca_file : "system CA store");
			goto fail;
		}
		SSL_CTX_set_verify(cli->ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(cli->ctx, SSL_VERIFY_NONE, NULL);
	}
	return cli;
fail:
	tls_client_free(cli);
	return NULL;
}

void tls_client_free(struct tls_client *cli)
{
	if (cli == NULL)
		return;
	SSL_CTX_free(cli->ctx);
	free(cli->sni);
	free(cli);
}

/* ---- connections ---------------------------------------------------------- */

SSL *tls_conn_new(struct tls_server *srv, int fd)
{
	SSL *ssl;

	/* The first set's context: the default certificate, until SNI says otherwise. */
	if ((ssl = SSL_new(srv->sets[0].ctx)) == NULL)
		goto fail;
	if (SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_session_id_context(ssl, srv->sid_ctx, sizeof(srv->sid_ctx)) != 1)
		goto fail_free;
	tls_server_ref(srv);
	if (SSL_set_ex_data(ssl, conn_idx, srv) != 1) {
		tls_server_unref(srv);
		goto fail_free;
	}
	SSL_set_accept_state(ssl);
	return ssl;
fail_free:
	SSL_free(ssl);
fail:
	ERR_clear_error();
	return NULL;
}

/* The backend's address as text for X509_VERIFY_PARAM_set1_ip_asc, or -1
 * for a family that has none (AF_UNIX). */
static int addr_text(const struct sockaddr *sa, char *buf, size_t len)
{
	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
		    (socklen_t)len) != NULL ? 0 : -1;
	if (sa->sa_family == AF_INET6)
		return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
		    (socklen_t)len) != NULL ? 0 : -1;
	return -1;
}

SSL *tls_client_conn_new(struct tls_client *cli, int fd, const struct sockaddr *peer)
{
	unsigned char ip[16];
	char addr[INET6_ADDRSTRLEN];
	int is_ip;
	SSL *ssl;

	if ((ssl = SSL_new(cli->ctx)) == NULL)
		goto fail;
	if (SSL_set_fd(ssl, fd) != 1)
		goto fail_free;
	SSL_set_connect_state(ssl);
	if (cli->sni != NULL) {
		is_ip = inet_pton(AF_INET, cli->sni, ip) == 1 || inet_pton(AF_INET6, cli->sni, ip) == 1;
		/* RFC 6066 §3: no literal IP addresses in server_name; such a
		 * backend is checked against its IP subjectAltName instead. */
		if (!is_ip && SSL_set_tlsext_host_name(ssl, cli->sni) != 1)
			goto fail_free;
		if (cli->verify) {
			X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);

			if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, cli->sni) != 1 : SSL_set1_host(ssl, cli->sni) != 1)
				goto fail_free;
		}
	} else if (cli->verify) {
		/* No name configured: the certificate must be for the address
		 * we connected to (an iPAddress subjectAltName, RFC 6125 §1.7.2,
		 * RFC 5280 §4.2.1.6). A chain check alone would take any
		 * certificate the CA set trusts, for any name: with the system
		 * store, any public site's. No address to check: refuse. */
		if (addr_text(peer, addr, sizeof(addr)) != 0 ||
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), addr) != 1)
			goto fail_free;
	}
	return ssl;
fail_free:
	SSL_free(ssl);
fail:
	ERR_clear_error();
	return NULL;
}

void tls_conn_free(SSL *ssl)
{
	SSL_free(ssl);          /* drops the tls_server reference through conn_exfree */
}

static int map_error(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return TLS_AGAIN_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_AGAIN_WRITE;
	default:
		return TLS_ERROR;
	}
}

static void count_failure(SSL *ssl)
{
	unsigned long e = ERR_peek_error();
	int reason = ERR_GET_REASON(e);

	if (!SSL_is_server(ssl)) {
		long vr = SSL_get_verify_result(ssl);

		BUMP(backend_failed);
		if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
			BUMP(backend_failed_name);
		return;
	}
	BUMP(failed);
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_VERSION_TOO_LOW))
		BUMP(failed_version);
	else if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE || reason == SSL_R_CERTIFICATE_VERIFY_FAILED))
		BUMP(failed_client_cert);
}

/* What a finished handshake proves about the client, checked again
 * whichever way it finished. A full handshake under SSL_VERIFY_PEER has
 * already done this; a resumed one has not: the peer certificate and the
 * verify result come out of the session (the ticket), not from this
 * handshake. The session id context keeps foreign sessions out
 * (sid_ctx_digest); this check keeps the listener's policy the last word
 * should anything let one in. 0: the client may proceed; else the
 * SSL_R_ reason a full handshake would have refused it with. */
static int client_auth_ok(const SSL *ssl)
{
	const struct tls_server *srv = SSL_get_ex_data(ssl, conn_idx);

	if (srv == NULL || srv->client_auth == TLS_CLIENT_AUTH_NONE)
		return 0;
	if (SSL_get0_peer_certificate(ssl) == NULL)
		return srv->client_auth == TLS_CLIENT_AUTH_REQUIRED ? SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE : 0;
	return SSL_get_verify_result(ssl) == X509_V_OK ? 0 : SSL_R_CERTIFICATE_VERIFY_FAILED;
}

int tls_handshake(SSL *ssl)
{
	int r, rc, why;

	/* Idempotent once done, so a caller's retry never counts twice. */
	if (SSL_is_init_finished(ssl))
		return SSL_is_server(ssl) && client_auth_ok(ssl) != 0 ? TLS_ERROR : TLS_OK;
	ERR_clear_error();
	if ((r = SSL_do_handshake(ssl)) == 1) {
		if (!SSL_is_server(ssl)) {
			BUMP(backend_handshakes);
		} else if ((why = client_auth_ok(ssl)) != 0) {
			BUMP(failed);
			BUMP(failed_client_cert);
			BUMP(client_cert_recheck);
			ERR_raise(ERR_LIB_SSL, why);            /* for tls_conn_error */
			return TLS_ERROR;
		} else {
			BUMP(handshakes);
			if (SSL_session_reused(ssl))
				BUMP(resumed);
		}
		return TLS_OK;
	}
	if ((rc = map_error(ssl, r)) == TLS_ERROR)
		count_failure(ssl);
	return rc;
}

ssize_t tls_read(SSL *ssl, void *buf, size_t len)
{
	size_t n = 0;
	int r, err;
	unsigned long e;

	ERR_clear_error();
	if ((r = SSL_read_ex(ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	switch ((err = SSL_get_error(ssl, r))) {
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_WANT_READ:
		return TLS_AGAIN_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_AGAIN_WRITE;
	case SSL_ERROR_SSL:
		/* A TCP FIN without close_notify: end of stream all the same
		 * (see tls.h); tls_close_notify_received() says which. */
		e = ERR_peek_error();
		if (ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			return 0;
		}
		return TLS_ERROR;
	default:
		return TLS_ERROR;
	}
}

ssize_t tls_write(SSL *ssl, const void *buf, size_t len)
{
	size_t n = 0;
	int r;

	if (len == 0)
		return 0;
	ERR_clear_error();
	if ((r = SSL_write_ex(ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	return map_error(ssl, r);
}

int tls_shutdown(SSL *ssl)
{
	int r;

	/* Before the handshake finished there is no session to close. */
	if (!SSL_is_init_finished(ssl))
		return TLS_OK;
	ERR_clear_error();
	if ((r = SSL_shutdown(ssl)) >= 0)
		return TLS_OK;          /* 0: ours sent, theirs not awaited */
	return map_error(ssl, r);
}

int tls_pending(const SSL *ssl)
{
	return SSL_has_pending(ssl);
}

int tls_close_notify_received(const SSL *ssl)
{
	return (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

const char *tls_conn_error(const SSL *ssl, char *buf, size_t len)
{
	unsigned long e = ERR_peek_error();
	long vr = SSL_get_verify_result(ssl);
	const char *why;

	if (vr != X509_V_OK && (e == 0 || (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)))
		snprintf(buf, len, "certificate verify failed: %s", X509_verify_cert_error_string(vr));
	else if (e != 0 && (why = ERR_reason_error_string(e)) != NULL)
		snprintf(buf, len, "%s", why);
	else if (e != 0)
		snprintf(buf, len, "OpenSSL error %lx", e);
	else
		snprintf(buf, len, "connection reset or closed by peer");
	ERR_clear_error();
	return buf;
}

const char *tls_conn_protocol(const SSL *ssl)
{
	return SSL_get_version(ssl);
}

const char *tls_conn_cipher(const SSL *ssl)
{
	return SSL_get_cipher_name(ssl);
}

size_t tls_conn_alpn(const SSL *ssl, const uint8_t **proto)
{
	unsigned int len = 0;

	*proto = NULL;
	SSL_get0_alpn_selected(ssl, proto, &len);
	return len;
}

const char *tls_conn_sni(const SSL *ssl)
{
	return SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}

int tls_conn_resumed(const SSL *ssl)
{
	return SSL_session_reused(ssl) == 1;
}

int tls_conn_client_subject(const SSL *ssl, char *buf, size_t len)
{
	X509 *x = SSL_get0_peer_certificate(ssl);

	if (len == 0 || x == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
		return -1;
	x509_subject(x, buf, len);
	return 0;
}
