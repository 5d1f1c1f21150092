/*
 * The worker's Redis servers (lib/shard.h, docs/sharding.md): one command connection
 * per server, each queue's wake-up connection on its own server, and the cancel
 * subscription on home.
 *
 * Losing the home server ends the worker (exit 4): the registry, the heartbeat and the
 * cancels are there, and the supervisor requeues what it held. Losing a queue shard only
 * pauses that shard's queues: the jobs this worker holds from it are dropped (they stay
 * in its in-flight lists there), its other connections are closed, and it is reconnected
 * with a delay that doubles up to RECONNECT_MAX_MS, while the other servers' queues are
 * served on. Once the shard answers again, the worker puts what it held there back on
 * the queues (attempt + 1, as after a crash: a job that had finished is acknowledged
 * without running again) and fetches from it again.
 */
#include <hiredis/adapters/libev.h>
#include <stdio.h>
#include <string.h>

#include "fac/protocol.h"
#include "job.h"
#include "log.h"
#include "requeue.h"
#include "scripts.h"
#include "worker.h"

#define RECONNECT_FIRST_MS 250
#define RECONNECT_MAX_MS 10000
/* The first fetch waits for every server's first connection attempt, so that the
 * priority across servers holds from the first job on; a shard that neither answers
 * nor refuses (a black hole) holds it up this long at most. */
#define SETTLE_WAIT_S 2.0

const char *worker_conn_where(const redisAsyncContext *c, char *out, size_t outlen)
{
    const struct wserver *srv = c->data;
    return shard_display(&srv->w->map, srv->index, out, outlen);
}

/* "short,long": the queues a server holds, for log lines. */
static const char *server_queues(const struct wserver *srv, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t k = 0; k < srv->nq && n < outlen; k++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", k ? "," : "",
                              srv->w->cfg->queues[srv->queues[k]]);
    return out;
}

/* ---- connections ---- */

/* A take can only be ended by CLIENT UNBLOCK (worker/fetch.c), which an ACL without
 * @admin refuses (Frappe's RQ users are `+@all -@admin`). Asked once per connection
 * round with an id no client has: 0 when allowed; an error means peeks only. */
static void on_unblock_checked(redisAsyncContext *c, void *r, void *priv)
{
    struct wserver *srv = c->data;
    redisReply *reply = r;
    if (!reply) return;
    srv->may_unblock = reply->type == REDIS_REPLY_INTEGER;
    if (reply->type == REDIS_REPLY_ERROR && !srv->w->unblock_warned) {
        char where[1200];
        srv->w->unblock_warned = true;
        log_warn("Redis at %s refuses CLIENT UNBLOCK (%s): idle workers wait with a peek "
                 "instead of a take, one round trip more per job that meets an idle worker; "
                 "allow it to the pool's Redis user with `ACL SETUSER <user> +client|unblock`",
                 worker_conn_where(c, where, sizeof where), reply->str);
    }
}

static void on_boot_reply(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = conn_worker(c);
    redisReply *reply = r;
    const char *what = priv;
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char where[1200];
        worker_conn_where(c, where, sizeof where);
        if (redis_error_is_auth(reply->str)) {
            log_error("Redis at %s refused this worker's %s (%.80s): check the password in the "
                      "redis URL or redis_password_file",
                      where, what, reply->str);
            w->exit_code = FAC_EXIT_BOOT;
        } else {
            log_error("Redis at %s: %s failed: %.200s", where, what, reply->str);
            w->exit_code = FAC_EXIT_REDIS;
        }
        ev_break(w->loop, EVBREAK_ALL);
        return;
    }
    if (strcmp(what, "SELECT") == 0) worker_conn_booted(c->data); /* the last boot command */
}

static void on_connect(const redisAsyncContext *c, int status)
{
    struct wserver *srv = c->data;
    struct worker *w = srv->w;
    if (status == REDIS_OK || w->exit_code) return;
    if (srv->index != SHARD_HOME) {
        server_lost(srv, c, "connect", c->errstr);
        return;
    }
    char where[1200];
    log_error("cannot connect to Redis at %s: %s", worker_conn_where(c, where, sizeof where),
              c->errstr);
    w->exit_code = FAC_EXIT_REDIS;
    ev_break(w->loop, EVBREAK_ALL);
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    struct wserver *srv = c->data;
    const char *why = c->errstr[0] ? c->errstr : "closed by the server";
    if (srv->index != SHARD_HOME)
        server_lost(srv, c, "a connection", why);
    else
        worker_fatal_redis_on(c, "a connection", why);
}

