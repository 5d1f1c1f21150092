/*
 * Cron entries of the config (docs/scheduler.md "Cron"). A slot fires once, whatever
 * number of schedulers run and whoever leads: one script sets P:cron:<name>:<slot> NX
 * and pushes the job only if it set it, both on the server of the entry's queue
 * (docs/sharding.md). The job id is cron:<name>:<slot>, so a fired
 * slot can be looked up by id.
 *
 * Missed slots are not back-filled. The leader records the second it has fired up to
 * in P:scheduler:cron_at; a new leader that finds it at most CATCH_UP_S old carries on
 * from there (a hand-over: the old leader's lease ran out a few seconds ago, and the
 * slots in between still fire, once), otherwise it starts from now.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "fac/protocol.h"
#include "keys.h"
#include "log.h"
#include "mp.h"
#include "mpjson.h"
#include "sched.h"
#include "scripts.h"

#define CATCH_UP_S 5
#define SLOT_KEY_TTL_S 600 /* far longer than CATCH_UP_S plus any clock skew */
#define CRON_AT_TTL_S 3600

/* KEYS slot, ready; ARGV job, owner, ttl. */
static struct script script_fire = {
    "cron-fire",
    "if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'EX', ARGV[3]) then return 0 end\n"
    "redis.call('LPUSH', KEYS[2], ARGV[1])\n"
    "return 1\n",
    ""};

static void pack_job(const struct cron_cfg *e, const char *id, struct buf *out)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_msgpack_write);
    msgpack_pack_map(&pk, 6 + (e->site != NULL) + (e->user != NULL) + (e->max_attempts > 0) +
                              (e->timeout > 0));
    mp_pack_kv_int(&pk, "v", FAC_PROTOCOL_VERSION);
    mp_pack_kv_str(&pk, "id", id, strlen(id));
    mp_pack_kv_str(&pk, "tool", e->tool, strlen(e->tool));
    mp_pack_cstr(&pk, "args");
    json_t *args = json_loads(e->args, 0, NULL); /* checked when the config was loaded */
    mpjson_pack_json(out, args);
    json_decref(args);
    mp_pack_kv_int(&pk, "enqueued_at", now_ms());
    mp_pack_kv_str(&pk, "cron", e->name, strlen(e->name));
    if (e->site) mp_pack_kv_str(&pk, "site", e->site, strlen(e->site));
    if (e->user) mp_pack_kv_str(&pk, "user", e->user, strlen(e->user));
    if (e->max_attempts > 0) mp_pack_kv_int(&pk, "max_attempts", e->max_attempts);
    if (e->timeout > 0) {
        mp_pack_cstr(&pk, "timeout");
        msgpack_pack_double(&pk, e->timeout);
    }
}

/* 1: fired, 0: another scheduler already did, -1: Redis error. */
static int fire(struct sched *s, const struct cron_cfg *e, int64_t slot)
{
    char id[FAC_JOB_ID_MAX + 1], sk[FAC_KEY_MAX], rk[FAC_KEY_MAX], ttl[16];
    snprintf(id, sizeof id, "cron:%s:%lld", e->name, (long long)slot);
    snprintf(sk, sizeof sk, FAC_KEY_CRON_SLOT, s->cfg->prefix, e->name, (long long)slot);
    key_ready(rk, s->cfg->prefix, e->queue);
    snprintf(ttl, sizeof ttl, "%d", SLOT_KEY_TTL_S);
    struct buf job = {0};
    pack_job(e, id, &job);
    const char *av[] = {sk, rk, job.data, s->id, ttl};
    size_t al[] = {strlen(sk), strlen(rk), job.len, strlen(s->id), strlen(ttl)};
    redisContext *c = sched_queue_conn(s, e->queue);
    redisReply *r = c ? script_run_sync(c, &script_fire, 2, 3, av, al) : NULL;
    buf_free(&job);
    int rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (rc == 1)
        log_info("cron %s: fired job %s on queue %s", e->name, id, e->queue);
    else if (rc == 0)
        log_debug("cron %s: slot %lld was already fired", e->name, (long long)slot);
    else
        log_warn("cron %s: firing slot %lld failed: %s", e->name, (long long)slot,
                 r   ? r->str
                 : c ? c->errstr
                     : "its queue's Redis is away");
    freeReplyObject(r);
    return rc;
}

void cron_start(struct sched *s)
{
    char k[FAC_KEY_MAX];
    redisReply *r = redisCommand(s->c, "GET %s", key_global(k, FAC_KEY_CRON_AT, s->cfg->prefix));
    int64_t now = now_ms() / 1000, from = now;
    if (r && r->type == REDIS_REPLY_STRING) {
        int64_t at = strtoll(r->str, NULL, 10);
        if (at <= now && now - at <= CATCH_UP_S) from = at;
    }
    freeReplyObject(r);
    s->cron_fired_to = 0;
    for (size_t i = 0; i < s->cfg->ncron; i++)
        s->cron_next[i] = cron_next(&s->cfg->cron[i].expr, from - 1);
}

/* Once a second at most: how far this leader has fired, for the next one. */
static void note_fired_to(struct sched *s, int64_t now)
{
    if (!s->cfg->ncron || now == s->cron_fired_to) return;
    char k[FAC_KEY_MAX];
    freeReplyObject(redisCommand(s->c, "SET %s %lld EX %d",
                                 key_global(k, FAC_KEY_CRON_AT, s->cfg->prefix), (long long)now,
                                 CRON_AT_TTL_S));
    s->cron_fired_to = now;
}

int64_t cron_fire_due(struct sched *s)
{
    int64_t now = now_ms() / 1000, earliest = INT64_MAX;
    for (size_t i = 0; i < s->cfg->ncron && s->leader; i++) {
        const struct cron_cfg *e = &s->cfg->cron[i];
        int64_t *next = &s->cron_next[i];
        if (*next >= 0 && now - *next > CATCH_UP_S) {
            log_warn("cron %s: slots from %lld on were missed (the scheduler was stalled); "
                     "they are skipped, not fired late",
                     e->name, (long long)*next);
            *next = cron_next(&e->expr, now - 1);
        }
        while (*next >= 0 && *next <= now) {
            if (fire(s, e, *next) < 0) return now_ms() + 1000;
            *next = cron_next(&e->expr, *next);
        }
        if (*next >= 0 && *next * 1000 < earliest) earliest = *next * 1000;
    }
    if (s->leader) note_fired_to(s, now);
    return earliest;
}
