/* msgpack → JSON text (valid UTF-8, optional redaction) and jansson → msgpack. */
#include "mpjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mp.h"
#include "utf8.h"

static const char *const secret_words[] = {"password", "api_key", "secret", "token", "auth"};

/* Case-insensitive search of every byte of the key (keys may be long or hold NULs). */
bool mpjson_key_is_secret(const char *k, size_t n)
{
    for (size_t w = 0; w < sizeof secret_words / sizeof *secret_words; w++) {
        size_t wn = strlen(secret_words[w]);
        for (size_t i = 0; i + wn <= n; i++)
            if (strncasecmp(k + i, secret_words[w], wn) == 0) return true;
    }
    return false;
}

void mpjson_write_str(struct buf *out, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    buf_reserve(out, n + 2);
    buf_putc(out, '"');
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') { /* plain ASCII: no call */
            run++;
            i++;
            continue;
        }
        size_t k = c >= 0x20 && c != '"' && c != '\\' ? utf8_seq(p + i, n - i) : 0;
        if (k) {
            run += k;
            i += k;
            continue;
        }
        buf_append(out, p + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            buf_append(out, esc, 2);
        } else if (c == '\n')
            buf_puts(out, "\\n");
        else if (c == '\r')
            buf_puts(out, "\\r");
        else if (c == '\t')
            buf_puts(out, "\\t");
        else if (c < 0x20)
            buf_printf(out, "\\u%04x", c);
        else
            buf_puts(out, "\\ufffd"); /* invalid UTF-8 byte */
        i++;
    }
    buf_append(out, p + n - run, run);
    buf_putc(out, '"');
}

static void write_base64(struct buf *out, const char *s, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    buf_putc(out, '"');
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v =
            (uint32_t)p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        char q[4] = {tab[v >> 18 & 63], tab[v >> 12 & 63], i + 1 < n ? tab[v >> 6 & 63] : '=',
                     i + 2 < n ? tab[v & 63] : '='};
        buf_append(out, q, 4);
    }
    buf_putc(out, '"');
}

/* The shortest text that reads back as the same double. */
static void write_double(struct buf *out, double d)
{
    char tmp[32];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    buf_puts(out, tmp);
}

/* JSON keys are strings. A scalar key becomes its JSON text; a map or array key becomes
 * a placeholder: quoting its JSON would escape every nested level again, and a key
 * nested 32 deep would grow 2^32 times. */
static void write_key(struct buf *out, const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR) {
        mpjson_write_str(out, k->via.str.ptr, k->via.str.size);
        return;
    }
    if (k->type == MSGPACK_OBJECT_MAP || k->type == MSGPACK_OBJECT_ARRAY) {
        buf_puts(out, k->type == MSGPACK_OBJECT_MAP ? "\"[map]\"" : "\"[array]\"");
        return;
    }
    struct buf tmp = {0};
    mpjson_write(&tmp, k, false);
    mpjson_write_str(out, tmp.data, tmp.len);
    buf_free(&tmp);
}

void mpjson_write(struct buf *out, const msgpack_object *o, bool redact)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        buf_puts(out, "null");
        return;
    case MSGPACK_OBJECT_BOOLEAN:
        buf_puts(out, o->via.boolean ? "true" : "false");
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        buf_printf(out, "%" PRIu64, o->via.u64);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        buf_printf(out, "%" PRId64, o->via.i64);
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isfinite(o->via.f64))
            write_double(out, o->via.f64);
        else
            buf_puts(out, "null");
        return;
    case MSGPACK_OBJECT_STR:
        mpjson_write_str(out, o->via.str.ptr, o->via.str.size);
        return;
    case MSGPACK_OBJECT_BIN:
        write_base64(out, o->via.bin.ptr, o->via.bin.size);
        return;
    case MSGPACK_OBJECT_ARRAY:
        buf_putc(out, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i) buf_putc(out, ',');
            mpjson_write(out, &o->via.array.ptr[i], redact);
        }
        buf_putc(out, ']');
        return;
    case MSGPACK_OBJECT_MAP:
        buf_putc(out, '{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (i) buf_putc(out, ',');
            write_key(out, &kv->key);
            buf_putc(out, ':');
            if (redact && kv->key.type == MSGPACK_OBJECT_STR &&
                mpjson_key_is_secret(kv->key.via.str.ptr, kv->key.via.str.size))
                buf_puts(out, "\"" MPJSON_REDACTED "\"");
            else
                mpjson_write(out, &kv->val, redact);
        }
        buf_putc(out, '}');
        return;
    default:
        buf_puts(out, "null");
        return; /* extension types have no JSON form */
    }
}

static void pack_json(msgpack_packer *pk, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(v));
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            mp_pack_cstr(pk, k);
            pack_json(pk, x);
        }
        return;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(pk, json_array_size(v));
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) pack_json(pk, x);
        return;
    }
    case JSON_STRING:
        mp_pack_strn(pk, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        msgpack_pack_int64(pk, json_integer_value(v));
        return;
    case JSON_REAL:
        msgpack_pack_double(pk, json_real_value(v));
        return;
    case JSON_TRUE:
        msgpack_pack_true(pk);
        return;
    case JSON_FALSE:
        msgpack_pack_false(pk);
        return;
    default:
        msgpack_pack_nil(pk);
        return;
    }
}

void mpjson_pack_json(struct buf *out, const json_t *v)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_msgpack_write);
    pack_json(&pk, v);
}
