/*
 * lib/ev.c — the event loop under every daemon, in the spirit of Redis' ae.c.
 *
 * One loop per thread: proxyd's workers and control thread, hacd's single
 * thread. A loop multiplexes I/O watchers on epoll, timers in a binary
 * min-heap on monotonic milliseconds, signals through a signalfd, cross-thread
 * wakeups through eventfds, a deferred queue (where objects are reaped, never
 * inside their own callbacks) and before-sleep hooks (where buffered writes
 * are flushed and datagrams batched).
 *
 * Why level-triggered epoll, not edge-triggered:
 *  - Writes are speculative: a response is written as soon as it is ready and
 *    EPOLLOUT is armed only when write(2) says EAGAIN, then disarmed once the
 *    buffer drains. Most connections never register for EPOLLOUT at all.
 *  - A callback may stop reading early (a full buffer, a fairness budget)
 *    and is called again on the next iteration; with edge triggering the
 *    same choice is a lost edge and a connection that hangs forever.
 *  - Edge triggering forces reading until EAGAIN, one extra failing syscall
 *    per readiness event; level triggering reads once and lets epoll say
 *    whether more is there.
 *
 * Each epoll event carries the watcher pointer. A watcher stopped while
 * its event still waits in the current batch has that event dropped
 * (ev_io_stop scans the rest of the batch), so a stopped or reaped owner
 * never sees a stale event.
 */
#include "lib/ev.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"

#define TIMER_INACTIVE ((size_t)-1)

struct ev_hook { ev_hook_cb cb; void *arg; };

struct ev_loop {
	int epfd;
	int stop;
	uint64_t now;
	uint64_t (*clock_ms)(void *);
	void *clock_arg;
	uint64_t ncalls;             /* callbacks run, for ev_run_once's result */

	struct epoll_event events[EV_BATCH];
	int nready;                  /* events in the batch being dispatched */
	int ready_pos;               /* next one to dispatch */
	size_t nio;                  /* active user I/O watchers */

	struct ev_timer **heap;
	size_t nheap, heap_cap;
	uint64_t timer_seq;
	int in_timers;

	struct ev_defer *dhead, *dtail; /* queued for the next deferred phase */
	struct ev_defer *drun;       /* being run now */
	size_t ndefer;

	struct ev_hook *hooks;
	size_t nhooks, hooks_cap;
	int hooks_dirty;             /* a hook was removed during the hook pass */
	int in_hooks;

	int sigfd;
	struct ev_io sigio;
	sigset_t sigmask;
	struct ev_signal *sigs;
	struct ev_signal *sig_next;  /* iteration cursor, kept valid by ev_signal_stop */
	size_t nsigs;
};

static uint64_t
clock_monotonic_ms(void *arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

struct ev_loop *
ev_loop_new(void)
{
	struct ev_loop *loop = calloc(1, sizeof(*loop));
	if (loop == NULL)
		return NULL;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd == -1) {
		int e = errno;
		free(loop);
		errno = e;
		return NULL;
	}
	loop->sigfd = -1;
	sigemptyset(&loop->sigmask);
	loop->clock_ms = clock_monotonic_ms;
	ev_now_update(loop);
	return loop;
}

static void defer_run(struct ev_loop *loop);

/* Bound on the deferred phases ev_loop_free runs: a reaper that queues
 * another (a connection reaping its backend side) settles in a few; one
 * that requeues itself forever must not hang a shutdown. */
#define EV_FREE_DEFER_ROUNDS 16

void
ev_loop_free(struct ev_loop *loop)
{
	int i;

	if (loop == NULL)
		return;
	/* Deferred callbacks are where closed objects are freed (a stream
	 * closed during shutdown queues its reaper): run what is queued, or
	 * every object closed in the last iteration leaks. */
	for (i = 0; i < EV_FREE_DEFER_ROUNDS && loop->dhead != NULL; i++)
		defer_run(loop);
	if (loop->sigfd != -1)
		close(loop->sigfd);
	close(loop->epfd);
	free(loop->heap);
	free(loop->hooks);
	free(loop);
}

