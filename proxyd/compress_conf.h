/*
 * proxyd/compress_conf.h — the "compression" block of proxyd.conf and each
 * route's "compress" setting, parsed from lib/conf settings into
 * struct compress_global_conf / struct compress_route_conf
 * (proxyd/compress-t.h). docs/compression.md is the reference.
 *
 *   compression = {                      # optional; these are the defaults
 *     prefer      = [ "zstd", "br", "gzip" ];
 *     max_streams = 64;                  # coders per worker thread
 *     types       = [ ... ];             # route defaults from here on
 *     min_length  = 256;
 *     levels      = { gzip = 6; br = 4; zstd = 3; };
 *   };
 *   routes = ( { ...; compress = true; },            # the defaults above
 *              { ...; compress = { min_length = "1k"; prefer = [ "gzip" ]; }; } );
 *
 * Errors are "FILE:LINE: compression.prefer: ..." / "FILE:LINE: route
 * "NAME": compress.levels.gzip: ...", like every other proxyd.conf error.
 */
#ifndef PROXYD_COMPRESS_CONF_H
#define PROXYD_COMPRESS_CONF_H

#include "lib/conf.h"
#include "proxyd/compress-t.h"

/* The built-in settings: prefer zstd, br, gzip; 64 streams; the default
 * types; min_length 256; levels gzip 6, br 4, zstd 3; defaults.enabled 0
 * (compression.enabled sets it). */
void compress_conf_global_defaults(struct compress_global_conf *g);

/*
 * Read the "compression" member of root (the file's root group) into g,
 * which it first sets to the defaults; an absent block leaves them.
 * Unknown keys, unknown or repeated codings, out-of-range levels, bad type
 * patterns are refused. 0, or -1 with err set ("FILE:LINE: ..."); on -1 g
 * may own memory: compress_global_conf_fini it.
 */
int compress_conf_parse_global(struct compress_global_conf *g, const config_setting_t *root, struct conf_err *err);

/*
 * Read the "compress" member of the route group r into rc, starting from
 * g's defaults: absent -> compression.enabled (off unless set; rc->explicit
 * 0, so config.c can leave non-forwarding routes off); false -> off;
 * true -> on with the defaults; a
 * group -> on (unless enabled = false) with its keys (enabled, prefer,
 * types, min_length, levels) over the defaults. A route's prefer both
 * restricts the codings it offers and orders them. route_name labels
 * errors. rc borrows g's type list unless the route sets its own, so g
 * must outlive rc (both belong to one configuration generation). 0, or -1
 * with err set; either way compress_route_conf_fini(rc) frees what it owns.
 */
int compress_conf_parse_route(struct compress_route_conf *rc, const struct compress_global_conf *g,
    const config_setting_t *r, const char *route_name, struct conf_err *err);

/* Free what rc owns (its own type list); rc is then off. */
void compress_route_conf_fini(struct compress_route_conf *rc);
void compress_global_conf_fini(struct compress_global_conf *g);

#endif /* PROXYD_COMPRESS_CONF_H */
