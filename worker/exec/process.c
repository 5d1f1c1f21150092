/*
 * exec tools: a configured program in its own process group, the job's arguments as
 * JSON on its stdin, its result from stdout (JSON when it parses, else the text), its
 * stderr kept (the last max_stderr bytes) for the error message. All I/O and reaping
 * happen on the worker's loop (ev_io, ev_child: only the default loop watches children).
 *
 * Nothing a tool starts outlives it: when the program exits, whatever is left of its
 * group is killed; on a timeout or cancel the group gets SIGTERM, then SIGKILL after
 * kill_grace, repeated until the group is gone (a fork bomb cannot outrun it); and when
 * the worker exits, every group it still tracks is killed.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec.h"
#include "fac_reply.h"
#include "fac/protocol.h"
#include "log.h"
#include "mpjson.h"
#include "proc_env.h"
#include "proc_spawn.h"

#define SWEEP_EVERY 0.05 /* s between SIGKILLs of a group that is still there */
#define SWEEP_TRIES 100

struct proc {
    struct exec_call *call; /* NULL once the job let go (timeout, cancel) */
    const struct tool_cfg *tool;
    struct ev_loop *loop;
    pid_t pgid; /* the program's pid, and its group */
    ev_child child;
    ev_io in, out, err;
    struct buf input, stdout_buf, stderr_buf;
    size_t input_off;
    bool exited, output_overflow;
    int wstatus;
    ev_timer kill_timer; /* grace, then sweeps */
    int sweeps;
    struct proc *next, **pprev; /* every live proc of this worker */
};

static struct proc *procs;

static void proc_list_add(struct proc *p)
{
    p->next = procs;
    p->pprev = &procs;
    if (procs) procs->pprev = &p->next;
    procs = p;
}

static void proc_list_remove(struct proc *p)
{
    *p->pprev = p->next;
    if (p->next) p->next->pprev = p->pprev;
}

/* At worker exit: no tool process may outlive the worker that ran it. */
static void kill_all_at_exit(void)
{
    for (struct proc *p = procs; p; p = p->next)
        killpg(p->pgid, SIGKILL);
}

static void close_io(struct proc *p, ev_io *io)
{
    if (io->fd < 0) return;
    ev_io_stop(p->loop, io);
    close(io->fd);
    io->fd = -1;
}

static void proc_free(struct proc *p)
{
    close_io(p, &p->in);
    close_io(p, &p->out);
    close_io(p, &p->err);
    ev_child_stop(p->loop, &p->child);
    ev_timer_stop(p->loop, &p->kill_timer);
    proc_list_remove(p);
    buf_free(&p->input);
    buf_free(&p->stdout_buf);
    buf_free(&p->stderr_buf);
    free(p);
}

/* ---- the outcome ---- */

static const char *stderr_text(struct proc *p)
{
    struct buf *e = &p->stderr_buf;
    if (e->len > (size_t)p->tool->max_stderr) { /* keep the end: tracebacks end there */
        size_t drop = e->len - (size_t)p->tool->max_stderr;
        memmove(e->data, e->data + drop, e->len - drop);
        e->len -= drop;
    }
    while (e->len && strchr(" \t\r\n", e->data[e->len - 1]))
        e->len--;
    if (!e->len) return "(nothing on stderr)";
    e->data[e->len] = '\0';
    return e->data;
}

static void succeed_with_stdout(struct proc *p)
{
    struct buf *o = &p->stdout_buf;
    json_error_t je;
    char why[256];
    json_t *v = o->len ? json_loadb(o->data, o->len, FAC_JSON_FLAGS, &je) : json_null();
    if (!v && fac_json_refused(&je, why, sizeof why)) {
        exec_fail(p->call, FAC_ST_ERROR, FAC_ERR_EXEC,
                  "tool \"%s\" printed JSON that %s: print a flatter result, once per key",
                  p->tool->name, why);
        return;
    }
    if (!v) {
        size_t n = o->len;
        while (n && (o->data[n - 1] == '\n' || o->data[n - 1] == '\r'))
            n--;
        v = fac_json_text(o->data, n);
    }
    exec_succeed_json(p->call, v);
    json_decref(v);
}

/* Why a tool may have died of a signal, from its limits. */
static void signal_hint(const struct tool_cfg *t, int sig, char *out, size_t len)
{
    out[0] = '\0';
    if (sig == SIGXCPU)
        snprintf(out, len, ": it used up its cpu_limit of %g s", t->cpu_limit);
    else if ((sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT) && t->memory_limit)
        snprintf(out, len, " (its memory_limit is %lld MB)", (long long)(t->memory_limit >> 20));
    else if (sig == SIGKILL)
        snprintf(out, len,
                 " (not by fac-worker: the kernel's OOM killer, a cpu_limit, or "
                 "someone else)");
}

static void set_outcome(struct proc *p)
{
    struct exec_call *c = p->call;
    const struct tool_cfg *t = p->tool;
    int st = p->wstatus;
    if (p->output_overflow) {
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_OUTPUT_TOO_LARGE,
                  "tool \"%s\" wrote more than "
                  "max_output (%lld bytes) to stdout and was killed: have it print less, or "
                  "raise tools.%s.max_output",
                  t->name, (long long)t->max_output, t->name);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        succeed_with_stdout(p);
    } else if (WIFEXITED(st)) {
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_EXEC, "tool \"%s\" exited with status %d: %s", t->name,
                  WEXITSTATUS(st), stderr_text(p));
    } else {
        int sig = WTERMSIG(st);
        char hint[160];
        signal_hint(t, sig, hint, sizeof hint);
        const char *abbrev = sigabbrev_np(sig);
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_EXEC, "tool \"%s\" was killed by SIG%s (%s)%s: %s",
                  t->name, abbrev ? abbrev : "?", strsignal(sig), hint, stderr_text(p));
    }
}

