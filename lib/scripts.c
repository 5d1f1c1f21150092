/* Lua sources of the atomic steps (fetch, move) and their SHA1s for EVALSHA. */
#include "scripts.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

struct script script_fetch = {
    "fetch",
    "local n = tonumber(ARGV[1])\n"
    "local out = {}\n"
    "for i = 1, #KEYS, 2 do\n"
    "  while n > 0 do\n"
    "    local j = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'RIGHT', 'LEFT')\n"
    "    if not j then break end\n"
    "    out[#out + 1] = (i + 1) / 2\n"
    "    out[#out + 1] = j\n"
    "    n = n - 1\n"
    "  end\n"
    "  if n == 0 then break end\n"
    "end\n"
    "return out\n",
    ""};

struct script script_move = {
    "move",
    "if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end\n"
    "if ARGV[3] == 'front' then\n"
    "  redis.call('RPUSH', KEYS[2], ARGV[2])\n"
    "else\n"
    "  redis.call('LPUSH', KEYS[2], ARGV[2])\n"
    "  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)\n"
    "end\n"
    "return 1\n",
    ""};

static void sha_of(struct script *s)
{
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s->src, strlen(s->src), d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++) sprintf(s->sha + 2 * i, "%02x", d[i]);
}

void scripts_init(void)
{
    sha_of(&script_fetch);
    sha_of(&script_move);
}

redisReply *script_run_sync(redisContext *c, struct script *s, int nkeys, int nargs,
                            const char **argv, const size_t *lens)
{
    int argc = 3 + nkeys + nargs;
    const char *av[argc];
    size_t al[argc];
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = s->sha, al[1] = 40;
    av[2] = nk, al[2] = strlen(nk);
    for (int i = 0; i < nkeys + nargs; i++) av[3 + i] = argv[i], al[3 + i] = lens[i];
    redisReply *r = redisCommandArgv(c, argc, av, al);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        av[0] = "EVAL", al[0] = 4;
        av[1] = s->src, al[1] = strlen(s->src);
        r = redisCommandArgv(c, argc, av, al);
    }
    return r;
}
