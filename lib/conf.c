/*
 * lib/conf.c — configuration loading for proxyd and hacd on libconfig.
 *
 * The daemons' config modules (proxyd/config, hacd/config) walk the tree
 * libconfig builds and call the getters here for every value.  This file is
 * where "the operator made a mistake" becomes one precise message: libconfig
 * records the source file and line of every setting, so a type error, an
 * unknown key or a bad unit found long after parsing still reads
 * "etc/proxyd.conf:12: timeout: bad duration \"5x\" (use ms, s, m, h, d)".
 * A reload that fails here leaves the running generation untouched, so
 * nothing in this file is fatal.
 *
 * Units live here too (durations and sizes), as pure parsers that the unit
 * tests drive with tables.
 */
#include "lib/conf.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Parser verdicts inside this file; the public parsers fold them into -1. */
#define PARSE_OK        0
#define PARSE_SYNTAX   -1
#define PARSE_OVERFLOW -2

/* At most this many fraction digits: keeps frac * multiplier within 64 bits
 * for the largest multiplier (1 TiB = 2^40; 10^6 * 2^40 < 2^64). */
#define FRAC_DIGITS_MAX 6

struct unit { const char *suffix; uint64_t mult; };

static const struct unit duration_units[] = {
	{ "",   1 },
	{ "ms", 1 },
	{ "s",  1000 },
	{ "m",  60 * 1000 },
	{ "h",  60 * 60 * 1000 },
	{ "d",  24 * 60 * 60 * 1000 },
	{ NULL, 0 },
};

static const struct unit size_units[] = {
	{ "",    1 },
	{ "k",   1ull << 10 }, { "kib", 1ull << 10 },
	{ "m",   1ull << 20 }, { "mib", 1ull << 20 },
	{ "g",   1ull << 30 }, { "gib", 1ull << 30 },
	{ "t",   1ull << 40 }, { "tib", 1ull << 40 },
	{ NULL, 0 },
};

/*
 * "<digits>[.<digits>]<unit>" -> value * unit, exactly.  A fraction must
 * yield a whole number of base units: rounding a configured timeout
 * silently would hide a typo.  Overflow is reported apart from bad syntax
 * so the message can say which it was.
 */
static int parse_scaled(const char *s, const struct unit *units, int nocase, uint64_t *out)
{
	const char *p = s;
	uint64_t ip = 0, frac = 0, pow10 = 1, v, fv;
	int overflow = 0;
	const struct unit *u;

	if (s == NULL || *p < '0' || *p > '9')
		return PARSE_SYNTAX;	/* empty, sign, space or a leading '.' */
	for (; *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(ip, 10, &ip) ||
		    __builtin_add_overflow(ip, (uint64_t)(*p - '0'), &ip))
			overflow = 1;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return PARSE_SYNTAX;
		for (int n = 0; *p >= '0' && *p <= '9'; p++, n++) {
			if (n == FRAC_DIGITS_MAX)
				return PARSE_SYNTAX;
			frac = frac * 10 + (uint64_t)(*p - '0');
			pow10 *= 10;
		}
	}
	for (u = units; u->suffix != NULL; u++)
		if ((nocase ? strcasecmp(p, u->suffix) : strcmp(p, u->suffix)) == 0)
			break;
	if (u->suffix == NULL)
		return PARSE_SYNTAX;
	fv = frac * u->mult;		/* cannot overflow, see FRAC_DIGITS_MAX */
	if (fv % pow10 != 0)
		return PARSE_SYNTAX;	/* finer than the base unit */
	if (overflow || __builtin_mul_overflow(ip, u->mult, &v) ||
	    __builtin_add_overflow(v, fv / pow10, &v))
		return PARSE_OVERFLOW;
	*out = v;
	return PARSE_OK;
}

int conf_parse_duration(const char *s, uint64_t *ms)
{
	return parse_scaled(s, duration_units, 0, ms) == PARSE_OK ? 0 : -1;
}

int conf_parse_size(const char *s, uint64_t *bytes)
{
	return parse_scaled(s, size_units, 1, bytes) == PARSE_OK ? 0 : -1;
}

/* ---- locations -------------------------------------------------------- */

/* Every config_t we see is the first member of a struct conf (the getters'
 * contract), so the conf — and the path the operator gave — is one cast away. */
static const struct conf *conf_of(const config_setting_t *s)
{
	return (const struct conf *)(const void *)s->config;
}

