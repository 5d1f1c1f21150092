/*
 * A job's life inside a worker, in order: decode → (a rescued job whose result already
 * exists is only acknowledged) → run under its timeout → result record stored and
 * pushed to reply_to → audit row handed to the batcher → once the row is durable and
 * the result stored, LREM from the in-flight list. Broken envelopes go to the dead
 * list in one atomic move, which is their acknowledgement.
 */
#ifndef FAC_JOB_H
#define FAC_JOB_H

#include <ev.h>
#include <msgpack.h>
#include <stddef.h>

#include "envelope.h"
#include "exec/exec.h"

struct worker;

enum job_state { J_FREE, J_CHECK, J_RUN };

struct job {
    struct worker *w;
    struct job *next_free;
    enum job_state state;
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
};

/* Takes a free slot and starts the job held in raw (copied). */
void job_start(struct worker *w, int qidx, const char *raw, size_t len);
/* Cancels every running job without acknowledging it: it stays in the in-flight list and
 * the supervisor puts it back on its queue when this worker exits. */
void job_abort_all(struct worker *w);
/* The audit batcher's durable callback: acknowledges the jobs of a flushed batch. */
void job_audit_durable(void *ud, void **tokens, size_t n);

#endif
