/*
 * The audit trail: one row per job attempt (DESIGN §6, docs/audit.md). Rows are
 * batched per destination (a site's MariaDB, or the JSON-lines file); a batch is made
 * durable (committed, or spooled to local disk and fsync'd) and then every row's token
 * is handed back through the durable callback, after which the job may be
 * acknowledged. The caller's result is never held up by the audit.
 */
#ifndef FAC_AUDIT_H
#define FAC_AUDIT_H

#include <ev.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "columns.h"
#include "config.h"
#include "envelope.h"

/* What one attempt contributes to its row; pointers need only live during submit. */
struct audit_row {
    const struct envelope *env;
    const char *status;
    const char *err_type;         /* NULL on Success */
    struct str err_msg;           /* empty on Success */
    const msgpack_object *output; /* the result on Success, else NULL */
    int64_t attempt;              /* the attempt this row records */
    int64_t started_at;           /* ms, wall clock */
    double duration_s;
    const char *worker;
};

/* Called once per durable batch with the tokens of its rows, in submit order. */
typedef void (*audit_durable_fn)(void *ud, void **tokens, size_t n);

struct audit;

struct audit *audit_open(const struct fac_config *cfg, struct ev_loop *loop, audit_durable_fn cb,
                         void *ud, char *err, size_t errlen);
/* Start checks (each site's table read) run on the loop after audit_open; a worker
 * takes no job before they are done, and exits 3 when one failed. */
enum audit_boot { AUDIT_BOOTING, AUDIT_READY, AUDIT_BOOT_FAILED };
enum audit_boot audit_boot(struct audit *a, char *err, size_t errlen);
/* Queues a row; token comes back through the callback once the row is durable. */
void audit_submit(struct audit *a, const struct audit_row *row, void *token);
/* Flushes what is queued now (shutdown). */
void audit_flush(struct audit *a);
size_t audit_pending(const struct audit *a);
/* The text of the rows audit_pending counts, in bytes: the worker stops taking jobs
 * while it is large (worker/fetch.c), so that a slow disk or database with big rows
 * cannot make the worker hold more and more of them. */
size_t audit_pending_bytes(const struct audit *a);
void audit_close(struct audit *a);

/* Row contents (row.c). */
#define AUDIT_OUTPUT_MAX 50000
#define AUDIT_INPUT_MAX (1 << 20)
/* "ASST-AUDIT-YYYY-MM-DD-<20 hex>": the same job id and attempt always give the same
 * name, so a replayed row can never become a second row. */
void audit_row_name(char out[64], struct str id, int64_t attempt, int64_t started_at);
/* Fills r with the row's column values. */
void audit_rec_build(struct audit_rec *r, const struct audit_row *row);

#endif
