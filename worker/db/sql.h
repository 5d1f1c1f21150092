/*
 * SQL text: string literals and identifiers quoted for MariaDB. Pure functions, so the
 * rules are unit-tested without a server; the connection only tells which quoting its
 * session expects (db_no_backslash_escapes).
 */
#ifndef FAC_SQL_H
#define FAC_SQL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends s[0..n) as a quoted literal, escaped as mysql_real_escape_string does for a
 * utf8mb4 connection: with backslashes normally, by doubling quotes only when the
 * session's sql_mode has NO_BACKSLASH_ESCAPES. s must be valid UTF-8. */
void sql_quote(struct buf *out, const char *s, size_t n, bool no_backslash_escapes);
/* Appends `name`, doubling any backtick inside. */
void sql_ident(struct buf *out, const char *name);

#endif
