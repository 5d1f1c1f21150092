/*
 * The worker process: connections, signals, heartbeat and lifecycle around the fetch
 * (fetch.c) and the jobs (job.c). It exits 0 after a stop or a recycle, 3 when Redis
 * refuses its credentials, 4 when Redis is unreachable or lost; whatever it still
 * holds stays in its in-flight lists for the supervisor to put back.
 */
#include "worker.h"

#include <hiredis/adapters/libev.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "fac/protocol.h"
#include "job.h"
#include "keys.h"
#include "log.h"
#include "rss.h"
#include "scripts.h"

#define RSS_CHECK_EVERY_NS 1000000 /* at most one /proc read per ms of work */

static void set_state(struct worker *w, enum worker_state st)
{
    shm_store(&w->slot->state, (int32_t)st);
}

static const char *state_name(const struct worker *w)
{
    static const char *const names[] = {"booting", "idle", "quiet", "stopping", "exiting"};
    int32_t st = shm_load(&w->slot->state);
    if (st == WS_READY && w->running) return "busy";
    return names[st];
}

void worker_fatal_redis(struct worker *w, const char *what, const char *why)
{
    if (w->exit_code) return;
    char where[1200];
    log_error("lost Redis at %s during %s: %s; exiting so the supervisor restarts this worker "
              "(held jobs stay in flight and are requeued)",
              redis_target_display(&w->target, where, sizeof where), what, why);
    w->exit_code = FAC_EXIT_REDIS;
    job_abort_all(w);
    ev_break(w->loop, EVBREAK_ALL);
}

void worker_begin_stop(struct worker *w, enum worker_mode mode, const char *reason)
{
    if (w->mode == WM_ABORT || (w->mode == WM_DRAIN && mode == WM_DRAIN)) return;
    if (w->mode != mode)
        log_info("worker %s stopping (%s): running=%d unacked=%d", w->wid, reason, w->running,
                 w->unacked);
    w->mode = mode;
    w->stop_reason = reason;
    set_state(w, WS_DRAINING);
    if (mode == WM_ABORT) job_abort_all(w);
    worker_maybe_exit(w);
}

void worker_maybe_exit(struct worker *w)
{
    if (w->mode != WM_DRAIN && w->mode != WM_ABORT) return;
    if (w->running == 0 && audit_pending(w->audit)) audit_flush(w->audit);
    /* A fetch on the wire may bring jobs into the in-flight list: wait for its reply. */
    if (w->running == 0 && w->unacked == 0 && !w->fetching) {
        set_state(w, WS_EXITING);
        ev_break(w->loop, EVBREAK_ALL);
    }
}

static void check_recycle(struct worker *w)
{
    if (w->mode != WM_RUN && w->mode != WM_QUIET) return;
    if (w->jobs_limit && w->jobs_done >= w->jobs_limit) {
        shm_store(&w->slot->recycle, RR_MAX_JOBS);
        worker_begin_stop(w, WM_DRAIN, "recycling after max_jobs");
        return;
    }
    int64_t now = mono_ns();
    if (now - w->last_rss_check_ns < RSS_CHECK_EVERY_NS) return;
    w->last_rss_check_ns = now;
    int64_t rss = rss_bytes(0);
    shm_store(&w->slot->rss, rss);
    if (rss > w->cfg->max_memory) {
        log_info("worker %s RSS %lld MB is over max_memory %lld MB", w->wid, (long long)(rss >> 20),
                 (long long)(w->cfg->max_memory >> 20));
        shm_store(&w->slot->recycle, RR_MAX_MEMORY);
        worker_begin_stop(w, WM_DRAIN, "recycling over max_memory");
    }
}

void worker_job_released(struct worker *w)
{
    shm_store(&w->slot->jobs_done, w->jobs_done);
    check_recycle(w);
    fetch_request(w);
    worker_maybe_exit(w);
}

static void on_prepare(struct ev_loop *loop, ev_prepare *p, int revents)
{
    fetch_on_prepare(p->data);
}

/* ---- registry and heartbeat ---- */

static void heartbeat_write(struct worker *w)
{
    char k[FAC_KEY_MAX], queues[1024] = "";
    size_t n = 0;
    for (size_t i = 0; i < w->cfg->nqueues; i++)
        n += (size_t)snprintf(queues + n, sizeof queues - n, "%s%s", i ? "," : "",
                              w->cfg->queues[i]);
    redisAsyncCommand(w->cmd, NULL, NULL, "ZADD %s %lld %s", key_workers(k, w->cfg->prefix),
                      (long long)now_ms(), w->wid);
    key_worker(k, w->cfg->prefix, w->wid);
    redisAsyncCommand(w->cmd, NULL, NULL,
                      "HSET %s pid %d host %s sup %s:%d queues %s concurrency %lld started_at %lld "
                      "state %s jobs_done %lld jobs_failed %lld running %d rss %lld",
                      k, (int)getpid(), w->cfg->host_id, w->cfg->host_id, (int)getppid(), queues,
                      (long long)w->cfg->concurrency, (long long)w->started_at, state_name(w),
                      (long long)w->jobs_done, (long long)w->jobs_failed, w->running,
                      (long long)shm_load(&w->slot->rss));
    long long ttl = (long long)(w->cfg->heartbeat_timeout * 3) + 60;
    redisAsyncCommand(w->cmd, NULL, NULL, "EXPIRE %s %lld", k, ttl);
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    shm_store(&w->slot->tick_ms, mono_ms());
    shm_store(&w->slot->running, w->running);
    w->last_rss_check_ns = 0;
    check_recycle(w);
    if (w->ready) heartbeat_write(w);
}

