/* The life of one job (see job.h). Every command about a job goes to its queue's server
 * (queue_cmd): result record, reply_to, unique key, ack, retry and dead entry. */
#include "job.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "clock.h"
#include "fac/protocol.h"
#include "gate.h"
#include "keys.h"
#include "log.h"
#include "mp.h"
#include "record.h"
#include "scripts.h"
#include "worker.h"

/* A finished job waiting for its result to be stored and its audit row to be durable;
 * when both are true the in-flight element is removed, in one atomic step with where
 * it goes next: nowhere, the delayed zset (a retry) or the dead list. */
struct ack {
    struct worker *w;
    int qidx;
    char *raw;
    size_t raw_len;
    bool stored, durable;
    bool waiting;          /* redis_wait: its result's WAIT has not answered yet */
    struct ack *next_wait; /* the results one WAIT covers */
    bool lost;             /* its server's connection broke before the result was stored */
    uint32_t epoch;        /* of its server when the job was fetched (servers.c) */
    enum { ACK_REMOVE, ACK_RETRY, ACK_BURY } kind;
    struct buf next; /* ACK_RETRY: the next attempt's envelope; ACK_BURY: the dead entry */
    int64_t due;     /* ACK_RETRY: when the next attempt is due (ms) */
};

static void release(struct job *j)
{
    struct worker *w = j->w;
    const struct tool_cfg *admitted = j->state == J_RUN ? j->tool : NULL;
    free(j->raw);
    j->raw = NULL;
    msgpack_zone_destroy(&j->zone);
    buf_free(&j->call.err_msg);
    j->state = J_FREE;
    j->next_free = w->free_jobs;
    w->free_jobs = j;
    w->running--;
    if (admitted) gate_leave(w, admitted);
    worker_job_released(w);
}

static void ack_done(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = priv;
    redisReply *reply = r;
    /* No reply: the connection is gone and the job stays in flight, to be put back by
     * the supervisor (home lost: this worker exits) or by this worker (a shard came back). */
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_error("acknowledging a job failed: %s", reply->str);
    w->unacked--;
    if (!w->exit_code) worker_job_released(w);
    if (reply && reply->type == REDIS_REPLY_ERROR && redis_error_is_failover(reply->str))
        worker_fatal_redis_on(c, "acknowledging a job", reply->str);
}

/* EVAL, not EVALSHA, for the scripts: retries and burials are rare next to plain acks,
 * and this must work even after SCRIPT FLUSH. */
/* The per-job commands go out as argv: no format-string parsing (docs/performance.md).
 * A length of CSTR means "a NUL-terminated string". */
#define CSTR ((size_t)-1)
static int send_argv(redisAsyncContext *c, redisCallbackFn *cb, void *priv, int argc,
                     const char **argv, const size_t *lens)
{
    size_t computed[8];
    for (int i = 0; i < argc; i++)
        computed[i] = lens[i] == CSTR ? strlen(argv[i]) : lens[i];
    return redisAsyncCommandArgv(c, cb, priv, argc, argv, computed);
}

/* REDIS_OK when the ack's command is on its way (ack_done will run). */
static int ack_send(struct ack *a)
{
    struct worker *w = a->w;
    const char *ik = w->inflight_key[a->qidx], *q = w->cfg->queues[a->qidx];
    redisAsyncContext *c = queue_cmd(w, a->qidx);
    char k[FAC_KEY_MAX], ch[FAC_KEY_MAX], n[24];
    switch (a->kind) {
    case ACK_REMOVE:
        return send_argv(c, ack_done, w, 4, (const char *[]){"LREM", ik, "-1", a->raw},
                         (const size_t[]){CSTR, CSTR, CSTR, a->raw_len});
    case ACK_RETRY:
        snprintf(n, sizeof n, "%lld", (long long)a->due);
        return redisAsyncCommand(c, ack_done, w, "EVAL %s 2 %s %s %b %b %s %s", script_retry.src,
                                 ik, key_delayed(k, w->cfg->prefix, q), a->raw, a->raw_len,
                                 a->next.data, a->next.len, n,
                                 key_global(ch, FAC_CHAN_WAKE, w->cfg->prefix));
    case ACK_BURY:
        snprintf(n, sizeof n, "%lld", (long long)w->cfg->dead_max);
        return redisAsyncCommand(c, ack_done, w, "EVAL %s 2 %s %s %b %b dead %s append",
                                 script_move.src, ik, key_dead(k, w->cfg->prefix, q), a->raw,
                                 a->raw_len, a->next.data, a->next.len, n);
    }
    return REDIS_ERR;
}

