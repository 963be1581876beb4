/*
 * proxyd/accesslog.h — the access log, written off the hot path.
 *
 * A request's line is formatted into its worker's buffer when the exchange
 * ends; the buffer goes out with one write(2) when it passes a threshold or
 * from a 200 ms timer, so logging adds no syscall per request. Format:
 * "combined" (Apache/nginx) with the request id appended, or one JSON object
 * per line.
 */
#ifndef PROXYD_ACCESSLOG_H
#define PROXYD_ACCESSLOG_H

struct worker;
struct req;
struct conn;
struct http_msg;

/* Opens the log named by spec: a path (append, created 0640), "stderr" or "off".
 * Returns 0 or -1 (errno set). format: enum pd_log_format. Startup only. */
int accesslog_open(const char *spec, int format);
/* 1 if access logging is on. */
int accesslog_enabled(void);
/* Records the fields known once the request head is parsed (data: the head's bytes). */
void accesslog_begin(struct req *r, const struct conn *c, const unsigned char *data);
/* Appends the request's line to wk's buffer (flushing when it is large). */
void accesslog_end(struct worker *wk, struct req *r);
/* Writes wk's buffered lines. */
void accesslog_flush(struct worker *wk);

#endif
