/*
 * proxyd/compress.c — the coders behind the compression filter, and the
 * per-worker pool that bounds their memory.
 *
 * Each coding is its reference library (zlib for gzip, libbrotlienc,
 * libzstd) driven through its streaming API, with one flush per backend
 * read so that a coded response is never held back waiting for more input
 * (a server-sent event must reach the client when it is sent). Coder state
 * is what costs: zlib holds about 256 KiB at the default window, zstd and
 * brotli a window each plus match tables. So the pool counts coder objects,
 * busy and idle, against a limit (past it: identity, counted), reuses them
 * between responses (deflateReset, ZSTD_CCtx_reset), and routes every
 * allocation of the three libraries through its own allocator: memory a
 * coder frees is cached in blocks of known size and handed back on the
 * next request of a similar size. libbrotlienc 1.0 has no reset, so a
 * brotli encoder is destroyed when its response ends and created at the
 * next; its allocations then come from the cache, which makes creating one
 * cost no malloc or page fault (tests/unit/test_compress.c checks the
 * allocation count of a warm pool).
 *
 * Windows are capped for memory (COMPRESS_ZSTD_WLOG_MAX, COMPRESS_BR_LGWIN:
 * the reasons beside them) and, for zstd, by RFC 9659 §3, which limits the
 * window of the "zstd" content coding to 8 MiB.
 */
#include "proxyd/compress.h"

#include <limits.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/encode.h>
#include <zlib.h>
#define ZSTD_STATIC_LINKING_ONLY   /* ZSTD_customMem, ZSTD_createCCtx_advanced */
#include <zstd.h>

/*
 * zstd's window at most 2^20 (1 MiB): about 1.6 MiB per level-3 stream
 * instead of 2.6 MiB at its default 2^21, for a ratio that differs only on
 * bodies over 1 MiB (docs/compression.md has the figures). Bodies with a
 * Content-Length get a window sized to them (zstd shrinks it itself).
 * RFC 9659 §3 would allow 2^23.
 */
#define COMPRESS_ZSTD_WLOG_MAX 20
/* brotli's window: 2^20, for the same reason (its default is 2^22). */
#define COMPRESS_BR_LGWIN 20
/* gzip: zlib's largest window (32 KiB) and memLevel 8, the defaults of zlib
 * and of nginx's gzip module alike, so sizes compare. */
#define COMPRESS_GZIP_WBITS (15 + 16)   /* +16: the gzip wrapper (RFC 1952), not zlib's */
#define COMPRESS_GZIP_MEMLEVEL 8

/* Output is reserved in steps this small at least; text codes to about a
 * quarter of its size, so a quarter of the input is reserved first. */
#define OUT_MIN 1024

#define STAT_ADD(x, n) atomic_store_explicit(&(x), atomic_load_explicit(&(x), memory_order_relaxed) + (n), \
	memory_order_relaxed)
#define STAT_SUB(x, n) atomic_store_explicit(&(x), atomic_load_explicit(&(x), memory_order_relaxed) - (n), \
	memory_order_relaxed)

/* ---- the block cache ---------------------------------------------------- */

/* Every block the libraries get carries this header in front. */
struct blk {
	size_t size;        /* usable bytes after the header */
	struct blk *next;   /* while cached */
};
#define BLK_HDR ((sizeof(struct blk) + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1))
/* At most this many bytes stay cached at first; beyond it a freed block
 * goes back to malloc. A brotli encoder raises it to what one encoder of
 * its quality holds (compress_stream_mem_bound), so that rebuilding one per
 * response finds every block it needs in the cache. */
#define CACHE_MIN ((size_t)4 << 20)

struct compress_stream {
	struct compress_pool *pool;
	struct compress_stream *next;   /* in the pool's idle list of its coding */
	enum compress_alg alg;
	int level;                      /* the level the coder is set to */
	int inited;                     /* the coder object exists */
	int dirty;                      /* bytes fed since the last flush */
	int finished;
	int failed;
	z_stream z;                     /* gzip; zlib's state points back here: never moved */
	ZSTD_CCtx *zc;                  /* zstd */
	BrotliEncoderState *br;         /* brotli */
};

