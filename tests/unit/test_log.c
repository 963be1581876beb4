/*
 * tests/unit/test_log.c — lib/log: line format, levels, errno, rate limiting.
 *
 * Lines are captured through log_set_fd on a pipe (single-threaded cases)
 * or an O_APPEND temporary file (the concurrent case, where whole lines
 * must survive four threads logging at once). The rate limiter is driven
 * by a table of (time) -> (emitted?, suppressed count in the line).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

static int pipefd[2];

static int
setup(void **state)
{
	(void)state;
	if (pipe2(pipefd, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	log_init("tlog", 0, LOG_LVL_DEBUG);
	log_set_fd(pipefd[1]);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	log_set_fd(-1);
	close(pipefd[0]);
	close(pipefd[1]);
	return 0;
}

/* Everything logged since the last call (NUL-terminated, static). */
static const char *
captured(void)
{
	static char out[65536];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(pipefd[0], out + n, sizeof(out) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	out[n] = '\0';
	return out;
}

static size_t
count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
test_line_format(void **state)
{
	regex_t re;
	char pat[256];
	(void)state;

	snprintf(pat, sizeof(pat),
	    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
	    "tlog\\[%ld\\] warn: conn 42 10\\.0\\.0\\.5:51234: upstream b1: connect timeout\n$",
	    (long)getpid());
	assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NOSUB), 0);
	log_warnx("conn %d %s: upstream %s: connect timeout", 42, "10.0.0.5:51234", "b1");
	const char *got = captured();
	if (regexec(&re, got, 0, NULL, 0) != 0) {
		print_error("line: '%s'\n", got);
		fail();
	}
	regfree(&re);
}

static void
test_warn_appends_errno_and_preserves_it(void **state)
{
	(void)state;
	errno = ENOENT;
	log_warn("open %s", "/x");
	assert_int_equal(errno, ENOENT);
	const char *got = captured();
	assert_non_null(strstr(got, " warn: open /x: No such file or directory\n"));
	errno = EPERM;
	log_warnx("plain");
	assert_int_equal(errno, EPERM);
	got = captured();
	assert_non_null(strstr(got, " warn: plain\n"));
	assert_null(strstr(got, "permitted"));
}

static void
test_level_table(void **state)
{
	static const struct {
		enum log_level set;
		int warn, info, debug;   /* emitted? */
	} cases[] = {
		{ LOG_LVL_ERR, 0, 0, 0 },
		{ LOG_LVL_WARN, 1, 0, 0 },
		{ LOG_LVL_INFO, 1, 1, 0 },
		{ LOG_LVL_DEBUG, 1, 1, 1 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		log_set_level(cases[i].set);
		assert_int_equal(log_get_level(), cases[i].set);
		log_warnx("w");
		assert_int_equal(count_lines(captured()), cases[i].warn);
		log_info("i");
		const char *got = captured();
		assert_int_equal(count_lines(got), cases[i].info);
		if (cases[i].info)
			assert_non_null(strstr(got, " info: i\n"));
		log_debug("d");
		got = captured();
		assert_int_equal(count_lines(got), cases[i].debug);
		if (cases[i].debug)
			assert_non_null(strstr(got, " debug: d\n"));
	}
	log_set_level(LOG_LVL_DEBUG);
}

static void
test_level_names(void **state)
{
	static const struct { const char *s; int ok; enum log_level lvl; } cases[] = {
		{ "err", 1, LOG_LVL_ERR }, { "error", 1, LOG_LVL_ERR },
		{ "warn", 1, LOG_LVL_WARN }, { "warning", 1, LOG_LVL_WARN },
		{ "info", 1, LOG_LVL_INFO }, { "debug", 1, LOG_LVL_DEBUG },
		{ "", 0, 0 }, { "INFO", 0, 0 }, { "verbose", 0, 0 },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum log_level l = LOG_LVL_INFO;
		int r = log_level_parse(cases[i].s, &l);
		assert_int_equal(r, cases[i].ok ? 0 : -1);
		if (cases[i].ok)
			assert_int_equal(l, cases[i].lvl);
	}
	assert_string_equal(log_level_str(LOG_LVL_WARN), "warn");
	assert_string_equal(log_level_str((enum log_level)17), "?");
}

static void
test_long_line_truncated_in_one_line(void **state)
{
	char big[LOG_LINE_MAX * 2];
	(void)state;
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	log_warnx("%s", big);
	const char *got = captured();
	size_t n = strlen(got);
	assert_int_equal(count_lines(got), 1);
	assert_int_equal(n, LOG_LINE_MAX);
	assert_memory_equal(got + n - 4, "...\n", 4);
}

static void
test_ratelimit_table(void **state)
{
	struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000);
	static const struct {
		uint64_t now;
		int emitted;
		const char *suffix;   /* expected end of the line when emitted */
	} steps[] = {
		{ 5000, 1, "bad datagram 0\n" },      /* first always passes */
		{ 5001, 0, NULL },
		{ 5500, 0, NULL },
		{ 5999, 0, NULL },
		{ 6000, 1, "bad datagram 4 (3 similar suppressed)\n" },
		{ 7000, 1, "bad datagram 5\n" },      /* nothing suppressed: no suffix */
		{ 7001, 0, NULL },
		{ 100, 1, "bad datagram 7 (1 similar suppressed)\n" },   /* clock reset */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		log_rl_warnx(&rl, steps[i].now, "bad datagram %zu", i);
		const char *got = captured();
		assert_int_equal(count_lines(got), steps[i].emitted);
		if (steps[i].emitted) {
			size_t n = strlen(got), m = strlen(steps[i].suffix);
			if (n < m || strcmp(got + n - m, steps[i].suffix) != 0) {
				print_error("step %zu: '%s'\n", i, got);
				fail();
			}
			assert_non_null(strstr(got, " warn: "));
		}
	}
	/* The pure decision, for callers formatting their own lines. */
	struct log_ratelimit r2 = LOG_RATELIMIT_INIT(10);
	uint64_t sup = 99;
	assert_int_equal(log_rl_pass(&r2, 0, &sup), 1);
	assert_int_equal(sup, 0);
	assert_int_equal(log_rl_pass(&r2, 5, &sup), 0);
	assert_int_equal(log_rl_pass(&r2, 9, &sup), 0);
	assert_int_equal(r2.suppressed, 2);
	assert_int_equal(log_rl_pass(&r2, 10, &sup), 1);
	assert_int_equal(sup, 2);
	assert_int_equal(r2.suppressed, 0);
}

