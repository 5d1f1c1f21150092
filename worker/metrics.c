/*
 * The supervisor's metrics state and its Prometheus text rendering (see metrics.h).
 * Per-tool counters live in the workers' shm slots; a reaped worker's are carried into
 * pool totals first, so a counter never goes backwards. Queue depths, oldest-job ages
 * and the spool size are a snapshot the main loop refreshes every 2 s, because the
 * endpoint's thread must not use the supervisor's synchronous Redis connection; so is
 * the cluster view of every host's workers (cluster.h).
 */
#include "metrics.h"

#include <dirent.h>
#include <msgpack.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "cluster.h"
#include "keys.h"
#include "metrics_http.h"
#include "mp.h"

struct metrics {
    pthread_mutex_t mu;
    const struct fac_config *cfg;
    struct pool_shm *shm;
    pid_t pids[FAC_MAX_WORKERS]; /* 0: not counted (free, or being cleared) */
    struct tool_counters carried[FAC_MAX_TOOLS];
    long long exits[XR_COUNT];
    struct queue_snap *queues; /* nqueues of them, as of the last refresh */
    size_t nqueues;
    long long spool_bytes;
    struct cluster *cluster;  /* the main loop's reader state */
    struct cluster_view view; /* as of the last refresh; view.hosts NULL: not read */
    struct metrics_http *http;
};

static const char *const exit_names[XR_COUNT] = {"max_memory",       "max_jobs",      "crashed",
                                                 "killed_heartbeat", "killed_memory", "boot_error",
                                                 "redis_lost"};
static const char *const outcome_names[JO_COUNT] = {"Success", "Error", "Timeout",
                                                    "Permission Denied", "Canceled"};

struct metrics *metrics_start(const struct fac_config *cfg, struct pool_shm *shm)
{
    if (!*cfg->metrics) return NULL;
    struct metrics *m = calloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->cfg = cfg;
    m->shm = shm;
    m->cluster = cluster_new();
    m->http = metrics_http_start(cfg->metrics, m);
    if (!m->http) {
        cluster_free(m->cluster);
        free(m);
        return NULL;
    }
    return m;
}

void metrics_stop(struct metrics *m)
{
    if (!m) return;
    metrics_http_stop(m->http);
    free(m->queues);
    cluster_free(m->cluster);
    cluster_view_free(&m->view);
    free(m);
}

void metrics_after_fork(struct metrics *m)
{
    if (m) metrics_http_after_fork(m->http);
}

int metrics_fd(const struct metrics *m)
{
    return m ? metrics_http_fd(m->http) : -1;
}

void metrics_serve(struct metrics *m)
{
    if (m) metrics_http_run(m->http);
}

void metrics_set_config(struct metrics *m, const struct fac_config *cfg)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->cfg = cfg;
    pthread_mutex_unlock(&m->mu);
}

void metrics_worker_started(struct metrics *m, int slot, pid_t pid)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    m->pids[slot] = pid;
    pthread_mutex_unlock(&m->mu);
}

/* to += the slot's counters (relaxed loads: each is a counter on its own). */
static void add_counters(struct tool_counters *to, const struct tool_counters *from)
{
    for (int s = 0; s < JO_COUNT; s++)
        to->jobs[s] += shm_load(&from->jobs[s]);
    for (int b = 0; b < FAC_NBUCKETS; b++)
        to->buckets[b] += shm_load(&from->buckets[b]);
    to->duration_us += shm_load(&from->duration_us);
}

void metrics_worker_exited(struct metrics *m, int slot, enum exit_reason why)
{
    if (!m) return;
    pthread_mutex_lock(&m->mu);
    for (int t = 0; t < FAC_MAX_TOOLS; t++)
        add_counters(&m->carried[t], &m->shm->slots[slot].tools[t]);
    m->pids[slot] = 0;
    if (why != XR_NONE) m->exits[why]++;
    pthread_mutex_unlock(&m->mu);
}

/* ---- the snapshot ---- */

static long long spool_size(const struct fac_config *cfg)
{
    if (strcmp(cfg->audit.to, "mariadb") != 0) return 0;
    DIR *d = opendir(cfg->audit.spool);
    if (!d) return 0;
    long long total = 0;
    struct dirent *e;
    struct stat st;
    while ((e = readdir(d)))
        if (fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode)) total += st.st_size;
    closedir(d);
    return total;
}

/* Seconds since the envelope's enqueued_at; -1 when it has none. */
static double envelope_age(const char *data, size_t len)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    double age = -1;
    if (msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *at = mp_get(&u.data, "enqueued_at");
        if (at && at->type == MSGPACK_OBJECT_POSITIVE_INTEGER && at->via.u64 > 0) {
            int64_t ms = now_ms() - (int64_t)at->via.u64;
            age = ms > 0 ? (double)ms / 1000.0 : 0; /* a producer's clock may run ahead */
        }
    }
    msgpack_unpacked_destroy(&u);
    return age;
}

