/*
 * Prefork supervisor (DESIGN §5). A plain signal loop: every signal it handles is
 * blocked and read from a signalfd, polled with the /metrics endpoint's descriptor, so
 * none is lost, no handler races the loop, and the supervisor has one thread when it
 * forks (metrics_http.h). Each turn reads like a story: reap the dead, put their jobs back,
 * handle the signal that woke us, kill the stuck, bring the pool (and the scheduler
 * child, with scheduler: true) to size, and say in Redis that this supervisor lives, so
 * a scheduler leaves its workers to it.
 */
#include "supervisor.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fac/protocol.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "redis.h"
#include "requeue.h"
#include "shard.h"
#include "rss.h"
#include "schedchild.h"
#include "scripts.h"
#include "shm.h"
#include "srvclock.h"
#include "worker.h"

#define TICK_MS 100
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 30000
#define HEALTHY_LIFETIME_MS 30000 /* a worker that lived this long resets the backoff */
#define MAX_PENDING 4096
#define HEARTBEAT_MS 1000

struct sup_worker {
    pid_t pid; /* 0: the slot is free */
    int gen;
    bool retiring;             /* told to stop: scale down, rolling reload, pool stop */
    int64_t born_ms;           /* monotonic */
    int64_t term_ms;           /* when we sent SIGTERM to a stuck or oversized worker */
    bool killed;               /* SIGKILL sent */
    enum exit_reason kill_why; /* with term_ms: stale heartbeat or memory */
    int64_t jobs_seen;         /* its jobs_done counter as last added to the pool's total */
};

struct pending_requeue {
    char wid[128];
    bool crashed;
};

struct supervisor {
    int sigfd; /* the supervisor's signals (blocked), read in sup_wait */
    struct fac_config *cfg;
    int cli_workers;
    int target;
    int gen;
    pid_t pid;
    struct pool_shm *shm;
    struct sup_worker w[FAC_MAX_WORKERS];
    bool stopping, fast;
    int64_t stop_ms;
    bool boot_failed;
    int failures;
    int64_t next_spawn_ms;
    struct shard_map map;     /* which server each queue lives on */
    struct shard_conns conns; /* one synchronous connection per server */
    int64_t master_check_ms;  /* Sentinel: when to ask again whether home's master moved */
    struct pending_requeue pending[MAX_PENDING];
    size_t npending;
    struct sched_child sched;
    int64_t next_beat_ms;
    char boot_id[64]; /* this machine's (/proc/sys/kernel/random/boot_id); "" = unknown */
    struct notify notify;
    int64_t jobs_total;        /* jobs finished by every worker since start */
    struct queue_snap *queues; /* per cfg->queues, read every 2 s (STATUS and /metrics) */
    size_t nqueues;
    char queue_depths[512]; /* for systemd's STATUS line */
    int64_t depths_at_ms;
    struct metrics *metrics; /* NULL: off */
};

/* ---- Redis (synchronous: requeues, heartbeat, depths) ---- */

/* A server's connection, or NULL while it is away (retried once a second). */
static redisContext *sup_redis_at(struct supervisor *s, size_t server)
{
    char err[1400];
    redisContext *c = shard_conn(&s->conns, server, NULL, err, sizeof err);
    if (!c && err[0]) log_warn("%s; retrying in 1 s", err);
    return c;
}

static redisContext *sup_redis(struct supervisor *s)
{
    redisContext *c = s->conns.c[SHARD_HOME];
    if (c && !c->err && redis_master_moved(&s->map.servers[SHARD_HOME], c, &s->master_check_ms))
        shard_conn_drop(&s->conns, SHARD_HOME); /* reconnect through the sentinels */
    return sup_redis_at(s, SHARD_HOME);
}

