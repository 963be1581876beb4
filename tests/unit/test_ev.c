/*
 * tests/unit/test_ev.c — lib/ev: the event loop.
 *
 * Time is a fake clock injected with ev_set_clock and the loop is driven
 * with ev_run_once(loop, 0), so no test sleeps. I/O uses socketpairs and
 * pipes; signals are raised at ourselves; ev_async is exercised from a real
 * second thread. Every test ends by checking that the loop has no watcher
 * left (ev_loop_watchers == 0) before freeing it, and ASan checks that
 * freeing left nothing behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/ev.h"

/* Guard against a broken loop hanging the test run; never a threshold. */
#define HANG_GUARD_MS 10000

static uint64_t
fake_clock(void *arg)
{
	return *(const uint64_t *)arg;
}

struct fixture {
	struct ev_loop *loop;
	uint64_t now;
	char log[256];   /* order of events, one letter each */
	size_t nlog;
};

static void
note(struct fixture *f, char c)
{
	assert_true(f->nlog + 1 < sizeof(f->log));
	f->log[f->nlog++] = c;
	f->log[f->nlog] = '\0';
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	f->loop = ev_loop_new();
	if (f->loop == NULL)
		return -1;
	f->now = 1000;
	ev_set_clock(f->loop, fake_clock, &f->now);
	*state = f;
	return 0;
}

/* The loop must close clean: every test stops what it started. */
static int
teardown(void **state)
{
	struct fixture *f = *state;
	size_t left = ev_loop_watchers(f->loop);
	ev_loop_free(f->loop);
	free(f);
	if (left != 0) {
		print_error("%zu watcher(s) left registered\n", left);
		return -1;
	}
	return 0;
}

static void
advance(struct fixture *f, uint64_t ms)
{
	f->now += ms;
	ev_run_once(f->loop, 0);
}

/* ---- timers ---------------------------------------------------------------- */

struct ttimer {
	struct ev_timer t;
	struct fixture *f;
	char name;
};

static void
ttimer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct ttimer *tt = t->data;
	(void)loop;
	assert_false(ev_timer_active(t));   /* inactive while its callback runs */
	note(tt->f, tt->name);
}

static void
test_timer_ordering_table(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *name;
		uint64_t after[6];   /* ms until timer a, b, c... */
		size_t n;
		const char *order;
	} cases[] = {
		{ "ascending", { 10, 20, 30 }, 3, "abc" },
		{ "descending", { 30, 20, 10 }, 3, "cba" },
		{ "equal deadlines fire in start order", { 5, 5, 5, 5 }, 4, "abcd" },
		{ "mixed with ties", { 20, 10, 20, 10, 0, 30 }, 6, "ebdacf" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ttimer tt[6];
		f->nlog = 0;
		f->log[0] = '\0';
		for (size_t k = 0; k < cases[i].n; k++) {
			tt[k].f = f;
			tt[k].name = (char)('a' + k);
			ev_timer_init(&tt[k].t, ttimer_cb, &tt[k]);
			assert_false(ev_timer_active(&tt[k].t));
			ev_timer_start(f->loop, &tt[k].t, cases[i].after[k]);
			assert_true(ev_timer_active(&tt[k].t));
		}
		/* Everything due at once: order comes from the heap alone. */
		advance(f, 100);
		if (strcmp(f->log, cases[i].order) != 0) {
			print_error("case '%s': fired '%s', want '%s'\n", cases[i].name,
			    f->log, cases[i].order);
			fail();
		}
		assert_int_equal(ev_loop_watchers(f->loop), 0);
	}
}

static void
test_timer_fires_when_due_not_before(void **state)
{
	struct fixture *f = *state;
	struct ttimer a = { .f = f, .name = 'a' };

	ev_timer_init(&a.t, ttimer_cb, &a);
	ev_timer_start(f->loop, &a.t, 50);
	assert_int_equal(ev_timer_remaining(f->loop, &a.t), 50);
	advance(f, 49);
	assert_string_equal(f->log, "");
	assert_int_equal(ev_timer_remaining(f->loop, &a.t), 1);
	advance(f, 1);
	assert_string_equal(f->log, "a");
	assert_int_equal(ev_timer_remaining(f->loop, &a.t), 0);
	advance(f, 1000);
	assert_string_equal(f->log, "a");   /* one-shot */
}

