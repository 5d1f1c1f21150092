/* INSERT IGNORE text for a batch of audit rows (insert.h). */
#include "insert.h"

#include "sql.h"

static void put_value(struct buf *out, const struct audit_table *t, const struct audit_rec *r,
                      enum audit_col c)
{
    struct str v = audit_rec_get(r, c);
    if (!v.p) {
        buf_puts(out, "NULL");
        return;
    }
    switch (audit_cols[c].kind) {
    case ACK_NUM:
        buf_append(out, v.p, v.n);
        return; /* digits written by columns.c */
    case ACK_TIME: {
        char dt[64];
        audit_datetime(dt, audit_rec_time(r, c), &t->zone);
        buf_printf(out, "'%s'", dt);
        return;
    }
    case ACK_TEXT:
        sql_quote(out, v.p, v.n, t->no_backslash_escapes);
        return;
    }
}

static void put_row(struct buf *out, const struct audit_table *t, const struct audit_rec *r)
{
    bool first = true;
    buf_putc(out, '(');
    for (int c = 0; c < AUDIT_NCOLS; c++) {
        if (!t->has[c]) continue;
        if (!first) buf_putc(out, ',');
        first = false;
        put_value(out, t, r, (enum audit_col)c);
    }
    buf_putc(out, ')');
}

size_t audit_insert_sql(struct buf *out, const struct audit_table *t, const struct audit_rec *recs,
                        size_t n, size_t max_bytes)
{
    size_t start = out->len;
    buf_puts(out, "INSERT IGNORE INTO ");
    sql_ident(out, AUDIT_TABLE);
    buf_puts(out, " (");
    bool first = true;
    for (int c = 0; c < AUDIT_NCOLS; c++) {
        if (!t->has[c]) continue;
        if (!first) buf_putc(out, ',');
        first = false;
        sql_ident(out, audit_cols[c].name);
    }
    buf_puts(out, ") VALUES ");
    size_t i = 0;
    for (; i < n; i++) {
        size_t before = out->len;
        if (i) buf_putc(out, ',');
        put_row(out, t, &recs[i]);
        if (i && out->len - start > max_bytes) { /* the row goes to the next statement */
            out->len = before;
            out->data[before] = '\0';
            break;
        }
    }
    return i;
}
