/*
 * Reliable fetch in strict priority order, without polling.
 *
 * A fetch is one Lua script that LMOVEs up to `free slots` jobs from the ready lists
 * into this worker's in-flight lists, highest-priority queue first. When it comes back
 * short, the queues are empty, and the worker parks one blocking BLMOVE per queue on
 * that queue's own connection. A job pushed between the short fetch and the BLMOVE is
 * seen at once (the list is non-empty), so no wake-up is lost.
 *
 * While the worker has a slot free for it, the parked BLMOVE is a take: `BLMOVE ready
 * inflight RIGHT RIGHT 0` moves the job into the in-flight list the moment it is pushed
 * (as reliable as the fetch's LMOVE: a killed worker's in-flight list is requeued) and
 * hands it over in the same reply, so a job meeting an idle worker costs no fetch round
 * trip. A parked take holds its slot. When a take brings a job and a slot is still free,
 * the worker parks the next take at once; the take is followed on its connection by
 * `LLEN ready`, which Redis answers right after the take, and a queue with more jobs
 * behind the taken one gets a fetch (a burst is taken in batches, not one round trip per
 * job). Without a free slot the parked BLMOVE is a peek, `BLMOVE Q Q RIGHT RIGHT 0`: moving a
 * list's last element back onto the same end takes nothing but returns the moment a job arrives,
 * and the wake-up triggers a fetch.
 *
 * Redis gives a pushed job to the client that has waited longest, so a take may hand a
 * job to a worker that is busy with others; the worker's loop never waits for the disk
 * (the audit's fdatasync runs on a thread), so the job starts at once all the same.
 * A take on a lower-priority queue fires only while that queue was empty at the last
 * fetch: priority decides between waiting jobs, and a take never passes one by.
 *
 * A take ends without a job through CLIENT UNBLOCK: when the worker stops fetching
 * (quiet, draining), and when a fetch needs the slots the takes hold (a peek woke on
 * another queue). A job taken just before the unblock arrives runs (or, aborting, stays
 * in flight and goes back to its queue), like the jobs of a fetch that was on the wire.
 * An envelope over max_payload that a take brought is moved from the in-flight list's
 * tail (nothing else pushes there) to the dead list by a script on the take's own
 * connection, before that connection parks again; a peek brings the envelope too, so
 * the take costs no extra copy. A taken job skips the fetch script's count of waiting
 * cancels: every cancel the worker hears (cancel.c) counts as waiting until a fetch sent
 * after it has counted again.
 *
 * With queue shards (docs/sharding.md) a fetch is a pass over the servers in the order
 * of their highest-priority queue: the script runs on the first server for every free
 * slot, and only when it comes back short does the pass go on to the next server for
 * the slots still free. Priority is strict within a server, and a server is drained
 * before the next one is asked; a server whose queues are all known empty (every peek
 * parked) is skipped. A server the pass goes on from parks peeks, not takes, since takes
 * would hold the slots the servers after it are asked for. With one server this is the
 * one script it always was.
 */
#include <stdio.h>
#include <string.h>

#include "fac/protocol.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "scripts.h"
#include "worker.h"

static int unacked_limit(const struct worker *w)
{
    int64_t n = 8 * w->cfg->concurrency;
    return (int)(n < 1024 ? 1024 : n);
}

/* Finished jobs wait for their audit rows: past 1,024 of them, or an eighth of
 * max_memory of row text (1 MB rows and a slow disk or database; the rows being written
 * have a rendered copy too), no more is taken until the audit catches up. */
static bool audit_behind(const struct worker *w)
{
    return w->unacked >= unacked_limit(w) ||
           audit_pending_bytes(w->audit) > (size_t)(w->cfg->max_memory / 8);
}

static int takes_armed(const struct worker *w)
{
    int n = 0;
    for (size_t i = 0; i < w->cfg->nqueues; i++)
        n += w->take_armed[i];
    return n;
}

static int free_slots(const struct worker *w)
{
    return (int)w->cfg->concurrency - w->running - takes_armed(w);
}

static bool all_peeks_armed(const struct worker *w, const struct wserver *srv)
{
    for (size_t i = 0; i < srv->nq; i++)
        if (!w->peek_armed[srv->queues[i]]) return false;
    return true;
}

static bool fetch_from(struct worker *w, size_t pos);
static bool fetch_may_find(const struct worker *w, size_t pos);
static void arm(struct worker *w, const struct wserver *srv, bool takes);

