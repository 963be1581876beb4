/*
 * lib/conf — typed, line-numbered access to libconfig files.
 *
 * Both daemons read one libconfig file each.  This module loads it and
 * offers getters that check type, range and units, so that every mistake an
 * operator can make is reported as "FILE:LINE: message" and a reload with a
 * bad file can be refused while the running configuration keeps serving.
 *
 * Value syntax accepted on top of libconfig's own:
 *   durations  "50ms" "2s" "1.5s" "1m" "1h" "1d", a bare integer (string or
 *              libconfig integer) is milliseconds.  A decimal fraction is
 *              allowed when the result is a whole number of milliseconds
 *              ("1.5s" yes, "0.5ms" no).  Units are lower case.
 *   sizes      "512" "16k" "4m" "1g" "1t" — powers of 1024; suffixes are
 *              case-insensitive and may also be spelt "KiB", "MiB", "GiB",
 *              "TiB".  "kB"/"KB" are refused: they are ambiguous (1000 or
 *              1024).  A fraction is allowed when the result is a whole
 *              number of bytes ("1.5k").
 *   Neither accepts a sign, white space, an empty string or a value above
 *   UINT64_MAX.
 *
 * @include paths are relative to the directory of the file given to
 * conf_load, also inside an included file (libconfig 1.5 has one include
 * directory and cannot include absolute paths once it is set).
 *
 * libconfig 1.5 silently truncates integer literals that do not fit 32 bits
 * unless they carry an "L" suffix; conf_get_int/duration/size re-read the
 * literal from the setting's source line and refuse such a value instead of
 * using the truncated number.  The check needs the file (not done after
 * conf_load_string) and the literal on the same line as the name.
 *
 * Lifetime: a loaded struct conf must not be moved or copied (settings point
 * back to its config_t); strings returned by the getters live until
 * conf_free.  Not thread-safe; load and validate on one thread, then hand
 * the derived structures over.
 */
#ifndef TANDEM_LIB_CONF_H
#define TANDEM_LIB_CONF_H

#include <stdint.h>
#include <libconfig.h>

struct conf_err { char msg[512]; };
/* built: the tree was made with libconfig's setting API (conf_init_built),
 * so its settings have no file or line to show. */
struct conf { config_t cfg; char path[4096]; int built; };

/*
 * Load and parse the file at path into *c (which must not hold a loaded
 * configuration: conf_free it first).  Returns 0, or -1
 * with err set ("FILE:LINE: syntax error", "FILE: cannot open: ...") and *c
 * left empty, in which case conf_free(c) is harmless but not needed.
 */
int  conf_load(struct conf *c, const char *path, struct conf_err *err);

/*
 * Parse text held in memory (tests, `-t -` style checks).  name stands in for
 * the file name in every message; @include resolves against the current
 * directory.  Returns 0/-1 like conf_load.
 */
int  conf_load_string(struct conf *c, const char *name, const char *text, struct conf_err *err);

/*
 * An empty configuration for a caller that builds the tree itself with
 * libconfig's setting API (config_setting_add on conf_root, cast to
 * non-const), so that settings given another way (proxyd's command line)
 * go through the same getters and checks as a file.  name stands in for the
 * file in every message, which then carries no line number.  conf_free it.
 */
void conf_init_built(struct conf *c, const char *name);
/* Free everything conf_load allocated.  Idempotent. */
void conf_free(struct conf *c);

/* The root group of a loaded configuration (never NULL after a successful load). */
const config_setting_t *conf_root(const struct conf *c);

/*
 * Fail with "FILE:LINE: unknown setting \"NAME\"" naming the first member of
 * grp (a group) whose name is not in the NULL-terminated list allowed.
 * Returns 0 when all are known or grp is NULL, -1 otherwise (err set).
 */
int  conf_check_keys(const config_setting_t *grp, const char *const *allowed, struct conf_err *err);

/*
 * Getters: name is a direct member of grp (a group; NULL is treated as an
 * empty group).  Return 0 when found and valid (*out set) or absent and not
 * required (*out untouched); -1 on a wrong type, a bad value or an absent
 * required setting, with err set to the file:line of the setting, or of grp
 * for a missing one (line 1 of the file for the root group, which has no
 * line of its own).
 */
/* A string; *out points into c and lives until conf_free. */
int  conf_get_str(const config_setting_t *grp, const char *name, int required, const char **out, struct conf_err *err);
/* An integer (32- or 64-bit literal) within [min, max]. */
int  conf_get_int(const config_setting_t *grp, const char *name, int required, int64_t min, int64_t max, int64_t *out, struct conf_err *err);
/* true/false only: no integers, no strings. */
int  conf_get_bool(const config_setting_t *grp, const char *name, int required, int *out, struct conf_err *err);
/* A duration string (see top of file) or a non-negative integer of milliseconds. */
int  conf_get_duration(const config_setting_t *grp, const char *name, int required, uint64_t *ms, struct conf_err *err);
/* A size string (see top of file) or a non-negative integer of bytes. */
int  conf_get_size(const config_setting_t *grp, const char *name, int required, uint64_t *bytes, struct conf_err *err);
/* A group member ("name = { ... }"); *out is the group. */
int  conf_get_group(const config_setting_t *grp, const char *name, int required, const config_setting_t **out, struct conf_err *err);
/* A list "( ... )" or an array "[ ... ]"; *out is the aggregate, walk it with
 * config_setting_length / config_setting_get_elem. */
int  conf_get_list(const config_setting_t *grp, const char *name, int required, const config_setting_t **out, struct conf_err *err);

/*
 * Format "FILE:LINE: " followed by fmt into err and return -1, so callers can
 * write `return conf_errorf(err, s, "...")`.  at may be any setting of a
 * loaded struct conf (its source file and line are used; an @include'd file
 * is named by its path); at == NULL formats the message without a location.
 */
int  conf_errorf(struct conf_err *err, const config_setting_t *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * Pure parsers (unit-tested).  0 and *out set on success; -1 on bad syntax,
 * an unknown unit, a sign, trailing characters, a fraction finer than the
 * base unit, or overflow of uint64_t (*out untouched).
 */
int  conf_parse_duration(const char *s, uint64_t *ms);
int  conf_parse_size(const char *s, uint64_t *bytes);

#endif /* TANDEM_LIB_CONF_H */
