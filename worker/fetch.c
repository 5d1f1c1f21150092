/*
 * Reliable fetch in strict priority order, without polling.
 *
 * A fetch is one Lua script that LMOVEs up to `free slots` jobs from the ready lists
 * into this worker's in-flight lists, highest-priority queue first. When it comes back
 * short, the queues are empty, and the worker parks one blocking `BLMOVE Q Q RIGHT
 * RIGHT 0` per queue on its own connection: moving a list's last element back onto the
 * same end takes nothing, but returns the moment a job arrives, and that wake-up
 * triggers the next fetch. A job pushed between the short fetch and the BLMOVE is seen
 * at once (the list is non-empty), so no wake-up is lost.
 *
 * With queue shards (docs/sharding.md) a fetch is a pass over the servers in the order
 * of their highest-priority queue: the script runs on the first server for every free
 * slot, and only when it comes back short does the pass go on to the next server for
 * the slots still free. Priority is strict within a server, and a server is drained
 * before the next one is asked; a server whose queues are all known empty (every peek
 * parked) is skipped. With one server this is the one script it always was.
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

static int free_slots(const struct worker *w)
{
    return (int)w->cfg->concurrency - w->running;
}

static bool all_peeks_armed(const struct worker *w, const struct wserver *srv)
{
    for (size_t i = 0; i < srv->nq; i++)
        if (!w->peek_armed[srv->queues[i]]) return false;
    return true;
}

static bool fetch_from(struct worker *w, size_t pos);

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
    w->cancels_pending = reply->elements && reply->element[0]->integer > 0;
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
        fetch_arm_peeks(w, srv);
        if (w->mode == WM_RUN && free_slots(w) > 0 && w->unacked < unacked_limit(w))
            fetch_from(w, w->fetch_pos + 1);
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
    redisAsyncCommandArgv(srv->cmd, fetch_done, srv, a, argv, lens);
}

/* Sends the fetch to the first server from position pos of the fetch order whose queues
 * may hold jobs; false when every one is known empty. */
static bool fetch_from(struct worker *w, size_t pos)
{
    for (; pos < w->map.nfetch; pos++) {
        struct wserver *srv = &w->servers[w->map.fetch_order[pos]];
        /* Away, or every queue was empty and none has woken its peek since. */
        if (!srv->up || all_peeks_armed(w, srv)) continue;
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

void fetch_on_prepare(struct worker *w)
{
    if (!w->want_fetch || w->fetching || !w->ready || w->mode != WM_RUN) return;
    if (free_slots(w) <= 0 || w->unacked >= unacked_limit(w)) return;
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

void fetch_arm_peeks(struct worker *w, const struct wserver *srv)
{
    if (w->mode != WM_RUN) return;
    for (size_t k = 0; k < srv->nq; k++) {
        size_t i = srv->queues[k];
        if (w->peek_armed[i]) continue;
        w->peek_armed[i] = true;
        redisAsyncCommand(w->peek[i], peek_done, (void *)(intptr_t)i, "BLMOVE %s %s RIGHT RIGHT 0",
                          w->ready_key[i], w->ready_key[i]);
    }
}
