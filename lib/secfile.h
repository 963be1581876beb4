/*
 * lib/secfile.h — the checks a file passes before a daemon trusts what it
 * reads from it: cluster keys (lib/wire), TLS private keys (proxyd/tls),
 * and hacd's epoch file, whose value guards against replays.
 *
 * Mode bits alone do not make a file private: a 0600 file owned by another
 * unprivileged account is that account's to read and to replace. So the
 * owner must be root, the effective uid of the reader, or the one account
 * the daemon runs as when not root (proxyd's "user": it reads the keys
 * again at reload, so it owns them; hacd's "tandem-hacd", the User= of
 * hacd.service, which owns the cluster key: a root hacd started by hand
 * reads that file too). Module prefix: secfile_.
 */
#ifndef TANDEM_LIB_SECFILE_H
#define TANDEM_LIB_SECFILE_H

#include <stddef.h>
#include <sys/types.h>

/* What the file holds, for the mode rule: a secret may give group and
 * others nothing (mode & 077 == 0); a file trusted for its integrity only
 * may not be writable by them (mode & 022 == 0). */
enum secfile_kind { SECFILE_SECRET, SECFILE_INTEGRITY };

/* One more owner to accept besides root and the effective uid: the account
 * the process runs as once it has dropped root. (uid_t)-1 = none (the
 * default). Thread-safe; the last call wins. */
void secfile_set_service_uid(uid_t uid);

/*
 * Checks the file open on fd (fstat of the descriptor, so the file checked
 * is the file read): a regular file, owned as above, mode as kind asks.
 * what names the file in messages ("private key", "cluster key"). Returns 0,
 * or -1 with err set to "PATH: ..." saying what to fix; messages never
 * quote the file's content.
 */
int secfile_check(int fd, const char *path, const char *what, enum secfile_kind kind, char *err, size_t errlen);

#endif
