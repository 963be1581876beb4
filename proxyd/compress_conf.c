/*
 * proxyd/compress_conf.c — parsing the compression settings of proxyd.conf.
 *
 * proxyd/config.c hands over the root group once per generation and each
 * route group once per route; what comes back is immutable and read by
 * compress_decide() on the workers. Every mistake is refused with the
 * file:line of the setting, as everywhere in proxyd.conf, so that a bad
 * reload keeps the running generation serving.
 */
#include "proxyd/compress_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/compress_rule.h"

void
compress_conf_global_defaults(struct compress_global_conf *g)
{
	struct compress_route_conf *d = &g->defaults;

	memset(g, 0, sizeof(*g));
	g->max_streams = COMPRESS_DEFAULT_MAX_STREAMS;
	d->enabled = 0;
	/* zstd first: at its default level it codes text smaller than gzip -6
	 * for a fraction of the CPU; br next, then gzip, which every client
	 * takes (docs/compression.md has the figures). */
	d->prefer[0] = COMPRESS_ZSTD;
	d->prefer[1] = COMPRESS_BR;
	d->prefer[2] = COMPRESS_GZIP;
	d->nprefer = 3;
	d->level[COMPRESS_GZIP] = COMPRESS_DEFAULT_GZIP_LEVEL;
	d->level[COMPRESS_BR] = COMPRESS_DEFAULT_BR_LEVEL;
	d->level[COMPRESS_ZSTD] = COMPRESS_DEFAULT_ZSTD_LEVEL;
	d->min_length = COMPRESS_DEFAULT_MIN_LENGTH;
	d->types = compress_default_types;
	d->ntypes = compress_default_ntypes;
}

void
compress_route_conf_fini(struct compress_route_conf *rc)
{
	free(rc->types_owned);
	rc->types_owned = NULL;
	rc->types = NULL;
	rc->ntypes = 0;
	rc->enabled = 0;
}

void
compress_global_conf_fini(struct compress_global_conf *g)
{
	compress_route_conf_fini(&g->defaults);
}

/* prefix: "compression" or "route \"NAME\": compress", for messages. */

static int
parse_prefer(struct compress_route_conf *rc, const config_setting_t *g, const char *prefix, struct conf_err *err)
{
	const config_setting_t *l = NULL;
	int n;

	if (conf_get_list(g, "prefer", 0, &l, err) == -1)
		return -1;
	if (l == NULL)
		return 0;
	n = config_setting_length(l);
	if (n == 0)
		return conf_errorf(err, l, "%s.prefer: empty list (turn compression off instead)", prefix);
	rc->nprefer = 0;
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *s;
		int a;
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			return conf_errorf(err, e, "%s.prefer: expected a string", prefix);
		s = config_setting_get_string(e);
		if ((a = compress_alg_from_str(s, strlen(s))) < 0)
			return conf_errorf(err, e, "%s.prefer: unknown coding \"%s\" (gzip, br, zstd)", prefix, s);
		for (size_t j = 0; j < rc->nprefer; j++)
			if (rc->prefer[j] == a)
				return conf_errorf(err, e, "%s.prefer: \"%s\" named twice", prefix, s);
		rc->prefer[rc->nprefer++] = (uint8_t)a;
	}
	return 0;
}

static int
parse_types(struct compress_route_conf *rc, const config_setting_t *g, const char *prefix, struct conf_err *err)
{
	const config_setting_t *l = NULL;
	struct compress_type_pat *pats;
	int n;

	if (conf_get_list(g, "types", 0, &l, err) == -1)
		return -1;
	if (l == NULL)
		return 0;
	n = config_setting_length(l);
	if (n == 0)
		return conf_errorf(err, l, "%s.types: empty list (turn compression off instead)", prefix);
	if (n > 256)
		return conf_errorf(err, l, "%s.types: at most 256 patterns", prefix);
	if ((pats = calloc((size_t)n, sizeof(*pats))) == NULL)
		return conf_errorf(err, l, "%s.types: out of memory", prefix);
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			free(pats);
			return conf_errorf(err, e, "%s.types: expected a string", prefix);
		}
		if (compress_type_pat_parse(config_setting_get_string(e), &pats[i]) == -1) {
			int rc_ = conf_errorf(err, e, "%s.types: bad pattern \"%s\" (type/subtype, type/*, or +suffix)",
			    prefix, config_setting_get_string(e));
			free(pats);
			return rc_;
		}
	}
	free(rc->types_owned);
	rc->types_owned = pats;
	rc->types = pats;
	rc->ntypes = (size_t)n;
	return 0;
}

