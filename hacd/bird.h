/*
 * hacd/bird.h — a small client of BIRD's control socket, the protocol
 * birdc(8) speaks: hacd sends "enable NAME" and "disable NAME" for the
 * static protocol that holds a BGP-mode VIP's route (hacd/bgp.c decides
 * when). One command at a time on one connection, opened on demand and
 * reopened after any failure.
 *
 * BIRD's replies are numbered lines (BIRD's doc/reply_codes): "DDDD-text"
 * is a line of a reply that goes on, "DDDD text" its last line, " text" a
 * continuation of the previous line's code, "+text" an asynchronous
 * message outside any reply. Codes 0000-0999 end a command well (0001 is
 * the welcome BIRD sends as a connection opens, 0008 "Already disabled",
 * 0009 "Disabled", 0010 "Already enabled", 0011 "Enabled"), 1000-2999 are
 * table data and headings, 8000-8999 run-time errors ("8003 No protocols
 * match"), 9000-9999 command errors ("9001 Parse error").
 */
#ifndef TANDEM_HACD_BIRD_H
#define TANDEM_HACD_BIRD_H

#include <stddef.h>
#include <stdint.h>

#include "lib/ev.h"
#include "lib/log.h"

/* Reply codes hacd acts on (BIRD's doc/reply_codes). */
#define BIRD_WELCOME           1
#define BIRD_ALREADY_DISABLED  8
#define BIRD_DISABLED          9
#define BIRD_ALREADY_ENABLED   10
#define BIRD_ENABLED           11

/* The longest reply line hacd accepts: enable and disable answer in one
 * short line; anything longer is not BIRD answering them. */
#define BIRD_LINE_MAX 512

/* What bird_line_parse made of one line. */
enum bird_line_kind {
	BIRD_LINE_BAD = -1,   /* not a line BIRD sends */
	BIRD_LINE_CODE = 0,   /* "DDDD-text" or "DDDD text" */
	BIRD_LINE_CONT = 1,   /* " text": more of the previous code */
	BIRD_LINE_ASYNC = 2,  /* "+text": a message outside any reply */
};

struct bird_line {
	int code;             /* BIRD_LINE_CODE: 0..9999 */
	int last;             /* BIRD_LINE_CODE: "DDDD " ends the reply */
	const char *text;     /* into the line given; not NUL-terminated */
	size_t textlen;
};

/*
 * Parse one reply line (without its '\n'; a trailing '\r' is not BIRD's and
 * makes the line bad). Pure. Returns the kind and fills out (code and last
 * only for BIRD_LINE_CODE). Rejects: an empty line, a line longer than
 * BIRD_LINE_MAX, four digits followed by anything but '-' or ' ' (or
 * nothing: "0000" alone is a last line with no text), fewer than four
 * digits, control bytes other than tab.
 */
enum bird_line_kind bird_line_parse(const char *line, size_t len, struct bird_line *out);

/* 1 if code ends a command well (0000-0999), 0 otherwise. Pure. */
int bird_code_ok(int code);

/*
 * The outcome of a command, for the callback: code is the last line's code
 * (or the first error line's, 8000-9999, if one came), text its text
 * (NUL-terminated, valid during the call). code -1: no reply (the socket
 * could not be reached, the connection failed, BIRD did not answer within
 * the timeout, or it answered with lines BIRD does not send); text says
 * which.
 */
typedef void (*bird_done_cb)(void *arg, int code, const char *text);

struct bird_stats {
	uint64_t commands;        /* sent */
	uint64_t connects;        /* connections opened and welcomed */
	uint64_t connect_failed;  /* the socket could not be reached */
	uint64_t timeouts;        /* no complete reply in time */
	uint64_t bad_replies;     /* lines BIRD does not send, or no welcome */
	uint64_t errors;          /* replies with an error code (8000-9999) */
};

struct bird_client {
	struct ev_loop *loop;
	char path[108];
	int fd;                   /* -1 not connected */
	unsigned gen;             /* bumped by every close */
	int welcomed;             /* BIRD's 0001 seen on this connection */
	struct ev_io io;
	struct ev_timer timer;    /* reply timeout */
	uint64_t timeout_ms;
	char in[BIRD_LINE_MAX * 2];
	size_t inlen;
	int busy;                 /* a command awaits its reply */
	int err_code;             /* first error line of the reply under way */
	char err_text[128];
	bird_done_cb cb;
	void *arg;
	struct bird_stats st;
	struct log_ratelimit rl;
};

/* Set up (no I/O): path is BIRD's control socket, timeout_ms the bound on
 * each reply. */
void bird_init(struct bird_client *b, struct ev_loop *loop, const char *path, uint64_t timeout_ms);

/*
 * Send cmd (one line, no '\n'; at most 120 bytes; the caller built it from
 * validated words) and call cb(arg, ...) once with the outcome, always
 * from the loop, never from inside this call. Connects first if needed.
 * Returns 0 (cb will be called) or -1: a command is already under way
 * (errno EBUSY), cmd is empty, too long or holds a control byte (EINVAL),
 * or the socket cannot be reached now (the reason logged, rate-limited,
 * and counted in connect_failed; errno from connect(2)).
 */
int bird_command(struct bird_client *b, const char *cmd, bird_done_cb cb, void *arg);

/* 1 while a command awaits its reply. */
int bird_busy(const struct bird_client *b);

/*
 * Send cmd and wait for its reply, blocking, at most timeout_ms: for the
 * last word at shutdown, when the loop runs no more. Any command under way
 * is abandoned (its callback is not called). Returns the reply's code as
 * bird_done_cb gets it (-1 no reply).
 */
int bird_command_sync(struct bird_client *b, const char *cmd, uint64_t timeout_ms);

/* Close the connection (a command under way is abandoned, its callback not
 * called). The client may be used again. */
void bird_close(struct bird_client *b);

#endif /* TANDEM_HACD_BIRD_H */
