/* msgpack → JSON text (valid UTF-8, optional redaction) and jansson → msgpack. */
#include "mpjson.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* None of the PLAIN_STEP bytes at p needs escaping or a UTF-8 check: no control, '"',
 * '\\' or byte >= 0x80. With SSE2 (every x86-64) 16 bytes per step: as signed bytes,
 * both the controls and the bytes >= 0x80 are less than 0x20. Elsewhere 8 bytes in a
 * word: once the high bits are known clear, a byte below 0x20 (or equal to '"' / '\\'
 * after the xor) is the only way to borrow into a high bit. */
#ifdef __SSE2__
#define PLAIN_STEP 16
static inline bool step_is_plain(const unsigned char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return _mm_movemask_epi8(bad) == 0;
}
#else
#define PLAIN_STEP 8
static inline bool step_is_plain(const unsigned char *p)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    uint64_t w;
    memcpy(&w, p, 8);
    uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
    return ((w | (w - ones * 0x20) | (q - ones) | (b - ones)) & high) == 0;
}
#endif

/* Length of the prefix of s[0..n) that JSON text holds as it is: valid UTF-8 without
 * controls, '"' or '\\'. */
static size_t plain_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    for (;;) {
        while (i + PLAIN_STEP <= n && step_is_plain(s + i))
            i += PLAIN_STEP;
        if (i == n) return i;
        unsigned char c = s[i];
        size_t k;
        if (c >= 0x20 && c < 0x80)
            k = c != '"' && c != '\\';
        else if (c >= 0xc2 && c <= 0xdf) /* two-byte sequences without a call */
            k = i + 1 < n && (s[i + 1] & 0xc0) == 0x80 ? 2 : 0;
        else
            k = c >= 0x80 ? utf8_seq(s + i, n - i) : 0;
        if (!k) return i;
        i += k;
    }
}

static void write_escape(struct buf *out, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', (char)c};
    size_t n = 2;
    if (c == '\n')
        esc[1] = 'n';
    else if (c == '\r')
        esc[1] = 'r';
    else if (c == '\t')
        esc[1] = 't';
    else if (c < 0x20 || c >= 0x80) { /* a control, or a byte that is not valid UTF-8 */
        memcpy(esc + 1, c < 0x20 ? "u00" : "ufffd", c < 0x20 ? 3 : 5);
        if (c < 0x20) esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
        n = 6;
    }
    buf_append(out, esc, n);
}

/* The string literal, or its first units (whole escapes and UTF-8 sequences) up to the
 * first that reaches out->len >= limit; false when it stopped there. */
static bool write_str(struct buf *out, const char *s, size_t n, size_t limit)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t room = limit - out->len; /* a clipped string needs no room past the limit */
    buf_reserve(out, (n < room ? n : room) + 2);
    buf_putc(out, '"');
    for (size_t i = 0;;) {
        size_t k = plain_prefix(p + i, n - i);
        if (out->len + k >= limit) {
            size_t m = limit > out->len ? limit - out->len : 0;
            while (m < k && (p[i + m] & 0xc0) == 0x80) /* end on a whole sequence */
                m++;
            buf_append(out, p + i, m);
            return false;
        }
        buf_append(out, p + i, k);
        i += k;
        if (i == n) break;
        write_escape(out, p[i++]);
        if (out->len >= limit) return false;
    }
    buf_putc(out, '"');
    return out->len < limit;
}

void mpjson_write_str(struct buf *out, const char *s, size_t n)
{
    write_str(out, s, n, SIZE_MAX);
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

/* Appends o as JSON; stops, returning false, once out->len >= limit (SIZE_MAX: never). */
static bool write_obj(struct buf *out, const msgpack_object *o, bool redact, size_t limit)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        buf_puts(out, "null");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        buf_puts(out, o->via.boolean ? "true" : "false");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        buf_printf(out, "%" PRIu64, o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        buf_printf(out, "%" PRId64, o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (isfinite(o->via.f64))
            write_double(out, o->via.f64);
        else
            buf_puts(out, "null");
        break;
    case MSGPACK_OBJECT_STR:
        return write_str(out, o->via.str.ptr, o->via.str.size, limit);
    case MSGPACK_OBJECT_BIN:
        write_base64(out, o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        buf_putc(out, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i) buf_putc(out, ',');
            if (!write_obj(out, &o->via.array.ptr[i], redact, limit)) return false;
        }
        buf_putc(out, ']');
        break;
    case MSGPACK_OBJECT_MAP:
        buf_putc(out, '{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (i) buf_putc(out, ',');
            write_key(out, &kv->key);
            buf_putc(out, ':');
            if (out->len >= limit) return false;
            if (redact && kv->key.type == MSGPACK_OBJECT_STR &&
                mpjson_key_is_secret(kv->key.via.str.ptr, kv->key.via.str.size))
                buf_puts(out, "\"" MPJSON_REDACTED "\"");
            else if (!write_obj(out, &kv->val, redact, limit))
                return false;
        }
        buf_putc(out, '}');
        break;
    default:
        buf_puts(out, "null");
        break; /* extension types have no JSON form */
    }
    return out->len < limit;
}

void mpjson_write(struct buf *out, const msgpack_object *o, bool redact)
{
    write_obj(out, o, redact, SIZE_MAX);
}

bool mpjson_write_clipped(struct buf *out, const msgpack_object *o, bool redact, size_t max)
{
    size_t start = out->len;
    /* One byte past max is enough for utf8_clip to cut where it would cut the whole text. */
    if (write_obj(out, o, redact, max < SIZE_MAX - start - 1 ? start + max + 1 : SIZE_MAX))
        return false;
    out->len = start + utf8_clip(out->data + start, out->len - start, max);
    out->data[out->len] = '\0';
    return true;
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
