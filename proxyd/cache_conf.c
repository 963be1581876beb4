/*
 * proxyd/cache_conf.c — the "caches" list and a route's "cache" setting
 * (cache_conf.h).
 */
#include "proxyd/cache_conf.h"

#include <stdlib.h>
#include <string.h>

#include "proxyd/cache_store.h"

int
cache_conf_parse(struct pd_cache **out, size_t *n, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "name", "size", "max_object", "store_set_cookie", "heuristic",
		"stale_if_error", "coalesce_wait", "tag_header", "prefetch_rate", NULL };
	const config_setting_t *l = NULL;
	int cnt;

	*out = NULL;
	*n = 0;
	if (conf_get_list(root, "caches", 0, &l, err) == -1)
		return -1;
	cnt = l ? config_setting_length(l) : 0;
	if (cnt == 0)
		return 0;
	if ((*out = calloc((size_t)cnt, sizeof(**out))) == NULL)
		return conf_errorf(err, l, "out of memory");
	for (int i = 0; i < cnt; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		struct pd_cache *C = &(*out)[i];
		const char *name = NULL, *th;
		int64_t v;

		*n = (size_t)i + 1;
		if (!config_setting_is_group(g))
			return conf_errorf(err, g, "caches: each element must be a group { ... }");
		if (conf_check_keys(g, keys, err) == -1 || conf_get_str(g, "name", 1, &name, err) == -1)
			return -1;
		if (strlen(name) == 0 || strlen(name) >= CACHE_NAME_MAX)
			return conf_errorf(err, config_setting_get_member(g, "name"), "name: 1..%d characters", CACHE_NAME_MAX - 1);
		for (int j = 0; j < i; j++)
			if (strcmp((*out)[j].name, name) == 0)
				return conf_errorf(err, config_setting_get_member(g, "name"), "cache \"%s\" defined twice", name);
		if ((C->name = strdup(name)) == NULL)
			return conf_errorf(err, g, "out of memory");
		C->size = CACHE_DEFAULT_SIZE;
		if (conf_get_size(g, "size", 0, &C->size, err) == -1)
			return -1;
		/* The default object limit fits a small cache too. */
		C->max_object = CACHE_DEFAULT_MAX_OBJECT < C->size / 2 ? CACHE_DEFAULT_MAX_OBJECT : C->size / 2;
		if (conf_get_size(g, "max_object", 0, &C->max_object, err) == -1 ||
		    conf_get_bool(g, "store_set_cookie", 0, &C->store_set_cookie, err) == -1)
			return -1;
		if (C->size < 65536)
			return conf_errorf(err, config_setting_get_member(g, "size"), "cache \"%s\": size: at least 64k", name);
		if (C->max_object == 0 || C->max_object > C->size / 2)
			return conf_errorf(err, config_setting_get_member(g, "max_object"),
			    "cache \"%s\": max_object: 1 byte up to half of size", name);
		v = 0;
		if (conf_get_int(g, "heuristic", 0, 0, 100, &v, err) == -1)
			return -1;
		C->heuristic_pct = (unsigned)v;
		C->coalesce_wait_ms = CACHE_DEFAULT_COALESCE_WAIT_MS;
		th = "Surrogate-Key";           /* Fastly's and Varnish's convention; "" = none */
		if (conf_get_str(g, "tag_header", 0, &th, err) == -1)
			return -1;
		/* A field name is a token (RFC 9110 §5.1). */
		if (strlen(th) > 64 || strspn(th, "!#$%&'*+-.^_`|~0123456789"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != strlen(th))
			return conf_errorf(err, config_setting_get_member(g, "tag_header"),
			    "cache \"%s\": tag_header: a field name of up to 64 characters, or \"\"", name);
		if (th[0] != '\0' && (C->tag_header = strdup(th)) == NULL)
			return conf_errorf(err, g, "out of memory");
		if (conf_get_duration(g, "stale_if_error", 0, &C->stale_if_error_ms, err) == -1 ||
		    conf_get_duration(g, "coalesce_wait", 0, &C->coalesce_wait_ms, err) == -1)
			return -1;
		v = CACHE_DEFAULT_PREFETCH_RATE;
		if (conf_get_int(g, "prefetch_rate", 0, 0, 10000, &v, err) == -1)
			return -1;
		C->prefetch_rate = (uint32_t)v;
		if ((C->store = cache_store_acquire(name, C->size, C->max_object)) == NULL)
			return conf_errorf(err, g, "out of memory");
	}
	return 0;
}

int
cache_conf_route(const struct pd_cache *v, size_t n, const config_setting_t *r, const char *route_name,
    const struct pd_cache **out, struct conf_err *err)
{
	const char *name = NULL;

	*out = NULL;
	if (conf_get_str(r, "cache", 0, &name, err) == -1)
		return -1;
	if (name == NULL)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0) {
			*out = &v[i];
			return 0;
		}
	return conf_errorf(err, config_setting_get_member(r, "cache"), "route \"%s\": cache: unknown cache \"%s\"",
	    route_name, name);
}

void
cache_conf_free(struct pd_cache *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].tag_header);
		cache_store_release(v[i].store);
	}
	free(v);
}
