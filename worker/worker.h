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
#include "shard.h"
#include "shm.h"

struct ack;
struct job;
struct tool_gate;

enum worker_mode {
    WM_RUN,   /* fetching */
    WM_QUIET, /* TSTP: not fetching, staying up */
    WM_DRAIN, /* TERM or recycle: finish what is held, then exit */
    WM_ABORT, /* QUIT or shutdown timeout: cancel running jobs, then exit */
};

/* One Redis server of the worker (lib/shard.h): the home server or a queue shard. Every
 * connection's data points at the server it goes to (servers.c). */
struct wserver {
    struct worker *w;
    size_t index;           /* in w->map.servers */
    redisAsyncContext *cmd; /* every command to this server but the blocking peeks; NULL
                             * while a lost shard is away */
    size_t *queues;         /* the cfg queue indices it holds, in priority order */
    size_t nq;
    int booting;        /* its connections still running their boot commands */
    bool up;            /* every connection booted: its queues are fetched */
    bool down;          /* a lost shard waiting for its reconnect timer */
    bool was_lost;      /* on coming back, put back what this worker held there */
    bool settled;       /* its first connection attempt has ended (up or lost) */
    bool backlog;       /* a take saw more jobs behind its own: fetch though all are parked */
    bool may_unblock;   /* CLIENT UNBLOCK is allowed here: idle queues park takes (fetch.c) */
    uint32_t epoch;     /* + 1 on each loss: an older ack is not sent (job.c) */
    int64_t backoff_ms; /* the delay before the next reconnect */
    ev_timer reconnect;
    /* Sentinel (docs/sentinel.md): via holds the sentinels and w->map.servers[index] the
     * master pinned for this boot (home) or this connection round (a shard). */
    struct redis_target via;  /* via.nsentinels == 0: no Sentinel for this server */
    redisAsyncContext *watch; /* subscribed to +switch-master on one sentinel, or NULL */
    int watch_next;           /* the sentinel to try next */
    ev_timer watch_retry;
    struct ack *wait_list; /* redis_wait: its stored results no WAIT covers yet (job.c) */
};

struct worker {
    struct ev_loop *loop;
    const struct fac_config *cfg;
    struct pool_shm *shm;
    struct worker_slot *slot;
    char wid[128];

    struct shard_map map;             /* which server each queue lives on */
    struct wserver *servers;          /* per map server; [SHARD_HOME] holds the registry */
    redisAsyncContext *cmd;           /* servers[SHARD_HOME].cmd: registry, heartbeat, cache */
    redisAsyncContext **peek;         /* per queue, on its server: the parked BLMOVE, a take or a
                                       * peek (fetch.c) */
    bool *peek_armed;                 /* per queue: its BLMOVE is parked */
    bool *take_armed;                 /* per queue: the parked BLMOVE is a take (holds a slot) */
    bool *unblocking;                 /* per queue: a CLIENT UNBLOCK of it is on the wire */
    bool *take_got;                   /* per queue: its take brought a job, its LLEN is due */
    long long *peek_id;               /* per queue: CLIENT ID of its connection, 0 until known */
    char **ready_key, **inflight_key; /* per queue */
    redisAsyncContext *cancel_sub;    /* subscribed to P:cancel (cancel.c) */
    char canceled_key[FAC_KEY_MAX];   /* P:canceled */
    bool cancels_pending;             /* the last fetch saw cancels waiting, or one was heard */
    uint64_t cancels_heard;           /* cancels heard on P:cancel (cancel.c), a count */
    uint64_t cancels_heard_at_fetch;  /* that count when the fetch on the wire was sent */
    bool ready;                       /* registered and serving */
    bool unblock_warned;              /* a server refused CLIENT UNBLOCK: logged once */
    int unsettled;                    /* servers whose first connection attempt has not ended */
    ev_timer settle_wait;             /* serve anyway when a shard takes too long to answer */

