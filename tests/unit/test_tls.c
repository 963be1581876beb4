/*
 * tests/unit/test_tls.c — proxyd/tls and proxyd/tls_tickets with real handshakes.
 *
 * Every case runs OpenSSL on both ends: a client SSL configured by the test
 * (versions, signature algorithms, ALPN, a saved session, a client
 * certificate) talks over a nonblocking socketpair to a server SSL made by
 * tls_conn_new, both driven through tls_handshake/tls_read/tls_write exactly
 * as a worker's event loop would. The PKI is made fresh at start by
 * tests/tools/mkcerts.sh into a mkdtemp directory and removed at the end.
 * Resumption "on another node" is a second tls_server (and, for hacd's
 * case, a second keyring fed the same TicketKey) — what a second proxyd
 * holds. Cases are tables of (client setup) -> (what each side saw).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "lib/log.h"
#include "lib/secfile.h"
#include "proxyd/tls.h"
#include "proxyd/tls_tickets.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define HS_ROUNDS 200          /* handshake ping-pong bound; a handshake needs < 10 */

static char pki[PATH_MAX];

/* Paths into the PKI directory; a small ring so several can be live at once. */
static const char *P(const char *name)
{
	static char ring[32][PATH_MAX + 64];
	static unsigned next;
	char *p = ring[next++ % NELEM(ring)];

	snprintf(p, sizeof(ring[0]), "%s/%s", pki, name);
	return p;
}

/* ---- PKI lifecycle ------------------------------------------------------ */

/* The script from $TANDEM_SRCDIR, else from the current directory or the
 * nearest parent holding tests/tools (tests/run runs from the top). */
static int find_script(char *out, size_t len)
{
	const char *src = getenv("TANDEM_SRCDIR");
	char dir[PATH_MAX];

	if (src != NULL) {
		snprintf(out, len, "%s/tests/tools/mkcerts.sh", src);
		return access(out, R_OK) == 0 ? 0 : -1;
	}
	if (getcwd(dir, sizeof(dir)) == NULL)
		return -1;
	for (;;) {
		snprintf(out, len, "%s/tests/tools/mkcerts.sh", dir);
		if (access(out, R_OK) == 0)
			return 0;
		char *slash = strrchr(dir, '/');
		if (slash == NULL || slash == dir)
			return -1;
		*slash = '\0';
	}
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	char script[PATH_MAX + 32], cmd[3 * PATH_MAX];
	int rc;

	(void)state;
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_LVL_WARN);
	if (find_script(script, sizeof(script)) != 0) {
		fprintf(stderr, "test_tls: tests/tools/mkcerts.sh not found (run from the source tree or set TANDEM_SRCDIR)\n");
		return -1;
	}
	snprintf(pki, sizeof(pki), "/tmp/tandem-tls-XXXXXX");
	if (mkdtemp(pki) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "sh '%s' '%s'", script, pki);
	rc = system(cmd);
	if (rc != 0) {
		fprintf(stderr, "test_tls: %s failed (%d)\n", cmd, rc);
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	if (pki[0] != '\0')
		nftw(pki, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

/* ---- a client and a handshake driver ------------------------------------ */

static SSL_SESSION *captured;          /* the client's newest session (ticket) */
static SSL_SESSION *last_sess;         /* the client's session at the end of the last hs() */
static uint8_t ocsp_seen[4096];
static long ocsp_seen_len;

static int new_sess_cb(SSL *ssl, SSL_SESSION *sess)
{
	(void)ssl;
	SSL_SESSION_free(captured);
	captured = sess;               /* returning 1 keeps OpenSSL's reference for us */
	return 1;
}

static int client_status_cb(SSL *ssl, void *arg)
{
	const unsigned char *p;
	long n = SSL_get_tlsext_status_ocsp_resp(ssl, &p);

	(void)arg;
	ocsp_seen_len = n;
	if (n > 0 && (size_t)n <= sizeof(ocsp_seen))
		memcpy(ocsp_seen, p, (size_t)n);
	return 1;
}

/* A client that trusts the test root, so every handshake also proves the
 * server sent its chain (the root does not sign leaves directly). */
static SSL_CTX *client_ctx(int minv, int maxv)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	assert_non_null(c);
	assert_int_equal(SSL_CTX_set_min_proto_version(c, minv), 1);
	assert_int_equal(SSL_CTX_set_max_proto_version(c, maxv), 1);
	if (minv < TLS1_2_VERSION) {
		/* Let the client really offer the old protocol, so the refusal is the server's. */
		SSL_CTX_set_security_level(c, 0);
		assert_int_equal(SSL_CTX_set_cipher_list(c, "DEFAULT:@SECLEVEL=0"), 1);
	}
	assert_int_equal(SSL_CTX_load_verify_locations(c, P("root.crt"), NULL), 1);
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(c, new_sess_cb);
	SSL_CTX_set_tlsext_status_cb(c, client_status_cb);
	return c;
}

struct hs_opts {
	const char *sni;
	const char *sigalgs;          /* client signature algorithms */
	const char *ciphers12;        /* client TLS 1.2 cipher list */
	const char *alpn;             /* wire format */
	SSL_SESSION *sess;            /* offer this session (ticket) */
	int ocsp;                     /* ask for a stapled OCSP response */
	const char *client_cert;      /* PKI file stem: "client" -> client.crt/.key */
	const char *srv_sid_ctx;      /* force the server connection's session id context */
};

struct hs_res {
	int srv_rc, cli_rc;
	int srv_resumed, cli_resumed;
	char cn[128];                 /* CN of the certificate the client got */
	int keytype;                  /* EVP_PKEY_EC / EVP_PKEY_RSA */
	char alpn[32];
	char proto[16];
	char sni[64];                 /* what the server saw */
	char srv_err[160], cli_err[160];
	char subject[128];            /* client certificate subject, server side */
	int has_subject;
	int srv_again;                /* server handshake AGAIN results seen */
	uint8_t ticket_name[16];      /* key name of the client's ticket after the exchange */
	int has_ticket;
};

static void socketpair_nb(int fd[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fd), 0);
}

/* Runs both handshakes to completion or failure, as two event loops would:
 * each side is called again only while it reports AGAIN. */
static void drive(SSL *srv, SSL *cli, struct hs_res *r)
{
	int s = TLS_AGAIN_READ, c = TLS_AGAIN_READ;

	for (int i = 0; i < HS_ROUNDS && (s < TLS_ERROR || c < TLS_ERROR); i++) {
		if (s < TLS_ERROR) {
			s = tls_handshake(srv);
			if (s < TLS_ERROR)
				r->srv_again++;
			if (s == TLS_ERROR)      /* the error queue is per thread: read it now */
				tls_conn_error(srv, r->srv_err, sizeof(r->srv_err));
		}
		if (c < TLS_ERROR) {
			c = tls_handshake(cli);
			if (c == TLS_ERROR)
				tls_conn_error(cli, r->cli_err, sizeof(r->cli_err));
		}
	}
	r->srv_rc = s;
	r->cli_rc = c;
}

static void collect(SSL *srv, SSL *cli, struct hs_res *r)
{
	X509 *peer = SSL_get0_peer_certificate(cli);
	const uint8_t *a;
	size_t alen;
	const char *sni;

	if (peer != NULL) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, r->cn, sizeof(r->cn));
		r->keytype = EVP_PKEY_get_base_id(X509_get0_pubkey(peer));
	}
	if (r->srv_rc != TLS_OK)
		return;
	r->srv_resumed = tls_conn_resumed(srv);
	r->cli_resumed = SSL_session_reused(cli);
	alen = tls_conn_alpn(srv, &a);
	if (alen > 0 && alen < sizeof(r->alpn))
		memcpy(r->alpn, a, alen);
	snprintf(r->proto, sizeof(r->proto), "%s", tls_conn_protocol(srv));
	if ((sni = tls_conn_sni(srv)) != NULL)
		snprintf(r->sni, sizeof(r->sni), "%s", sni);
	r->has_subject = tls_conn_client_subject(srv, r->subject, sizeof(r->subject)) == 0;
}

/* After the handshake: the server sends "ok", the client reads it (which
 * also processes TLS 1.3 NewSessionTickets sent ahead of it). */
static void exchange(SSL *srv, SSL *cli)
{
	char buf[16];
	ssize_t n = TLS_AGAIN_READ;

	assert_int_equal(tls_write(srv, "ok", 2), 2);
	for (int i = 0; i < HS_ROUNDS && n < 0; i++) {
		n = tls_read(cli, buf, sizeof(buf));
		assert_true(n == TLS_AGAIN_READ || n == 2);
	}
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "ok", 2);
}

