/*
 * The query of an sql tool: SQL text with %(name)s placeholders, written as
 * frappe.db.sql takes them (%% is a literal %). It is checked when the config loads, so
 * a tool that would write, or whose text does not parse, is refused before any job
 * runs; the worker then walks the same pieces to put a quoted value where each
 * placeholder stands. No text of a query ever comes from a job.
 */
#ifndef FAC_SQLTPL_H
#define FAC_SQLTPL_H

#include <stdbool.h>
#include <stddef.h>

/* One piece of a query: SQL text to copy, or the name of a placeholder. */
struct sqltpl_piece {
    bool is_param;
    const char *s; /* points into the query */
    size_t n;
};

/* Reads the piece at *pos into out and moves *pos past it; false at the end of the
 * query. Call it only on a query that sqltpl_check accepted. */
bool sqltpl_next(const char **pos, struct sqltpl_piece *out);
/* 0 when query starts with SELECT, WITH or SHOW (after blanks and comments) and each %
 * begins %(name)s or %%; else -1 with err saying what to change. */
int sqltpl_check(const char *query, char *err, size_t errlen);

#endif
