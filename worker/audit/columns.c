/*
 * Audit columns and row values (columns.h). The JSON line is the one durable form a
 * row has outside MariaDB (the JSON-lines file and the spool), so it must read back
 * into exactly the values it was written from.
 */
#include "columns.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpjson.h"
#include "utf8.h"

const struct audit_col_def audit_cols[AUDIT_NCOLS] = {
    [AC_NAME] = {"name", ACK_TEXT, true, true},
    [AC_CREATION] = {"creation", ACK_TIME, true, false},
    [AC_MODIFIED] = {"modified", ACK_TIME, true, false},
    [AC_OWNER] = {"owner", ACK_TEXT, true, false},
    [AC_MODIFIED_BY] = {"modified_by", ACK_TEXT, true, false},
    [AC_DOCSTATUS] = {"docstatus", ACK_NUM, true, false},
    [AC_IDX] = {"idx", ACK_NUM, true, false},
    [AC_NAMING_SERIES] = {"naming_series", ACK_TEXT, true, false},
    [AC_ACTION] = {"action", ACK_TEXT, true, true},
    [AC_TOOL_NAME] = {"tool_name", ACK_TEXT, true, false},
    [AC_SOURCE_APP] = {"source_app", ACK_TEXT, true, false},
    [AC_USER] = {"user", ACK_TEXT, true, true},
    [AC_STATUS] = {"status", ACK_TEXT, true, true},
    [AC_ERROR_TYPE] = {"error_type", ACK_TEXT, true, false},
    [AC_EXECUTION_TIME] = {"execution_time", ACK_NUM, true, false},
    [AC_TIMESTAMP] = {"timestamp", ACK_TIME, true, true},
    [AC_TARGET_DOCTYPE] = {"target_doctype", ACK_TEXT, true, false},
    [AC_TARGET_NAME] = {"target_name", ACK_TEXT, true, false},
    [AC_CLIENT_ID] = {"client_id", ACK_TEXT, true, false},
    [AC_SESSION_ID] = {"session_id", ACK_TEXT, true, false},
    [AC_IP_ADDRESS] = {"ip_address", ACK_TEXT, true, false},
    [AC_INPUT_DATA] = {"input_data", ACK_TEXT, true, false},
    [AC_OUTPUT_DATA] = {"output_data", ACK_TEXT, true, false},
    [AC_OUTPUT_TRUNCATED] = {"output_truncated", ACK_NUM, true, false},
    [AC_ERROR_MESSAGE] = {"error_message", ACK_TEXT, true, false},
    [AC_SITE] = {"site", ACK_TEXT, false, false},
    [AC_JOB_ID] = {"job_id", ACK_TEXT, false, false},
    [AC_ATTEMPT] = {"attempt", ACK_NUM, false, false},
    [AC_WORKER] = {"worker", ACK_TEXT, false, false},
};

void audit_rec_clear(struct audit_rec *r)
{
    buf_reset(&r->text);
    for (int c = 0; c < AUDIT_NCOLS; c++)
        r->len[c] = -1;
}

void audit_rec_free(struct audit_rec *r)
{
    buf_free(&r->text);
}

static void mark(struct audit_rec *r, enum audit_col c, size_t start)
{
    r->off[c] = (uint32_t)start;
    r->len[c] = (int32_t)(r->text.len - start);
    buf_putc(&r->text, '\0'); /* so that a value reads as a C string too */
}

size_t audit_rec_begin(struct audit_rec *r)
{
    return r->text.len;
}

void audit_rec_end(struct audit_rec *r, enum audit_col c, size_t start)
{
    mark(r, c, start);
}

void audit_rec_set(struct audit_rec *r, enum audit_col c, const char *s, size_t n)
{
    size_t start = r->text.len;
    utf8_append_valid(&r->text, s, n);
    mark(r, c, start);
}

void audit_rec_set_str(struct audit_rec *r, enum audit_col c, struct str s)
{
    if (s.n)
        audit_rec_set(r, c, s.p, s.n);
    else
        r->len[c] = -1;
}

void audit_rec_set_int(struct audit_rec *r, enum audit_col c, int64_t v)
{
    size_t start = r->text.len;
    buf_put_i64(&r->text, v);
    mark(r, c, start);
}

void audit_rec_set_num(struct audit_rec *r, enum audit_col c, double v)
{
    size_t start = r->text.len;
    buf_put_fixed6(&r->text, v);
    mark(r, c, start);
}

struct str audit_rec_get(const struct audit_rec *r, enum audit_col c)
{
    if (r->len[c] < 0) return (struct str){NULL, 0};
    return (struct str){r->text.data + r->off[c], (uint32_t)r->len[c]};
}

