/*
 * proxyd/http_parse.h — strict, incremental, allocation-free HTTP/1.1 message
 * head parser and chunked-body validator (RFC 9112, RFC 9110).
 *
 * Pure code: no I/O, no allocation, no clock. The caller owns the bytes; the
 * parser only records offsets (struct http_span) relative to the first byte of
 * the buffer passed to http_parse(), so the caller may move (realloc) its
 * buffer between calls as long as the bytes keep their relative positions.
 *
 * Anything ambiguous is an error, never a guess: that is what keeps proxyd
 * from being a request-smuggling vector. On HTTP_ERROR, p->status carries the
 * status to answer (400/414/431/501/505 for requests; always 502 for a bad
 * upstream response) and p->reason a short static text for logs and counters.
 * After any error the connection must be closed: the framing is unknown.
 */
#ifndef PROXYD_HTTP_PARSE_H
#define PROXYD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

enum http_rc { HTTP_OK = 0, HTTP_AGAIN = 1, HTTP_ERROR = -1, HTTP_DONE = 2 };

enum http_method {
	HTTP_M_OTHER = 0, HTTP_M_GET, HTTP_M_HEAD, HTTP_M_POST, HTTP_M_PUT,
	HTTP_M_DELETE, HTTP_M_CONNECT, HTTP_M_OPTIONS, HTTP_M_TRACE, HTTP_M_PATCH
};

/* Form of the request-target (RFC 9112 §3.2). */
enum http_target_form {
	HTTP_TF_ORIGIN = 0,    /* "/path?query" */
	HTTP_TF_ABSOLUTE,      /* "http://authority/path" — see http_msg.authority */
	HTTP_TF_AUTHORITY,     /* "host:port", CONNECT only (rejected, see below) */
	HTTP_TF_ASTERISK       /* "*", OPTIONS only */
};

#define HTTP_MAX_HEADERS 128

/* Offsets are relative to data[0] of the buffer given to http_parse(). */
struct http_span { uint32_t off, len; };

/* value has surrounding OWS removed; it may be empty (len 0). */
struct http_header { struct http_span name, value; };

struct http_limits {
	uint32_t max_request_line;   /* start line without CRLF; default 8192 -> 414 */
	uint32_t max_header_bytes;   /* whole head from data[0] incl. final CRLF; default 32768 -> 431 */
	uint16_t max_headers;        /* field lines; default 100, clamped to HTTP_MAX_HEADERS -> 431 */
};
#define HTTP_DEFAULT_MAX_REQUEST_LINE 8192u
#define HTTP_DEFAULT_MAX_HEADER_BYTES 32768u
#define HTTP_DEFAULT_MAX_HEADERS      100u

/*
 * One parsed message head. http_parse() initializes every field itself on the
 * first call for a message (no need to zero it; the header array is not
 * cleared). Fields are valid once http_parse() returned HTTP_OK.
 */
struct http_msg {
	enum http_method method;           /* request */
	struct http_span method_s;         /* request: method token as sent */
	struct http_span target;           /* request: request-target as sent */
	struct http_span authority;        /* request, absolute-form: authority part of target; else {0,0}.
	                                      RFC 9112 §3.2.2: it then replaces Host for routing. */
	enum http_target_form target_form; /* request */
	struct http_span reason;           /* response: reason-phrase (may be empty) */
	int status;                        /* response: 100..599 */
	int version_minor;                 /* 0 or 1 (major is always 1) */
	struct http_header headers[HTTP_MAX_HEADERS];
	uint16_t nheaders;
	uint32_t header_bytes;             /* length of the whole head from data[0] (leading empty
	                                      lines, start line, fields, final CRLF) = body offset */
	int64_t content_length;            /* -1 if no Content-Length */
	unsigned chunked:1;                /* Transfer-Encoding: chunked (the only coding accepted) */
	unsigned conn_close:1;             /* Connection token "close" */
	unsigned conn_keep_alive:1;        /* Connection token "keep-alive" */
	unsigned conn_upgrade:1;           /* Connection token "upgrade" */
	unsigned expect_continue:1;        /* HTTP/1.1 request: Expect: 100-continue (RFC 9110 §10.1.1) */
	unsigned expect_other:1;           /* HTTP/1.1 request: another Expect value (417 is allowed) */
	unsigned has_upgrade_hdr:1;        /* an Upgrade field is present */
	unsigned has_te:1;                 /* a Transfer-Encoding field is present */
	unsigned upgrade_ws:1;             /* exactly one Upgrade field, and it says "websocket" (RFC 6455 §4.1) */
	uint8_t conn_ignored;              /* HTTP_CONN_IGN_* bits: Connection tokens naming a protected field */
	int16_t host_idx;                  /* index of the Host field, -1 if none */
	int16_t upgrade_idx;               /* index of the first Upgrade field, -1 if none */
	/* Bit i set: headers[i] is named by a Connection token (RFC 9110 §7.6.1), so it is
	 * hop-by-hop and must not be forwarded. Connection itself and the fixed hop-by-hop
	 * names (Keep-Alive, TE, Upgrade, ...) are the caller's to strip by name; they are
	 * also marked here when a Connection token names them. A protected field (see
	 * http_field_protected()) is never marked: the token is ignored and counted in
	 * conn_ignored instead. */
	uint32_t conn_hop_mask[HTTP_MAX_HEADERS / 32];
};