uint64_t
ev_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
ev_now(const struct ev_loop *loop)
{
	return loop->now;
}

void
ev_now_update(struct ev_loop *loop)
{
	loop->now = loop->clock_ms(loop->clock_arg);
}

void
ev_set_clock(struct ev_loop *loop, uint64_t (*clock_ms)(void *), void *arg)
{
	loop->clock_ms = clock_ms != NULL ? clock_ms : clock_monotonic_ms;
	loop->clock_arg = clock_ms != NULL ? arg : NULL;
	ev_now_update(loop);
}

void
ev_stop(struct ev_loop *loop)
{
	loop->stop = 1;
}

size_t
ev_loop_watchers(const struct ev_loop *loop)
{
	return loop->nio + loop->nheap + loop->nsigs + loop->ndefer;
}

/* ---- I/O ------------------------------------------------------------------ */

void
ev_io_init(struct ev_io *w, int fd, ev_io_cb cb, void *data)
{
	w->fd = fd;
	w->events = 0;
	w->cb = cb;
	w->data = data;
	w->active = 0;
}

int
ev_io_active(const struct ev_io *w)
{
	return w->active;
}

static int
io_register(struct ev_loop *loop, struct ev_io *w, uint32_t events)
{
	struct epoll_event ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = ((events & EV_READ) ? EPOLLIN : 0) | ((events & EV_WRITE) ? EPOLLOUT : 0);
	ee.data.ptr = w;
	if (epoll_ctl(loop->epfd, w->active ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ee) == -1)
		return -1;
	w->events = events;
	w->active = 1;
	return 0;
}

int
ev_io_start(struct ev_loop *loop, struct ev_io *w, uint32_t events)
{
	events &= EV_READ | EV_WRITE;
	if (events == 0) {
		ev_io_stop(loop, w);
		return 0;
	}
	/* The common case on the hot path: re-arming what is already armed
	 * costs nothing. */
	if (w->active && w->events == events)
		return 0;
	int was_active = w->active;
	if (io_register(loop, w, events) == -1)
		return -1;
	if (!was_active)
		loop->nio++;
	return 0;
}

/* Forget w's events in the rest of the batch being dispatched. */
static void
io_purge_pending(struct ev_loop *loop, struct ev_io *w)
{
	for (int i = loop->ready_pos; i < loop->nready; i++) {
		if (loop->events[i].data.ptr == w)
			loop->events[i].data.ptr = NULL;
	}
}

void
ev_io_stop(struct ev_loop *loop, struct ev_io *w)
{
	if (!w->active)
		return;
	/* Errors are ignored: if the fd was closed too early, the kernel has
	 * already dropped the registration. */
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->active = 0;
	w->events = 0;
	if (w != &loop->sigio)
		loop->nio--;
	io_purge_pending(loop, w);
}

static void
io_dispatch(struct ev_loop *loop, int n)
{
	loop->nready = n;
	for (loop->ready_pos = 0; loop->ready_pos < n;) {
		struct epoll_event *e = &loop->events[loop->ready_pos++];
		struct ev_io *w = e->data.ptr;
		uint32_t rev = 0;

		if (w == NULL || !w->active)
			continue;
		if (e->events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP))
			rev |= EV_READ;
		if (e->events & EPOLLOUT)
			rev |= EV_WRITE;
		/* An error or hangup is reported as both, so whichever side the
		 * owner is waiting on finds it through its read or write call;
		 * masked by interest so a reader is not handed a write event. */
		if (e->events & (EPOLLERR | EPOLLHUP))
			rev |= EV_READ | EV_WRITE;
		rev &= w->events;
		if (rev == 0)
			continue;
		if (w != &loop->sigio)
			loop->ncalls++;
		w->cb(loop, w, rev);
	}
	loop->nready = 0;
	loop->ready_pos = 0;
}

/* ---- timers: binary min-heap, heap_idx kept in the timer ------------------ */

static int
timer_before(const struct ev_timer *a, const struct ev_timer *b)
{
	if (a->when_ms != b->when_ms)
		return a->when_ms < b->when_ms;
	return a->seq < b->seq;
}