static void
test_timer_stop_restart(void **state)
{
	struct fixture *f = *state;
	struct ttimer a = { .f = f, .name = 'a' }, b = { .f = f, .name = 'b' };

	ev_timer_init(&a.t, ttimer_cb, &a);
	ev_timer_init(&b.t, ttimer_cb, &b);
	ev_timer_stop(f->loop, &a.t);        /* stopping an inactive timer is a no-op */

	ev_timer_start(f->loop, &a.t, 100);
	ev_timer_start(f->loop, &b.t, 200);
	ev_timer_stop(f->loop, &a.t);
	assert_false(ev_timer_active(&a.t));
	assert_int_equal(ev_loop_watchers(f->loop), 1);
	advance(f, 150);
	assert_string_equal(f->log, "");     /* stopped: never fires */

	/* Re-arming an active timer moves it (here: earlier than b). */
	ev_timer_start(f->loop, &b.t, 300);  /* b now due at +300 from here */
	ev_timer_start(f->loop, &a.t, 10);
	ev_timer_start(f->loop, &a.t, 400);  /* moved later, behind b */
	assert_int_equal(ev_loop_watchers(f->loop), 2);
	advance(f, 300);
	assert_string_equal(f->log, "b");
	advance(f, 100);
	assert_string_equal(f->log, "ba");
}

struct rearm {
	struct ev_timer t;
	int fired;
	int limit;
};

static void
rearm_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct rearm *r = t->data;
	if (++r->fired < r->limit)
		ev_timer_start(loop, t, 0);
}

static void
test_timer_rearm_zero_does_not_starve(void **state)
{
	struct fixture *f = *state;
	struct rearm r = { .limit = 5 };

	ev_timer_init(&r.t, rearm_cb, &r);
	ev_timer_start(f->loop, &r.t, 0);
	/* Due now: fires in this iteration, and the re-arm waits for the next. */
	assert_int_equal(ev_run_once(f->loop, 0), 1);
	assert_int_equal(r.fired, 1);
	assert_true(ev_timer_active(&r.t));
	assert_int_equal(ev_run_once(f->loop, 0), 0);   /* clock did not move */
	for (int i = 2; i <= 5; i++) {
		advance(f, 1);
		assert_int_equal(r.fired, i);
	}
	assert_false(ev_timer_active(&r.t));
}

/* Many timers, random starts, restarts and stops; firing order must be the
 * (deadline, start order) order and exactly the active set must fire. */
#define NT 3000
struct mt {
	struct ev_timer t;
	uint64_t due;
	uint64_t seq;
	int live;
	int fired;
};
static uint64_t mt_last_due, mt_last_seq;
static size_t mt_count;
static int mt_order_ok = 1;

static void
mt_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct mt *m = t->data;
	(void)loop;
	if (m->due < mt_last_due || (m->due == mt_last_due && m->seq < mt_last_seq))
		mt_order_ok = 0;
	if (!m->live || m->fired)
		mt_order_ok = 0;
	mt_last_due = m->due;
	mt_last_seq = m->seq;
	m->fired = 1;
	mt_count++;
}

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void
test_timer_heap_random(void **state)
{
	struct fixture *f = *state;
	struct mt *ms = calloc(NT, sizeof(*ms));
	uint32_t seed = 42;
	uint64_t seq = 0;
	size_t live = 0;

	assert_non_null(ms);
	for (size_t i = 0; i < NT; i++)
		ev_timer_init(&ms[i].t, mt_cb, &ms[i]);
	for (int round = 0; round < 4 * NT; round++) {
		struct mt *m = &ms[lcg(&seed) % NT];
		if (lcg(&seed) % 4 == 0) {
			if (m->live)
				live--;
			ev_timer_stop(f->loop, &m->t);
			m->live = 0;
		} else {
			uint64_t after = lcg(&seed) % 500;   /* many ties on purpose */
			if (!m->live)
				live++;
			ev_timer_start(f->loop, &m->t, after);
			m->live = 1;
			m->due = f->now + after;
			m->seq = ++seq;
		}
		assert_int_equal(ev_loop_watchers(f->loop), live);
	}
	mt_last_due = mt_last_seq = 0;
	mt_count = 0;
	/* Step through time so the heap pops in many small batches. */
	for (int step = 0; step < 50; step++)
		advance(f, 10);
	assert_true(mt_order_ok);
	assert_int_equal(mt_count, live);
	for (size_t i = 0; i < NT; i++)
		assert_int_equal(ms[i].fired, ms[i].live);
	free(ms);
}

