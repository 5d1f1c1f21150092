/*
 * fac-scheduler (DESIGN §7, docs/scheduler.md): promotes delayed jobs and retries, fires
 * cron entries and rescues the jobs of vanished hosts. Run one per host, or let the
 * supervisor run it (scheduler: true); a lease makes exactly one of them active.
 *
 * A synchronous loop: claim or renew the lease, do the leader's work, then sleep in
 * poll() until the earliest deadline (next due job, next cron slot, lease renewal,
 * rescue pass), a wake-up message, or a signal (signalfd). Redis going away is not
 * fatal: the scheduler stands down and reconnects every second.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "boot.h"
#include "clock.h"
#include "config.h"
#include "fac/protocol.h"
#include "log.h"
#include "sched.h"
#include "scripts.h"

#define DEFAULT_CONFIG "/etc/fac-worker/fac.json"
#define MAX_WAIT_MS 1000
#define RESCUE_EVERY_MS 1000
#define RECONNECT_MS 1000

static void usage(FILE *f)
{
    fprintf(f, "usage: fac-scheduler [-c FILE] [--check-config] [--log-file F] "
               "[--log-level debug|info|warn|error]\n"
               "  -c, --config FILE   JSON config (default " DEFAULT_CONFIG "), the pool's own\n"
               "  --check-config      check the config and exit (0 valid, 3 invalid)\n");
}

static void drop_wake(struct sched *s, size_t server)
{
    if (s->wake[server]) redisFree(s->wake[server]);
    s->wake[server] = NULL;
}

static void drop_wakes(struct sched *s)
{
    for (size_t i = 0; i < s->map.nservers; i++)
        drop_wake(s, i);
}

static void drop_redis(struct sched *s, const char *why)
{
    log_warn("lost Redis (%s): standing by, reconnecting every %d ms", why, RECONNECT_MS);
    shard_conns_close(&s->conns);
    shard_conns_init(&s->conns, &s->map, 5.0, RECONNECT_MS);
    s->c = NULL;
    s->leader = false;
    s->next_claim_ms = 0;
    drop_wakes(s);
}

/* The home connection: 0, -1 (retry later) or FAC_EXIT_BOOT (the credentials are wrong). */
static int connect_home(struct sched *s)
{
    enum redis_connect_status st;
    char err[1400];
    s->c = shard_conn(&s->conns, SHARD_HOME, &st, err, sizeof err);
    if (s->c) return 0;
    if (err[0]) log_warn("%s", err);
    return st == REDIS_CONNECT_AUTH ? FAC_EXIT_BOOT : -1;
}

redisContext *sched_queue_conn(struct sched *s, const char *queue)
{
    size_t server = shard_of(s->cfg, &s->map, queue);
    char err[1400];
    redisContext *c = shard_conn(&s->conns, server, NULL, err, sizeof err);
    if (!c && err[0]) log_warn("queue %s: %s; its other work goes on", queue, err);
    return c;
}

/* The leader listens for earlier due times on every server that holds queues; a standby
 * does not. */