static void fetch_done(redisAsyncContext *c, void *r, void *priv)
{
    struct wserver *srv = priv;
    struct worker *w = srv->w;
    redisReply *reply = r;
    w->fetching = false;
    if (!reply) { /* a lost shard (servers.c): the next pass goes without it */
        if (!w->exit_code) fetch_request(w);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOSCRIPT", 8) == 0) {
            redisAsyncCommand(srv->cmd, NULL, NULL, "SCRIPT LOAD %s", script_fetch.src);
            w->want_fetch = true;
            return;
        }
        worker_fatal_redis_on(c, "fetch script", reply->str);
        return;
    }
    if (w->mode == WM_ABORT) { /* what came stays in flight and goes back to its queue */
        worker_maybe_exit(w);
        return;
    }
    size_t got = reply->elements / 2;
    w->cancels_pending = (reply->elements && reply->element[0]->integer > 0) ||
                         w->cancels_heard != w->cancels_heard_at_fetch;
    for (size_t i = 1; i + 1 < reply->elements; i += 2) {
        redisReply *q = reply->element[i], *job = reply->element[i + 1];
        if (q->integer < 0 && (size_t)-q->integer <= srv->nq) {
            log_warn("job id= queue=%s moved to the dead list: %s: the envelope has %lld "
                     "bytes, over max_payload (%lld): put large data somewhere else and pass a "
                     "reference",
                     w->cfg->queues[srv->queues[-q->integer - 1]], FAC_ERR_TOO_LARGE, job->integer,
                     (long long)w->cfg->max_payload);
            continue;
        }
        long long k = q->integer - 1; /* the script's index into this server's queues */
        if (k < 0 || (size_t)k >= srv->nq || job->type != REDIS_REPLY_STRING) continue;
        job_start(w, (int)srv->queues[k], job->str, job->len);
    }
    if ((int)got < w->fetch_asked) {
        /* The pass goes on to the next server with the slots still free: this one parks
         * peeks, which hold none (takes here would starve the servers after it). */
        bool go_on = w->mode == WM_RUN && free_slots(w) > 0 && !audit_behind(w) &&
                     fetch_may_find(w, w->fetch_pos + 1);
        arm(w, srv, !go_on);
        if (go_on) fetch_from(w, w->fetch_pos + 1);
    }
    worker_maybe_exit(w);
}

static void send_fetch(struct worker *w, struct wserver *srv)
{
    size_t nq = srv->nq;
    int n = free_slots(w);
    const char *argv[4 + 3 * nq + 4 + nq];
    size_t lens[4 + 3 * nq + 4 + nq];
    char nk[16], nn[16], mp[24], dm[24], dead[nq][FAC_KEY_MAX];
    snprintf(nk, sizeof nk, "%zu", 1 + 3 * nq);
    snprintf(nn, sizeof nn, "%d", n);
    snprintf(mp, sizeof mp, "%lld", (long long)w->cfg->max_payload);
    snprintf(dm, sizeof dm, "%lld", (long long)w->cfg->dead_max);
    int a = 0;
    argv[a] = "EVALSHA", lens[a++] = 7;
    argv[a] = script_fetch.sha, lens[a++] = 40;
    argv[a] = nk, lens[a++] = strlen(nk);
    argv[a] = w->canceled_key, lens[a++] = strlen(w->canceled_key);
    for (size_t i = 0; i < nq; i++) {
        size_t q = srv->queues[i];
        argv[a] = w->ready_key[q], lens[a++] = strlen(w->ready_key[q]);
        argv[a] = w->inflight_key[q], lens[a++] = strlen(w->inflight_key[q]);
        argv[a] = key_dead(dead[i], w->cfg->prefix, w->cfg->queues[q]);
        lens[a++] = strlen(dead[i]);
    }
    argv[a] = nn, lens[a++] = strlen(nn);
    argv[a] = mp, lens[a++] = strlen(mp);
    argv[a] = dm, lens[a++] = strlen(dm);
    argv[a] = w->wid, lens[a++] = strlen(w->wid);
    for (size_t i = 0; i < nq; i++)
        argv[a] = w->cfg->queues[srv->queues[i]],
        lens[a++] = strlen(w->cfg->queues[srv->queues[i]]);
    w->fetching = true;
    w->fetch_asked = n;
    srv->backlog = false;
    w->cancels_heard_at_fetch = w->cancels_heard;
    redisAsyncCommandArgv(srv->cmd, fetch_done, srv, a, argv, lens);
}

