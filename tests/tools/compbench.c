/*
 * tests/tools/compbench.c — the codec half of `make bench-compress`: proxyd's
 * coders (proxyd/compress.c) against plain zlib, on a text corpus made here
 * deterministically (no network, no files shipped).
 *
 *   compbench gen html|json SIZE      write SIZE bytes of the corpus to stdout
 *   compbench run [--rounds N] [--ms MS] [--only NAME]
 *                                     the table: CPU per MB and coded size
 *
 * Each row codes each corpus (HTML and JSON, 16 KiB and 1 MiB) repeatedly
 * for about MS milliseconds of CPU per round (default 200), ROUNDS rounds
 * (default 5); the median round's CPU time per MB of input is printed with
 * the coded size. Rows:
 *   zlib-N      plain zlib: deflateReset + one deflate(Z_FINISH) over the
 *               whole body, gzip wrapper, windowBits 15, memLevel 8 — what
 *               a server that has the body in one piece does (the reference)
 *   gzip-N      proxyd's API as the proxy drives it: 16 KiB reads, each
 *               COMPRESS_FLUSH (Z_SYNC_FLUSH), then COMPRESS_FINISH
 *   br-N, zstd-N  the same for brotli and zstd
 * CPU is this process's (CLOCK_PROCESS_CPUTIME_ID), single-threaded. On a
 * shared machine the medians move by a few percent; the sizes do not.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "lib/buf.h"
#include "proxyd/compress.h"

/* ---- the corpus ------------------------------------------------------------ */

static uint64_t rs;

static uint64_t
rnd(void)
{
	rs ^= rs >> 12;
	rs ^= rs << 25;
	rs ^= rs >> 27;
	return rs * 2685821657736338717ull;
}

#define NWORDS 600
static char words[NWORDS][12];

/* Pseudo-words of 2-4 syllables; picked with a skew (a few frequent, a
 * long tail), as words in real text are. */
static void
make_words(void)
{
	static const char *const syl[] = { "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "den", "mar", "pel", "sor",
		"tan", "ber", "cal", "fin", "gra", "hum", "jet", "lux", "or", "an", "el", "is" };
	for (int i = 0; i < NWORDS; i++) {
		int n = 2 + (int)(rnd() % 3);
		words[i][0] = '\0';
		for (int j = 0; j < n; j++)
			strcat(words[i], syl[rnd() % (sizeof(syl) / sizeof(syl[0]))]);
	}
}

static const char *
word(void)
{
	double u = (double)(rnd() >> 11) / (double)(1ull << 53);
	return words[(int)(NWORDS * u * u)];
}

struct out { char *p; size_t n, cap; };

static void
put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->p + o->n, o->cap - o->n, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < o->cap - o->n)
			break;
		o->cap = o->cap * 2 + (size_t)n + 64;
		if ((o->p = realloc(o->p, o->cap)) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
	o->n += (size_t)n;
}

static void
sentence(struct out *o, int min, int span)
{
	int n = min + (int)(rnd() % (unsigned)span);
	for (int i = 0; i < n; i++)
		put(o, i ? " %s" : "%s", word());
}