/* One connection: client from cctx with opts, server from srv. */
static void hs(struct tls_server *srv, SSL_CTX *cctx, const struct hs_opts *o, struct hs_res *r)
{
	int fd[2];
	SSL *s, *c;

	memset(r, 0, sizeof(*r));
	socketpair_nb(fd);
	assert_non_null(s = tls_conn_new(srv, fd[0]));
	if (o->srv_sid_ctx != NULL)
		assert_int_equal(SSL_set_session_id_context(s, (const uint8_t *)o->srv_sid_ctx,
		    (unsigned)strlen(o->srv_sid_ctx)), 1);
	assert_non_null(c = SSL_new(cctx));
	assert_int_equal(SSL_set_fd(c, fd[1]), 1);
	SSL_set_connect_state(c);
	if (o->sni != NULL)
		assert_int_equal(SSL_set_tlsext_host_name(c, o->sni), 1);
	if (o->sigalgs != NULL)
		assert_int_equal(SSL_set1_sigalgs_list(c, o->sigalgs), 1);
	if (o->ciphers12 != NULL)
		assert_int_equal(SSL_set_cipher_list(c, o->ciphers12), 1);
	if (o->alpn != NULL)
		assert_int_equal(SSL_set_alpn_protos(c, (const uint8_t *)o->alpn, (unsigned)strlen(o->alpn)), 0);
	if (o->sess != NULL)
		assert_int_equal(SSL_set_session(c, o->sess), 1);
	if (o->ocsp)
		assert_int_equal(SSL_set_tlsext_status_type(c, TLSEXT_STATUSTYPE_ocsp), 1);
	if (o->client_cert != NULL) {
		char crt[64], key[64];

		snprintf(crt, sizeof(crt), "%s.crt", o->client_cert);
		snprintf(key, sizeof(key), "%s.key", o->client_cert);
		assert_int_equal(SSL_use_certificate_file(c, P(crt), SSL_FILETYPE_PEM), 1);
		assert_int_equal(SSL_use_PrivateKey_file(c, P(key), SSL_FILETYPE_PEM), 1);
	}
	ocsp_seen_len = -2;
	drive(s, c, r);
	collect(s, c, r);
	if (r->srv_rc == TLS_OK && r->cli_rc == TLS_OK) {
		const unsigned char *tick;
		size_t tlen = 0;

		exchange(s, c);
		/* OpenSSL tickets begin with the 16-byte name of their key. */
		SSL_SESSION_get0_ticket(SSL_get_session(c), &tick, &tlen);
		if (tlen >= sizeof(r->ticket_name))
			memcpy(r->ticket_name, tick, sizeof(r->ticket_name));
		r->has_ticket = tlen > 0;
		SSL_SESSION_free(last_sess);
		last_sess = SSL_get1_session(c);
		/* Both close properly: a client that frees a connection without
		 * sending close_notify marks its session not resumable. */
		assert_int_equal(tls_shutdown(s), TLS_OK);
		assert_true(SSL_shutdown(c) >= 0);
	}
	tls_conn_free(s);
	SSL_free(c);
	close(fd[0]);
	close(fd[1]);
}

static struct tls_server *server(const struct tls_cert_conf *certs, size_t n, struct tls_ticket_keys *keys)
{
	struct tls_listener_conf lc = { .certs = certs, .ncerts = n };
	char err[512] = "";
	struct tls_server *srv = tls_server_new(&lc, keys, err, sizeof(err));

	if (srv == NULL)
		fail_msg("tls_server_new: %s", err);
	return srv;
}

/* The usual listener: a.test (ECDSA and RSA), *.b.test. */
static struct tls_server *std_server(struct tls_ticket_keys *keys)
{
	struct tls_cert_conf certs[] = {
		{ P("a-ecdsa.crt"), P("a-ecdsa.key"), P("a-ecdsa.ocsp") },
		{ P("a-rsa.crt"), P("a-rsa.key"), NULL },
		{ P("b-wild.crt"), P("b-wild.key"), NULL },
	};

	return server(certs, NELEM(certs), keys);
}

static struct tls_ticket_keys *keys_rotated(void)
{
	struct tls_ticket_keys *k = tls_tickets_new();

	assert_non_null(k);
	assert_int_equal(tls_tickets_rotate(k, 1000, 0), 0);
	return k;
}

/* ---- certificate selection --------------------------------------------- */

static void test_sni_selects_certificate(void **state)
{
	static const struct {
		int order;                 /* 0: a.test first; 1: *.b.test first */
		const char *sni;
		const char *want_cn;
		int want_default;          /* counted as the default certificate */
	} cases[] = {
		{ 0, "a.test",       "a.test",   0 },
		{ 0, "A.Test",       "a.test",   0 },   /* RFC 4343: case-insensitive */
		{ 0, "x.b.test",     "*.b.test", 0 },   /* wildcard, one label */
		{ 0, "WWW.B.TEST",   "*.b.test", 0 },
		{ 0, "b.test",       "a.test",   1 },   /* the wildcard does not cover its apex */
		{ 0, "y.x.b.test",   "a.test",   1 },   /* nor two labels */
		{ 0, "unknown.test", "a.test",   1 },   /* default = first certificate */
		{ 0, NULL,           "a.test",   1 },   /* no SNI */
		{ 1, "unknown.test", "*.b.test", 1 },   /* first in configuration order */
		{ 1, NULL,           "*.b.test", 1 },
		{ 1, "a.test",       "a.test",   0 },
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_cert_conf rev[] = {
		{ P("b-wild.crt"), P("b-wild.key"), NULL },
		{ P("a-ecdsa.crt"), P("a-ecdsa.key"), NULL },
	};
	struct tls_server *srv[2] = { std_server(k), server(rev, NELEM(rev), k) };
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	const char *names[8];

	(void)state;
	assert_int_equal(tls_server_names(srv[0], names, NELEM(names)), 2);
	assert_string_equal(names[0], "a.test");
	assert_string_equal(names[1], "*.b.test");
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct hs_opts o = { .sni = cases[i].sni };
		struct tls_stats before, after;
		struct hs_res r;

		tls_stats_get(&before);
		hs(srv[cases[i].order], c, &o, &r);
		tls_stats_get(&after);
		if (r.srv_rc != TLS_OK || r.cli_rc != TLS_OK)
			fail_msg("case %zu (%s): handshake %s/%s: %s %s", i, cases[i].sni ? cases[i].sni : "-",
			    tls_rc_str(r.srv_rc), tls_rc_str(r.cli_rc), r.srv_err, r.cli_err);
		if (strcmp(r.cn, cases[i].want_cn) != 0)
			fail_msg("case %zu (%s): got certificate %s, want %s", i,
			    cases[i].sni ? cases[i].sni : "-", r.cn, cases[i].want_cn);
		assert_int_equal(after.sni_default - before.sni_default, (uint64_t)cases[i].want_default);
		assert_string_equal(r.sni, cases[i].sni != NULL ? cases[i].sni : "");
	}
	SSL_CTX_free(c);
	tls_server_unref(srv[0]);
	tls_server_unref(srv[1]);
	tls_tickets_free(k);
}

