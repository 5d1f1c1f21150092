/* Quoting for MariaDB SQL text (sql.h). */
#include "sql.h"

#include <string.h>

void sql_quote(struct buf *out, const char *s, size_t n, bool no_backslash_escapes)
{
    buf_reserve(out, n + n / 8 + 2);
    buf_putc(out, '\'');
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n; i++) {
        const char *esc = NULL;
        char c = s[i];
        if (no_backslash_escapes) {
            if (c == '\'') esc = "''";
        } else {
            switch (c) {
            case '\0':
                esc = "\\0";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\\':
                esc = "\\\\";
                break;
            case '\'':
                esc = "\\'";
                break;
            case '"':
                esc = "\\\"";
                break;
            case '\032':
                esc = "\\Z";
                break;
            default:
                break;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        buf_append(out, s + i - run, run);
        run = 0;
        buf_puts(out, esc);
    }
    buf_append(out, s + n - run, run);
    buf_putc(out, '\'');
}

void sql_ident(struct buf *out, const char *name)
{
    buf_putc(out, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`') buf_putc(out, '`');
        buf_putc(out, *p);
    }
    buf_putc(out, '`');
}