static void sup_requeue_pending(struct supervisor *s)
{
    while (s->npending) {
        redisContext *c = sup_redis(s);
        if (!c) return;
        for (size_t i = 1; i < s->map.nservers; i++) /* each shard on its master of now */
            shard_conn_follow(&s->conns, i);
        struct pending_requeue *p = &s->pending[0];
        struct requeue_stats st;
        char err[1024];
        if (requeue_worker(&s->conns, s->cfg, p->wid, p->crashed, &st, err, sizeof err)) {
            log_warn("%s; will retry", err);
            shard_conns_check(&s->conns);
            return;
        }
        if (st.requeued || st.dead)
            log_info("requeued the jobs of worker %s: requeued=%d dead=%d%s", p->wid, st.requeued,
                     st.dead, p->crashed ? " (attempt + 1)" : "");
        else if (st.skipped)
            log_info("worker %s: its jobs are being requeued by another process (a scheduler)",
                     p->wid);
        memmove(&s->pending[0], &s->pending[1], --s->npending * sizeof *s->pending);
    }
}

/* P:host:<host_id>, held at this machine's boot id (sup_claim_host). */
static const char *host_key(const struct supervisor *s, char *out, size_t outlen)
{
    snprintf(out, outlen, FAC_KEY_HOST, s->cfg->prefix, s->cfg->host_id);
    return out;
}

/* P:supervisors: a scheduler rescues only workers whose supervisor is silent too. */
static void sup_heartbeat(struct supervisor *s, bool leaving)
{
    int64_t now = mono_ms();
    if (!leaving && now < s->next_beat_ms) return;
    s->next_beat_ms = now + HEARTBEAT_MS;
    redisContext *c = leaving ? s->conns.c[SHARD_HOME] : sup_redis(s);
    if (!c || c->err) return;
    char k[FAC_KEY_MAX];
    key_global(k, FAC_KEY_SUPERVISORS, s->cfg->prefix);
    if (leaving) {
        freeReplyObject(redisCommand(c, "ZREM %s %s:%d", k, s->cfg->host_id, (int)s->pid));
        if (s->boot_id[0]) { /* the host_id is free for another machine at once */
            char hk[FAC_KEY_MAX + 160];
            host_key(s, hk, sizeof hk);
            freeReplyObject(redisCommand(c, "EVAL %s 1 %s %s",
                                         "if redis.call('GET', KEYS[1]) == ARGV[1] then "
                                         "return redis.call('DEL', KEYS[1]) end return 0",
                                         hk, s->boot_id));
        }
    } else {
        char member[160];
        snprintf(member, sizeof member, "%s:%d", s->cfg->host_id, (int)s->pid);
        /* Redis's clock (srvclock.h); a READONLY reply means the master moved */
        freeReplyObject(redis_check_master_reply(c, srvclock_beat_sync(c, k, member)));
        if (s->boot_id[0]) { /* this machine holds its host_id (sup_claim_host) */
            char hk[FAC_KEY_MAX + 160];
            host_key(s, hk, sizeof hk);
            freeReplyObject(redisCommand(c, "SET %s %s PX %lld", hk, s->boot_id,
                                         (long long)(s->cfg->dead_after * 1000)));
        }
    }
}

/* Two machines with one host_id would rescue each other's live jobs (a supervisor
 * requeues the jobs of its host's workers that are not its own processes). Every
 * supervisor keeps P:host:<host_id> set to its machine's boot id while it runs; one
 * that finds another machine's there refuses to start. -1: refused (logged). */