struct compress_pool {
	uint32_t limit;
	uint32_t live;                  /* stream objects, busy or idle */
	uint32_t busy;
	struct compress_stream *idle[COMPRESS_NALG];
	struct blk *cache;
	size_t cached;
	size_t cache_max;
	struct compress_stats st;
};

static void *
pool_alloc(struct compress_pool *p, size_t n)
{
	struct blk **pp, **best = NULL, *b;

	if (n == 0)
		n = 1;
	/* Best fit among cached blocks no more than twice the request: the
	 * coders ask for the same sizes response after response. */
	for (pp = &p->cache; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->size >= n && (*pp)->size / 2 <= n && (best == NULL || (*pp)->size < (*best)->size))
			best = pp;
	if (best != NULL) {
		b = *best;
		*best = b->next;
		p->cached -= b->size;
		return (char *)b + BLK_HDR;
	}
	if (n > SIZE_MAX - BLK_HDR || (b = malloc(BLK_HDR + n)) == NULL)
		return NULL;
	b->size = n;
	STAT_ADD(p->st.sys_allocs, 1);
	STAT_ADD(p->st.mem_bytes, n);
	if (atomic_load_explicit(&p->st.mem_bytes, memory_order_relaxed) >
	    atomic_load_explicit(&p->st.mem_peak, memory_order_relaxed))
		atomic_store_explicit(&p->st.mem_peak, atomic_load_explicit(&p->st.mem_bytes, memory_order_relaxed),
		    memory_order_relaxed);
	return (char *)b + BLK_HDR;
}

static void
pool_free(struct compress_pool *p, void *ptr)
{
	struct blk *b;

	if (ptr == NULL)
		return;
	b = (struct blk *)(void *)((char *)ptr - BLK_HDR);
	if (p->cached + b->size <= p->cache_max) {
		b->next = p->cache;
		p->cache = b;
		p->cached += b->size;
		return;
	}
	STAT_SUB(p->st.mem_bytes, b->size);
	free(b);
}

static void
cache_drop(struct compress_pool *p)
{
	while (p->cache != NULL) {
		struct blk *b = p->cache;
		p->cache = b->next;
		STAT_SUB(p->st.mem_bytes, b->size);
		free(b);
	}
	p->cached = 0;
}

/* The three libraries' allocator shapes. */
static voidpf
z_alloc(voidpf opaque, uInt items, uInt size)
{
	if (size != 0 && items > SIZE_MAX / size)
		return Z_NULL;
	return pool_alloc(opaque, (size_t)items * size);
}

static void
z_free(voidpf opaque, voidpf ptr)
{
	pool_free(opaque, ptr);
}

static void *
lib_alloc(void *opaque, size_t n)
{
	return pool_alloc(opaque, n);
}

static void
lib_free(void *opaque, void *ptr)
{
	pool_free(opaque, ptr);
}

/* ---- coders ------------------------------------------------------------- */

static int
clamp_level(enum compress_alg alg, int level)
{
	int lo = 0, hi = 0;

	switch (alg) {
	case COMPRESS_GZIP: lo = COMPRESS_GZIP_LEVEL_MIN; hi = COMPRESS_GZIP_LEVEL_MAX; break;
	case COMPRESS_BR:   lo = COMPRESS_BR_LEVEL_MIN;   hi = COMPRESS_BR_LEVEL_MAX;   break;
	case COMPRESS_ZSTD: lo = COMPRESS_ZSTD_LEVEL_MIN; hi = COMPRESS_ZSTD_LEVEL_MAX; break;
	default: break;
	}
	return level < lo ? lo : level > hi ? hi : level;
}