redisAsyncContext *worker_conn_open(struct wserver *srv, const char *name, bool pubsub)
{
    struct worker *w = srv->w;
    const struct redis_target *t = &w->map.servers[srv->index];
    redisAsyncContext *c =
        t->path[0] ? redisAsyncConnectUnix(t->path) : redisAsyncConnect(t->host, t->port);
    if (!c || c->err) {
        char where[1200];
        log_error("cannot connect to Redis at %s: %s", redis_target_display(t, where, sizeof where),
                  c ? c->errstr : "out of memory");
        if (c) redisAsyncFree(c);
        return NULL;
    }
    c->data = srv;
    redisLibevAttach(w->loop, c);
    redisAsyncSetConnectCallback(c, on_connect);
    redisAsyncSetDisconnectCallback(c, on_disconnect);
    const char *argv[3];
    size_t lens[3];
    int argc = redis_auth_argv(t, argv, lens);
    if (argc) redisAsyncCommandArgv(c, on_boot_reply, "credentials", argc, argv, lens);
    redisAsyncCommand(c, on_boot_reply, "CLIENT SETNAME", "CLIENT SETNAME fac-%s-%s", name, w->wid);
    if (!pubsub) redisAsyncCommand(c, on_boot_reply, "SELECT", "SELECT %d", t->db);
    return c;
}

int server_pin(struct wserver *srv, char *err, size_t errlen)
{
    struct worker *w = srv->w;
    enum redis_connect_status st =
        redis_target_pin(&srv->via, 2.0, &w->map.servers[srv->index], err, errlen);
    if (st == REDIS_CONNECT_OK) return 0;
    if (st == REDIS_CONNECT_AUTH && !w->exit_code) { /* a config error, as for home */
        log_error("%s", err);
        w->exit_code = FAC_EXIT_BOOT;
        ev_break(w->loop, EVBREAK_ALL);
    }
    return -1;
}

int server_connect(struct wserver *srv)
{
    struct worker *w = srv->w;
    bool home = srv->index == SHARD_HOME;
    if (!home && srv->via.nsentinels) { /* ask the shard's sentinels for its master now */
        char err[1400];
        if (server_pin(srv, err, sizeof err)) {
            server_lost(srv, NULL, "finding its master", err);
            return 0;
        }
    }
    srv->booting = 1 + (int)srv->nq + home;
    if (!(srv->cmd = worker_conn_open(srv, "cmd", false))) return -1;
    redisAsyncCommand(srv->cmd, on_boot_reply, "SCRIPT LOAD", "SCRIPT LOAD %s", script_fetch.src);
    srv->may_unblock = false;
    redisAsyncCommand(srv->cmd, on_unblock_checked, NULL, "CLIENT UNBLOCK 0");
    for (size_t k = 0; k < srv->nq; k++) {
        size_t q = srv->queues[k];
        if (!(w->peek[q] = worker_conn_open(srv, w->cfg->queues[q], false))) return -1;
    }
    if (home && !(w->cancel_sub = cancel_open(w))) return -1;
    return 0;
}

/* ---- a queue shard lost and back ---- */

/* Puts back what this worker held on the shard when it was lost; -1 with err set. */
static int requeue_held(struct wserver *srv, struct requeue_stats *st, char *err, size_t errlen)
{
    struct worker *w = srv->w;
    enum redis_connect_status cs;
    redisContext *c =
        redis_connect_sync(&w->map.servers[srv->index], 2.0, &cs, err, errlen); /* a moment */
    if (!c) return -1;
    memset(st, 0, sizeof *st);
    int rc = 0;
    for (size_t k = 0; k < srv->nq && rc == 0; k++)
        rc = requeue_list(c, w->cfg, w->cfg->queues[srv->queues[k]], w->wid, true, st, err, errlen);
    redisFree(c);
    return rc;
}

static void shard_up(struct wserver *srv)
{
    struct worker *w = srv->w;
    char where[1200], queues[512];
    shard_display(&w->map, srv->index, where, sizeof where);
    if (srv->was_lost) {
        struct requeue_stats st;
        char err[1400];
        if (requeue_held(srv, &st, err, sizeof err)) {
            server_lost(srv, NULL, "putting back the jobs held there", err);
            return;
        }
        log_info("queue shard at %s (queues %s) is back: serving its queues again; %d jobs this "
                 "worker held there went back to their queues (attempt + 1), %d went dead",
                 where, server_queues(srv, queues, sizeof queues), st.requeued, st.dead);
    }
    srv->up = true;
    srv->backoff_ms = 0;
    fetch_request(w);
}

