/*
 * A job attempt's audit row, filled as FAC fills it: action = tool_name = the tool,
 * inputs with secret-looking keys redacted, output clipped at 50,000 bytes, Frappe's
 * standard columns, and a name derived from (job id, attempt) so replays stay
 * idempotent.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "fac/protocol.h"
#include "mp.h"
#include "mpjson.h"

#define NAMING_SERIES "ASST-AUDIT-.YYYY.-.MM.-.DD.-"

void audit_row_name(char out[64], struct str id, int64_t attempt, int64_t started_at)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[SHA256_DIGEST_LENGTH];
    char key[FAC_JOB_ID_MAX + 32];
    size_t kn = id.n < FAC_JOB_ID_MAX ? id.n : FAC_JOB_ID_MAX;
    memcpy(key, id.p, kn);
    key[kn++] = '#';
    kn += fmt_i64(key + kn, attempt);
    SHA256((const unsigned char *)key, kn, d);
    char day[64];
    audit_datetime(day, started_at, NULL); /* UTC: replays keep the name */
    memcpy(out, "ASST-AUDIT-", 11);
    memcpy(out + 11, day, 10);
    out[21] = '-';
    for (int i = 0; i < 10; i++) {
        out[22 + 2 * i] = hex[d[i] >> 4];
        out[23 + 2 * i] = hex[d[i] & 15];
    }
    out[42] = '\0';
}

static struct str arg_str(const msgpack_object *args, const char *key)
{
    const msgpack_object *v = mp_map_get(args, key, strlen(key));
    if (v && v->type == MSGPACK_OBJECT_STR) return (struct str){v->via.str.ptr, v->via.str.size};
    return (struct str){0};
}

static void set_cstr(struct audit_rec *r, enum audit_col c, const char *s)
{
    if (s) audit_rec_set(r, c, s, strlen(s));
}

/* input_data and output_data: JSON text, clipped (output at AUDIT_OUTPUT_MAX as FAC
 * does; input at AUDIT_INPUT_MAX so that one row always fits a MariaDB packet). The
 * text is rendered straight into the row and only as far as it is kept; it is valid
 * UTF-8 as mpjson writes it. */
static void set_json(struct audit_rec *r, enum audit_col c, const msgpack_object *o, bool redact,
                     size_t max)
{
    bool clipped = false;
    size_t start = audit_rec_begin(r);
    if (o)
        clipped = mpjson_write_clipped(&r->text, o, redact, max);
    else
        buf_puts(&r->text, "{}");
    audit_rec_end(r, c, start);
    if (c == AC_OUTPUT_DATA) audit_rec_set_int(r, AC_OUTPUT_TRUNCATED, clipped);
}

void audit_rec_build(struct audit_rec *r, const struct audit_row *row)
{
    const struct envelope *e = row->env;
    char name[64];
    struct str user = e->user.n ? e->user : (struct str){"Administrator", 13};
    int64_t ended_at = row->started_at + (int64_t)(row->duration_s * 1000);
    audit_rec_clear(r);
    audit_row_name(name, e->id, row->attempt, row->started_at);
    set_cstr(r, AC_NAME, name);
    audit_rec_set_int(r, AC_CREATION, ended_at);
    audit_rec_set_int(r, AC_MODIFIED, ended_at);
    audit_rec_set_str(r, AC_OWNER, user);
    audit_rec_set_str(r, AC_MODIFIED_BY, user);
    audit_rec_set_int(r, AC_DOCSTATUS, 0);
    audit_rec_set_int(r, AC_IDX, 0);
    set_cstr(r, AC_NAMING_SERIES, NAMING_SERIES);
    audit_rec_set_str(r, AC_ACTION, e->tool);
    audit_rec_set_str(r, AC_TOOL_NAME, e->tool);
    audit_rec_set_str(r, AC_SOURCE_APP, e->source_app);
    audit_rec_set_str(r, AC_USER, user);
    /* The DocType's statuses have no Canceled: such an attempt is an Error (error_type
     * says Canceled), also when its row is rewritten from a rescued job's result. */
    set_cstr(r, AC_STATUS, strcmp(row->status, FAC_ST_CANCELED) == 0 ? FAC_ST_ERROR : row->status);
    set_cstr(r, AC_ERROR_TYPE, row->err_type);
    audit_rec_set_num(r, AC_EXECUTION_TIME, row->duration_s);
    audit_rec_set_int(r, AC_TIMESTAMP, row->started_at);
    audit_rec_set_str(r, AC_TARGET_DOCTYPE, arg_str(e->args, "doctype"));
    audit_rec_set_str(r, AC_TARGET_NAME, arg_str(e->args, "name"));
    audit_rec_set_str(r, AC_CLIENT_ID, e->client_id);
    audit_rec_set_str(r, AC_SESSION_ID, e->session_id);
    audit_rec_set_str(r, AC_IP_ADDRESS, e->ip_address);
    set_json(r, AC_INPUT_DATA, e->args, true, AUDIT_INPUT_MAX);
    if (row->output)
        set_json(r, AC_OUTPUT_DATA, row->output, false, AUDIT_OUTPUT_MAX);
    else
        audit_rec_set_int(r, AC_OUTPUT_TRUNCATED, 0);
    audit_rec_set_str(r, AC_ERROR_MESSAGE, row->err_msg);
    audit_rec_set_str(r, AC_SITE, e->site);
    audit_rec_set_str(r, AC_JOB_ID, e->id);
    audit_rec_set_int(r, AC_ATTEMPT, row->attempt);
    set_cstr(r, AC_WORKER, row->worker);
}
