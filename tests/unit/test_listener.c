/*
 * tests/unit/test_listener.c — listening sockets across generations
 * (proxyd/listener.c listener_open_all).
 *
 * A reload that keeps an address must share the sockets of the generation
 * before (closing and reopening them would refuse connections in between and
 * drop those waiting in the accept queue), and the sockets must close when
 * the last generation holding them is freed, not before.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "proxyd/config.h"
#include "proxyd/listener.h"

static const char conf_a[] =
    "node = \"t\";\n"
    "listeners = ( { name = \"a\"; listen = \"127.0.0.1:0\"; } );\n"
    "upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n"
    "routes = ( { upstream = \"u\"; } );\n";
static const char conf_b[] =
    "node = \"t\";\n"
    "listeners = ( { name = \"b\"; listen = \"127.0.0.2:0\"; } );\n"
    "upstreams = ( { name = \"u\"; servers = ( { address = \"127.0.0.1:1\"; } ); } );\n"
    "routes = ( { upstream = \"u\"; } );\n";

static struct pd_config *
load(const char *text)
{
	struct conf_err err = { 0 };
	struct pd_config *c = config_load_string("test", text, &err);

	if (c == NULL)
		fail_msg("%s", err.msg);
	return c;
}

static int
is_open(int fd)
{
	return fd >= 0 && fcntl(fd, F_GETFD) != -1;
}

static void
test_parse_opens_nothing(void **state)
{
	struct pd_config *c = load(conf_a);

	(void)state;
	assert_null(c->listeners[0].ls);
	config_unref(c);
}

static void
test_reload_shares_kept_address(void **state)
{
	struct conf_err err = { 0 };
	struct pd_config *g1 = load(conf_a), *g2 = load(conf_a), *g3 = load(conf_b);
	struct pd_lsock *ls;
	int fd0, fd1;

	(void)state;
	assert_int_equal(listener_open_all(g1, NULL, 2, &err), 0);
	ls = g1->listeners[0].ls;
	assert_non_null(ls);
	assert_int_equal(ls->nfds, 2);
	fd0 = atomic_load(&ls->fds[0]);
	fd1 = atomic_load(&ls->fds[1]);
	assert_true(is_open(fd0) && is_open(fd1) && fd0 != fd1);

	/* Same address, same worker count: the same sockets. */
	assert_int_equal(listener_open_all(g2, g1, 2, &err), 0);
	assert_ptr_equal(g2->listeners[0].ls, ls);
	/* Another address: sockets of its own. */
	assert_int_equal(listener_open_all(g3, g2, 2, &err), 0);
	assert_ptr_not_equal(g3->listeners[0].ls, ls);

	/* The older generation goes: the kept sockets stay open for g2. */
	config_unref(g1);
	assert_true(is_open(fd0) && is_open(fd1));
	/* Its last holder goes: they close. */
	config_unref(g2);
	assert_false(is_open(fd0));
	assert_false(is_open(fd1));
	config_unref(g3);
}

static void
test_worker_count_change_reopens(void **state)
{
	struct conf_err err = { 0 };
	struct pd_config *g1 = load(conf_a), *g2 = load(conf_a);

	(void)state;
	assert_int_equal(listener_open_all(g1, NULL, 1, &err), 0);
	assert_int_equal(listener_open_all(g2, g1, 2, &err), 0);
	assert_ptr_not_equal(g2->listeners[0].ls, g1->listeners[0].ls);
	assert_int_equal(g2->listeners[0].ls->nfds, 2);
	config_unref(g1);
	config_unref(g2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_opens_nothing),
		cmocka_unit_test(test_reload_shares_kept_address),
		cmocka_unit_test(test_worker_count_change_reopens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
