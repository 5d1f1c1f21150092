/*
 * Envelope decoding. The bytes are first walked by mp_check (bounded depth, counts that
 * fit the data), so msgpack-c never allocates for a lie; then every known key is checked
 * for type and range. Each rejection says which key is wrong and what it should be.
 */
#include "envelope.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "fac/protocol.h"
#include "mp.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), ENV_INVALID)

static bool get_str(const msgpack_object *v, struct str *out)
{
    if (v->type == MSGPACK_OBJECT_NIL) return true;
    if (v->type != MSGPACK_OBJECT_STR) return false;
    out->p = v->via.str.ptr;
    out->n = v->via.str.size;
    return true;
}

static bool get_int(const msgpack_object *v, int64_t *out)
{
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (v->via.u64 > INT64_MAX) return false;
        *out = (int64_t)v->via.u64;
        return true;
    }
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = v->via.i64;
        return true;
    }
    return false;
}

static bool has_control(struct str s)
{
    for (uint32_t i = 0; i < s.n; i++)
        if ((unsigned char)s.p[i] < 0x20 || s.p[i] == 0x7f) return true;
    return false;
}

static const char *type_name(const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        return "nil";
    case MSGPACK_OBJECT_BOOLEAN:
        return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return "a float";
    case MSGPACK_OBJECT_STR:
        return "a string";
    case MSGPACK_OBJECT_ARRAY:
        return "an array";
    case MSGPACK_OBJECT_MAP:
        return "a map";
    case MSGPACK_OBJECT_BIN:
        return "binary";
    default:
        return "an extension type";
    }
}

/* Optional string fields, found by name, with their length limits. */
struct str_field {
    const char *key;
    size_t off;
    uint32_t max;
};
#define SF(k, m)                                                                                   \
    {                                                                                              \
#k, offsetof(struct envelope, k), m                                                        \
    }
static const struct str_field str_fields[] = {
    SF(site, 255),       SF(user, 255),       SF(reply_to, 512),   SF(client_id, 255),
    SF(session_id, 255), SF(ip_address, 255), SF(source_app, 255),
};

static bool usable_str(const msgpack_object *v, uint32_t max, struct str *out)
{
    struct str s = {0};
    if (!v || v->type != MSGPACK_OBJECT_STR || !get_str(v, &s)) return false;
    if (s.n == 0 || s.n > max || has_control(s)) return false;
    *out = s;
    return true;
}

/* Before any check: the id and reply_to when they are well-formed, so that a refused
 * envelope can still be answered (result record, reply_to). */
static void peek_id_reply(struct envelope *e)
{
    usable_str(mp_get(&e->root, "id"), FAC_JOB_ID_MAX, &e->id);
    usable_str(mp_get(&e->root, "reply_to"), 512, &e->reply_to);
}

static enum envelope_status read_id_tool(struct envelope *e, char *err, size_t errlen)
{
    const msgpack_object *id = mp_get(&e->root, "id");
    if (!id) return ERR("the envelope has no \"id\": every job needs a unique string id");
    struct str s = {0};
    if (id->type != MSGPACK_OBJECT_STR || !get_str(id, &s))
        return ERR("\"id\" must be a string, got %s", type_name(id));
    if (s.n == 0 || s.n > FAC_JOB_ID_MAX)
        return ERR("\"id\" must have 1-%d bytes, got %u", FAC_JOB_ID_MAX, s.n);
    if (has_control(s)) return ERR("\"id\" must not contain control characters");
    const msgpack_object *tool = mp_get(&e->root, "tool");
    if (!tool) return ERR("the envelope has no \"tool\": name a configured tool");
    if (tool->type != MSGPACK_OBJECT_STR)
        return ERR("\"tool\" must be a string, got %s", type_name(tool));
    get_str(tool, &e->tool);
    if (e->tool.n == 0 || e->tool.n > 120 || has_control(e->tool))
        return ERR("\"tool\" must be a tool name of 1-120 printable bytes");
    return ENV_OK;
}

