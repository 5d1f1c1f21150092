/*
 * The supervisor's Prometheus metrics (docs/operations.md "Metrics"): the state they
 * are rendered from, and the /metrics endpoint serving them (metrics_http.c). The
 * supervisor's main loop owns every write; the endpoint's thread only reads, under
 * the metrics mutex, so it never touches Redis or the supervisor's own structs.
 * Every function accepts NULL (metrics off).
 */
#ifndef FAC_METRICS_H
#define FAC_METRICS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <sys/types.h>

#include "buf.h"
#include "config.h"
#include "shm.h"

/* Why a worker went away and was replaced (fac_worker_restarts_total's reason). */
enum exit_reason {
    XR_NONE = -1, /* a stop asked for: not a restart */
    XR_MAX_MEMORY,
    XR_MAX_JOBS,
    XR_CRASHED,
    XR_KILLED_HEARTBEAT,
    XR_KILLED_MEMORY,
    XR_BOOT_ERROR,
    XR_REDIS_LOST,
    XR_COUNT
};

struct metrics;

/* One queue as the supervisor last read it (every ~2 s, from the queue's own server). */
struct queue_snap {
    long long depth; /* < 0: unknown (its server did not answer) */
    double oldest_s; /* age of the oldest waiting job; < 0: unknown */
};
/* LLEN and LINDEX -1 (the oldest: workers take from the right) of queue i on c, one
 * round trip; c may be NULL (unknown). */
void queue_snap_read(redisContext *c, const struct fac_config *cfg, size_t i,
                     struct queue_snap *out);

/* Starts the endpoint at cfg->metrics; NULL when it is off or cannot listen (logged:
 * the pool runs on without it). cfg must outlive it or be replaced by set_config. */
struct metrics *metrics_start(const struct fac_config *cfg, struct pool_shm *shm);
void metrics_stop(struct metrics *m);
/* In a forked worker: lets go of the listening socket. */
void metrics_after_fork(struct metrics *m);
/* The supervisor's loop polls metrics_fd (-1: nothing to poll) and calls metrics_serve
 * when it is readable: /metrics is served on that loop (metrics_http.h). */
int metrics_fd(const struct metrics *m);
void metrics_serve(struct metrics *m);
/* Before the old config is freed (reload). */
void metrics_set_config(struct metrics *m, const struct fac_config *cfg);
void metrics_worker_started(struct metrics *m, int slot, pid_t pid);
/* Before the slot is cleared: its counters are carried into the pool's totals. */
void metrics_worker_exited(struct metrics *m, int slot, enum exit_reason why);
/* Takes the queues the supervisor read (n of them, per cfg->queues), the cluster view
 * from the home server c (may be NULL) and the audit spool's size from disk. */
void metrics_refresh(struct metrics *m, redisContext *c, const struct queue_snap *q, size_t n);
/* The Prometheus text page, appended to out (metrics_http.c's handler). */
void metrics_render(struct metrics *m, struct buf *out);

#endif
