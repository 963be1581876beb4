/*
 * proxyd/listener.h — the listening sockets of a configuration generation.
 *
 * The parser (proxyd/config.c) only reads addresses; this module opens them:
 * one SO_REUSEPORT socket per worker and listener address, so the kernel
 * spreads connections over the workers without a shared accept lock. A
 * generation that keeps an address of the one before it shares that
 * address's sockets (struct pd_lsock, refcounted), so a reload never closes
 * a listening socket it keeps and never drops a connection waiting in one.
 */
#ifndef PROXYD_LISTENER_H
#define PROXYD_LISTENER_H

#include <stdatomic.h>
#include <sys/socket.h>

#include "lib/conf.h"
#include "proxyd/config.h"

/* Listening sockets of one listener address: one SO_REUSEPORT socket per worker.
 * Shared between the generations that keep the same address; refcounted. */
struct pd_lsock {
	_Atomic int refs;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int nfds;
	_Atomic int fds[PD_MAX_WORKERS];
};

/* Opens (or, for addresses `old` already listens on with as many workers,
 * shares) one SO_REUSEPORT socket per worker for each listener of c, and
 * sets c->lsock_release so that freeing c drops them. 0, or -1 with a
 * message in err (sockets opened so far stay with c and close with it).
 * Control thread or startup only. */
int listener_open_all(struct pd_config *c, const struct pd_config *old, int nworkers, struct conf_err *err);

#endif