/* ---- whole lines under concurrency ------------------------------------------------- */

#define NTHREADS 4
#define NLINES   500

static void *
spam(void *arg)
{
	long id = (long)arg;
	for (int i = 0; i < NLINES; i++)
		log_info("thread %ld line %d %s", id, i,
		    "padding-padding-padding-padding-padding-padding-padding-padding");
	return NULL;
}

static void
test_lines_whole_across_threads(void **state)
{
	char path[] = "/tmp/test_log.XXXXXX";
	pthread_t th[NTHREADS];
	(void)state;

	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(fcntl(fd, F_SETFL, O_APPEND), 0);
	log_set_fd(fd);
	for (long i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, spam, (void *)i), 0);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	log_set_fd(pipefd[1]);

	off_t size = lseek(fd, 0, SEEK_END);
	char *all = malloc((size_t)size + 1);
	assert_non_null(all);
	assert_int_equal(pread(fd, all, (size_t)size, 0), size);
	all[size] = '\0';
	close(fd);

	/* Every line intact, and each thread's lines all there in order. */
	int next[NTHREADS] = { 0 };
	size_t lines = 0;
	for (char *save = NULL, *l = strtok_r(all, "\n", &save); l != NULL;
	    l = strtok_r(NULL, "\n", &save)) {
		long id;
		int n, end = 0;
		const char *m = strstr(l, " info: ");
		assert_non_null(m);
		assert_int_equal(sscanf(m, " info: thread %ld line %d padding-padding-padding-"
		    "padding-padding-padding-padding-padding%n", &id, &n, &end), 2);
		assert_int_equal(m[end], '\0');
		assert_true(id >= 0 && id < NTHREADS);
		assert_int_equal(n, next[id]);
		next[id]++;
		lines++;
	}
	assert_int_equal(lines, NTHREADS * NLINES);
	free(all);
}

/* One limiter shared by proxyd's worker threads (a static per message
 * kind, e.g. proxyd/conn.c's connection-limit warning): racing threads at
 * one time let exactly one line through and count every other call, and a
 * worker whose loop time is a little behind the last line's is inside the
 * interval. The old plain struct lost counts and let several threads (and
 * every slightly older clock) through; ThreadSanitizer (make SAN=thread)
 * reported the race from the loopback suites. */
#define RL_THREADS 4
#define RL_CALLS   200000

struct rl_hammer {
	struct log_ratelimit *rl;
	uint64_t passed;
};

static void *
rl_hammer(void *arg)
{
	struct rl_hammer *h = arg;
	uint64_t n;

	for (int i = 0; i < RL_CALLS; i++)
		h->passed += (uint64_t)log_rl_pass(h->rl, 5000 + (uint64_t)(i % 3), &n);
	return NULL;
}

static void
test_ratelimit_shared_by_threads(void **state)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(1000);
	struct rl_hammer h[RL_THREADS];
	pthread_t th[RL_THREADS];
	uint64_t passed = 0, sup = 0;

	(void)state;
	for (int i = 0; i < RL_THREADS; i++) {
		h[i] = (struct rl_hammer){ .rl = &rl };
		assert_int_equal(pthread_create(&th[i], NULL, rl_hammer, &h[i]), 0);
	}
	for (int i = 0; i < RL_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		passed += h[i].passed;
	}
	assert_int_equal(passed, 1);
	/* The next interval's line carries the exact count of the others. */
	assert_int_equal(log_rl_pass(&rl, 6002, &sup), 1);
	assert_int_equal(sup, (uint64_t)RL_THREADS * RL_CALLS - 1);
	/* Another thread's clock 2 ms older: inside the interval. */
	assert_int_equal(log_rl_pass(&rl, 6000, &sup), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_line_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_warn_appends_errno_and_preserves_it, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line_truncated_in_one_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ratelimit_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lines_whole_across_threads, setup, teardown),
		cmocka_unit_test(test_ratelimit_shared_by_threads),
	};
	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
