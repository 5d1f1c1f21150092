/*
 * The executor interface. An executor runs one tool call inside the worker's event
 * loop and reports its outcome through done(); it knows its tool and its limits, never
 * Redis keys, the audit or the ack (job.c owns a job's life).
 */
#ifndef FAC_EXEC_H
#define FAC_EXEC_H

#include <ev.h>
#include <jansson.h>
#include <msgpack.h>

#include "buf.h"
#include "config.h"
#include "envelope.h"

struct exec_call;
typedef void (*exec_done_fn)(struct exec_call *call);

struct exec_call {
    /* Set by the job before start; valid until done() or cancel(). */
    struct ev_loop *loop;
    const struct fac_config *cfg; /* sites and defaults */
    const struct tool_cfg *tool;
    const msgpack_object *args;    /* a map, or NULL for none */
    struct str job_id, site, user; /* from the envelope; site/user may be empty */
    msgpack_zone *zone;            /* where a result object may be allocated */
    double timeout;                /* seconds: the tool's, or the envelope's when lower */
    exec_done_fn done;

    /* Outcome, filled by the executor before it calls done(). */
    const char *status;   /* FAC_ST_* */
    const char *err_type; /* when status is not Success; points to err_type_buf */
    char err_type_buf[64];
    struct buf err_msg;    /* freed by the job */
    msgpack_object result; /* Success: lives in zone or in args */

    /* The executor's own state. */
    ev_timer timer;
    void *priv;
};

struct executor {
    const char *kind;
    /* Starts the call; done() may be called before start returns. */
    void (*start)(struct exec_call *call);
    /* Stops a call that has not called done(); done() is then never called. */
    void (*cancel)(struct exec_call *call);
};

const struct executor *exec_for(const struct tool_cfg *tool);
/* Sets a failed outcome (type is copied); done() is still the caller's to call. */
void exec_fail(struct exec_call *call, const char *status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Sets Success with v, converted to msgpack in call->zone. */
void exec_succeed_json(struct exec_call *call, const json_t *v);

extern const struct executor exec_builtin, exec_mcp, exec_http, exec_process, exec_sql;

#endif
