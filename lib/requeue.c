/* Requeue of dead workers' in-flight jobs (see requeue.h). */
#include "requeue.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "envelope.h"
#include "keys.h"
#include "log.h"
#include "record.h"
#include "scripts.h"
#include "shard.h"

#define DEATHS_FORGIVEN 3
#define LOCK_MS 60000 /* longer than any requeue takes; expires if its holder dies */

int requeue_death_limit(int64_t max_attempts)
{
    return max_attempts > DEATHS_FORGIVEN ? (int)max_attempts : DEATHS_FORGIVEN;
}

static int move(redisContext *c, const char *from, const char *to, const char *gone,
                const char *old, size_t oldn, const char *nw, size_t nwn, const char *mode,
                int64_t cap)
{
    return script_move_sync(c, from, to, gone, (struct str){old, (uint32_t)oldn},
                            (struct str){nw, (uint32_t)nwn}, mode, cap) < 0
               ? -1
               : 0;
}

static bool result_exists(redisContext *c, const char *prefix, struct str id)
{
    char k[FAC_KEY_MAX];
    key_result(k, prefix, id.p, id.n);
    redisReply *r = redisCommand(c, "EXISTS %s", k);
    bool yes = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    return yes;
}

/* The job killed its worker once too often: dead entry plus a final result record. */
static int bury(redisContext *c, const struct fac_config *cfg, const char *q, const char *inflight,
                redisReply *job, const struct envelope *e, const struct attempt_error *death,
                const char *wid, const char *reason, const char *type)
{
    char dk[FAC_KEY_MAX];
    struct buf rec = {0}, dead = {0};
    int64_t now = now_ms();
    if (e && e->id.n) {
        struct result_rec rr = {.id = e->id,
                                .status = "Error",
                                .err_type = type,
                                .err_msg = {reason, (uint32_t)strlen(reason)},
                                .attempt = e->attempt,
                                .started_at = now,
                                .ended_at = now,
                                .worker = wid};
        record_pack_result(&rec, &rr);
        char rk[FAC_KEY_MAX];
        key_result(rk, cfg->prefix, e->id.p, e->id.n);
        freeReplyObject(redisCommand(c, "SET %s %b EX %lld", rk, rec.data, rec.len,
                                     (long long)cfg->result_ttl));
        if (e->reply_to.n) {
            freeReplyObject(redisCommand(c, "LPUSH %b %b", e->reply_to.p, (size_t)e->reply_to.n,
                                         rec.data, rec.len));
            freeReplyObject(redisCommand(c, "EXPIRE %b %lld", e->reply_to.p, (size_t)e->reply_to.n,
                                         (long long)cfg->reply_ttl));
        }
    }
    struct dead_rec d = {.id = e ? e->id : (struct str){0},
                         .queue = q,
                         .reason = reason,
                         .err_type = type,
                         .worker = wid,
                         .attempt = e ? e->attempt : -1,
                         .failed_at = now,
                         .job = {job->str, (uint32_t)job->len},
                         .history = e,
                         .last = death};
    record_pack_dead(&dead, &d);
    char uk[FAC_KEY_MAX];
    const char *unique = e && e->deduplicate ? key_unique(uk, cfg->prefix, e->id.p, e->id.n) : NULL;
    int rc = move(c, inflight, key_dead(dk, cfg->prefix, q), unique, job->str, job->len, dead.data,
                  dead.len, "dead", cfg->dead_max);
    buf_free(&rec);
    buf_free(&dead);
    return rc;
}

