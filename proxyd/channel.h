/*
 * proxyd/channel.h — proxyd's side of the local channel to hacd (a unix
 * stream socket carrying ChannelMessage frames, proto/tandem.proto). Runs on
 * the control thread; proxyd works the same without hacd.
 */
#ifndef PROXYD_CHANNEL_H
#define PROXYD_CHANNEL_H

#include <stdint.h>

#include "lib/ev.h"

/* Starts connecting to path (retried every 500 ms while absent). node names
 * this proxyd in hello. 0/-1. */
int channel_start(struct ev_loop *loop, const char *path, const char *node);
/* Sends a status message now (after any change of readiness or drain). */
void channel_status_changed(void);
/* Sets the generation reported in hello. */
void channel_set_generation(uint64_t gen);
void channel_stop(void);
/* One frame hacd sent (a packed ChannelMessage, as lib/frame cut it from
 * the socket): drain, sync (admin entries here, the rest to
 * proxyd/cluster.c), view and reset. An undecodable frame is counted and
 * dropped; nothing fails. Control thread only; needs channel_start's loop
 * but no connection: tests/fuzz/fuzz_chan_proxyd.c feeds it directly. */
void channel_handle_frame(const uint8_t *p, size_t len);
/* Cluster admin entries from hacd: applied, ignored because no such server
 * is configured here, refused (missing name, bad state or weight), and
 * hacd's own ("@node/NODE": a node's drain, not a server's state). */
void channel_sync_counts(uint64_t *applied, uint64_t *unknown, uint64_t *bad, uint64_t *hacd);

#endif