/* Resumable state. Only status and reason are meant to be read by callers. */
struct http_parser {
	uint32_t pos;          /* start of the first line not yet complete */
	uint32_t scan;         /* where the search for that line's LF resumes */
	uint8_t state;         /* internal */
	uint8_t is_response;
	uint8_t conn_seen;     /* internal: a Connection field was seen */
	struct http_limits lim;
	int status;            /* on HTTP_ERROR: 400/414/431/501/505 (request) or 502 (response) */
	const char *reason;    /* on HTTP_ERROR: short static text, e.g. "cl-and-te" */
};

/* Prepare p for a new message head. lim == NULL selects the defaults; zero
 * fields of *lim also select their default. Copies *lim. */
void http_parser_init(struct http_parser *p, int is_response, const struct http_limits *lim);

/*
 * Parse the head of one message. data/len: all bytes buffered since the
 * message's first byte (more than the head is fine: body and pipelined bytes
 * are left alone). Call again with the same p and m and a longer buffer after
 * HTTP_AGAIN; completed lines are not scanned again.
 * Returns HTTP_OK when the head is complete (m->header_bytes is the body
 * offset; calling again returns HTTP_OK without work), HTTP_AGAIN when more
 * bytes are needed, HTTP_ERROR with p->status and p->reason set (sticky).
 * Requests: CONNECT is rejected with 501 (a reverse proxy does not tunnel).
 */
int http_parse(struct http_parser *p, struct http_msg *m, const uint8_t *data, size_t len);

/*
 * Request paths are matched and forwarded in one normalised form (RFC 3986
 * §6.2.2; the rules and their reasons are at path_norm() in http_parse.c):
 * percent-encoded unreserved characters decoded, other escapes with upper-case
 * hex, runs of '/' merged. http_parse() already refuses (400) a path that has
 * no safe normal form, with p->reason one of "dot-segment" ("." or "..", also
 * encoded), "encoded-slash" (%2F), "encoded-backslash" (%5C), "backslash",
 * "encoded-ctl" (%00-%1F, %7F) or "bad-escape" (malformed pct-encoding).
 */

/* Normalises the path of the request-target of m, which http_parse() returned
 * HTTP_OK for, in place in data (the same buffer, which must be writable): the
 * path shrinks or stays, the query moves up behind it unchanged, and
 * m->target.len shrinks with it; no other span moves (the bytes freed at the
 * end of the target are left as they were and belong to no span). Every later
 * reader of m->target (routing, rewrite, forwarding, hashing, the access log)
 * then sees the normalised target. Asterisk-form and absolute-form without a
 * path are left alone. Returns 0, or -1 if the path has no normal form (not
 * possible after HTTP_OK; the caller answers 400). */
int http_target_normalize(struct http_msg *m, uint8_t *data);

/* The same normalisation of a path alone (in: len bytes starting with '/',
 * no query) into out (cap bytes, not NUL-terminated; out may equal in). Returns
 * the normalised length (<= len), or -1 with *reason set (the parser's reasons
 * above, "not-a-path", or "too-long" when len > cap). reason may be NULL.
 * Used by configuration checks, so a route path can be refused when no
 * request could ever match it. */
int http_path_normalize(const char *in, size_t len, char *out, size_t cap, const char **reason);

