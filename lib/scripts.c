/* Lua sources of the protocol's atomic steps and their SHA1s for EVALSHA. */
#include "scripts.h"

#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The dead-list entry of an envelope over max_payload, as fac-worker's dead entry
 * (lib/record.c), written inside Redis: the fetch and the take's burial share it. */
#define LUA_TOO_LARGE                                                                              \
    "local function too_large(dead, j, max, queue, wid, cap)\n"                                    \
    "  local P = cmsgpack.pack\n"                                                                  \
    "  local why = 'the envelope has ' .. #j .. ' bytes, over max_payload (' .. max ..\n"          \
    "    '): put large data somewhere else and pass a reference'\n"                                \
    "  local t = redis.call('TIME')\n"                                                             \
    "  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"                     \
    "  redis.call('LPUSH', dead, '\\135' .. P('v') .. P(1) .. P('queue') ..\n"                     \
    "    P(queue) .. P('reason') .. P(why) .. P('error') .. '\\130' .. P('type') ..\n"             \
    "    P('PayloadTooLarge') .. P('message') .. P(why) .. P('failed_at') .. P(ms) ..\n"           \
    "    P('worker') .. P(wid) .. P('job') .. struct.pack('>BI4', 198, #j) .. j)\n"                \
    "  redis.call('LTRIM', dead, 0, tonumber(cap) - 1)\n"                                          \
    "end\n"

/* KEYS: the canceled zset, then (ready, in-flight, dead) per queue; ARGV: slots,
 * max_payload, dead_max, worker id, the queue names. Returns the canceled count, then
 * (queue number, job) pairs. A job over max_payload goes to the dead list here and comes
 * back as (-queue number, its size): a 100 MB element never travels to the worker and
 * back. */
struct script script_fetch = {
    "fetch",
    LUA_TOO_LARGE "local n, max = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
                  "local out = {redis.call('ZCARD', KEYS[1])}\n"
                  "for i = 2, #KEYS, 3 do\n"
                  "  local q = (i + 1) / 3\n"
                  "  while n > 0 do\n"
                  "    local j = redis.call('LMOVE', KEYS[i], KEYS[i + 1], 'RIGHT', 'LEFT')\n"
                  "    if not j then break end\n"
                  "    if #j > max then\n"
                  "      redis.call('LREM', KEYS[i + 1], 1, j)\n"
                  "      too_large(KEYS[i + 2], j, max, ARGV[4 + q], ARGV[4], ARGV[3])\n"
                  "      out[#out + 1] = -q\n"
                  "      out[#out + 1] = #j\n"
                  "    else\n"
                  "      out[#out + 1] = q\n"
                  "      out[#out + 1] = j\n"
                  "    end\n"
                  "    n = n - 1\n"
                  "  end\n"
                  "  if n == 0 then break end\n"
                  "end\n"
                  "return out\n",
    ""};

/* KEYS: in-flight, dead; ARGV: the taken job's size, max_payload, dead_max, worker id,
 * queue. The take (worker/fetch.c) pushed the job onto the in-flight list's tail, where
 * nothing else pushes: it is moved from there to the dead list without travelling back. */
struct script script_bury_taken = {"bury_taken",
                                   LUA_TOO_LARGE
                                   "local j = redis.call('RPOP', KEYS[1])\n"
                                   "if not j then return 0 end\n"
                                   "if #j ~= tonumber(ARGV[1]) then\n"
                                   "  redis.call('RPUSH', KEYS[1], j)\n"
                                   "  return 0\n"
                                   "end\n"
                                   "too_large(KEYS[2], j, ARGV[2], ARGV[5], ARGV[4], ARGV[3])\n"
                                   "return 1\n",
                                   ""};

struct script script_move = {
    "move",
    "if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end\n"
    "if KEYS[3] then redis.call('DEL', KEYS[3]) end\n"
    "local entry = ARGV[2]\n"
    "if ARGV[5] == 'append' then entry = entry .. ARGV[1] end\n"
    "if ARGV[3] == 'front' then\n"
    "  redis.call('RPUSH', KEYS[2], entry)\n"
    "else\n"
    "  redis.call('LPUSH', KEYS[2], entry)\n"
    "  if ARGV[3] == 'dead' then redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1) end\n"
    "end\n"
    "return 1\n",
    ""};

