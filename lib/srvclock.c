/* Heartbeats scored and judged by the Redis server's clock (see srvclock.h). */
#include "srvclock.h"

#include <stdlib.h>
#include <string.h>

/* replicate_commands: before Redis 5 a script may not write after TIME without it; a
 * no-op since. */
struct script script_beat = {
    "beat",
    "if redis.replicate_commands then redis.replicate_commands() end\n"
    "local t = redis.call('TIME')\n"
    "local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], string.format('%.0f', ms), ARGV[1])\n"
    "return ms\n",
    ""};

redisReply *srvclock_beat_sync(redisContext *c, const char *zset, const char *member)
{
    const char *av[] = {zset, member};
    size_t al[] = {strlen(zset), strlen(member)};
    return script_run_sync(c, &script_beat, 1, 1, av, al);
}

int64_t srvclock_now_ms(redisContext *c)
{
    redisReply *r = redisCommand(c, "TIME");
    int64_t ms = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING)
        ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
             strtoll(r->element[1]->str, NULL, 10) / 1000;
    freeReplyObject(r);
    return ms;
}
