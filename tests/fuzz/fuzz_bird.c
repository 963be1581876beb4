/*
 * tests/fuzz/fuzz_bird.c — libFuzzer harness for hacd/bird.c's reply-line
 * parser: whatever a socket named as BIRD's sends hacd (a wrong path, a
 * broken or hostile peer) is cut into lines and parsed as hacd/bird.c does.
 *
 * Each line must be refused or parsed within its own bytes: a code of four
 * digits (0..9999), text inside the line, and "last" only for code lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hacd/bird.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t start = 0;

	for (size_t i = 0; i <= size; i++) {
		struct bird_line l;
		enum bird_line_kind k;
		size_t len;

		if (i < size && s[i] != '\n')
			continue;
		len = i - start;
		k = bird_line_parse(s + start, len, &l);
		if (k != BIRD_LINE_BAD) {
			if (l.text < s + start || l.text + l.textlen > s + start + len)
				abort();
			if (k == BIRD_LINE_CODE && (l.code < 0 || l.code > 9999))
				abort();
			if (k != BIRD_LINE_CODE && (l.code != 0 || l.last))
				abort();
			if (k == BIRD_LINE_CODE && bird_code_ok(l.code) != (l.code < 1000))
				abort();
		}
		start = i + 1;
	}
	return 0;
}