static void ack_free(struct ack *a)
{
    buf_free(&a->next);
    free(a->raw);
    free(a);
}

/* Sends the ack once the result is stored, the audit row durable and (redis_wait) the
 * WAIT answered. An ack whose server was lost since its job was fetched is not sent:
 * the job is still in flight there and goes back to its queue (servers.c). */
static void ack_try(struct ack *a)
{
    if (!a->stored || !a->durable || a->waiting) return;
    struct worker *w = a->w;
    const struct wserver *srv = &w->servers[w->map.queue_server[a->qidx]];
    bool sent = !a->lost && a->epoch == srv->epoch && srv->cmd && ack_send(a) == REDIS_OK;
    ack_free(a);
    if (!sent) {
        w->unacked--;
        worker_job_released(w);
    }
}

/* The replicas confirmed (or the timeout passed): their acks may go out. Too few
 * replicas does not hold a job back (it would never be acknowledged): it is counted
 * in the log, and a failover now may run the job again (docs/sentinel.md). No reply:
 * the server is gone, and so the acks are not sent (the jobs stay in flight there). */
static void wait_done(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;
    struct worker *w = conn_worker(c);
    int64_t want = w->cfg->redis_wait.replicas;
    if (reply && (reply->type != REDIS_REPLY_INTEGER || reply->integer < want)) {
        w->waits_short++;
        int64_t now = mono_ms();
        if (now - w->waits_short_logged_ms >= 10000) {
            char where[1200];
            log_warn("WAIT %lld %lld on %s: %s (%lld times since the last warning): a failover "
                     "now may lose these results and run their jobs again",
                     (long long)want, (long long)w->cfg->redis_wait.timeout_ms,
                     worker_conn_where(c, where, sizeof where),
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "too few replicas confirmed",
                     (long long)w->waits_short);
            w->waits_short_logged_ms = now;
            w->waits_short = 0;
        }
    }
    for (struct ack *a = priv, *next; a; a = next) {
        next = a->next_wait;
        a->waiting = false;
        if (!reply) a->lost = true;
        ack_try(a);
    }
}

/* One WAIT per server that has results waiting, on that server: a WAIT covers only the
 * writes of its own connection (docs/sentinel.md). */
void job_wait_flush(struct worker *w)
{
    for (size_t s = 0; s < w->map.nservers; s++) {
        struct wserver *srv = &w->servers[s];
        struct ack *list = srv->wait_list;
        if (!list) continue;
        srv->wait_list = NULL;
        if (!srv->cmd || redisAsyncCommand(srv->cmd, wait_done, list, "WAIT %lld %lld",
                                           (long long)w->cfg->redis_wait.replicas,
                                           (long long)w->cfg->redis_wait.timeout_ms) != REDIS_OK)
            for (struct ack *a = list, *next; a; a = next) { /* its server is lost */
                next = a->next_wait;
                a->waiting = false;
                a->lost = true;
                ack_try(a);
            }
    }
}

/* Takes the job's element: the ack owns it from now on (j->env still points into it). */
static struct ack *ack_new(struct job *j)
{
    struct ack *a = calloc(1, sizeof *a);
    a->w = j->w;
    a->qidx = j->qidx;
    a->raw = j->raw;
    a->raw_len = j->raw_len;
    a->epoch = j->w->servers[j->w->map.queue_server[j->qidx]].epoch;
    j->raw = NULL;
    j->w->unacked++;
    return a;
}

static void result_stored(redisAsyncContext *c, void *r, void *priv)
{
    struct ack *a = priv;
    redisReply *reply = r;
    if (!reply) { /* its server is gone: the ack is dropped once the audit lets go of it */
        a->lost = a->stored = true;
        ack_try(a);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Not acknowledged: the job stays in flight and runs again after this worker. */
        log_error("storing a result failed: %s; the job stays in flight", reply->str);
        /* Not sent, and freed only once the audit batcher (and a WAIT) let go of it. */
        struct worker *w = a->w;
        a->lost = a->stored = true;
        ack_try(a);
        if (redis_error_is_failover(reply->str))
            worker_fatal_redis_on(c, "storing a result", reply->str);
        else /* e.g. OOM: hand the job back through the supervisor, do not hold it */
            worker_begin_stop(w, WM_DRAIN, "Redis refused a result write");
        return;
    }
    a->stored = true;
    ack_try(a);
}

