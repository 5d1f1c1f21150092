/* Rows of a MariaDB result as JSON (sql_rows.h). The text protocol sends every value
 * as text; the column's type says what it was. */
#include "sql_rows.h"

#include <stdbool.h>
#include <stdlib.h>

#include "buf.h"
#include "utf8.h"

static bool is_integer(enum enum_field_types t)
{
    return t == MYSQL_TYPE_TINY || t == MYSQL_TYPE_SHORT || t == MYSQL_TYPE_LONG ||
           t == MYSQL_TYPE_INT24 || t == MYSQL_TYPE_LONGLONG || t == MYSQL_TYPE_YEAR;
}

static bool is_real(enum enum_field_types t)
{
    return t == MYSQL_TYPE_FLOAT || t == MYSQL_TYPE_DOUBLE || t == MYSQL_TYPE_DECIMAL ||
           t == MYSQL_TYPE_NEWDECIMAL;
}

/* Text as a JSON string; bytes that are not UTF-8 (a binary column) become U+FFFD. */
static json_t *text_value(const char *s, size_t n, struct buf *scratch)
{
    buf_reset(scratch);
    utf8_append_valid(scratch, s, n);
    return json_stringn_nocheck(scratch->data ? scratch->data : "", scratch->len);
}

static json_t *cell(const MYSQL_FIELD *f, const char *s, size_t n, struct buf *scratch)
{
    if (!s) return json_null();
    if (is_integer(f->type)) {
        /* An unsigned BIGINT past INT64_MAX stays exact as text. */
        if ((f->flags & UNSIGNED_FLAG) && strtoull(s, NULL, 10) > INT64_MAX)
            return text_value(s, n, scratch);
        return json_integer(strtoll(s, NULL, 10));
    }
    if (is_real(f->type)) return json_real(strtod(s, NULL));
    return text_value(s, n, scratch);
}

json_t *sql_rows_json(MYSQL_RES *res, int64_t max_records)
{
    json_t *rows = json_array();
    bool truncated = false;
    struct buf scratch = {0};
    if (res) {
        unsigned ncols = mysql_num_fields(res);
        const MYSQL_FIELD *fields = mysql_fetch_fields(res);
        MYSQL_ROW r;
        while ((r = mysql_fetch_row(res))) {
            if ((int64_t)json_array_size(rows) >= max_records) {
                truncated = true;
                break;
            }
            const unsigned long *len = mysql_fetch_lengths(res);
            json_t *row = json_object();
            for (unsigned i = 0; i < ncols; i++)
                json_object_set_new_nocheck(row, fields[i].name,
                                            cell(&fields[i], r[i], len[i], &scratch));
            json_array_append_new(rows, row);
        }
    }
    buf_free(&scratch);
    return json_pack("{s:o, s:b}", "rows", rows, "truncated", truncated);
}
