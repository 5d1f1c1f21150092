/*
 * The audit batcher and router. Each row goes to one sink: with audit.to "mariadb",
 * the sink of its site when that site has a database (sites.<site>.db.name), else the
 * JSON-lines file. Per sink, rows collect in a batch that is flushed when it holds
 * audit.batch rows or audit.flush_ms after its first row; while a sink writes one
 * batch the next one fills, so a slow destination never stalls the event loop.
 */
#include "audit.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sink.h"

struct audit {
    struct ev_loop *loop;
    audit_durable_fn cb;
    void *ud;
    bool enabled; /* false for audit.to = "none" */
    size_t batch_max;
    double flush_s;
    const struct fac_config *cfg;
    struct audit_sink *file;   /* the JSON-lines file; opened on first use in "mariadb" mode */
    struct audit_sink **sites; /* per entry of cfg->sites with a database, else NULL */
};

/* ---- batches ---- */

struct audit_rec *audit_batch_push(struct audit_batch *b, void *token)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        b->recs = realloc(b->recs, cap * sizeof *b->recs);
        b->tokens = realloc(b->tokens, cap * sizeof *b->tokens);
        if (!b->recs || !b->tokens) abort();
        memset(b->recs + b->cap, 0, (cap - b->cap) * sizeof *b->recs);
        b->cap = cap;
    }
    b->tokens[b->n] = token;
    return &b->recs[b->n++];
}

void audit_batch_clear(struct audit_batch *b)
{
    b->n = 0;
}

void audit_batch_free(struct audit_batch *b)
{
    for (size_t i = 0; i < b->cap; i++)
        audit_rec_free(&b->recs[i]);
    free(b->recs);
    free(b->tokens);
    *b = (struct audit_batch){0};
}

void audit_batch_json(struct buf *out, const struct audit_batch *b, size_t from)
{
    for (size_t i = from; i < b->n; i++) {
        audit_rec_json(out, &b->recs[i]);
        buf_putc(out, '\n');
    }
}

/* ---- the batcher's side of a sink ---- */

static void sink_flush(struct audit_sink *s)
{
    ev_timer_stop(s->loop, &s->timer);
    s->due = false;
    if (s->busy || !s->queued.n) return;
    struct audit_batch b = s->writing;
    s->writing = s->queued;
    s->queued = b;
    s->writing_bytes = s->queued_bytes;
    s->queued_bytes = 0;
    s->busy = true;
    s->ops->write(s, &s->writing);
}

static void on_sink_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct audit_sink *s = t->data;
    if (s->retrying) {
        s->retrying = false;
        s->ops->write(s, &s->writing);
    } else if (s->busy) {
        s->due = true;
    } else {
        sink_flush(s);
    }
}

void audit_sink_init(struct audit_sink *s, const struct audit_sink_ops *ops, struct audit *a,
                     struct ev_loop *loop)
{
    s->ops = ops;
    s->a = a;
    s->loop = loop;
    ev_init(&s->timer, on_sink_timer);
    s->timer.data = s;
}

void audit_sink_done(struct audit_sink *s, bool ok)
{
    if (!ok) {
        s->retrying = true;
        ev_timer_stop(s->loop, &s->timer);
        ev_timer_set(&s->timer, 1.0, 0);
        ev_timer_start(s->loop, &s->timer);
        return;
    }
    s->busy = false;
    s->writing_bytes = 0;
    struct audit *a = s->a;
    size_t n = s->writing.n;
    audit_batch_clear(&s->writing);
    a->cb(a->ud, s->writing.tokens, n);
    if (s->queued.n && (s->due || s->queued.n >= a->batch_max || !ev_is_active(&s->timer)))
        sink_flush(s);
}

static void sink_free(struct audit_sink *s)
{
    if (!s) return;
    ev_timer_stop(s->loop, &s->timer);
    audit_batch_free(&s->queued);
    audit_batch_free(&s->writing);
    s->ops->free(s);
}

/* ---- the audit ---- */

