/*
 * lib/ev.h — the one event loop of tandem (level-triggered epoll).
 *
 * proxyd runs one loop per worker thread plus one for its control thread; hacd
 * runs one. Writes are attempted speculatively and EPOLLOUT is armed only after
 * EAGAIN. Watchers are embedded in their owners: registering allocates nothing.
 *
 * Iteration: before-sleep hooks -> epoll_wait (timeout = next timer, 0 if work is
 * deferred) -> I/O callbacks -> expired timers -> deferred queue.
 *
 * Threading: a loop and its watchers belong to one thread. The only call that
 * may be made from another thread is ev_async_send().
 *
 * Lifetimes: never free an object inside its own callback: mark it closing and
 * reap it in a deferred callback. Stopping a watcher (ev_io_stop) from any
 * callback is always safe, even if its event is already in the current batch:
 * a stopped watcher never receives a stale event.
 */
#ifndef TANDEM_LIB_EV_H
#define TANDEM_LIB_EV_H

#include <stddef.h>
#include <stdint.h>

#define EV_READ  0x1u
#define EV_WRITE 0x2u

/* Events returned by one epoll_wait call at most. */
#define EV_BATCH 256

struct ev_loop;
struct ev_io;     typedef void (*ev_io_cb)(struct ev_loop *loop, struct ev_io *w, uint32_t revents); /* EV_READ|EV_WRITE, errors/hup reported as EV_READ|EV_WRITE */
struct ev_timer;  typedef void (*ev_timer_cb)(struct ev_loop *loop, struct ev_timer *t);
struct ev_signal; typedef void (*ev_signal_cb)(struct ev_loop *loop, struct ev_signal *s, int signo);
struct ev_defer;  typedef void (*ev_defer_cb)(struct ev_loop *loop, struct ev_defer *d);
struct ev_async;  typedef void (*ev_async_cb)(struct ev_loop *loop, struct ev_async *a);
typedef void (*ev_hook_cb)(struct ev_loop *loop, void *arg);

/* Watchers are embedded in their owners (no allocation to register); fields public in ev.h so they
 * can be embedded, but only ev.c touches them except `data`. */
struct ev_io     { int fd; uint32_t events; ev_io_cb cb; void *data; int active; };
/* heap_idx == (size_t)-1 when inactive. seq orders timers with equal deadlines
 * (first started, first fired); set by ev_timer_start. */
struct ev_timer  { uint64_t when_ms; size_t heap_idx; ev_timer_cb cb; void *data; uint64_t seq; };
struct ev_defer  { struct ev_defer *next; ev_defer_cb cb; void *data; int queued; };
struct ev_signal { struct ev_signal *next; int signo; ev_signal_cb cb; void *data; };
struct ev_async  { struct ev_io io; int efd; ev_async_cb cb; void *data; };

/* Create a loop (epoll fd, CLOEXEC). NULL on failure (errno set). */
struct ev_loop *ev_loop_new(void);
/* Free the loop, its epoll fd and signalfd. Deferred callbacks still queued
 * run first (they reap closed objects; a few rounds, for reapers that queue
 * more). Other watchers still registered are forgotten, not called; their
 * fds are not closed (the owners own them). */
void     ev_loop_free(struct ev_loop *loop);
/* Run iterations until ev_stop(). 0 after ev_stop, -1 if epoll_wait fails
 * (other than EINTR). */
int      ev_run(struct ev_loop *loop);
/* One iteration, waiting at most timeout_ms (-1: until an event or the next
 * timer; 0: poll). Returns the number of callbacks run (I/O, timers, signals,
 * deferred; hooks not counted), or -1 if epoll_wait failed. For tests and for
 * callers that drive the loop themselves. */
int      ev_run_once(struct ev_loop *loop, int timeout_ms);
/* Ask ev_run to return after the current iteration. Loop thread only
 * (from another thread: ev_async_send to a watcher that calls ev_stop). */
void     ev_stop(struct ev_loop *loop);
uint64_t ev_now(const struct ev_loop *loop);      /* monotonic ms cached per iteration */
void     ev_now_update(struct ev_loop *loop);     /* re-read the clock now */
/* Wall-clock milliseconds since the Unix epoch (CLOCK_REALTIME, vDSO): for
 * what crosses hosts (replicated state, rate-limit windows, ticket keys),
 * never for timers. Not cached, not faked by ev_set_clock. */
uint64_t ev_wall_ms(void);
/* Replace the clock (default CLOCK_MONOTONIC in ms); clock_ms(arg) must never
 * go backwards. NULL restores the default. Updates ev_now() at once. Tests drive
 * timers with a fake clock and ev_run_once(loop, 0), never by sleeping. */
