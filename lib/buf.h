/*
 * lib/buf.h — byte buffers and bounds-checked readers.
 *
 * A byte buffer with read and write positions. Storage is allocated lazily and can be released
 * when empty, so an idle connection holds no buffer memory.
 */
#ifndef TANDEM_LIB_BUF_H
#define TANDEM_LIB_BUF_H

#include <stddef.h>
#include <stdint.h>

/* Invariant: rpos <= wpos <= cap; data == NULL iff cap == 0. */
struct buf { uint8_t *data; size_t cap; size_t rpos; size_t wpos; int wipe; };

/* Largest capacity buf_reserve will grow to (guards size_t overflow and
 * runaway peers; callers enforce their own, smaller, protocol limits). */
#define BUF_MAX_CAP ((size_t)1 << 30)

void   buf_init(struct buf *b);                       /* empty, no storage */
void   buf_fini(struct buf *b);                       /* frees storage; b is empty and reusable after (wipe mode kept) */
/* Wipe mode, for buffers that may carry secrets (the local channel carries
 * TLS ticket keys): every byte that leaves the buffer's use is zeroed with
 * sodium_memzero before its memory is reused or freed: consumed bytes at
 * once, the old copy when compaction moves bytes or growth moves the
 * storage, everything at buf_fini and buf_release_if_empty. Off by default
 * (buf_init); stays set across buf_fini. */
void   buf_set_wipe(struct buf *b);
/* Ensure n writable bytes after wpos: first compacts (moves readable bytes
 * to the front) if that suffices, else grows (powers of two, minimum 512).
 * 0 ok; -1 on ENOMEM or n beyond BUF_MAX_CAP (b unchanged). */
int    buf_reserve(struct buf *b, size_t n);
size_t buf_len(const struct buf *b);                  /* readable bytes */
uint8_t *buf_rptr(const struct buf *b);               /* start of readable bytes (NULL if no storage) */
uint8_t *buf_wptr(const struct buf *b);               /* start of writable space (NULL if no storage) */
size_t buf_avail(const struct buf *b);                /* writable bytes without growing */
void   buf_produce(struct buf *b, size_t n);          /* after writing n bytes at wptr; n <= avail */
void   buf_consume(struct buf *b, size_t n);          /* after reading n bytes at rptr (n <= len); resets positions when empty */
int    buf_append(struct buf *b, const void *p, size_t n);   /* copy n bytes; 0/-1 (ENOMEM) */
/* Append formatted text (no NUL stored); 0/-1 (ENOMEM or format error). */
int    buf_appendf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void   buf_release_if_empty(struct buf *b);           /* free storage when no readable bytes */

/* Bounds-checked reader for untrusted bytes: every getter fails (returns -1 and sets err) on short data.
 * A failed getter consumes nothing; once err is set every later getter fails too,
 * so a parser may check r->err once at the end. The reader never owns p. */
struct buf_reader { const uint8_t *p; size_t len; size_t off; int err; };
void br_init(struct buf_reader *r, const void *p, size_t len);
int  br_u8(struct buf_reader *r, uint8_t *v);
int  br_u16be(struct buf_reader *r, uint16_t *v);
int  br_u32be(struct buf_reader *r, uint32_t *v);
int  br_u64be(struct buf_reader *r, uint64_t *v);
int  br_bytes(struct buf_reader *r, void *dst, size_t n);
const uint8_t *br_ptr(struct buf_reader *r, size_t n); /* pointer to next n bytes and skip them, NULL if short */
size_t br_left(const struct buf_reader *r);
/* Text readers over the same (pointer, length) bytes, for protocol lines that
 * are not NUL-terminated (sscanf and strtol would read on to a NUL that is not
 * there). br_lit consumes exactly the bytes of lit (a C string) or fails.
 * br_dec consumes between min and max ASCII digits (1 <= min <= max <= 9)
 * and fails, consuming nothing, when fewer than min are there or a digit
 * follows the max-th: no sign, no blank, no overflow. br_until returns the
 * bytes up to (not including) the first stop byte and consumes them, leaving
 * the stop byte unread; *n gets their count; NULL when no stop byte is left. */
int  br_lit(struct buf_reader *r, const char *lit);
int  br_dec(struct buf_reader *r, unsigned min, unsigned max, uint32_t *v);
const uint8_t *br_until(struct buf_reader *r, uint8_t stop, size_t *n);

/* Big-endian writers: p must have room for 2/4/8 bytes (no alignment needed). */
void put_u16be(uint8_t *p, uint16_t v);
void put_u32be(uint8_t *p, uint32_t v);
void put_u64be(uint8_t *p, uint64_t v);
/* Big-endian loads from memory the caller already bounds-checked. */
uint16_t get_u16be(const uint8_t *p);
uint32_t get_u32be(const uint8_t *p);
uint64_t get_u64be(const uint8_t *p);

#endif