/* Drop the coder object of s (the stream struct stays). */
static void
coder_end(struct compress_stream *s)
{
	if (!s->inited)
		return;
	switch (s->alg) {
	case COMPRESS_GZIP: deflateEnd(&s->z); break;
	case COMPRESS_ZSTD: ZSTD_freeCCtx(s->zc); s->zc = NULL; break;
	case COMPRESS_BR:   BrotliEncoderDestroyInstance(s->br); s->br = NULL; break;
	default: break;
	}
	s->inited = 0;
}

static int
gzip_start(struct compress_stream *s, int level)
{
	if (s->inited) {
		if (deflateReset(&s->z) != Z_OK)
			return -1;
		if (level == s->level)
			return 0;
		/* With no output buffer deflateParams cannot emit a block; zlib
		 * releases that only fail it then, and a fresh init serves. */
		s->z.next_out = Z_NULL;
		s->z.avail_out = 0;
		if (deflateParams(&s->z, level, Z_DEFAULT_STRATEGY) == Z_OK) {
			s->level = level;
			return 0;
		}
		coder_end(s);
	}
	memset(&s->z, 0, sizeof(s->z));
	s->z.zalloc = z_alloc;
	s->z.zfree = z_free;
	s->z.opaque = s->pool;
	if (deflateInit2(&s->z, level, Z_DEFLATED, COMPRESS_GZIP_WBITS, COMPRESS_GZIP_MEMLEVEL,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	s->inited = 1;
	s->level = level;
	return 0;
}

/*
 * zstd's parameters for a level with the window capped: adjusted as for a
 * source the size of the cap, so the hash and chain tables shrink with the
 * window (zstd does not shrink them when only windowLog is set, and level
 * 19 would then hold 80 MiB).
 */
static ZSTD_compressionParameters
zstd_params(int level)
{
	ZSTD_compressionParameters cp = ZSTD_getCParams(level, ZSTD_CONTENTSIZE_UNKNOWN, 0);

	if (cp.windowLog > COMPRESS_ZSTD_WLOG_MAX)
		cp = ZSTD_adjustCParams(cp, (unsigned long long)1 << COMPRESS_ZSTD_WLOG_MAX, 0);
	return cp;
}

static int
zstd_set(ZSTD_CCtx *zc, ZSTD_cParameter what, int v)
{
	return ZSTD_isError(ZSTD_CCtx_setParameter(zc, what, v)) ? -1 : 0;
}

static int
zstd_start(struct compress_stream *s, int level, int64_t size_hint)
{
	if (!s->inited) {
		ZSTD_customMem cm = { lib_alloc, lib_free, s->pool };
		if ((s->zc = ZSTD_createCCtx_advanced(cm)) == NULL)
			return -1;
		s->inited = 1;
	} else if (ZSTD_isError(ZSTD_CCtx_reset(s->zc, ZSTD_reset_session_and_parameters))) {
		return -1;
	}
	if (zstd_set(s->zc, ZSTD_c_compressionLevel, level) == -1)
		return -1;
	if (size_hint >= 0 && size_hint <= ((int64_t)1 << COMPRESS_ZSTD_WLOG_MAX)) {
		/* A body that fits the window: zstd picks its parameters for
		 * that size itself (tables tuned for small inputs). */
		if (ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(s->zc, (unsigned long long)size_hint)))
			return -1;
	} else {
		ZSTD_compressionParameters cp = zstd_params(level);
		if (zstd_set(s->zc, ZSTD_c_windowLog, (int)cp.windowLog) == -1 ||
		    zstd_set(s->zc, ZSTD_c_hashLog, (int)cp.hashLog) == -1 ||
		    zstd_set(s->zc, ZSTD_c_chainLog, (int)cp.chainLog) == -1 ||
		    zstd_set(s->zc, ZSTD_c_searchLog, (int)cp.searchLog) == -1 ||
		    zstd_set(s->zc, ZSTD_c_minMatch, (int)cp.minMatch) == -1 ||
		    zstd_set(s->zc, ZSTD_c_targetLength, (int)cp.targetLength) == -1 ||
		    zstd_set(s->zc, ZSTD_c_strategy, (int)cp.strategy) == -1)
			return -1;
		if (size_hint >= 0 && ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(s->zc, (unsigned long long)size_hint)))
			return -1;
	}
	s->level = level;
	return 0;
}

