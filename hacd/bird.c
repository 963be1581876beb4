/*
 * hacd/bird.c — the client of BIRD's control socket (see bird.h): the
 * reply-line parser (pure, unit-tested in tests/unit/test_bird.c) and one
 * nonblocking connection on hacd's loop.
 *
 * BIRD is a local daemon hacd trusts no more than any socket a
 * configuration names: a wrong path, a socket that is not BIRD's, a BIRD
 * that hangs or answers junk must cost hacd a counted, logged failure and
 * a retry, never a crash or a blocked loop. So every reply is bounded in
 * length (BIRD_LINE_MAX) and in time (the reply timeout), a connection
 * counts only after BIRD's welcome line, and one command at a time keeps
 * replies and commands paired without any reply id (the protocol has none).
 */
#include "hacd/bird.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/log.h"

/* ---- the reply lines (pure) ------------------------------------------ */

static int bad_byte(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

enum bird_line_kind bird_line_parse(const char *line, size_t len, struct bird_line *out)
{
	int code = 0;

	memset(out, 0, sizeof(*out));
	if (line == NULL || len == 0 || len > BIRD_LINE_MAX)
		return BIRD_LINE_BAD;
	for (size_t i = 0; i < len; i++)
		if (bad_byte((unsigned char)line[i]))
			return BIRD_LINE_BAD;
	if (line[0] == '+' || line[0] == ' ') {
		out->text = line + 1;
		out->textlen = len - 1;
		return line[0] == '+' ? BIRD_LINE_ASYNC : BIRD_LINE_CONT;
	}
	if (len < 4)
		return BIRD_LINE_BAD;
	for (size_t i = 0; i < 4; i++) {
		if (line[i] < '0' || line[i] > '9')
			return BIRD_LINE_BAD;
		code = code * 10 + (line[i] - '0');
	}
	if (len > 4 && line[4] != '-' && line[4] != ' ')
		return BIRD_LINE_BAD;
	out->code = code;
	out->last = len == 4 || line[4] == ' ';
	out->text = len > 5 ? line + 5 : line + len;
	out->textlen = len > 5 ? len - 5 : 0;
	return BIRD_LINE_CODE;
}

int bird_code_ok(int code)
{
	return code >= 0 && code < 1000;
}

/* ---- the connection --------------------------------------------------- */

static void io_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents);
static void timeout_cb(struct ev_loop *loop, struct ev_timer *t);

void bird_init(struct bird_client *b, struct ev_loop *loop, const char *path, uint64_t timeout_ms)
{
	memset(b, 0, sizeof(*b));
	b->loop = loop;
	b->fd = -1;
	b->timeout_ms = timeout_ms;
	snprintf(b->path, sizeof(b->path), "%s", path);
	b->rl.interval_ms = 10000;
	ev_timer_init(&b->timer, timeout_cb, b);
}

void bird_close(struct bird_client *b)
{
	if (b->fd != -1) {
		if (b->loop != NULL && ev_io_active(&b->io))
			ev_io_stop(b->loop, &b->io);
		close(b->fd);
	}
	if (b->loop != NULL)
		ev_timer_stop(b->loop, &b->timer);
	b->fd = -1;
	b->welcomed = 0;
	b->inlen = 0;
	b->busy = 0;
	b->cb = NULL;
	b->gen++;
}

int bird_busy(const struct bird_client *b)
{
	return b->busy;
}

/* End the command under way with an outcome; the connection is closed
 * first when the outcome is a failure (its state is unknown). */
static void finish(struct bird_client *b, int code, const char *text)
{
	bird_done_cb cb = b->cb;
	void *arg = b->arg;

	if (code == -1)
		bird_close(b);
	b->busy = 0;
	b->cb = NULL;
	ev_timer_stop(b->loop, &b->timer);
	if (cb != NULL)
		cb(arg, code, text);
}

static void fail(struct bird_client *b, uint64_t *counter, const char *why)
{
	(*counter)++;
	log_rl_warnx(&b->rl, ev_now(b->loop), "bird %s: %s; the command is retried", b->path, why);
	finish(b, -1, why);
}