static int requeue_one(redisContext *c, const struct fac_config *cfg, const char *q,
                       const char *inflight, redisReply *job, const char *wid, bool crashed,
                       struct requeue_stats *st)
{
    char rk[FAC_KEY_MAX];
    key_ready(rk, cfg->prefix, q);
    if (!crashed) {
        st->requeued++;
        return move(c, inflight, rk, NULL, job->str, job->len, job->str, job->len, "front", 0);
    }
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    struct envelope e;
    char why[256];
    int rc;
    if (envelope_decode(job->str, job->len, (size_t)cfg->max_payload, &z, &e, why, sizeof why) !=
        ENV_OK) {
        char reason[400];
        snprintf(reason, sizeof reason, "the worker died holding an undecodable job (%s)", why);
        rc = bury(c, cfg, q, inflight, job, NULL, NULL, wid, reason, FAC_ERR_DECODE);
        st->dead++;
        goto out;
    }
    const struct tool_cfg *t = config_tool(cfg, e.tool.p, e.tool.n);
    int64_t max = e.max_attempts ? e.max_attempts : t ? t->max_attempts : 1;
    int limit = requeue_death_limit(max);
    char lost[200];
    int ln = snprintf(lost, sizeof lost, "worker %s died while running it", wid);
    struct attempt_error death = {e.attempt, FAC_ERR_WORKER_LOST, {lost, (uint32_t)ln}, now_ms()};
    if (e.attempt + 1 >= limit && !result_exists(c, cfg->prefix, e.id)) {
        char reason[300];
        snprintf(reason, sizeof reason,
                 "job %.*s killed its worker %d times (last: %s); it is "
                 "not run again: fix the tool or its input, then retry it from the dead list",
                 (int)e.id.n, e.id.p, (int)(e.attempt + 1), wid);
        log_warn("poison job id=%.*s tool=%.*s deaths=%d: moved to the dead list", (int)e.id.n,
                 e.id.p, (int)e.tool.n, e.tool.p, (int)(e.attempt + 1));
        rc = bury(c, cfg, q, inflight, job, &e, &death, wid, reason, FAC_ERR_WORKER_LOST);
        st->dead++;
        goto out;
    }
    struct buf nb = {0};
    envelope_rewrite(&e, &(struct envelope_update){.attempt = e.attempt + 1, .error = &death}, &nb);
    rc = move(c, inflight, rk, NULL, job->str, job->len, nb.data, nb.len, "front", 0);
    buf_free(&nb);
    st->requeued++;
out:
    msgpack_zone_destroy(&z);
    return rc;
}

/* The queues a worker served: from its registry hash, else this config's. */
static char **worker_queues(redisContext *c, const struct fac_config *cfg, const char *wid,
                            size_t *n)
{
    char k[FAC_KEY_MAX];
    redisReply *r = redisCommand(c, "HGET %s queues", key_worker(k, cfg->prefix, wid));
    const char *list = r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
    char **out;
    if (!list) {
        out = calloc(cfg->nqueues, sizeof *out);
        for (size_t i = 0; i < cfg->nqueues; i++)
            out[i] = strdup(cfg->queues[i]);
        *n = cfg->nqueues;
    } else {
        size_t cap = 1;
        for (const char *p = list; *p; p++)
            cap += *p == ',';
        out = calloc(cap, sizeof *out);
        *n = 0;
        char *dup = strdup(list), *save = NULL;
        for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
            out[(*n)++] = strdup(tok);
        free(dup);
    }
    freeReplyObject(r);
    return out;
}

/* The connection to a queue's server, or NULL with err set. */
static redisContext *queue_conn(struct shard_conns *sc, const struct fac_config *cfg, const char *q,
                                const char *wid, char *err, size_t errlen)
{
    size_t server = shard_of(cfg, sc->map, q);
    char why[1200];
    redisContext *c = shard_conn(sc, server, NULL, why, sizeof why);
    if (!c) {
        char where[1200];
        snprintf(err, errlen, "requeue of worker %s: queue %s's Redis at %s: %s", wid, q,
                 shard_display(sc->map, server, where, sizeof where),
                 why[0] ? why : "unreachable a moment ago");
    }
    return c;
}

int requeue_list(redisContext *c, const struct fac_config *cfg, const char *queue, const char *wid,
                 bool crashed, struct requeue_stats *st, char *err, size_t errlen)
{
    char ik[FAC_KEY_MAX];
    key_inflight(ik, cfg->prefix, queue, wid);
    redisReply *r = redisCommand(c, "LRANGE %s 0 -1", ik);
    int rc = 0;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "requeue of worker %s: LRANGE %s failed: %s", wid, ik,
                 r ? r->str : c->errstr);
        rc = -1;
    }
    /* Oldest first (the list's right end), so requeued jobs keep their order. */
    for (size_t j = r && rc == 0 ? r->elements : 0; j-- > 0 && rc == 0;)
        if (requeue_one(c, cfg, queue, ik, r->element[j], wid, crashed, st)) {
            snprintf(err, errlen, "requeue of worker %s: moving a job out of %s failed: %s", wid,
                     ik, c->err ? c->errstr : "script error");
            rc = -1;
        }
    freeReplyObject(r);
    return rc;
}