static int
br_start(struct compress_stream *s, int level, int64_t size_hint)
{
	size_t need = compress_stream_mem_bound(COMPRESS_BR, level);

	/* libbrotlienc 1.0 cannot reset an encoder: build one per response
	 * (from cached blocks once the pool is warm). */
	coder_end(s);
	if (s->pool->cache_max < need)
		s->pool->cache_max = need;
	if ((s->br = BrotliEncoderCreateInstance(lib_alloc, lib_free, s->pool)) == NULL)
		return -1;
	s->inited = 1;
	if (!BrotliEncoderSetParameter(s->br, BROTLI_PARAM_QUALITY, (uint32_t)level) ||
	    !BrotliEncoderSetParameter(s->br, BROTLI_PARAM_LGWIN, COMPRESS_BR_LGWIN))
		return -1;
	if (size_hint >= 0 && !BrotliEncoderSetParameter(s->br, BROTLI_PARAM_SIZE_HINT,
	    size_hint > (1 << 30) ? (1u << 30) : (uint32_t)size_hint))
		return -1;
	s->level = level;
	return 0;
}

/* Room for at least want bytes at out's write end; 0 or -1. */
static int
out_room(struct buf *out, size_t want)
{
	if (buf_avail(out) >= OUT_MIN)
		return 0;
	return buf_reserve(out, want < OUT_MIN ? OUT_MIN : want);
}

static int
gzip_feed(struct compress_stream *s, const uint8_t *in, size_t len, enum compress_op op, struct buf *out)
{
	int mode = op == COMPRESS_WRITE ? Z_NO_FLUSH : op == COMPRESS_FLUSH ? Z_SYNC_FLUSH : Z_FINISH;
	size_t want = len / 4;

	s->z.next_in = (Bytef *)(uintptr_t)in;
	s->z.avail_in = 0;
	for (;;) {
		size_t avail, before;
		int rc;

		/* zlib counts in uInt: a longer input goes in pieces, and only
		 * the last one carries the flush. */
		if (s->z.avail_in == 0 && len > 0) {
			size_t piece = len > UINT_MAX ? UINT_MAX : len;
			s->z.avail_in = (uInt)piece;
			len -= piece;
		}
		if (out_room(out, want) == -1)
			return -1;
		avail = buf_avail(out);
		s->z.next_out = buf_wptr(out);
		s->z.avail_out = avail > UINT_MAX ? UINT_MAX : (uInt)avail;
		before = s->z.avail_out;
		rc = deflate(&s->z, len == 0 ? mode : Z_NO_FLUSH);
		buf_produce(out, before - s->z.avail_out);
		/* Z_BUF_ERROR only says no progress was possible: not fatal. */
		if (rc == Z_STREAM_ERROR)
			return -1;
		if (rc == Z_STREAM_END)
			return 0;
		if (mode != Z_FINISH && len == 0 && s->z.avail_in == 0 && s->z.avail_out != 0)
			return 0;
		want = OUT_MIN * 4;
	}
}

static int
zstd_feed(struct compress_stream *s, const uint8_t *in, size_t len, enum compress_op op, struct buf *out)
{
	ZSTD_EndDirective mode = op == COMPRESS_WRITE ? ZSTD_e_continue : op == COMPRESS_FLUSH ? ZSTD_e_flush : ZSTD_e_end;
	ZSTD_inBuffer ib = { in, len, 0 };
	size_t want = len / 4;

	for (;;) {
		ZSTD_outBuffer ob;
		size_t r;

		if (out_room(out, want) == -1)
			return -1;
		ob.dst = buf_wptr(out);
		ob.size = buf_avail(out);
		ob.pos = 0;
		r = ZSTD_compressStream2(s->zc, &ob, &ib, mode);
		buf_produce(out, ob.pos);
		if (ZSTD_isError(r))
			return -1;
		if (ib.pos == ib.size && (mode == ZSTD_e_continue || r == 0))
			return 0;
		want = OUT_MIN * 4;
	}
}