static int sup_claim_host(struct supervisor *s, redisContext *c)
{
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
    if (!f) return 0; /* no boot id here: no check */
    if (!fgets(s->boot_id, sizeof s->boot_id, f)) s->boot_id[0] = '\0';
    fclose(f);
    s->boot_id[strcspn(s->boot_id, "\n")] = '\0';
    if (!s->boot_id[0] || !c) return 0;
    char hk[FAC_KEY_MAX + 160];
    host_key(s, hk, sizeof hk);
    redisReply *r = redisCommand(c, "GET %s", hk);
    int rc = 0;
    if (r && r->type == REDIS_REPLY_STRING && strcmp(r->str, s->boot_id) != 0) {
        log_error("host_id \"%s\" is in use by another machine (boot id %s, heard within the "
                  "last %.0f s): its supervisor would rescue this one's running jobs and the other "
                  "way round; give every host its own host_id (docs/scale-out.md)",
                  s->cfg->host_id, r->str, s->cfg->dead_after);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* ---- workers ---- */

static int count_alive(const struct supervisor *s)
{
    int n = 0;
    for (int i = 0; i < FAC_MAX_WORKERS; i++)
        n += s->w[i].pid != 0;
    return n;
}

static void sup_signal_all(struct supervisor *s, int sig)
{
    for (int i = 0; i < FAC_MAX_WORKERS; i++)
        if (s->w[i].pid) kill(s->w[i].pid, sig);
}

static void sup_spawn_worker(struct supervisor *s)
{
    int i = 0;
    while (i < FAC_MAX_WORKERS && s->w[i].pid)
        i++;
    if (i == FAC_MAX_WORKERS) return;
    struct worker_slot *slot = &s->shm->slots[i];
    memset(slot, 0, sizeof *slot);
    shm_store(&slot->tick_ms, mono_ms());
    pid_t pid = fork();
    if (pid < 0) {
        log_error("fork failed: %s; retrying", strerror(errno));
        s->next_spawn_ms = mono_ms() + 1000;
        return;
    }
    if (pid == 0) {
        setpgid(0, 0); /* terminal signals reach the supervisor only; it forwards them */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != s->pid) _exit(FAC_EXIT_CRASH);
        for (size_t k = 0; k < s->map.nservers; k++)
            if (s->conns.c[k]) close(s->conns.c[k]->fd);
        metrics_after_fork(s->metrics);
        close(s->sigfd);
        log_set_role("wrk");
        exit(worker_main(s->cfg, s->shm, i));
    }
    s->w[i] = (struct sup_worker){.pid = pid, .gen = s->gen, .born_ms = mono_ms()};
    metrics_worker_started(s->metrics, i, pid);
    log_info("started worker pid=%d slot=%d generation=%d", (int)pid, i, s->gen);
}

static void sup_retire(struct supervisor *s, int i, const char *why)
{
    s->w[i].retiring = true;
    kill(s->w[i].pid, SIGTERM);
    log_info("stopping worker pid=%d (%s)", (int)s->w[i].pid, why);
}

static void sup_kill_stuck(struct supervisor *s, int i, enum exit_reason reason, const char *why)
{
    struct sup_worker *w = &s->w[i];
    w->kill_why = reason;
    log_warn("worker pid=%d %s: sending SIGTERM, SIGKILL in %g s", (int)w->pid, why,
             s->cfg->kill_grace);
    kill(w->pid, SIGTERM);
    w->term_ms = mono_ms();
}

static void sup_check_workers(struct supervisor *s)
{
    int64_t now = mono_ms();
    int64_t stale_ms = (int64_t)(s->cfg->heartbeat_timeout * 1000);
    int64_t grace_ms = (int64_t)(s->cfg->kill_grace * 1000);
    int64_t stop_deadline = s->stop_ms + (int64_t)(s->cfg->shutdown_timeout * 1000) + grace_ms;
    for (int i = 0; i < FAC_MAX_WORKERS; i++) {
        struct sup_worker *w = &s->w[i];
        if (!w->pid || w->killed) continue;
        bool overdue = (w->term_ms && now - w->term_ms >= grace_ms) ||
                       (s->stopping && !s->fast && now >= stop_deadline) ||
                       (s->stopping && s->fast && now - s->stop_ms >= grace_ms);
        if (overdue) {
            log_warn("worker pid=%d did not exit in time: SIGKILL", (int)w->pid);
            kill(w->pid, SIGKILL);
            w->killed = true;
            continue;
        }
        if (w->term_ms) continue;
        int64_t tick = shm_load(&s->shm->slots[i].tick_ms);
        if (now - tick > stale_ms) {
            char why[128];
            snprintf(why, sizeof why, "has not ticked for %.1f s (its event loop is blocked)",
                     (double)(now - tick) / 1000.0);
            sup_kill_stuck(s, i, XR_KILLED_HEARTBEAT, why);
            continue;
        }
        int64_t rss = rss_bytes(w->pid);
        if (rss > s->cfg->max_memory_hard) {
            char why[128];
            snprintf(why, sizeof why, "uses %lld MB, over max_memory_hard (%lld MB)",
                     (long long)(rss >> 20), (long long)(s->cfg->max_memory_hard >> 20));
            sup_kill_stuck(s, i, XR_KILLED_MEMORY, why);
        }
    }
}

/* What the metrics count a worker's exit as: a replacement's reason, or none. */
static enum exit_reason sup_exit_reason(const struct supervisor *s, int i, int status)
{
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (s->w[i].term_ms) return s->w[i].kill_why;
    if (code == FAC_EXIT_BOOT) return XR_BOOT_ERROR;
    if (code == FAC_EXIT_REDIS) return XR_REDIS_LOST;
    if (code != FAC_EXIT_OK) return XR_CRASHED;
    switch (shm_load(&s->shm->slots[i].recycle)) {
    case RR_MAX_MEMORY:
        return XR_MAX_MEMORY;
    case RR_MAX_JOBS:
        return XR_MAX_JOBS;
    default:
        return XR_NONE;
    }
}

static void sup_note_exit(struct supervisor *s, int i, int status)
{
    struct sup_worker *w = &s->w[i];
    int64_t lived = mono_ms() - w->born_ms;
    bool signaled = WIFSIGNALED(status);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (signaled)
        log_warn("worker pid=%d killed by signal %d after %.1f s", (int)w->pid, WTERMSIG(status),
                 (double)lived / 1000.0);
    else if (code != FAC_EXIT_OK)
        log_warn("worker pid=%d exited with code %d after %.1f s", (int)w->pid, code,
                 (double)lived / 1000.0);
    else
        log_info("worker pid=%d exited after %.1f s", (int)w->pid, (double)lived / 1000.0);

    /* A crash may be the job's fault: its jobs come back with attempt + 1. A clean exit,
     * a boot error or a lost Redis is not: attempt unchanged. */
    bool crashed =
        signaled || (code != FAC_EXIT_OK && code != FAC_EXIT_BOOT && code != FAC_EXIT_REDIS);
    if (s->npending < MAX_PENDING) {
        struct pending_requeue *p = &s->pending[s->npending++];
        snprintf(p->wid, sizeof p->wid, "%s:%d", s->cfg->host_id, (int)w->pid);
        p->crashed = crashed;
    }
    if (code == FAC_EXIT_BOOT) {
        if (!s->boot_failed)
            log_error("a worker failed to boot (exit code 3: bad config or credentials): not "
                      "starting more workers; fix the config and restart the pool");
        s->boot_failed = true;
    } else if (code == FAC_EXIT_REDIS && shm_load(&s->shm->slots[i].state) != WS_BOOTING &&
               (lived >= 1000 || shm_load(&s->shm->slots[i].jobs_done) > 0)) {
        /* It served, then lost Redis (a failover, a restart): no crash loop, so its
         * replacement starts at once; only a replacement that cannot boot backs off.
         * Its jobs are requeued on the master the sentinels name now. */
        s->failures = 0;
        s->next_spawn_ms = mono_ms();
        s->master_check_ms = 0;
        for (size_t k = 1; k < s->map.nservers; k++) /* a shard's failover, likewise */
            s->conns.master_check_ms[k] = 0;
    } else if (signaled || code != FAC_EXIT_OK) {
        /* A crash loop is workers dying before they get anything done; one that had
         * finished jobs (killed, OOM, a poison job) starts the count afresh. */
        if (lived >= HEALTHY_LIFETIME_MS || shm_load(&s->shm->slots[i].jobs_done) > 0)
            s->failures = 0;
        s->failures++;
        int64_t delay = BACKOFF_FIRST_MS << (s->failures - 1 < 9 ? s->failures - 1 : 9);
        if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
        s->next_spawn_ms = mono_ms() + delay;
        if (s->failures > 1)
            log_warn("%d worker failures in a row: next start in %lld ms", s->failures,
                     (long long)delay);
    } else if (lived >= HEALTHY_LIFETIME_MS) {
        s->failures = 0;
    }
    metrics_worker_exited(s->metrics, i, sup_exit_reason(s, i, status));
    memset(&s->shm->slots[i], 0, sizeof s->shm->slots[i]);
    *w = (struct sup_worker){0};
}

static void sup_reap(struct supervisor *s)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (schedchild_reaped(&s->sched, pid, status)) continue;
        for (int i = 0; i < FAC_MAX_WORKERS; i++)
            if (s->w[i].pid == pid) {
                sup_note_exit(s, i, status);
                break;
            }
    }
}

