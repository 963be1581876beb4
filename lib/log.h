/*
 * lib/log.h — logging for every tandem program.
 *
 * Lines go to stderr (default, also before log_init) or to syslog. Each line is
 * formatted into a local buffer and emitted with a single write(2), so lines
 * from proxyd's worker threads never interleave mid-line.
 *
 * stderr format: "2026-11-23T12:00:00.123Z proxyd[1234] warn: message\n"
 */
#ifndef TANDEM_LIB_LOG_H
#define TANDEM_LIB_LOG_H

#include <stdint.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Longest line emitted; longer messages are truncated and end in "...". */
#define LOG_LINE_MAX 2048

/* Set the program identity (copied; truncated to 63 bytes), the sink and the
 * level. use_syslog != 0 opens syslog (LOG_DAEMON, LOG_PID) and sends lines
 * there instead of stderr. May be called again (e.g. after daemonizing); not
 * meant to race with concurrent logging from other threads. */
void log_init(const char *ident, int use_syslog, enum log_level level);

/* Lines above `level` are dropped. Thread-safe (atomic). */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Name of a level as printed in lines: "err", "warn", "info", "debug". */
const char *log_level_str(enum log_level level);

/* Parse "err"/"error", "warn"/"warning", "info", "debug"; 0 ok, -1 unknown. */
int log_level_parse(const char *s, enum log_level *level);

/* log_warn appends ": strerror(errno)" (errno as at entry; errno is preserved
 * across every log call). log_warnx does not. Both at LOG_LVL_WARN. */
void log_warn(const char *fmt, ...)  __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...)  __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Error-level line then exit(1). fatal appends strerror(errno), fatalx does not.
 * Never for peer or client input. */
_Noreturn void fatal(const char *fmt, ...)  __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* At most one line per interval for attacker-triggerable events; the next line that passes
 * says how many were suppressed. Not thread-safe per struct (one per thread or per module). */
/* Shared by threads: proxyd's workers log through one static limiter per
 * message kind, so the state is atomic (stamp: the last line's time + 1, 0
 * before the first line). interval_ms is set once, before any use. */
struct log_ratelimit { uint64_t interval_ms; _Atomic uint64_t stamp; _Atomic uint64_t suppressed; };
#define LOG_RATELIMIT_INIT(ms) { (ms), 0, 0 }

/* Warn-level line through rl at time now_ms (the caller's clock, usually
 * ev_now()). The first call always logs; later calls log only when
 * now_ms - last >= interval_ms, else they bump rl->suppressed. A line that
 * passes after suppressions ends with " (N similar suppressed)". Thread-safe:
 * of threads racing at the end of an interval exactly one logs; a now_ms
 * behind the last line's by less than interval_ms (another thread's loop
 * time, a little older) is inside the interval, one behind by more is a
 * clock that went back and logs. */
void log_rl_warnx(struct log_ratelimit *rl, uint64_t now_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The pure decision behind log_rl_warnx: returns 1 if a line may be emitted
 * now (and stores in *suppressed how many were dropped since the last one,
 * resetting the count), 0 if suppressed (count bumped). For callers that
 * format their own lines at other levels. */
int log_rl_pass(struct log_ratelimit *rl, uint64_t now_ms, uint64_t *suppressed);

/* Redirect stderr-mode lines to another fd (tests); -1 restores stderr. */
void log_set_fd(int fd);

#endif
