/*
 * proxyd/admin.h — the admin HTTP listener (/metrics, /healthz, /readyz) and
 * the admin unix socket (line commands), both on the control thread.
 */
#ifndef PROXYD_ADMIN_H
#define PROXYD_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ev.h"

/* Starts the HTTP listener on listen_addr (NULL: none) and the unix socket at
 * sock_path (NULL: none, mode 0600). -1 (logged) when the HTTP listener cannot
 * be opened; a unix socket that cannot be created is logged and skipped. */
int admin_start(struct ev_loop *loop, const char *listen_addr, const char *sock_path);
/* Closes both listeners and every admin connection; unlinks the socket. */
void admin_stop(struct ev_loop *loop);
/* Parses the request line of one admin HTTP request, the len bytes at p (not
 * NUL-terminated; at least the first line ends in LF). Accepts only
 * "GET SP path SP HTTP/1.x" (RFC 9112 §3) with a path of 1..pathsz-1 bytes
 * starting with '/'; copies the path without its query into path
 * (NUL-terminated). 0, or -1 on anything else. Pure. */
int admin_parse_get(const char *p, size_t len, char *path, size_t pathsz);
/* 1 when /readyz answers 200: serving, not draining, not stopping. */
int admin_ready(void);

#endif
