/* The result cache in Redis (see cache.h); keys are lib/cachekey.h's. */
#include "cache.h"

#include <stdlib.h>
#include <string.h>

#include "cachekey.h"
#include "job.h"
#include "log.h"
#include "worker.h"

/* The job a GET was sent for: its slot may have been reused when the reply comes. */
struct lookup {
    struct job *j;
    uint64_t seq;
};

static bool unpack_hit(struct job *j, const redisReply *reply, msgpack_object *out)
{
    char *copy = msgpack_zone_malloc(&j->zone, reply->len ? reply->len : 1);
    memcpy(copy, reply->str, reply->len);
    size_t off = 0;
    return msgpack_unpack(copy, reply->len, &off, &j->zone, out) == MSGPACK_UNPACK_SUCCESS &&
           off == reply->len;
}

static void lookup_done(redisAsyncContext *c, void *r, void *priv)
{
    struct lookup *l = priv;
    struct job *j = l->j;
    bool current = j->seq == l->seq && j->state == J_CACHE;
    free(l);
    redisReply *reply = r;
    if (!reply || !current) return; /* connection gone, or the job was aborted */
    msgpack_object result;
    if (reply->type == REDIS_REPLY_STRING && unpack_hit(j, reply, &result)) {
        job_finish_cached(j, &result);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR)
        log_warn("cache read of tool %s failed (%s): running the tool", j->tool->name, reply->str);
    else if (reply->type == REDIS_REPLY_STRING)
        log_warn("cache entry %s is not msgpack: running the tool", j->cache_key);
    job_admit(j);
}

void cache_lookup(struct job *j)
{
    struct worker *w = j->w;
    cache_key(j->cache_key, w->cfg->prefix, j->env.tool, j->env.site, j->env.user, j->env.args);
    struct lookup *l = malloc(sizeof *l);
    l->j = j;
    l->seq = j->seq;
    redisAsyncCommand(w->cmd, lookup_done, l, "GET %s", j->cache_key);
}

static void store_done(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR) log_warn("cache write failed: %s", reply->str);
}

void cache_store(struct job *j, const msgpack_object *result)
{
    struct buf b = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &b, buf_msgpack_write);
    msgpack_pack_object(&pk, *result);
    long long ms = (long long)(j->tool->cache_ttl * 1000);
    redisAsyncCommand(j->w->cmd, store_done, NULL, "SET %s %b PX %lld", j->cache_key, b.data, b.len,
                      ms < 1 ? 1 : ms);
    buf_free(&b);
}