static enum envelope_status read_numbers(struct envelope *e, char *err, size_t errlen)
{
    const msgpack_object *v;
    int64_t n;
    if ((v = mp_get(&e->root, "v")) && (!get_int(v, &n) || n != FAC_PROTOCOL_VERSION))
        return ERR("unsupported protocol version (\"v\"): this worker speaks %d",
                   FAC_PROTOCOL_VERSION);
    if ((v = mp_get(&e->root, "timeout")) && v->type != MSGPACK_OBJECT_NIL) {
        double t;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) /* up to 2^64-1: capped later */
            t = (double)v->via.u64;
        else if (get_int(v, &n))
            t = (double)n;
        else if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64)
            t = v->via.f64;
        else
            return ERR("\"timeout\" must be a number of seconds, got %s", type_name(v));
        if (!(t > 0) || !isfinite(t))
            return ERR("\"timeout\" must be a positive number of seconds, got %g", t);
        e->timeout = t;
    }
    if ((v = mp_get(&e->root, "attempt")) && v->type != MSGPACK_OBJECT_NIL) {
        if (!get_int(v, &e->attempt) || e->attempt < 0 || e->attempt > 1000000)
            return ERR("\"attempt\" must be an integer from 0 to 1000000");
    }
    if ((v = mp_get(&e->root, "max_attempts")) && v->type != MSGPACK_OBJECT_NIL) {
        if (!get_int(v, &e->max_attempts) || e->max_attempts < 1 || e->max_attempts > 1000)
            return ERR("\"max_attempts\" must be an integer from 1 to 1000");
    }
    if ((v = mp_get(&e->root, "enqueued_at")) && v->type != MSGPACK_OBJECT_NIL) {
        if (!get_int(v, &e->enqueued_at) || e->enqueued_at < 0)
            return ERR("\"enqueued_at\" must be a non-negative integer (ms since the epoch)");
    }
    if ((v = mp_get(&e->root, "deduplicate")) && v->type != MSGPACK_OBJECT_NIL) {
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return ERR("\"deduplicate\" must be true or false, got %s", type_name(v));
        e->deduplicate = v->via.boolean;
    }
    if ((v = mp_get(&e->root, "errors")) && v->type != MSGPACK_OBJECT_NIL) {
        if (v->type != MSGPACK_OBJECT_ARRAY)
            return ERR("\"errors\" must be an array (the worker writes it), got %s", type_name(v));
        e->errors = v;
    }
    return ENV_OK;
}

static enum envelope_status check_duplicate_keys(const msgpack_object *m, char *err, size_t errlen)
{
    const msgpack_object_kv *kv = m->via.map.ptr;
    if (m->via.map.size > 256)
        return ERR("the envelope map has %u keys; at most 256 are allowed (put data in \"args\")",
                   m->via.map.size);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_STR)
            return ERR("envelope keys must be strings; key %u is %s", i, type_name(&kv[i].key));
        for (uint32_t j = 0; j < i; j++)
            if (mp_bytes_eq(kv[j].key.via.str.ptr, kv[j].key.via.str.size, kv[i].key.via.str.ptr,
                            kv[i].key.via.str.size))
                return ERR("key \"%.*s\" appears twice in the envelope",
                           (int)kv[i].key.via.str.size, kv[i].key.via.str.ptr);
    }
    return ENV_OK;
}