/* ---- I/O ------------------------------------------------------------------- */

struct tio {
	struct ev_io w;
	struct fixture *f;
	char name;
	uint32_t last;
	int calls;
	struct tio *other;   /* stopped from this one's callback, if set */
};

static void
tio_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct tio *t = w->data;
	t->last = revents;
	t->calls++;
	note(t->f, t->name);
	if (t->other != NULL)
		ev_io_stop(loop, &t->other->w);
}

static void
test_io_start_modify_stop(void **state)
{
	struct fixture *f = *state;
	int sv[2];
	struct tio t = { .f = f, .name = 'r' };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ev_io_init(&t.w, sv[0], tio_cb, &t);
	assert_int_equal(ev_io_start(f->loop, &t.w, EV_READ), 0);
	assert_true(ev_io_active(&t.w));
	assert_int_equal(ev_run_once(f->loop, 0), 0);        /* nothing to read */
	assert_int_equal(t.calls, 0);

	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(ev_run_once(f->loop, 0), 1);
	assert_int_equal(t.last, EV_READ);
	/* Level-triggered: unread data is reported again. */
	assert_int_equal(ev_run_once(f->loop, 0), 1);
	assert_int_equal(t.calls, 2);

	/* Modify: add EV_WRITE (a socket with room is writable). */
	assert_int_equal(ev_io_start(f->loop, &t.w, EV_READ | EV_WRITE), 0);
	ev_run_once(f->loop, 0);
	assert_int_equal(t.last, EV_READ | EV_WRITE);
	assert_int_equal(ev_io_start(f->loop, &t.w, EV_WRITE), 0);
	ev_run_once(f->loop, 0);
	assert_int_equal(t.last, EV_WRITE);
	assert_int_equal(ev_loop_watchers(f->loop), 1);

	ev_io_stop(f->loop, &t.w);
	assert_false(ev_io_active(&t.w));
	int calls = t.calls;
	assert_int_equal(ev_run_once(f->loop, 0), 0);
	assert_int_equal(t.calls, calls);
	ev_io_stop(f->loop, &t.w);                            /* idempotent */

	/* events == 0 is a stop. */
	assert_int_equal(ev_io_start(f->loop, &t.w, EV_READ), 0);
	assert_int_equal(ev_io_start(f->loop, &t.w, 0), 0);
	assert_false(ev_io_active(&t.w));
	assert_int_equal(ev_loop_watchers(f->loop), 0);
	close(sv[0]);
	close(sv[1]);
}

/* Re-arming with unchanged events must not reach the kernel. Proof: after
 * the fd is closed (the kernel dropped its registration) an unchanged start
 * still succeeds, while a real change fails with EBADF. */
