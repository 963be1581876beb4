/*
 * hacd/channel.c — the hacd side of the local channel with proxyd.
 *
 * proxyd connects to RUNDIR/hacd.chan and sends ChannelMessage hello and
 * status frames (lib/frame); hacd/node.c folds "proxyd ready" into the
 * effective priority of every VIP, so a node whose proxyd died gives its
 * VIPs up although the machine is alive. Readiness is "connected and the
 * last status said ready": proxyd's death closes the socket, which this
 * loop sees in the same iteration. hacd sends DrainCommand frames for
 * make-before-break planned failover, and StateSync frames with the
 * cluster's server admin state (hacd/repl.c: all of it when proxyd
 * connects, then every change); a StateSync from proxyd goes to the
 * replication store (hacd/repl.c keeps only what proxyd may say: counts,
 * bans, health).
 *
 * Who may be proxyd. Whatever connects here learns every TLS ticket key
 * (the bulk sync) and decides this node's readiness, so the connecting
 * process is checked (SO_PEERCRED) against the operator's choice: the
 * configured proxyd user; without one, hacd's own user when it is not root
 * (a process of that uid owns hacd already); root only with channel.allow_root (proxyd
 * never runs as root once started). And one proxyd at a time: with
 * takeover "refuse" (the default) a second connection while the first is
 * alive is turned away and counted, so that another process of proxyd's
 * user cannot displace the real one, make this node "not ready" and move
 * its VIPs; a restarted proxyd is not hindered, as its old connection has
 * reached end of file by then (checked at the moment the new one arrives,
 * in case the loop has not yet read that end of file). "replace" lets the
 * newest connection win.
 *
 * How the socket file reaches proxyd's user. The kernel checks the file's
 * permissions before SO_PEERCRED is ever asked, so hacd.chan must be
 * writable by proxyd's user and by as few others as possible. Under
 * hacd.service hacd runs as its own user, tandem-hacd, with proxyd's group
 * (Group=) and without CAP_CHOWN: the socket is created with that group and
 * mode 0660, inside /run/tandem, which systemd makes
 * tandem-hacd:tandem-proxyd 0710, so only root, hacd's user and that group
 * can even reach it, and only proxyd's uid is admitted. Run
 * any other way (by hand, the lab), hacd creates it 0600 and chowns it to
 * proxyd's user (which takes CAP_CHOWN: root has it at start).
 */
#include "hacd/channel.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/net.h"
#include "proto/tandem.pb-c.h"

/* quiet: draining with no connection open for a few ms (proxyd says so; an
 * older proxyd without the field: no connection open), the moment a planned
 * handover can move the address without a request in flight. */
static void set_state(struct channel *ch, int ready, int draining, int quiet)
{
	quiet = quiet && draining;
	/* Once proxyd has left drain mode, a later drain is a new request. */
	if (!draining && !ch->drain_wanted)
		ch->drain_tolerated = 0;
	if (ch->ready == ready && ch->draining == draining && ch->quiet == quiet)
		return;
	ch->ready = ready;
	ch->draining = draining;
	ch->quiet = quiet;
	if (ch->changed != NULL)
		ch->changed(ch->arg);
}

static void conn_close_cb(struct stream *s)
{
	struct channel *ch = s->data;

	if (ch->conn != s)
		return;
	ch->conn = NULL;
	ch->pid = 0;
	log_info("channel: proxyd disconnected");
	set_state(ch, 0, 0, 0);
}