int64_t audit_rec_time(const struct audit_rec *r, enum audit_col c)
{
    struct str s = audit_rec_get(r, c);
    return s.p ? strtoll(s.p, NULL, 10) : 0;
}

/* "YYYY-MM-DD HH:MM:SS" of one second; consecutive rows mostly share their second, so
 * the last one is kept (a worker is single-threaded). */
static const char *second_text(int64_t local_sec)
{
    static int64_t cached = INT64_MIN;
    static char text[64];
    if (local_sec != cached) {
        time_t t = (time_t)local_sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        snprintf(text, sizeof text, "%04d-%02d-%02d %02d:%02d:%02d", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        cached = local_sec;
    }
    return text;
}

void audit_datetime(char out[64], int64_t ms, const struct tz_zone *zone)
{
    int64_t sec = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
    const char *s = second_text(sec + (zone ? tz_offset(zone, sec) : 0));
    size_t n = strlen(s); /* 19 for years 0-9999 */
    memcpy(out, s, n);
    int64_t us = (ms - sec * 1000) * 1000;
    out[n] = '.';
    for (size_t i = n + 6; i > n; i--, us /= 10)
        out[i] = (char)('0' + us % 10);
    out[n + 7] = '\0';
}

void audit_rec_json(struct buf *out, const struct audit_rec *r)
{
    buf_putc(out, '{');
    for (int c = 0; c < AUDIT_NCOLS; c++) {
        struct str v = audit_rec_get(r, (enum audit_col)c);
        if (c) buf_putc(out, ',');
        buf_putc(out, '"');
        buf_puts(out, audit_cols[c].name);
        buf_append(out, "\":", 2);
        if (!v.p) {
            buf_puts(out, "null");
        } else if (audit_cols[c].kind == ACK_NUM) {
            buf_append(out, v.p, v.n);
        } else if (audit_cols[c].kind == ACK_TIME) {
            char dt[64];
            audit_datetime(dt, strtoll(v.p, NULL, 10), NULL);
            buf_putc(out, '"');
            buf_puts(out, dt);
            buf_putc(out, '"');
        } else {
            mpjson_write_str(out, v.p, v.n);
        }
    }
    buf_putc(out, '}');
}

/* "2026-11-28 01:02:03.456000" (UTC) → epoch ms; -1 when it is not one. */
static int64_t parse_datetime(const char *s)
{
    struct tm tm = {0};
    int us = 0, used = 0;
    if (sscanf(s, "%d-%d-%d %d:%d:%d.%d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &us, &used) != 7 ||
        s[used])
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm) * 1000 + us / 1000;
}

static int set_from_json(struct audit_rec *r, enum audit_col c, json_t *v, char *err, size_t errlen)
{
    const struct audit_col_def *d = &audit_cols[c];
    if (json_is_null(v)) return 0;
    if (d->kind == ACK_NUM && json_is_integer(v)) {
        audit_rec_set_int(r, c, json_integer_value(v));
    } else if (d->kind == ACK_NUM && json_is_real(v)) {
        audit_rec_set_num(r, c, json_real_value(v));
    } else if (d->kind == ACK_TIME && json_is_string(v)) {
        int64_t ms = parse_datetime(json_string_value(v));
        if (ms < 0) goto bad;
        audit_rec_set_int(r, c, ms);
    } else if (d->kind == ACK_TEXT && json_is_string(v)) {
        audit_rec_set(r, c, json_string_value(v), json_string_length(v));
    } else {
        goto bad;
    }
    return 0;
bad:
    snprintf(err, errlen, "\"%s\" has a value of the wrong kind", d->name);
    return -1;
}

int audit_rec_from_json(struct audit_rec *r, const char *line, size_t n, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o = json_loadb(line, n, JSON_ALLOW_NUL, &je);
    audit_rec_clear(r);
    if (!json_is_object(o)) {
        snprintf(err, errlen, "not a JSON object: %s", o ? "wrong type" : je.text);
        json_decref(o);
        return -1;
    }
    for (int c = 0; c < AUDIT_NCOLS; c++) {
        json_t *v = json_object_get(o, audit_cols[c].name);
        if (v && set_from_json(r, (enum audit_col)c, v, err, errlen)) {
            json_decref(o);
            return -1;
        }
    }
    json_decref(o);
    if (!audit_rec_get(r, AC_NAME).p) {
        snprintf(err, errlen, "the row has no \"name\"");
        return -1;
    }
    return 0;
}