static void
test_io_start_unchanged_is_free(void **state)
{
	struct fixture *f = *state;
	int sv[2];
	struct tio t = { .f = f, .name = 'r' };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	ev_io_init(&t.w, sv[0], tio_cb, &t);
	assert_int_equal(ev_io_start(f->loop, &t.w, EV_READ), 0);
	close(sv[0]);
	assert_int_equal(ev_io_start(f->loop, &t.w, EV_READ), 0);
	errno = 0;
	assert_int_equal(ev_io_start(f->loop, &t.w, EV_READ | EV_WRITE), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(t.w.events, EV_READ);   /* previous state kept */
	ev_io_stop(f->loop, &t.w);
	close(sv[1]);
}

static void
test_io_stop_drops_pending_event(void **state)
{
	struct fixture *f = *state;
	int a[2], b[2];
	struct tio ta = { .f = f, .name = 'a' }, tb = { .f = f, .name = 'b' };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, b), 0);
	ta.other = &tb;
	tb.other = &ta;
	ev_io_init(&ta.w, a[0], tio_cb, &ta);
	ev_io_init(&tb.w, b[0], tio_cb, &tb);
	assert_int_equal(ev_io_start(f->loop, &ta.w, EV_READ), 0);
	assert_int_equal(ev_io_start(f->loop, &tb.w, EV_READ), 0);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	/* Both are ready in the same batch; whichever runs first stops the
	 * other, whose already-fetched event must then be dropped. */
	assert_int_equal(ev_run_once(f->loop, 0), 1);
	assert_int_equal(ta.calls + tb.calls, 1);
	ev_io_stop(f->loop, &ta.w);
	ev_io_stop(f->loop, &tb.w);
	close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}

static void
test_io_hangup_reported_by_interest(void **state)
{
	struct fixture *f = *state;
	int sv[2];
	struct tio r = { .f = f, .name = 'r' }, w = { .f = f, .name = 'w' };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	int dupfd = dup(sv[0]);
	assert_true(dupfd >= 0);
	ev_io_init(&r.w, sv[0], tio_cb, &r);
	ev_io_init(&w.w, dupfd, tio_cb, &w);
	assert_int_equal(ev_io_start(f->loop, &r.w, EV_READ), 0);
	close(sv[1]);   /* peer gone: HUP */
	ev_run_once(f->loop, 0);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last, EV_READ);   /* a reader is not handed EV_WRITE */
	ev_io_stop(f->loop, &r.w);

	assert_int_equal(ev_io_start(f->loop, &w.w, EV_WRITE), 0);
	ev_run_once(f->loop, 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.last, EV_WRITE);
	ev_io_stop(f->loop, &w.w);
	close(sv[0]);
	close(dupfd);
}

static void
count_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct tio *t = w->data;
	(void)loop;
	t->last = revents;
	t->calls++;
}

/* More ready fds than one epoll_wait batch: all are served, over two
 * iterations. */
static void
test_io_more_than_one_batch(void **state)
{
	struct fixture *f = *state;
	enum { N = EV_BATCH + 44 };
	static int sv[N][2];
	static struct tio t[N];

	for (int i = 0; i < N; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv[i]), 0);
		t[i] = (struct tio){ .f = f, .name = '.' };
		ev_io_init(&t[i].w, sv[i][0], count_cb, &t[i]);
		assert_int_equal(ev_io_start(f->loop, &t[i].w, EV_READ), 0);
		assert_int_equal(write(sv[i][1], "x", 1), 1);
	}
	int first = ev_run_once(f->loop, 0);
	assert_int_equal(first, EV_BATCH);
	int total = first;
	/* Stop the served ones so the second iteration sees only the rest. */
	for (int i = 0; i < N; i++)
		if (t[i].calls > 0)
			ev_io_stop(f->loop, &t[i].w);
	total += ev_run_once(f->loop, 0);
	assert_int_equal(total, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(t[i].calls, 1);
		ev_io_stop(f->loop, &t[i].w);
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* ---- defer, hooks, phase order ------------------------------------------------ */

struct phase {
	struct fixture *f;
	struct ev_io w;
	struct ev_timer t;
	struct ev_defer d, d2;
	int sv[2];
};

static void
phase_defer_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct phase *p = d->data;
	(void)loop;
	note(p->f, d == &p->d ? 'D' : 'E');
}

static void
phase_io_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct phase *p = w->data;
	char c;
	(void)revents;
	assert_int_equal(read(p->sv[0], &c, 1), 1);
	note(p->f, 'I');
	ev_defer(loop, &p->d);
	ev_defer(loop, &p->d);   /* idempotent */
	ev_timer_start(loop, &p->t, 0);
}

static void
phase_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct phase *p = t->data;
	note(p->f, 'T');
	ev_defer(loop, &p->d2);
}