/* ---- connections ---- */

static void on_boot_reply(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = c->data;
    redisReply *reply = r;
    const char *what = priv;
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        char where[1200];
        redis_target_display(&w->target, where, sizeof where);
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
    if (strcmp(what, "SELECT") == 0) worker_conn_booted(w); /* the last boot command */
}

/* cmd, one peek per queue and the cancel subscription */
void worker_conn_booted(struct worker *w)
{
    if (++w->connected < 2 + (int)w->cfg->nqueues) return;
    w->ready = true;
    if (w->mode != WM_QUIET) return; /* told to stop while booting */
    int32_t quiet = shm_load(&w->shm->quiet);
    w->mode = quiet ? WM_QUIET : WM_RUN;
    set_state(w, quiet ? WS_QUIET : WS_READY);
    heartbeat_write(w);
    log_info("worker %s ready: queues=%zu concurrency=%lld%s", w->wid, w->cfg->nqueues,
             (long long)w->cfg->concurrency, quiet ? " (quiet)" : "");
    fetch_request(w);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    struct worker *w = c->data;
    if (status != REDIS_OK && !w->exit_code) {
        char where[1200];
        log_error("cannot connect to Redis at %s: %s",
                  redis_target_display(&w->target, where, sizeof where), c->errstr);
        w->exit_code = FAC_EXIT_REDIS;
        ev_break(w->loop, EVBREAK_ALL);
    }
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    struct worker *w = c->data;
    worker_fatal_redis(w, "a connection", c->errstr[0] ? c->errstr : "closed by the server");
}

redisAsyncContext *worker_conn_open(struct worker *w, const char *name, bool pubsub)
{
    const struct redis_target *t = &w->target;
    redisAsyncContext *c =
        t->path[0] ? redisAsyncConnectUnix(t->path) : redisAsyncConnect(t->host, t->port);
    if (!c || c->err) {
        char where[1200];
        log_error("cannot connect to Redis at %s: %s", redis_target_display(t, where, sizeof where),
                  c ? c->errstr : "out of memory");
        return NULL;
    }
    c->data = w;
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

/* ---- signals ---- */

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    struct worker *w = s->data;
    switch (s->signum) {
    case SIGTERM:
    case SIGINT: {
        worker_begin_stop(w, WM_DRAIN, "TERM");
        if (!ev_is_active(&w->shutdown_timer)) {
            ev_timer_set(&w->shutdown_timer, w->cfg->shutdown_timeout, 0);
            ev_timer_start(loop, &w->shutdown_timer);
        }
        break;
    }
    case SIGQUIT:
        worker_begin_stop(w, WM_ABORT, "QUIT");
        break;
    case SIGTSTP:
        if (w->mode == WM_RUN || w->mode == WM_QUIET) {
            bool quiet = shm_load(&w->shm->quiet) != 0;
            w->mode = quiet ? WM_QUIET : WM_RUN;
            set_state(w, quiet ? WS_QUIET : WS_READY);
            log_info("worker %s %s", w->wid, quiet ? "quiet: not fetching" : "fetching again");
            if (!quiet) fetch_request(w);
        }
        break;
    case SIGUSR1:
        log_reopen();
        break;
    }
}

static void on_shutdown_timeout(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct worker *w = t->data;
    if (w->running)
        log_warn("worker %s: shutdown_timeout (%g s) passed with %d jobs running: aborting them",
                 w->wid, w->cfg->shutdown_timeout, w->running);
    worker_begin_stop(w, WM_ABORT, "shutdown_timeout");
}

