/*
 * tests/fuzz/fuzz_ratekey.c — libFuzzer harness for hacd/ratekey.c, the
 * parser of the keys an operator types (`hactl ratelimit show LIMIT KEY`;
 * hacd parses them again from the control socket).
 *
 * Each input is used twice:
 *   1. as text (NUL-terminated copy): ratekey_parse must either refuse it
 *      with a reason or give a key of at most RATEKEY_MAX bytes, and that
 *      key must print and parse back to itself;
 *   2. as key bytes (the first RATEKEY_MAX): format, then parse, must give
 *      the same bytes (the documented round trip).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hacd/ratekey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const uint8_t *key, size_t len)
{
	char text[RATEKEY_TEXT_MAX], why[128];
	uint8_t back[RATEKEY_MAX];
	size_t blen = 0;

	ratekey_format(key, len, text, sizeof(text));
	if (ratekey_parse(text, back, &blen, why, sizeof(why)) != 0 || blen != len || memcmp(back, key, len) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), why[128];
	uint8_t key[RATEKEY_MAX];
	size_t len = 0;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ratekey_parse(text, key, &len, why, sizeof(why)) == 0) {
		if (len > RATEKEY_MAX)
			abort();
		round_trip(key, len);
	} else if (why[0] == '\0') {
		abort();           /* a refusal always says why */
	}
	free(text);
	round_trip(data, size < RATEKEY_MAX ? size : RATEKEY_MAX);
	return 0;
}
