/*
 * proxyd/client.h — the client front of an exchange, HTTP/1: reading
 * request heads and bodies from the client's endpoint (backpressure,
 * min_body_rate), writing the response, the TLS handshake, and every
 * phase's timeout. An HTTP/2 front would be a second file beside this one.
 */
#ifndef PROXYD_CLIENT_H
#define PROXYD_CLIENT_H

#include "lib/ev.h"

struct req;

/* Writes pending response bytes to the client. 1 all out, 0 EAGAIN (EV_WRITE
 * armed), -1 the client is gone (connection closed here). */
int client_flush(struct req *r);

/* io callback of client sockets. */
void client_io(struct ev_loop *loop, struct ev_io *w, uint32_t revents);
/* timer callback of client connections (every phase's timeout). */
void client_timeout(struct ev_loop *loop, struct ev_timer *t);
/* deferred callback: a pipelined request already buffered, or plaintext
 * left inside OpenSSL. */
void client_defer(struct ev_loop *loop, struct ev_defer *d);

#endif
