/*
 * proxyd/compress.h — streaming gzip, brotli and zstd coders for response
 * bodies, drawn from a bounded per-worker pool.
 *
 * A worker owns one struct compress_pool (not thread-safe: one thread
 * uses it; other threads may only read its counters). The response filter's
 * body stage takes a stream when compress_decide() said to, feeds it each
 * backend read (COMPRESS_FLUSH once the backend has nothing more for now,
 * so server-sent events and long polls reach the client as they arrive;
 * COMPRESS_WRITE while more is waiting), finishes it at the end of the body and
 * gives it back. Coder state is reused between responses, and memory the
 * coders free is kept in a small block cache, so a warm worker allocates
 * nothing per response or per chunk.
 */
#ifndef PROXYD_COMPRESS_H
#define PROXYD_COMPRESS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "proxyd/compress-t.h"

struct compress_pool;
struct compress_stream;

/*
 * A worker's counters, for /metrics. One writer (the worker), relaxed
 * loads and stores; other threads read them with relaxed loads, as
 * proxyd/metrics.h does with its per-worker struct.
 */
struct compress_stats {
	_Atomic uint64_t bytes_in[COMPRESS_NALG];   /* body bytes fed, by coding */
	_Atomic uint64_t bytes_out[COMPRESS_NALG];  /* coded bytes produced */
	_Atomic uint64_t streams[COMPRESS_NALG];    /* responses started */
	_Atomic uint64_t skipped[COMPRESS_SKIP_MAX];/* responses sent uncompressed, by reason */
	_Atomic uint64_t errors;                    /* coder failures (the response is cut short) */
	_Atomic uint64_t live;                      /* gauge: coder objects held, busy or idle */
	_Atomic uint64_t busy;                      /* gauge: streams in use */
	_Atomic uint64_t mem_bytes;                 /* gauge: bytes obtained from malloc, cache included */
	_Atomic uint64_t mem_peak;                  /* the highest mem_bytes so far */
	_Atomic uint64_t sys_allocs;                /* allocations that reached malloc */
};

/*
 * A pool of at most max_streams coder objects (busy and idle together:
 * that is the bound on coder memory, compress_pool_mem_bound() bytes at
 * worst). max_streams 0 means compression is unavailable (every acquire
 * fails and counts pool_full). NULL on ENOMEM.
 */
struct compress_pool *compress_pool_new(uint32_t max_streams);
/* Frees the pool, its idle coders and its cache. Every stream must have
 * been released. NULL is a no-op. */
void compress_pool_free(struct compress_pool *p);
/* A reload's new limit: idle coders above it are freed now, busy ones
 * when released. */
void compress_pool_set_limit(struct compress_pool *p, uint32_t max_streams);
/* Free every idle coder and the cached blocks (an idle worker's memory
 * back to the system; a later acquire builds them again). */
void compress_pool_trim(struct compress_pool *p);
const struct compress_stats *compress_pool_stats(const struct compress_pool *p);
/* Count a response that compress_decide() skipped (reason != NONE). */
void compress_pool_count_skip(struct compress_pool *p, enum compress_skip why);
/* Upper bound of the bytes one busy coder holds at the given level, for
 * documentation and tests (the pool's worst case is max_streams times the
 * largest). 0 for an unknown coding. */
size_t compress_stream_mem_bound(enum compress_alg alg, int level);

/*
 * A stream for one response body in coding alg (GZIP, BR or ZSTD) at
 * level (the route's; clamped into the coding's range). size_hint: the
 * body length when the response said it (Content-Length), else -1; zstd
 * then sizes its window and tables to the body (and its frame records the
 * length, so a body that ends at another length fails at COMPRESS_FINISH:
 * pass the length only when the framing guarantees it). Returns NULL,
 * counting skipped[pool_full], when the pool holds max_streams coders and
 * none idles; NULL with errors counted on ENOMEM. Either way the caller
 * sends the response uncompressed.
 */
struct compress_stream *compress_acquire(struct compress_pool *p, enum compress_alg alg, int level, int64_t size_hint);

enum compress_op {
	COMPRESS_WRITE = 0,  /* code what fits; the coder may hold bytes back */
	COMPRESS_FLUSH,      /* then emit everything so far, decodable by the client now
	                        (Z_SYNC_FLUSH, BROTLI_OPERATION_FLUSH, ZSTD_e_flush) */
	COMPRESS_FINISH      /* then end the coded stream (trailer, last block) */
};

/*
 * Feed len bytes at in (len may be 0) and append the coded bytes to out
 * (grown with buf_reserve as needed). A FLUSH with nothing fed since the
 * last flush emits nothing. Each flush ends a block and costs some size
 * (docs/compression.md): flush when the backend has nothing more ready
 * (a short read, or one that returned EAGAIN) or before waiting on it,
 * WRITE otherwise. After FINISH only compress_release is allowed.
 * Returns 0, or -1 on a coder error or ENOMEM (counted in errors; out may
 * hold part of the output): the stream is then unusable and the response
 * must be ended abnormally (close the connection, or reset the HTTP/2
 * stream), since what was sent cannot be completed.
 */
int compress_feed(struct compress_stream *s, const void *in, size_t len, enum compress_op op, struct buf *out);

/* The coding of s. */
enum compress_alg compress_stream_alg(const struct compress_stream *s);

/* Give s back to its pool (finished or not: a response abandoned halfway
 * releases too). NULL is a no-op. */
void compress_release(struct compress_stream *s);

#endif /* PROXYD_COMPRESS_H */
