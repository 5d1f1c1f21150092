/*
 * The audit batcher: rows collect in one buffer and are flushed when the batch is full
 * or flush_ms after the first row, whichever comes first. Tokens of a flushed batch go
 * back to the worker in submit order; a failed flush keeps the batch and retries, so a
 * row is never dropped (its job simply stays unacknowledged meanwhile).
 */
#include "audit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jsonl.h"
#include "log.h"

struct audit {
    struct ev_loop *loop;
    audit_durable_fn cb;
    void *ud;
    bool enabled; /* false for audit.to = "none" */
    char *path;
    int fd;
    size_t batch_max;
    double flush_s;
    struct buf rows;
    void **tokens;
    size_t ntokens, cap;
    ev_timer timer;
    bool failing; /* last flush failed: logged once until it works again */
};

static void flush_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    audit_flush(t->data);
}

struct audit *audit_open(const struct fac_config *cfg, struct ev_loop *loop, audit_durable_fn cb,
                         void *ud, char *err, size_t errlen)
{
    struct audit *a = calloc(1, sizeof *a);
    a->loop = loop;
    a->cb = cb;
    a->ud = ud;
    a->fd = -1;
    a->enabled = strcmp(cfg->audit.to, "none") != 0;
    a->batch_max = (size_t)cfg->audit.batch;
    a->flush_s = (double)cfg->audit.flush_ms / 1000.0;
    ev_timer_init(&a->timer, flush_timer_cb, a->flush_s, 0);
    a->timer.data = a;
    if (a->enabled) {
        a->path = strdup(cfg->audit.path);
        a->fd = jsonl_open(a->path, err, errlen);
        if (a->fd < 0) {
            audit_close(a);
            return NULL;
        }
    }
    return a;
}

void audit_submit(struct audit *a, const struct audit_row *row, void *token)
{
    if (!a->enabled) {
        a->cb(a->ud, &token, 1);
        return;
    }
    audit_row_json(&a->rows, row);
    buf_putc(&a->rows, '\n');
    if (a->ntokens == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->tokens = realloc(a->tokens, a->cap * sizeof *a->tokens);
        if (!a->tokens) abort();
    }
    a->tokens[a->ntokens++] = token;
    if (a->ntokens >= a->batch_max) audit_flush(a);
    else if (!ev_is_active(&a->timer)) {
        ev_timer_set(&a->timer, a->flush_s, 0);
        ev_timer_start(a->loop, &a->timer);
    }
}

void audit_flush(struct audit *a)
{
    ev_timer_stop(a->loop, &a->timer);
    if (!a->ntokens) return;
    char err[512];
    if (jsonl_write(a->fd, a->path, a->rows.data, a->rows.len, err, sizeof err) != 0) {
        if (!a->failing) log_error("%s; keeping %zu rows and retrying", err, a->ntokens);
        a->failing = true;
        ev_timer_set(&a->timer, 1.0, 0);
        ev_timer_start(a->loop, &a->timer);
        return;
    }
    if (a->failing) log_info("audit file %s is writable again", a->path);
    a->failing = false;
    size_t n = a->ntokens;
    void **tokens = a->tokens;
    a->tokens = NULL;
    a->ntokens = a->cap = 0;
    buf_reset(&a->rows);
    a->cb(a->ud, tokens, n);
    free(tokens);
}

size_t audit_pending(const struct audit *a)
{
    return a->ntokens;
}

void audit_close(struct audit *a)
{
    if (!a) return;
    ev_timer_stop(a->loop, &a->timer);
    if (a->fd >= 0) close(a->fd);
    free(a->path);
    buf_free(&a->rows);
    free(a->tokens);
    free(a);
}
