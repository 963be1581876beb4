/*
 * proxyd/admin.h — the admin HTTP listener (/metrics, /healthz, /readyz;
 * lib/httpget) and the admin unix socket (line commands), both on the
 * control thread.
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
/* 1 when /readyz answers 200: serving, not draining, not stopping. */
int admin_ready(void);

#endif