/* An HTML product listing: head, navigation, then cards until size. */
static char *
gen_html(size_t size)
{
	struct out o = { NULL, 0, 0 };
	unsigned id = 1000;

	put(&o, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	sentence(&o, 3, 4);
	put(&o, "</title>\n<link rel=\"stylesheet\" href=\"/static/css/site.4f2a9c.css\">\n"
	    "<script src=\"/static/js/app.91bd03.js\" defer></script>\n</head>\n<body class=\"listing\">\n"
	    "<nav class=\"top\"><ul>\n");
	for (int i = 0; i < 8; i++)
		put(&o, "<li><a href=\"/c/%s\">%s</a></li>\n", word(), word());
	put(&o, "</ul></nav>\n<main id=\"content\">\n");
	while (o.n < size) {
		id += 1 + (unsigned)(rnd() % 7);
		put(&o, "<div class=\"card\" id=\"item-%u\" data-rank=\"%u\">\n  <a href=\"/p/%u-%s-%s\">"
		    "<img src=\"/img/%u.jpg\" alt=\"%s %s\" loading=\"lazy\"></a>\n  <h3 class=\"title\">",
		    id, (unsigned)(rnd() % 500), id, word(), word(), id, word(), word());
		sentence(&o, 2, 5);
		put(&o, "</h3>\n  <p class=\"desc\">");
		sentence(&o, 10, 25);
		put(&o, ".</p>\n  <span class=\"price\">$%u.%02u</span> <span class=\"stock %s\">%s</span>\n</div>\n",
		    (unsigned)(rnd() % 300), (unsigned)(rnd() % 100), rnd() % 4 ? "in" : "out",
		    rnd() % 4 ? "In stock" : "Sold out");
	}
	o.p[size] = '\0';
	return o.p;
}

/* A JSON API answer: an array of user records until size. */
static char *
gen_json(size_t size)
{
	struct out o = { NULL, 0, 0 };
	unsigned id = 50000;

	put(&o, "{\"page\":1,\"per_page\":100,\"data\":[");
	for (int i = 0; o.n < size; i++) {
		const char *f = word(), *l = word();
		id += 1 + (unsigned)(rnd() % 13);
		put(&o, "%s{\"id\":%u,\"name\":\"%s %s\",\"email\":\"%s.%s@example.com\",\"active\":%s,"
		    "\"score\":%u.%03u,\"tags\":[\"%s\",\"%s\"],\"address\":{\"street\":\"%u %s St\",\"city\":\"%s\","
		    "\"zip\":\"%05u\"},\"created_at\":\"2026-%02u-%02uT%02u:%02u:%02uZ\",\"bio\":\"",
		    i ? "," : "", id, f, l, f, l, rnd() % 3 ? "true" : "false", (unsigned)(rnd() % 100),
		    (unsigned)(rnd() % 1000), word(), word(), (unsigned)(rnd() % 999), word(), word(),
		    (unsigned)(rnd() % 100000), 1 + (unsigned)(rnd() % 12), 1 + (unsigned)(rnd() % 28),
		    (unsigned)(rnd() % 24), (unsigned)(rnd() % 60), (unsigned)(rnd() % 60));
		sentence(&o, 4, 12);
		put(&o, "\"}");
	}
	o.p[size] = '\0';
	return o.p;
}

static char *
gen(const char *kind, size_t size)
{
	rs = 0x7a6e646d2d636f72ull;   /* fixed: the corpus is the same on every machine */
	make_words();
	if (strcmp(kind, "html") == 0)
		return gen_html(size);
	if (strcmp(kind, "json") == 0)
		return gen_json(size);
	return NULL;
}

/* ---- the rows -------------------------------------------------------------- */

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct row { const char *name; int plain_zlib; enum compress_alg alg; int level; int whole; };

static z_stream zs;
static int zs_level = -1;
static uint8_t *zout;
static size_t zout_cap;

/* One body through plain zlib, the whole of it at once; coded size. */
static size_t
code_zlib(int level, const uint8_t *in, size_t n)
{
	if (zs_level != level) {
		if (zs_level >= 0)
			deflateEnd(&zs);
		memset(&zs, 0, sizeof(zs));
		if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			fprintf(stderr, "deflateInit2 failed\n");
			exit(1);
		}
		zs_level = level;
	} else {
		deflateReset(&zs);
	}
	if (zout_cap < deflateBound(&zs, n)) {
		zout_cap = deflateBound(&zs, n);
		if ((zout = realloc(zout, zout_cap)) == NULL)
			exit(1);
	}
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = zout;
	zs.avail_out = (uInt)zout_cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
		fprintf(stderr, "deflate did not finish\n");
		exit(1);
	}
	return zout_cap - zs.avail_out;
}