static void test_key_type_by_client_sigalgs(void **state)
{
	static const struct {
		int maxv;
		const char *sigalgs;
		const char *ciphers12;
		int want;
	} cases[] = {
		{ TLS1_3_VERSION, "ecdsa_secp256r1_sha256", NULL, EVP_PKEY_EC },
		{ TLS1_3_VERSION, "rsa_pss_rsae_sha256", NULL, EVP_PKEY_RSA },
		{ TLS1_3_VERSION, "rsa_pss_rsae_sha256:ecdsa_secp256r1_sha256", NULL, EVP_PKEY_RSA },
		{ TLS1_2_VERSION, NULL, "ECDHE-ECDSA-AES128-GCM-SHA256", EVP_PKEY_EC },
		{ TLS1_2_VERSION, NULL, "ECDHE-RSA-AES128-GCM-SHA256", EVP_PKEY_RSA },
		{ TLS1_2_VERSION, NULL, "ECDHE-RSA-CHACHA20-POLY1305", EVP_PKEY_RSA },
		{ TLS1_2_VERSION, "RSA+SHA256", NULL, EVP_PKEY_RSA },
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		SSL_CTX *c = client_ctx(TLS1_2_VERSION, cases[i].maxv);
		struct hs_opts o = { .sni = "a.test", .sigalgs = cases[i].sigalgs, .ciphers12 = cases[i].ciphers12 };
		struct hs_res r;

		hs(srv, c, &o, &r);
		if (r.srv_rc != TLS_OK || r.cli_rc != TLS_OK)
			fail_msg("case %zu: handshake failed: %s %s", i, r.srv_err, r.cli_err);
		assert_string_equal(r.cn, "a.test");
		if (r.keytype != cases[i].want)
			fail_msg("case %zu: got key type %d, want %d", i, r.keytype, cases[i].want);
		SSL_CTX_free(c);
	}
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* ---- protocol policy ---------------------------------------------------- */

static void test_protocol_versions(void **state)
{
	static const struct {
		int ver;
		int ok;
		const char *proto;
	} cases[] = {
		{ TLS1_VERSION,   0, NULL },
		{ TLS1_1_VERSION, 0, NULL },
		{ TLS1_2_VERSION, 1, "TLSv1.2" },
		{ TLS1_3_VERSION, 1, "TLSv1.3" },
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		SSL_CTX *c = client_ctx(cases[i].ver, cases[i].ver);
		struct hs_opts o = { .sni = "a.test" };
		struct tls_stats before, after;
		struct hs_res r;

		tls_stats_get(&before);
		hs(srv, c, &o, &r);
		tls_stats_get(&after);
		if (cases[i].ok) {
			assert_int_equal(r.srv_rc, TLS_OK);
			assert_int_equal(r.cli_rc, TLS_OK);
			assert_string_equal(r.proto, cases[i].proto);
		} else {
			assert_int_equal(r.srv_rc, TLS_ERROR);
			assert_int_equal(r.cli_rc, TLS_ERROR);
			assert_string_equal(r.srv_err, "unsupported protocol");
			assert_int_equal(after.failed_version - before.failed_version, 1);
			assert_int_equal(after.failed - before.failed, 1);
		}
		SSL_CTX_free(c);
	}
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* TLS 1.2 suites outside the intermediate profile: no static-RSA key
 * exchange, no CBC, no SHA-1 MACs, no 3DES, no anonymous or NULL suites. */
static void test_weak_tls12_ciphers_refused(void **state)
{
	static const struct {
		const char *ciphers;
		int ok;
	} cases[] = {
		{ "AES128-GCM-SHA256", 0 },                 /* RSA key exchange: no forward secrecy */
		{ "ECDHE-RSA-AES128-SHA", 0 },              /* CBC with SHA-1 */
		{ "ECDHE-ECDSA-AES256-SHA384", 0 },         /* CBC */
		{ "ECDHE-RSA-AES128-SHA256", 0 },           /* CBC */
		{ "ECDHE-RSA-NULL-SHA:@SECLEVEL=0", 0 },
		{ "AECDH-AES128-SHA:@SECLEVEL=0", 0 },
		{ "ECDHE-ECDSA-AES256-GCM-SHA384", 1 },
		{ "ECDHE-ECDSA-CHACHA20-POLY1305", 1 },
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
		struct hs_opts o = { .sni = "a.test", .ciphers12 = cases[i].ciphers };
		struct hs_res r;

		SSL_CTX_set_security_level(c, 0);      /* let the client offer anything */

		hs(srv, c, &o, &r);
		if ((r.srv_rc == TLS_OK) != cases[i].ok)
			fail_msg("case %zu (%s): server %s", i, cases[i].ciphers, tls_rc_str(r.srv_rc));
		if (!cases[i].ok)
			assert_string_equal(r.srv_err, "no shared cipher");
		SSL_CTX_free(c);
	}
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* The listener's ALPN setting: a list in our order, or none at all. */
static void test_alpn_config(void **state)
{
	static const struct {
		const char *conf;
		const char *offer;            /* wire format */
		int ok;
		const char *want;
		const char *load_err;         /* refused at load */
	} cases[] = {
		{ "h2,http/1.1", "\x08http/1.1\x02h2", 1, "h2", NULL },  /* our order wins */
		{ "", "\x02h2", 1, "", NULL },                            /* ALPN off: ignored */
		{ "http/1.1,", NULL, 0, NULL, "ALPN list" },
		{ ",", NULL, 0, NULL, "ALPN list" },
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_cert_conf certs[] = { { P("a-ecdsa.crt"), P("a-ecdsa.key"), NULL } };
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct tls_listener_conf lc = { .certs = certs, .ncerts = 1, .alpn = cases[i].conf };
		struct hs_opts o = { .sni = "a.test", .alpn = cases[i].offer };
		char err[256] = "";
		struct tls_server *srv = tls_server_new(&lc, k, err, sizeof(err));
		struct hs_res r;

		if (cases[i].load_err != NULL) {
			assert_null(srv);
			assert_non_null(strstr(err, cases[i].load_err));
			continue;
		}
		if (srv == NULL)
			fail_msg("case %zu: %s", i, err);
		hs(srv, c, &o, &r);
		assert_int_equal(r.srv_rc, TLS_OK);
		assert_string_equal(r.alpn, cases[i].want);
		tls_server_unref(srv);
	}
	SSL_CTX_free(c);
	tls_tickets_free(k);
}

static void test_alpn(void **state)
{
	static const struct {
		const char *offer;          /* wire format */
		int ok;
		const char *want;
	} cases[] = {
		{ "\x08http/1.1", 1, "http/1.1" },
		{ "\x02h2\x08http/1.1", 1, "http/1.1" },
		{ NULL, 1, "" },                       /* no ALPN: fine, HTTP/1.1 assumed */
		{ "\x02h2", 0, NULL },                 /* RFC 7301 §3.2: no_application_protocol */
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct hs_opts o = { .sni = "a.test", .alpn = cases[i].offer };
		struct tls_stats before, after;
		struct hs_res r;

		tls_stats_get(&before);
		hs(srv, c, &o, &r);
		tls_stats_get(&after);
		if (cases[i].ok) {
			assert_int_equal(r.srv_rc, TLS_OK);
			assert_string_equal(r.alpn, cases[i].want);
		} else {
			assert_int_equal(r.srv_rc, TLS_ERROR);
			assert_int_equal(after.alpn_refused - before.alpn_refused, 1);
		}
	}
	SSL_CTX_free(c);
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* ---- load-time refusals ------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
	char buf[8192];
	int fd = open(from, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	assert_true(n > 0);
	close(fd);
	write_file(to, buf, (size_t)n, mode);
}

static void test_load_refusals(void **state)
{
	static const struct {
		const char *cert, *key, *ocsp;
		const char *cert2, *key2;      /* optional second certificate */
		const char *want_file;         /* the message names this file */
		const char *want;              /* and says this */
	} cases[] = {
		{ "expired.crt", "expired.key", NULL, NULL, NULL, "expired.crt", "expired (notAfter Jan  2 00:00:00 2020 GMT)" },
		{ "notyet.crt", "notyet.key", NULL, NULL, NULL, "notyet.crt", "is not yet valid" },
		{ "mismatch.crt", "mismatch.key", NULL, NULL, NULL, "mismatch.key", "private key does not match certificate" },
		{ "a-ecdsa.crt", "open.key", NULL, NULL, NULL, "open.key", "accessible by group or others (mode 0644)" },
		{ "a-ecdsa.crt", "grpw.key", NULL, NULL, NULL, "grpw.key", "accessible by group or others (mode 0620)" },
		{ "a-ecdsa.crt", "other.key", NULL, NULL, NULL, "other.key", "owned by uid" },  /* 0600, not ours */
		{ "a-ecdsa.crt", "missing.key", NULL, NULL, NULL, "missing.key", "No such file or directory" },
		{ "missing.crt", "a-ecdsa.key", NULL, NULL, NULL, "missing.crt", "No such file or directory" },
		{ "a-ecdsa.key", "a-ecdsa.key", NULL, NULL, NULL, "a-ecdsa.key", "no PEM certificate found" },
		{ "a-ecdsa.crt", "a-ecdsa.crt", NULL, NULL, NULL, "a-ecdsa.crt", "no usable PEM private key" },
		{ "a-ecdsa.crt", "a-ecdsa.key", "junk.ocsp", NULL, NULL, "junk.ocsp", "not a DER OCSP response" },
		{ "a-rsa.crt", "a-rsa.key", "a-ecdsa.ocsp", NULL, NULL, "a-ecdsa.ocsp", "not about this certificate" },
		{ "a-ecdsa.crt", "a-ecdsa.key", NULL, "a-ecdsa.crt", "a-ecdsa.key", "a-ecdsa.crt", "a second ECDSA certificate for the same names" },
	};
	struct tls_ticket_keys *k = keys_rotated();

	(void)state;
	copy_file(P("a-ecdsa.key"), P("open.key"), 0644);
	copy_file(P("a-ecdsa.key"), P("grpw.key"), 0620);
	/* A 0600 key owned by another account (nobody, as root runs the tests;
	 * else the row is left out below): that account may read or replace it. */
	copy_file(P("a-ecdsa.key"), P("other.key"), 0600);
	secfile_set_service_uid((uid_t)-1);
	int other_owned = geteuid() == 0 && chown(P("other.key"), 65534, (gid_t)-1) == 0;
	write_file(P("junk.ocsp"), "junk", 4, 0600);
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct tls_cert_conf certs[2] = {
			{ P(cases[i].cert), P(cases[i].key), cases[i].ocsp ? P(cases[i].ocsp) : NULL },
			{ cases[i].cert2 ? P(cases[i].cert2) : NULL, cases[i].key2 ? P(cases[i].key2) : NULL, NULL },
		};
		struct tls_listener_conf lc = { .certs = certs, .ncerts = cases[i].cert2 ? 2 : 1 };
		char err[512] = "";
		struct tls_server *srv;

		if (!other_owned && strcmp(cases[i].key, "other.key") == 0)
			continue;
		if ((srv = tls_server_new(&lc, k, err, sizeof(err))) != NULL)
			fail_msg("case %zu: accepted", i);
		if (strstr(err, P(cases[i].want_file)) == NULL || strstr(err, cases[i].want) == NULL)
			fail_msg("case %zu: message \"%s\" lacks \"%s\" or \"%s\"", i, err, cases[i].want_file, cases[i].want);
		/* The error queue is left empty for the next user of this thread. */
		assert_int_equal(ERR_peek_error(), 0);
	}
	/* The same files fixed are accepted: the refusals were for the reasons given. */
	{
		struct tls_cert_conf ok[] = { { P("a-ecdsa.crt"), P("open.key"), P("a-ecdsa.ocsp") } };
		struct tls_server *srv;

		assert_int_equal(chmod(P("open.key"), 0400), 0);
		srv = server(ok, 1, k);
		tls_server_unref(srv);
	}
	{
		struct tls_listener_conf lc = { .certs = NULL, .ncerts = 0 };
		char err[256] = "";

		assert_null(tls_server_new(&lc, k, err, sizeof(err)));
		assert_non_null(strstr(err, "at least one certificate"));
	}
	tls_tickets_free(k);
}

/* ---- OCSP stapling ------------------------------------------------------ */

static void test_ocsp_stapling(void **state)
{
	static const struct {
		int ask;
		const char *sigalgs;       /* picks the certificate: only the ECDSA one has a staple */
		int want_staple;
	} cases[] = {
		{ 1, "ecdsa_secp256r1_sha256", 1 },
		{ 0, "ecdsa_secp256r1_sha256", 0 },
		{ 1, "rsa_pss_rsae_sha256", 0 },
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);
	SSL_CTX *c = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	uint8_t file[4096];
	ssize_t flen;
	int fd;

	(void)state;
	assert_true((fd = open(P("a-ecdsa.ocsp"), O_RDONLY)) >= 0);
	flen = read(fd, file, sizeof(file));
	close(fd);
	assert_true(flen > 0);
	for (size_t i = 0; i < NELEM(cases); i++) {
		struct hs_opts o = { .sni = "a.test", .ocsp = cases[i].ask, .sigalgs = cases[i].sigalgs };
		struct tls_stats before, after;
		struct hs_res r;

		tls_stats_get(&before);
		hs(srv, c, &o, &r);
		tls_stats_get(&after);
		assert_int_equal(r.srv_rc, TLS_OK);
		assert_int_equal(after.ocsp_stapled - before.ocsp_stapled, (uint64_t)cases[i].want_staple);
		if (cases[i].want_staple) {
			assert_int_equal(ocsp_seen_len, flen);
			assert_memory_equal(ocsp_seen, file, (size_t)flen);
		} else if (cases[i].ask) {
			assert_int_equal(ocsp_seen_len, -1);      /* asked, none sent */
		} else {
			assert_int_equal(ocsp_seen_len, -2);      /* client callback never ran */
		}
	}
	SSL_CTX_free(c);
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* ---- client certificates ------------------------------------------------ */

static void test_mtls(void **state)
{
	static const struct {
		int require;
		const char *cert;
		int ok;
		const char *subject;
	} cases[] = {
		{ 1, "client", 1, "CN=client.test" },
		{ 1, NULL,     0, NULL },                   /* none sent */
		{ 1, "rogue",  0, NULL },                   /* not from the client CA */
		{ 0, NULL,     1, NULL },                   /* optional: none is fine */
		{ 0, "client", 1, "CN=client.test" },
		{ 0, "rogue",  0, NULL },                   /* optional, but a bad one is still refused */
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_cert_conf certs[] = { { P("a-ecdsa.crt"), P("a-ecdsa.key"), NULL } };

	(void)state;
	{
		struct tls_listener_conf lc = { .certs = certs, .ncerts = 1,
		    .client_ca_file = P("missing-ca.crt"), .require_client_cert = 1 };
		char err[256] = "";

		assert_null(tls_server_new(&lc, k, err, sizeof(err)));
		if (strstr(err, P("missing-ca.crt")) == NULL)
			fail_msg("missing client CA file: \"%s\"", err);
	}
	for (int ver = TLS1_2_VERSION; ver <= TLS1_3_VERSION; ver++) {
		SSL_CTX *c = client_ctx(ver, ver);

		for (size_t i = 0; i < NELEM(cases); i++) {
			struct tls_listener_conf lc = { .certs = certs, .ncerts = 1,
			    .client_ca_file = P("clientca.crt"), .require_client_cert = cases[i].require };
			char err[256];
			struct tls_server *srv = tls_server_new(&lc, k, err, sizeof(err));
			struct hs_opts o = { .sni = "a.test", .client_cert = cases[i].cert };
			struct tls_stats before, after;
			struct hs_res r;

			assert_non_null(srv);
			tls_stats_get(&before);
			hs(srv, c, &o, &r);
			tls_stats_get(&after);
			if (cases[i].ok) {
				if (r.srv_rc != TLS_OK)
					fail_msg("v%x case %zu: refused: %s", ver, i, r.srv_err);
				assert_int_equal(r.has_subject, cases[i].subject != NULL);
				if (cases[i].subject != NULL)
					assert_string_equal(r.subject, cases[i].subject);
			} else {
				if (r.srv_rc != TLS_ERROR)
					fail_msg("v%x case %zu: accepted", ver, i);
				assert_int_equal(after.failed_client_cert - before.failed_client_cert, 1);
			}
			tls_server_unref(srv);
		}
		SSL_CTX_free(c);
	}
	tls_tickets_free(k);
}

/* ---- session resumption ------------------------------------------------- */

/* A full handshake; returns the session the client would save. */
static SSL_SESSION *full_handshake(struct tls_server *srv, SSL_CTX *c)
{
	struct hs_opts o = { .sni = "a.test" };
	struct hs_res r;
	SSL_SESSION *s;

	SSL_SESSION_free(captured);
	captured = NULL;
	hs(srv, c, &o, &r);
	assert_int_equal(r.srv_rc, TLS_OK);
	assert_int_equal(r.srv_resumed, 0);
	assert_non_null(captured);
	assert_int_equal(SSL_SESSION_is_resumable(captured), 1);
	s = captured;
	captured = NULL;
	return s;
}

/* Offers sess to srv; returns whether the server resumed it. The handshake
 * itself must succeed either way (a refused ticket means a full handshake).
 * A TLS 1.3 client uses a ticket once (RFC 8446 §C.4; OpenSSL marks the
 * session used), so each attempt offers a fresh copy of the saved one. */
static int resume_tick(struct tls_server *srv, SSL_CTX *c, SSL_SESSION *sess, uint8_t ticket_name[16])
{
	struct hs_opts o = { .sni = "a.test", .sess = SSL_SESSION_dup(sess) };
	struct hs_res r;

	hs(srv, c, &o, &r);
	SSL_SESSION_free(o.sess);
	if (r.srv_rc != TLS_OK || r.cli_rc != TLS_OK)
		fail_msg("resumption handshake failed: %s %s", r.srv_err, r.cli_err);
	assert_int_equal(r.srv_resumed, r.cli_resumed);
	if (ticket_name != NULL)
		memcpy(ticket_name, r.ticket_name, sizeof(r.ticket_name));
	return r.srv_resumed;
}

static int resume(struct tls_server *srv, SSL_CTX *c, SSL_SESSION *sess)
{
	return resume_tick(srv, c, sess, NULL);
}

static const int versions[] = { TLS1_3_VERSION, TLS1_2_VERSION };

/* A listener that requires a client certificate, named as in a config. */
static struct tls_server *mtls_server(struct tls_ticket_keys *k, const char *identity, const char *ca, int require)
{
	struct tls_cert_conf certs[] = { { P("a-ecdsa.crt"), P("a-ecdsa.key"), NULL } };
	struct tls_listener_conf lc = { .identity = identity, .certs = certs, .ncerts = 1,
	    .client_ca_file = ca != NULL ? P(ca) : NULL, .require_client_cert = require };
	char err[256] = "";
	struct tls_server *srv = tls_server_new(&lc, k, err, sizeof(err));

	if (srv == NULL)
		fail_msg("tls_server_new: %s", err);
	return srv;
}

/* The attack: a ticket from a listener that asks for no client certificate
 * (same node, same ticket keys, same server certificate) offered to one
 * that requires it. Resumed, the client would be in without a certificate
 * (a resumed handshake sends no CertificateRequest). It must get a full
 * handshake instead, and so be refused for want of a certificate. The
 * same for a session from another client-certificate policy or another CA
 * set under the same listener name; a session made with a certificate on
 * the mTLS listener resumes there (and on a reload of it) and still
 * proves the certificate. */
static void test_resume_bound_to_client_auth(void **state)
{
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *plain = mtls_server(k, "https", NULL, 0);
	struct tls_server *mtls = mtls_server(k, "mtls", "clientca.crt", 1);
	struct tls_server *mtls2 = mtls_server(k, "mtls", "clientca.crt", 1);      /* a reload of it */
	struct tls_server *opt = mtls_server(k, "mtls", "clientca.crt", 0);        /* optional, same name */
	struct tls_server *otherca = mtls_server(k, "mtls", "root.crt", 1);        /* another CA set */

	(void)state;
	for (size_t v = 0; v < NELEM(versions); v++) {
		SSL_CTX *cl = client_ctx(versions[v], versions[v]);
		struct hs_opts o = { .sni = "a.test" };
		struct tls_stats before, after;
		struct hs_res r;
		SSL_SESSION *sess;

		/* plain -> mtls, and optional (no certificate) -> required. */
		for (int from = 0; from < 2; from++) {
			sess = full_handshake(from == 0 ? plain : opt, cl);
			o.sess = SSL_SESSION_dup(sess);
			tls_stats_get(&before);
			hs(mtls, cl, &o, &r);
			tls_stats_get(&after);
			SSL_SESSION_free(o.sess);
			if (r.srv_rc != TLS_ERROR)
				fail_msg("v%x from %d: a session without a client certificate was let in (resumed %d)",
				    versions[v], from, r.srv_resumed);
			assert_int_equal(after.failed_client_cert - before.failed_client_cert, 1);
			assert_int_equal(after.resumed, before.resumed);
			SSL_SESSION_free(sess);
		}

		/* With the certificate: resumes on the listener and its reload,
		 * not under another CA set nor on the plain listener. */
		o = (struct hs_opts){ .sni = "a.test", .client_cert = "client" };
		SSL_SESSION_free(captured);
		captured = NULL;
		hs(mtls, cl, &o, &r);
		assert_int_equal(r.srv_rc, TLS_OK);
		assert_non_null(sess = captured);
		captured = NULL;
		o = (struct hs_opts){ .sni = "a.test", .sess = SSL_SESSION_dup(sess) };
		hs(mtls2, cl, &o, &r);
		SSL_SESSION_free(o.sess);
		if (r.srv_rc != TLS_OK || !r.srv_resumed)
			fail_msg("v%x: a session with a certificate did not resume on its listener: %s", versions[v], r.srv_err);
		assert_int_equal(r.has_subject, 1);
		assert_string_equal(r.subject, "CN=client.test");
		o.sess = SSL_SESSION_dup(sess);
		hs(otherca, cl, &o, &r);
		SSL_SESSION_free(o.sess);
		assert_int_equal(r.srv_rc, TLS_ERROR);          /* full handshake, no certificate sent */
		assert_int_equal(resume(plain, cl, sess), 0);
		SSL_SESSION_free(sess);
		SSL_CTX_free(cl);
	}
	tls_server_unref(plain);
	tls_server_unref(mtls);
	tls_server_unref(mtls2);
	tls_server_unref(opt);
	tls_server_unref(otherca);
	tls_tickets_free(k);
}

/* The second line of defence: should a session without a certificate get
 * past the session id context (forced here to one value on both
 * listeners), the check after the handshake still refuses it and counts. */
static void test_resumed_without_cert_refused(void **state)
{
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *plain = mtls_server(k, "https", NULL, 0);
	struct tls_server *mtls = mtls_server(k, "mtls", "clientca.crt", 1);

	(void)state;
	for (size_t v = 0; v < NELEM(versions); v++) {
		SSL_CTX *cl = client_ctx(versions[v], versions[v]);
		struct hs_opts o = { .srv_sid_ctx = "collide" };
		struct tls_stats before, after;
		struct hs_res r;
		SSL_SESSION *sess;

		SSL_SESSION_free(captured);
		captured = NULL;
		hs(plain, cl, &o, &r);
		assert_int_equal(r.srv_rc, TLS_OK);
		assert_non_null(sess = captured);
		captured = NULL;
		o.sess = SSL_SESSION_dup(sess);
		tls_stats_get(&before);
		hs(mtls, cl, &o, &r);
		tls_stats_get(&after);
		SSL_SESSION_free(o.sess);
		assert_int_equal(r.srv_rc, TLS_ERROR);
		if (strstr(r.srv_err, "peer did not return a certificate") == NULL)
			fail_msg("v%x: error \"%s\"", versions[v], r.srv_err);
		assert_int_equal(after.client_cert_recheck - before.client_cert_recheck, 1);
		assert_int_equal(after.failed_client_cert - before.failed_client_cert, 1);
		SSL_SESSION_free(sess);
		SSL_CTX_free(cl);
	}
	tls_server_unref(plain);
	tls_server_unref(mtls);
	tls_tickets_free(k);
}

/* hacd's case: two nodes, two keyrings fed the same TicketKey. */
static void test_resume_across_nodes(void **state)
{
	static const uint8_t name[TLS_TICKET_NAME_LEN] = "node-shared-key";
	uint8_t secret[TLS_TICKET_SECRET_LEN];
	struct tls_ticket_keys *ka = tls_tickets_new(), *kb = tls_tickets_new(), *kc = keys_rotated();
	struct tls_server *a, *b, *c;
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(tls_tickets_install(ka, name, secret, 1000, 0, 1000, err, sizeof(err)), 0);
	assert_int_equal(tls_tickets_install(kb, name, secret, 1000, 0, 5000, err, sizeof(err)), 0);
	a = std_server(ka);
	b = std_server(kb);
	c = std_server(kc);                    /* a node with other keys */
	for (size_t v = 0; v < NELEM(versions); v++) {
		SSL_CTX *cl = client_ctx(versions[v], versions[v]);
		SSL_SESSION *s = full_handshake(a, cl);

		if (resume(b, cl, s) != 1)
			fail_msg("%s: not resumed on the other node", versions[v] == TLS1_3_VERSION ? "TLS 1.3" : "TLS 1.2");
		assert_int_equal(resume(a, cl, s), 1);
		assert_int_equal(resume(c, cl, s), 0);
		SSL_SESSION_free(s);
		SSL_CTX_free(cl);
	}
	tls_server_unref(a);
	tls_server_unref(b);
	tls_server_unref(c);
	tls_tickets_free(ka);
	tls_tickets_free(kb);
	tls_tickets_free(kc);
}

/* A standalone proxyd: its own rotations; a reload (new tls_server, same
 * keyring) keeps sessions; the previous key still decrypts and renews; a key
 * that fell off the ring no longer does. */
static void test_resume_rotation(void **state)
{
	(void)state;
	for (size_t v = 0; v < NELEM(versions); v++) {
		struct tls_ticket_keys *k = keys_rotated();
		struct tls_server *s1 = std_server(k), *s2;
		SSL_CTX *cl = client_ctx(versions[v], versions[v]);
		SSL_SESSION *sess = full_handshake(s1, cl);
		struct tls_ticket_stats before, after;
		uint8_t first[TLS_TICKET_NAME_LEN], second[TLS_TICKET_NAME_LEN], tick[16];

		assert_int_equal(tls_tickets_current(k, first), 0);
		s2 = std_server(k);                   /* after a reload */
		tls_server_unref(s1);
		assert_int_equal(resume_tick(s2, cl, sess, tick), 1);
		/* Resumed under the current key: the client keeps its ticket. */
		assert_memory_equal(tick, first, sizeof(first));

		assert_int_equal(tls_tickets_rotate(k, 2000, 0), 0);
		assert_int_equal(tls_tickets_current(k, second), 0);
		assert_int_equal(tls_tickets_status(k, first), TLS_TICKET_OLD);
		tls_tickets_stats(&before);
		assert_int_equal(resume_tick(s2, cl, sess, tick), 1);
		tls_tickets_stats(&after);
		assert_int_equal(after.renewed - before.renewed, 1);
		/* Renewed: the client now holds a ticket under the new key. */
		assert_memory_equal(tick, second, sizeof(second));

		for (int i = 0; i < TLS_TICKET_MAX_KEYS - 1; i++)
			assert_int_equal(tls_tickets_rotate(k, 3000 + (uint64_t)i, 0), 0);
		assert_int_equal(tls_tickets_count(k), TLS_TICKET_MAX_KEYS);
		assert_int_equal(tls_tickets_status(k, first), TLS_TICKET_UNKNOWN);
		tls_tickets_stats(&before);
		assert_int_equal(resume(s2, cl, sess), 0);
		tls_tickets_stats(&after);
		assert_int_equal(after.unknown - before.unknown, 1);

		SSL_SESSION_free(sess);
		SSL_CTX_free(cl);
		tls_server_unref(s2);
		tls_tickets_free(k);
	}
}

/* Keys with times: a key distributed ahead (pending) already decrypts on a
 * node where it is not yet current; an expired key stops decrypting. */
static void test_resume_pending_and_expired(void **state)
{
	static const uint8_t n1[TLS_TICKET_NAME_LEN] = "key-one--------", n2[TLS_TICKET_NAME_LEN] = "key-two--------";
	uint8_t s1[TLS_TICKET_SECRET_LEN], s2[TLS_TICKET_SECRET_LEN];
	char err[128];

	(void)state;
	memset(s1, 0x11, sizeof(s1));
	memset(s2, 0x22, sizeof(s2));
	for (size_t v = 0; v < NELEM(versions); v++) {
		struct tls_ticket_keys *ka = tls_tickets_new(), *kb = tls_tickets_new();
		struct tls_server *a, *b;
		SSL_CTX *cl = client_ctx(versions[v], versions[v]);
		SSL_SESSION *sess;

		/* Node A's clock is past k2's start, node B's is not. */
		assert_int_equal(tls_tickets_install(ka, n1, s1, 1000, 10000, 2500, err, sizeof(err)), 0);
		assert_int_equal(tls_tickets_install(ka, n2, s2, 2000, 20000, 2500, err, sizeof(err)), 0);
		assert_int_equal(tls_tickets_install(kb, n1, s1, 1000, 10000, 1500, err, sizeof(err)), 0);
		assert_int_equal(tls_tickets_install(kb, n2, s2, 2000, 20000, 1500, err, sizeof(err)), 0);
		assert_int_equal(tls_tickets_status(kb, n2), TLS_TICKET_PENDING);
		a = std_server(ka);
		b = std_server(kb);
		sess = full_handshake(a, cl);          /* sealed under k2 */
		assert_int_equal(resume(b, cl, sess), 1);

		tls_tickets_tick(kb, 20000);           /* k2 expires on B */
		assert_int_equal(tls_tickets_count(kb), 0);
		assert_int_equal(resume(b, cl, sess), 0);
		assert_int_equal(resume(a, cl, sess), 1);

		SSL_SESSION_free(sess);
		SSL_CTX_free(cl);
		tls_server_unref(a);
		tls_server_unref(b);
		tls_tickets_free(ka);
		tls_tickets_free(kb);
	}
}

/* No server-side session cache: a TLS 1.2 client that does not do tickets
 * (session IDs only) gets a full handshake every time, even on the same
 * node, so no node behaves differently from another. */
static void test_no_session_id_resumption(void **state)
{
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);
	SSL_CTX *cl = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	struct hs_opts o = { .sni = "a.test" };
	SSL_SESSION *sess;
	struct hs_res r;

	(void)state;
	SSL_CTX_set_options(cl, SSL_OP_NO_TICKET);
	hs(srv, cl, &o, &r);
	assert_int_equal(r.srv_rc, TLS_OK);
	assert_false(r.has_ticket);
	assert_non_null(sess = SSL_SESSION_dup(last_sess));
	assert_int_equal(resume(srv, cl, sess), 0);
	SSL_SESSION_free(sess);
	/* The same client with tickets does resume: the refusal above was the cache. */
	SSL_CTX_clear_options(cl, SSL_OP_NO_TICKET);
	sess = full_handshake(srv, cl);
	assert_int_equal(resume(srv, cl, sess), 1);
	SSL_SESSION_free(sess);
	SSL_CTX_free(cl);
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* With no key, no ticket is issued and the handshake still completes. */
static void test_no_ticket_key(void **state)
{
	struct tls_ticket_keys *k = tls_tickets_new();
	struct tls_server *srv = std_server(k);
	SSL_CTX *cl = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	struct hs_opts o = { .sni = "a.test" };
	struct tls_ticket_stats before, after;
	struct hs_res r;

	(void)state;
	tls_tickets_stats(&before);
	hs(srv, cl, &o, &r);
	tls_tickets_stats(&after);
	assert_int_equal(r.srv_rc, TLS_OK);
	assert_true(after.no_key > before.no_key);
	assert_int_equal(after.sealed, before.sealed);
	SSL_CTX_free(cl);
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* ---- the keyring alone -------------------------------------------------- */

static void test_keyring_table(void **state)
{
	enum op { INSTALL, TICK };
	static const struct {
		enum op op;
		char name;                   /* name = 16 x this char; 0: all-zero name */
		uint8_t secret;              /* secret = 32 x this byte */
		uint64_t created, expires, now;
		int rc;
		size_t count;
		char current;                /* 0: none */
		const char *err;             /* substring of the error, rc -1 */
	} steps[] = {
		{ INSTALL, 'a', 1, 1000, 0,     1000, 0, 1, 'a', NULL },
		{ INSTALL, 'b', 2, 2000, 9000,  1500, 0, 2, 'a', NULL },   /* pending */
		{ TICK,    0,   0, 0,    0,     2000, 0, 2, 'b', NULL },   /* b's time came */
		{ INSTALL, 'a', 1, 1000, 0,     2000, 0, 2, 'b', NULL },   /* again: idempotent */
		{ INSTALL, 'a', 9, 1000, 0,     2000, -1, 2, 'b', "another secret" },
		{ INSTALL, 0,   1, 1000, 0,     2000, -1, 2, 'b', "all-zero name" },
		{ INSTALL, 'c', 3, 5000, 5000,  2000, -1, 2, 'b', "expires before" },
		{ INSTALL, 'c', 3, 3000, 0,     3000, 0, 3, 'c', NULL },
		{ INSTALL, 'd', 4, 4000, 0,     4000, 0, 4, 'd', NULL },
		{ INSTALL, 'e', 5, 5000, 0,     5000, 0, 4, 'e', NULL },   /* ring full: 'a' (oldest) drops */
		{ INSTALL, 'f', 6, 500,  0,     5000, 0, 4, 'e', NULL },   /* older than all, ring full: not kept */
		{ TICK,    0,   0, 0,    0,     9000, 0, 3, 'e', NULL },   /* 'b' expired */
		{ INSTALL, 'g', 7, 9999, 0,     9000, 0, 4, 'e', NULL },   /* pending */
	};
	static const struct {
		size_t after_step;
		char name;
		enum tls_ticket_status want;
	} checks[] = {
		{ 1, 'b', TLS_TICKET_PENDING }, { 1, 'a', TLS_TICKET_CURRENT },
		{ 2, 'a', TLS_TICKET_OLD },     { 2, 'b', TLS_TICKET_CURRENT },
		{ 9, 'a', TLS_TICKET_UNKNOWN }, { 9, 'b', TLS_TICKET_OLD },
		{ 10, 'f', TLS_TICKET_UNKNOWN },
		{ 11, 'b', TLS_TICKET_UNKNOWN },
		{ 12, 'g', TLS_TICKET_PENDING }, { 12, 'c', TLS_TICKET_OLD },
	};
	struct tls_ticket_keys *k = tls_tickets_new();

	(void)state;
	assert_non_null(k);
	assert_int_equal(tls_tickets_current(k, (uint8_t[16]){ 0 }), -1);
	for (size_t i = 0; i < NELEM(steps); i++) {
		uint8_t name[TLS_TICKET_NAME_LEN], secret[TLS_TICKET_SECRET_LEN], cur[TLS_TICKET_NAME_LEN];
		char err[128] = "";
		int rc = 0;

		memset(name, steps[i].name, sizeof(name));
		memset(secret, steps[i].secret, sizeof(secret));
		if (steps[i].op == INSTALL)
			rc = tls_tickets_install(k, name, secret, steps[i].created, steps[i].expires, steps[i].now,
			    err, sizeof(err));
		else
			tls_tickets_tick(k, steps[i].now);
		if (rc != steps[i].rc)
			fail_msg("step %zu: rc %d, want %d (%s)", i, rc, steps[i].rc, err);
		if (steps[i].err != NULL && strstr(err, steps[i].err) == NULL)
			fail_msg("step %zu: error \"%s\" lacks \"%s\"", i, err, steps[i].err);
		if (tls_tickets_count(k) != steps[i].count)
			fail_msg("step %zu: %zu keys, want %zu", i, tls_tickets_count(k), steps[i].count);
		assert_int_equal(tls_tickets_current(k, cur), 0);
		if (cur[0] != steps[i].current)
			fail_msg("step %zu: current '%c', want '%c'", i, cur[0], steps[i].current);
		for (size_t c = 0; c < NELEM(checks); c++) {
			if (checks[c].after_step != i)
				continue;
			memset(name, checks[c].name, sizeof(name));
			if (tls_tickets_status(k, name) != checks[c].want)
				fail_msg("step %zu: key '%c' is %s, want %s", i, checks[c].name,
				    tls_ticket_status_str(tls_tickets_status(k, name)), tls_ticket_status_str(checks[c].want));
		}
	}
	tls_tickets_free(k);
}

static void test_rotate_same_millisecond(void **state)
{
	struct tls_ticket_keys *k = tls_tickets_new();
	uint8_t a[TLS_TICKET_NAME_LEN], b[TLS_TICKET_NAME_LEN];

	(void)state;
	assert_int_equal(tls_tickets_rotate(k, 1000, 60000), 0);
	assert_int_equal(tls_tickets_current(k, a), 0);
	assert_int_equal(tls_tickets_rotate(k, 1000, 60000), 0);
	assert_int_equal(tls_tickets_current(k, b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(tls_tickets_status(k, a), TLS_TICKET_OLD);
	tls_tickets_tick(k, 61000);                /* both expired */
	assert_int_equal(tls_tickets_count(k), 0);
	assert_int_equal(tls_tickets_current(k, a), -1);
	tls_tickets_free(k);
}

/* The cluster's keys replace the ones a proxyd made for itself: a newer
 * local key must not keep sealing (its tickets would resume on this node
 * only), and with no installed key the local ones stay. */
static void test_drop_local_keys(void **state)
{
	struct tls_ticket_keys *k = tls_tickets_new();
	uint8_t name[TLS_TICKET_NAME_LEN], secret[TLS_TICKET_SECRET_LEN], cur[TLS_TICKET_NAME_LEN];
	char err[128];

	(void)state;
	memset(name, 0x5a, sizeof(name));
	memset(secret, 0x11, sizeof(secret));
	assert_int_equal(tls_tickets_rotate(k, 1000, 60000), 0);
	assert_int_equal(tls_tickets_drop_local(k, 1000), 0);          /* nothing installed: kept */
	assert_int_equal(tls_tickets_count(k), 1);
	assert_int_equal(tls_tickets_install(k, name, secret, 500, 100000, 2000, err, sizeof(err)), 0);
	assert_int_equal(tls_tickets_current(k, cur), 0);
	assert_memory_not_equal(cur, name, sizeof(cur));               /* the newer local key seals */
	assert_int_equal(tls_tickets_drop_local(k, 2000), 1);
	assert_int_equal(tls_tickets_count(k), 1);
	assert_int_equal(tls_tickets_current(k, cur), 0);
	assert_memory_equal(cur, name, sizeof(cur));
	assert_int_equal(tls_tickets_drop_local(k, 2000), 0);
	tls_tickets_free(k);
}

/* ---- connection I/O and the event-loop contract ------------------------- */

struct conn_pair {
	int fd[2];
	SSL *s, *c;
};

static void pair_open(struct conn_pair *p, struct tls_server *srv, SSL_CTX *cctx)
{
	struct hs_res r = { 0 };

	socketpair_nb(p->fd);
	assert_non_null(p->s = tls_conn_new(srv, p->fd[0]));
	assert_non_null(p->c = SSL_new(cctx));
	assert_int_equal(SSL_set_fd(p->c, p->fd[1]), 1);
	SSL_set_connect_state(p->c);
	assert_int_equal(SSL_set_tlsext_host_name(p->c, "a.test"), 1);
	drive(p->s, p->c, &r);
	assert_int_equal(r.srv_rc, TLS_OK);
	assert_int_equal(r.cli_rc, TLS_OK);
	assert_true(r.srv_again > 0);              /* it did wait for the client */
}

static void pair_close(struct conn_pair *p)
{
	tls_conn_free(p->s);
	SSL_free(p->c);
	if (p->fd[0] >= 0)
		close(p->fd[0]);
	if (p->fd[1] >= 0)
		close(p->fd[1]);
}

/* 1 MiB from server to client through a socket that holds far less: the
 * server sees TLS_AGAIN_WRITE and retries from a buffer that moved. */
static void test_write_again_moving_buffer(void **state)
{
	enum { TOTAL = 1 << 20 };
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);
	SSL_CTX *cl = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	uint8_t *src = malloc(TOTAL), *dst = malloc(TOTAL), *tmp = malloc(TOTAL + 8);
	size_t sent = 0, got = 0;
	int again_write = 0, rounds = 0;
	struct conn_pair p;

	(void)state;
	assert_non_null(src); assert_non_null(dst); assert_non_null(tmp);
	for (size_t i = 0; i < TOTAL; i++)
		src[i] = (uint8_t)(i * 31 + (i >> 11));
	pair_open(&p, srv, cl);
	/* Each round: the server writes until the socket is full, then the
	 * client drains it, as two event loops would. */
	while ((sent < TOTAL || got < TOTAL) && rounds++ < 10000) {
		while (sent < TOTAL) {
			/* Every other retry passes the unsent rest from another place,
			 * as a struct buf compaction would: same bytes, new pointer. */
			size_t len = TOTAL - sent;
			const uint8_t *from = src + sent;
			ssize_t n;

			if (rounds & 1)
				from = memcpy(tmp + (rounds % 8), src + sent, len);
			n = tls_write(p.s, from, len);
			if (n == TLS_AGAIN_WRITE) {
				again_write++;
				break;
			}
			if (n <= 0)
				fail_msg("tls_write: %s", tls_rc_str((int)n));
			sent += (size_t)n;
		}
		for (;;) {
			ssize_t n = tls_read(p.c, dst + got, TOTAL - got);

			if (n <= 0) {
				assert_int_equal(n, TLS_AGAIN_READ);
				break;
			}
			got += (size_t)n;
		}
	}
	assert_int_equal(sent, TOTAL);
	assert_int_equal(got, TOTAL);
	assert_memory_equal(src, dst, TOTAL);
	assert_true(again_write > 0);
	pair_close(&p);
	free(src); free(dst); free(tmp);
	SSL_CTX_free(cl);
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* Plaintext left inside OpenSSL after a short read is visible through
 * tls_pending (no EV_READ would fire for it); end of stream with and without
 * close_notify. */
static void test_read_pending_and_eof(void **state)
{
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);
	SSL_CTX *cl = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	char msg[4000], buf[4000];
	struct conn_pair p;
	size_t got = 0;
	ssize_t n;

	(void)state;
	memset(msg, 'q', sizeof(msg));
	for (int clean = 1; clean >= 0; clean--) {
		pair_open(&p, srv, cl);
		assert_int_equal(tls_write(p.c, msg, sizeof(msg)), (ssize_t)sizeof(msg));
		got = 0;
		n = tls_read(p.s, buf, 100);
		assert_int_equal(n, 100);
		got += (size_t)n;
		assert_int_equal(tls_pending(p.s), 1);
		while (tls_pending(p.s) && (n = tls_read(p.s, buf + got, sizeof(buf) - got)) > 0)
			got += (size_t)n;
		assert_int_equal(got, sizeof(msg));
		assert_int_equal(tls_read(p.s, buf, sizeof(buf)), TLS_AGAIN_READ);
		if (clean) {
			assert_true(SSL_shutdown(p.c) >= 0);
		} else {
			/* Unread bytes (TLS 1.3 tickets) at close would make the
			 * kernel report a reset, as TCP would: read them first. */
			assert_int_equal(tls_read(p.c, buf, sizeof(buf)), TLS_AGAIN_READ);
			close(p.fd[1]);                 /* FIN, no close_notify */
			p.fd[1] = -1;
		}
		n = tls_read(p.s, buf, sizeof(buf));
		if (n != 0)
			fail_msg("clean=%d: end of stream read %zd: %s", clean, n, tls_conn_error(p.s, buf, sizeof(buf)));
		assert_int_equal(tls_close_notify_received(p.s), clean);
		/* Never AGAIN at end of stream: the caller just closes. */
		n = tls_shutdown(p.s);
		if (clean)
			assert_int_equal(n, TLS_OK);
		else
			assert_true(n == TLS_OK || n == TLS_ERROR);
		pair_close(&p);
	}
	SSL_CTX_free(cl);
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* A reload drops the old tls_server; connections made with it, even in the
 * middle of their handshake, finish with it (ASan would see a use after free). */
static void test_connection_outlives_reload(void **state)
{
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *old = std_server(k);
	SSL_CTX *cl = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION);
	struct hs_res r = { 0 };
	char buf[8];
	int fd[2];
	SSL *s, *c;

	(void)state;
	socketpair_nb(fd);
	assert_non_null(s = tls_conn_new(old, fd[0]));
	assert_non_null(c = SSL_new(cl));
	SSL_set_fd(c, fd[1]);
	SSL_set_connect_state(c);
	SSL_set_tlsext_host_name(c, "x.b.test");
	assert_int_equal(tls_handshake(s), TLS_AGAIN_READ);   /* nothing from the client yet */
	assert_int_equal(tls_handshake(c), TLS_AGAIN_READ);   /* ClientHello sent */
	tls_server_unref(old);                                /* the reload */
	drive(s, c, &r);
	assert_int_equal(r.srv_rc, TLS_OK);
	collect(s, c, &r);
	assert_string_equal(r.cn, "*.b.test");               /* SNI ran on the old server */
	assert_int_equal(tls_write(s, "later", 5), 5);
	assert_int_equal(tls_read(c, buf, sizeof(buf)), 5);
	tls_conn_free(s);                                     /* frees the old server */
	SSL_free(c);
	close(fd[0]);
	close(fd[1]);
	SSL_CTX_free(cl);
	tls_tickets_free(k);
}

/* ---- backends ----------------------------------------------------------- */

static void test_backend_client(void **state)
{
	static const struct {
		const char *ca;
		int verify;
		const char *sni;
		int ok;
		const char *err;
	} cases[] = {
		{ "root.crt", 1, "a.test", 1, NULL },
		{ "root.crt", 1, "x.b.test", 1, NULL },
		{ "root.crt", 1, "c.test", 0, "hostname mismatch" },
		{ "clientca.crt", 1, "a.test", 0, "unable to get local issuer certificate" },
		{ "clientca.crt", 0, "c.test", 1, NULL },                   /* verify off */
	};
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);

	(void)state;
	for (size_t i = 0; i < NELEM(cases); i++) {
		char err[256] = "";
		struct tls_client *cli = tls_client_new(P(cases[i].ca), cases[i].verify, cases[i].sni, err, sizeof(err));
		struct hs_res r = { 0 };
		const uint8_t *alpn;
		char buf[8];
		int fd[2];
		SSL *s, *c;

		assert_non_null(cli);
		socketpair_nb(fd);
		assert_non_null(s = tls_conn_new(srv, fd[0]));
		assert_non_null(c = tls_client_conn_new(cli, fd[1], NULL));
		tls_client_free(cli);                     /* the connection keeps what it needs */
		drive(s, c, &r);
		if (cases[i].ok) {
			if (r.cli_rc != TLS_OK || r.srv_rc != TLS_OK)
				fail_msg("case %zu: %s / %s", i, r.cli_err, r.srv_err);
			assert_int_equal(tls_conn_alpn(c, &alpn), 8);
			assert_memory_equal(alpn, "http/1.1", 8);
			assert_string_equal(tls_conn_sni(s), cases[i].sni);
			assert_int_equal(tls_write(c, "GET", 3), 3);
			assert_int_equal(tls_read(s, buf, sizeof(buf)), 3);
		} else {
			assert_int_equal(r.cli_rc, TLS_ERROR);
			if (strstr(r.cli_err, cases[i].err) == NULL)
				fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, r.cli_err, cases[i].err);
		}
		tls_conn_free(s);
		tls_conn_free(c);
		close(fd[0]);
		close(fd[1]);
	}
	tls_server_unref(srv);
	tls_tickets_free(k);
}

/* No sni: the name verified is the address connected to. A certificate the
 * CA set vouches for, but for a.test, is refused for 127.0.0.1 (before,
 * any such certificate passed); one with the iPAddress 127.0.0.1 passes;
 * without an address to check there is no connection at all. */
static void test_backend_name_by_address(void **state)
{
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_cert_conf ipcert[] = { { P("ip-local.crt"), P("ip-local.key"), NULL } };
	struct tls_server *byname = std_server(k), *byaddr = server(ipcert, 1, k);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(443) };
	char err[256] = "";
	struct tls_client *cli = tls_client_new(P("root.crt"), 1, NULL, err, sizeof(err));

	(void)state;
	assert_non_null(cli);
	assert_int_equal(inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr), 1);
	assert_null(tls_client_conn_new(cli, 0, NULL));
	for (int i = 0; i < 2; i++) {
		struct tls_stats before, after;
		struct hs_res r = { 0 };
		int fd[2];
		SSL *s, *c;

		socketpair_nb(fd);
		assert_non_null(s = tls_conn_new(i == 0 ? byname : byaddr, fd[0]));
		assert_non_null(c = tls_client_conn_new(cli, fd[1], (const struct sockaddr *)&sin));
		tls_stats_get(&before);
		drive(s, c, &r);
		tls_stats_get(&after);
		if (i == 0) {
			assert_int_equal(r.cli_rc, TLS_ERROR);
			if (strstr(r.cli_err, "IP address mismatch") == NULL)
				fail_msg("a.test certificate for 127.0.0.1: \"%s\"", r.cli_err);
			assert_int_equal(after.backend_failed_name - before.backend_failed_name, 1);
		} else if (r.cli_rc != TLS_OK || r.srv_rc != TLS_OK) {
			fail_msg("certificate for 127.0.0.1: %s / %s", r.cli_err, r.srv_err);
		}
		tls_conn_free(s);
		tls_conn_free(c);
		close(fd[0]);
		close(fd[1]);
	}
	tls_client_free(cli);
	tls_server_unref(byname);
	tls_server_unref(byaddr);
	tls_tickets_free(k);
}

/* ---- threads: workers resume while the control thread rotates ------------ */

#define WORKERS 4
#define ROUNDS  25

struct worker_arg {
	struct tls_server *srv;
	SSL_SESSION *sess;
	int ok, resumed;
};

static void *worker_main(void *p)
{
	struct worker_arg *w = p;
	SSL_CTX *cl = SSL_CTX_new(TLS_client_method());

	SSL_CTX_set_min_proto_version(cl, TLS1_2_VERSION);
	SSL_CTX_load_verify_locations(cl, P("root.crt"), NULL);
	for (int i = 0; i < ROUNDS; i++) {
		struct hs_res r = { 0 };
		int fd[2];
		SSL *s, *c;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) != 0)
			break;
		s = tls_conn_new(w->srv, fd[0]);
		c = SSL_new(cl);
		SSL_set_fd(c, fd[1]);
		SSL_set_connect_state(c);
		SSL_set_session(c, w->sess);
		drive(s, c, &r);
		if (r.srv_rc == TLS_OK && r.cli_rc == TLS_OK) {
			w->ok++;
			w->resumed += tls_conn_resumed(s);
			SSL_shutdown(c);        /* keeps the shared session resumable */
		}
		tls_conn_free(s);
		SSL_free(c);
		close(fd[0]);
		close(fd[1]);
	}
	SSL_CTX_free(cl);
	return NULL;
}

static void test_concurrent_rotation(void **state)
{
	struct tls_ticket_keys *k = keys_rotated();
	struct tls_server *srv = std_server(k);
	SSL_CTX *cl = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION);
	SSL_SESSION *sess = full_handshake(srv, cl);
	struct worker_arg w[WORKERS];
	pthread_t t[WORKERS];
	int ok = 0;

	(void)state;
	for (int i = 0; i < WORKERS; i++) {
		w[i] = (struct worker_arg){ .srv = srv, .sess = sess };
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < WORKERS * ROUNDS; i++)
		assert_int_equal(tls_tickets_rotate(k, 2000 + (uint64_t)i, 0), 0);
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
	}
	/* Every handshake completed, resumed or not, whatever the rotation did. */
	assert_int_equal(ok, WORKERS * ROUNDS);
	SSL_SESSION_free(sess);
	SSL_CTX_free(cl);
	tls_server_unref(srv);
	tls_tickets_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni_selects_certificate),
		cmocka_unit_test(test_key_type_by_client_sigalgs),
		cmocka_unit_test(test_protocol_versions),
		cmocka_unit_test(test_weak_tls12_ciphers_refused),
		cmocka_unit_test(test_alpn),
		cmocka_unit_test(test_alpn_config),
		cmocka_unit_test(test_load_refusals),
		cmocka_unit_test(test_ocsp_stapling),
		cmocka_unit_test(test_mtls),
		cmocka_unit_test(test_resume_across_nodes),
		cmocka_unit_test(test_resume_bound_to_client_auth),
		cmocka_unit_test(test_resumed_without_cert_refused),
		cmocka_unit_test(test_resume_rotation),
		cmocka_unit_test(test_resume_pending_and_expired),
		cmocka_unit_test(test_drop_local_keys),
		cmocka_unit_test(test_no_session_id_resumption),
		cmocka_unit_test(test_no_ticket_key),
		cmocka_unit_test(test_keyring_table),
		cmocka_unit_test(test_rotate_same_millisecond),
		cmocka_unit_test(test_write_again_moving_buffer),
		cmocka_unit_test(test_read_pending_and_eof),
		cmocka_unit_test(test_connection_outlives_reload),
		cmocka_unit_test(test_backend_client),
		cmocka_unit_test(test_backend_name_by_address),
		cmocka_unit_test(test_concurrent_rotation),
	};
	int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);

	SSL_SESSION_free(captured);
	SSL_SESSION_free(last_sess);
	return rc;
}