/*
 * The name an operator can open: the main file as given to conf_load, an
 * @include'd file joined to the include directory (libconfig 1.5 records
 * only the name written after @include).
 */
static void resolve_file(const struct conf *c, const char *f, char *buf, size_t len)
{
	const char *dir = config_get_include_dir(&c->cfg);

	if (f == NULL || (c->cfg.num_filenames > 0 && f == c->cfg.filenames[0]))
		snprintf(buf, len, "%s", c->path);
	else if (f[0] == '/' || dir == NULL)
		snprintf(buf, len, "%s", f);
	else
		snprintf(buf, len, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", f);
}

static const char *type_str(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:  return "a group";
	case CONFIG_TYPE_INT:    /* fall through */
	case CONFIG_TYPE_INT64:  return "an integer";
	case CONFIG_TYPE_FLOAT:  return "a float";
	case CONFIG_TYPE_STRING: return "a string";
	case CONFIG_TYPE_BOOL:   return "a boolean";
	case CONFIG_TYPE_ARRAY:  return "an array";
	case CONFIG_TYPE_LIST:   return "a list";
	default:                 return "nothing";
	}
}

/* The format attribute lets the compiler check callers' formats through
 * this va_list helper (clang's -Wformat-nonliteral insists on it). */
static int conf_verrorf(struct conf_err *err, const config_setting_t *at, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int conf_verrorf(struct conf_err *err, const config_setting_t *at, const char *fmt, va_list ap)
{
	size_t off = 0;
	char file[4200];

	if (err == NULL)
		return -1;
	if (at != NULL) {
		unsigned line = config_setting_source_line(at);

		resolve_file(conf_of(at), config_setting_source_file(at), file, sizeof(file));
		/* The root group has no line; the top of the file is where a
		 * missing top-level setting belongs. */
		int n = conf_of(at)->built ? snprintf(err->msg, sizeof(err->msg), "%s: ", file) :
		    snprintf(err->msg, sizeof(err->msg), "%s:%u: ", file, line ? line : 1);

		if (n < 0)
			n = 0;
		off = (size_t)n < sizeof(err->msg) ? (size_t)n : sizeof(err->msg) - 1;
	}
	vsnprintf(err->msg + off, sizeof(err->msg) - off, fmt, ap);
	return -1;
}

int conf_errorf(struct conf_err *err, const config_setting_t *at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verrorf(err, at, fmt, ap);
	va_end(ap);
	return -1;
}

/* Errors that happen before there is a setting to point at. */
static int plain_errorf(struct conf_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int plain_errorf(struct conf_err *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	conf_verrorf(err, NULL, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- loading ---------------------------------------------------------- */

static void conf_reset(struct conf *c)
{
	memset(c, 0, sizeof(*c));
	config_init(&c->cfg);
	/* Strict types: "port = \"80\"" is an error, not a conversion. */
	config_set_auto_convert(&c->cfg, 0);
}

static int parse_failed(struct conf *c, struct conf_err *err)
{
	char file[4200];

	if (config_error_type(&c->cfg) == CONFIG_ERR_FILE_IO)
		plain_errorf(err, "%s: cannot read", c->path);
	else {
		resolve_file(c, config_error_file(&c->cfg), file, sizeof(file));
		plain_errorf(err, "%s:%d: %s", file, config_error_line(&c->cfg),
		    config_error_text(&c->cfg) ? config_error_text(&c->cfg) : "parse error");
	}
	conf_free(c);
	return -1;
}

/*
 * libconfig 1.5 exits the whole process ("input in flex scanner failed")
 * when an @include names a directory or another non-regular file. A reload
 * must never be able to kill a running daemon, so every @include target is
 * checked here, recursively, before libconfig sees the file. The include
 * rules follow libconfig 1.5's: relative to the main file's directory (dir),
 * or as written when there is none.
 */
#define INCLUDE_DEPTH_MAX 10

static int check_includes_text(const char *text, const char *shown, const char *dir,
    int depth, struct conf_err *err);

static int check_include_file(const char *path, const char *dir, int depth, struct conf_err *err)
{
	FILE *fp;
	char *text;
	long n;
	int rc;

	if ((fp = fopen(path, "r")) == NULL)
		return 0;	/* libconfig reports a missing file itself, cleanly */
	if (fseek(fp, 0, SEEK_END) == -1 || (n = ftell(fp)) < 0 || n > (16L << 20) ||
	    fseek(fp, 0, SEEK_SET) == -1) {
		fclose(fp);
		return plain_errorf(err, "%s: cannot read (or larger than 16 MiB)", path);
	}
	if ((text = malloc((size_t)n + 1)) == NULL) {
		fclose(fp);
		return plain_errorf(err, "%s: out of memory", path);
	}
	if (fread(text, 1, (size_t)n, fp) != (size_t)n) {
		free(text);
		fclose(fp);
		return plain_errorf(err, "%s: cannot read", path);
	}
	text[n] = '\0';
	fclose(fp);
	rc = check_includes_text(text, path, dir, depth, err);
	free(text);
	return rc;
}

static int check_includes_text(const char *text, const char *shown, const char *dir,
    int depth, struct conf_err *err)
{
	const char *line = text;
	unsigned lineno = 1;

	if (depth > INCLUDE_DEPTH_MAX)
		return plain_errorf(err, "%s: @include nested deeper than %d", shown, INCLUDE_DEPTH_MAX);
	while (*line != '\0') {
		const char *p = line, *q, *eol = strchr(line, '\n');
		char name[1024], full[2200];
		struct stat st;
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		if (strncmp(p, "@include", 8) == 0) {
			p += 8;
			while (*p == ' ' || *p == '\t')
				p++;
			if (*p == '"' && (q = strchr(p + 1, '"')) != NULL && (eol == NULL || q < eol)) {
				len = (size_t)(q - p - 1);
				if (len >= sizeof(name))
					return plain_errorf(err, "%s:%u: @include path too long", shown, lineno);
				memcpy(name, p + 1, len);
				name[len] = '\0';
				if (dir != NULL)
					snprintf(full, sizeof(full), "%s/%s", dir, name);
				else
					snprintf(full, sizeof(full), "%s", name);
				if (stat(full, &st) == 0) {
					if (!S_ISREG(st.st_mode))
						return plain_errorf(err, "%s:%u: @include \"%s\": not a regular file",
						    shown, lineno, name);
					if (check_include_file(full, dir, depth + 1, err) == -1)
						return -1;
				}
			}
		}
		if (eol == NULL)
			break;
		line = eol + 1;
		lineno++;
	}
	return 0;
}

int conf_load(struct conf *c, const char *path, struct conf_err *err)
{
	const char *slash;
	char dir[sizeof(c->path)];
	FILE *fp;

	conf_reset(c);
	if (strlen(path) >= sizeof(c->path)) {
		conf_free(c);
		return plain_errorf(err, "%.64s...: path too long", path);
	}
	strcpy(c->path, path);

	/* libconfig only says "file I/O error"; opening it first lets the
	 * message say why. */
	if ((fp = fopen(path, "r")) == NULL) {
		int e = errno;

		conf_free(c);
		return plain_errorf(err, "%s: cannot open: %s", path, strerror(e));
	}
	fclose(fp);

	/* @include is relative to the including file's directory, not to
	 * whatever directory the daemon was started from. */
	if ((slash = strrchr(path, '/')) != NULL) {
		size_t n = slash == path ? 1 : (size_t)(slash - path);

		memcpy(dir, path, n);
		dir[n] = '\0';
		config_set_include_dir(&c->cfg, dir);	/* libconfig copies it */
	}
	if (check_include_file(path, slash != NULL ? dir : NULL, 0, err) == -1) {
		conf_free(c);
		return -1;
	}
	if (config_read_file(&c->cfg, path) != CONFIG_TRUE)
		return parse_failed(c, err);
	return 0;
}

int conf_load_string(struct conf *c, const char *name, const char *text, struct conf_err *err)
{
	conf_reset(c);
	snprintf(c->path, sizeof(c->path), "%s", name);
	if (check_includes_text(text, c->path, NULL, 0, err) == -1) {
		conf_free(c);
		return -1;
	}
	if (config_read_string(&c->cfg, text) != CONFIG_TRUE)
		return parse_failed(c, err);
	return 0;
}

void conf_init_built(struct conf *c, const char *name)
{
	conf_reset(c);
	snprintf(c->path, sizeof(c->path), "%s", name);
	c->built = 1;
}

void conf_free(struct conf *c)
{
	if (c->cfg.root != NULL)
		config_destroy(&c->cfg);
	memset(&c->cfg, 0, sizeof(c->cfg));
}

const config_setting_t *conf_root(const struct conf *c)
{
	return config_root_setting(&c->cfg);
}

/* ---- checks and getters ----------------------------------------------- */

/* A label for messages: the setting's name, or "list[i]" for an element. */
static const char *label(const config_setting_t *s, char *buf, size_t len)
{
	const config_setting_t *p = config_setting_parent(s);

	if (config_setting_name(s) != NULL)
		return config_setting_name(s);
	snprintf(buf, len, "%s[%d]", p && config_setting_name(p) ? config_setting_name(p) : "",
	    config_setting_index(s));
	return buf;
}

int conf_check_keys(const config_setting_t *grp, const char *const *allowed, struct conf_err *err)
{
	char lb[128];

	if (grp == NULL)
		return 0;
	if (!config_setting_is_group(grp))
		return conf_errorf(err, grp, "%s: expected a group, got %s", label(grp, lb, sizeof(lb)), type_str(grp));
	for (int i = 0; i < config_setting_length(grp); i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, config_setting_name(s)) == 0)
				break;
		if (*a == NULL)
			return conf_errorf(err, s, "unknown setting \"%s\"", config_setting_name(s));
	}
	return 0;
}

/*
 * Look name up in grp: 1 = found (*s set), 0 = absent and optional, -1 =
 * absent and required (err set at grp).
 */
static int lookup(const config_setting_t *grp, const char *name, int required,
    const config_setting_t **s, struct conf_err *err)
{
	/* libconfig's lookup is not const-correct; it does not modify grp. */
	*s = grp && config_setting_is_group(grp) ?
	    config_setting_get_member((config_setting_t *)(uintptr_t)grp, name) : NULL;
	if (*s != NULL)
		return 1;
	if (!required)
		return 0;
	if (grp == NULL)
		return plain_errorf(err, "missing required setting \"%s\"", name);
	return conf_errorf(err, grp, "missing required setting \"%s\"", name);
}

static int is_namechar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '*';
}

/*
 * Parse the integer literal at p as libconfig would write it ([+-]digits or
 * [+-]0xhex).  1 = parsed (*v set, *suffix_l when an L follows), 0 = not a
 * literal, -1 = does not fit 64 bits.
 */
static int read_literal(const char *p, long long *v, int *suffix_l)
{
	int neg = 0, base = 10, nd = 0, ovf = 0;
	unsigned long long m = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++, nd++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'f'))
			d = (unsigned)((*p | 0x20) - 'a' + 10);
		else
			break;
		if (__builtin_mul_overflow(m, (unsigned)base, &m) || __builtin_add_overflow(m, d, &m))
			ovf = 1;
	}
	if (nd == 0 || *p == '.' || *p == 'e' || *p == 'E')
		return 0;
	if (ovf || m > (unsigned long long)LLONG_MAX + (unsigned long long)neg)
		return -1;
	*v = neg ? (long long)(0 - m) : (long long)m;
	*suffix_l = *p == 'L';
	return 1;
}

