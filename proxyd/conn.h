/*
 * proxyd/conn.h — client connections, the request in flight on them, and
 * the two messages of that request.
 *
 * A struct conn is the HTTP/1 front's connection: what an accepted client
 * socket costs while idle is the watcher, one timer, an empty buffer
 * (storage released to the worker's cache when empty) and list links.
 * Everything a request needs (its two messages, the front's framing state,
 * rewritten heads, the filter chain, which ends it talks to) lives in a
 * struct req taken from the worker's free list when the first byte of a
 * request arrives and given back when the exchange ends
 * (proxyd/exchange.h).
 * Both are owned by one worker thread for their whole life.
 */
#ifndef PROXYD_CONN_H
#define PROXYD_CONN_H

#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "lib/ev.h"
#include "proxyd/config.h"
#include "proxyd/endpoint.h"
#include "proxyd/filter.h"
#include "proxyd/filter_compress.h"
#include "proxyd/h1_frame.h"
#include "proxyd/http_parse.h"

struct worker;
struct bconn;
struct h2conn;
struct pd_config;
struct pd_listener;
struct route;
struct pd_lopts;
struct ssl_st;

enum conn_state {
	CONN_IDLE = 0,     /* keep-alive, waiting for the first byte of a request */
	CONN_HEAD,         /* reading a request head */
	CONN_PROXY,        /* an exchange under way: its source (backend, local responder) answers;
	                      after 101 Switching Protocols (req->tunnel), bytes both ways */
	CONN_LINGER,       /* last response sent, write side shut: reading and discarding until the client closes */
	CONN_CLOSED        /* waiting to be reaped */
};

/*
 * One message of an exchange, the request or the response: its parsed head
 * (method or status, version, header list: struct http_msg, whichever
 * protocol it came in) and its body stream. The body stream is framing-
 * independent: the end that receives the message (the HTTP/1 front for a
 * request, the HTTP/1 backend for a response) decodes its framing as bytes
 * arrive, and counts in `pass` the body bytes at the front of *in that may
 * go out; `done` once the body ended. The parser state of that framing
 * (head parser, chunked validator, de-chunker) is the receiving end's, not
 * the message's: req->h1q, owned by the HTTP/1 front (proxyd/client.c,
 * proxyd/request.c), and struct bconn for the HTTP/1 backend.
 */

/* The HTTP/1 front's framing state for one request: its head parser and
 * its chunked body validator. Kept in the request, not the connection, so
 * an idle connection does not carry it. */
struct h1_front_req {
	struct http_parser p;
	struct http_chunked ch;
};
struct xmsg {
	/* Body stream, reset for every exchange (up to head). */
	struct buf *in;                 /* buffer its body bytes arrive in (the receiving end's); NULL: none */
	size_t pass;                    /* bytes at the front of *in ready to go out */
	uint64_t left;                  /* LENGTH bodies: bytes not yet passed */
	enum http_body body;            /* how the body is delimited (RFC 9112 §6.3) */
	unsigned done:1;                /* body complete */
	/* Parsed head, filled by the end that parsed it. */
	struct http_msg head;
};

struct exch_front;
struct exch_source;
struct cache_req;

struct req {
	/* Reset for every request (up to qhead). */
	struct req *next_free;
	struct conn *c;                 /* the client connection; NULL: an internal exchange (a prefetch) */
	struct worker *wk;              /* the worker the exchange runs on (c->wk when c is set) */
	struct pd_config *gen;
	const struct route *rt;
	int up_idx, srv_idx;
	int series;                     /* metrics series (route x upstream) */
	/* The two ends (proxyd/exchange.h): the front the request came in
	 * on, and the source producing the response (NULL until one is
	 * chosen). b is the HTTP/1 backend source's connection. */
	const struct exch_front *front;
	const struct exch_source *src;
	struct bconn *b;
	struct cache_req *cache;        /* the route's cache at work (proxyd/cache.h); NULL: none */
	struct ev_timer *tm;            /* the exchange's timer: the client's one timer (HTTP/1), the stream's (HTTP/2) */
	void *fctx;                     /* the front's own state for this exchange (HTTP/2: the stream) */
	size_t qhead_off, rhead_off;    /* bytes of qhead / rhead already written */
	uint64_t key_hash;              /* for the hash balancer */
	uint64_t t_start;               /* exch_now_us() when the head was parsed */
	uint64_t bytes_out;
	uint64_t max_body;              /* request body limit, 0 = none (route or global) */
	uint64_t rate_t0, rate_bytes;   /* min_body_rate: window start (ev ms) and bytes in it */
	int status;                     /* status sent to the client (0 until a head went out) */
	int fail_status;                /* a retried failure's status (502/504), 0 = none */
	struct filter_chain fc;         /* response filters active (proxyd/filter.h) */
	struct filter_compress_req cz;  /* compression's facts and choice (proxyd/filter_compress.h) */
	size_t fpass;                   /* body stages active: bytes of fout ready to go out */
	uint8_t attempts;
	int sticky_srv;                 /* server the sticky cookie names, + 1; 0 = none */
	unsigned head_sent_any:1;       /* some byte of the request head reached a backend */
	unsigned body_sent_any:1;       /* some body byte went out */
	unsigned rhead_done:1;          /* final response head parsed */
	unsigned keep_client:1;
	unsigned upgrade:1;
	unsigned tunnel:1;              /* the response switched protocols (101): bytes both ways */
	unsigned is_head:1;
	unsigned local:1;               /* locally generated response */
	unsigned client_100:1;          /* client asked for 100-continue */
	unsigned q_abandon:1;           /* final response came before the request body ended */
	unsigned dechunk:1;             /* chunked response to an HTTP/1.0 client or to body filters: framing removed */
	unsigned sticky:1;              /* the upstream has sticky: Set-Cookie unless the named server answered */
	unsigned fheld:1;               /* body stages hold input not yet flushed (the source had more to read) */
	unsigned h2:1;                  /* HTTP/2 front: it frames the response body itself (no chunked framing) */
	unsigned cache_pass:1;          /* a route with a cache, the key marked pass: no cache state (cache == NULL),
	                                 * only its Cache-Status and log field (proxyd/cache.c) */
	unsigned https:1;               /* no connection: the scheme the request is for (proxyd/prefetch_front.c) */
	uint16_t loglen, logsplit;      /* access log prefix: see accesslog.c */
	uint8_t exclude[PD_MAX_SERVERS / 8];   /* servers already tried */
	char reqid[33];
	/* Kept across requests: storage of the rewritten heads (what the
	 * request's and the response's receiving ends write out), and of the
	 * body filters' output (fout, what goes to the client) and of their
	 * intermediate results (fmid). */
	struct buf qhead, rhead;
	struct buf fout, fmid;
	/* A finished request's cache state, kept for the next request of
	 * this struct (cache.c: no malloc per request on a cached route);
	 * freed with the struct. NULL: none. */
	struct cache_req *cache_spare;
	/* The request and the response: body streams reset by exch_alloc(),
	 * heads filled by their parsers. */
	struct xmsg rq, rs;
	struct h1_front_req h1q;        /* the front's (HTTP/1 only for now): initialized by it */
	char logpre[640];               /* access log fields known at head time */
	char fail_why[96];              /* valid while fail_status != 0 */
};

