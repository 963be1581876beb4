/*
 * proxyd/tls.h — TLS termination for listeners and TLS to backends (OpenSSL 3).
 *
 * A struct tls_server is one listener's immutable TLS setup: one SSL_CTX per
 * certificate set, SNI lookup, ALPN, OCSP staples, optional client-certificate
 * verification, and session tickets sealed under a shared struct
 * tls_ticket_keys (proxyd/tls_tickets.h). Certificates change at reload by
 * building a new tls_server from the files and dropping the old one; each
 * connection holds a reference, so connections started under the old one
 * finish with it.
 *
 * Policy (the Mozilla "intermediate" profile): TLS 1.2 and 1.3 only; for 1.2
 * ECDHE with AES-GCM or ChaCha20-Poly1305 and ECDSA or RSA certificates;
 * OpenSSL's default 1.3 suites; groups X25519, P-256, P-384; the client's
 * cipher order; no compression, no renegotiation; RSA keys of 2048 bits or
 * more. Resumption is by tickets only (no server session cache), so it works
 * on every node that holds the ticket keys.
 *
 * Connections are plain OpenSSL SSL objects on the caller's nonblocking fd.
 *
 * EVENT-LOOP CONTRACT (tls_handshake, tls_read, tls_write, tls_shutdown):
 *  - TLS_AGAIN_READ: nothing more can happen until the socket is readable;
 *    TLS_AGAIN_WRITE: until it is writable. Wait for THAT event, then call
 *    the SAME function again. The direction is OpenSSL's, not the call's:
 *    tls_write may need readability (TLS 1.2 records interleaved, a peer's
 *    alert) and tls_read may need writability (answering a TLS 1.3
 *    KeyUpdate, flushing post-handshake messages). A connection therefore
 *    keeps, per pending operation, which event it waits for; on any event it
 *    retries every operation that was waiting for it.
 *  - Retrying tls_write after AGAIN: pass the same bytes again at the front
 *    (more may follow). The pointer may differ (the buffer may have moved or
 *    been compacted: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), the length may
 *    not shrink. Writes may be partial (SSL_MODE_ENABLE_PARTIAL_WRITE):
 *    the return value is what was taken.
 *  - OpenSSL reads whole records: after tls_read filled the caller's buffer
 *    there may be plaintext inside OpenSSL with nothing left on the socket,
 *    so a level-triggered EV_READ will not fire for it. Read until
 *    TLS_AGAIN_READ, or, when stopping early (backpressure), check
 *    tls_pending() when resuming and call tls_read without waiting.
 *  - tls_read returns 0 at end of stream: the peer's close_notify or a TCP
 *    EOF without one (clients often skip it; HTTP framing detects a
 *    truncated message). tls_close_notify_received() tells them apart, which
 *    matters when reading a close-delimited response from a backend
 *    (RFC 9112 §9.8).
 *  - After TLS_ERROR the connection is dead: close the fd and tls_conn_free;
 *    tls_conn_error() right after (same thread) tells why.
 *  - OpenSSL writes to the socket with write(2): the process must ignore
 *    SIGPIPE (proxyd/main.c does).
 * The socket stays the caller's: tls_conn_free never closes it.
 */
#ifndef PROXYD_TLS_H
#define PROXYD_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "proxyd/tls_tickets.h"

/* Results of the connection calls; tls_read/tls_write return byte counts
 * (>= 0) otherwise. */
enum tls_rc {
	TLS_OK          = 0,
	TLS_ERROR       = -1,
	TLS_AGAIN_READ  = -2,
	TLS_AGAIN_WRITE = -3
};
/* "ok", "error", "again-read", "again-write"; "bytes" for a positive count. */
const char *tls_rc_str(int rc);

/* One certificate: a PEM file with the leaf first, then its chain (the
 * intermediates the server sends), and its PEM private key (unencrypted,
 * mode 0600 or stricter). ocsp_file: optional DER OCSP response stapled when
 * a client asks for status (RFC 6066 §8); the caller refreshes the file and
 * reloads. */
struct tls_cert_conf {
	const char *cert_file;
	const char *key_file;
	const char *ocsp_file;          /* NULL: no stapling */
};

/* One listener. Certificates whose names (subjectAltName dNSNames, else the
 * CN) are the same set share one SSL_CTX, one per key type at most: an ECDSA
 * and an RSA certificate for the same names let OpenSSL pick by the client's
 * signature algorithms. The first certificate's set is the default, used
 * without SNI or when SNI matches no name. */
struct tls_listener_conf {
	const char *identity;           /* the listener as named in the configuration (name, else address):
	                                 * with client_ca_file and require_client_cert, what sessions are
	                                 * bound to (the same on every node; NULL: "") */
	const struct tls_cert_conf *certs;
	size_t ncerts;                  /* >= 1 */
	const char *client_ca_file;     /* PEM CAs for client certificates (mTLS); NULL: none asked */
	int require_client_cert;        /* with client_ca_file: refuse clients without a valid one */
	const char *alpn;               /* comma-separated, in preference order; NULL: "http/1.1"; "": no ALPN */
	unsigned session_timeout_s;     /* ticket lifetime (RFC 8446 §4.6.1); 0: OpenSSL's 7200 s */
	int http2;                      /* the HTTP/2 front is on (the default): alpn NULL means "h2,http/1.1" */
};

struct tls_server;
struct tls_client;

