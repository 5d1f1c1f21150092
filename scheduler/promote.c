/*
 * Promotion of delayed jobs (and retries) from P:{Q}:delayed to P:{Q}:ready, on the
 * queue's own server (docs/sharding.md). One Lua
 * script moves at most BATCH due jobs in due order and returns the next due time, so
 * Redis is never blocked for long however many jobs fall due at once: the scheduler
 * loops while full batches come back, renewing its lease between them.
 *
 * The scheduler then sleeps until the earliest due time. A producer that adds a job due
 * before every other one of its queue PUBLISHes that time on P:scheduler:wake
 * (script_enqueue, script_retry), which the leader is subscribed to, so it wakes up and
 * promotes that job on time too. Redis times a blocking command out only at its own
 * 100 ms tick, so the wait is the scheduler's own poll(), not a BLPOP timeout.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "fac/protocol.h"
#include "keys.h"
#include "log.h"
#include "sched.h"
#include "scripts.h"

#define BATCH 1000

/* KEYS delayed, ready; ARGV now-ms, limit. Returns {moved, next due score or nil}.
 * LPUSH of the jobs in score order leaves the earliest at the right end, served first. */
static struct script script_promote = {
    "promote",
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n"
    "if #due > 0 then\n"
    "  redis.call('ZREM', KEYS[1], unpack(due))\n"
    "  redis.call('LPUSH', KEYS[2], unpack(due))\n"
    "end\n"
    "local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')\n"
    "return {#due, head[2] or false}\n",
    ""};

/* One batch; returns how many moved (-1 on error) and the next due time in *next. */
static long promote_batch(struct sched *s, const char *q, int64_t *next)
{
    redisContext *c = sched_queue_conn(s, q);
    if (!c) return -1;
    char dk[FAC_KEY_MAX], rk[FAC_KEY_MAX], now[24], lim[16];
    key_delayed(dk, s->cfg->prefix, q);
    key_ready(rk, s->cfg->prefix, q);
    snprintf(now, sizeof now, "%lld", (long long)now_ms());
    snprintf(lim, sizeof lim, "%d", BATCH);
    const char *av[] = {dk, rk, now, lim};
    size_t al[] = {strlen(dk), strlen(rk), strlen(now), strlen(lim)};
    redisReply *r = script_run_sync(c, &script_promote, 2, 2, av, al);
    long moved = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
        moved = (long)r->element[0]->integer;
        const redisReply *h = r->element[1];
        *next = h->type == REDIS_REPLY_STRING ? (int64_t)strtod(h->str, NULL) : INT64_MAX;
    } else {
        log_warn("promoting due jobs of %s failed: %s", dk,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : c->errstr);
    }
    freeReplyObject(r);
    return moved;
}

int64_t promote_due(struct sched *s)
{
    int64_t earliest = INT64_MAX;
    for (size_t i = 0; i < s->cfg->nqueues && s->leader; i++) {
        const char *q = s->cfg->queues[i];
        long moved, total = 0;
        int64_t next = INT64_MAX;
        while ((moved = promote_batch(s, q, &next)) > 0) {
            total += moved;
            if (moved < BATCH) break;
            leader_tick(s);
            if (!s->leader) break;
        }
        if (total) log_debug("promoted %ld due jobs to queue %s", total, q);
        if (moved < 0) { /* this queue's server is away: the others go on */
            if (now_ms() + 1000 < earliest) earliest = now_ms() + 1000;
            continue;
        } /* try again soon; a lost connection is
                                        noticed by the loop */
        if (next < earliest) earliest = next;
    }
    return earliest;
}

int wake_subscribe(struct sched *s, redisContext *wake)
{
    char ch[FAC_KEY_MAX];
    key_global(ch, FAC_CHAN_WAKE, s->cfg->prefix);
    redisReply *r = redisCommand(wake, "SUBSCRIBE %s", ch);
    int ok = r && r->type == REDIS_REPLY_ARRAY;
    if (!ok) log_warn("subscribing to %s failed: %s", ch, r ? r->str : wake->errstr);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

void wake_drain(redisContext *wake)
{
    if (redisBufferRead(wake) != REDIS_OK) return; /* wake->err: the loop reconnects */
    void *reply = NULL;
    while (redisGetReplyFromReader(wake, &reply) == REDIS_OK && reply) {
        freeReplyObject(reply); /* the message only says "look again" */
        reply = NULL;
    }
}
