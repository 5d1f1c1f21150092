/*
 * The audit row's columns: the vocabulary of `tabAssistant Audit Log` plus a few
 * fields only the JSON form carries (site, job_id, attempt, worker). A row's values
 * are held as text in one buffer (struct audit_rec), built once per job attempt and
 * written out as a JSON line (the JSON-lines file, the spool) or as SQL values.
 */
#ifndef FAC_AUDIT_COLUMNS_H
#define FAC_AUDIT_COLUMNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "envelope.h"
#include "tz.h"

/* In the order of the JSON line. */
enum audit_col {
    AC_NAME,
    AC_CREATION,
    AC_MODIFIED,
    AC_OWNER,
    AC_MODIFIED_BY,
    AC_DOCSTATUS,
    AC_IDX,
    AC_NAMING_SERIES,
    AC_ACTION,
    AC_TOOL_NAME,
    AC_SOURCE_APP,
    AC_USER,
    AC_STATUS,
    AC_ERROR_TYPE,
    AC_EXECUTION_TIME,
    AC_TIMESTAMP,
    AC_TARGET_DOCTYPE,
    AC_TARGET_NAME,
    AC_CLIENT_ID,
    AC_SESSION_ID,
    AC_IP_ADDRESS,
    AC_INPUT_DATA,
    AC_OUTPUT_DATA,
    AC_OUTPUT_TRUNCATED,
    AC_ERROR_MESSAGE,
    AC_SITE,
    AC_JOB_ID,
    AC_ATTEMPT,
    AC_WORKER,
    AUDIT_NCOLS
};

enum audit_col_kind {
    ACK_TEXT, /* a string */
    ACK_NUM,  /* a number, held as its decimal text */
    ACK_TIME, /* a Datetime, held as epoch milliseconds; written in a time zone */
};

struct audit_col_def {
    const char *name;
    enum audit_col_kind kind;
    bool in_table; /* a column of tabAssistant Audit Log (else only in the JSON line) */
    bool required; /* the table is unusable without it */
};

extern const struct audit_col_def audit_cols[AUDIT_NCOLS];

/* One row's values. The struct is the caller's; audit_rec_free frees its buffer. */
struct audit_rec {
    struct buf text;
    uint32_t off[AUDIT_NCOLS];
    int32_t len[AUDIT_NCOLS]; /* -1: NULL */
};

void audit_rec_clear(struct audit_rec *r);
void audit_rec_free(struct audit_rec *r);
/* Sets a text column; bytes that are not valid UTF-8 become U+FFFD. */
void audit_rec_set(struct audit_rec *r, enum audit_col c, const char *s, size_t n);
/* A text column written in place: append valid UTF-8 to r->text after audit_rec_begin,
 * then audit_rec_end with what begin returned. */
size_t audit_rec_begin(struct audit_rec *r);
void audit_rec_end(struct audit_rec *r, enum audit_col c, size_t start);
void audit_rec_set_str(struct audit_rec *r, enum audit_col c, struct str s); /* empty: NULL */
void audit_rec_set_int(struct audit_rec *r, enum audit_col c, int64_t v);    /* NUM, TIME */
void audit_rec_set_num(struct audit_rec *r, enum audit_col c, double v);
/* A column's text; .p is NULL for NULL. */
struct str audit_rec_get(const struct audit_rec *r, enum audit_col c);
int64_t audit_rec_time(const struct audit_rec *r, enum audit_col c);

/* Appends the row as one JSON object (no newline); Datetimes in UTC. */
void audit_rec_json(struct buf *out, const struct audit_rec *r);
/* Reads a JSON object written by audit_rec_json back; -1 with err set when it is not
 * one (a spool line torn or edited by hand). */
int audit_rec_from_json(struct audit_rec *r, const char *line, size_t n, char *err, size_t errlen);

/* Frappe's datetime(6) text "2026-11-28 01:02:03.456000" of ms in zone (NULL: UTC). */
void audit_datetime(char out[64], int64_t ms, const struct tz_zone *zone);

#endif