/* Brings the pool to `target` workers of the current generation. During a reload the
 * old generation is replaced one by one: start one new worker, wait until it is ready,
 * stop one old worker, wait until it is gone. */
static void sup_maintain(struct supervisor *s)
{
    if (s->stopping || s->boot_failed) return;
    int cur = 0, old = 0, old_retiring = 0, cur_booting = 0;
    for (int i = 0; i < FAC_MAX_WORKERS; i++) {
        struct sup_worker *w = &s->w[i];
        if (!w->pid) continue;
        if (w->gen != s->gen) {
            if (w->retiring)
                old_retiring++;
            else
                old++;
        } else if (!w->retiring) {
            cur++;
            cur_booting += shm_load(&s->shm->slots[i].state) == WS_BOOTING;
        }
    }
    bool may_spawn = mono_ms() >= s->next_spawn_ms;
    if (old || old_retiring) {
        if (old_retiring || cur_booting) return;
        if (cur < s->target && cur + old <= s->target) {
            if (may_spawn) sup_spawn_worker(s);
            return;
        }
        for (int i = 0; i < FAC_MAX_WORKERS; i++)
            if (s->w[i].pid && s->w[i].gen != s->gen && !s->w[i].retiring) {
                sup_retire(s, i, "replaced after reload");
                return;
            }
        return;
    }
    while (cur < s->target && may_spawn) {
        sup_spawn_worker(s);
        cur++;
        may_spawn = s->failures == 0; /* after a failure, one start per backoff step */
        if (!may_spawn) break;
    }
    for (int i = FAC_MAX_WORKERS; i-- > 0 && cur > s->target;)
        if (s->w[i].pid && !s->w[i].retiring) {
            sup_retire(s, i, "scaling down");
            cur--;
        }
}

