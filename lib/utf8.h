/*
 * UTF-8 checks shared by everything that turns job bytes into text for JSON or SQL:
 * a producer may send any bytes, a reader of the text (jansson, MariaDB's utf8mb4
 * columns) only takes valid UTF-8.
 */
#ifndef FAC_UTF8_H
#define FAC_UTF8_H

#include <stddef.h>

#include "buf.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if it is not one. */
size_t utf8_seq(const unsigned char *s, size_t n);
/* Length of the longest prefix of s[0..n) that is valid UTF-8 (never cuts a sequence);
 * ASCII is checked 16 (SSE2) or 8 bytes at a time. */
size_t utf8_valid_prefix(const unsigned char *s, size_t n);
/* Appends s[0..n) with every byte that is not part of valid UTF-8 replaced by U+FFFD. */
void utf8_append_valid(struct buf *out, const char *s, size_t n);
/* The longest prefix of at most max bytes that does not cut a UTF-8 sequence. */
size_t utf8_clip(const char *s, size_t n, size_t max);

#endif
