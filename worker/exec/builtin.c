/*
 * Builtin tools for health checks, tests and benchmarks: echo, noop, sleep, fail, and
 * (only with test_tools) leak and hang, which exist to prove recycling and the
 * heartbeat. sleep waits on the event loop, so other jobs keep running.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "fac/protocol.h"
#include "mp.h"

static int64_t arg_int(const struct exec_call *c, const char *key, int64_t dflt)
{
    const msgpack_object *v = mp_map_get(c->args, key, strlen(key));
    if (!v) return dflt;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return v->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)v->via.u64;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return v->via.i64;
    if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32)
        return (int64_t)v->via.f64;
    return dflt;
}

static void succeed(struct exec_call *c)
{
    c->status = FAC_ST_SUCCESS;
    c->done(c);
}

static void sleep_done(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct exec_call *c = t->data;
    succeed(c);
}

/* Allocations kept for the life of the worker: leaking is the tool's whole purpose. */
static void **leaked;
static size_t nleaked;

static void builtin_start(struct exec_call *c)
{
    const char *fn = c->tool->builtin;
    c->result.type = MSGPACK_OBJECT_NIL;
    if (strcmp(fn, "echo") == 0) {
        if (c->args)
            c->result = *c->args;
        else
            c->result.type = MSGPACK_OBJECT_NIL;
        succeed(c);
    } else if (strcmp(fn, "noop") == 0) {
        succeed(c);
    } else if (strcmp(fn, "sleep") == 0) {
        int64_t ms = arg_int(c, "ms", 0);
        if (ms < 0) ms = 0;
        ev_timer_init(&c->timer, sleep_done, (double)ms / 1000.0, 0);
        c->timer.data = c;
        ev_timer_start(c->loop, &c->timer);
    } else if (strcmp(fn, "fail") == 0) {
        const msgpack_object *m = mp_get(c->args, "message");
        if (m && m->type == MSGPACK_OBJECT_STR)
            exec_fail(c, FAC_ST_ERROR, FAC_ERR_EXEC, "%.*s", (int)m->via.str.size, m->via.str.ptr);
        else
            exec_fail(c, FAC_ST_ERROR, FAC_ERR_EXEC, "the fail tool failed, as asked");
        c->done(c);
    } else if (strcmp(fn, "leak") == 0) {
        int64_t mb = arg_int(c, "mb", 1);
        if (mb < 0) mb = 0;
        if (mb > 65536) mb = 65536;
        void *p = malloc((size_t)mb << 20);
        void **grown = realloc(leaked, (nleaked + 1) * sizeof *leaked);
        if (!p || !grown) {
            free(p);
            exec_fail(c, FAC_ST_ERROR, FAC_ERR_EXEC, "leak: cannot allocate %lld MB",
                      (long long)mb);
            c->done(c);
            return;
        }
        memset(p, 0xa5, (size_t)mb << 20);
        leaked = grown;
        leaked[nleaked++] = p;
        succeed(c);
    } else if (strcmp(fn, "hang") == 0) {
        int64_t ms = arg_int(c, "ms", 0);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        if (ms <= 0)
            for (;;)
                pause(); /* blocks the event loop until the supervisor kills us */
        while (nanosleep(&ts, &ts) != 0) {
        }
        succeed(c);
    } else {
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_EXEC, "unknown builtin \"%s\"", fn);
        c->done(c);
    }
}

static void builtin_cancel(struct exec_call *c)
{
    ev_timer_stop(c->loop, &c->timer);
}

const struct executor exec_builtin = {"builtin", builtin_start, builtin_cancel};
