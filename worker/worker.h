/*
 * One worker process: a libev loop that fetches jobs from its queues, runs up to
 * `concurrency` of them at once, and lives until it is told to stop or recycles itself.
 * The struct is shared by worker.c (loop, connections, lifecycle), fetch.c and job.c.
 */
#ifndef FAC_WORKER_H
#define FAC_WORKER_H

#include <ev.h>
#include <hiredis/async.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "config.h"
#include "keys.h"
#include "redis.h"
#include "shm.h"

struct job;
struct tool_gate;

enum worker_mode {
    WM_RUN,   /* fetching */
    WM_QUIET, /* TSTP: not fetching, staying up */
    WM_DRAIN, /* TERM or recycle: finish what is held, then exit */
    WM_ABORT, /* QUIT or shutdown timeout: cancel running jobs, then exit */
};

struct worker {
    struct ev_loop *loop;
    const struct fac_config *cfg;
    struct pool_shm *shm;
    struct worker_slot *slot;
    struct redis_target target;
    char wid[128];

    redisAsyncContext *cmd;   /* every command but the blocking peeks */
    redisAsyncContext **peek; /* per queue: BLMOVE Q Q (a wake-up that takes nothing) */
    bool *peek_armed;
    bool take_armed;                  /* peek[0] holds a BLMOVE ready inflight: a take (fetch.c) */
    bool peek0_unblocking;            /* CLIENT UNBLOCK of peek[0]'s BLMOVE is on the wire */
    long long peek0_conn_id;          /* CLIENT ID of peek[0], for that UNBLOCK */
    char **ready_key, **inflight_key; /* per queue */
    redisAsyncContext *cancel_sub;    /* subscribed to P:cancel (cancel.c) */
    char canceled_key[FAC_KEY_MAX];   /* P:canceled */
    bool cancels_pending; /* the last fetch saw cancels waiting, or a cancel was heard since */
    int connected;        /* connections that completed their boot commands */
    bool ready;           /* registered and serving */

    struct job *jobs;        /* concurrency slots */
    struct job *free_jobs;   /* free list through job->next_free */
    struct tool_gate *gates; /* per tool of cfg, made on first use (gate.c) */
    int running;             /* slots in use */
    int unacked;             /* finished jobs waiting for audit durability and LREM */
    bool fetching;           /* a fetch script is on the wire */
    bool want_fetch;         /* run a fetch before the loop next blocks */
    int fetch_asked;         /* how many jobs the fetch on the wire asked for */
    ev_prepare prepare;

    enum worker_mode mode;
    const char *stop_reason;
    int exit_code;
    int64_t started_at; /* wall ms */
    int64_t jobs_done, jobs_failed, jobs_limit;
    int64_t last_rss_check_ns;

    struct audit *audit;
    ev_timer heartbeat, shutdown_timer;
    ev_signal sigs[5];
};

/* Runs the worker until it exits; returns the process exit code (enum fac_exit). */
int worker_main(const struct fac_config *cfg, struct pool_shm *shm, int slot_index);

/* Opens a connection (AUTH, CLIENT SETNAME and, unless pubsub, SELECT). A pubsub
 * connection's owner calls worker_conn_booted once it is subscribed. */
redisAsyncContext *worker_conn_open(struct worker *w, const char *name, bool pubsub);
void worker_conn_booted(struct worker *w);

/* cancel.c: subscribes to P:cancel, which stops a running job when its id comes. */
redisAsyncContext *cancel_open(struct worker *w);

/* Lifecycle hooks used by job.c and fetch.c. */
void worker_job_released(struct worker *w);
void worker_fatal_redis(struct worker *w, const char *what, const char *why);
void worker_begin_stop(struct worker *w, enum worker_mode mode, const char *reason);
/* Exits the loop once a stopping worker holds nothing more. */
void worker_maybe_exit(struct worker *w);

/* fetch.c */
void fetch_request(struct worker *w);
void fetch_on_prepare(struct worker *w);
void fetch_arm_peeks(struct worker *w);

#endif