static void
heap_set(struct ev_loop *loop, size_t i, struct ev_timer *t)
{
	loop->heap[i] = t;
	t->heap_idx = i;
}

static void
heap_sift_up(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!timer_before(t, loop->heap[parent]))
			break;
		heap_set(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_set(loop, i, t);
}

static void
heap_sift_down(struct ev_loop *loop, size_t i)
{
	struct ev_timer *t = loop->heap[i];
	size_t n = loop->nheap;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && timer_before(loop->heap[c + 1], loop->heap[c]))
			c++;
		if (!timer_before(loop->heap[c], t))
			break;
		heap_set(loop, i, loop->heap[c]);
		i = c;
	}
	heap_set(loop, i, t);
}

static void
heap_remove(struct ev_loop *loop, struct ev_timer *t)
{
	size_t i = t->heap_idx;
	struct ev_timer *last = loop->heap[--loop->nheap];

	t->heap_idx = TIMER_INACTIVE;
	if (i == loop->nheap)
		return;
	heap_set(loop, i, last);
	heap_sift_down(loop, i);
	heap_sift_up(loop, last->heap_idx);
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *data)
{
	t->when_ms = 0;
	t->heap_idx = TIMER_INACTIVE;
	t->cb = cb;
	t->data = data;
	t->seq = 0;
}

int
ev_timer_active(const struct ev_timer *t)
{
	return t->heap_idx != TIMER_INACTIVE;
}

void
ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t after_ms)
{
	uint64_t when = after_ms > UINT64_MAX - loop->now ? UINT64_MAX : loop->now + after_ms;

	/* Re-armed from a timer callback: not before the next iteration, so a
	 * zero interval cannot keep the timer phase going forever. */
	if (loop->in_timers && when <= loop->now)
		when = loop->now + 1;
	t->when_ms = when;
	t->seq = ++loop->timer_seq;
	if (ev_timer_active(t)) {
		heap_sift_down(loop, t->heap_idx);
		heap_sift_up(loop, t->heap_idx);
		return;
	}
	if (loop->nheap == loop->heap_cap) {
		size_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
		struct ev_timer **h = realloc(loop->heap, cap * sizeof(*h));
		if (h == NULL)
			fatalx("ev: out of memory growing the timer heap to %zu", cap);
		loop->heap = h;
		loop->heap_cap = cap;
	}
	loop->nheap++;
	heap_set(loop, loop->nheap - 1, t);
	heap_sift_up(loop, loop->nheap - 1);
}

void
ev_timer_stop(struct ev_loop *loop, struct ev_timer *t)
{
	if (ev_timer_active(t))
		heap_remove(loop, t);
}

uint64_t
ev_timer_remaining(const struct ev_loop *loop, const struct ev_timer *t)
{
	if (!ev_timer_active(t) || t->when_ms <= loop->now)
		return 0;
	return t->when_ms - loop->now;
}

static void
timers_run(struct ev_loop *loop)
{
	loop->in_timers = 1;
	while (loop->nheap > 0 && loop->heap[0]->when_ms <= loop->now) {
		struct ev_timer *t = loop->heap[0];
		heap_remove(loop, t);
		loop->ncalls++;
		t->cb(loop, t);
	}
	loop->in_timers = 0;
}

/* ---- deferred queue --------------------------------------------------------- */

void
ev_defer_init(struct ev_defer *d, ev_defer_cb cb, void *data)
{
	d->next = NULL;
	d->cb = cb;
	d->data = data;
	d->queued = 0;
}

void
ev_defer(struct ev_loop *loop, struct ev_defer *d)
{
	if (d->queued)
		return;
	d->queued = 1;
	d->next = NULL;
	if (loop->dtail != NULL)
		loop->dtail->next = d;
	else
		loop->dhead = d;
	loop->dtail = d;
	loop->ndefer++;
}

void
ev_defer_cancel(struct ev_loop *loop, struct ev_defer *d)
{
	struct ev_defer **pp, *prev = NULL;

	if (!d->queued)
		return;
	for (pp = &loop->drun; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			goto found;
		}
	}
	for (pp = &loop->dhead; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			if (loop->dtail == d)
				loop->dtail = prev;
			goto found;
		}
	}
	return;
