/*
 * The SQL that writes audit rows: multi-row INSERT IGNORE into `tabAssistant Audit
 * Log`, naming only the columns the site's table has. IGNORE makes a replayed row (same
 * name, Frappe's primary key) a no-op, and turns a value too long for its column
 * into a truncation instead of a failed batch. Pure text building, unit-tested.
 */
#ifndef FAC_AUDIT_INSERT_H
#define FAC_AUDIT_INSERT_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "columns.h"

#define AUDIT_TABLE "tabAssistant Audit Log"

/* How a site's table takes values. */
struct audit_table {
    bool has[AUDIT_NCOLS]; /* the column exists in the table */
    struct tz_zone zone;   /* the site's time zone for Datetime values */
    bool no_backslash_escapes;
};

/* Appends one INSERT for rows recs[0..n): as many as fit in max_bytes, at least one.
 * Returns how many rows it holds. */
size_t audit_insert_sql(struct buf *out, const struct audit_table *t, const struct audit_rec *recs,
                        size_t n, size_t max_bytes);

#endif
