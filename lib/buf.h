/*
 * A growable byte buffer. The struct is the caller's; the bytes are malloc'd and freed
 * by buf_free. Appends abort on out-of-memory (a worker that cannot allocate cannot
 * make progress; the supervisor restarts it and its jobs are requeued).
 */
#ifndef FAC_BUF_H
#define FAC_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    char *data;
    size_t len, cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hot-path appends without printf's format parsing (see docs/performance.md). */
void buf_put_i64(struct buf *b, int64_t v);
void buf_put_hex(struct buf *b, const void *bytes, size_t n);
/* v with exactly six decimals ("1.250000"), as "%.6f" prints it for |v| < 9e12. */
void buf_put_fixed6(struct buf *b, double v);
/* Decimal digits of v into out (at least 21 bytes), not terminated; returns the length. */
size_t fmt_i64(char *out, int64_t v);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);
/* msgpack_packer write callback: data is a struct buf *. */
int buf_msgpack_write(void *data, const char *p, size_t n);

#endif