static void
test_defer_runs_after_io_and_timers(void **state)
{
	struct fixture *f = *state;
	struct phase p = { .f = f };

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p.sv), 0);
	ev_io_init(&p.w, p.sv[0], phase_io_cb, &p);
	ev_timer_init(&p.t, phase_timer_cb, &p);
	ev_defer_init(&p.d, phase_defer_cb, &p);
	ev_defer_init(&p.d2, phase_defer_cb, &p);
	assert_int_equal(ev_io_start(f->loop, &p.w, EV_READ), 0);
	assert_int_equal(write(p.sv[1], "x", 1), 1);
	assert_int_equal(ev_run_once(f->loop, 0), 4);
	/* I/O, then the timer it armed (due now), then both deferred in FIFO. */
	assert_string_equal(f->log, "ITDE");
	assert_false(p.d.queued);

	/* Cancel: queued then cancelled never runs. */
	ev_defer(f->loop, &p.d);
	assert_int_equal(ev_loop_watchers(f->loop), 2);   /* io + defer */
	ev_defer_cancel(f->loop, &p.d);
	ev_defer_cancel(f->loop, &p.d);                    /* no-op */
	assert_int_equal(ev_run_once(f->loop, 0), 0);
	assert_string_equal(f->log, "ITDE");
	ev_io_stop(f->loop, &p.w);
	close(p.sv[0]);
	close(p.sv[1]);
}

struct chain {
	struct ev_defer d;
	int runs;
};

static void
chain_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct chain *c = d->data;
	if (++c->runs < 3)
		ev_defer(loop, d);   /* re-queue itself: next iteration, not now */
}

static void
test_defer_from_defer_waits_an_iteration(void **state)
{
	struct fixture *f = *state;
	struct chain c = { .runs = 0 };

	ev_defer_init(&c.d, chain_cb, &c);
	ev_defer(f->loop, &c.d);
	/* -1: would block forever if queued work did not force a zero timeout. */
	assert_int_equal(ev_run_once(f->loop, -1), 1);
	assert_int_equal(c.runs, 1);
	assert_int_equal(ev_run_once(f->loop, -1), 1);
	assert_int_equal(ev_run_once(f->loop, -1), 1);
	assert_int_equal(c.runs, 3);
	assert_int_equal(ev_run_once(f->loop, 0), 0);
}

struct reapee {
	struct ev_defer d;
	int *reaped;
};

static void
reapee_cb(struct ev_loop *loop, struct ev_defer *d)
{
	struct reapee *r = d->data;

	(void)loop;
	(*r->reaped)++;
	free(r);
}

/* hacd closes its channel and hactl streams after ev_run returned, each
 * freed from the deferred queue: ev_loop_free must run that queue, or every
 * SIGTERM leaked them (LeakSanitizer in the ASan+UBSan integration run). */
static void
test_loop_free_runs_queued_defers(void **state)
{
	struct ev_loop *loop = ev_loop_new();
	struct reapee *r = calloc(1, sizeof(*r));
	struct chain c = { .runs = 0 };
	int reaped = 0;

	(void)state;
	assert_non_null(loop);
	assert_non_null(r);
	r->reaped = &reaped;
	ev_defer_init(&r->d, reapee_cb, r);
	ev_defer(loop, &r->d);
	ev_defer_init(&c.d, chain_cb, &c);   /* queues itself twice more */
	ev_defer(loop, &c.d);
	ev_loop_free(loop);
	assert_int_equal(reaped, 1);
	assert_int_equal(c.runs, 3);
}

struct hookst {
	struct fixture *f;
	int calls;
	struct ev_timer t;
	struct ev_defer d;
};

static void
hook_a(struct ev_loop *loop, void *arg)
{
	struct hookst *h = arg;
	(void)loop;
	h->calls++;
	note(h->f, 'h');
}

static void
hook_once(struct ev_loop *loop, void *arg)
{
	struct hookst *h = arg;
	note(h->f, 'o');
	ev_before_sleep_remove(loop, hook_once, arg);   /* removes itself mid-pass */
}

static void
hook_timer_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct hookst *h = t->data;
	(void)loop;
	note(h->f, 'T');
}

