/*
 * proxyd/compress-t.h — the types of response compression, shared by the
 * Accept-Encoding parser (accept_enc), the pure decision rules
 * (compress_rule), the codecs and their per-worker pool (compress) and the
 * configuration parser (compress_conf). Types and constants only.
 */
#ifndef PROXYD_COMPRESS_T_H
#define PROXYD_COMPRESS_T_H

#include <stddef.h>
#include <stdint.h>

/* Content codings proxyd can produce (RFC 9110 §8.4.1 registry names:
 * "gzip", "br" RFC 7932, "zstd" RFC 8878 / RFC 9659). IDENTITY is "no
 * coding": the value every "do not compress" answer carries. */
enum compress_alg {
	COMPRESS_IDENTITY = 0,
	COMPRESS_GZIP,
	COMPRESS_BR,
	COMPRESS_ZSTD,
	COMPRESS_NALG
};

/* Why a response went out uncompressed: a counter per reason
 * (tandem_compress_skipped_total{reason=...}, compress_skip_str()).
 * compress_decide() checks them in this order and reports the first. */
enum compress_skip {
	COMPRESS_SKIP_NONE = 0,      /* not skipped: compressed */
	COMPRESS_SKIP_OFF,           /* the route does not compress */
	COMPRESS_SKIP_UPGRADE,       /* 101 / an upgraded (tunnelled) connection */
	COMPRESS_SKIP_NO_BODY,       /* HEAD, 1xx, 204, 304: no content to code */
	COMPRESS_SKIP_PARTIAL,       /* 206, or a request with Range */
	COMPRESS_SKIP_ENCODED,       /* the response already has Content-Encoding */
	COMPRESS_SKIP_NO_TRANSFORM,  /* Cache-Control: no-transform (request or response) */
	COMPRESS_SKIP_TYPE,          /* Content-Type absent or not in the route's list */
	COMPRESS_SKIP_SHORT,         /* Content-Length known and under min_length */
	COMPRESS_SKIP_NOT_ACCEPTED,  /* the client accepts none of the route's codings */
	COMPRESS_SKIP_POOL_FULL,     /* the worker's compressor limit was reached */
	COMPRESS_SKIP_MAX
};

/* Levels accepted per coding. gzip: zlib's 1..9. br: 0..11. zstd: 1..19;
 * the "ultra" levels 20..22 need windows above the 8 MiB that RFC 9659 §3
 * allows the zstd content coding, so they are refused. */
#define COMPRESS_GZIP_LEVEL_MIN 1
#define COMPRESS_GZIP_LEVEL_MAX 9
#define COMPRESS_BR_LEVEL_MIN   0
#define COMPRESS_BR_LEVEL_MAX   11
#define COMPRESS_ZSTD_LEVEL_MIN 1
#define COMPRESS_ZSTD_LEVEL_MAX 19

/* Defaults (docs/compression.md says why these). */
#define COMPRESS_DEFAULT_GZIP_LEVEL 6
#define COMPRESS_DEFAULT_BR_LEVEL   4
#define COMPRESS_DEFAULT_ZSTD_LEVEL 3
#define COMPRESS_DEFAULT_MIN_LENGTH 256
#define COMPRESS_DEFAULT_MAX_STREAMS 64

/* One media-type pattern of a route's content-type list, lower case:
 *   EXACT   "application/json"  the type/subtype itself
 *   TYPE    "text/" and a star: any subtype of a top-level type ("text")
 *   SUFFIX  "+json"             any type whose subtype ends in a structured
 *                               syntax suffix (RFC 6838 §4.2.8)
 * len excludes the slash and star of a TYPE pattern. */
enum compress_pat_kind { COMPRESS_PAT_EXACT = 0, COMPRESS_PAT_TYPE, COMPRESS_PAT_SUFFIX };
#define COMPRESS_PAT_MAX 80
struct compress_type_pat {
	enum compress_pat_kind kind;
	uint8_t len;
	char s[COMPRESS_PAT_MAX];
};

/* A route's compression settings, immutable once a configuration generation
 * is built. prefer: the codings this route may use, best first (the order
 * that breaks ties between equal client q-values). types points to a static
 * default table or to memory owned here (types_owned). */
struct compress_route_conf {
	int enabled;
	int explicit;                           /* the route said compress = ...; */
	uint8_t prefer[COMPRESS_NALG];          /* enum compress_alg values */
	uint8_t nprefer;
	int8_t level[COMPRESS_NALG];            /* by enum compress_alg; [IDENTITY] unused */
	uint64_t min_length;                    /* bytes; known lengths under it are skipped */
	const struct compress_type_pat *types;
	size_t ntypes;
	struct compress_type_pat *types_owned;  /* freed by compress_route_conf_fini */
};

/* The global "compression" block: the worker pools' bound and the defaults
 * every route's block starts from. */
struct compress_global_conf {
	uint32_t max_streams;                   /* live compressors per worker */
	struct compress_route_conf defaults;    /* enabled: compression.enabled, for routes that say nothing */
};

#endif /* PROXYD_COMPRESS_T_H */