void job_audit_durable(void *ud, void **tokens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct ack *a = tokens[i];
        a->durable = true;
        ack_try(a);
    }
}

static void log_reply_error(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_ERROR)
        log_error("%s failed: %s", (const char *)priv, reply->str);
}

/* Stores the final record, pushes it to reply_to and lets go of the job's unique key;
 * returns the ack waiting for the reply. */
static struct ack *store_result(struct job *j, const struct buf *rec)
{
    struct worker *w = j->w;
    const struct envelope *e = &j->env;
    redisAsyncContext *c = queue_cmd(w, j->qidx);
    char k[FAC_KEY_MAX];
    struct ack *a = ack_new(j);
    if (e->deduplicate)
        redisAsyncCommand(c, log_reply_error, "DEL unique", "DEL %s",
                          key_unique(k, w->cfg->prefix, e->id.p, e->id.n));
    char ttl[24] = "";
    fmt_i64(ttl, (int64_t)w->cfg->result_ttl);
    send_argv(c, result_stored, a, 5,
              (const char *[]){"SET", key_result(k, w->cfg->prefix, e->id.p, e->id.n), rec->data,
                               "EX", ttl},
              (const size_t[]){CSTR, CSTR, rec->len, CSTR, CSTR});
    if (e->reply_to.n) {
        char rttl[24] = "";
        fmt_i64(rttl, (int64_t)w->cfg->reply_ttl);
        send_argv(c, log_reply_error, "LPUSH reply_to", 3,
                  (const char *[]){"LPUSH", e->reply_to.p, rec->data},
                  (const size_t[]){CSTR, e->reply_to.n, rec->len});
        send_argv(c, log_reply_error, "EXPIRE reply_to", 3,
                  (const char *[]){"EXPIRE", e->reply_to.p, rttl},
                  (const size_t[]){CSTR, e->reply_to.n, CSTR});
    }
    /* One WAIT per server before the loop blocks covers them all (job_wait_flush). */
    if (w->cfg->redis_wait.replicas) {
        struct wserver *srv = &w->servers[w->map.queue_server[j->qidx]];
        a->waiting = true;
        a->next_wait = srv->wait_list;
        srv->wait_list = a;
    }
    return a;
}

/* A job that cannot run: dead entry (and a result record when its id is known), moved
 * out of the in-flight list atomically. */
static void bury(struct job *j, const char *type, const char *reason)
{
    struct worker *w = j->w;
    const char *q = w->cfg->queues[j->qidx];
    int64_t now = now_ms();
    log_warn("job id=%.*s queue=%s moved to the dead list: %s: %s", (int)j->env.id.n,
             j->env.id.p ? j->env.id.p : "", q, type, reason);
    if (j->env.id.n) {
        struct buf rec = {0};
        struct result_rec rr = {.id = j->env.id,
                                .status = FAC_ST_ERROR,
                                .err_type = type,
                                .err_msg = {reason, (uint32_t)strlen(reason)},
                                .attempt = j->env.attempt,
                                .started_at = now,
                                .ended_at = now,
                                .worker = w->wid};
        record_pack_result(&rec, &rr);
        char k[FAC_KEY_MAX];
        redisAsyncContext *c = queue_cmd(w, j->qidx);
        redisAsyncCommand(c, log_reply_error, "SET result", "SET %s %b EX %lld",
                          key_result(k, w->cfg->prefix, j->env.id.p, j->env.id.n), rec.data,
                          rec.len, (long long)w->cfg->result_ttl);
        if (j->env.reply_to.n)
            redisAsyncCommand(c, log_reply_error, "LPUSH reply_to", "LPUSH %b %b",
                              j->env.reply_to.p, (size_t)j->env.reply_to.n, rec.data, rec.len);
        buf_free(&rec);
    }
    struct dead_rec d = {.id = j->env.id,
                         .queue = q,
                         .reason = reason,
                         .err_type = type,
                         .worker = w->wid,
                         .attempt = j->env.id.n ? j->env.attempt : -1,
                         .failed_at = now,
                         .job = {j->raw, (uint32_t)j->raw_len},
                         .job_follows = true};
    struct ack *a = ack_new(j);
    a->kind = ACK_BURY;
    record_pack_dead(&a->next, &d);
    a->stored = a->durable = true;
    ack_try(a);
    release(j);
}

