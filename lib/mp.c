/* msgpack structural check and small helpers shared by the decoder and record writers. */
#include "mp.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* For a leading byte: how many more bytes hold the length (lenbytes), or a fixed body
 * size (fixed), or a container count; returns false for the never-used byte 0xc1. */
struct mp_head {
    unsigned lenbytes; /* 1, 2 or 4: a str/bin/ext length or container count follows */
    size_t fixed;      /* body bytes when lenbytes == 0 */
    unsigned kind;     /* 0 scalar, 1 array, 2 map, 3 ext (1 type byte more) */
    uint32_t count;    /* fix containers */
};

static bool mp_head_of(uint8_t b, struct mp_head *h)
{
    memset(h, 0, sizeof *h);
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return true;
    if (b >= 0x80 && b <= 0x8f) {
        h->kind = 2;
        h->count = b & 0x0f;
        return true;
    }
    if (b >= 0x90 && b <= 0x9f) {
        h->kind = 1;
        h->count = b & 0x0f;
        return true;
    }
    if (b >= 0xa0 && b <= 0xbf) {
        h->fixed = b & 0x1f;
        return true;
    }
    switch (b) {
    case 0xc4:
    case 0xd9:
        h->lenbytes = 1;
        return true;
    case 0xc5:
    case 0xda:
        h->lenbytes = 2;
        return true;
    case 0xc6:
    case 0xdb:
        h->lenbytes = 4;
        return true;
    case 0xc7:
        h->lenbytes = 1;
        h->kind = 3;
        return true;
    case 0xc8:
        h->lenbytes = 2;
        h->kind = 3;
        return true;
    case 0xc9:
        h->lenbytes = 4;
        h->kind = 3;
        return true;
    case 0xca:
        h->fixed = 4;
        return true;
    case 0xcb:
        h->fixed = 8;
        return true;
    case 0xcc:
    case 0xd0:
        h->fixed = 1;
        return true;
    case 0xcd:
    case 0xd1:
        h->fixed = 2;
        return true;
    case 0xce:
    case 0xd2:
        h->fixed = 4;
        return true;
    case 0xcf:
    case 0xd3:
        h->fixed = 8;
        return true;
    case 0xd4:
        h->fixed = 2;
        return true;
    case 0xd5:
        h->fixed = 3;
        return true;
    case 0xd6:
        h->fixed = 5;
        return true;
    case 0xd7:
        h->fixed = 9;
        return true;
    case 0xd8:
        h->fixed = 17;
        return true;
    case 0xdc:
        h->lenbytes = 2;
        h->kind = 1;
        return true;
    case 0xdd:
        h->lenbytes = 4;
        h->kind = 1;
        return true;
    case 0xde:
        h->lenbytes = 2;
        h->kind = 2;
        return true;
    case 0xdf:
        h->lenbytes = 4;
        h->kind = 2;
        return true;
    default:
        return false; /* 0xc1 */
    }
}

enum mp_check_status mp_check(const void *data, size_t len, int max_depth)
{
    const uint8_t *p = data;
    uint64_t remain[FAC_MP_MAX_DEPTH_CAP + 1];
    if (max_depth > FAC_MP_MAX_DEPTH_CAP) max_depth = FAC_MP_MAX_DEPTH_CAP;
    if (len == 0) return MP_EMPTY;
    size_t pos = 0;
    int depth = 0;
    remain[0] = 1;
    while (depth >= 0) {
        if (remain[depth] == 0) {
            depth--;
            continue;
        }
        remain[depth]--;
        if (pos >= len) return MP_TRUNCATED;
        struct mp_head h;
        if (!mp_head_of(p[pos++], &h)) return MP_BAD_BYTE;
        uint64_t n = h.count;
        if (h.lenbytes) {
            if (len - pos < h.lenbytes) return MP_TRUNCATED;
            n = 0;
            for (unsigned i = 0; i < h.lenbytes; i++)
                n = (n << 8) | p[pos++];
        }
        if (h.kind == 1 || h.kind == 2) {
            if (h.kind == 2) n *= 2;
            if (n > len - pos) return MP_TRUNCATED; /* every element takes a byte at least */
            if (depth + 1 > max_depth) return MP_TOO_DEEP;
            if (n == 0) continue;
            remain[++depth] = n;
            continue;
        }
        size_t body = h.lenbytes ? (size_t)n + (h.kind == 3) : h.fixed;
        if (body > len - pos) return MP_TRUNCATED;
        pos += body;
    }
    return pos == len ? MP_OK : MP_TRAILING;
}

const char *mp_check_reason(enum mp_check_status st)
{
    switch (st) {
    case MP_OK:
        return "valid";
    case MP_EMPTY:
        return "the element is empty";
    case MP_TRUNCATED:
        return "the msgpack data is truncated or a length is larger than the data";
    case MP_BAD_BYTE:
        return "the data is not msgpack (byte 0xc1 is never valid)";
    case MP_TOO_DEEP:
        return "the msgpack data is nested deeper than 32 levels";
    case MP_TRAILING:
        return "extra bytes follow the first msgpack object: push exactly one map per element";
    }
    return "invalid msgpack";
}

const msgpack_object *mp_map_get(const msgpack_object *map, const char *key, size_t len)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    const msgpack_object_kv *kv = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (kv[i].key.type == MSGPACK_OBJECT_STR &&
            mp_bytes_eq(kv[i].key.via.str.ptr, kv[i].key.via.str.size, key, len))
            return &kv[i].val;
    return NULL;
}

bool mp_str_eq(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR &&
           mp_bytes_eq(o->via.str.ptr, o->via.str.size, s, strlen(s));
}

void mp_pack_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    mp_pack_strn(pk, s, strlen(s));
}

void mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *s, size_t n)
{
    mp_pack_cstr(pk, key);
    mp_pack_strn(pk, s, n);
}

void mp_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v)
{
    mp_pack_cstr(pk, key);
    msgpack_pack_int64(pk, v);
}

struct packed_kv {
    struct buf key;
    const msgpack_object *val;
};

static int packed_kv_cmp(const void *a, const void *b)
{
    const struct buf *x = &((const struct packed_kv *)a)->key,
                     *y = &((const struct packed_kv *)b)->key;
    int c = memcmp(x->data, y->data, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void pack_canonical_map(msgpack_packer *pk, const msgpack_object_map *m)
{
    struct packed_kv *kv = calloc(m->size ? m->size : 1, sizeof *kv);
    for (uint32_t i = 0; i < m->size; i++) {
        msgpack_packer kp;
        msgpack_packer_init(&kp, &kv[i].key, buf_msgpack_write);
        mp_pack_canonical(&kp, &m->ptr[i].key);
        kv[i].val = &m->ptr[i].val;
    }
    qsort(kv, m->size, sizeof *kv, packed_kv_cmp);
    msgpack_pack_map(pk, m->size);
    for (uint32_t i = 0; i < m->size; i++) {
        pk->callback(pk->data, kv[i].key.data, kv[i].key.len);
        mp_pack_canonical(pk, kv[i].val);
        buf_free(&kv[i].key);
    }
    free(kv);
}

void mp_pack_canonical(msgpack_packer *pk, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_MAP:
        pack_canonical_map(pk, &o->via.map);
        return;
    case MSGPACK_OBJECT_ARRAY:
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            mp_pack_canonical(pk, &o->via.array.ptr[i]);
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        msgpack_pack_double(pk, o->via.f64);
        return;
    default:
        msgpack_pack_object(pk, *o);
        return; /* integers already pack shortest */
    }
}