enum envelope_status envelope_decode(const char *data, size_t len, size_t max_payload,
                                     msgpack_zone *zone, struct envelope *e, char *err,
                                     size_t errlen)
{
    memset(e, 0, sizeof *e);
    if (len > max_payload) {
        snprintf(err, errlen,
                 "the envelope has %zu bytes, over max_payload (%zu): put large "
                 "data somewhere else and pass a reference",
                 len, max_payload);
        return ENV_TOO_LARGE;
    }
    enum mp_check_status st = mp_check(data, len, FAC_MAX_NESTING);
    if (st != MP_OK) {
        snprintf(err, errlen, "cannot decode the envelope: %s", mp_check_reason(st));
        return ENV_DECODE;
    }
    size_t off = 0;
    if (msgpack_unpack(data, len, &off, zone, &e->root) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(err, errlen, "cannot decode the envelope: msgpack rejected it");
        return ENV_DECODE;
    }
    if (e->root.type != MSGPACK_OBJECT_MAP)
        return ERR("the envelope must be a msgpack map, got %s", type_name(&e->root));
    peek_id_reply(e);
    enum envelope_status rc = check_duplicate_keys(&e->root, err, errlen);
    if (rc == ENV_OK) rc = read_id_tool(e, err, errlen);
    if (rc == ENV_OK) rc = read_numbers(e, err, errlen);
    if (rc != ENV_OK) return rc;
    const msgpack_object *a = mp_get(&e->root, "args");
    if (a && a->type == MSGPACK_OBJECT_MAP)
        e->args = a;
    else if (a && a->type != MSGPACK_OBJECT_NIL)
        return ERR("\"args\" must be a map of tool arguments, got %s", type_name(a));
    for (size_t i = 0; i < sizeof str_fields / sizeof *str_fields; i++) {
        const struct str_field *f = &str_fields[i];
        const msgpack_object *v = mp_map_get(&e->root, f->key, strlen(f->key));
        struct str *dst = (struct str *)((char *)e + f->off);
        *dst = (struct str){0};
        if (v && !get_str(v, dst))
            return ERR("\"%s\" must be a string, got %s", f->key, type_name(v));
        if (dst->n > f->max) return ERR("\"%s\" is longer than %u bytes", f->key, f->max);
        if (has_control(*dst)) return ERR("\"%s\" must not contain control characters", f->key);
    }
    return ENV_OK;
}

const char *envelope_error_type(enum envelope_status st)
{
    switch (st) {
    case ENV_DECODE:
        return FAC_ERR_DECODE;
    case ENV_TOO_LARGE:
        return FAC_ERR_TOO_LARGE;
    default:
        return FAC_ERR_INVALID;
    }
}

void envelope_pack_errors(msgpack_packer *pk, const struct envelope *e,
                          const struct attempt_error *last)
{
    const msgpack_object *old = e ? e->errors : NULL;
    uint32_t n = old ? old->via.array.size : 0;
    msgpack_pack_array(pk, n + (last != NULL));
    for (uint32_t i = 0; i < n; i++)
        msgpack_pack_object(pk, old->via.array.ptr[i]);
    if (!last) return;
    size_t len = last->message.n;
    if (len > ERROR_MESSAGE_MAX) { /* clip without cutting a UTF-8 sequence */
        len = ERROR_MESSAGE_MAX;
        while (len > 0 && ((unsigned char)last->message.p[len] & 0xc0) == 0x80)
            len--;
    }
    msgpack_pack_map(pk, 4);
    mp_pack_kv_int(pk, "attempt", last->attempt);
    mp_pack_kv_str(pk, "type", last->type, strlen(last->type));
    mp_pack_kv_str(pk, "message", last->message.p ? last->message.p : "", len);
    mp_pack_kv_int(pk, "at", last->at);
}

static bool replaced(const msgpack_object *key, const struct envelope_update *u)
{
    return mp_str_eq(key, "attempt") || (u->max_attempts && mp_str_eq(key, "max_attempts")) ||
           (u->error && mp_str_eq(key, "errors"));
}

void envelope_rewrite(const struct envelope *e, const struct envelope_update *u, struct buf *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_msgpack_write);
    const msgpack_object_map *m = &e->root.via.map;
    uint32_t keep = 0;
    for (uint32_t i = 0; i < m->size; i++)
        keep += !replaced(&m->ptr[i].key, u);
    msgpack_pack_map(&pk, keep + 1 + (u->max_attempts != 0) + (u->error != NULL));
    for (uint32_t i = 0; i < m->size; i++) {
        if (replaced(&m->ptr[i].key, u)) continue;
        msgpack_pack_object(&pk, m->ptr[i].key);
        msgpack_pack_object(&pk, m->ptr[i].val);
    }
    mp_pack_kv_int(&pk, "attempt", u->attempt);
    if (u->max_attempts) mp_pack_kv_int(&pk, "max_attempts", u->max_attempts);
    if (u->error) {
        mp_pack_cstr(&pk, "errors");
        envelope_pack_errors(&pk, e, u->error);
    }
}