static void
test_before_sleep_hooks(void **state)
{
	struct fixture *f = *state;
	struct hookst h = { .f = f };

	ev_timer_init(&h.t, hook_timer_cb, &h);
	assert_int_equal(ev_before_sleep(f->loop, hook_once, &h), 0);
	assert_int_equal(ev_before_sleep(f->loop, hook_a, &h), 0);
	ev_timer_start(f->loop, &h.t, 0);
	ev_run_once(f->loop, 0);
	/* Hooks run before the poll, so before this iteration's timers; a hook
	 * removing itself does not make the next one skip. */
	assert_string_equal(f->log, "ohT");
	ev_run_once(f->loop, 0);
	ev_run_once(f->loop, 0);
	assert_string_equal(f->log, "ohThh");
	ev_before_sleep_remove(f->loop, hook_a, &h);
	ev_before_sleep_remove(f->loop, hook_a, &h);   /* absent: no-op */
	ev_run_once(f->loop, 0);
	assert_string_equal(f->log, "ohThh");
}

/* ---- ev_run / ev_stop ----------------------------------------------------------- */

static void
stop_cb(struct ev_loop *loop, struct ev_timer *t)
{
	int *n = t->data;
	if (++*n == 3)
		ev_stop(loop);
	else
		ev_timer_start(loop, t, 0);
}

static void
test_run_until_stop(void **state)
{
	struct fixture *f = *state;
	struct ev_timer t;
	int n = 0;

	/* Real clock: a 0 ms re-arm fires on the next millisecond. */
	ev_set_clock(f->loop, NULL, NULL);
	ev_timer_init(&t, stop_cb, &n);
	ev_timer_start(f->loop, &t, 0);
	assert_int_equal(ev_run(f->loop), 0);
	assert_int_equal(n, 3);
	assert_false(ev_timer_active(&t));
}

/* ---- signals ------------------------------------------------------------------------ */

struct tsig {
	struct ev_signal s;
	int calls;
	int signo;
};

static void
tsig_cb(struct ev_loop *loop, struct ev_signal *s, int signo)
{
	struct tsig *t = s->data;
	(void)loop;
	t->calls++;
	t->signo = signo;
}

/* Iterate until *counter reaches want. Each iteration that does not time
 * out (the hang guard) runs at least one callback, so callers bound the
 * iterations by the number of wakeups they cause. */
#define MAX_ITERATIONS 2000
static void
run_until(struct ev_loop *loop, const int *counter, int want)
{
	for (int i = 0; i < MAX_ITERATIONS && *counter < want; i++)
		assert_true(ev_run_once(loop, HANG_GUARD_MS) >= 0);
	assert_int_equal(*counter, want);
}

static void
test_signal_via_signalfd(void **state)
{
	struct fixture *f = *state;
	struct tsig a = { .calls = 0 }, b = { .calls = 0 };

	assert_int_equal(ev_signal_start(f->loop, &a.s, SIGKILL, tsig_cb, &a), -1);
	assert_int_equal(ev_signal_start(f->loop, &a.s, 0, tsig_cb, &a), -1);

	assert_int_equal(ev_signal_start(f->loop, &a.s, SIGUSR1, tsig_cb, &a), 0);
	assert_int_equal(ev_signal_start(f->loop, &b.s, SIGUSR1, tsig_cb, &b), 0);
	assert_int_equal(ev_loop_watchers(f->loop), 2);
	assert_int_equal(raise(SIGUSR1), 0);   /* blocked: pending, not delivered */
	run_until(f->loop, &b.calls, 1);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	assert_int_equal(a.signo, SIGUSR1);

	ev_signal_stop(f->loop, &a.s);
	assert_int_equal(raise(SIGUSR1), 0);
	run_until(f->loop, &b.calls, 2);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 2);

	ev_signal_stop(f->loop, &b.s);
	ev_signal_stop(f->loop, &b.s);         /* not registered: no-op */
	assert_int_equal(ev_loop_watchers(f->loop), 0);
}

/* ---- async across threads --------------------------------------------------------- */