/* A failed attempt with attempts left: its ack schedules the next one. */
static struct ack *ack_retry(struct job *j, const struct attempt_error *failure)
{
    struct ack *a = ack_new(j);
    a->kind = ACK_RETRY;
    a->stored = true; /* a job waiting for a retry has no result record */
    int64_t delay = retry_delay_ms(&j->w->cfg->retry_backoff, j->env.attempt);
    a->due = now_ms() + delay;
    envelope_rewrite(&j->env,
                     &(struct envelope_update){.attempt = j->env.attempt + 1, .error = failure},
                     &a->next);
    log_info("job id=%.*s attempt %lld of %lld ended %s: next attempt in %lld ms", (int)j->env.id.n,
             j->env.id.p, (long long)j->env.attempt + 1, (long long)retry_max_attempts(j),
             failure->type, (long long)delay);
    return a;
}

/* The last attempt of a job that had retries failed: its ack moves it to the dead list,
 * with every attempt's error. */
static void ack_bury_exhausted(struct job *j, struct ack *a, const struct attempt_error *failure)
{
    struct worker *w = j->w;
    char reason[1200];
    snprintf(reason, sizeof reason,
             "job %.*s failed all %lld attempts, the last with %s: %.*s; "
             "fix the cause, then retry it with 'fac-ctl dead retry %.*s'",
             (int)j->env.id.n, j->env.id.p, (long long)retry_max_attempts(j), failure->type,
             (int)(failure->message.n < 800 ? failure->message.n : 800),
             failure->message.p ? failure->message.p : "", (int)j->env.id.n, j->env.id.p);
    struct dead_rec d = {.id = j->env.id,
                         .queue = w->cfg->queues[j->qidx],
                         .reason = reason,
                         .err_type = failure->type,
                         .worker = w->wid,
                         .attempt = j->env.attempt,
                         .failed_at = failure->at,
                         .job = {a->raw, (uint32_t)a->raw_len},
                         .job_follows = true,
                         .history = &j->env,
                         .last = failure};
    a->kind = ACK_BURY;
    record_pack_dead(&a->next, &d);
    log_warn("job id=%.*s moved to the dead list: %s", (int)j->env.id.n, j->env.id.p, reason);
}

/* The job is final and canceled: its pending cancel is done (fac-ctl cancel added it on
 * every server). */
static void forget_cancel(struct job *j)
{
    struct worker *w = j->w;
    for (size_t s = 0; s < w->map.nservers; s++)
        if (w->servers[s].cmd)
            redisAsyncCommand(w->servers[s].cmd, log_reply_error, "ZREM canceled", "ZREM %s %b",
                              w->canceled_key, j->env.id.p, (size_t)j->env.id.n);
}