/*
 * Fields a Connection token may not remove (RFC 9110 §7.6.1 nominations that
 * are ignored). They are the message framing (Content-Length,
 * Transfer-Encoding: RFC 9112 §6.3 decides where the message ends from them,
 * and proxyd forwards the body by the framing it parsed), Host (routing,
 * RFC 9112 §3.2) and the fields proxyd sets or acts on itself (X-Forwarded-For,
 * X-Forwarded-Proto, X-Real-IP, Forwarded, Via, X-Request-Id, Expect). If a
 * peer could delete one of them while its body or its effect stays, the next
 * hop would read a different message than the one proxyd routed and checked:
 * that is request smuggling. HAProxy ignores such nominations the same way.
 * The classes below say which; also used to refuse these names as trailer
 * fields (RFC 9110 §6.5.1: framing, routing and request modifiers cannot be
 * trailers, and a recipient that merges trailers would be fooled).
 */
#define HTTP_CONN_IGN_FRAMING 0x01   /* Content-Length, Transfer-Encoding */
#define HTTP_CONN_IGN_HOST    0x02   /* Host */
#define HTTP_CONN_IGN_PROXY   0x04   /* a field proxyd sets or acts on */
/* The HTTP_CONN_IGN_* class of the field name [name, name + n), 0 if the
 * name is not protected. Case-insensitive; name must be a token (RFC 9110
 * §5.1, tchar only), which every parsed field name is. */
int http_field_protected(const uint8_t *name, size_t n);

/* Index of the first header whose name equals lname (which must be lowercase),
 * compared case-insensitively; -1 if none. */
int http_find_header(const struct http_msg *m, const uint8_t *data, const char *lname);

/* 1 if the connection may stay open after this message (RFC 9112 §9.3):
 * HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive" and no "close". */
int http_keep_alive(const struct http_msg *m);

/* Body framing (RFC 9112 §6.3). */
enum http_body {
	HTTP_BODY_NONE,        /* no body: the next message starts at header_bytes */
	HTTP_BODY_LENGTH,      /* exactly content_length (> 0) bytes */
	HTTP_BODY_CHUNKED,     /* validate with struct http_chunked */
	HTTP_BODY_UNTIL_CLOSE, /* response only: body ends when the server closes */
	HTTP_BODY_TUNNEL       /* response only: 101, or 2xx to CONNECT: raw bytes both ways after the head */
};
/* Request: chunked -> CHUNKED, content_length > 0 -> LENGTH, else NONE. */
enum http_body http_request_body(const struct http_msg *req);
/* Response to a request with method req_method: HEAD, 1xx (except 101), 204, 304 -> NONE;
 * 101 and CONNECT 2xx -> TUNNEL; chunked -> CHUNKED; Content-Length -> LENGTH (NONE if 0);
 * otherwise UNTIL_CLOSE. After an interim 1xx (other than 101) the final response
 * follows on the same connection: re-init the parser at header_bytes. */
enum http_body http_response_body(const struct http_msg *resp, enum http_method req_method);

/*
 * Streaming chunked-body validator (RFC 9112 §7.1). Feed any slices of the
 * body in order; it reports how many bytes belong to the body so the caller
 * can forward them verbatim, and when the body ended (after the last-chunk
 * and the trailer section's final CRLF).
 */
#define HTTP_CHUNK_MAX_LINE    4096u   /* chunk-size line incl. extensions */
#define HTTP_CHUNK_MAX_TRAILER 8192u   /* whole trailer section */
struct http_chunked {
	uint64_t size;         /* internal: chunk-size being read / data bytes left */
	uint32_t line_len;     /* internal: bytes of the current chunk-size line */
	uint32_t trailer_len;  /* internal: bytes of the trailer section so far */
	uint8_t state;         /* internal */
	uint8_t ndigits;       /* internal */
	uint8_t tname_len;     /* internal: length of the trailer field name being read (saturates) */
	uint8_t tname[17];     /* internal: its first bytes, enough for every protected name */
	uint64_t body_bytes;   /* total body bytes consumed so far (framing included) */
	const char *reason;    /* on HTTP_ERROR: short static text */
};
void http_chunked_init(struct http_chunked *c);
/* A trailer field whose name is protected (http_field_protected()) is an
 * error, "forbidden-trailer": RFC 9110 §6.5.1 forbids framing, routing and
 * request-modifier fields there, and a recipient that merges trailers into
 * the header section would act on them.
 * Returns HTTP_AGAIN (*consumed == len, need more), HTTP_DONE (the body ended
 * after *consumed bytes; the rest belongs to the next message), or
 * HTTP_ERROR (malformed at data[*consumed]; c->reason set; sticky). */
int http_chunked_feed(struct http_chunked *c, const uint8_t *data, size_t len, size_t *consumed);

const char *http_method_str(enum http_method m);   /* "GET", ...; "OTHER" */
const char *http_status_text(int status);          /* "Bad Request", ...; "Unknown" */

#endif