/* ---- systemd ---- */

static void sup_count_jobs(struct supervisor *s)
{
    for (int i = 0; i < FAC_MAX_WORKERS; i++) {
        if (!s->w[i].pid) continue;
        int64_t done = shm_load(&s->shm->slots[i].jobs_done);
        if (done > s->w[i].jobs_seen) s->jobs_total += done - s->w[i].jobs_seen;
        s->w[i].jobs_seen = done;
    }
}

/* Every queue's depth and oldest age, each from its own server, once every 2 s for both
 * consumers: systemd's STATUS ("short=0 default=12 long=0") and the /metrics snapshot. */
static void sup_read_queues(struct supervisor *s)
{
    if (!s->notify.enabled && !s->metrics) return;
    int64_t now = mono_ms();
    if (now - s->depths_at_ms < 2000) return;
    s->depths_at_ms = now;
    size_t nq = s->cfg->nqueues; /* a reload may change it */
    if (nq != s->nqueues) {
        struct queue_snap *q = realloc(s->queues, (nq ? nq : 1) * sizeof *q);
        if (!q) return;
        s->queues = q;
        s->nqueues = nq;
    }
    s->queue_depths[0] = '\0';
    size_t n = 0;
    for (size_t i = 0; i < nq; i++) {
        queue_snap_read(sup_redis_at(s, s->map.queue_server[i]), s->cfg, i, &s->queues[i]);
        if (s->queues[i].depth >= 0 && n < sizeof s->queue_depths)
            n += (size_t)snprintf(s->queue_depths + n, sizeof s->queue_depths - n, "%s%s=%lld",
                                  n ? " " : "", s->cfg->queues[i], s->queues[i].depth);
    }
    if (s->metrics) metrics_refresh(s->metrics, sup_redis(s), s->queues, nq);
}