/* Handshake and refusal counters, process-wide (all listeners, all threads). */
struct tls_stats {
	uint64_t handshakes;            /* server handshakes completed */
	uint64_t resumed;               /* of which resumed from a ticket */
	uint64_t failed;                /* server handshakes that failed (any reason) */
	uint64_t failed_version;        /* of which: client offered no TLS 1.2/1.3 */
	uint64_t failed_client_cert;    /* of which: client certificate missing or not trusted */
	uint64_t client_cert_recheck;   /* of those: refused by the check after the handshake (a resumed
	                                 * session without the certificate this listener requires) */
	uint64_t sni_default;           /* SNI absent or matching no name: default certificate */
	uint64_t alpn_refused;          /* client's ALPN list had nothing we speak (RFC 7301 §3.2) */
	uint64_t ocsp_stapled;
	uint64_t backend_handshakes;
	uint64_t backend_failed;
	uint64_t backend_failed_name;   /* of which: chain fine, certificate for another name or address */
};
void tls_stats_get(struct tls_stats *out);

/* Builds a listener's TLS setup. Refuses, with a message naming the file in
 * err: unreadable or malformed files; a certificate expired or not yet valid
 * (leaf or chain); a key that does not match its certificate; a private key
 * file that is not a regular file or that group or others may access
 * (mode & 077); RSA keys under 2048 bits; two certificates of one key type
 * for the same names; an OCSP file that is not a successful DER OCSP
 * response; a bad ALPN list. Key bytes never reach err or the log.
 * keys: the ticket keyring (not owned; must outlive the server and its
 * connections). Returns the server with one reference, or NULL. */
struct tls_server *tls_server_new(const struct tls_listener_conf *conf, struct tls_ticket_keys *keys,
    char *err, size_t errlen);

/* References: the owner (a config generation) holds one, each connection
 * one; the last unref frees. NULL is accepted by unref. */
struct tls_server *tls_server_ref(struct tls_server *srv);
void tls_server_unref(struct tls_server *srv);

/* The names a server answers for, in SNI lookup order: the exact names, then
 * the wildcards ("*.b.test"). For logs and `proxyd -t`. */
size_t tls_server_names(const struct tls_server *srv, const char **names, size_t max);

/* Backend side. ca_file: PEM CAs to verify the backend's chain (NULL: the
 * system store). verify != 0 checks the chain and the name (RFC 6125): sni
 * when set (a DNS name, or an IP address matched against iPAddress
 * subjectAltNames), else the address connected to (tls_client_conn_new);
 * verify == 0 accepts any certificate (for lab setups only).
 * sni: the server name sent (NULL: none). ALPN offers "http/1.1".
 * Returns NULL with err set. */
struct tls_client *tls_client_new(const char *ca_file, int verify, const char *sni, char *err, size_t errlen);
void tls_client_free(struct tls_client *cli);   /* live connections keep what they need */

/* A server-side connection on the accepted nonblocking socket fd (not owned).
 * Holds a reference to srv until tls_conn_free. NULL on ENOMEM. */
SSL *tls_conn_new(struct tls_server *srv, int fd);
/* A client-side connection to a backend on a nonblocking (possibly still
 * connecting) socket fd (not owned). peer: the address connected to (not
 * kept), the name verified when the client has no sni; with verify on, no
 * sni and no IP address in peer, it fails. NULL on ENOMEM or that. */
SSL *tls_client_conn_new(struct tls_client *cli, int fd, const struct sockaddr *peer);
/* Frees the connection (not the fd). NULL is accepted. */
void tls_conn_free(SSL *ssl);

/* TLS_OK when the handshake completed (also on later calls), else
 * TLS_AGAIN_READ/WRITE/ERROR. Works on both server and backend connections.
 * A TLS 1.3 server finishes by writing its session tickets, so the last
 * step may be TLS_AGAIN_WRITE. */
int tls_handshake(SSL *ssl);
/* > 0 bytes read, 0 end of stream, or TLS_AGAIN_READ/WRITE/ERROR. len > 0. */
ssize_t tls_read(SSL *ssl, void *buf, size_t len);
/* > 0 bytes taken (maybe fewer than len), or TLS_AGAIN_READ/WRITE/ERROR;
 * 0 only for len == 0. */
ssize_t tls_write(SSL *ssl, const void *buf, size_t len);
/* Sends close_notify once (we do not wait for the peer's: the fd is closed
 * next). TLS_OK when sent or when there is nothing to close (handshake not
 * finished); TLS_AGAIN_WRITE to retry on writability; TLS_ERROR: just close. */
int tls_shutdown(SSL *ssl);
/* Plaintext or unprocessed record bytes buffered inside OpenSSL (1/0). */
int tls_pending(const SSL *ssl);
/* The peer's close_notify arrived (1/0). */
int tls_close_notify_received(const SSL *ssl);

/* After TLS_ERROR, on the same thread: one line saying why (the first OpenSSL
 * error's reason, or the certificate verification failure), e.g.
 * "unsupported protocol". Empties the thread's OpenSSL error queue. */
const char *tls_conn_error(const SSL *ssl, char *buf, size_t len);

/* Accessors, valid after the handshake. */
const char *tls_conn_protocol(const SSL *ssl);      /* "TLSv1.3" */
const char *tls_conn_cipher(const SSL *ssl);        /* "TLS_AES_128_GCM_SHA256" */
size_t tls_conn_alpn(const SSL *ssl, const uint8_t **proto);  /* 0: none negotiated */
const char *tls_conn_sni(const SSL *ssl);           /* NULL: the client sent none */
int tls_conn_resumed(const SSL *ssl);               /* 1: resumed from a ticket */
/* Subject of the verified client certificate in RFC 2253 form
 * ("CN=client.test"): 0, or -1 when the client sent none. */
int tls_conn_client_subject(const SSL *ssl, char *buf, size_t len);

#endif