/* Result record + audit row for an outcome; then the slot is free for the next job. */
static void finish(struct job *j, const char *status, const char *err_type, struct str err_msg,
                   const msgpack_object *result, int64_t started_at, double duration_ms,
                   int64_t attempt)
{
    struct worker *w = j->w;
    int64_t ended_at = started_at + (int64_t)llround(duration_ms);
    struct attempt_error failure = {attempt, err_type, err_msg, ended_at};
    struct ack *a;
    if (retry_wanted(j, status)) {
        a = ack_retry(j, &failure);
    } else {
        struct result_rec rr = {.id = j->env.id,
                                .status = status,
                                .result = result,
                                .err_type = err_type,
                                .err_msg = err_msg,
                                .attempt = attempt,
                                .started_at = started_at,
                                .ended_at = ended_at,
                                .duration_ms = duration_ms,
                                .worker = w->wid,
                                .cached = j->cached};
        struct buf rec = {0};
        record_pack_result(&rec, &rr);
        a = store_result(j, &rec);
        buf_free(&rec);
        if (retry_exhausted(j, status)) ack_bury_exhausted(j, a, &failure);
        if (strcmp(status, FAC_ST_CANCELED) == 0) forget_cancel(j);
    }
    /* The audit DocType's status has no Canceled: such a row is an Error of type Canceled. */
    const char *audit_status = strcmp(status, FAC_ST_CANCELED) == 0 ? FAC_ST_ERROR : status;
    struct audit_row row = {.env = &j->env,
                            .status = audit_status,
                            .err_type = err_type,
                            .err_msg = err_msg,
                            .output = result,
                            .attempt = attempt,
                            .started_at = started_at,
                            .duration_s = duration_ms / 1000.0,
                            .worker = w->wid};
    bool ok = strcmp(status, FAC_ST_SUCCESS) == 0;
    if (!ok) w->jobs_failed++;
    if (j->tool) shm_count_job(w->slot, (size_t)(j->tool - w->cfg->tools), status, duration_ms);
    log_debug("job finished job_id=%.*s tool=%.*s site=%.*s status=%s duration_ms=%.3f",
              (int)j->env.id.n, j->env.id.p, (int)j->env.tool.n, j->env.tool.p, (int)j->env.site.n,
              j->env.site.p ? j->env.site.p : "", status, duration_ms);
    audit_submit(w->audit, &row, a);
    w->jobs_done++;
    release(j);
}

static void exec_done(struct exec_call *call)
{
    struct job *j = (struct job *)((char *)call - offsetof(struct job, call));
    ev_timer_stop(j->w->loop, &j->timeout);
    double ms = (double)(mono_ns() - j->t0_ns) / 1e6;
    bool ok = strcmp(call->status, FAC_ST_SUCCESS) == 0;
    struct str msg = {call->err_msg.data, (uint32_t)call->err_msg.len};
    if (ok && j->tool->cache_ttl > 0) cache_store(j, &call->result);
    finish(j, call->status, ok ? NULL : call->err_type, msg, ok ? &call->result : NULL,
           j->started_at, ms, j->env.attempt);
}

/* Stops a running job from outside (its timeout, a cancel) and finishes it. */
static void stop_running(struct job *j, const char *status, const char *type, const char *msg)
{
    ev_timer_stop(j->w->loop, &j->timeout);
    j->ex->cancel(&j->call);
    double ms = (double)(mono_ns() - j->t0_ns) / 1e6;
    finish(j, status, type, (struct str){msg, (uint32_t)strlen(msg)}, NULL, j->started_at, ms,
           j->env.attempt);
}

static void timeout_fired(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct job *j = t->data;
    char msg[256];
    snprintf(msg, sizeof msg, "tool \"%s\" did not finish within its %g s timeout", j->tool->name,
             j->timeout_s);
    stop_running(j, FAC_ST_TIMEOUT, FAC_ERR_TIMEOUT, msg);
}

/* Canceled before it ran: a final Canceled record, no audit row (nothing ran). */
static void cancel_unrun(struct job *j)
{
    struct worker *w = j->w;
    static const char msg[] = "canceled (fac-ctl cancel) before it ran";
    int64_t now = now_ms();
    struct result_rec rr = {.id = j->env.id,
                            .status = FAC_ST_CANCELED,
                            .err_type = FAC_ERR_CANCELED,
                            .err_msg = {msg, sizeof msg - 1},
                            .attempt = j->env.attempt,
                            .started_at = now,
                            .ended_at = now,
                            .worker = w->wid};
    struct buf rec = {0};
    record_pack_result(&rec, &rr);
    log_info("job id=%.*s canceled before it ran", (int)j->env.id.n, j->env.id.p);
    forget_cancel(j);
    struct ack *a = store_result(j, &rec);
    buf_free(&rec);
    a->durable = true;
    release(j);
}

void job_cancel(struct worker *w, const char *id, size_t len)
{
    /* A job taken later skips the fetch's count of waiting cancels (fetch.c). */
    w->cancels_heard++;
    w->cancels_pending = true;
    for (int64_t i = 0; i < w->cfg->concurrency; i++) {
        struct job *j = &w->jobs[i];
        if (j->state == J_FREE || j->env.id.n != len || memcmp(j->env.id.p, id, len) != 0) continue;
        log_info("job id=%.*s canceled while %s", (int)len, id,
                 j->state == J_RUN ? "running: stopping it" : "not yet running: it will not run");
        switch (j->state) {
        case J_CHECK:
            j->cancel_hit = true;
            break;
        case J_WAIT: /* queued behind its tool's concurrency cap */
            gate_remove(w, j);
            cancel_unrun(j);
            break;
        case J_CACHE:
            cancel_unrun(j);
            break; /* the late cache reply is dropped by seq */
        case J_RUN:
            stop_running(j, FAC_ST_CANCELED, FAC_ERR_CANCELED,
                         "canceled (fac-ctl cancel) while running");
            break;
        case J_FREE:
            break;
        }
    }
}

