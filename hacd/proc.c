/*
 * hacd/proc.c — fork/exec for hacd's hooks and checks, reaped from the loop.
 *
 * hacd/node.c runs the notify script on every transition and script checks
 * on their intervals. Neither may block the loop that sends heartbeats
 * every few tens of milliseconds, so a child is forked and forgotten until
 * SIGCHLD (delivered through lib/ev's signalfd) says it ended; a per-child
 * timer kills it if it overruns. The table is fixed-size: a hook that keeps
 * hanging cannot make hacd fork without bound.
 */
#include "hacd/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"

static void reap(struct proc_table *pt)
{
	int status;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			return;
		for (size_t i = 0; i < PROC_MAX; i++) {
			struct proc_slot *s = &pt->slots[i];
			proc_exit_cb cb;
			void *arg;

			if (s->pid != pid)
				continue;
			ev_timer_stop(pt->loop, &s->timer);
			cb = s->cb;
			arg = s->arg;
			if (s->timed_out)
				status = -1;
			s->pid = 0;
			s->cb = NULL;
			if (cb != NULL)
				cb(arg, pid, status);
			break;
		}
	}
}

static void sigchld_cb(struct ev_loop *loop, struct ev_signal *s, int signo)
{
	(void)loop;
	(void)signo;
	reap(s->data);
}

static void timeout_cb(struct ev_loop *loop, struct ev_timer *t)
{
	struct proc_slot *s = t->data;

	(void)loop;
	if (s->pid > 0) {
		log_warnx("child %d: timed out, killing it", (int)s->pid);
		s->timed_out = 1;
		kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
	}
}

int proc_table_init(struct proc_table *pt, struct ev_loop *loop)
{
	memset(pt, 0, sizeof(*pt));
	pt->loop = loop;
	for (size_t i = 0; i < PROC_MAX; i++) {
		pt->slots[i].table = pt;
		ev_timer_init(&pt->slots[i].timer, timeout_cb, &pt->slots[i]);
	}
	return ev_signal_start(loop, &pt->sigchld, SIGCHLD, sigchld_cb, pt);
}

void proc_table_fini(struct proc_table *pt)
{
	for (size_t i = 0; i < PROC_MAX; i++) {
		struct proc_slot *s = &pt->slots[i];

		if (s->pid <= 0)
			continue;
		ev_timer_stop(pt->loop, &s->timer);
		kill(-s->pid, SIGKILL);
		kill(s->pid, SIGKILL);
		while (waitpid(s->pid, NULL, 0) == -1 && errno == EINTR)
			;
		s->pid = 0;
	}
	ev_signal_stop(pt->loop, &pt->sigchld);
}

pid_t proc_spawn(struct proc_table *pt, char *const argv[], char *const env[],
    uint64_t timeout_ms, proc_exit_cb cb, void *arg)
{
	struct proc_slot *s = NULL;
	sigset_t all;
	pid_t pid;

	for (size_t i = 0; i < PROC_MAX; i++) {
		if (pt->slots[i].pid == 0) {
			s = &pt->slots[i];
			break;
		}
	}
	if (s == NULL) {
		errno = EAGAIN;
		return -1;
	}
	pid = fork();
	if (pid == -1)
		return -1;
	if (pid == 0) {
		int fd;

		/* The loop blocks the signals it reads through signalfd; a
		 * child must not inherit that mask. */
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		setpgid(0, 0);
		fd = open("/dev/null", O_RDONLY);
		if (fd != -1 && fd != 0) {
			dup2(fd, 0);
			close(fd);
		}
		for (size_t i = 0; env != NULL && env[i] != NULL; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	s->pid = pid;
	s->timed_out = 0;
	s->cb = cb;
	s->arg = arg;
	if (timeout_ms > 0)
		ev_timer_start(pt->loop, &s->timer, timeout_ms);
	return pid;
}

void proc_forget(struct proc_table *pt, void *arg)
{
	for (size_t i = 0; i < PROC_MAX; i++)
		if (pt->slots[i].pid > 0 && pt->slots[i].arg == arg)
			pt->slots[i].cb = NULL;
}

int proc_running(const struct proc_table *pt)
{
	int n = 0;

	for (size_t i = 0; i < PROC_MAX; i++)
		n += pt->slots[i].pid > 0;
	return n;
}