/* Sends the fetch to the first server from position pos of the fetch order whose queues
 * may hold jobs; false when every one is known empty. */
static bool fetch_from(struct worker *w, size_t pos)
{
    for (; pos < w->map.nfetch; pos++) {
        struct wserver *srv = &w->servers[w->map.fetch_order[pos]];
        /* Away, or every queue was empty and none has woken its peek since. */
        if (!srv->up || (all_peeks_armed(w, srv) && !srv->backlog)) continue;
        w->fetch_pos = pos;
        send_fetch(w, srv);
        return true;
    }
    return false;
}

void fetch_request(struct worker *w)
{
    w->want_fetch = true;
}

/* 0: the take was not blocked yet (its BLMOVE, on another connection, came after the
 * UNBLOCK); the next loop turn asks again. */
static void unblock_done(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = conn_worker(c);
    size_t i = (size_t)(intptr_t)priv;
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 0 && w->take_armed[i])
        w->unblocking[i] = false;
}

/* Ends queue i's parked take (its callback gets a nil reply). */
static void unblock(struct worker *w, size_t i)
{
    char id[24];
    if (w->unblocking[i] || !w->peek_id[i]) return; /* the id comes with the next reply */
    snprintf(id, sizeof id, "%lld", w->peek_id[i]);
    w->unblocking[i] = true;
    redisAsyncCommand(queue_cmd(w, (int)i), unblock_done, (void *)(intptr_t)i, "CLIENT UNBLOCK %s",
                      id);
}

/* A server from position pos of the fetch order may hold jobs: up, and a queue of it
 * not parked (or a take saw more behind its job). */
static bool fetch_may_find(const struct worker *w, size_t pos)
{
    for (; pos < w->map.nfetch; pos++) {
        const struct wserver *srv = &w->servers[w->map.fetch_order[pos]];
        if (srv->up && (!all_peeks_armed(w, srv) || srv->backlog)) return true;
    }
    return false;
}

void fetch_on_prepare(struct worker *w)
{
    if (!w->ready) return; /* booting (the loop also turns while the master is pinned) */
    /* A worker that stopped fetching takes nothing more; a fetch that wants the slots the
     * takes hold gets them. */
    bool release_takes =
        w->mode != WM_RUN || (w->want_fetch && !w->fetching && free_slots(w) <= 0 &&
                              w->running < w->cfg->concurrency && fetch_may_find(w, 0));
    for (size_t i = 0; release_takes && i < w->cfg->nqueues; i++)
        if (w->take_armed[i]) unblock(w, i);
    if (!w->want_fetch || w->fetching || w->mode != WM_RUN) return;
    if (free_slots(w) <= 0 || audit_behind(w)) return;
    w->want_fetch = false;
    fetch_from(w, 0);
}

static void peek_done(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = conn_worker(c);
    size_t i = (size_t)(intptr_t)priv;
    redisReply *reply = r;
    if (!reply) return;
    w->peek_armed[i] = false;
    if (reply->type == REDIS_REPLY_ERROR) {
        worker_fatal_redis_on(c, "BLMOVE wake-up", reply->str);
        return;
    }
    fetch_request(w);
}

static void bury_done(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = conn_worker(c);
    size_t i = (size_t)(intptr_t)priv;
    redisReply *reply = r;
    if (!reply) return; /* in flight still: requeued with what else this worker held */
    if (reply->type == REDIS_REPLY_ERROR)
        worker_fatal_redis_on(c, "moving an oversized taken job to the dead list", reply->str);
    else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0)
        log_error("queue=%s: the oversized job a take brought was not at the end of %s; it stays "
                  "in flight and goes back to its queue when this worker exits",
                  w->cfg->queues[i], w->inflight_key[i]);
}