void     ev_set_clock(struct ev_loop *loop, uint64_t (*clock_ms)(void *), void *arg);

/* I/O watchers. fd is fixed at init; it must stay the same while active.
 * The callback gets revents = EV_READ and/or EV_WRITE; an error or hangup
 * (EPOLLERR/EPOLLHUP) is reported as EV_READ|EV_WRITE limited to the events
 * the watcher asked for, so the owner finds it through its next read or write. */
void     ev_io_init(struct ev_io *w, int fd, ev_io_cb cb, void *data);
/* Register w for `events` (EV_READ|EV_WRITE), or change its events if active.
 * No syscall when w is active with the same events (the proxy counts syscalls
 * per request). events == 0 is ev_io_stop. 0 ok; -1 if epoll_ctl fails (errno
 * set; w keeps its previous state). */
int      ev_io_start(struct ev_loop *loop, struct ev_io *w, uint32_t events);
/* Unregister w (no-op if inactive). Call before close(fd). Any event for w
 * still pending in the current batch is dropped. */
void     ev_io_stop(struct ev_loop *loop, struct ev_io *w);
int      ev_io_active(const struct ev_io *w);

/* Timers: one-shot, on the loop's monotonic ms clock; re-arm in the callback
 * for periodic work. */
void     ev_timer_init(struct ev_timer *t, ev_timer_cb cb, void *data);
/* (Re)arm t to fire at ev_now() + after_ms. O(log n). A timer re-armed from a
 * timer callback fires no earlier than the next iteration, so after_ms == 0
 * cannot starve the loop. Aborts the process (fatalx) only on out-of-memory
 * growing the heap. */
void     ev_timer_start(struct ev_loop *loop, struct ev_timer *t, uint64_t after_ms);
void     ev_timer_stop(struct ev_loop *loop, struct ev_timer *t);   /* no-op if inactive; O(log n) */
int      ev_timer_active(const struct ev_timer *t);
/* Milliseconds until t fires (0 if due or inactive). */
uint64_t ev_timer_remaining(const struct ev_loop *loop, const struct ev_timer *t);

/* Deferred callbacks: run once, after this iteration's I/O and timers, in
 * FIFO order. One queued from a deferred callback runs in the next iteration
 * (which then does not block). */
void     ev_defer_init(struct ev_defer *d, ev_defer_cb cb, void *data);
void     ev_defer(struct ev_loop *loop, struct ev_defer *d);  /* run after this iteration's I/O and timers; idempotent */
void     ev_defer_cancel(struct ev_loop *loop, struct ev_defer *d); /* unqueue if queued; O(queue length) */

/* Hooks run before each epoll_wait, in registration order (flush writes,
 * batch sends). 0 ok, -1 on ENOMEM. */
int      ev_before_sleep(struct ev_loop *loop, ev_hook_cb cb, void *arg);
/* Remove the first hook registered with (cb, arg); no-op if absent. */
void     ev_before_sleep_remove(struct ev_loop *loop, ev_hook_cb cb, void *arg);

/* Signals through the loop's signalfd: the callback runs in the loop, never in
 * signal context. Blocks signo in the calling thread (pthread_sigmask); in a
 * multithreaded program start signal watchers (or block the signals) before
 * creating threads, so no other thread takes the signal. Several watchers may
 * watch one signal; each is called, in start order. s must not already be
 * started. 0 ok, -1 on bad signo (EINVAL; SIGKILL and SIGSTOP included) or
 * signalfd failure.
 * ev_signal_stop leaves the signal blocked (unblocking would bring back its
 * default action, e.g. termination). */
int      ev_signal_start(struct ev_loop *loop, struct ev_signal *s, int signo, ev_signal_cb cb, void *data);
void     ev_signal_stop(struct ev_loop *loop, struct ev_signal *s);

/* Cross-thread wakeup through an eventfd. Sends coalesce: the callback runs
 * once per iteration however many sends arrived. 0 ok, -1 on failure. */
int      ev_async_init(struct ev_loop *loop, struct ev_async *a, ev_async_cb cb, void *data);
void     ev_async_send(struct ev_async *a);               /* thread-safe wakeup of the owning loop; async-signal-safe */
void     ev_async_fini(struct ev_loop *loop, struct ev_async *a); /* stop and close the eventfd */

/* Number of registered user watchers: active I/O watchers (ev_async ones
 * included), active timers, signal watchers and queued deferred callbacks.
 * A clean shutdown ends with 0 before ev_loop_free. */
size_t   ev_loop_watchers(const struct ev_loop *loop);

#endif