struct conn {
	/* The socket end (fd watcher, input buffer, TLS state): TLS listeners
	 * hold a reference on their listener's tls_server in ep.ssl, so
	 * certificates can change at reload under a live connection. */
	struct endpoint ep;
	struct pd_lopts *lo;            /* listener options (HSTS, redirect); NULL: none */
	struct ev_timer timer;
	struct conn *prev, *next;       /* worker's list of live connections */
	struct worker *wk;
	struct req *req;
	struct h2conn *h2;              /* HTTP/2 front (ALPN h2), NULL on HTTP/1 connections */
	const struct pd_listener *lis;

	uint64_t id;
	uint8_t peer[16];
	uint8_t cl_addr[16];            /* the prefix counted for max_connections_per_ip (cl_key) */
	uint16_t port;
	uint8_t family;                 /* AF_INET / AF_INET6 */
	uint8_t state;                  /* enum conn_state */
	uint8_t closing;
	uint8_t ip_counted;             /* counted in limits.max_connections_per_ip */
	uint32_t nreq;
	uint32_t linger_left;           /* CONN_LINGER: bytes still to discard before giving up */
};

/* Accepts a client socket fd on worker wk (takes ownership of fd). 0, or -1 with
 * fd closed (limit reached or ENOMEM). */
int conn_accept(struct worker *wk, int fd, const struct sockaddr_storage *ss, const struct pd_listener *lis);
/* Closes the client socket now and queues c to be reaped after this iteration;
 * releases the request and its backend connection (closed unless reusable). */
void conn_close(struct conn *c, const char *why);
/*
 * Closes c after its last response was written, as RFC 9112 §9.6 asks: the
 * write side is shut (the response is followed by a FIN), then whatever the
 * client still sends (pipelined requests, the rest of a refused body) is read
 * and discarded until it closes, for at most timeouts.linger (0: close at
 * once) and CONN_LINGER_BYTES, and only then is the socket closed. Closing a socket
 * with unread bytes in it makes the kernel answer with a reset and throw away
 * whatever of the response it had not delivered yet: the client would see
 * its answer (a 400, or the end of a large body) cut off. Releases the
 * request like conn_close(); TLS connections send close_notify first.
 */
#define CONN_LINGER_BYTES (1u << 20)
void conn_close_linger(struct conn *c, const char *why);
/* Reads and discards on a lingering connection (CONN_LINGER); closes it on
 * the client's FIN, an error or the byte bound. */
void conn_linger_read(struct conn *c);

/* Sets which events c waits for on its socket (EV_READ, EV_WRITE): ep_want()
 * unless c is closing. */
void conn_want(struct conn *c, int rd, int wr);
/* Client address as text ("1.2.3.4"); buf >= 48. */
const char *conn_peer_str(const struct conn *c, char *buf, size_t len);
/* An idle connection goes back to waiting (client_idle timer, EV_READ). */
void conn_set_idle(struct conn *c);
/* Closes c if it is idle (stop). */
void conn_close_if_idle(struct conn *c);
/* Drain (a planned handover): an idle keep-alive connection is closed after
 * at most grace_ms more of silence instead of at once. Closing an idle HTTP/1.1
 * connection races with a request the client may be sending on it; a client
 * that is busy sends within the grace and gets its answer with
 * Connection: close, so only a truly idle connection is closed under it. */
#define CONN_DRAIN_IDLE_GRACE_MS 250
void conn_drain_idle(struct conn *c, uint64_t grace_ms);

#endif
