/*
 * proxyd/h2.h — the HTTP/2 client front (RFC 9113), a second front of the
 * exchange beside the HTTP/1 one (proxyd/client.c).
 *
 * A TLS connection whose ALPN chose "h2" (offered on TLS listeners unless
 * `tls.http2 = false`), or a plain connection that opens with the HTTP/2
 * preface on a listener with http2_prior_knowledge, gets a struct h2conn: an nghttp2 server session
 * driven from the worker's own loop through nghttp2_session_mem_recv() and
 * nghttp2_session_mem_send() over the connection's endpoint (proxyd/
 * endpoint.h), no thread or loop of its own. Each stream is one exchange
 * (struct req): its validated request header list is written as an
 * HTTP/1.1 request head into the stream's own buffer and goes through the
 * same request path as an HTTP/1 request (parser, route query, guards,
 * action, backend or local responder, filters, log, metrics); the
 * response head the source writes (an HTTP/1.1 head in r->rhead) is mapped
 * back to an HTTP/2 field list without its connection-specific fields, and
 * the body is handed to nghttp2 as it is passed, framed by DATA frames.
 */
#ifndef PROXYD_H2_H
#define PROXYD_H2_H

#include <stdint.h>

struct conn;

/* Whether c's TLS handshake chose "h2" by ALPN (RFC 7301, RFC 9113 §3.2). */
int h2_alpn(const struct conn *c);
/* Turns c into an HTTP/2 connection: the session, our SETTINGS queued, the
 * SETTINGS-ACK timer armed. 0, or -1 with c closed. */
int h2_start(struct conn *c);
/* A plain listener with http2_prior_knowledge, before c's first request:
 * the bytes in c's buffer begin the HTTP/2 preface (RFC 9113 §3.3). 1:
 * c speaks HTTP/2 now (or waits for the rest of the preface, or was closed),
 * 0: HTTP/1.x. */
int h2_prior_knowledge(struct conn *c);
/* c's socket events, deferred reads and timer, for an HTTP/2 connection. */
void h2_io(struct conn *c, uint32_t revents);
void h2_defer(struct conn *c);
void h2_timeout(struct conn *c);
/* Drain or stop: GOAWAY (NO_ERROR, the last stream we took), the open
 * streams finish, then the connection closes (RFC 9113 §6.8). */
void h2_drain(struct conn *c);
/* c closes: every stream's exchange is released, the session freed. */
void h2_conn_close(struct conn *c);

#endif