found:
	d->queued = 0;
	d->next = NULL;
	loop->ndefer--;
}

static void
defer_run(struct ev_loop *loop)
{
	/* Only what was queued before this phase runs now; callbacks that
	 * queue more (themselves included) are run in the next iteration. */
	loop->drun = loop->dhead;
	loop->dhead = loop->dtail = NULL;
	while (loop->drun != NULL) {
		struct ev_defer *d = loop->drun;
		loop->drun = d->next;
		d->next = NULL;
		d->queued = 0;
		loop->ndefer--;
		loop->ncalls++;
		d->cb(loop, d);
	}
}

/* ---- before-sleep hooks ------------------------------------------------------ */

int
ev_before_sleep(struct ev_loop *loop, ev_hook_cb cb, void *arg)
{
	if (loop->nhooks == loop->hooks_cap) {
		size_t cap = loop->hooks_cap ? loop->hooks_cap * 2 : 4;
		struct ev_hook *h = realloc(loop->hooks, cap * sizeof(*h));
		if (h == NULL)
			return -1;
		loop->hooks = h;
		loop->hooks_cap = cap;
	}
	loop->hooks[loop->nhooks].cb = cb;
	loop->hooks[loop->nhooks].arg = arg;
	loop->nhooks++;
	return 0;
}

static void
hooks_compact(struct ev_loop *loop)
{
	size_t j = 0;
	for (size_t i = 0; i < loop->nhooks; i++) {
		if (loop->hooks[i].cb != NULL)
			loop->hooks[j++] = loop->hooks[i];
	}
	loop->nhooks = j;
	loop->hooks_dirty = 0;
}

void
ev_before_sleep_remove(struct ev_loop *loop, ev_hook_cb cb, void *arg)
{
	for (size_t i = 0; i < loop->nhooks; i++) {
		if (loop->hooks[i].cb == cb && loop->hooks[i].arg == arg) {
			/* Removing during the hook pass must not shift the
			 * array under it: mark now, compact after the pass. */
			loop->hooks[i].cb = NULL;
			loop->hooks_dirty = 1;
			break;
		}
	}
	if (!loop->in_hooks && loop->hooks_dirty)
		hooks_compact(loop);
}

static void
hooks_run(struct ev_loop *loop)
{
	loop->in_hooks = 1;
	for (size_t i = 0; i < loop->nhooks; i++) {
		if (loop->hooks[i].cb != NULL)
			loop->hooks[i].cb(loop, loop->hooks[i].arg);
	}
	loop->in_hooks = 0;
	if (loop->hooks_dirty)
		hooks_compact(loop);
}

/* ---- signals ------------------------------------------------------------------ */

static void
signal_io_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct signalfd_siginfo si;
	(void)w;
	(void)revents;

	for (;;) {
		ssize_t n = read(loop->sigfd, &si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return;
		for (struct ev_signal *s = loop->sigs; s != NULL; s = loop->sig_next) {
			loop->sig_next = s->next;
			if ((uint32_t)s->signo == si.ssi_signo) {
				loop->ncalls++;
				s->cb(loop, s, s->signo);
			}
		}
		loop->sig_next = NULL;
	}
}

static int
signal_watched(const struct ev_loop *loop, int signo)
{
	for (const struct ev_signal *s = loop->sigs; s != NULL; s = s->next) {
		if (s->signo == signo)
			return 1;
	}
	return 0;
}