/* ---- the end of a process group ---- */

/* SIGKILL to the group until it is gone; then the proc is freed. */
static void on_kill_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct proc *p = t->data;
    killpg(p->pgid, SIGKILL);
    if (killpg(p->pgid, 0) != 0 && errno == ESRCH) { /* no member left, not even a zombie */
        proc_free(p);
        return;
    }
    if (++p->sweeps > SWEEP_TRIES) {
        log_error("process group %d of tool %s survives SIGKILL: leaving it", (int)p->pgid,
                  p->tool->name);
        proc_free(p);
        return;
    }
    ev_timer_set(t, SWEEP_EVERY, 0);
    ev_timer_start(loop, t);
}

/* The job lets go of the proc; the group is killed after grace seconds (now if 0). */
static void detach(struct proc *p, double grace)
{
    p->call = NULL;
    close_io(p, &p->in);
    close_io(p, &p->out);
    close_io(p, &p->err);
    ev_timer_set(&p->kill_timer, grace, 0);
    ev_timer_start(p->loop, &p->kill_timer);
}

static void maybe_finish(struct proc *p)
{
    struct exec_call *c = p->call;
    if (!c || !p->exited || p->out.fd >= 0 || p->err.fd >= 0) return;
    set_outcome(p);
    c->priv = NULL;
    detach(p, 0); /* whatever the program left running goes with it */
    c->done(c);
}

static void on_exit_status(struct ev_loop *loop, ev_child *w, int revents)
{
    struct proc *p = w->data;
    ev_child_stop(loop, w);
    p->exited = true;
    p->wstatus = w->rstatus;
    if (p->call) killpg(p->pgid, SIGKILL); /* leftovers would hold stdout open */
    maybe_finish(p);
}

/* ---- pipes ---- */

static void on_stdin(struct ev_loop *loop, ev_io *io, int revents)
{
    struct proc *p = io->data;
    struct buf *in = &p->input;
    ssize_t n = write(io->fd, in->data + p->input_off, in->len - p->input_off);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) p->input_off += (size_t)n;
    if (n < 0 || p->input_off == in->len) close_io(p, io); /* all written, or not read */
}

static void take_stdout(struct proc *p, const char *data, size_t n)
{
    if (p->stdout_buf.len + n <= (size_t)p->tool->max_output) {
        buf_append(&p->stdout_buf, data, n);
        return;
    }
    p->output_overflow = true;
    killpg(p->pgid, SIGKILL);
    close_io(p, &p->out);
}

static void take_stderr(struct proc *p, const char *data, size_t n)
{
    buf_append(&p->stderr_buf, data, n);
    if (p->stderr_buf.len > 2 * (size_t)p->tool->max_stderr) stderr_text(p); /* trims */
}

static void on_output(struct ev_loop *loop, ev_io *io, int revents)
{
    struct proc *p = io->data;
    char chunk[65536];
    ssize_t n = read(io->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n > 0) {
        if (io == &p->out)
            take_stdout(p, chunk, (size_t)n);
        else
            take_stderr(p, chunk, (size_t)n);
    } else {
        close_io(p, io);
    }
    maybe_finish(p);
}

/* ---- the executor ---- */

static void watch(struct proc *p, ev_io *io, void (*cb)(struct ev_loop *, ev_io *, int), int fd,
                  int events)
{
    ev_io_init(io, cb, fd, events);
    io->data = p;
    ev_io_start(p->loop, io);
}

/* Once per worker: orphans of tools become the worker's to reap, and the worker's exit
 * takes every tool process it still tracks with it. */
static void process_init_once(void)
{
    static bool done;
    if (done) return;
    done = true;
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
        log_warn("PR_SET_CHILD_SUBREAPER failed: %s; orphans of exec tools go to init",
                 strerror(errno));
    atexit(kill_all_at_exit);
}

static void process_start(struct exec_call *c)
{
    process_init_once();
    const struct tool_cfg *t = c->tool;
    struct proc *p = calloc(1, sizeof *p);
    p->call = c;
    p->tool = t;
    p->loop = c->loop;
    if (c->args)
        mpjson_write(&p->input, c->args, false);
    else
        buf_puts(&p->input, "{}");
    struct proc_env_ctx ctx = {c->job_id, {t->name, (uint32_t)strlen(t->name)}, c->site, c->user};
    char **envp = proc_env_build(environ, t->env, t->nenv, &ctx);
    struct spawned sp;
    char err[512];
    int rc = proc_spawn(t, envp, &sp, err, sizeof err);
    proc_env_free(envp);
    if (rc != 0) {
        buf_free(&p->input);
        free(p);
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_EXEC, "%s", err);
        c->done(c);
        return;
    }
    p->pgid = sp.pid;
    ev_child_init(&p->child, on_exit_status, sp.pid, 0);
    p->child.data = p;
    ev_child_start(p->loop, &p->child);
    watch(p, &p->in, on_stdin, sp.in, EV_WRITE);
    watch(p, &p->out, on_output, sp.out, EV_READ);
    watch(p, &p->err, on_output, sp.err, EV_READ);
    ev_init(&p->kill_timer, on_kill_timer);
    p->kill_timer.data = p;
    proc_list_add(p);
    c->priv = p;
}

/* Timeout or cancel: SIGTERM to the group now, SIGKILL after the tool's kill_grace. */
static void process_cancel(struct exec_call *c)
{
    struct proc *p = c->priv;
    if (!p) return;
    c->priv = NULL;
    killpg(p->pgid, SIGTERM);
    detach(p, p->tool->kill_grace);
}

const struct executor exec_process = {"exec", process_start, process_cancel};