static int
br_feed(struct compress_stream *s, const uint8_t *in, size_t len, enum compress_op op, struct buf *out)
{
	BrotliEncoderOperation mode = op == COMPRESS_WRITE ? BROTLI_OPERATION_PROCESS :
	    op == COMPRESS_FLUSH ? BROTLI_OPERATION_FLUSH : BROTLI_OPERATION_FINISH;
	size_t avail_in = len, want = len / 4;
	const uint8_t *next_in = in;

	for (;;) {
		size_t avail, avail_out;
		uint8_t *next_out;

		if (out_room(out, want) == -1)
			return -1;
		avail = avail_out = buf_avail(out);
		next_out = buf_wptr(out);
		if (!BrotliEncoderCompressStream(s->br, mode, &avail_in, &next_in, &avail_out, &next_out, NULL))
			return -1;
		buf_produce(out, avail - avail_out);
		if (mode == BROTLI_OPERATION_FINISH ? BrotliEncoderIsFinished(s->br) :
		    avail_in == 0 && !BrotliEncoderHasMoreOutput(s->br))
			return 0;
		want = OUT_MIN * 4;
	}
}

/* ---- the pool ----------------------------------------------------------- */

struct compress_pool *
compress_pool_new(uint32_t max_streams)
{
	struct compress_pool *p = calloc(1, sizeof(*p));

	if (p != NULL) {
		p->limit = max_streams;
		p->cache_max = CACHE_MIN;
	}
	return p;
}

static void
stream_destroy(struct compress_pool *p, struct compress_stream *s)
{
	coder_end(s);
	pool_free(p, s);
	p->live--;
	STAT_SUB(p->st.live, 1);
}

/* Free idle streams until live <= keep. */
static void
idle_shrink(struct compress_pool *p, uint32_t keep)
{
	for (int a = 0; a < COMPRESS_NALG && p->live > keep; a++)
		while (p->idle[a] != NULL && p->live > keep) {
			struct compress_stream *s = p->idle[a];
			p->idle[a] = s->next;
			stream_destroy(p, s);
		}
}

void
compress_pool_free(struct compress_pool *p)
{
	if (p == NULL)
		return;
	idle_shrink(p, 0);
	cache_drop(p);
	free(p);
}

void
compress_pool_set_limit(struct compress_pool *p, uint32_t max_streams)
{
	p->limit = max_streams;
	idle_shrink(p, max_streams);
}

void
compress_pool_trim(struct compress_pool *p)
{
	idle_shrink(p, 0);
	cache_drop(p);
}

const struct compress_stats *
compress_pool_stats(const struct compress_pool *p)
{
	return &p->st;
}

void
compress_pool_count_skip(struct compress_pool *p, enum compress_skip why)
{
	if ((unsigned)why < COMPRESS_SKIP_MAX)
		STAT_ADD(p->st.skipped[why], 1);
}

size_t
compress_stream_mem_bound(enum compress_alg alg, int level)
{
	level = clamp_level(alg, level);
	switch (alg) {
	case COMPRESS_GZIP:
		/* zlib's deflate.h: window 2 * 2^wbits, prev 2 * 2^wbits, head
		 * 2 * 2^(memLevel + 7), pending 4 * 2^(memLevel + 6), state. */
		return ((size_t)4 << 15) + ((size_t)2 << (COMPRESS_GZIP_MEMLEVEL + 7)) +
		    ((size_t)4 << (COMPRESS_GZIP_MEMLEVEL + 6)) + 8192;
	case COMPRESS_ZSTD:
		return ZSTD_estimateCStreamSize_usingCParams(zstd_params(level));
	case COMPRESS_BR: {
		/* libbrotlienc has no estimate in its API: what a 4 MiB body
		 * made each quality hold at COMPRESS_BR_LGWIN 20, rounded up
		 * (the ring buffer is the window; qualities 7 to 9 add large
		 * hash tables). tests/unit/test_compress.c holds them to it. */
		static const uint16_t kib[COMPRESS_BR_LEVEL_MAX + 1] = { 256, 256, 3072, 3072, 3072, 4608, 4608,
			11264, 19456, 36864, 14336, 14336 };
		return (size_t)kib[level] << 10;
	}
	default:
		return 0;
	}
}