int channel_input(struct channel *ch, const uint8_t *msg, size_t len)
{
	Tandem__ChannelMessage *m = tandem__channel_message__unpack(NULL, len, msg);

	if (m == NULL) {
		ch->bad_message++;
		log_rl_warnx(&ch->rl, ev_now(ch->loop), "channel: undecodable message from proxyd: closing");
		return -1;
	}
	switch (m->body_case) {
	case TANDEM__CHANNEL_MESSAGE__BODY_HELLO:
		ch->pid = m->hello->has_pid ? (pid_t)m->hello->pid : 0;
		log_info("channel: proxyd pid %d connected (node %s, config generation %llu)",
		    (int)ch->pid, m->hello->node ? m->hello->node : "?",
		    (unsigned long long)(m->hello->has_generation ? m->hello->generation : 0));
		break;
	case TANDEM__CHANNEL_MESSAGE__BODY_STATUS:
		ch->active = m->status->has_active_connections ? m->status->active_connections : 0;
		set_state(ch, m->status->has_ready && m->status->ready,
		    m->status->has_draining && m->status->draining,
		    m->status->has_quiet ? m->status->quiet : ch->active == 0);
		break;
	case TANDEM__CHANNEL_MESSAGE__BODY_SYNC:
		if (ch->sync != NULL && m->sync != NULL)
			ch->sync(ch->sync_arg, m->sync);
		break;
	case TANDEM__CHANNEL_MESSAGE__BODY_CACHE_SUMMARY:
	case TANDEM__CHANNEL_MESSAGE__BODY_CACHE_DIGEST:
		if (ch->cache != NULL)
			ch->cache(ch->sync_arg, m);
		break;
	default:
		/* drain, view and reset go from hacd to proxyd, never back. */
		ch->unexpected++;
		log_rl_warnx(&ch->rl, ev_now(ch->loop), "channel: a %d message from proxyd ignored "
		    "(hacd sends those; %llu so far)", (int)m->body_case, (unsigned long long)ch->unexpected);
		break;
	}
	tandem__channel_message__free_unpacked(m, NULL);
	return 0;
}

static void conn_frame_cb(struct stream *s, const uint8_t *msg, size_t len)
{
	if (channel_input(s->data, msg, len) == -1)
		stream_close(s);
}

static int send_drain(struct channel *ch, int on)
{
	Tandem__ChannelMessage m = TANDEM__CHANNEL_MESSAGE__INIT;
	Tandem__DrainCommand d = TANDEM__DRAIN_COMMAND__INIT;
	uint8_t buf[32];
	size_t n;

	d.has_on = 1;
	d.on = on;
	m.body_case = TANDEM__CHANNEL_MESSAGE__BODY_DRAIN;
	m.drain = &d;
	n = tandem__channel_message__pack(&m, buf);
	return stream_send(ch->conn, buf, n);
}

/* May this uid claim to be proxyd? (See the top of the file.) With
 * proxyd_user set, that uid alone (and root with allow_root): hacd's own
 * user is not let in then, since under hacd.service notify and track
 * scripts run as it and own hacd.chan's file; they must not speak for
 * proxyd. */
static int uid_admitted(const struct channel *ch, uid_t uid)
{
	if (ch->pol.has_proxyd_uid && uid == ch->pol.proxyd_uid)
		return 1;
	if (uid == 0)
		return ch->pol.allow_root;
	return !ch->pol.has_proxyd_uid && uid == getuid();
}

/* Is the current proxyd connection still open from its far end? A proxyd
 * that exited has closed it; the end of file may be waiting unread in this
 * very loop iteration, behind the new connection's accept. */