struct tasync {
	struct ev_async a;
	int calls;
	atomic_int done;
	int seen_done;
};

static void
tasync_cb(struct ev_loop *loop, struct ev_async *a)
{
	struct tasync *t = a->data;
	(void)loop;
	t->calls++;
	if (atomic_load(&t->done))
		t->seen_done = 1;
}

static void *
sender(void *arg)
{
	struct tasync *t = arg;
	for (int i = 0; i < 1000; i++)
		ev_async_send(&t->a);
	atomic_store(&t->done, 1);
	ev_async_send(&t->a);
	return NULL;
}

static void
test_async_across_threads(void **state)
{
	struct fixture *f = *state;
	struct tasync t = { .calls = 0 };
	pthread_t th;

	assert_int_equal(ev_async_init(f->loop, &t.a, tasync_cb, &t), 0);
	assert_int_equal(ev_loop_watchers(f->loop), 1);
	assert_int_equal(ev_run_once(f->loop, 0), 0);   /* nothing sent yet */
	assert_int_equal(pthread_create(&th, NULL, sender, &t), 0);
	run_until(f->loop, &t.seen_done, 1);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(t.seen_done);
	/* The callback that saw `done` may have drained the counter before
	 * the last send landed: take that wakeup, if any, now. */
	ev_run_once(f->loop, 0);
	/* Sends coalesce: at most one call per send, at least one in all. */
	assert_true(t.calls >= 1 && t.calls <= 1001);
	/* Drained: no further wakeup. */
	int calls = t.calls;
	assert_int_equal(ev_run_once(f->loop, 0), 0);
	assert_int_equal(t.calls, calls);
	ev_async_fini(f->loop, &t.a);
	ev_async_fini(f->loop, &t.a);                    /* idempotent */
	assert_int_equal(ev_loop_watchers(f->loop), 0);
}

static void
async_stop_cb(struct ev_loop *loop, struct ev_async *a)
{
	(void)a;
	ev_stop(loop);
}

static void *
stop_sender(void *arg)
{
	ev_async_send(arg);
	return NULL;
}

static void
test_async_stops_loop_from_other_thread(void **state)
{
	struct fixture *f = *state;
	struct ev_async a;
	pthread_t th;

	assert_int_equal(ev_async_init(f->loop, &a, async_stop_cb, NULL), 0);
	assert_int_equal(pthread_create(&th, NULL, stop_sender, &a), 0);
	assert_int_equal(ev_run(f->loop), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	ev_async_fini(f->loop, &a);
}

/* The wall clock is the Unix epoch in ms: time(2)'s seconds, to within the
 * second the calls may straddle. */
static void test_wall_ms(void **state)
{
	struct timespec before, after;
	uint64_t w;

	(void)state;
	/* Bracketed by CLOCK_REALTIME itself: glibc's time(2) reads the coarse
	 * clock, which lags by up to a tick, so a second boundary crossed in
	 * between made ev_wall_ms() look ahead of "after" now and then. */
	clock_gettime(CLOCK_REALTIME, &before);
	w = ev_wall_ms();
	clock_gettime(CLOCK_REALTIME, &after);
	assert_true(w >= (uint64_t)before.tv_sec * 1000 + (uint64_t)before.tv_nsec / 1000000 &&
	    w <= (uint64_t)after.tv_sec * 1000 + (uint64_t)after.tv_nsec / 1000000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wall_ms),
		cmocka_unit_test_setup_teardown(test_timer_ordering_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_fires_when_due_not_before, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_stop_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_rearm_zero_does_not_starve, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_heap_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_start_modify_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_start_unchanged_is_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_stop_drops_pending_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_hangup_reported_by_interest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_more_than_one_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_runs_after_io_and_timers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_from_defer_waits_an_iteration, setup, teardown),
		cmocka_unit_test(test_loop_free_runs_queued_defers),
		cmocka_unit_test_setup_teardown(test_before_sleep_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_until_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_signal_via_signalfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_across_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_stops_loop_from_other_thread, setup, teardown),
	};
	return cmocka_run_group_tests_name("ev", tests, NULL, NULL);
}
