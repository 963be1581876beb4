/*
 * proxyd/cache_conf.h — the "caches" list of proxyd.conf and a route's
 * "cache" setting (docs/cache.md is the reference):
 *
 *   caches = ( { name = "main"; size = "256m"; max_object = "1m";
 *                store_set_cookie = false; heuristic = 0;
 *                stale_if_error = "10m"; coalesce_wait = "5s"; } );
 *   routes = ( { match = { path_prefix = "/static/"; }; upstream = "app"; cache = "main"; } );
 *
 * Errors are "FILE:LINE: ..." like every other proxyd.conf error.
 */
#ifndef PROXYD_CACHE_CONF_H
#define PROXYD_CACHE_CONF_H

#include <stddef.h>

#include "lib/conf.h"
#include "proxyd/cache_conf-t.h"

#define CACHE_DEFAULT_SIZE       (64ull << 20)
#define CACHE_DEFAULT_MAX_OBJECT (1ull << 20)
#define CACHE_DEFAULT_COALESCE_WAIT_MS 5000
#define CACHE_DEFAULT_PREFETCH_RATE 20   /* peers' hot keys fetched per second: modest, the origin is shared */

/* Reads root's "caches" list into *out (n of them), each with its store
 * acquired. 0, or -1 with err set; either way cache_conf_free(*out, *n). */
int cache_conf_parse(struct pd_cache **out, size_t *n, const config_setting_t *root, struct conf_err *err);
/* A route group's "cache": *out the named cache among v[0..n), NULL when
 * the route has none. 0, or -1 with err set (unknown name). */
int cache_conf_route(const struct pd_cache *v, size_t n, const config_setting_t *r, const char *route_name,
    const struct pd_cache **out, struct conf_err *err);
void cache_conf_free(struct pd_cache *v, size_t n);

#endif
