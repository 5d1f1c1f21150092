/* Shared helpers of the unit tests (see support.h). */
#include "support.h"

#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

void assert_contains_(const char *hay, const char *needle, const char *file, int line)
{
    if (hay && strstr(hay, needle)) return;
    print_error("\"%s\" does not contain \"%s\"\n", hay ? hay : "(null)", needle);
    _fail(file, line);
}

void assert_not_contains_(const char *hay, const char *needle, const char *file, int line)
{
    if (hay && !strstr(hay, needle)) return;
    print_error("\"%s\" contains \"%s\"\n", hay ? hay : "(null)", needle);
    _fail(file, line);
}

void assert_child_ok_(int (*fn)(void *), void *arg, const char *name, const char *file, int line)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        print_error("fork: %m\n");
        _fail(file, line);
    }
    if (pid == 0) _exit(fn(arg));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno == EINTR) continue;
        print_error("waitpid: %m\n");
        _fail(file, line);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
    if (WIFSIGNALED(status))
        print_error("%s died of signal %d\n", name, WTERMSIG(status));
    else
        print_error("%s exited with status %d (see any sanitizer report above)\n", name,
                    WEXITSTATUS(status));
    _fail(file, line);
}

int tmpdir_create(char *out, size_t outlen)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(out, outlen, "%s/fac-unit-XXXXXX", base && *base ? base : "/tmp");
    if (n < 0 || (size_t)n >= outlen) return -1;
    return mkdtemp(out) ? 0 : -1;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int tmpdir_remove(const char *dir)
{
    return nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tmpdir_write(const char *dir, const char *name, const char *text, char *path, size_t pathlen)
{
    int n = snprintf(path, pathlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= pathlen) return -1;
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t len = strlen(text);
    bool ok = fwrite(text, 1, len, f) == len;
    /* Private, as fac-worker wants files that may hold secrets (lib/secrets.h). */
    ok = chmod(path, 0600) == 0 && ok;
    return fclose(f) == 0 && ok ? 0 : -1;
}

struct fac_config *load_config_text(const char *dir, const char *json, char *path, size_t pathlen,
                                    char *err, size_t errlen)
{
    assert_int_equal(tmpdir_write(dir, "fac.json", json, path, pathlen), 0);
    err[0] = '\0';
    return config_load(path, err, errlen);
}

void packbuf_init(struct packbuf *b)
{
    msgpack_sbuffer_init(&b->sb);
    msgpack_packer_init(&b->pk, &b->sb, msgpack_sbuffer_write);
}

void packbuf_reset(struct packbuf *b)
{
    msgpack_sbuffer_clear(&b->sb);
}

void packbuf_free(struct packbuf *b)
{
    msgpack_sbuffer_destroy(&b->sb);
    packbuf_init(b);
}

void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void pack_kv_str(msgpack_packer *pk, const char *key, const char *val)
{
    pack_str(pk, key);
    pack_str(pk, val);
}

void pack_kv_int(msgpack_packer *pk, const char *key, int64_t val)
{
    pack_str(pk, key);
    msgpack_pack_int64(pk, val);
}

void pack_nested_maps(msgpack_packer *pk, int levels)
{
    for (int i = 0; i < levels; i++) {
        msgpack_pack_map(pk, 1);
        pack_str(pk, "n");
    }
    msgpack_pack_int(pk, 1);
}

bool unpack_exactly(const char *data, size_t len, msgpack_unpacked *u)
{
    size_t off = 0;
    return msgpack_unpack_next(u, data, len, &off) == MSGPACK_UNPACK_SUCCESS && off == len;
}

bool obj_is_str(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           (n == 0 || memcmp(o->via.str.ptr, s, n) == 0);
}

const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (obj_is_str(&map->via.map.ptr[i].key, key)) return &map->via.map.ptr[i].val;
    return NULL;
}

long map_size(const msgpack_object *o)
{
    return o && o->type == MSGPACK_OBJECT_MAP ? (long)o->via.map.size : -1;
}

bool map_has_exactly(const msgpack_object *map, const char *const *keys)
{
    long n = 0;
    for (; keys[n]; n++)
        if (!map_get(map, keys[n])) return false;
    return map_size(map) == n;
}
