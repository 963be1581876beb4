/*
 * hacd/channel.h — hacd's end of the local channel to proxyd: a unix socket
 * proxyd connects to, readiness tracking, and drain commands.
 */
#ifndef TANDEM_HACD_CHANNEL_H
#define TANDEM_HACD_CHANNEL_H

#include <stdint.h>
#include <sys/types.h>

#include "hacd/stream.h"
#include "lib/ev.h"
#include "lib/log.h"
#include "proto/tandem.pb-c.h"

/* Called when readiness (or the draining flag) changed. */
typedef void (*channel_changed_cb)(void *arg);
/* Called when a proxyd connection is accepted (hacd/repl.c sends it the
 * admin state then). */
typedef void (*channel_connected_cb)(void *arg);
/* Called for a StateSync proxyd sent; valid only during the call. */
typedef void (*channel_sync_cb)(void *arg, const Tandem__StateSync *sync);
/* A CacheSummary or CacheDigest from proxyd (arg: sync_arg). */
typedef void (*channel_cache_cb)(void *arg, const Tandem__ChannelMessage *m);

/* Who may connect as proxyd (hacd.conf proxyd_user and channel { }). */
struct channel_policy {
	int has_proxyd_uid;         /* proxyd_user given */
	uid_t proxyd_uid;
	int allow_root;             /* root may connect too */
	int replace;                /* a second connection displaces the first ("replace") */
};

struct channel {
	struct ev_loop *loop;
	char path[108];
	int lfd;
	struct ev_io lio;
	struct stream *conn;        /* proxyd's connection, NULL when none */
	int ready;                  /* connected and its last status said ready */
	int draining;               /* its last status said draining */
	uint64_t active;            /* its last status: active connections */
	int quiet;                  /* draining and no connection open for a few ms */
	int drain_tolerated;        /* hacd asked for the drain that proxyd reports */
	pid_t pid;                  /* from its hello, 0 unknown */
	int drain_wanted;           /* sent again when proxyd reconnects */
	struct channel_policy pol;
	uint64_t rejected_uid;      /* connections from a uid that may not be proxyd */
	uint64_t rejected_busy;     /* connections while proxyd was connected (takeover "refuse") */
	uint64_t bad_message;
	uint64_t unexpected;        /* messages only hacd sends (drain, view, reset) */
	struct log_ratelimit rl;
	channel_changed_cb changed;
	void *arg;
	channel_connected_cb connected;  /* optional, set after channel_open */
	channel_sync_cb sync;            /* optional, set after channel_open */
	channel_cache_cb cache;          /* optional: cache summaries and digests (hacd/cacheview.h) */
	void *sync_arg;                  /* for both */
};

/*
 * Listen on path (mode 0600; a stale socket file is replaced). A peer
 * (SO_PEERCRED) is kept only if it runs as pol->proxyd_uid, as hacd's own
 * uid when that is not root and no proxyd_uid is set, or as root with
 * pol->allow_root; others are
 * closed and counted (rejected_uid). One proxyd at a time: while a live
 * connection exists a new one is closed and counted (rejected_busy), unless
 * pol->replace, when it replaces the old. With has_proxyd_uid (and
 * proxyd_uid not hacd's own) the socket file is handed to that user: when
 * hacd runs with proxyd_uid's primary group (hacd.service's Group=) by that
 * group and mode 0660, with no chown(2); otherwise it is chowned to
 * proxyd_uid (CAP_CHOWN). pol is copied. Returns 0, or -1 with errno set.
 */
int channel_open(struct channel *ch, struct ev_loop *loop, const char *path,
    const struct channel_policy *pol, channel_changed_cb changed, void *arg);
/*
 * One frame proxyd sent (a packed ChannelMessage, as lib/frame cut it from
 * the connection): hello and status update readiness, a sync goes to
 * ch->sync (hacd/repl.c), drain, view and reset are counted (unexpected)
 * and ignored. Returns 0, or -1 when the frame does not unpack (counted in
 * bad_message): the caller closes the connection. Needs no socket, only
 * ch->loop for its clock: tests/fuzz/fuzz_chan_hacd.c feeds it directly.
 */
int channel_input(struct channel *ch, const uint8_t *msg, size_t len);

/* Close the listener and any connection, and unlink the socket file. */
void channel_close(struct channel *ch);

/* 1 if proxyd is connected and said it is ready, or is draining because
 * hacd asked it to (it still serves: see channel.c). Disconnection makes
 * this 0 at once: that is how hacd notices proxyd's death. */
int channel_ready(const struct channel *ch);

/* Ask proxyd to drain (on) or stop draining (off). Remembered and repeated
 * when proxyd reconnects. 0 sent (or queued), -1 proxyd not connected. */
int channel_send_drain(struct channel *ch, int on);

/* Send one packed ChannelMessage (e.g. from replica_export / a StateSync
 * hacd built) to proxyd. 0 sent (or queued), -1 proxyd not connected or
 * the connection failed (it is then being closed). */
int channel_send(struct channel *ch, const uint8_t *msg, size_t len);

/* Bytes queued to proxyd and not yet written (0 when not connected): the
 * replication pump holds back while proxyd is behind. */
size_t channel_pending(const struct channel *ch);

#endif /* TANDEM_HACD_CHANNEL_H */