static void sup_notify(struct supervisor *s)
{
    if (!s->notify.enabled) return;
    sup_count_jobs(s);
    int alive = 0, serving = 0, old = 0;
    for (int i = 0; i < FAC_MAX_WORKERS; i++) {
        if (!s->w[i].pid) continue;
        alive++;
        int32_t st = shm_load(&s->shm->slots[i].state);
        if (s->w[i].gen != s->gen)
            old++;
        else if (!s->w[i].retiring && (st == WS_READY || st == WS_QUIET))
            serving++;
    }
    struct notify_view v = {.alive = alive,
                            .target = s->target,
                            .pool_ready = serving >= s->target && old == 0 && !s->stopping,
                            .jobs_total = s->jobs_total,
                            .queues = s->queue_depths};
    notify_tick(&s->notify, &v);
}

/* ---- signals ---- */

static void sup_stop(struct supervisor *s, bool fast)
{
    if (s->stopping && (s->fast || !fast)) return;
    log_info("%s stop: %d workers", fast ? "fast" : "graceful", count_alive(s));
    if (!s->stopping) s->stop_ms = mono_ms();
    s->stopping = true;
    s->fast = fast;
    notify_stopping(&s->notify);
    sup_signal_all(s, fast ? SIGQUIT : SIGTERM);
}

static void sup_reload(struct supervisor *s)
{
    char err[1024];
    struct fac_config *nc = config_load(s->cfg->path, err, sizeof err);
    if (!nc) {
        log_error("reload refused, keeping the running config: %s", err);
        return;
    }
    struct shard_map nm;
    if (shard_map_build(nc, &nm, err, sizeof err)) {
        log_error("reload refused, keeping the running config: %s", err);
        config_free(nc);
        return;
    }
    enum log_level lvl = LOG_INFO;
    log_level_parse(nc->log_level, &lvl);
    log_init("sup", nc->log_file, lvl);
    metrics_set_config(s->metrics, nc);
    config_free(s->cfg);
    s->cfg = nc;
    s->target = s->cli_workers ? s->cli_workers : (int)nc->workers;
    shard_conns_close(&s->conns); /* the servers or the queues on them may have changed */
    shard_map_free(&s->map);
    s->map = nm;
    shard_conns_init(&s->conns, &s->map, 2.0, 1000);
    s->gen++;
    notify_reloading(&s->notify);
    s->boot_failed = false;
    s->sched.gave_up = false;
    schedchild_signal(&s->sched, SIGHUP); /* it re-reads the config itself */
    log_info("config reloaded from %s: replacing workers one by one (generation %d, %d workers)",
             nc->path, s->gen, s->target);
}

static void sup_handle_signal(struct supervisor *s, int sig)
{
    switch (sig) {
    case SIGTERM:
    case SIGINT:
        sup_stop(s, false);
        break;
    case SIGQUIT:
        sup_stop(s, true);
        break;
    case SIGHUP:
        sup_reload(s);
        break;
    case SIGTTIN:
        if (s->target < FAC_MAX_WORKERS) s->target++;
        log_info("TTIN: %d workers", s->target);
        break;
    case SIGTTOU:
        if (s->target > 1) s->target--;
        log_info("TTOU: %d workers", s->target);
        break;
    case SIGTSTP: {
        int32_t quiet = !shm_load(&s->shm->quiet);
        shm_store(&s->shm->quiet, quiet);
        log_info("TSTP: pool %s", quiet ? "quiet (not fetching)" : "fetching again");
        sup_signal_all(s, SIGTSTP);
        break;
    }
    case SIGUSR1:
        log_reopen();
        sup_signal_all(s, SIGUSR1);
        schedchild_signal(&s->sched, SIGUSR1);
        log_info("USR1: log file reopened");
        break;
    default:
        break; /* SIGCHLD: reaped on every turn */
    }
}

static const int sup_signals[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP, SIGTTIN,
                                  SIGTTOU, SIGTSTP, SIGUSR1, SIGCHLD};

/* Sleeps up to one tick, until a signal or a /metrics request comes; handles both. */
static void sup_wait(struct supervisor *s)
{
    struct pollfd p[2] = {{.fd = s->sigfd, .events = POLLIN},
                          {.fd = metrics_fd(s->metrics), .events = POLLIN}};
    int n = poll(p, p[1].fd >= 0 ? 2 : 1, TICK_MS);
    if (n <= 0) return;
    if (p[1].fd >= 0 && p[1].revents) metrics_serve(s->metrics);
    struct signalfd_siginfo si;
    while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        sup_handle_signal(s, (int)si.ssi_signo);
}