void job_launch(struct job *j)
{
    struct worker *w = j->w;
    j->state = J_RUN;
    j->started_at = now_ms();
    j->t0_ns = mono_ns();
    ev_timer_init(&j->timeout, timeout_fired, j->timeout_s, 0);
    j->timeout.data = j;
    ev_timer_start(w->loop, &j->timeout);
    j->ex->start(&j->call);
}

void job_admit(struct job *j)
{
    if (gate_admit(j->w, j))
        job_launch(j);
    else
        j->state = J_WAIT;
}

void job_finish_cached(struct job *j, const msgpack_object *result)
{
    j->cached = true;
    double ms = (double)(mono_ns() - j->t0_ns) / 1e6;
    finish(j, FAC_ST_SUCCESS, NULL, (struct str){0}, result, j->started_at, ms, j->env.attempt);
}

static void run(struct job *j)
{
    struct worker *w = j->w;
    j->timeout_s = j->tool->timeout;
    if (j->env.timeout > 0 && j->env.timeout < j->timeout_s) j->timeout_s = j->env.timeout;
    memset(&j->call, 0, sizeof j->call);
    j->call.loop = w->loop;
    j->call.cfg = w->cfg;
    j->call.tool = j->tool;
    j->call.args = j->env.args;
    j->call.job_id = j->env.id;
    j->call.site = j->env.site;
    j->call.user = j->env.user;
    j->call.zone = &j->zone;
    j->call.timeout = j->timeout_s;
    j->call.done = exec_done;
    j->cached = false;
    if (j->tool->cache_ttl > 0) {
        j->state = J_CACHE;
        j->started_at = now_ms();
        j->t0_ns = mono_ns();
        cache_lookup(j);
        return;
    }
    job_admit(j);
}

/* The last pre-run check came back: run the job unless it was canceled. */
static void check_done(struct job *j)
{
    if (--j->checks > 0) return;
    if (j->cancel_hit)
        cancel_unrun(j);
    else
        run(j);
}

static void cancel_checked(redisAsyncContext *c, void *r, void *priv)
{
    struct job *j = priv;
    redisReply *reply = r;
    if (!reply || j->state != J_CHECK) return;
    if (reply->type == REDIS_REPLY_STRING && strtoll(reply->str, NULL, 10) > now_ms())
        j->cancel_hit = true;
    check_done(j);
}

/* A rescued job (attempt > 0) may have finished before its worker died: then only its
 * audit row (same name, so never doubled) and its acknowledgement are still owed. */
static void recheck_done(redisAsyncContext *c, void *r, void *priv)
{
    struct job *j = priv;
    redisReply *reply = r;
    if (!reply || j->state != J_CHECK) return;
    if (reply->type != REDIS_REPLY_STRING) {
        check_done(j);
        return;
    }
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object rec;
    size_t off = 0;
    const msgpack_object *st, *res, *err, *att, *start, *dur;
    if (msgpack_unpack(reply->str, reply->len, &off, &z, &rec) != MSGPACK_UNPACK_SUCCESS ||
        !(st = mp_get(&rec, "status")) || st->type != MSGPACK_OBJECT_STR ||
        !(att = mp_get(&rec, "attempt")) || !(start = mp_get(&rec, "started_at")) ||
        !(dur = mp_get(&rec, "duration_ms"))) {
        msgpack_zone_destroy(&z);
        check_done(j); /* not a record this worker wrote: run the job as if none existed */
        return;
    }
    log_info("job id=%.*s already has a result (attempt %lld): acknowledging without running it "
             "again",
             (int)j->env.id.n, j->env.id.p, (long long)att->via.i64);
    char status[32];
    snprintf(status, sizeof status, "%.*s", (int)st->via.str.size, st->via.str.ptr);
    res = mp_get(&rec, "result");
    err = mp_get(&rec, "error");
    const msgpack_object *et = mp_get(err, "type"), *em = mp_get(err, "message");
    char type[64] = "";
    if (et && et->type == MSGPACK_OBJECT_STR)
        snprintf(type, sizeof type, "%.*s", (int)et->via.str.size, et->via.str.ptr);
    struct str msg = {0};
    if (em && em->type == MSGPACK_OBJECT_STR) msg = (struct str){em->via.str.ptr, em->via.str.size};
    struct ack *a = ack_new(j);
    a->stored = true;
    struct audit_row row = {.env = &j->env,
                            .status = status,
                            .err_type = err ? type : NULL,
                            .err_msg = msg,
                            .output = res,
                            .attempt = att->via.i64,
                            .started_at = start->via.i64,
                            .duration_s = dur->via.f64 / 1000.0,
                            .worker = j->w->wid};
    audit_submit(j->w->audit, &row, a);
    msgpack_zone_destroy(&z);
    release(j);
}

