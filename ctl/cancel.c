/*
 * fac-ctl cancel JOB-ID (docs/scheduler.md "Cancel"). The id goes into P:canceled (for
 * FAC_CANCEL_TTL_MS) and is PUBLISHed on P:cancel: a worker holding it stops it like a
 * timeout, a worker fetching it finalizes it as Canceled without running it. With queue
 * shards (docs/sharding.md) the id is not known to belong to one queue, so P:canceled is
 * set on every server (each server's fetch script sees it) and the PUBLISH goes to the
 * home server, where every worker listens. A job
 * still in a delayed zset is taken out here and finalized at once, so it does not wait
 * for its due time to be canceled.
 */
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "ctl.h"
#include "envelope.h"
#include "fac/protocol.h"
#include "keys.h"
#include "record.h"

/* The Canceled record of a job that never ran, from its envelope, on its queue's server c. */
static void finalize_unrun(struct ctl *x, redisContext *c, const struct buf *member)
{
    const struct fac_config *cfg = x->cfg;
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    struct envelope e;
    char why[256], k[FAC_KEY_MAX];
    if (envelope_decode(member->data, member->len, (size_t)cfg->max_payload, &z, &e, why,
                        sizeof why) == ENV_OK) {
        static const char msg[] = "canceled (fac-ctl cancel) before it ran";
        int64_t now = now_ms();
        struct result_rec rr = {.id = e.id,
                                .status = FAC_ST_CANCELED,
                                .err_type = FAC_ERR_CANCELED,
                                .err_msg = {msg, sizeof msg - 1},
                                .attempt = e.attempt,
                                .started_at = now,
                                .ended_at = now,
                                .worker = "fac-ctl"};
        struct buf rec = {0};
        record_pack_result(&rec, &rr);
        freeReplyObject(redisCommand(c, "SET %s %b EX %lld",
                                     key_result(k, cfg->prefix, e.id.p, e.id.n), rec.data, rec.len,
                                     (long long)cfg->result_ttl));
        if (e.reply_to.n) {
            freeReplyObject(redisCommand(c, "LPUSH %b %b", e.reply_to.p, (size_t)e.reply_to.n,
                                         rec.data, rec.len));
            freeReplyObject(redisCommand(c, "EXPIRE %b %lld", e.reply_to.p, (size_t)e.reply_to.n,
                                         (long long)cfg->reply_ttl));
        }
        if (e.deduplicate)
            freeReplyObject(redisCommand(c, "DEL %s", key_unique(k, cfg->prefix, e.id.p, e.id.n)));
        buf_free(&rec);
    }
    msgpack_zone_destroy(&z);
}

/* Takes the job out of its delayed zset, if it is there; true when this call did. */
static bool cancel_scheduled(struct ctl *x, const char *id)
{
    char k[FAC_KEY_MAX];
    for (size_t i = 0; i < x->cfg->nqueues; i++) {
        struct buf member = {0};
        redisContext *c = ctl_queue_conn(x, x->cfg->queues[i]);
        key_delayed(k, x->cfg->prefix, x->cfg->queues[i]);
        bool removed = false;
        if (zset_find(c, k, id, &member, NULL)) {
            redisReply *r = redisCommand(c, "ZREM %s %b", k, member.data, member.len);
            removed = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
            freeReplyObject(r);
            if (removed) finalize_unrun(x, c, &member);
        }
        buf_free(&member);
        if (removed) return true;
    }
    return false;
}

static bool in_any_list(struct ctl *x, const char *id)
{
    char k[FAC_KEY_MAX];
    for (size_t i = 0; i < x->cfg->nqueues; i++)
        if (list_find(ctl_queue_conn(x, x->cfg->queues[i]),
                      key_ready(k, x->cfg->prefix, x->cfg->queues[i]), id, NULL))
            return true;
    for (size_t i = 0; i < x->cfg->nqueues; i++) {
        snprintf(k, sizeof k, "%s:{%s}:inflight:*", x->cfg->prefix, x->cfg->queues[i]);
        if (scan_any(ctl_queue_conn(x, x->cfg->queues[i]), k, id)) return true;
    }
    return false;
}

/* Whether the job's final result record exists (on whichever server it is). */
static bool has_result(struct ctl *x, const char *id)
{
    char k[FAC_KEY_MAX];
    key_result(k, x->cfg->prefix, id, strlen(id));
    bool final = false;
    for (size_t s = 0; s < x->map.nservers && !final; s++) {
        redisReply *r = redisCommand(ctl_server(x, s), "EXISTS %s", k);
        final = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
    }
    return final;
}

int cmd_cancel(struct ctl *x, int argc, char **argv)
{
    if (argc != 2) return die(CTL_USAGE, "usage: fac-ctl cancel JOB-ID");
    const char *id = argv[1], *prefix = x->cfg->prefix;
    char k[FAC_KEY_MAX], ch[FAC_KEY_MAX];
    if (has_result(x, id))
        return die(CTL_FAILED,
                   "job %s has already ended (see 'fac-ctl status %s'): "
                   "nothing to cancel",
                   id, id);
    int64_t now = now_ms();
    key_global(k, FAC_KEY_CANCELED, prefix);
    for (size_t s = 0; s < x->map.nservers; s++) {
        redisContext *c = ctl_server(x, s);
        freeReplyObject(redisCommand(c, "ZREMRANGEBYSCORE %s -inf %lld", k, (long long)now));
        redisReply *r =
            redisCommand(c, "ZADD %s %lld %s", k, (long long)(now + FAC_CANCEL_TTL_MS), id);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            int rc = die(CTL_REDIS, "ZADD %s failed: %s", k, r ? r->str : c->errstr);
            freeReplyObject(r);
            return rc;
        }
        freeReplyObject(r);
    }
    freeReplyObject(
        redisCommand(x->c, "PUBLISH %s %s", key_global(ch, FAC_CHAN_CANCEL, prefix), id));
    if (cancel_scheduled(x, id)) {
        for (size_t s = 0; s < x->map.nservers; s++)
            freeReplyObject(redisCommand(ctl_server(x, s), "ZREM %s %s", k, id));
        printf("canceled %s: it was scheduled and will not run\n", id);
        return CTL_OK;
    }
    if (in_any_list(x, id)) {
        printf("canceled %s: a queued job will not run, a running one is stopped\n", id);
        return CTL_OK;
    }
    /* A worker may have acted on the PUBLISH before the lists were searched. */
    if (has_result(x, id)) {
        printf("canceled %s: its worker has already stopped it (see 'fac-ctl status %s')\n", id,
               id);
        return CTL_OK;
    }
    return die(CTL_FAILED,
               "no job %s is scheduled, queued or running; the cancel stays for "
               "%lld h in case it is enqueued",
               id, (long long)(FAC_CANCEL_TTL_MS / 3600000));
}
