/*
 * Rescue of a vanished host's jobs. A worker whose heartbeat in P:workers is older
 * than dead_after died without its supervisor putting its jobs back (the supervisor
 * was killed too, or the host is gone): its in-flight jobs go back to their queue with
 * attempt + 1, and a job that has killed its worker too often goes dead
 * (lib/requeue.c). A worker whose supervisor still heartbeats is left alone: that
 * supervisor kills and requeues its own stuck workers. The requeue takes a per-worker
 * lock, so two schedulers (or a scheduler and a supervisor) never do it twice.
 *
 * The same periodic pass drops cancels that expired without their job being seen.
 */
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fac/protocol.h"
#include "keys.h"
#include "log.h"
#include "requeue.h"
#include "sched.h"
#include "srvclock.h"

#define FORGET_SUPERVISOR_MS (86400 * 1000LL)

/* True when the worker's supervisor heartbeat is newer than cutoff. */
static bool supervisor_alive(struct sched *s, const char *wid, int64_t cutoff)
{
    char k[FAC_KEY_MAX];
    redisReply *sup = redisCommand(s->c, "HGET %s sup", key_worker(k, s->cfg->prefix, wid));
    bool alive = false;
    if (sup && sup->type == REDIS_REPLY_STRING) {
        redisReply *r = redisCommand(s->c, "ZSCORE %s %s",
                                     key_global(k, FAC_KEY_SUPERVISORS, s->cfg->prefix), sup->str);
        alive = r && r->type == REDIS_REPLY_STRING && strtoll(r->str, NULL, 10) > cutoff;
        freeReplyObject(r);
    }
    freeReplyObject(sup);
    return alive;
}

static void rescue_one(struct sched *s, const char *wid)
{
    struct requeue_stats st;
    char err[1024];
    if (requeue_worker(&s->conns, s->cfg, wid, true, &st, err, sizeof err)) {
        log_warn("%s; will try again", err);
        return;
    }
    if (!st.skipped)
        log_warn("worker %s has been silent for over %g s and so has its supervisor: "
                 "rescued its jobs: requeued=%d dead=%d (attempt + 1)",
                 wid, s->cfg->dead_after, st.requeued, st.dead);
}

void rescue_dead_workers(struct sched *s)
{
    /* Heartbeats are scored by Redis's clock, so they are judged by it too (srvclock.h):
     * a host whose own clock is off is neither rescued alive nor kept dead. */
    int64_t now = srvclock_now_ms(s->c);
    if (now < 0) return; /* Redis away: the next pass tries again */
    int64_t cutoff = now - (int64_t)(s->cfg->dead_after * 1000);
    char k[FAC_KEY_MAX];
    redisReply *r = redisCommand(s->c, "ZRANGEBYSCORE %s -inf %lld", key_workers(k, s->cfg->prefix),
                                 (long long)cutoff);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements && s->leader; i++)
        if (!supervisor_alive(s, r->element[i]->str, cutoff)) rescue_one(s, r->element[i]->str);
    freeReplyObject(r);
    freeReplyObject(redisCommand(s->c, "ZREMRANGEBYSCORE %s -inf %lld",
                                 key_global(k, FAC_KEY_SUPERVISORS, s->cfg->prefix),
                                 (long long)(now - FORGET_SUPERVISOR_MS)));
    key_global(k, FAC_KEY_CANCELED, s->cfg->prefix); /* fac-ctl cancel sets it on every server */
    for (size_t i = 0; i < s->map.nservers; i++) {
        redisContext *c = i == SHARD_HOME ? s->c : shard_conn(&s->conns, i, NULL, NULL, 0);
        if (c) freeReplyObject(redisCommand(c, "ZREMRANGEBYSCORE %s -inf %lld", k, (long long)now));
    }
}