static int conn_alive(const struct channel *ch)
{
	char c;
	ssize_t n;

	if (ch->conn == NULL || ch->conn->closing)
		return 0;
	n = recv(ch->conn->fc.fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return 0;
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		return 0;
	return 1;
}

static void accept_cb(struct ev_loop *loop, struct ev_io *w, uint32_t revents)
{
	struct channel *ch = w->data;
	struct stream *s;
	uid_t uid = (uid_t)-1;
	int fd;

	(void)revents;
	for (int i = 0; i < 8; i++) {
		fd = net_accept(ch->lfd, NULL, NULL);
		if (fd == -1)
			return;
		if (net_peer_uid(fd, &uid) == -1 || !uid_admitted(ch, uid)) {
			ch->rejected_uid++;
			log_rl_warnx(&ch->rl, ev_now(loop), "channel: connection from uid %d refused "
			    "(not proxyd's user; %llu so far)", (int)uid, (unsigned long long)ch->rejected_uid);
			close(fd);
			continue;
		}
		if (ch->conn != NULL && !ch->pol.replace && conn_alive(ch)) {
			ch->rejected_busy++;
			log_rl_warnx(&ch->rl, ev_now(loop), "channel: second connection (uid %d) refused: "
			    "proxyd pid %d is connected (takeover \"refuse\"; %llu so far)", (int)uid,
			    (int)ch->pid, (unsigned long long)ch->rejected_busy);
			close(fd);
			continue;
		}
		s = stream_new(loop, fd, conn_frame_cb, conn_close_cb, ch);
		if (s == NULL) {
			log_warnx("channel: cannot set up a connection");
			continue;
		}
		if (ch->conn != NULL) {
			log_info("channel: a new proxyd connection replaces the old one%s",
			    ch->pol.replace ? " (takeover \"replace\")" : ", which had closed");
			stream_close(ch->conn);
		}
		ch->conn = s;
		/* Say whether this hacd wants a drain, "off" included: a drain
		 * asked by an earlier hacd (a stopping hacd hands its VIPs over
		 * and drains proxyd first) outlives it in proxyd, which would
		 * report "draining", be not ready for this hacd (it asked for
		 * nothing), and keep the node from ever holding a VIP again. */
		send_drain(ch, ch->drain_wanted);
		if (ch->connected != NULL && ch->conn == s && !s->closing)
			ch->connected(ch->sync_arg);
	}
}

/* Does hacd's own group hand the socket to proxyd's user (see the top of the
 * file)? Yes when hacd runs with proxyd's primary group, never root's. */
static int handover_by_group(const struct channel_policy *pol)
{
	const struct passwd *pw;

	if (!pol->has_proxyd_uid || pol->proxyd_uid == getuid() || getegid() == 0)
		return 0;
	pw = getpwuid(pol->proxyd_uid);
	return pw != NULL && pw->pw_gid == getegid();
}

int channel_open(struct channel *ch, struct ev_loop *loop, const char *path,
    const struct channel_policy *pol, channel_changed_cb changed, void *arg)
{
	int by_group;

	memset(ch, 0, sizeof(*ch));
	ch->loop = loop;
	ch->changed = changed;
	ch->arg = arg;
	ch->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT(1000);
	if (strlen(path) >= sizeof(ch->path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	snprintf(ch->path, sizeof(ch->path), "%s", path);
	ch->pol = *pol;
	by_group = handover_by_group(pol);
	ch->lfd = net_listen_unix(path, by_group ? 0660 : 0600);
	if (ch->lfd == -1)
		return -1;
	if (by_group)
		log_info("channel: %s is for group %d (proxyd's), mode 0660", path, (int)getegid());
	else if (pol->has_proxyd_uid && pol->proxyd_uid != getuid() &&
	    chown(path, pol->proxyd_uid, (gid_t)-1) == -1) {
		close(ch->lfd);
		ch->lfd = -1;
		return -1;
	}
	ev_io_init(&ch->lio, ch->lfd, accept_cb, ch);
	if (ev_io_start(loop, &ch->lio, EV_READ) == -1) {
		close(ch->lfd);
		ch->lfd = -1;
		return -1;
	}
	return 0;
}

void channel_close(struct channel *ch)
{
	if (ch->conn != NULL) {
		ch->changed = NULL;
		stream_close(ch->conn);
	}
	if (ch->lfd != -1 && ch->loop != NULL) {
		ev_io_stop(ch->loop, &ch->lio);
		close(ch->lfd);
		ch->lfd = -1;
		unlink(ch->path);
	}
}

int channel_ready(const struct channel *ch)
{
	/* A proxyd that drains because hacd asked it to (a planned handover)
	 * still serves every request, only with Connection: close; it reports
	 * not-ready so that outside load balancers look away, but for the
	 * election it is healthy. Counting it as a fault would drop the VIP
	 * before the new owner holds it: break-before-make. A proxyd that
	 * stops on its own (SIGTERM) also says draining, but hacd did not ask
	 * for it, so it is not ready. drain_tolerated lasts from hacd's drain
	 * request until proxyd reports the drain over. */
	return ch->conn != NULL && (ch->ready || (ch->draining && ch->drain_tolerated));
}

int channel_send_drain(struct channel *ch, int on)
{
	ch->drain_wanted = on;
	/* Tolerated from the request until proxyd reports it has stopped
	 * draining: between "drain off" and proxyd's answer it still says
	 * draining, and must not count as a fault then either. */
	if (on)
		ch->drain_tolerated = 1;
	if (ch->conn == NULL)
		return -1;
	log_info("channel: asking proxyd to %s", on ? "drain" : "stop draining");
	return send_drain(ch, on);
}

size_t channel_pending(const struct channel *ch)
{
	return ch->conn == NULL ? 0 : frame_pending(&ch->conn->fc);
}

int channel_send(struct channel *ch, const uint8_t *msg, size_t len)
{
	if (ch->conn == NULL)
		return -1;
	return stream_send(ch->conn, msg, len);
}