int
ev_signal_start(struct ev_loop *loop, struct ev_signal *s, int signo, ev_signal_cb cb, void *data)
{
	sigset_t one;

	if (signo <= 0 || signo >= NSIG || signo == SIGKILL || signo == SIGSTOP) {
		errno = EINVAL;
		return -1;
	}
	int added = !sigismember(&loop->sigmask, signo);
	sigemptyset(&one);
	sigaddset(&one, signo);
	sigaddset(&loop->sigmask, signo);
	int e = pthread_sigmask(SIG_BLOCK, &one, NULL);
	if (e != 0) {
		errno = e;
		goto fail;
	}
	int fd = signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd == -1)
		goto fail;
	if (loop->sigfd == -1) {
		loop->sigfd = fd;
		ev_io_init(&loop->sigio, fd, signal_io_cb, NULL);
		if (io_register(loop, &loop->sigio, EV_READ) == -1) {
			e = errno;
			close(fd);
			loop->sigfd = -1;
			errno = e;
			goto fail;
		}
	}
	s->signo = signo;
	s->cb = cb;
	s->data = data;
	s->next = NULL;
	/* Append: watchers of one signal are called in start order. */
	struct ev_signal **pp = &loop->sigs;
	while (*pp != NULL)
		pp = &(*pp)->next;
	*pp = s;
	loop->nsigs++;
	return 0;
fail:
	if (added)
		sigdelset(&loop->sigmask, signo);
	return -1;
}

void
ev_signal_stop(struct ev_loop *loop, struct ev_signal *s)
{
	for (struct ev_signal **pp = &loop->sigs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp != s)
			continue;
		*pp = s->next;
		if (loop->sig_next == s)
			loop->sig_next = s->next;
		s->next = NULL;
		loop->nsigs--;
		if (!signal_watched(loop, s->signo)) {
			/* Stays blocked (see ev.h); only the signalfd forgets it. */
			sigdelset(&loop->sigmask, s->signo);
			if (loop->sigfd != -1)
				signalfd(loop->sigfd, &loop->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
		}
		return;
	}
}

/* ---- async (eventfd) ------------------------------------------------------------ */

static void
async_io_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct ev_async *a = w->data;
	uint64_t v;
	(void)revents;

	/* Drain the counter: any number of sends makes one callback. */
	while (read(a->efd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	a->cb(loop, a);
}

int
ev_async_init(struct ev_loop *loop, struct ev_async *a, ev_async_cb cb, void *data)
{
	a->cb = cb;
	a->data = data;
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd == -1)
		return -1;
	ev_io_init(&a->io, a->efd, async_io_cb, a);
	if (ev_io_start(loop, &a->io, EV_READ) == -1) {
		int e = errno;
		close(a->efd);
		a->efd = -1;
		errno = e;
		return -1;
	}
	return 0;
}

void
ev_async_send(struct ev_async *a)
{
	uint64_t one = 1;
	int saved = errno;
	/* EAGAIN means the counter is saturated: a wakeup is pending anyway. */
	while (write(a->efd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
	errno = saved;
}

void
ev_async_fini(struct ev_loop *loop, struct ev_async *a)
{
	if (a->efd == -1)
		return;
	ev_io_stop(loop, &a->io);
	close(a->efd);
	a->efd = -1;
}

/* ---- the iteration ------------------------------------------------------------- */

static int
poll_timeout(const struct ev_loop *loop, int timeout_ms)
{
	if (loop->ndefer > 0)
		return 0;
	if (loop->nheap > 0) {
		uint64_t when = loop->heap[0]->when_ms;
		uint64_t d = when > loop->now ? when - loop->now : 0;
		if (d > INT_MAX)
			d = INT_MAX;
		if (timeout_ms < 0 || (uint64_t)timeout_ms > d)
			return (int)d;
	}
	return timeout_ms;
}

int
ev_run_once(struct ev_loop *loop, int timeout_ms)
{
	uint64_t start = loop->ncalls;

	hooks_run(loop);
	int n = epoll_wait(loop->epfd, loop->events, EV_BATCH, poll_timeout(loop, timeout_ms));
	if (n == -1) {
		if (errno != EINTR)
			return -1;
		n = 0;
	}
	ev_now_update(loop);
	io_dispatch(loop, n);
	timers_run(loop);
	defer_run(loop);
	return (int)(loop->ncalls - start);
}

int
ev_run(struct ev_loop *loop)
{
	while (!loop->stop) {
		if (ev_run_once(loop, -1) == -1) {
			loop->stop = 0;
			return -1;
		}
	}
	loop->stop = 0;
	return 0;
}
