/*
 * hacd/ctl.h — hacd's control socket for hactl: CtlRequest in, CtlResponse
 * out (lib/frame), root or hacd's own uid only.
 */
#ifndef TANDEM_HACD_CTL_H
#define TANDEM_HACD_CTL_H

#include <stdint.h>

#include "hacd/node.h"
#include "hacd/stream.h"
#include "lib/ev.h"
#include "lib/log.h"

/* CtlResponse.status values; hactl exits with them. */
#define CTL_OK          0
#define CTL_ERR         1   /* hacd refused or failed the command */
#define CTL_USAGE       2   /* unknown command or bad arguments */
#define CTL_UNREACHABLE 3   /* hactl only: hacd cannot be reached */

struct ctl {
	struct ev_loop *loop;
	struct node *node;
	char path[108];
	int lfd;
	struct ev_io lio;
	struct stream *clients;     /* every connection; subscribers have data != NULL */
	uint64_t rejected_uid, bad_request;
	struct log_ratelimit rl;
	void (*on_reload)(void *arg, int ok);  /* main.c: sd_notify around a reload */
	void *reload_arg;
};

/*
 * Listen on path (mode 0600, stale socket replaced) and serve node.
 * Commands: status, failover [VIP] [--to NODE], maintenance on|off, reload,
 * events (stream transitions until the client disconnects), drain|enable|
 * maint UPSTREAM/SERVER, weight UPSTREAM/SERVER N, admin (list),
 * ratelimit top [N] [--limit NAME], ratelimit show LIMIT KEY, bans
 * [--limit NAME] (hacd/ratekey.h parses their arguments; an unknown limit
 * or key is CTL_ERR).
 * Returns 0, or -1 with errno set.
 */
int ctl_open(struct ctl *c, struct ev_loop *loop, const char *path, struct node *node);
/*
 * One request frame from client s (a packed CtlRequest, as lib/frame cut it
 * from the connection): decoded and dispatched, the response queued on s.
 * An undecodable request is counted (bad_request) and s is closed. Needs no
 * listening socket: tests/fuzz/fuzz_ctl.c calls it on a socketpair stream.
 */
void ctl_input(struct ctl *c, struct stream *s, const uint8_t *msg, size_t len);

/* Close every connection and the listener, unlink the socket file. */
void ctl_close(struct ctl *c);

#endif /* TANDEM_HACD_CTL_H */