void job_start(struct worker *w, int qidx, const char *raw, size_t len)
{
    struct job *j = w->free_jobs;
    w->free_jobs = j->next_free;
    w->running++;
    j->seq++;
    j->state = J_CHECK;
    j->qidx = qidx;
    j->raw = malloc(len ? len : 1);
    memcpy(j->raw, raw, len);
    j->raw_len = len;
    msgpack_zone_init(&j->zone, 2048);
    char why[512];
    enum envelope_status st = envelope_decode(j->raw, len, (size_t)w->cfg->max_payload, &j->zone,
                                              &j->env, why, sizeof why);
    if (st != ENV_OK) {
        bury(j, envelope_error_type(st), why);
        return;
    }
    j->tool = config_tool(w->cfg, j->env.tool.p, j->env.tool.n);
    j->ex = j->tool ? exec_for(j->tool) : NULL;
    if (!j->ex) {
        snprintf(why, sizeof why,
                 "tool \"%.*s\" is not configured on this worker: add it to "
                 "\"tools\" in the config or fix the job's \"tool\"",
                 (int)j->env.tool.n, j->env.tool.p);
        bury(j, FAC_ERR_UNKNOWN_TOOL, why);
        return;
    }
    /* Replies come in order: the cancel check is answered before the result check. */
    j->checks = 1;
    j->cancel_hit = false;
    if (w->cancels_pending) {
        j->checks++;
        redisAsyncCommand(queue_cmd(w, qidx), cancel_checked, j, "ZSCORE %s %b", w->canceled_key,
                          j->env.id.p, (size_t)j->env.id.n);
    }
    if (j->env.attempt > 0) {
        char k[FAC_KEY_MAX];
        j->checks++;
        redisAsyncCommand(queue_cmd(w, qidx), recheck_done, j, "GET %s",
                          key_result(k, w->cfg->prefix, j->env.id.p, j->env.id.n));
    }
    check_done(j);
}

static bool on_server(const struct job *j, size_t server)
{
    return server == SIZE_MAX || j->w->map.queue_server[j->qidx] == server;
}

/* Aborts the jobs of one server (SIZE_MAX: of all); returns how many. */
static int abort_jobs(struct worker *w, size_t server)
{
    int n = 0;
    /* Waiting jobs first, so that ending a running one starts none of them. */
    for (int64_t i = 0; i < w->cfg->concurrency; i++)
        if (w->jobs[i].state == J_WAIT && on_server(&w->jobs[i], server))
            gate_remove(w, &w->jobs[i]);
    for (int64_t i = 0; i < w->cfg->concurrency; i++) {
        struct job *j = &w->jobs[i];
        if (j->state == J_FREE || !on_server(j, server)) continue;
        n++;
        if (j->state == J_RUN) {
            ev_timer_stop(w->loop, &j->timeout);
            j->ex->cancel(&j->call);
        }
        log_info("job id=%.*s aborted: it stays in flight and goes back to its queue",
                 (int)j->env.id.n, j->env.id.p);
        release(j);
    }
    return n;
}

void job_abort_all(struct worker *w)
{
    abort_jobs(w, SIZE_MAX);
}

int job_abort_server(struct worker *w, size_t server)
{
    return abort_jobs(w, server);
}