static int open_socket(struct bird_client *b)
{
	struct sockaddr_un sa;
	int fd, saved;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(b->path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, b->path, strlen(b->path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	/* A unix stream connect completes at once or fails at once (EAGAIN:
	 * the listener's backlog is full; BIRD is not keeping up). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int bird_command(struct bird_client *b, const char *cmd, bird_done_cb cb, void *arg)
{
	char line[128];
	size_t n = cmd != NULL ? strlen(cmd) : 0;
	ssize_t w;

	if (b->busy) {
		errno = EBUSY;
		return -1;
	}
	if (n == 0 || n > 120) {
		errno = EINVAL;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (bad_byte((unsigned char)cmd[i])) {
			errno = EINVAL;
			return -1;
		}
	if (b->fd == -1) {
		int fd = open_socket(b);

		if (fd == -1) {
			int saved = errno;

			b->st.connect_failed++;
			log_rl_warnx(&b->rl, ev_now(b->loop), "bird %s: cannot connect: %s (is BIRD running, "
			    "and is bird.socket in hacd.conf its control socket?); retried every second",
			    b->path, strerror(saved));
			errno = saved;
			return -1;
		}
		b->fd = fd;
		b->welcomed = 0;
		b->inlen = 0;
		ev_io_init(&b->io, fd, io_cb, b);
		if (ev_io_start(b->loop, &b->io, EV_READ) == -1) {
			int saved = errno;

			bird_close(b);
			b->st.connect_failed++;
			errno = saved;
			return -1;
		}
	}
	/* The command goes at once, even before the welcome: BIRD reads it
	 * after sending the welcome, and replies keep their order. */
	memcpy(line, cmd, n);
	line[n] = '\n';
	w = send(b->fd, line, n + 1, MSG_NOSIGNAL);
	if (w != (ssize_t)(n + 1)) {
		int saved = w == -1 ? errno : EAGAIN;

		bird_close(b);
		b->st.connect_failed++;
		log_rl_warnx(&b->rl, ev_now(b->loop), "bird %s: cannot send \"%s\": %s", b->path, cmd,
		    strerror(saved));
		errno = saved;
		return -1;
	}
	b->st.commands++;
	b->busy = 1;
	b->cb = cb;
	b->arg = arg;
	b->err_code = 0;
	b->err_text[0] = '\0';
	ev_timer_start(b->loop, &b->timer, b->timeout_ms);
	return 0;
}

static void timeout_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct bird_client *b = t->data;

	(void)loop;
	if (b->busy)
		fail(b, &b->st.timeouts, "no reply in time");
}

/* One whole line. Returns 0 to go on, -1 when the connection was closed
 * (the caller must not touch the buffer any more). */
static int on_line(struct bird_client *b, const char *line, size_t len)
{
	struct bird_line l;
	enum bird_line_kind k = bird_line_parse(line, len, &l);
	char text[128];

	if (k == BIRD_LINE_BAD) {
		fail(b, &b->st.bad_replies, "a reply line BIRD does not send (is bird.socket BIRD's socket?)");
		return -1;
	}
	if (k != BIRD_LINE_CODE)
		return 0;   /* continuations and asynchronous messages carry nothing hacd acts on */
	snprintf(text, sizeof(text), "%.*s", (int)l.textlen, l.text);
	if (!b->welcomed) {
		/* The first line of a connection is BIRD's welcome: anything
		 * else is another program's socket. */
		if (l.code != BIRD_WELCOME || !l.last) {
			fail(b, &b->st.bad_replies, "no BIRD welcome on connecting (is bird.socket BIRD's socket?)");
			return -1;
		}
		b->welcomed = 1;
		b->st.connects++;
		return 0;
	}
	if (!b->busy) {
		fail(b, &b->st.bad_replies, "a reply to no command");
		return -1;
	}
	if (l.code >= 8000 && b->err_code == 0) {
		b->err_code = l.code;
		snprintf(b->err_text, sizeof(b->err_text), "%s", text);
	}
	if (!l.last)
		return 0;
	if (b->err_code != 0) {
		b->st.errors++;
		finish(b, b->err_code, b->err_text);
	} else {
		finish(b, l.code, text);
	}
	return 0;
}

static void io_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct bird_client *b = w->data;
	ssize_t r;
	size_t start = 0;
	unsigned gen = b->gen;

	(void)loop;
	(void)revents;
	r = read(b->fd, b->in + b->inlen, sizeof(b->in) - b->inlen);
	if (r == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r <= 0) {
		if (b->busy)
			fail(b, &b->st.timeouts, r == 0 ? "BIRD closed the connection" : strerror(errno));
		else
			bird_close(b);
		return;
	}
	b->inlen += (size_t)r;
	for (size_t i = 0; i < b->inlen; i++) {
		if (b->in[i] != '\n')
			continue;
		/* A callback may have closed the connection (and opened
		 * another): what is left in the buffer is then not ours. */
		if (on_line(b, b->in + start, i - start) == -1 || b->gen != gen)
			return;
		start = i + 1;
	}
	if (start > 0) {
		memmove(b->in, b->in + start, b->inlen - start);
		b->inlen -= start;
	}
	if (b->inlen > BIRD_LINE_MAX) {
		if (b->busy)
			fail(b, &b->st.bad_replies, "a reply line too long for BIRD's answer to enable/disable");
		else
			bird_close(b);
	}
}

int bird_command_sync(struct bird_client *b, const char *cmd, uint64_t timeout_ms)
{
	char buf[BIRD_LINE_MAX * 2];
	size_t len = 0;
	int fd, welcomed = 0, err = 0;
	struct pollfd pfd;
	uint64_t left = timeout_ms;

	bird_close(b);
	if ((fd = open_socket(b)) == -1)
		return -1;
	len = strlen(cmd);
	if (len == 0 || len >= sizeof(buf) || memchr(cmd, '\n', len) != NULL) {
		close(fd);
		return -1;
	}
	memcpy(buf, cmd, len);
	buf[len++] = '\n';
	if (send(fd, buf, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	b->st.commands++;
	len = 0;
	/* Coarse: each wait gets what is left, in 50 ms steps at least. */
	while (left > 0) {
		ssize_t r;
		size_t start = 0;

		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, left > 50 ? 50 : (int)left) == -1 && errno != EINTR)
			break;
		left = left > 50 ? left - 50 : 0;
		r = read(fd, buf + len, sizeof(buf) - len);
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		for (size_t i = 0; i < len; i++) {
			struct bird_line l;

			if (buf[i] != '\n')
				continue;
			if (bird_line_parse(buf + start, i - start, &l) == BIRD_LINE_CODE) {
				if (!welcomed) {
					welcomed = l.code == BIRD_WELCOME;
					if (!welcomed)
						goto out;
				} else {
					if (l.code >= 8000 && err == 0)
						err = l.code;
					if (l.last) {
						close(fd);
						return err != 0 ? err : l.code;
					}
				}
			}
			start = i + 1;
		}
		memmove(buf, buf + start, len - start);
		len -= start;
		if (len >= sizeof(buf))
			break;
	}
out:
	close(fd);
	return -1;
}