/* Adds a job to a delayed zset; wakes the scheduler only when it is due before every
 * job already there (the scheduler sleeps until the earliest one). */
#define LUA_SCHEDULE                                                                               \
    "local function schedule(zset, due, job, channel)\n"                                           \
    "  local head = redis.call('ZRANGE', zset, 0, 0, 'WITHSCORES')\n"                              \
    "  redis.call('ZADD', zset, due, job)\n"                                                       \
    "  if #head == 0 or tonumber(due) < tonumber(head[2]) then\n"                                  \
    "    redis.call('PUBLISH', channel, due)\n"                                                    \
    "  end\n"                                                                                      \
    "end\n"

struct script script_enqueue = {
    "enqueue",
    LUA_SCHEDULE "if tonumber(ARGV[4]) > 0 and\n"
                 "   not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[4]) then return 0 end\n"
                 "if tonumber(ARGV[2]) > 0 then\n"
                 "  schedule(KEYS[2], ARGV[2], ARGV[1], ARGV[5])\n"
                 "elseif ARGV[3] == 'front' then\n"
                 "  redis.call('RPUSH', KEYS[1], ARGV[1])\n"
                 "else\n"
                 "  redis.call('LPUSH', KEYS[1], ARGV[1])\n"
                 "end\n"
                 "return 1\n",
    ""};

struct script script_retry = {"retry",
                              LUA_SCHEDULE
                              "if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then return 0 end\n"
                              "schedule(KEYS[2], ARGV[3], ARGV[2], ARGV[4])\n"
                              "return 1\n",
                              ""};

struct script script_release = {
    "release",
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
    "return 0\n",
    ""};

static void sha_of(struct script *s)
{
    unsigned char d[SHA_DIGEST_LENGTH];
    SHA1((const unsigned char *)s->src, strlen(s->src), d);
    for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
        sprintf(s->sha + 2 * i, "%02x", d[i]);
}

void scripts_init(void)
{
    sha_of(&script_fetch);
    sha_of(&script_bury_taken);
    sha_of(&script_move);
    sha_of(&script_enqueue);
    sha_of(&script_retry);
}

redisReply *script_run_sync(redisContext *c, struct script *s, int nkeys, int nargs,
                            const char **argv, const size_t *lens)
{
    if (!s->sha[0]) sha_of(s);
    int argc = 3 + nkeys + nargs;
    const char *av[argc];
    size_t al[argc];
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    av[0] = "EVALSHA", al[0] = 7;
    av[1] = s->sha, al[1] = 40;
    av[2] = nk, al[2] = strlen(nk);
    for (int i = 0; i < nkeys + nargs; i++)
        av[3 + i] = argv[i], al[3 + i] = lens[i];
    redisReply *r = redisCommandArgv(c, argc, av, al);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        av[0] = "EVAL", al[0] = 4;
        av[1] = s->src, al[1] = strlen(s->src);
        r = redisCommandArgv(c, argc, av, al);
    }
    return r;
}

int script_move_sync(redisContext *c, const char *from, const char *to, const char *gone,
                     struct str old, struct str nw, const char *mode, int64_t cap)
{
    char capbuf[24];
    snprintf(capbuf, sizeof capbuf, "%lld", (long long)cap);
    const char *av[7] = {from, to};
    size_t al[7] = {strlen(from), strlen(to)};
    int n = 2;
    if (gone) av[n] = gone, al[n++] = strlen(gone);
    int nkeys = n;
    av[n] = old.p, al[n++] = old.n;
    av[n] = nw.p, al[n++] = nw.n;
    av[n] = mode, al[n++] = strlen(mode);
    av[n] = capbuf, al[n++] = strlen(capbuf);
    redisReply *r = script_run_sync(c, &script_move, nkeys, 4, av, al);
    int rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    freeReplyObject(r);
    return rc;
}
