/*
 * The cluster-wide view behind /metrics' fac_cluster_* series: every pool on every
 * host sharing this Redis, read from the worker registry (P:workers and each
 * P:worker:<id> hash) and totalled per host. The supervisor's main loop reads it with
 * the other metrics snapshot (every 2 s), so a scrape never touches Redis; a read is
 * bounded (the CLUSTER_MAX_WORKERS most recently heard workers, two round trips, no
 * KEYS or SCAN).
 */
#ifndef FAC_CLUSTER_H
#define FAC_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "config.h"

#define CLUSTER_MAX_WORKERS 1024

/* All doubles, so /metrics renders them from one table (metrics.c). */
struct cluster_host {
    char host[72];
    double workers;         /* heard within dead_after */
    double silent;          /* registered but silent for over dead_after: awaiting rescue */
    double running;         /* jobs running now on its live workers */
    double done;            /* jobs finished by its registered workers (a recycle resets) */
    double failed;          /* of those, the failed ones */
    double jobs_per_s;      /* finished per second, from each worker's heartbeats */
    double heartbeat_age_s; /* the oldest heartbeat among its workers, on Redis's clock */
};

struct cluster_view {
    struct cluster_host *hosts; /* sorted by host; owned, freed by cluster_view_free */
    size_t nhosts;
    long long registered; /* ZCARD P:workers: more than CLUSTER_MAX_WORKERS means truncated */
};

struct cluster;

/* The reader keeps each worker's last count and heartbeat to work out jobs/s. */
struct cluster *cluster_new(void);
void cluster_free(struct cluster *cl);
/* Reads the registry into *out (zeroed first); -1 when Redis failed (out stays empty). */
int cluster_read(struct cluster *cl, redisContext *c, const struct fac_config *cfg,
                 struct cluster_view *out);
void cluster_view_free(struct cluster_view *v);

#endif
