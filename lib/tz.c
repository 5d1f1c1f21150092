/* TZif reader (tz.h): the 64-bit (version 2+) data block, or version 1's 32-bit one. */
#include "tz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TZIF_MAX (1 << 20)

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
    uint32_t isut, isstd, leap, time, type, chars;
};

static bool read_header(const unsigned char *p, size_t len, struct tzif_counts *c)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0) return false;
    c->isut = be32(p + 20), c->isstd = be32(p + 24), c->leap = be32(p + 28);
    c->time = be32(p + 32), c->type = be32(p + 36), c->chars = be32(p + 40);
    return c->type > 0 && c->type < 256 && c->time < 100000;
}

static size_t block_size(const struct tzif_counts *c, size_t tsize)
{
    return c->time * tsize + c->time + c->type * 6 + c->chars + c->leap * (tsize + 4) + c->isstd +
           c->isut;
}

/* Fills z from one data block p (after its header) with times of tsize bytes. */
static bool read_block(struct tz_zone *z, const unsigned char *p, const struct tzif_counts *c,
                       size_t tsize)
{
    const unsigned char *idx = p + c->time * tsize, *types = idx + c->time;
    z->n = c->time;
    z->at = calloc(z->n ? z->n : 1, sizeof *z->at);
    z->offset = calloc(z->n ? z->n : 1, sizeof *z->offset);
    if (!z->at || !z->offset) return false;
    for (size_t i = 0; i < z->n; i++) {
        if (idx[i] >= c->type) return false;
        z->at[i] = tsize == 8 ? be64(p + i * 8) : (int32_t)be32(p + i * 4);
        z->offset[i] = (int32_t)be32(types + idx[i] * 6);
    }
    z->offset0 = (int32_t)be32(types);
    return true;
}

static bool parse(struct tz_zone *z, const unsigned char *p, size_t len)
{
    struct tzif_counts c;
    if (!read_header(p, len, &c) || 44 + block_size(&c, 4) > len) return false;
    if (p[4] < '2') return read_block(z, p + 44, &c, 4);
    size_t v2 = 44 + block_size(&c, 4);
    if (!read_header(p + v2, len - v2, &c) || v2 + 44 + block_size(&c, 8) > len) return false;
    return read_block(z, p + v2 + 44, &c, 8);
}

static bool name_ok(const char *name)
{
    return name[0] != '/' && !strstr(name, "..") &&
           strlen(name) < sizeof((struct tz_zone *)0)->name;
}

int tz_load(struct tz_zone *z, const char *name, char *err, size_t errlen)
{
    memset(z, 0, sizeof *z);
    if (!*name || strcmp(name, "UTC") == 0) {
        snprintf(z->name, sizeof z->name, "UTC");
        return 0;
    }
    if (!name_ok(name)) {
        snprintf(err, errlen, "time zone \"%.80s\" is not a tzdata zone name", name);
        return -1;
    }
    const char *dir = getenv("TZDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
    FILE *f = fopen(path, "rb");
    int e = errno;
    unsigned char *buf = malloc(TZIF_MAX);
    size_t len = f && buf ? fread(buf, 1, TZIF_MAX, f) : 0;
    if (f) fclose(f);
    bool ok = len > 0 && parse(z, buf, len);
    free(buf);
    if (!ok) {
        tz_free(z);
        snprintf(err, errlen, "time zone \"%s\": %s is %s", name, path,
                 f ? "not a TZif file" : strerror(e));
        return -1;
    }
    snprintf(z->name, sizeof z->name, "%s", name);
    return 0;
}

int32_t tz_offset(const struct tz_zone *z, int64_t t)
{
    if (!z->n || t < z->at[0]) return z->offset0;
    size_t lo = 0, hi = z->n; /* the last transition at or before t */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->at[mid] <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->offset[lo];
}

void tz_free(struct tz_zone *z)
{
    free(z->at);
    free(z->offset);
    z->at = NULL;
    z->offset = NULL;
    z->n = 0;
}
