/*
 * lib/secfile.c — one check for every file that holds a secret or a value
 * a daemon must be able to trust (see lib/secfile.h for the rule and why
 * the owner matters as much as the mode).
 */
#include "lib/secfile.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static _Atomic long service_uid = -1;

void
secfile_set_service_uid(uid_t uid)
{
	atomic_store(&service_uid, uid == (uid_t)-1 ? -1L : (long)uid);
}

int
secfile_check(int fd, const char *path, const char *what, enum secfile_kind kind, char *err, size_t errlen)
{
	struct stat st;
	uid_t euid = geteuid();
	long svc = atomic_load(&service_uid);
	mode_t bad = kind == SECFILE_SECRET ? 077 : 022;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: fstat: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s file is not a regular file", path, what);
		return -1;
	}
	if (st.st_uid != 0 && st.st_uid != euid && (svc < 0 || st.st_uid != (uid_t)svc)) {
		if (svc >= 0 && (uid_t)svc != euid)
			snprintf(err, errlen, "%s: %s file is owned by uid %u, not by root, uid %u (reading it) or "
			    "uid %u (the service user); chown it", path, what, (unsigned)st.st_uid, (unsigned)euid,
			    (unsigned)svc);
		else
			snprintf(err, errlen, "%s: %s file is owned by uid %u, not by root or uid %u (reading it); "
			    "chown it", path, what, (unsigned)st.st_uid, (unsigned)euid);
		return -1;
	}
	if ((st.st_mode & bad) != 0) {
		if (kind == SECFILE_SECRET)
			snprintf(err, errlen, "%s: %s file is accessible by group or others (mode %04o); chmod 600 it",
			    path, what, (unsigned)(st.st_mode & 07777));
		else
			snprintf(err, errlen, "%s: %s file is writable by group or others (mode %04o); chmod 600 it",
			    path, what, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}
