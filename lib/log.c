/*
 * lib/log.c — the log sink of every tandem program.
 *
 * proxyd logs from several worker threads at once, so a line is formatted
 * whole into a stack buffer and handed to the kernel in one write(2): lines
 * never interleave and no lock is taken on the hot path. Under systemd the
 * stderr lines land in the journal; use_syslog is for classic deployments.
 * Attacker-triggerable events go through log_rl_warnx so that a flood of bad
 * input costs one line per interval, not one per packet.
 */
#include "lib/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static char log_ident[64];
static int log_use_syslog;
static int log_fd = STDERR_FILENO;
static _Atomic int log_level = LOG_LVL_INFO;

static const char *const level_names[] = { "err", "warn", "info", "debug" };

const char *
log_level_str(enum log_level level)
{
	if ((unsigned)level > LOG_LVL_DEBUG)
		return "?";
	return level_names[level];
}

int
log_level_parse(const char *s, enum log_level *level)
{
	static const struct { const char *name; enum log_level lvl; } tab[] = {
		{ "err", LOG_LVL_ERR }, { "error", LOG_LVL_ERR },
		{ "warn", LOG_LVL_WARN }, { "warning", LOG_LVL_WARN },
		{ "info", LOG_LVL_INFO }, { "debug", LOG_LVL_DEBUG },
	};
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strcmp(s, tab[i].name) == 0) {
			*level = tab[i].lvl;
			return 0;
		}
	}
	return -1;
}

void
log_init(const char *ident, int use_syslog, enum log_level level)
{
	if (ident != NULL)
		snprintf(log_ident, sizeof(log_ident), "%s", ident);
	if (log_use_syslog && !use_syslog)
		closelog();
	log_use_syslog = use_syslog;
	if (use_syslog)
		openlog(log_ident[0] ? log_ident : NULL, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_set_level(level);
}

void
log_set_level(enum log_level level)
{
	atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_level, memory_order_relaxed);
}

void
log_set_fd(int fd)
{
	log_fd = fd >= 0 ? fd : STDERR_FILENO;
}

static const char *
ident_or_default(void)
{
	if (log_ident[0] != '\0')
		return log_ident;
	return program_invocation_short_name;
}

/* Append to line at *off, keeping room for the final "\n"; marks truncation.
 * The attribute carries format checking through the va_list (clang). */
static void
line_vadd(char *line, size_t cap, size_t *off, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
line_vadd(char *line, size_t cap, size_t *off, const char *fmt, va_list ap)
{
	if (*off >= cap)
		return;
	int n = vsnprintf(line + *off, cap - *off, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= cap - *off) {
		*off = cap - 1;
		memcpy(line + cap - 4, "...", 3);
	} else {
		*off += (size_t)n;
	}
}

static void
line_add(char *line, size_t cap, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
line_add(char *line, size_t cap, size_t *off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	line_vadd(line, cap, off, fmt, ap);
	va_end(ap);
}

static void
log_emit(enum log_level level, int errnum, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

static void
log_emit(enum log_level level, int errnum, const char *suffix, const char *fmt, va_list ap)
{
	/* +1: the trailing newline always fits even after truncation. */
	char line[LOG_LINE_MAX + 1];
	size_t off = 0, msg_start;

	if (!log_use_syslog) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		off = strftime(line, LOG_LINE_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
		line_add(line, LOG_LINE_MAX, &off, ".%03ldZ %s[%ld] %s: ",
		    ts.tv_nsec / 1000000L, ident_or_default(), (long)getpid(),
		    log_level_str(level));
	}
	msg_start = off;
	line_vadd(line, LOG_LINE_MAX, &off, fmt, ap);
	if (errnum >= 0) {
		char ebuf[128];
		/* GNU strerror_r: thread-safe, returns the message pointer. */
		const char *es = strerror_r(errnum, ebuf, sizeof(ebuf));
		line_add(line, LOG_LINE_MAX, &off, ": %s", es);
	}
	if (suffix != NULL)
		line_add(line, LOG_LINE_MAX, &off, "%s", suffix);

	if (log_use_syslog) {
		static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		line[off] = '\0';
		syslog(prio[level], "%s", line + msg_start);
		return;
	}
	line[off++] = '\n';
	/* One write per line; retry only what a signal interrupted. */
	size_t done = 0;
	while (done < off) {
		ssize_t w = write(log_fd, line + done, off - done);
		if (w == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		done += (size_t)w;
	}
}

#define LOG_BODY(lvl, errnum, suffix)                          \
	do {                                                   \
		int saved_errno_ = errno;                      \
		if ((int)(lvl) > (int)log_get_level())         \
			return;                                \
		va_list ap_;                                   \
		va_start(ap_, fmt);                            \
		log_emit((lvl), (errnum), (suffix), fmt, ap_); \
		va_end(ap_);                                   \
		errno = saved_errno_;                          \
	} while (0)

void
log_warn(const char *fmt, ...)
{
	int e = errno;
	LOG_BODY(LOG_LVL_WARN, e, NULL);
}

void
log_warnx(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_WARN, -1, NULL);
}

void
log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_INFO, -1, NULL);
}

void
log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LVL_DEBUG, -1, NULL);
}

_Noreturn void
fatal(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LVL_ERR, e, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

_Noreturn void
fatalx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LVL_ERR, -1, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

int
log_rl_pass(struct log_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed)
{
	uint64_t stamp = atomic_load_explicit(&rl->stamp, memory_order_relaxed);

	for (;;) {
		uint64_t last = stamp - 1;

		/* Inside the interval: suppressed. Threads pass their own loop's
		 * time, so a now_ms a little behind the last line's is inside
		 * too; a clock that went back by a whole interval or more (a
		 * fake clock reset in tests) lets the line through rather than
		 * silencing it for a long time. */
		if (stamp != 0 && (now_ms >= last ? now_ms - last < rl->interval_ms :
		    last - now_ms < rl->interval_ms))
			break;
		/* Whoever moves the stamp logs; a loser sees the new stamp. */
		if (atomic_compare_exchange_weak_explicit(&rl->stamp, &stamp, now_ms + 1,
		    memory_order_relaxed, memory_order_relaxed)) {
			uint64_t n = atomic_exchange_explicit(&rl->suppressed, 0, memory_order_relaxed);

			if (suppressed != NULL)
				*suppressed = n;
			return 1;
		}
	}
	atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
	return 0;
}

void
log_rl_warnx(struct log_ratelimit *rl, uint64_t now_ms, const char *fmt, ...)
{
	int saved_errno = errno;
	uint64_t n;
	char suffix[64];

	if (log_get_level() < LOG_LVL_WARN)
		return;
	if (!log_rl_pass(rl, now_ms, &n))
		return;
	suffix[0] = '\0';
	if (n > 0)
		snprintf(suffix, sizeof(suffix), " (%llu similar suppressed)",
		    (unsigned long long)n);
	va_list ap;
	va_start(ap, fmt);
	log_emit(LOG_LVL_WARN, -1, suffix, fmt, ap);
	va_end(ap);
	errno = saved_errno;
}
