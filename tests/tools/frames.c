/*
 * tests/tools/frames.c — the client's framing of a byte stream, as proxyd's
 * own parser (proxyd/http_parse.c, linked in) sees it. The differential HTTP
 * test (tests/integration/test_differential.sh) asks it where each request of
 * a stream begins and ends, what proxyd must forward for it and where the
 * stream is refused, and then checks that the origin behind proxyd received
 * exactly those requests and nothing else.
 *
 * The stream is parsed as proxyd's client side does (proxyd/request.c and
 * exchange.c, request_head() and exch_req_advance()): a head with the
 * configured default limits,
 * the target normalised (http_target_normalize()), then the body by the
 * request framing (RFC 9112 §6.3: chunked, else Content-Length, else none),
 * the next request right after it. One line per item, fields separated by
 * tabs, byte strings in hex ("-" when empty):
 *
 *   req  START HEAD_END END METHOD TARGET HOST BODY KEEP VMINOR IS_HEAD
 *        START..END are the request's bytes in the stream (the body is
 *        HEAD_END..END, forwarded verbatim, chunked framing included);
 *        TARGET is the request-target proxyd forwards (normalised; the path of
 *        an absolute-form target, "/" when it has none); HOST the Host value
 *        proxyd forwards (the authority of an absolute-form target) or "-"
 *        when the client sent none; KEEP whether the connection stays open
 *        after it (RFC 9112 §9.3); IS_HEAD 1 for a HEAD request.
 *   refused START STATUS REASON IS_HEAD
 *                                 the parser refuses the request at START;
 *                                 IS_HEAD 1 when the head of a HEAD request
 *                                 parsed and its chunked body did not (the
 *                                 answer to a HEAD has no body)
 *   expect-other START IS_HEAD    the head has an Expect proxyd answers 417
 *                                 (RFC 9110 §10.1.1) before it reads a body
 *   incomplete START head|body    the stream ends inside a request
 *   end  OFFSET                   every byte was framed
 *
 * Policy that is proxyd's and not the parser's (close after a request that
 * does not keep the connection, routing) is the caller's to apply; the 417
 * is reported here because it comes before the body's framing is known.
 * Usage: frames [FILE] (default: standard input, at most 1 MiB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxyd/http_parse.h"

#define FRAMES_MAX_INPUT (1u << 20)

static void
put_hex(const uint8_t *p, size_t n)
{
	if (n == 0) {
		fputs("-", stdout);
		return;
	}
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* The target proxyd forwards for m (h1_head.c h1_target_parts()): the
 * normalised target, without the scheme and authority of absolute-form. */
static void
put_target(const struct http_msg *m, const uint8_t *d)
{
	const uint8_t *t = d + m->target.off;
	size_t tl = m->target.len;

	if (m->target_form == HTTP_TF_ABSOLUTE) {
		size_t skip = (m->authority.off + m->authority.len) - m->target.off;
		t += skip;
		tl -= skip;
		if (tl == 0 || t[0] == '?')
			fputs("2f", stdout);   /* "/" */
		if (tl == 0)
			return;
	}
	put_hex(t, tl);
}

static int
frames(uint8_t *d, size_t n)
{
	static struct http_msg m;
	struct http_parser p;
	struct http_chunked ch;
	size_t off = 0, used;
	int rc;

	while (off < n) {
		uint8_t *s = d + off;
		size_t avail = n - off, hb, end;

		http_parser_init(&p, 0, NULL);
		rc = http_parse(&p, &m, s, avail);
		if (rc == HTTP_OK && http_target_normalize(&m, s) == -1) {
			p.status = 400;
			p.reason = "bad-path";
			rc = HTTP_ERROR;
		}
		if (rc == HTTP_AGAIN) {
			printf("incomplete\t%zu\thead\n", off);
			return 0;
		}
		if (rc == HTTP_ERROR) {
			printf("refused\t%zu\t%d\t%s\t0\n", off, p.status, p.reason ? p.reason : "?");
			return 0;
		}
		hb = m.header_bytes;
		if (m.expect_other) {
			printf("expect-other\t%zu\t%d\n", off, m.method == HTTP_M_HEAD);
			return 0;
		}
		switch (http_request_body(&m)) {
		case HTTP_BODY_LENGTH:
			if ((uint64_t)m.content_length > avail - hb) {
				printf("incomplete\t%zu\tbody\n", off);
				return 0;
			}
			end = hb + (size_t)m.content_length;
			break;
		case HTTP_BODY_CHUNKED:
			http_chunked_init(&ch);
			rc = http_chunked_feed(&ch, s + hb, avail - hb, &used);
			if (rc == HTTP_AGAIN) {
				printf("incomplete\t%zu\tbody\n", off);
				return 0;
			}
			if (rc == HTTP_ERROR) {
				printf("refused\t%zu\t400\t%s\t%d\n", off, ch.reason ? ch.reason : "?",
				    m.method == HTTP_M_HEAD);
				return 0;
			}
			end = hb + used;
			break;
		default:
			end = hb;
			break;
		}
		printf("req\t%zu\t%zu\t%zu\t", off, off + hb, off + end);
		put_hex(s + m.method_s.off, m.method_s.len);
		putchar('\t');
		put_target(&m, s);
		putchar('\t');
		if (m.target_form == HTTP_TF_ABSOLUTE)
			put_hex(s + m.authority.off, m.authority.len);
		else if (m.host_idx >= 0)
			put_hex(s + m.headers[m.host_idx].value.off, m.headers[m.host_idx].value.len);
		else
			fputs("-", stdout);
		putchar('\t');
		put_hex(s + hb, end - hb);
		printf("\t%d\t%d\t%d\n", http_keep_alive(&m), m.version_minor, m.method == HTTP_M_HEAD);
		off += end;
	}
	printf("end\t%zu\n", off);
	return 0;
}

int
main(int argc, char **argv)
{
	FILE *f = stdin;
	uint8_t *d;
	size_t n;

	if (argc > 2 || (argc == 2 && argv[1][0] == '-' && argv[1][1] != '\0')) {
		fprintf(stderr, "usage: frames [FILE]\n");
		return 2;
	}
	if (argc == 2 && strcmp(argv[1], "-") != 0 && (f = fopen(argv[1], "rb")) == NULL) {
		perror(argv[1]);
		return 1;
	}
	if ((d = malloc(FRAMES_MAX_INPUT + 1)) == NULL)
		return 1;
	n = fread(d, 1, FRAMES_MAX_INPUT + 1, f);
	if (ferror(f) || n > FRAMES_MAX_INPUT) {
		fprintf(stderr, "frames: read error or input over %u bytes\n", FRAMES_MAX_INPUT);
		return 1;
	}
	if (f != stdin)
		fclose(f);
	frames(d, n);
	free(d);
	return 0;
}