/*
 * libconfig 1.5 stores "port = 4294967377;" as 81 without a word: literals
 * beyond 32 bits need an L suffix.  Re-read the setting's source line and
 * report 1 when the literal written there is not the value libconfig holds.
 * When the line cannot be read or the literal not found, trust libconfig (0).
 */
static int int_truncated(const config_setting_t *s, long long have)
{
	char path[4200], *line = NULL;
	size_t cap = 0;
	unsigned want = config_setting_source_line(s), n = 0;
	const char *name = config_setting_name(s);
	int seen = 0, match = 0;
	FILE *fp;

	if (config_setting_type(s) != CONFIG_TYPE_INT || name == NULL ||
	    config_setting_source_file(s) == NULL || want == 0)
		return 0;
	resolve_file(conf_of(s), config_setting_source_file(s), path, sizeof(path));
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	while (n < want && getline(&line, &cap, fp) != -1)
		n++;
	fclose(fp);
	if (n == want) {
		size_t nl = strlen(name);

		for (const char *p = line; (p = strstr(p, name)) != NULL; p += nl) {
			const char *q = p + nl;
			long long v;
			int l, r;

			if ((p > line && is_namechar(p[-1])) || is_namechar(*q))
				continue;
			q += strspn(q, " \t");
			if (*q != '=' && *q != ':')
				continue;
			q += 1 + strspn(q + 1, " \t");
			if ((r = read_literal(q, &v, &l)) == 0)
				continue;
			seen = 1;
			if (r == 1 && (l || v == have))
				match = 1;
		}
	}
	free(line);
	return seen && !match;
}