struct compress_stream *
compress_acquire(struct compress_pool *p, enum compress_alg alg, int level, int64_t size_hint)
{
	struct compress_stream *s = NULL;
	int rc;

	if (alg != COMPRESS_GZIP && alg != COMPRESS_BR && alg != COMPRESS_ZSTD)
		return NULL;
	level = clamp_level(alg, level);
	if (p->idle[alg] != NULL) {
		s = p->idle[alg];
		p->idle[alg] = s->next;
	} else {
		if (p->live >= p->limit) {
			/* Full: make room by dropping an idle coder of another coding. */
			idle_shrink(p, p->limit > 0 ? p->limit - 1 : 0);
			if (p->live >= p->limit) {
				STAT_ADD(p->st.skipped[COMPRESS_SKIP_POOL_FULL], 1);
				return NULL;
			}
		}
		if ((s = pool_alloc(p, sizeof(*s))) == NULL) {
			STAT_ADD(p->st.errors, 1);
			return NULL;
		}
		memset(s, 0, sizeof(*s));
		s->pool = p;
		s->alg = alg;
		p->live++;
		STAT_ADD(p->st.live, 1);
	}
	switch (alg) {
	case COMPRESS_GZIP: rc = gzip_start(s, level); break;
	case COMPRESS_ZSTD: rc = zstd_start(s, level, size_hint); break;
	default:            rc = br_start(s, level, size_hint); break;
	}
	if (rc == -1) {
		STAT_ADD(p->st.errors, 1);
		stream_destroy(p, s);
		return NULL;
	}
	s->next = NULL;
	s->dirty = 0;
	s->finished = 0;
	s->failed = 0;
	p->busy++;
	STAT_ADD(p->st.busy, 1);
	STAT_ADD(p->st.streams[alg], 1);
	return s;
}

int
compress_feed(struct compress_stream *s, const void *in, size_t len, enum compress_op op, struct buf *out)
{
	size_t before = buf_len(out);
	int rc;

	if (s->failed || s->finished)
		return -1;
	if (len == 0 && op == COMPRESS_WRITE)
		return 0;
	/* A flush with nothing new would only add an empty block. */
	if (len == 0 && op == COMPRESS_FLUSH && !s->dirty)
		return 0;
	switch (s->alg) {
	case COMPRESS_GZIP: rc = gzip_feed(s, in, len, op, out); break;
	case COMPRESS_ZSTD: rc = zstd_feed(s, in, len, op, out); break;
	default:            rc = br_feed(s, in, len, op, out); break;
	}
	STAT_ADD(s->pool->st.bytes_out[s->alg], buf_len(out) - before);
	if (rc == -1) {
		s->failed = 1;
		STAT_ADD(s->pool->st.errors, 1);
		return -1;
	}
	STAT_ADD(s->pool->st.bytes_in[s->alg], len);
	s->dirty = op == COMPRESS_WRITE && (s->dirty || len > 0);
	s->finished = op == COMPRESS_FINISH;
	return 0;
}

enum compress_alg
compress_stream_alg(const struct compress_stream *s)
{
	return s->alg;
}

void
compress_release(struct compress_stream *s)
{
	struct compress_pool *p;

	if (s == NULL)
		return;
	p = s->pool;
	p->busy--;
	STAT_SUB(p->st.busy, 1);
	if (s->failed || p->live > p->limit) {
		stream_destroy(p, s);
		return;
	}
	/* A brotli encoder cannot be reset: free it now, so an idle stream
	 * holds only cached blocks. */
	if (s->alg == COMPRESS_BR)
		coder_end(s);
	s->next = p->idle[s->alg];
	p->idle[s->alg] = s;
}