static int requeue_locked(struct shard_conns *sc, redisContext *home, const struct fac_config *cfg,
                          const char *wid, bool crashed, struct requeue_stats *st, char *err,
                          size_t errlen)
{
    size_t nq;
    char **queues = worker_queues(home, cfg, wid, &nq);
    int rc = 0;
    for (size_t i = 0; i < nq && rc == 0; i++) {
        redisContext *c = queue_conn(sc, cfg, queues[i], wid, err, errlen);
        rc = c ? requeue_list(c, cfg, queues[i], wid, crashed, st, err, errlen) : -1;
    }
    if (rc == 0) {
        char k[FAC_KEY_MAX];
        freeReplyObject(redisCommand(home, "ZREM %s %s", key_workers(k, cfg->prefix), wid));
        freeReplyObject(redisCommand(home, "DEL %s", key_worker(k, cfg->prefix, wid)));
    }
    for (size_t i = 0; i < nq; i++)
        free(queues[i]);
    free(queues);
    return rc;
}

/* The supervisor (its own workers) and the scheduler (a vanished host's) may both come
 * for one worker: a lock lets one of them do it. */
int requeue_worker(struct shard_conns *sc, const struct fac_config *cfg, const char *wid,
                   bool crashed, struct requeue_stats *st, char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    redisContext *c = shard_conn(sc, SHARD_HOME, NULL, err, errlen);
    if (!c) {
        if (!err[0]) snprintf(err, errlen, "requeue of worker %s: the home Redis is away", wid);
        return -1;
    }
    char lk[FAC_KEY_MAX], token[160];
    snprintf(lk, sizeof lk, FAC_KEY_RESCUE_LOCK, cfg->prefix, wid);
    snprintf(token, sizeof token, "%s:%d", cfg->host_id, (int)getpid());
    redisReply *r = redisCommand(c, "SET %s %s NX PX %d", lk, token, LOCK_MS);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "requeue of worker %s: SET %s failed: %s", wid, lk,
                 r ? r->str : c->errstr);
        freeReplyObject(r);
        return -1;
    }
    st->skipped = r->type != REDIS_REPLY_STATUS; /* nil: someone else holds it */
    freeReplyObject(r);
    if (st->skipped) return 0;
    int rc = requeue_locked(sc, c, cfg, wid, crashed, st, err, errlen);
    const char *av[] = {lk, token};
    size_t al[] = {strlen(lk), strlen(token)};
    freeReplyObject(script_run_sync(c, &script_release, 1, 1, av, al));
    return rc;
}

/* Whether pid is a process that may still hold jobs: it exists and is not a zombie. A
 * worker SIGKILLed with its supervisor stays a zombie until init reaps it, and a new
 * supervisor may start in that moment; a zombie runs nothing. */
static bool pid_running(long pid)
{
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) return false;
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return true; /* cannot tell: leave it to the scheduler's dead_after */
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *state = strrchr(buf, ')'); /* the name in "pid (name) S ..." may hold ')' */
    return !(state && state[1] == ' ' && (state[2] == 'Z' || state[2] == 'X'));
}

int requeue_orphans(struct shard_conns *sc, const struct fac_config *cfg, char *err, size_t errlen)
{
    char k[FAC_KEY_MAX];
    redisContext *c = shard_conn(sc, SHARD_HOME, NULL, err, errlen);
    if (!c) {
        if (!err[0]) snprintf(err, errlen, "the home Redis is away");
        return -1;
    }
    redisReply *r = redisCommand(c, "ZRANGE %s 0 -1", key_workers(k, cfg->prefix));
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(err, errlen, "reading %s failed: %s", k, r ? r->str : c->errstr);
        freeReplyObject(r);
        return -1;
    }
    size_t hl = strlen(cfg->host_id);
    int rescued = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const char *wid = r->element[i]->str;
        if (strncmp(wid, cfg->host_id, hl) != 0 || wid[hl] != ':') continue;
        long pid = strtol(wid + hl + 1, NULL, 10);
        if (pid > 0 && pid_running(pid)) continue;
        struct requeue_stats st;
        if (requeue_worker(sc, cfg, wid, true, &st, err, errlen)) {
            freeReplyObject(r);
            return -1;
        }
        log_info("rescued the jobs of worker %s, which died with an earlier supervisor: "
                 "requeued=%d dead=%d",
                 wid, st.requeued, st.dead);
        rescued++;
    }
    freeReplyObject(r);
    return rescued;
}
