/*
 * Audit row contents, filled as FAC fills them: action = tool_name = the tool, inputs
 * with secret-looking keys redacted, output clipped at 50,000 bytes, Frappe's standard
 * columns, and a name derived from (job id, attempt) so replays stay idempotent.
 */
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "fac/protocol.h"
#include "mp.h"
#include "mpjson.h"

void audit_row_name(char out[64], struct str id, int64_t attempt, int64_t started_at)
{
    unsigned char d[SHA256_DIGEST_LENGTH];
    char key[FAC_JOB_ID_MAX + 32];
    int kn = snprintf(key, sizeof key, "%.*s#%lld", (int)id.n, id.p, (long long)attempt);
    SHA256((const unsigned char *)key, (size_t)kn, d);
    time_t t = (time_t)(started_at / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int n = snprintf(out, 64, "ASST-AUDIT-%04d-%02d-%02d-", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday);
    for (int i = 0; i < 10; i++) n += snprintf(out + n, 64 - (size_t)n, "%02x", d[i]);
}

/* Frappe's datetime(6) text: "2026-11-28 01:02:03.456000" (UTC). */
static void datetime6(char out[48], int64_t ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 48, "%04d-%02d-%02d %02d:%02d:%02d.%06d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000) * 1000);
}

static void kv_str(struct buf *o, const char *k, const char *v, size_t n)
{
    buf_printf(o, ",\"%s\":", k);
    if (v) mpjson_write_str(o, v, n);
    else buf_puts(o, "null");
}

static void kv_s(struct buf *o, const char *k, struct str s)
{
    kv_str(o, k, s.n ? s.p : NULL, s.n);
}

/* The longest prefix of at most max bytes that does not cut a UTF-8 sequence. */
static size_t utf8_clip(const char *s, size_t n, size_t max)
{
    if (n <= max) return n;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80) k--;
    return k;
}

static struct str arg_str(const msgpack_object *args, const char *key)
{
    const msgpack_object *v = mp_map_get(args, key, strlen(key));
    if (v && v->type == MSGPACK_OBJECT_STR) return (struct str){v->via.str.ptr, v->via.str.size};
    return (struct str){0};
}

void audit_row_json(struct buf *o, const struct audit_row *r)
{
    const struct envelope *e = r->env;
    char name[64], ts[48], now[48];
    audit_row_name(name, e->id, r->attempt, r->started_at);
    datetime6(ts, r->started_at);
    datetime6(now, r->started_at + (int64_t)(r->duration_s * 1000));
    struct str user = e->user.n ? e->user : (struct str){"Administrator", 13};
    buf_printf(o, "{\"name\":\"%s\",\"creation\":\"%s\",\"modified\":\"%s\"", name, now, now);
    kv_s(o, "owner", user);
    kv_s(o, "modified_by", user);
    buf_puts(o, ",\"docstatus\":0,\"idx\":0,\"naming_series\":\"ASST-AUDIT-.YYYY.-.MM.-.DD.-\"");
    kv_s(o, "action", e->tool);
    kv_s(o, "tool_name", e->tool);
    kv_s(o, "source_app", e->source_app);
    kv_s(o, "user", user);
    kv_str(o, "status", r->status, strlen(r->status));
    kv_str(o, "error_type", r->err_type, r->err_type ? strlen(r->err_type) : 0);
    buf_printf(o, ",\"execution_time\":%.6f,\"timestamp\":\"%s\"", r->duration_s, ts);
    kv_s(o, "target_doctype", arg_str(e->args, "doctype"));
    kv_s(o, "target_name", arg_str(e->args, "name"));
    kv_s(o, "client_id", e->client_id);
    kv_s(o, "session_id", e->session_id);
    kv_s(o, "ip_address", e->ip_address);
    struct buf tmp = {0};
    if (e->args) mpjson_write(&tmp, e->args, true);
    else buf_puts(&tmp, "{}");
    kv_str(o, "input_data", tmp.data, tmp.len);
    buf_reset(&tmp);
    int truncated = 0;
    if (r->output) {
        mpjson_write(&tmp, r->output, false);
        size_t n = utf8_clip(tmp.data, tmp.len, AUDIT_OUTPUT_MAX);
        truncated = n < tmp.len;
        kv_str(o, "output_data", tmp.data, n);
    } else {
        kv_str(o, "output_data", NULL, 0);
    }
    buf_printf(o, ",\"output_truncated\":%d", truncated);
    kv_s(o, "error_message", r->err_msg);
    kv_s(o, "site", e->site);
    kv_s(o, "job_id", e->id);
    buf_printf(o, ",\"attempt\":%lld", (long long)r->attempt);
    kv_str(o, "worker", r->worker, strlen(r->worker));
    buf_putc(o, '}');
    buf_free(&tmp);
}
