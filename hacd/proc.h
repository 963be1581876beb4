/*
 * hacd/proc.h — child processes for notify hooks and script checks:
 * started with fork/exec, never waited for synchronously, reaped from the
 * event loop on SIGCHLD (signalfd), killed when they overrun their timeout.
 */
#ifndef TANDEM_HACD_PROC_H
#define TANDEM_HACD_PROC_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/ev.h"

#define PROC_MAX 32

/* status: a wait(2) status, or -1 if the child was killed for its timeout. */
typedef void (*proc_exit_cb)(void *arg, pid_t pid, int status);

struct proc_slot {
	pid_t pid;                 /* 0 = free */
	int timed_out;
	struct ev_timer timer;
	proc_exit_cb cb;
	void *arg;
	struct proc_table *table;
};

struct proc_table {
	struct ev_loop *loop;
	struct ev_signal sigchld;
	struct proc_slot slots[PROC_MAX];
};

/* Start watching SIGCHLD on loop. 0, or -1 (signalfd failure). */
int proc_table_init(struct proc_table *pt, struct ev_loop *loop);
/* Kill (SIGKILL) and reap every child still running; stop the watcher. */
void proc_table_fini(struct proc_table *pt);

/*
 * Run argv[0] (an absolute path) with argv and the current environment
 * plus `env` (NULL-terminated "K=V" strings, may be NULL), stdin from
 * /dev/null, signals unblocked, in its own process group. The child is sent
 * SIGKILL after timeout_ms (0 = none). cb (may be NULL) runs from the loop
 * once it has been reaped. Never blocks. Returns the pid, or -1 (table full:
 * EAGAIN, or fork failure) with errno set.
 */
pid_t proc_spawn(struct proc_table *pt, char *const argv[], char *const env[],
    uint64_t timeout_ms, proc_exit_cb cb, void *arg);

/* Forget the callback of a running child (its owner is going away); the
 * child is still reaped. */
void proc_forget(struct proc_table *pt, void *arg);

/* Number of children running. */
int proc_running(const struct proc_table *pt);

#endif /* TANDEM_HACD_PROC_H */