static void track_wake(struct sched *s)
{
    for (size_t k = 0; k < s->map.nfetch; k++) {
        size_t i = s->map.fetch_order[k];
        if (s->wake[i] && (!s->leader || s->wake[i]->err)) drop_wake(s, i);
        /* only while its command connection is up, so a server that is away is tried at
         * the command connection's pace, not on every round */
        if (!s->leader || s->wake[i] || !shard_conn(&s->conns, i, NULL, NULL, 0)) continue;
        enum redis_connect_status st;
        char err[1400];
        s->wake[i] = redis_connect_sync(&s->map.servers[i], 5.0, &st, err, sizeof err);
        if (!s->wake[i])
            log_warn("%s", err);
        else if (wake_subscribe(s, s->wake[i]))
            drop_wake(s, i);
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* One round of the leader's work; returns how long it may sleep (ms). */
static int64_t leader_work(struct sched *s)
{
    int64_t due = promote_due(s);
    int64_t slot = cron_fire_due(s);
    if (mono_ms() >= s->next_rescue_ms) {
        rescue_dead_workers(s);
        s->next_rescue_ms = mono_ms() + RESCUE_EVERY_MS;
    }
    int64_t wall = now_ms(), mono = mono_ms();
    int64_t wait = min64(MAX_WAIT_MS, min64(due, slot) - wall);
    wait = min64(wait, min64(s->next_claim_ms, s->next_rescue_ms) - mono);
    return wait < 0 ? 0 : wait;
}

enum wake_reason { WAKE_TIMEOUT, WAKE_SIGNAL };

/* Sleeps up to ms; reads a wake-up message or a signal if one comes. */
static enum wake_reason sleep_for(struct sched *s, int sfd, int64_t ms, int *sig)
{
    size_t n = s->map.nservers;
    struct pollfd p[1 + n];
    p[0] = (struct pollfd){.fd = sfd, .events = POLLIN};
    for (size_t i = 0; i < n; i++)
        p[1 + i] = (struct pollfd){.fd = s->wake[i] ? s->wake[i]->fd : -1, .events = POLLIN};
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    if (ppoll(p, 1 + n, &ts, NULL) <= 0) return WAKE_TIMEOUT;
    for (size_t i = 0; i < n; i++)
        if (p[1 + i].revents) wake_drain(s->wake[i]);
    if (!p[0].revents) return WAKE_TIMEOUT;
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != (ssize_t)sizeof si) return WAKE_TIMEOUT;
    *sig = (int)si.ssi_signo;
    return WAKE_SIGNAL;
}

/* HUP: a valid new config is taken up by running this program again. */
static void reload(struct sched *s, char **argv)
{
    char err[2048];
    struct fac_config *nc = config_load(s->cfg->path, err, sizeof err);
    if (!nc) {
        log_error("HUP: reload refused, keeping the running config: %s", err);
        return;
    }
    config_free(nc);
    log_info("HUP: restarting with the config in %s", s->cfg->path);
    leader_release(s);
    drop_wakes(s);
    shard_conns_close(&s->conns);
    execv("/proc/self/exe", argv);
    log_error("HUP: cannot re-execute /proc/self/exe: %s; exiting", strerror(errno));
    exit(FAC_EXIT_CRASH);
}

static int sched_loop(struct sched *s, int sfd, char **argv)
{
    for (;;) {
        int64_t wait = RECONNECT_MS;
        if (!s->c) {
            int rc = connect_home(s);
            if (rc == FAC_EXIT_BOOT) return rc;
        }
        if (s->c) {
            bool was = s->leader;
            leader_tick(s);
            if (s->leader && !was) {
                cron_start(s);
                s->next_rescue_ms = mono_ms();
            }
            track_wake(s);
            wait = s->leader ? leader_work(s) : s->next_claim_ms - mono_ms();
            if (s->c->err)
                drop_redis(s, s->c->errstr);
            else if (redis_master_moved(&s->map.servers[SHARD_HOME], s->c, &s->master_check_ms))
                drop_redis(s, "a failover: the sentinels name another master");
            else {
                shard_conns_check(&s->conns); /* a shard's lost connection is remade next round */
                for (size_t i = 1; i < s->map.nservers; i++) /* a shard's failover (Sentinel) */
                    if (shard_conn_follow(&s->conns, i) && s->wake[i]) drop_wake(s, i);
            }
        }
        int sig = 0;
        if (sleep_for(s, sfd, wait < 0 ? 0 : wait, &sig) != WAKE_SIGNAL) continue;
        if (sig == SIGHUP)
            reload(s, argv);
        else if (sig == SIGUSR1)
            log_reopen();
        else
            return FAC_EXIT_OK;
    }
}

static int run(struct fac_config *cfg, char **argv)
{
    static struct sched sched;
    struct sched *s = &sched;
    s->cfg = cfg;
    snprintf(s->id, sizeof s->id, "%s:%d", cfg->host_id, (int)getpid());
    s->cron_next = calloc(cfg->ncron ? cfg->ncron : 1, sizeof *s->cron_next);
    char err[1400];
    if (shard_map_build(cfg, &s->map, err, sizeof err)) {
        log_error("%s: %s", cfg->path ? cfg->path : "config", err);
        return FAC_EXIT_BOOT;
    }
    shard_conns_init(&s->conns, &s->map, 5.0, RECONNECT_MS);
    s->wake = calloc(s->map.nservers, sizeof *s->wake);
    sigset_t set;
    sigemptyset(&set);
    int sigs[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1};
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        log_error("signalfd failed: %s", strerror(errno));
        return FAC_EXIT_CRASH;
    }
    char where[1200];
    log_info("fac-scheduler %s starting: redis %s, prefix %s, %zu queues on %zu servers, %zu cron "
             "entries",
             s->id, shard_display(&s->map, SHARD_HOME, where, sizeof where), cfg->prefix,
             cfg->nqueues, s->map.nservers, cfg->ncron);
    scripts_init();
    int rc = sched_loop(s, sfd, argv);
    leader_release(s);
    drop_wakes(s);
    shard_conns_close(&s->conns);
    free(s->wake);
    shard_map_free(&s->map);
    close(sfd);
    free(s->cron_next);
    log_info("fac-scheduler %s exiting", s->id);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"log-file", required_argument, NULL, 'L'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *path = DEFAULT_CONFIG, *log_file = NULL, *log_level = NULL;
    int check = 0, c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'C':
            check = 1;
            break;
        case 'L':
            log_file = optarg;
            break;
        case 'l':
            log_level = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            puts("fac-scheduler 0.1.0 (protocol v1)");
            return 0;
        default:
            usage(stderr);
            return FAC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return FAC_EXIT_USAGE;
    }
    struct boot_opts o = {"fac-scheduler", "sch", path, check, log_file, log_level, NULL};
    int rc;
    struct fac_config *cfg = boot_config(&o, &rc);
    if (!cfg) return rc;
    rc = run(cfg, argv);
    config_free(cfg);
    return rc;
}
