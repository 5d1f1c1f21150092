/*
 * FAC and Frappe reply shapes → job outcome (see fac_reply.h). The shapes, from FAC's
 * mcp/server.py and core/base_tool.py and Frappe's error handler:
 *   tools/call ok:     200 {"result": {"content": [{"type": "text", "text": T}], "isError": b}}
 *     T (FAC ≤ 2.x):   {"success": true, "result": V, "execution_time": s}
 *     T (newer):       V itself, or {"success": false, "error": m, "error_type": t}
 *     a failed tool:   isError false and success false in T (older FAC) or isError true
 *   JSON-RPC errors:   400 {"error": {"code": c, "message": m}}
 *   Frappe errors:     4xx/5xx {"exc_type": t, "exception": "x.y.T: m", "_server_messages": ...}
 *   FAC's auth:        401 {"error": "invalid_credentials", "message": m}
 *   a method's value:  200 {"message": V}
 */
#include "fac_reply.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fac/protocol.h"
#include "utf8.h"

#define SNIPPET_MAX 300

static void set_type(struct fac_outcome *out, const char *type)
{
    snprintf(out->err_type, sizeof out->err_type, "%s", type);
    out->status = strcmp(out->err_type, FAC_ERR_PERMISSION) == 0 ? FAC_ST_DENIED : FAC_ST_ERROR;
}

static void fail(struct fac_outcome *out, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct fac_outcome *out, const char *type, const char *fmt, ...)
{
    set_type(out, type);
    char tmp[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_reset(&out->message);
    buf_puts(&out->message, tmp);
}

static void succeed(struct fac_outcome *out, json_t *v)
{
    out->status = FAC_ST_SUCCESS;
    out->result = json_incref(v);
}

/* The start of a body that is not what it should be, printable, for a message. */
static void snippet(char out[SNIPPET_MAX + 8], const char *body, size_t len)
{
    size_t n = len < SNIPPET_MAX ? len : SNIPPET_MAX;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)body[i];
        out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    strcpy(out + n, len > n ? "..." : "");
}

static const char *str_member(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

bool fac_json_refused(const json_error_t *je, char *why, size_t len)
{
    switch (json_error_code(je)) {
    case json_error_stack_overflow:
        snprintf(why, len, "is nested deeper than %d levels", JSON_PARSER_MAX_DEPTH);
        return true;
    case json_error_duplicate_key:
        snprintf(why, len, "gives a key twice (%s at line %d column %d)", je->text, je->line,
                 je->column);
        return true;
    default:
        return false;
    }
}

json_t *fac_json_text(const char *s, size_t n)
{
    struct buf b = {0};
    utf8_append_valid(&b, s, n);
    json_t *v = json_stringn(b.len ? b.data : "", b.len);
    buf_free(&b);
    return v;
}

static json_t *decode(const char *text)
{
    return text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
}

/* Frappe's _server_messages: a JSON array of JSON-encoded {"message": ...} objects. */
static bool server_messages(const json_t *body, struct buf *out)
{
    json_t *list = decode(str_member(body, "_server_messages"));
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        json_t *msg = decode(json_string_value(item));
        const char *text =
            json_is_string(msg) ? json_string_value(msg) : str_member(msg, "message");
        if (text && *text) {
            if (out->len) buf_puts(out, "; ");
            buf_puts(out, text);
        }
        json_decref(msg);
    }
    json_decref(list);
    return out->len > 0;
}

/* "frappe.exceptions.ValidationError: Customer is mandatory" → "Customer is mandatory". */
static const char *exception_text(const char *exc)
{
    const char *colon = strstr(exc, ": ");
    if (!colon) return exc;
    for (const char *p = exc; p < colon; p++)
        if (*p == ' ') return exc; /* not a "dotted.Name: " prefix */
    return colon + 2;
}

/* The message a person would see in Frappe's desk for an error body. */
static bool frappe_message(const json_t *body, struct buf *out)
{
    if (server_messages(body, out)) return true;
    const char *exc = str_member(body, "exception");
    const char *text = exc ? exception_text(exc) : str_member(body, "message");
    if (!text) text = str_member(body, "error");
    if (!text || !*text) return false;
    buf_puts(out, text);
    return true;
}

static void http_error(long status, const json_t *j, const char *body, size_t len,
                       struct fac_outcome *out)
{
    const char *type = str_member(j, "exc_type");
    if (!type)
        type = status == 401 ? FAC_ERR_AUTH : status == 403 ? FAC_ERR_PERMISSION : FAC_ERR_HTTP;
    set_type(out, type);
    if (status == 403) out->status = FAC_ST_DENIED;
    buf_reset(&out->message);
    if (frappe_message(j, &out->message)) return;
    char s[SNIPPET_MAX + 8];
    snippet(s, body, len);
    buf_printf(&out->message, "HTTP %ld%s%s", status, len ? ": " : " with an empty body", s);
}

