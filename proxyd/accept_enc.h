/*
 * proxyd/accept_enc.h — the request's Accept-Encoding (RFC 9110 §12.5.3),
 * parsed into one q-value per coding proxyd produces, and the choice of the
 * coding to answer with.
 *
 * Pure: no I/O, no allocation; the bytes are the caller's and are only read.
 */
#ifndef PROXYD_ACCEPT_ENC_H
#define PROXYD_ACCEPT_ENC_H

#include <stddef.h>
#include <stdint.h>

#include "proxyd/compress-t.h"

/* q-values are kept in thousandths (RFC 9110 §12.4.2: at most three
 * decimals), 0..1000; AE_UNSET for a coding the client did not name. */
#define AE_UNSET (-1)
#define AE_Q_MAX 1000

struct accept_enc {
	int16_t q[COMPRESS_NALG];   /* by enum compress_alg; [COMPRESS_IDENTITY] is "identity" */
	int16_t star;               /* "*": every coding not named */
	uint8_t present;            /* at least one Accept-Encoding field was seen */
	uint16_t malformed;         /* members ignored because they broke the grammar */
};

/* Empty state: no field seen (a request without Accept-Encoding). */
void accept_enc_init(struct accept_enc *ae);

/*
 * Add one Accept-Encoding field value (len bytes at v, no NUL needed) to ae;
 * call once per field line, in order (RFC 9110 §5.3: several lines are one
 * comma-separated list). Members are case-insensitive tokens with an
 * optional ";q=" weight and OWS around commas and semicolons; empty list
 * members are skipped (§5.6.1). "x-gzip" counts as "gzip" (§8.4.1.3).
 * Codings proxyd does not produce (deflate, compress, ...) are read and
 * dropped. A member that breaks the grammar (a bad token, a q-value that is
 * not "0"-"0.999" or "1"-"1.000", another parameter, stray bytes) is
 * ignored and counted in ae->malformed: it never makes a coding acceptable.
 * A coding named twice keeps its lowest q-value, so a "q=0" anywhere
 * excludes it. Never fails: any bytes are safe.
 */
void accept_enc_parse(struct accept_enc *ae, const char *v, size_t len);

/* The effective q-value (0..1000) of coding a for this client: its own
 * weight, else that of "*", else 0 — except identity, which stays
 * acceptable (1000) unless named or excluded through "*" (RFC 9110 §12.5.3).
 * No field at all: identity 1000, every coding 0 (proxyd compresses only
 * for clients that asked). */
int accept_enc_q(const struct accept_enc *ae, enum compress_alg a);

/*
 * The coding to answer with: among prefer[0..n) (enum compress_alg values,
 * best first, as configured), the one with the highest q-value above 0, the
 * earlier one on a tie. COMPRESS_IDENTITY when none qualifies, or when the
 * client named identity with a q-value higher than the best one's. A client
 * that excluded identity and every coding offered still gets identity: the
 * server may disregard the field rather than answer 406 (§12.5.3).
 */
enum compress_alg accept_enc_choose(const struct accept_enc *ae, const uint8_t *prefer, size_t n);

#endif /* PROXYD_ACCEPT_ENC_H */
