/*
 * The worker process: connections, signals, heartbeat and lifecycle around the fetch
 * (fetch.c) and the jobs (job.c). It exits 0 after a stop or a recycle, 3 when Redis
 * refuses its credentials, 4 when Redis is unreachable or lost; whatever it still
 * holds stays in its in-flight lists for the supervisor to put back.
 */
#include "worker.h"

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
#include "srvclock.h"

#define RSS_CHECK_EVERY_NS 1000000 /* at most one /proc read per ms of work */
#define PIN_MASTER_TRY_MS 10000    /* a Sentinel failover is over well within this */

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

static void fatal_redis(struct worker *w, const char *where, const char *what, const char *why)
{
    if (w->exit_code) return;
    log_error("lost Redis at %s during %s: %s; exiting so the supervisor restarts this worker "
              "(held jobs stay in flight and are requeued)",
              where, what, why);
    w->exit_code = FAC_EXIT_REDIS;
    job_abort_all(w);
    ev_break(w->loop, EVBREAK_ALL);
}

void worker_fatal_redis(struct worker *w, const char *what, const char *why)
{
    char where[1200];
    fatal_redis(w, shard_display(&w->map, SHARD_HOME, where, sizeof where), what, why);
}

void worker_fatal_redis_on(const redisAsyncContext *c, const char *what, const char *why)
{
    struct wserver *srv = c->data;
    if (srv->index != SHARD_HOME && redis_error_is_failover(why)) {
        server_lost(srv, NULL, what, why); /* reconnects through its sentinels */
        return;
    }
    char where[1200];
    fatal_redis(conn_worker(c), worker_conn_where(c, where, sizeof where), what, why);
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
    job_wait_flush(p->data);
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
    /* Scored by Redis's clock, not this host's: srvclock.h. */
    redisAsyncCommand(w->cmd, NULL, NULL, "EVAL %s 1 %s %s", script_beat.src,
                      key_workers(k, w->cfg->prefix), w->wid);
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

/* Home is up (servers.c): register and start fetching. */
void worker_home_ready(struct worker *w)
{
    if (w->ready) return;
    w->ready = true;
    if (w->mode != WM_QUIET) return; /* told to stop while booting */
    int32_t quiet = shm_load(&w->shm->quiet);
    w->mode = quiet ? WM_QUIET : WM_RUN;
    set_state(w, quiet ? WS_QUIET : WS_READY);
    heartbeat_write(w);
    log_info("worker %s ready: queues=%zu servers=%zu concurrency=%lld%s", w->wid, w->cfg->nqueues,
             w->map.nservers, (long long)w->cfg->concurrency, quiet ? " (quiet)" : "");
    fetch_request(w);
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

/* With Sentinel, all connections of one boot go to the master the sentinels name now.
 * During a failover they may name none for a moment: keep asking (the loop turns, so
 * signals and the heartbeat go on) rather than exit into the supervisor's backoff. */
static int pin_master(struct worker *w)
{
    char err[1400];
    struct wserver *home = &w->servers[SHARD_HOME];
    home->via = w->map.servers[SHARD_HOME]; /* lib/shard.c built it */
    int64_t give_up = mono_ms() + PIN_MASTER_TRY_MS;
    int asked = 0;
    for (;;) {
        /* every home connection: this master */
        enum redis_connect_status st =
            redis_target_pin(&home->via, 2.0, &w->map.servers[SHARD_HOME], err, sizeof err);
        if (st == REDIS_CONNECT_OK) return 0;
        if (st == REDIS_CONNECT_AUTH || mono_ms() >= give_up || w->mode != WM_QUIET) {
            log_error("%s", err);
            return st == REDIS_CONNECT_AUTH ? FAC_EXIT_BOOT : FAC_EXIT_REDIS;
        }
        if (!asked++) log_warn("%s; asking again for up to %d s", err, PIN_MASTER_TRY_MS / 1000);
        ev_sleep(0.2);
        ev_run(w->loop, EVRUN_NOWAIT);
    }
}

static int worker_init(struct worker *w)
{
    const struct fac_config *cfg = w->cfg;
    char err[1400];
    if (shard_map_build(cfg, &w->map, err, sizeof err)) {
        log_error("%s", err);
        return FAC_EXIT_BOOT;
    }
    size_t nq = cfg->nqueues;
    w->servers = calloc(w->map.nservers, sizeof *w->servers);
    for (size_t s = 0; s < w->map.nservers; s++) {
        struct wserver *srv = &w->servers[s];
        srv->w = w;
        srv->index = s;
        srv->queues = calloc(nq, sizeof *srv->queues);
        ev_init(&srv->reconnect, server_reconnect_due);
        srv->reconnect.data = srv;
        for (size_t i = 0; i < nq; i++)
            if (w->map.queue_server[i] == s) srv->queues[srv->nq++] = i;
        if (s != SHARD_HOME && w->map.servers[s].nsentinels)
            srv->via = w->map.servers[s]; /* pinned on each connect (servers.c) */
    }
    int rc = pin_master(w);
    if (rc) return rc;
    w->audit = audit_open(cfg, w->loop, job_audit_durable, w, err, sizeof err);
    if (!w->audit) {
        log_error("%s", err);
        return FAC_EXIT_BOOT;
    }
    w->ready_key = calloc(nq, sizeof *w->ready_key);
    w->inflight_key = calloc(nq, sizeof *w->inflight_key);
    w->peek = calloc(nq, sizeof *w->peek);
    w->peek_armed = calloc(nq, sizeof *w->peek_armed);
    w->take_armed = calloc(nq, sizeof *w->take_armed);
    w->unblocking = calloc(nq, sizeof *w->unblocking);
    w->take_got = calloc(nq, sizeof *w->take_got);
    w->peek_id = calloc(nq, sizeof *w->peek_id);
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
    servers_boot(w);
    if (server_connect(&w->servers[SHARD_HOME])) return FAC_EXIT_REDIS;
    w->cmd = w->servers[SHARD_HOME].cmd;
    for (size_t s = 1; s < w->map.nservers; s++) /* a shard away now is retried, not fatal */
        if (server_connect(&w->servers[s]))
            server_lost(&w->servers[s], NULL, "connect", "no connection could be started");
    if (w->exit_code) return w->exit_code; /* a shard's sentinels refused the credentials */
    sentinel_watch_start(w);
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