static void jsonrpc_error(const json_t *err, struct fac_outcome *out)
{
    const char *msg = str_member(err, "message");
    fail(out, FAC_ERR_JSONRPC, "%s (JSON-RPC error %lld)", msg ? msg : "no message",
         (long long)json_integer_value(json_object_get(err, "code")));
}

static bool failed_tool(const json_t *v)
{
    return json_is_object(v) && json_is_false(json_object_get(v, "success"));
}

/* A tool that reported failure: its error (or message) and error_type. */
static void tool_failure(const json_t *v, struct fac_outcome *out)
{
    const char *type = str_member(v, "error_type");
    const char *msg = json_is_string(v) ? json_string_value(v) : str_member(v, "error");
    if (!msg) msg = str_member(v, "message");
    set_type(out, type ? type : FAC_ERR_EXEC);
    buf_reset(&out->message);
    if (msg) {
        buf_puts(&out->message, msg);
        return;
    }
    char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    buf_puts(&out->message, dump ? dump : "the tool failed without a message");
    free(dump);
}

/* content[0].text, decoded: FAC's success envelope is unwrapped, a failure is an error. */
static void tool_value(json_t *v, bool is_error, struct fac_outcome *out)
{
    if (is_error || failed_tool(v)) {
        tool_failure(v, out);
        return;
    }
    json_t *inner = json_object_get(v, "result");
    if (json_is_true(json_object_get(v, "success")) && inner) {
        if (failed_tool(inner)) {
            tool_failure(inner, out);
            return;
        }
        v = inner;
    }
    succeed(out, v);
}

/* content[0].text decoded (text that is not JSON is the value as it is); NULL after a
 * failure when the text is hostile JSON. */
static json_t *first_text(const json_t *res, struct fac_outcome *out)
{
    const json_t *item =
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text");
    if (!json_is_string(item)) {
        json_t *sc = json_object_get(res, "structuredContent");
        return json_incref(sc ? sc : (json_t *)res);
    }
    const char *text = json_string_value(item);
    size_t n = json_string_length(item);
    json_error_t je;
    char why[256];
    json_t *v = json_loadb(text, n, FAC_JSON_FLAGS, &je);
    if (!v && fac_json_refused(&je, why, sizeof why)) {
        fail(out, FAC_ERR_BAD_REPLY, "the tool's result in FAC's reply %s", why);
        return NULL;
    }
    return v ? v : json_stringn(text, n);
}

void fac_reply_mcp(long status, const char *body, size_t len, struct fac_outcome *out)
{
    json_error_t je;
    char s[SNIPPET_MAX + 8], why[256];
    json_t *j = json_loadb(body ? body : "", len, FAC_JSON_FLAGS, &je);
    json_t *err = json_object_get(j, "error"), *res = json_object_get(j, "result");
    if (!j && fac_json_refused(&je, why, sizeof why)) {
        fail(out, FAC_ERR_BAD_REPLY, "FAC's reply (HTTP %ld) %s", status, why);
    } else if (json_is_object(err)) {
        jsonrpc_error(err, out);
    } else if (status < 200 || status > 299) {
        http_error(status, j, body, len, out);
    } else if (!json_is_object(res)) {
        snippet(s, body, len);
        fail(out, FAC_ERR_BAD_REPLY, "FAC's reply is not a JSON-RPC result: %s",
             len ? s : "(empty)");
    } else {
        json_t *v = first_text(res, out);
        if (v) tool_value(v, json_is_true(json_object_get(res, "isError")), out);
        json_decref(v);
    }
    json_decref(j);
}

void fac_reply_method(long status, const char *body, size_t len, struct fac_outcome *out)
{
    json_error_t je;
    char why[256];
    json_t *j = json_loadb(body ? body : "", len, FAC_JSON_FLAGS, &je);
    if (!j && fac_json_refused(&je, why, sizeof why)) {
        fail(out, FAC_ERR_BAD_REPLY, "the method's reply (HTTP %ld) %s", status, why);
    } else if (status < 200 || status > 299) {
        http_error(status, j, body, len, out);
    } else if (!j) {
        json_t *text = fac_json_text(body ? body : "", len);
        succeed(out, text); /* a method that answers plain text */
        json_decref(text);
    } else {
        json_t *msg = json_object_get(j, "message");
        json_t *v = json_is_object(j) && msg ? msg : j;
        if (failed_tool(v))
            tool_failure(v, out);
        else
            succeed(out, v);
    }
    json_decref(j);
}

void fac_outcome_free(struct fac_outcome *o)
{
    buf_free(&o->message);
    json_decref(o->result);
    o->result = NULL;
}
