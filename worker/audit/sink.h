/*
 * Inside the audit: a sink is one destination of rows (the JSON-lines file, or one
 * site's MariaDB). The batcher (audit.c) collects rows per sink and hands a sink one
 * batch at a time; the sink makes it durable, now or later on the event loop, and
 * says so with audit_sink_done.
 */
#ifndef FAC_AUDIT_SINK_H
#define FAC_AUDIT_SINK_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "columns.h"

/* Rows and the tokens that go back once they are durable. Row buffers are kept and
 * reused by the next batch, so a steady stream allocates nothing. */
struct audit_batch {
    struct audit_rec *recs;
    void **tokens;
    size_t n, cap;
};

struct audit_rec *audit_batch_push(struct audit_batch *b, void *token);
void audit_batch_clear(struct audit_batch *b);
void audit_batch_free(struct audit_batch *b);
/* Appends rows [from, n) as JSON lines: the JSON-lines file and the spool share it. */
void audit_batch_json(struct buf *out, const struct audit_batch *b, size_t from);

struct audit_sink;

struct audit_sink_ops {
    /* Makes b durable, then calls audit_sink_done (possibly before returning). */
    void (*write)(struct audit_sink *s, const struct audit_batch *b);
    /* AUDIT_BOOTING while the sink's start checks run; err set on AUDIT_BOOT_FAILED. */
    enum audit_boot (*boot)(struct audit_sink *s, char *err, size_t errlen);
    void (*free)(struct audit_sink *s);
};

/* The batcher's part of every sink; a sink's own struct starts with it. */
struct audit_sink {
    const struct audit_sink_ops *ops;
    struct audit *a;
    struct ev_loop *loop;
    struct audit_batch queued;          /* collecting */
    struct audit_batch writing;         /* handed to ops->write */
    size_t queued_bytes, writing_bytes; /* their rows' text, for audit_pending_bytes */
    bool busy;                          /* writing is with the sink */
    bool due;                           /* flush queued rows as soon as the sink is free */
    bool retrying;                      /* the last write failed: write it again on the timer */
    ev_timer timer;
};

void audit_sink_init(struct audit_sink *s, const struct audit_sink_ops *ops, struct audit *a,
                     struct ev_loop *loop);
/* ok: every row of the batch is durable. !ok: nothing was lost, the batch is kept and
 * written again a second later (its jobs stay unacknowledged meanwhile). */
void audit_sink_done(struct audit_sink *s, bool ok);

/* The sinks (jsonl.c, mariadb.c). NULL with err set on failure. */
struct audit_sink *jsonl_sink_open(struct audit *a, struct ev_loop *loop, const char *path,
                                   bool open_now, char *err, size_t errlen);
struct audit_sink *mariadb_sink_open(struct audit *a, struct ev_loop *loop,
                                     const struct fac_config *cfg, const struct site_cfg *site,
                                     char *err, size_t errlen);

#endif
