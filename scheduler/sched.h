/*
 * fac-scheduler's state, shared by its parts: main.c (the loop, signals, connections),
 * leader.c (the lease), promote.c (delayed jobs and the wake-up channel), cron.c and
 * rescue.c. Any number of schedulers may run; only the lease holder does the work.
 * The scheduler links lib/ only, never worker code.
 */
#ifndef FAC_SCHED_H
#define FAC_SCHED_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "redis.h"
#include "shard.h"

struct sched {
    struct fac_config *cfg;
    struct shard_map map;     /* which server each queue lives on (docs/sharding.md) */
    struct shard_conns conns; /* one connection per server */
    redisContext *c;          /* conns.c[SHARD_HOME]: lease, registry, cron bookkeeping;
                               * NULL while the home server is away */
    redisContext **wake;      /* per server: subscribed to its wake channel while leader */
    char id[160];             /* "<host_id>:<pid>": the lease holder's name */

    int64_t master_check_ms; /* Sentinel: when to ask again whether the master moved */

    bool leader;
    int64_t next_claim_ms;  /* monotonic: the next lease claim (renewal or attempt) */
    int64_t next_rescue_ms; /* monotonic */
    int64_t *cron_next;     /* per cron entry: its next slot (epoch s) */
    int64_t cron_fired_to;  /* the epoch second last written to P:scheduler:cron_at */
};

/* leader.c: claims or renews the lease when it is time; sets s->leader. */
void leader_tick(struct sched *s);
/* Gives the lease up at once (clean exit), so another scheduler takes over now. */
void leader_release(struct sched *s);

/* main.c: the connection to a queue's server, or NULL while it is away (logged). */
redisContext *sched_queue_conn(struct sched *s, const char *queue);

/* promote.c: moves every due delayed job to its ready list; returns the wall-clock ms
 * of the earliest job still delayed (INT64_MAX: none). Renews the lease between
 * batches, and stops when it is lost. */
int64_t promote_due(struct sched *s);
/* Subscribes a wake connection to the channel producers publish an earlier due time on
 * (on the server of the delayed zset they wrote). */
int wake_subscribe(struct sched *s, redisContext *wake);
/* Reads what a wake connection has (after poll said it is readable). */
void wake_drain(redisContext *wake);

/* cron.c: slots from now on will fire, or from where the last leader stopped when
 * that was a moment ago (a hand-over). */
void cron_start(struct sched *s);
/* Fires every due slot once; returns the wall-clock ms of the next slot (INT64_MAX:
 * no cron entries). */
int64_t cron_fire_due(struct sched *s);

/* rescue.c: requeues the in-flight jobs of workers whose host went silent. */
void rescue_dead_workers(struct sched *s);

#endif