void queue_snap_read(redisContext *c, const struct fac_config *cfg, size_t i,
                     struct queue_snap *out)
{
    *out = (struct queue_snap){-1, -1};
    if (!c) return;
    char k[FAC_KEY_MAX];
    key_ready(k, cfg->prefix, cfg->queues[i]);
    redisAppendCommand(c, "LLEN %s", k);
    redisAppendCommand(c, "LINDEX %s -1", k);
    redisReply *len = NULL, *last = NULL;
    if (redisGetReply(c, (void **)&len) == REDIS_OK &&
        redisGetReply(c, (void **)&last) == REDIS_OK) {
        if (len->type == REDIS_REPLY_INTEGER) out->depth = len->integer;
        out->oldest_s = last->type == REDIS_REPLY_STRING ? envelope_age(last->str, last->len) : 0;
    }
    freeReplyObject(len);
    freeReplyObject(last);
}

void metrics_refresh(struct metrics *m, redisContext *c, const struct queue_snap *queues, size_t n)
{
    if (!m) return;
    struct queue_snap *q = malloc((n ? n : 1) * sizeof *q);
    if (!q) return;
    memcpy(q, queues, n * sizeof *q);
    struct cluster_view view = {0};
    if (c) cluster_read(m->cluster, c, m->cfg, &view); /* only this thread replaces cfg */
    long long spool = spool_size(m->cfg);
    pthread_mutex_lock(&m->mu);
    free(m->queues);
    m->queues = q;
    m->nqueues = n;
    m->spool_bytes = spool;
    cluster_view_free(&m->view);
    m->view = view;
    pthread_mutex_unlock(&m->mu);
}

/* ---- rendering ---- */

static void head(struct buf *o, const char *name, const char *type, const char *help)
{
    buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with Prometheus' escapes. */
static void label(struct buf *o, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"') buf_putc(o, '\\');
        if (*s == '\n')
            buf_puts(o, "\\n");
        else
            buf_putc(o, *s);
    }
}

static void render_queues(struct metrics *m, struct buf *o)
{
    size_t n = m->nqueues < m->cfg->nqueues ? m->nqueues : m->cfg->nqueues;
    head(o, "fac_queue_depth", "gauge", "Jobs waiting in the queue's ready list.");
    for (size_t i = 0; i < n; i++)
        if (m->queues[i].depth >= 0) {
            buf_puts(o, "fac_queue_depth{queue=\"");
            label(o, m->cfg->queues[i]);
            buf_printf(o, "\"} %lld\n", m->queues[i].depth);
        }
    head(o, "fac_queue_oldest_job_age_seconds", "gauge",
         "Age of the oldest waiting job (from its enqueued_at); 0 when the queue is empty.");
    for (size_t i = 0; i < n; i++)
        if (m->queues[i].oldest_s >= 0) {
            buf_puts(o, "fac_queue_oldest_job_age_seconds{queue=\"");
            label(o, m->cfg->queues[i]);
            buf_printf(o, "\"} %.3f\n", m->queues[i].oldest_s);
        }
}

static void tool_totals(struct metrics *m, size_t t, struct tool_counters *sum)
{
    *sum = m->carried[t];
    for (int i = 0; i < FAC_MAX_WORKERS; i++)
        if (m->pids[i]) add_counters(sum, &m->shm->slots[i].tools[t]);
}

static void render_histogram(struct buf *o, const char *tool, const struct tool_counters *c)
{
    long long cum = 0;
    for (int b = 0; b < FAC_NBUCKETS; b++) {
        cum += c->buckets[b];
        buf_puts(o, "fac_job_duration_seconds_bucket{tool=\"");
        label(o, tool);
        if (b < FAC_NBUCKETS - 1)
            buf_printf(o, "\",le=\"%g\"} %lld\n", shm_duration_bounds[b], cum);
        else
            buf_printf(o, "\",le=\"+Inf\"} %lld\n", cum);
    }
    buf_puts(o, "fac_job_duration_seconds_sum{tool=\"");
    label(o, tool);
    buf_printf(o, "\"} %.6f\n", (double)c->duration_us / 1e6);
    buf_puts(o, "fac_job_duration_seconds_count{tool=\"");
    label(o, tool);
    buf_printf(o, "\"} %lld\n", cum);
}