    struct job *jobs;        /* concurrency slots */
    struct job *free_jobs;   /* free list through job->next_free */
    struct tool_gate *gates; /* per tool of cfg, made on first use (gate.c) */
    int running;             /* slots in use */
    int unacked;             /* finished jobs waiting for audit durability and LREM */
    bool fetching;           /* a fetch pass is under way (a fetch script is on the wire) */
    size_t fetch_pos;        /* the pass's position in map.fetch_order */
    bool want_fetch;         /* run a fetch before the loop next blocks */
    int fetch_asked;         /* how many jobs the fetch on the wire asked for */
    ev_prepare prepare;

    int64_t waits_short, waits_short_logged_ms; /* WAITs short of replicas, last warning */

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

/* servers.c: opens a server's command connection, its queues' wake-up connections and,
 * on home, the cancel subscription; -1 when one could not even be started. */
int server_connect(struct wserver *srv);
/* A queue shard's connection failed (failed: that connection, which hiredis is freeing;
 * may be NULL): its jobs are dropped, its other connections closed, and it is
 * reconnected with a growing delay while the other servers' queues go on. */
void server_lost(struct wserver *srv, const redisAsyncContext *failed, const char *what,
                 const char *why);
void server_reconnect_due(struct ev_loop *loop, ev_timer *t, int revents);
/* Opens a connection to a server (AUTH, CLIENT SETNAME and, unless pubsub, SELECT). A
 * pubsub connection's owner calls worker_conn_booted once it is subscribed. */
redisAsyncContext *worker_conn_open(struct wserver *srv, const char *name, bool pubsub);
/* "host:port/db" of a connection's server: safe to log. */
const char *worker_conn_where(const redisAsyncContext *c, char *out, size_t outlen);
/* Starts the wait for every server's first connection attempt (servers.c). */
void servers_boot(struct worker *w);
/* worker.c: home is up (and every shard up or known away): register and start fetching. */
void worker_home_ready(struct worker *w);
/* The worker a connection belongs to. */
static inline struct worker *conn_worker(const redisAsyncContext *c)
{
    return ((struct wserver *)c->data)->w;
}
/* The command connection to the server of queue qidx: everything of a job goes there. */
static inline redisAsyncContext *queue_cmd(const struct worker *w, int qidx)
{
    return w->servers[w->map.queue_server[qidx]].cmd;
}
void worker_conn_booted(struct wserver *srv);

/* sentinel.c: for every server behind Sentinel, subscribes to +switch-master: home's
 * switch ends the worker (exit 4), a shard's drops and reconnects that shard. */
void sentinel_watch_start(struct worker *w);
/* servers.c: a shard behind Sentinel: pins w->map.servers[srv->index] to the master the
 * sentinels name now; 0, or -1 with err (and, for refused credentials, exit_code set). */
int server_pin(struct wserver *srv, char *err, size_t errlen);

/* cancel.c: subscribes to P:cancel, which stops a running job when its id comes. */
redisAsyncContext *cancel_open(struct worker *w);

/* Lifecycle hooks used by job.c and fetch.c. */
void worker_job_released(struct worker *w);
/* c: the connection that failed (its server is named in the log). On a queue shard a
 * failover reply (READONLY, UNBLOCKED, MASTERDOWN) drops and reconnects that shard
 * instead (server_lost). */
void worker_fatal_redis_on(const redisAsyncContext *c, const char *what, const char *why);
/* The same for a cause that is no connection's (a Sentinel failover): names home. */
void worker_fatal_redis(struct worker *w, const char *what, const char *why);
void worker_begin_stop(struct worker *w, enum worker_mode mode, const char *reason);
/* Exits the loop once a stopping worker holds nothing more. */
void worker_maybe_exit(struct worker *w);

/* fetch.c */
void fetch_request(struct worker *w);
void fetch_on_prepare(struct worker *w);

#endif
