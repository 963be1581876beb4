/*
 * hacd/adminarg.c — parsing of the server admin commands' arguments.
 *
 * The operator names a server as proxyd.conf does, UPSTREAM/SERVER, and
 * hacd replicates the command to every node (hacd/repl.c), whose proxyd
 * applies it if it has such a server. hacd does not know proxyd's
 * configuration, so only the shape is checked here: the same name rule as
 * the replicated store (hacd/replica.c), one '/', and a weight proxyd's
 * balancers accept. Shared by hactl and hacd/ctl.c; unit-tested as a table
 * (tests/unit/test_hacd_adminarg.c).
 */
#include "hacd/adminarg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *verb;
	int state;                  /* -1: weight */
} verbs[] = {
	{ "drain",  TANDEM__ADMIN_STATE__ADMIN_DRAIN },
	{ "enable", TANDEM__ADMIN_STATE__ADMIN_READY },
	{ "maint",  TANDEM__ADMIN_STATE__ADMIN_MAINT },
	{ "weight", -1 },
};

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > REPLICA_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

int adminarg_is_node(const char *upstream)
{
	return upstream != NULL && strcmp(upstream, ADMINARG_NODE_UPSTREAM) == 0;
}

int adminarg_is_verb(const char *verb)
{
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verb != NULL && strcmp(verb, verbs[i].verb) == 0)
			return 1;
	return 0;
}

const char *adminarg_state_str(int state)
{
	switch (state) {
	case TANDEM__ADMIN_STATE__ADMIN_READY: return "ready";
	case TANDEM__ADMIN_STATE__ADMIN_DRAIN: return "drain";
	case TANDEM__ADMIN_STATE__ADMIN_MAINT: return "maint";
	default:                               return "?";
	}
}

int adminarg_parse(const char *verb, size_t argc, char *const *argv, struct adminarg *out,
    char *msg, size_t len)
{
	const char *arg, *slash;
	size_t i, ulen, slen;
	int state = -2;

	memset(out, 0, sizeof(*out));
	out->state = -1;
	out->weight = -1;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (verb != NULL && strcmp(verb, verbs[i].verb) == 0)
			state = verbs[i].state;
	if (state == -2) {
		snprintf(msg, len, "unknown admin command \"%.32s\"", verb ? verb : "");
		return -1;
	}
	if (argc != (state == -1 ? 2u : 1u) || argv == NULL || argv[0] == NULL) {
		snprintf(msg, len, "usage: %s UPSTREAM/SERVER%s", verb, state == -1 ? " N" : "");
		return -1;
	}
	arg = argv[0];
	slash = strchr(arg, '/');
	if (slash == NULL) {
		snprintf(msg, len, "\"%.80s\": expected UPSTREAM/SERVER", arg);
		return -1;
	}
	ulen = (size_t)(slash - arg);
	slen = strlen(slash + 1);
	if (strchr(slash + 1, '/') != NULL || !name_ok(arg, ulen) || !name_ok(slash + 1, slen)) {
		snprintf(msg, len, "\"%.80s\": names are 1..%d printable characters, no space, one '/'",
		    arg, REPLICA_NAME_MAX);
		return -1;
	}
	/* '@' starts hacd's own entries (ADMINARG_NODE_UPSTREAM): hactl
	 * drain NODE sets those, never a server command. */
	if (arg[0] == '@') {
		snprintf(msg, len, "\"%.80s\": upstream names beginning with '@' are hacd's (hactl drain NODE)", arg);
		return -1;
	}
	memcpy(out->upstream, arg, ulen);
	out->upstream[ulen] = '\0';
	memcpy(out->server, slash + 1, slen + 1);
	if (state == -1) {
		const char *w = argv[1];
		char *end;
		long long v;

		errno = 0;
		v = w != NULL ? strtoll(w, &end, 10) : -1;
		if (w == NULL || w[0] < '0' || w[0] > '9' || errno != 0 || *end != '\0' ||
		    v < 0 || v > ADMINARG_MAX_WEIGHT) {
			snprintf(msg, len, "weight \"%.32s\": a number 0..%d", w ? w : "", ADMINARG_MAX_WEIGHT);
			return -1;
		}
		out->weight = v;
		return 0;
	}
	out->state = state;
	return 0;
}
