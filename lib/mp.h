/*
 * msgpack helpers: a structural check that bounds depth and sizes before anything is
 * allocated, map look-up by string key, and small packing helpers.
 */
#ifndef FAC_MP_H
#define FAC_MP_H

#include <msgpack.h>
#include <msgpack/unpack_define.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* msgpack-c unpacks at most this many nested containers (its embedded stack). */
#define FAC_MP_MAX_DEPTH_CAP MSGPACK_EMBED_STACK_SIZE

enum mp_check_status { MP_OK, MP_EMPTY, MP_TRUNCATED, MP_BAD_BYTE, MP_TOO_DEEP, MP_TRAILING };

/* Walks one msgpack object in data without allocating: every container's count must
 * fit in the bytes left and nesting may not pass max_depth. */
enum mp_check_status mp_check(const void *data, size_t len, int max_depth);
const char *mp_check_reason(enum mp_check_status st);

/* The value under string key (len bytes) in a map, NULL if absent or not a map. */
/* Byte equality that accepts (NULL, 0), as msgpack-c gives for empty strings. */
static inline bool mp_bytes_eq(const void *a, size_t an, const void *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

const msgpack_object *mp_map_get(const msgpack_object *map, const char *key, size_t len);
#define mp_get(map, lit) mp_map_get((map), (lit), sizeof(lit) - 1)
bool mp_str_eq(const msgpack_object *o, const char *s);

void mp_pack_cstr(msgpack_packer *pk, const char *s);
void mp_pack_strn(msgpack_packer *pk, const char *s, size_t n);
void mp_pack_kv_str(msgpack_packer *pk, const char *key, const char *s, size_t n);
void mp_pack_kv_int(msgpack_packer *pk, const char *key, int64_t v);
/* Packs o so that equal values give equal bytes: map entries sorted by their packed
 * key, integers in their shortest form, every float as a float64. */
void mp_pack_canonical(msgpack_packer *pk, const msgpack_object *o);

#endif
