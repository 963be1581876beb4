/*
 * http_chars.h — the character classes field-value parsers share: tchar
 * (RFC 9110 §5.6.2), optional whitespace (§5.6.3) and ASCII lower case
 * (tokens compare case-insensitively, §5.6.2). http_parse.c keeps its own
 * table for the hot path; these serve the header-value parsers around it.
 */
#ifndef PROXYD_HTTP_CHARS_H
#define PROXYD_HTTP_CHARS_H

static inline int
http_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
	case '-': case '.': case '^': case '_': case '`': case '|': case '~':
		return 1;
	}
	return 0;
}

static inline int
http_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline unsigned char
http_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

#endif