static int int_value(const config_setting_t *s, long long *v, struct conf_err *err)
{
	char lb[128];

	*v = config_setting_get_int64(s);
	if (int_truncated(s, *v))
		return conf_errorf(err, s, "%s: integer does not fit in 32 bits; write it with an L suffix (5000000000L)",
		    label(s, lb, sizeof(lb)));
	return 0;
}

int conf_get_str(const config_setting_t *grp, const char *name, int required, const char **out, struct conf_err *err)
{
	const config_setting_t *s;
	int r;

	if ((r = lookup(grp, name, required, &s, err)) <= 0)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return conf_errorf(err, s, "%s: expected a string, got %s", name, type_str(s));
	*out = config_setting_get_string(s);
	return 0;
}

int conf_get_int(const config_setting_t *grp, const char *name, int required, int64_t min, int64_t max,
    int64_t *out, struct conf_err *err)
{
	const config_setting_t *s;
	long long v;
	int r;

	if ((r = lookup(grp, name, required, &s, err)) <= 0)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
		return conf_errorf(err, s, "%s: expected an integer, got %s", name, type_str(s));
	if (int_value(s, &v, err) == -1)
		return -1;
	if (v < min || v > max)
		return conf_errorf(err, s, "%s: %lld is out of range [%" PRId64 ", %" PRId64 "]", name, v, min, max);
	*out = v;
	return 0;
}

