/*
 * proxyd/h2_conf.c — the "http2" block of proxyd.conf (h2_conf.h).
 */
#include "proxyd/h2_conf.h"

void
h2_conf_defaults(struct pd_h2 *h)
{
	h->max_streams = 100;           /* RFC 9113 §6.5.2 recommends no less than 100 */
	h->max_header_list = 16384;
	h->header_table = 4096;         /* RFC 9113 §6.5.2's initial value */
	h->initial_window = 65535;      /* RFC 9113 §6.9.2's initial value */
	h->idle_ms = 60000;
	h->settings_ms = 10000;
	h->rst_burst = 200;
	h->rst_rate = 30;
	h->ctrl_burst = 200;
	h->ctrl_rate = 50;
	h->max_continuations = 8;
}

static int
get_u32(const config_setting_t *t, const char *name, int64_t min, int64_t max, uint32_t *out, struct conf_err *err)
{
	int64_t v = *out;

	if (conf_get_int(t, name, 0, min, max, &v, err) == -1)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int
get_size32(const config_setting_t *t, const char *name, uint64_t min, uint64_t max, uint32_t *out, struct conf_err *err)
{
	uint64_t v = *out;

	if (conf_get_size(t, name, 0, &v, err) == -1)
		return -1;
	if (v < min || v > max)
		return conf_errorf(err, config_setting_get_member(t, name), "http2.%s: between %llu and %llu bytes", name,
		    (unsigned long long)min, (unsigned long long)max);
	*out = (uint32_t)v;
	return 0;
}

int
h2_conf_parse(struct pd_h2 *h, const config_setting_t *root, struct conf_err *err)
{
	static const char *const keys[] = { "max_concurrent_streams", "max_header_list_size", "header_table_size",
		"initial_window_size", "idle_timeout", "settings_timeout", "max_resets", "resets_per_second",
		"max_control_frames", "control_frames_per_second", "max_continuations", NULL };
	const config_setting_t *t = config_setting_get_member(root, "http2");

	if (t == NULL)
		return 0;
	if (!config_setting_is_group(t))
		return conf_errorf(err, t, "http2: must be a group { max_concurrent_streams = 100; ... }");
	if (conf_check_keys(t, keys, err) == -1 ||
	    get_u32(t, "max_concurrent_streams", 1, 10000, &h->max_streams, err) == -1 ||
	    get_size32(t, "max_header_list_size", 1024, 1u << 20, &h->max_header_list, err) == -1 ||
	    get_size32(t, "header_table_size", 0, 65536, &h->header_table, err) == -1 ||
	    /* RFC 9113 §6.5.2: at most 2^31-1; below 1k a stream crawls. */
	    get_size32(t, "initial_window_size", 1024, 0x7fffffff, &h->initial_window, err) == -1 ||
	    conf_get_duration(t, "idle_timeout", 0, &h->idle_ms, err) == -1 ||
	    conf_get_duration(t, "settings_timeout", 0, &h->settings_ms, err) == -1 ||
	    get_u32(t, "max_resets", 1, 1000000, &h->rst_burst, err) == -1 ||
	    get_u32(t, "resets_per_second", 1, 1000000, &h->rst_rate, err) == -1 ||
	    get_u32(t, "max_control_frames", 1, 1000000, &h->ctrl_burst, err) == -1 ||
	    get_u32(t, "control_frames_per_second", 1, 1000000, &h->ctrl_rate, err) == -1 ||
	    get_u32(t, "max_continuations", 0, 1000, &h->max_continuations, err) == -1)
		return -1;
	if (h->idle_ms == 0 || h->settings_ms == 0)
		return conf_errorf(err, t, "http2: idle_timeout and settings_timeout must be more than 0");
	return 0;
}