/* The worker serves once home is up and every shard is up or known to be away. */
static void settle(struct wserver *srv)
{
    struct worker *w = srv->w;
    if (srv->settled) return;
    srv->settled = true;
    if (--w->unsettled > 0 || !w->servers[SHARD_HOME].up) return;
    ev_timer_stop(w->loop, &w->settle_wait);
    worker_home_ready(w);
}

static void on_settle_wait(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    w->servers[SHARD_HOME].settled = true; /* home still booting: it serves once up */
    for (size_t s = 1; s < w->map.nservers; s++)
        if (!w->servers[s].settled) {
            char where[1200];
            log_warn("queue shard at %s has not answered within %g s: serving the other "
                     "servers' queues meanwhile",
                     shard_display(&w->map, s, where, sizeof where), SETTLE_WAIT_S);
            w->servers[s].settled = true;
        }
    w->unsettled = 0;
    if (w->servers[SHARD_HOME].up) worker_home_ready(w);
}

void servers_boot(struct worker *w)
{
    w->unsettled = (int)w->map.nservers;
    ev_timer_init(&w->settle_wait, on_settle_wait, SETTLE_WAIT_S, 0);
    w->settle_wait.data = w;
    ev_timer_start(w->loop, &w->settle_wait);
}

/* cmd, the server's peeks and (home) the cancel subscription have all booted. */
void worker_conn_booted(struct wserver *srv)
{
    if (--srv->booting > 0) return;
    if (srv->index == SHARD_HOME) {
        srv->up = true;
        if (srv->w->unsettled == 0) worker_home_ready(srv->w); /* settle_wait gave up */
    } else {
        shard_up(srv);
    }
    settle(srv);
}

void server_lost(struct wserver *srv, const redisAsyncContext *failed, const char *what,
                 const char *why)
{
    struct worker *w = srv->w;
    if (srv->down || w->exit_code) return; /* the other connections' disconnects */
    bool was_up = srv->up;
    srv->down = true;
    srv->up = false;
    srv->was_lost = true;
    srv->epoch++;
    /* Detach every connection of the server first: closing them runs their callbacks. */
    redisAsyncContext *close[1 + srv->nq];
    size_t nclose = 0;
    if (srv->cmd && srv->cmd != failed) close[nclose++] = srv->cmd;
    srv->cmd = NULL;
    for (size_t k = 0; k < srv->nq; k++) {
        size_t q = srv->queues[k];
        if (w->peek[q] && w->peek[q] != failed) close[nclose++] = w->peek[q];
        w->peek[q] = NULL;
        w->peek_armed[q] = w->take_armed[q] = w->unblocking[q] = w->take_got[q] = false;
        w->peek_id[q] = 0;
    }
    int dropped = job_abort_server(w, srv->index);
    int64_t delay = srv->backoff_ms ? 2 * srv->backoff_ms : RECONNECT_FIRST_MS;
    srv->backoff_ms = delay > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : delay;
    char where[1200], queues[512];
    shard_display(&w->map, srv->index, where, sizeof where);
    server_queues(srv, queues, sizeof queues);
    if (was_up)
        log_error("lost the queue shard at %s (queues %s) during %s: %s; its queues pause while "
                  "the other servers' queues are served; %d of its jobs were stopped, and what "
                  "this worker held there stays in flight and goes back to its queues when it "
                  "returns; reconnecting in %lld ms",
                  where, queues, what, why, dropped, (long long)srv->backoff_ms);
    else
        log_warn("queue shard at %s (queues %s) is unreachable (%s: %s): its queues wait while "
                 "the other servers' queues are served; reconnecting in %lld ms",
                 where, queues, what, why, (long long)srv->backoff_ms);
    for (size_t i = 0; i < nclose; i++)
        redisAsyncFree(close[i]);
    settle(srv);
    ev_timer_set(&srv->reconnect, (double)srv->backoff_ms / 1000.0, 0);
    ev_timer_start(w->loop, &srv->reconnect);
    fetch_request(w);
    worker_maybe_exit(w);
}

void server_reconnect_due(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct wserver *srv = t->data;
    struct worker *w = srv->w;
    /* A stopping worker fetches nothing more: what it held there is its supervisor's to
     * put back once it has exited. */
    if (w->mode == WM_DRAIN || w->mode == WM_ABORT) return;
    srv->down = false;
    if (server_connect(srv)) server_lost(srv, NULL, "connect", "no connection could be started");
}