static int
parse_levels(struct compress_route_conf *rc, const config_setting_t *g, const char *prefix, struct conf_err *err)
{
	static const char *const keys[] = { "gzip", "br", "zstd", NULL };
	static const struct { const char *name; enum compress_alg a; int lo, hi; } lv[] = {
		{ "gzip", COMPRESS_GZIP, COMPRESS_GZIP_LEVEL_MIN, COMPRESS_GZIP_LEVEL_MAX },
		{ "br", COMPRESS_BR, COMPRESS_BR_LEVEL_MIN, COMPRESS_BR_LEVEL_MAX },
		{ "zstd", COMPRESS_ZSTD, COMPRESS_ZSTD_LEVEL_MIN, COMPRESS_ZSTD_LEVEL_MAX },
	};
	const config_setting_t *l = NULL;

	if (conf_get_group(g, "levels", 0, &l, err) == -1)
		return -1;
	if (l == NULL)
		return 0;
	if (conf_check_keys(l, keys, err) == -1)
		return -1;
	for (size_t i = 0; i < sizeof(lv) / sizeof(lv[0]); i++) {
		const config_setting_t *s = config_setting_get_member(l, lv[i].name);
		long long v;
		if (s == NULL)
			continue;
		if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64)
			return conf_errorf(err, s, "%s.levels.%s: expected an integer", prefix, lv[i].name);
		v = config_setting_get_int64(s);
		if (v < lv[i].lo || v > lv[i].hi)
			return conf_errorf(err, s, "%s.levels.%s: %lld is out of range [%d, %d]", prefix, lv[i].name,
			    v, lv[i].lo, lv[i].hi);
		rc->level[lv[i].a] = (int8_t)v;
	}
	return 0;
}

/* The keys both blocks share, into rc. */
static int
parse_common(struct compress_route_conf *rc, const config_setting_t *g, const char *prefix, struct conf_err *err)
{
	uint64_t ml = rc->min_length;

	if (parse_prefer(rc, g, prefix, err) == -1 || parse_types(rc, g, prefix, err) == -1 ||
	    parse_levels(rc, g, prefix, err) == -1)
		return -1;
	if (conf_get_size(g, "min_length", 0, &ml, err) == -1)
		return -1;
	if (ml > ((uint64_t)1 << 40))
		return conf_errorf(err, config_setting_get_member(g, "min_length"), "%s.min_length: at most 1t", prefix);
	rc->min_length = ml;
	return 0;
}

int
compress_conf_parse_global(struct compress_global_conf *g, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "enabled", "prefer", "max_streams", "types", "min_length", "levels", NULL };
	const config_setting_t *c = NULL;
	int64_t ms = COMPRESS_DEFAULT_MAX_STREAMS;
	int on = 0;

	compress_conf_global_defaults(g);
	if (conf_get_group(root, "compression", 0, &c, err) == -1)
		return -1;
	if (c == NULL)
		return 0;
	if (conf_check_keys(c, keys, err) == -1 || conf_get_int(c, "max_streams", 0, 0, 100000, &ms, err) == -1 ||
	    conf_get_bool(c, "enabled", 0, &on, err) == -1)
		return -1;
	g->max_streams = (uint32_t)ms;
	/* The default of every forwarding route that says nothing, as nginx's
	 * http-level "gzip on": the one way to turn compression on for the
	 * implicit route of a file without routes. */
	g->defaults.enabled = on ? 1 : 0;
	return parse_common(&g->defaults, c, "compression", err);
}

int
compress_conf_parse_route(struct compress_route_conf *rc, const struct compress_global_conf *g,
    const config_setting_t *r, const char *route_name, struct conf_err *err)
{
	static const char *const keys[] = { "enabled", "prefer", "types", "min_length", "levels", NULL };
	const config_setting_t *c = config_setting_get_member(r, "compress");
	char prefix[160];
	int on = 1;

	*rc = g->defaults;
	rc->types_owned = NULL;         /* borrowed from g */
	rc->explicit = c != NULL;
	if (c == NULL)
		return 0;               /* compression.enabled decides */
	rc->enabled = 0;
	snprintf(prefix, sizeof(prefix), "route \"%s\": compress", route_name ? route_name : "?");
	if (config_setting_type(c) == CONFIG_TYPE_BOOL) {
		rc->enabled = config_setting_get_bool(c) ? 1 : 0;
		return 0;
	}
	if (!config_setting_is_group(c))
		return conf_errorf(err, c, "%s: expected true, false or a group { ... }", prefix);
	if (conf_check_keys(c, keys, err) == -1 || conf_get_bool(c, "enabled", 0, &on, err) == -1 ||
	    parse_common(rc, c, prefix, err) == -1)
		return -1;
	rc->enabled = on ? 1 : 0;
	return 0;
}
