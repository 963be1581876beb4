/*
 * proxyd/h2_conf.h — the "http2" block of proxyd.conf: the limits of the
 * HTTP/2 front (proxyd/h2.c). Every TLS listener offers h2 unless its
 * `tls.http2` is false. docs/configuration.md is the reference.
 *
 *   http2 = {                          # optional; these are the defaults
 *     max_concurrent_streams = 100;    # SETTINGS_MAX_CONCURRENT_STREAMS
 *     max_header_list_size = "16k";    # SETTINGS_MAX_HEADER_LIST_SIZE, enforced
 *     header_table_size = 4096;        # SETTINGS_HEADER_TABLE_SIZE (HPACK decoder)
 *     initial_window_size = "64k";     # SETTINGS_INITIAL_WINDOW_SIZE per stream
 *     idle_timeout = "60s";            # no open stream: GOAWAY and close
 *     settings_timeout = "10s";        # our SETTINGS not acknowledged: GOAWAY
 *     max_resets = 200;                # RST_STREAM budget (burst) ...
 *     resets_per_second = 30;          # ... refilled at this rate (CVE-2023-44487)
 *     max_control_frames = 200;        # PING/SETTINGS/empty DATA/PRIORITY budget (burst) ...
 *     control_frames_per_second = 50;  # ... refilled at this rate
 *     max_continuations = 8;           # CONTINUATION frames per header block (CVE-2024-27316 class)
 *   };
 */
#ifndef PROXYD_H2_CONF_H
#define PROXYD_H2_CONF_H

#include <stdint.h>

#include "lib/conf.h"

struct pd_h2 {
	uint32_t max_streams;
	uint32_t max_header_list;
	uint32_t header_table;
	uint32_t initial_window;
	uint64_t idle_ms;
	uint64_t settings_ms;
	uint32_t rst_burst, rst_rate;
	uint32_t ctrl_burst, ctrl_rate;
	uint32_t max_continuations;
};

/* The defaults above. */
void h2_conf_defaults(struct pd_h2 *h);
/* Reads root's "http2" group into h (absent: the defaults stay). 0, or -1
 * with err set ("FILE:LINE: http2.KEY: ..."). */
int h2_conf_parse(struct pd_h2 *h, const config_setting_t *root, struct conf_err *err);

#endif