struct audit *audit_open(const struct fac_config *cfg, struct ev_loop *loop, audit_durable_fn cb,
                         void *ud, char *err, size_t errlen)
{
    struct audit *a = calloc(1, sizeof *a);
    a->loop = loop;
    a->cb = cb;
    a->ud = ud;
    a->cfg = cfg;
    a->enabled = strcmp(cfg->audit.to, "none") != 0;
    a->batch_max = (size_t)cfg->audit.batch;
    a->flush_s = (double)cfg->audit.flush_ms / 1000.0;
    a->sites = calloc(cfg->nsites ? cfg->nsites : 1, sizeof *a->sites);
    if (!a->enabled) return a;
    bool to_db = strcmp(cfg->audit.to, "mariadb") == 0;
    a->file = jsonl_sink_open(a, loop, cfg->audit.path, !to_db, err, errlen);
    if (!a->file) goto fail;
    for (size_t i = 0; to_db && i < cfg->nsites; i++) {
        if (!cfg->sites[i].db.name) continue;
        a->sites[i] = mariadb_sink_open(a, loop, cfg, &cfg->sites[i], err, errlen);
        if (!a->sites[i]) goto fail;
    }
    return a;
fail:
    audit_close(a);
    return NULL;
}

enum audit_boot audit_boot(struct audit *a, char *err, size_t errlen)
{
    enum audit_boot all = AUDIT_READY;
    for (size_t i = 0; i < a->cfg->nsites; i++) {
        if (!a->sites[i]) continue;
        enum audit_boot b = a->sites[i]->ops->boot(a->sites[i], err, errlen);
        if (b == AUDIT_BOOT_FAILED) return b;
        if (b == AUDIT_BOOTING) all = AUDIT_BOOTING;
    }
    return all;
}

static struct audit_sink *route(struct audit *a, const struct envelope *e)
{
    for (size_t i = 0; e->site.n && i < a->cfg->nsites; i++) {
        const char *name = a->cfg->sites[i].name;
        if (a->sites[i] && strlen(name) == e->site.n && memcmp(name, e->site.p, e->site.n) == 0)
            return a->sites[i];
    }
    return a->file;
}

void audit_submit(struct audit *a, const struct audit_row *row, void *token)
{
    if (!a->enabled) {
        a->cb(a->ud, &token, 1);
        return;
    }
    struct audit_sink *s = route(a, row->env);
    struct audit_rec *rec = audit_batch_push(&s->queued, token);
    audit_rec_build(rec, row);
    s->queued_bytes += rec->text.len;
    if (s->queued.n >= a->batch_max) {
        if (s->busy)
            s->due = true;
        else
            sink_flush(s);
    } else if (!ev_is_active(&s->timer) && !s->retrying) {
        ev_timer_set(&s->timer, a->flush_s, 0);
        ev_timer_start(a->loop, &s->timer);
    }
}

static void flush_sink(struct audit_sink *s)
{
    if (!s) return;
    if (s->busy)
        s->due = true;
    else
        sink_flush(s);
}

void audit_flush(struct audit *a)
{
    flush_sink(a->file);
    for (size_t i = 0; i < a->cfg->nsites; i++)
        flush_sink(a->sites[i]);
}

static size_t sink_pending(const struct audit_sink *s)
{
    return s ? s->queued.n + (s->busy ? s->writing.n : 0) : 0;
}

static size_t sink_bytes(const struct audit_sink *s)
{
    return s ? s->queued_bytes + (s->busy ? s->writing_bytes : 0) : 0;
}

size_t audit_pending_bytes(const struct audit *a)
{
    size_t n = sink_bytes(a->file);
    for (size_t i = 0; i < a->cfg->nsites; i++)
        n += sink_bytes(a->sites[i]);
    return n;
}

size_t audit_pending(const struct audit *a)
{
    size_t n = sink_pending(a->file);
    for (size_t i = 0; i < a->cfg->nsites; i++)
        n += sink_pending(a->sites[i]);
    return n;
}

void audit_close(struct audit *a)
{
    if (!a) return;
    sink_free(a->file);
    for (size_t i = 0; i < a->cfg->nsites; i++)
        sink_free(a->sites[i]);
    free(a->sites);
    free(a);
}
