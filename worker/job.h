/*
 * A job's life inside a worker, in order: decode → (a rescued job whose result already
 * exists is only acknowledged) → run under its timeout → result record stored and
 * pushed to reply_to → audit row handed to the batcher → once the row is durable and
 * the result stored, LREM from the in-flight list. Broken envelopes go to the dead
 * list in one atomic move, which is their acknowledgement. A failed attempt with
 * attempts left gets no result record: once its audit row is durable it moves from the
 * in-flight list to the delayed zset, due after a backoff (retry.c); a job whose
 * retries ran out also goes to the dead list, with its error history.
 */
#ifndef FAC_JOB_H
#define FAC_JOB_H

#include <ev.h>
#include <msgpack.h>
#include <stddef.h>

#include "envelope.h"
#include "exec/exec.h"
#include "keys.h"

struct worker;

/* J_CACHE: its result cache entry is being read; J_WAIT: waiting for its tool's
 * per-worker cap (gate.c); J_RUN: the executor has it. */
enum job_state { J_FREE, J_CHECK, J_CACHE, J_WAIT, J_RUN };

struct job {
    struct worker *w;
    struct job *next_free;
    struct job *gate_next; /* J_WAIT: next in its tool's queue */
    enum job_state state;
    uint64_t seq; /* which job this slot holds now: replies for an earlier one are dropped */
    int qidx;
    char *raw; /* the element as it sits in the in-flight list; owned */
    size_t raw_len;
    msgpack_zone zone;
    struct envelope env;
    const struct tool_cfg *tool;
    const struct executor *ex;
    struct exec_call call;
    ev_timer timeout;
    double timeout_s;
    int64_t started_at; /* wall ms */
    int64_t t0_ns;      /* monotonic */
    bool cached;        /* answered from the result cache */
    char cache_key[FAC_KEY_MAX];
    int checks;      /* J_CHECK: replies still awaited (cancel, earlier result) */
    bool cancel_hit; /* canceled before it ran: it never will */
};

/* redis_wait: sends one WAIT for the results stored since the last one; their acks
 * (LREM) follow its reply. Called before the loop blocks. */
void job_wait_flush(struct worker *w);
/* Takes a free slot and starts the job held in raw (copied). */
void job_start(struct worker *w, int qidx, const char *raw, size_t len);
/* Steps of a job's run used by cache.c and gate.c: admit (per-tool cap, then launch),
 * launch (timeout armed, executor started), and finish with a cached result. */
void job_admit(struct job *j);
void job_launch(struct job *j);
void job_finish_cached(struct job *j, const msgpack_object *result);
/* Cancels every running job without acknowledging it: it stays in the in-flight list and
 * the supervisor puts it back on its queue when this worker exits. */
void job_abort_all(struct worker *w);
/* The same for the jobs of one server (a lost queue shard); returns how many. */
int job_abort_server(struct worker *w, size_t server);
/* The audit batcher's durable callback: acknowledges the jobs of a flushed batch. */
void job_audit_durable(void *ud, void **tokens, size_t n);
/* Cancels the job with this id if this worker holds it: a running one stops like a
 * timeout (status Canceled), one still being checked never runs. */
void job_cancel(struct worker *w, const char *id, size_t len);

/* retry.c */
int64_t retry_max_attempts(const struct job *j);
/* An Error or Timeout with an attempt left: run it again later. */
bool retry_wanted(const struct job *j, const char *status);
/* An Error or Timeout of a job that had retries and has none left: a dead letter. */
bool retry_exhausted(const struct job *j, const char *status);
int64_t retry_delay_ms(const struct retry_cfg *rb, int64_t attempt);

#endif