int supervisor_run(struct fac_config *cfg, int cli_workers)
{
    static struct supervisor sup;
    struct supervisor *s = &sup;
    s->cfg = cfg;
    s->cli_workers = cli_workers;
    s->target = cli_workers ? cli_workers : (int)cfg->workers;
    s->pid = getpid();
    notify_init(&s->notify);
    scripts_init();
    signal(SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof sup_signals / sizeof *sup_signals; i++)
        sigaddset(&set, sup_signals[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);

    char err[1400];
    if (shard_map_build(cfg, &s->map, err, sizeof err)) {
        log_error("%s: %s", cfg->path ? cfg->path : "config", err);
        return FAC_EXIT_BOOT;
    }
    shard_conns_init(&s->conns, &s->map, 2.0, 1000);
    bool all_up = true;
    for (size_t i = 0; i < s->map.nservers; i++) {
        enum redis_connect_status st;
        if (shard_conn(&s->conns, i, &st, err, sizeof err)) continue;
        if (st == REDIS_CONNECT_AUTH) {
            log_error("%s", err);
            return FAC_EXIT_BOOT;
        }
        log_warn("%s; starting workers anyway (they retry with backoff)", err);
        all_up = false;
    }
    if (sup_claim_host(s, s->conns.c[SHARD_HOME]) < 0) return FAC_EXIT_BOOT;
    if (all_up && requeue_orphans(&s->conns, cfg, err, sizeof err) < 0) log_warn("%s", err);

    s->shm = mmap(NULL, sizeof *s->shm, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s->shm == MAP_FAILED) {
        log_error("mmap of the worker table failed: %s", strerror(errno));
        return FAC_EXIT_CRASH;
    }
    s->metrics = metrics_start(cfg, s->shm); /* after sigprocmask: a fallback thread blocks them */
    /* Signals and /metrics are waited for together; the workers close both (sup_spawn). */
    s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (s->sigfd < 0) {
        log_error("signalfd failed: %s", strerror(errno));
        return FAC_EXIT_CRASH;
    }
    char where[1200];
    log_info("fac-worker %s: %d workers x %lld concurrency, redis %s%s, prefix %s", "0.1.0",
             s->target, (long long)cfg->concurrency,
             shard_display(&s->map, SHARD_HOME, where, sizeof where),
             s->map.nservers > 1 ? " (+ queue shards)" : "", cfg->prefix);
    for (;;) {
        shard_conns_check(&s->conns); /* a lost connection is remade on its next use */
        for (size_t i = 1; i < s->map.nservers; i++) /* home: sup_redis */
            shard_conn_follow(&s->conns, i);         /* a shard's failover (Sentinel) */
        sup_reap(s);
        sup_requeue_pending(s);
        if ((s->stopping || s->boot_failed) && count_alive(s) == 0 && !s->sched.pid) break;
        sup_check_workers(s);
        sup_maintain(s);
        schedchild_maintain(&s->sched, s->cfg, s->stopping || s->boot_failed,
                            s->conns.c[SHARD_HOME] ? s->conns.c[SHARD_HOME]->fd : -1);
        sup_heartbeat(s, false);
        sup_read_queues(s);
        sup_notify(s);
        sup_wait(s);
    }
    if (s->npending)
        log_warn("exiting with %zu workers' jobs not requeued (Redis unreachable): the next "
                 "supervisor on host %s rescues them",
                 s->npending, s->cfg->host_id);
    log_info("supervisor exiting");
    sup_heartbeat(s, true);
    int rc = s->boot_failed && !s->stopping ? FAC_EXIT_BOOT : FAC_EXIT_OK;
    metrics_stop(s->metrics);
    free(s->queues);
    shard_conns_close(&s->conns);
    shard_map_free(&s->map);
    config_free(s->cfg);
    return rc;
}