static void render_jobs(struct metrics *m, struct buf *o)
{
    size_t n = m->cfg->ntools < FAC_MAX_TOOLS ? m->cfg->ntools : FAC_MAX_TOOLS;
    struct tool_counters *sums = calloc(n ? n : 1, sizeof *sums);
    for (size_t t = 0; t < n; t++)
        tool_totals(m, t, &sums[t]);
    head(o, "fac_jobs_total", "counter", "Jobs finished (each attempt), by tool and status.");
    for (size_t t = 0; t < n; t++)
        for (int s = 0; s < JO_COUNT; s++) {
            buf_puts(o, "fac_jobs_total{tool=\"");
            label(o, m->cfg->tools[t].name);
            buf_printf(o, "\",status=\"%s\"} %lld\n", outcome_names[s], (long long)sums[t].jobs[s]);
        }
    head(o, "fac_job_duration_seconds", "histogram", "How long jobs ran, by tool.");
    for (size_t t = 0; t < n; t++)
        render_histogram(o, m->cfg->tools[t].name, &sums[t]);
    free(sums);
}

static void render_pool(struct metrics *m, struct buf *o)
{
    int alive = 0;
    for (int i = 0; i < FAC_MAX_WORKERS; i++)
        alive += m->pids[i] != 0;
    head(o, "fac_workers", "gauge", "Live worker processes.");
    buf_printf(o, "fac_workers %d\n", alive);
    head(o, "fac_worker_rss_bytes", "gauge", "Resident memory of each worker process.");
    for (int i = 0; i < FAC_MAX_WORKERS; i++)
        if (m->pids[i])
            buf_printf(o, "fac_worker_rss_bytes{pid=\"%d\",slot=\"%d\"} %lld\n", (int)m->pids[i], i,
                       (long long)shm_load(&m->shm->slots[i].rss));
    head(o, "fac_worker_restarts_total", "counter",
         "Workers replaced, by reason: recycles (max_memory, max_jobs) and failures.");
    for (int r = 0; r < XR_COUNT; r++)
        buf_printf(o, "fac_worker_restarts_total{reason=\"%s\"} %lld\n", exit_names[r],
                   m->exits[r]);
    head(o, "fac_audit_spool_bytes", "gauge",
         "Bytes of audit rows spooled on disk, waiting for MariaDB.");
    buf_printf(o, "fac_audit_spool_bytes %lld\n", m->spool_bytes);
}

/* The per-host gauges of the cluster view (cluster.h). */
static const struct {
    const char *name, *help;
    size_t field; /* offsetof a double in struct cluster_host */
} cluster_series[] = {
    {"fac_cluster_workers", "Workers heard within dead_after, by host.",
     offsetof(struct cluster_host, workers)},
    {"fac_cluster_silent_workers",
     "Workers silent for over dead_after (their jobs await the scheduler's rescue), by host.",
     offsetof(struct cluster_host, silent)},
    {"fac_cluster_running_jobs", "Jobs running now, by host.",
     offsetof(struct cluster_host, running)},
    {"fac_cluster_jobs_done",
     "Jobs finished by the host's current workers (drops when a worker recycles).",
     offsetof(struct cluster_host, done)},
    {"fac_cluster_jobs_failed", "Of fac_cluster_jobs_done, the failed ones.",
     offsetof(struct cluster_host, failed)},
    {"fac_cluster_jobs_per_second", "Jobs finished per second, by host, from its heartbeats.",
     offsetof(struct cluster_host, jobs_per_s)},
    {"fac_cluster_heartbeat_age_seconds",
     "The oldest heartbeat among the host's workers, on Redis's clock.",
     offsetof(struct cluster_host, heartbeat_age_s)},
};

static void render_cluster(struct metrics *m, struct buf *o)
{
    const struct cluster_view *v = &m->view;
    if (!v->hosts) return; /* not read yet, or Redis away: no stale cluster */
    head(o, "fac_cluster_registered_workers", "gauge",
         "Workers in the registry, on every host (over 1024: the per-host series count the "
         "1024 most recently heard).");
    buf_printf(o, "fac_cluster_registered_workers %lld\n", v->registered);
    for (size_t s = 0; s < sizeof cluster_series / sizeof *cluster_series; s++) {
        head(o, cluster_series[s].name, "gauge", cluster_series[s].help);
        for (size_t i = 0; i < v->nhosts; i++) {
            double value;
            memcpy(&value, (const char *)&v->hosts[i] + cluster_series[s].field, sizeof value);
            buf_printf(o, "%s{host=\"", cluster_series[s].name);
            label(o, v->hosts[i].host);
            buf_printf(o, "\"} %.15g\n", value);
        }
    }
}

void metrics_render(struct metrics *m, struct buf *out)
{
    pthread_mutex_lock(&m->mu);
    render_queues(m, out);
    render_jobs(m, out);
    render_pool(m, out);
    render_cluster(m, out);
    pthread_mutex_unlock(&m->mu);
}