/* The take brought an envelope over max_payload: to the dead list, inside Redis. */
static void bury_taken(struct worker *w, redisAsyncContext *c, size_t i, size_t len)
{
    char size[24], mp[24], dm[24], dead[FAC_KEY_MAX];
    snprintf(size, sizeof size, "%zu", len);
    snprintf(mp, sizeof mp, "%lld", (long long)w->cfg->max_payload);
    snprintf(dm, sizeof dm, "%lld", (long long)w->cfg->dead_max);
    key_dead(dead, w->cfg->prefix, w->cfg->queues[i]);
    const char *argv[] = {
        "EVAL", script_bury_taken.src, "2", w->inflight_key[i], dead, size, mp, dm,
        w->wid, w->cfg->queues[i]};
    size_t lens[10];
    for (size_t k = 0; k < 10; k++)
        lens[k] = strlen(argv[k]);
    redisAsyncCommandArgv(c, bury_done, (void *)(intptr_t)i, 10, argv, lens);
    log_warn("job id= queue=%s moved to the dead list: %s: the envelope has %zu bytes, over "
             "max_payload (%lld): put large data somewhere else and pass a reference",
             w->cfg->queues[i], FAC_ERR_TOO_LARGE, len, (long long)w->cfg->max_payload);
}

static void arm_take(struct worker *w, size_t i);

static void take_done(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = conn_worker(c);
    size_t i = (size_t)(intptr_t)priv;
    redisReply *reply = r;
    if (!reply) return; /* the connection is gone: servers.c or the exit requeue it */
    w->peek_armed[i] = w->take_armed[i] = w->unblocking[i] = false;
    if (reply->type == REDIS_REPLY_ERROR) {
        worker_fatal_redis_on(c, "BLMOVE take", reply->str);
        return;
    }
    w->take_got[i] = reply->type == REDIS_REPLY_STRING;
    if (w->take_got[i]) {
        if (reply->len > (size_t)w->cfg->max_payload)
            bury_taken(w, c, i, reply->len); /* before the connection parks again */
        else if (w->mode != WM_ABORT)        /* aborting, it stays in flight as in fetch_done */
            job_start(w, (int)i, reply->str, reply->len);
    } else {
        fetch_request(w); /* unblocked: its slot is free for the fetch that wanted it */
    }
    worker_maybe_exit(w);
}

/* LLEN ready, answered in the same packet as its take. After a job: an empty queue
 * gets the next take at once, a queue with more jobs behind it a fetch, which takes
 * them in one round trip instead of a take each and parks the take when it comes back
 * short. */
static void backlog_known(redisAsyncContext *c, void *r, void *priv)
{
    struct wserver *srv = c->data;
    struct worker *w = srv->w;
    size_t i = (size_t)(intptr_t)priv;
    redisReply *reply = r;
    if (!reply || reply->type != REDIS_REPLY_INTEGER || !w->take_got[i]) return;
    w->take_got[i] = false;
    if (reply->integer > 0) {
        srv->backlog = true;
        fetch_request(w);
    } else if (w->mode == WM_RUN && !w->peek_armed[i] && free_slots(w) > 0 && !audit_behind(w)) {
        arm_take(w, i);
    }
}

static void id_known(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;
    if (reply && reply->type == REDIS_REPLY_INTEGER)
        conn_worker(c)->peek_id[(size_t)(intptr_t)priv] = reply->integer;
}

static void arm_take(struct worker *w, size_t i)
{
    w->peek_armed[i] = w->take_armed[i] = true;
    redisAsyncCommand(w->peek[i], take_done, (void *)(intptr_t)i, "BLMOVE %s %s RIGHT RIGHT 0",
                      w->ready_key[i], w->inflight_key[i]);
    redisAsyncCommand(w->peek[i], backlog_known, (void *)(intptr_t)i, "LLEN %s", w->ready_key[i]);
}

/* Parks a BLMOVE on each of srv's queues that has none: a take while a slot is free for
 * it (and takes are wanted), else a peek. */
static void arm(struct worker *w, const struct wserver *srv, bool takes)
{
    if (w->mode != WM_RUN) return;
    for (size_t k = 0; k < srv->nq; k++) {
        size_t i = srv->queues[k];
        if (w->peek_armed[i] || !w->peek[i]) continue;
        if (!w->peek_id[i])
            redisAsyncCommand(w->peek[i], id_known, (void *)(intptr_t)i, "CLIENT ID");
        if (takes && srv->may_unblock && free_slots(w) > 0 && !audit_behind(w)) {
            arm_take(w, i);
        } else {
            w->peek_armed[i] = true;
            redisAsyncCommand(w->peek[i], peek_done, (void *)(intptr_t)i,
                              "BLMOVE %s %s RIGHT RIGHT 0", w->ready_key[i], w->ready_key[i]);
        }
    }
}
