/* The result cache's key: a hash of what makes two calls the same call. */
#include "cachekey.h"

#include <openssl/sha.h>
#include <stdio.h>

#include "buf.h"
#include "keys.h"
#include "mp.h"

static void put_field(struct buf *b, struct str s)
{
    uint32_t n = s.n;
    unsigned char len[4] = {n >> 24, n >> 16 & 0xff, n >> 8 & 0xff, n & 0xff};
    buf_append(b, len, 4);
    buf_append(b, s.p, s.n);
}

const char *cache_key(char *out, const char *prefix, struct str tool, struct str site,
                      struct str user, const msgpack_object *args)
{
    struct buf b = {0};
    put_field(&b, tool);
    put_field(&b, site);
    put_field(&b, user.n ? user : (struct str){"Administrator", 13});
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_msgpack_write);
    if (args)
        mp_pack_canonical(&pk, args);
    else
        msgpack_pack_map(&pk, 0);
    unsigned char d[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)b.data, b.len, d);
    buf_free(&b);
    int n = snprintf(out, FAC_KEY_MAX, FAC_KEY_CACHE, prefix, "");
    for (int i = 0; i < SHA256_DIGEST_LENGTH && n + 2 < FAC_KEY_MAX; i++)
        n += snprintf(out + n, FAC_KEY_MAX - (size_t)n, "%02x", d[i]);
    return out;
}