int conf_get_bool(const config_setting_t *grp, const char *name, int required, int *out, struct conf_err *err)
{
	const config_setting_t *s;
	int r;

	if ((r = lookup(grp, name, required, &s, err)) <= 0)
		return r;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return conf_errorf(err, s, "%s: expected a boolean (true or false), got %s", name, type_str(s));
	*out = config_setting_get_bool(s);
	return 0;
}

/* Shared body of the duration and size getters. */
static int get_scaled(const config_setting_t *grp, const char *name, int required, uint64_t *out,
    struct conf_err *err, const struct unit *units, int nocase, const char *what, const char *hint)
{
	const config_setting_t *s;
	long long v;
	int r;

	if ((r = lookup(grp, name, required, &s, err)) <= 0)
		return r;
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_STRING: {
		const char *str = config_setting_get_string(s);
		uint64_t x;

		r = parse_scaled(str, units, nocase, &x);
		if (r == PARSE_OVERFLOW)
			return conf_errorf(err, s, "%s: %s \"%s\" is too large", name, what, str);
		if (r != PARSE_OK)
			return conf_errorf(err, s, "%s: bad %s \"%s\" (%s)", name, what, str, hint);
		*out = x;
		return 0;
	}
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		if (int_value(s, &v, err) == -1)
			return -1;
		if (v < 0)
			return conf_errorf(err, s, "%s: %s must not be negative, got %lld", name, what, v);
		*out = (uint64_t)v;
		return 0;
	default:
		return conf_errorf(err, s, "%s: expected a %s (%s), got %s", name, what, hint, type_str(s));
	}
}

int conf_get_duration(const config_setting_t *grp, const char *name, int required, uint64_t *ms, struct conf_err *err)
{
	return get_scaled(grp, name, required, ms, err, duration_units, 0, "duration", "use ms, s, m, h, d");
}

int conf_get_size(const config_setting_t *grp, const char *name, int required, uint64_t *bytes, struct conf_err *err)
{
	return get_scaled(grp, name, required, bytes, err, size_units, 1, "size", "use k, m, g, t: powers of 1024");
}

int conf_get_group(const config_setting_t *grp, const char *name, int required, const config_setting_t **out,
    struct conf_err *err)
{
	const config_setting_t *s;
	int r;

	if ((r = lookup(grp, name, required, &s, err)) <= 0)
		return r;
	if (!config_setting_is_group(s))
		return conf_errorf(err, s, "%s: expected a group { ... }, got %s", name, type_str(s));
	*out = s;
	return 0;
}

int conf_get_list(const config_setting_t *grp, const char *name, int required, const config_setting_t **out,
    struct conf_err *err)
{
	const config_setting_t *s;
	int r;

	if ((r = lookup(grp, name, required, &s, err)) <= 0)
		return r;
	if (!config_setting_is_list(s) && !config_setting_is_array(s))
		return conf_errorf(err, s, "%s: expected a list ( ... ) or an array [ ... ], got %s", name, type_str(s));
	*out = s;
	return 0;
}