/* One body through proxyd's coder, in 16 KiB reads each flushed, the
 * output drained as a connection would; coded size. */
static size_t
code_proxyd(struct compress_pool *p, const struct row *r, const uint8_t *in, size_t n, struct buf *out)
{
	struct compress_stream *s = compress_acquire(p, r->alg, r->level, (int64_t)n);
	size_t coded = 0, step = r->whole ? n : 16384;

	if (s == NULL) {
		fprintf(stderr, "compress_acquire failed\n");
		exit(1);
	}
	for (size_t off = 0; off < n; off += step) {
		if (compress_feed(s, in + off, n - off < step ? n - off : step, r->whole ? COMPRESS_WRITE : COMPRESS_FLUSH,
		    out) != 0)
			exit(1);
		coded += buf_len(out);
		buf_consume(out, buf_len(out));
	}
	if (compress_feed(s, NULL, 0, COMPRESS_FINISH, out) != 0)
		exit(1);
	coded += buf_len(out);
	buf_consume(out, buf_len(out));
	compress_release(s);
	return coded;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int
run(int rounds, double ms, const char *only)
{
	static const struct row rows[] = {
		{ "zlib-1", 1, COMPRESS_GZIP, 1, 1 }, { "gzip-1", 0, COMPRESS_GZIP, 1, 0 },
		{ "zlib-6", 1, COMPRESS_GZIP, 6, 1 }, { "gzip-6", 0, COMPRESS_GZIP, 6, 0 },
		{ "gzip-6w", 0, COMPRESS_GZIP, 6, 1 },
		{ "br-4", 0, COMPRESS_BR, 4, 0 }, { "br-5", 0, COMPRESS_BR, 5, 0 },
		{ "zstd-1", 0, COMPRESS_ZSTD, 1, 0 }, { "zstd-3", 0, COMPRESS_ZSTD, 3, 0 },
		{ "zstd-3w", 0, COMPRESS_ZSTD, 3, 1 }, { "zstd-4", 0, COMPRESS_ZSTD, 4, 0 },
		{ "zstd-5", 0, COMPRESS_ZSTD, 5, 0 }, { "zstd-6", 0, COMPRESS_ZSTD, 6, 0 },
	};
	static const struct { const char *kind; size_t size; const char *label; } corp[] = {
		{ "html", 16384, "html-16k" }, { "html", 1 << 20, "html-1m" },
		{ "json", 16384, "json-16k" }, { "json", 1 << 20, "json-1m" },
	};
	const size_t nrows = sizeof(rows) / sizeof(rows[0]), ncorp = sizeof(corp) / sizeof(corp[0]);
	double cpu[sizeof(rows) / sizeof(rows[0])][4];
	size_t size[sizeof(rows) / sizeof(rows[0])][4];
	struct compress_pool *p = compress_pool_new(4);
	struct buf out;
	char *data[4];
	double *samples = calloc((size_t)rounds, sizeof(double));

	if (p == NULL || samples == NULL)
		return 1;
	buf_init(&out);
	for (size_t c = 0; c < ncorp; c++)
		data[c] = gen(corp[c].kind, corp[c].size);
	for (size_t r = 0; r < nrows; r++) {
		if (only != NULL && strcmp(only, rows[r].name) != 0)
			continue;
		for (size_t c = 0; c < ncorp; c++) {
			const uint8_t *in = (const uint8_t *)data[c];
			size_t n = corp[c].size, coded = 0;
			long reps = 0;
			/* Warm up and calibrate: how many bodies make ms of CPU. */
			double t0 = cpu_now();
			while (cpu_now() - t0 < ms / 1000.0 / 4 || reps < 2) {
				coded = rows[r].plain_zlib ? code_zlib(rows[r].level, in, n) :
				    code_proxyd(p, &rows[r], in, n, &out);
				reps++;
			}
			reps = (long)((double)reps * 4) + 1;
			for (int k = 0; k < rounds; k++) {
				double t = cpu_now();
				for (long i = 0; i < reps; i++)
					coded = rows[r].plain_zlib ? code_zlib(rows[r].level, in, n) :
					    code_proxyd(p, &rows[r], in, n, &out);
				samples[k] = (cpu_now() - t) * 1000.0 / ((double)reps * (double)n / 1048576.0);
			}
			qsort(samples, (size_t)rounds, sizeof(double), cmp_double);
			cpu[r][c] = samples[rounds / 2];
			size[r][c] = coded;
		}
	}
	printf("%-8s", "codec");
	for (size_t c = 0; c < ncorp; c++)
		printf(" | %-8s %8s %6s", corp[c].label, "bytes", "ratio");
	printf("\n%-8s", "");
	for (size_t c = 0; c < ncorp; c++)
		printf(" | %-8s %8s %6s", "ms/MB", "", "");
	printf("\n");
	for (size_t r = 0; r < nrows; r++) {
		if (only != NULL && strcmp(only, rows[r].name) != 0)
			continue;
		printf("%-8s", rows[r].name);
		for (size_t c = 0; c < ncorp; c++)
			printf(" | %8.2f %8zu %6.2f", cpu[r][c], size[r][c], (double)corp[c].size / (double)size[r][c]);
		printf("\n");
	}
	if (only == NULL) {
		/* The bar: gzip within 2% of zlib's size at the same level; zstd
		 * at proxyd's default level codes at least as small as gzip-6 at
		 * no more than half its CPU. */
		static const struct { const char *a, *b; } pairs[] = {
			{ "gzip-6", "zlib-6" }, { "gzip-1", "zlib-1" }, { "zstd-3", "gzip-6" }, { "zstd-4", "gzip-6" },
			{ "zstd-3", "zlib-6" }, { "br-4", "gzip-6" }, { "zstd-3", "zstd-3w" },
		};
		printf("\nratios a/b per corpus (CPU, size; size < 1 codes smaller):\n");
		for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
			size_t x = nrows, y = nrows;
			for (size_t r = 0; r < nrows; r++) {
				if (strcmp(rows[r].name, pairs[k].a) == 0)
					x = r;
				if (strcmp(rows[r].name, pairs[k].b) == 0)
					y = r;
			}
			printf("  %-8s / %-8s", pairs[k].a, pairs[k].b);
			for (size_t c = 0; c < ncorp; c++)
				printf(" | %s CPU %.3f size %.4f", corp[c].label, cpu[x][c] / cpu[y][c],
				    (double)size[x][c] / (double)size[y][c]);
			printf("\n");
		}
	}
	for (size_t c = 0; c < ncorp; c++)
		free(data[c]);
	free(samples);
	free(zout);
	if (zs_level >= 0)
		deflateEnd(&zs);
	buf_fini(&out);
	compress_pool_free(p);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: compbench gen html|json SIZE\n"
	    "       compbench run [--rounds N] [--ms MS] [--only ROW]\n");
}

int
main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "gen") == 0) {
		char *end;
		unsigned long long n = strtoull(argv[3], &end, 10);
		char *d;
		if (*end != '\0' || n == 0 || n > (1ull << 30) || (d = gen(argv[2], (size_t)n)) == NULL) {
			usage();
			return 2;
		}
		if (fwrite(d, 1, (size_t)n, stdout) != (size_t)n)
			return 1;
		free(d);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "run") == 0) {
		int rounds = 5;
		double ms = 200;
		const char *only = NULL;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
				rounds = atoi(argv[++i]);
			else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc)
				ms = atof(argv[++i]);
			else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
				only = argv[++i];
			else {
				usage();
				return 2;
			}
		}
		if (rounds < 1 || rounds > 1000 || ms <= 0 || ms > 60000) {
			usage();
			return 2;
		}
		return run(rounds, ms, only);
	}
	usage();
	return 2;
}