static void install_signals(struct worker *w)
{
    static const int signals[] = {SIGTERM, SIGINT, SIGQUIT, SIGTSTP, SIGUSR1};
    for (size_t i = 0; i < sizeof signals / sizeof *signals; i++) {
        ev_signal_init(&w->sigs[i], on_signal, signals[i]);
        w->sigs[i].data = w;
        ev_signal_start(w->loop, &w->sigs[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* the supervisor reloads; workers are replaced */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- setup ---- */

static int worker_init(struct worker *w)
{
    const struct fac_config *cfg = w->cfg;
    char err[512];
    if (redis_target_parse(cfg->redis, cfg->redis_password_file, &w->target, err, sizeof err)) {
        log_error("%s", err);
        return FAC_EXIT_BOOT;
    }
    w->audit = audit_open(cfg, w->loop, job_audit_durable, w, err, sizeof err);
    if (!w->audit) {
        log_error("%s", err);
        return FAC_EXIT_BOOT;
    }
    size_t nq = cfg->nqueues;
    w->ready_key = calloc(nq, sizeof *w->ready_key);
    w->inflight_key = calloc(nq, sizeof *w->inflight_key);
    w->peek = calloc(nq, sizeof *w->peek);
    w->peek_armed = calloc(nq, sizeof *w->peek_armed);
    for (size_t i = 0; i < nq; i++) {
        w->ready_key[i] = malloc(FAC_KEY_MAX);
        w->inflight_key[i] = malloc(FAC_KEY_MAX);
        key_ready(w->ready_key[i], cfg->prefix, cfg->queues[i]);
        key_inflight(w->inflight_key[i], cfg->prefix, cfg->queues[i], w->wid);
    }
    w->jobs = calloc((size_t)cfg->concurrency, sizeof *w->jobs);
    for (int64_t i = cfg->concurrency; i-- > 0;) {
        w->jobs[i].w = w;
        w->jobs[i].next_free = w->free_jobs;
        w->free_jobs = &w->jobs[i];
    }
    key_global(w->canceled_key, FAC_KEY_CANCELED, cfg->prefix);
    /* A site whose audit table is unusable is a config error: know it before any job. */
    enum audit_boot ab;
    while ((ab = audit_boot(w->audit, err, sizeof err)) == AUDIT_BOOTING && w->mode == WM_QUIET)
        ev_run(w->loop, EVRUN_ONCE);
    if (ab == AUDIT_BOOT_FAILED) {
        log_error("%s", err);
        return FAC_EXIT_BOOT;
    }
    if (!(w->cmd = worker_conn_open(w, "cmd", false))) return FAC_EXIT_REDIS;
    redisAsyncCommand(w->cmd, on_boot_reply, "SCRIPT LOAD", "SCRIPT LOAD %s", script_fetch.src);
    for (size_t i = 0; i < nq; i++)
        if (!(w->peek[i] = worker_conn_open(w, cfg->queues[i], false))) return FAC_EXIT_REDIS;
    if (!(w->cancel_sub = cancel_open(w))) return FAC_EXIT_REDIS;
    return 0;
}

/* glibc serves each buffer above 128 KiB (a large envelope, its result record, hiredis'
 * read and write buffers) with a fresh mmap and gives free memory at the top of the heap
 * back at once: a 1 MB job then costs hundreds of page faults, each page zeroed by the
 * kernel, more system time than all its copying (docs/performance.md "Profile 4"). A
 * worker keeps such buffers in its heap instead, up to a quarter of max_memory (at most
 * 128 MiB) of free heap, so that what it keeps never recycles it by itself. */
static void keep_large_buffers(const struct fac_config *cfg)
{
    int64_t keep = cfg->max_memory > 0 ? cfg->max_memory / 4 : 128 << 20;
    if (keep > 128 << 20) keep = 128 << 20;
    if (keep < 1 << 20) return; /* a tiny max_memory: glibc's defaults */
    mallopt(M_TRIM_THRESHOLD, (int)keep);
    mallopt(M_MMAP_THRESHOLD, (int)(keep < 32 << 20 ? keep : 32 << 20));
}

int worker_main(const struct fac_config *cfg, struct pool_shm *shm, int slot_index)
{
    keep_large_buffers(cfg);
    struct worker *w = calloc(1, sizeof *w);
    w->cfg = cfg;
    w->shm = shm;
    w->slot = &shm->slots[slot_index];
    w->started_at = now_ms();
    snprintf(w->wid, sizeof w->wid, "%s:%d", cfg->host_id, (int)getpid());
    srandom((unsigned)(getpid() ^ now_ms()));
    if (cfg->max_jobs) w->jobs_limit = cfg->max_jobs + random() % (cfg->max_jobs / 10 + 1);
    shm_store(&w->slot->tick_ms, mono_ms());
    w->loop = ev_default_loop(EVFLAG_AUTO);
    scripts_init();
    install_signals(w);
    ev_prepare_init(&w->prepare, on_prepare);
    w->prepare.data = w;
    ev_prepare_start(w->loop, &w->prepare);
    double tick = cfg->heartbeat_timeout / 4 < 1.0 ? cfg->heartbeat_timeout / 4 : 1.0;
    ev_timer_init(&w->heartbeat, on_heartbeat, tick, tick);
    w->heartbeat.data = w;
    ev_timer_start(w->loop, &w->heartbeat);
    ev_init(&w->shutdown_timer, on_shutdown_timeout);
    w->shutdown_timer.data = w;
    w->mode = WM_QUIET; /* until every connection is up */
    int rc = worker_init(w);
    if (rc) return rc;
    if (w->mode == WM_QUIET) ev_run(w->loop, 0); /* else told to stop while booting */
    if (w->exit_code) return w->exit_code;
    log_info("worker %s exiting: %s, %lld jobs done", w->wid,
             w->stop_reason ? w->stop_reason : "stop", (long long)w->jobs_done);
    return FAC_EXIT_OK;
}
