/*
 * What the unit tests share: a private temporary directory each test program creates
 * and removes itself, small files inside it, and msgpack building and reading helpers
 * on top of msgpack-c, so inputs are made by an independent encoder, not by lib/.
 */
#ifndef FAC_UNIT_SUPPORT_H
#define FAC_UNIT_SUPPORT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

/* Fails the running test unless hay contains needle (both printed on failure). */
#define assert_contains(hay, needle) assert_contains_((hay), (needle), __FILE__, __LINE__)
void assert_contains_(const char *hay, const char *needle, const char *file, int line);
#define assert_not_contains(hay, needle) assert_not_contains_((hay), (needle), __FILE__, __LINE__)
void assert_not_contains_(const char *hay, const char *needle, const char *file, int line);

/* Runs fn(arg) in a child process; the test fails unless the child exits with status 0.
 * For code that may abort under ASan/UBSan: one test fails, the others still run. fn
 * must not use cmocka's assertions (they belong to the parent); it returns nonzero on a
 * wrong result instead. */
#define assert_child_ok(fn, arg) assert_child_ok_((fn), (arg), #fn, __FILE__, __LINE__)
void assert_child_ok_(int (*fn)(void *), void *arg, const char *name, const char *file, int line);

/* Creates $TMPDIR/fac-unit-XXXXXX (or under /tmp) into out; 0 or -1. */
int tmpdir_create(char *out, size_t outlen);
/* Removes dir and everything under it; 0 or -1. */
int tmpdir_remove(const char *dir);
/* Writes text to dir/name and puts that path into path; 0 or -1. */
int tmpdir_write(const char *dir, const char *name, const char *text, char *path, size_t pathlen);

struct fac_config;
/* Writes json to dir/fac.json (its path into path) and loads it with config_load: the
 * config, or NULL with err set. The test fails when the file cannot be written. */
struct fac_config *load_config_text(const char *dir, const char *json, char *path, size_t pathlen,
                                    char *err, size_t errlen);

/* An sbuffer with its packer; the bytes are freed by packbuf_free. */
struct packbuf {
    msgpack_sbuffer sb;
    msgpack_packer pk;
};

void packbuf_init(struct packbuf *b);
void packbuf_reset(struct packbuf *b);
void packbuf_free(struct packbuf *b);
void pack_str(msgpack_packer *pk, const char *s);
void pack_kv_str(msgpack_packer *pk, const char *key, const char *val);
void pack_kv_int(msgpack_packer *pk, const char *key, int64_t val);
/* levels nested maps {"n": {"n": ... {"n": 1}}}: levels containers deep. */
void pack_nested_maps(msgpack_packer *pk, int levels);

/* Unpacks exactly one object from data (no trailing bytes) into u; false otherwise. */
bool unpack_exactly(const char *data, size_t len, msgpack_unpacked *u);
/* The value under string key in map, NULL when absent or map is not a map. */
const msgpack_object *map_get(const msgpack_object *map, const char *key);
/* True when o is a string equal to s. */
bool obj_is_str(const msgpack_object *o, const char *s);
/* The number of keys of a map, or -1 when o is not a map. */
long map_size(const msgpack_object *o);
/* True when the map's keys are exactly the names in keys (NULL-terminated), any order. */
bool map_has_exactly(const msgpack_object *map, const char *const *keys);

#endif
