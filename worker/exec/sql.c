/*
 * sql tools: a named, read-only query from the config run on the job's site database,
 * on the worker's event loop (db.c). Only values from the job's arguments are bound
 * into it (sql_bind.c); the server stops it at the job's timeout (max_statement_time)
 * and returns at most max_records + 1 rows (sql_select_limit), so a runaway query costs
 * neither time nor memory. With roles, the job's user must hold one of them in
 * `tabHas Role` first. A timeout or cancel ends the query on the server too (KILL).
 *
 *   connect (new connection only) ──▶ roles check (with roles) ──▶ query ──▶ rows
 */
#include <errmsg.h>
#include <mysqld_error.h>
#include <stdlib.h>
#include <string.h>

#include "exec.h"
#include "fac/protocol.h"
#include "log.h"
#include "sql.h"
#include "sql_bind.h"
#include "sql_pool.h"
#include "sql_rows.h"

#define ERR_SQL "SQLError"
#define ERR_ARGS "ValidationError"
#define ADMIN "Administrator" /* holds every role, as in Frappe */

enum stage { S_CONNECT, S_ROLES, S_QUERY };

struct sql_job {
    struct exec_call *call;
    struct sql_pool *pool;
    struct db_conn *conn;
    enum stage stage;
    bool fresh, retried, fell_back;
    struct buf text;
};

static void finish(struct sql_job *j)
{
    struct exec_call *call = j->call;
    if (j->conn) sql_pool_put(j->pool, j->conn);
    buf_free(&j->text);
    free(j);
    call->priv = NULL;
    call->done(call);
}

static void fail_db(struct sql_job *j, const struct db_result *r)
{
    struct exec_call *c = j->call;
    const char *site = sql_pool_site(j->pool), *where = db_where(j->conn);
    bool rep = sql_pool_is_replica(j->pool);
    const char *server = rep ? "replica MariaDB" : "MariaDB", *key = rep ? "replica" : "db";
    if (r->err == ER_STATEMENT_TIMEOUT || r->err == DB_ERR_TIMEOUT)
        exec_fail(c, FAC_ST_TIMEOUT, FAC_ERR_TIMEOUT,
                  "tool \"%s\": the query did not finish within its %g s timeout (%s "
                  "%s stopped it)",
                  c->tool->name, c->timeout, server, where);
    else if (db_error_is_credentials(r->err))
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "site %s: %s %s refused the connection (%u: %s): fix sites.%s.%s", site, server,
                  where, r->err, r->errmsg, site, key);
    else if (db_error_is_tls(r->err))
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "site %s: no TLS connection to %s %s (%u: %s): fix the TLS keys of "
                  "sites.%s.%s (ssl_ca: the CA that signed the server's certificate, which must "
                  "name the host connected to; or ssl_verify_server_cert: false)",
                  site, server, where, r->err, r->errmsg, site, key);
    else if (j->stage == S_CONNECT && rep)
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONNECTION,
                  "site %s: replica MariaDB %s is unreachable (%u: %s); sql tools read the "
                  "replica and do not fall back to the primary unless "
                  "sites.%s.replica_fallback is true",
                  site, where, r->err, r->errmsg, site);
    else if (j->stage == S_CONNECT || db_error_is_link(r->err))
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONNECTION, "site %s: %s %s: %u: %s", site, server,
                  where, r->err, r->errmsg);
    else if (r->err == ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION)
        exec_fail(c, FAC_ST_ERROR, ERR_SQL,
                  "tool \"%s\": the query tried to write, and sql tools only read: %s",
                  c->tool->name, r->errmsg);
    else
        exec_fail(c, FAC_ST_ERROR, ERR_SQL, "tool \"%s\" on site %s: MariaDB error %u: %s",
                  c->tool->name, site, r->err, r->errmsg);
    finish(j);
}

/* The statement as sent: the server's limits, then the query with the job's values. */
static int render(struct sql_job *j, bool no_backslash_escapes, char *err, size_t errlen)
{
    const struct tool_cfg *t = j->call->tool;
    buf_reset(&j->text);
    buf_printf(&j->text, "SET STATEMENT max_statement_time=%.3f, sql_select_limit=%lld FOR ",
               j->call->timeout, (long long)t->max_records + 1);
    return sql_bind(&j->text, t->query, j->call->args, no_backslash_escapes, err, errlen);
}

static void on_db(struct db_conn *c, const struct db_result *r, void *ud);

static void run_query(struct sql_job *j)
{
    char err[512];
    j->stage = S_QUERY;
    if (db_no_backslash_escapes(j->conn) && render(j, true, err, sizeof err) != 0) {
        exec_fail(j->call, FAC_ST_ERROR, ERR_ARGS, "tool \"%s\": %s", j->call->tool->name, err);
        finish(j);
        return;
    }
    db_query(j->conn, j->text.data, j->text.len, on_db, j);
}

/* `tabHas Role` as Frappe fills it: one row per (user, role) with parenttype User. */
static void check_roles(struct sql_job *j)
{
    const struct exec_call *c = j->call;
    bool nbe = db_no_backslash_escapes(j->conn);
    struct buf q = {0};
    buf_puts(&q, "SELECT 1 FROM `tabHas Role` WHERE parenttype = 'User' AND parent = ");
    sql_quote(&q, c->user.p, c->user.n, nbe);
    buf_puts(&q, " AND role IN (");
    for (size_t i = 0; i < c->tool->nroles; i++) {
        if (i) buf_puts(&q, ", ");
        sql_quote(&q, c->tool->roles[i], strlen(c->tool->roles[i]), nbe);
    }
    buf_puts(&q, ") LIMIT 1");
    j->stage = S_ROLES;
    db_query(j->conn, q.data, q.len, on_db, j);
    buf_free(&q);
}

static void connected(struct sql_job *j)
{
    const struct exec_call *c = j->call;
    bool admin = !c->user.n || (c->user.n == strlen(ADMIN) && !memcmp(c->user.p, ADMIN, c->user.n));
    if (c->tool->roles && !admin)
        check_roles(j);
    else
        run_query(j);
}

static void denied(struct sql_job *j)
{
    struct exec_call *c = j->call;
    struct buf roles = {0};
    for (size_t i = 0; i < c->tool->nroles; i++)
        buf_printf(&roles, "%s%s", i ? ", " : "", c->tool->roles[i]);
    exec_fail(c, FAC_ST_DENIED, FAC_ERR_PERMISSION,
              "user %.*s holds none of the roles tool \"%s\" requires (%s) on site %s",
              (int)c->user.n, c->user.p, c->tool->name, roles.data, sql_pool_site(j->pool));
    buf_free(&roles);
    finish(j);
}

/* The replica cannot be reached and the site allows reading the primary instead. */
static bool fall_back(struct sql_job *j, const struct db_result *r)
{
    struct exec_call *c = j->call;
    char err[512];
    const struct site_cfg *s = config_site(c->cfg, c->site.p, c->site.n);
    if (j->stage != S_CONNECT || !sql_pool_is_replica(j->pool) || j->fell_back || !s ||
        !s->replica_fallback || !db_error_is_link(r->err))
        return false;
    struct sql_pool *primary = sql_pool_for(c->loop, c->cfg, s, false, err, sizeof err);
    struct db_conn *conn = primary ? sql_pool_take(primary, &j->fresh, err, sizeof err) : NULL;
    if (!conn) return false;
    log_warn("sql: site %s: replica MariaDB %s is unreachable (%u: %s): tool \"%s\" reads the "
             "primary MariaDB %s instead (sites.%s.replica_fallback)",
             s->name, db_where(j->conn), r->err, r->errmsg, c->tool->name, db_where(conn), s->name);
    db_free(j->conn);
    j->conn = conn;
    j->pool = primary;
    j->fell_back = true;
    if (j->fresh)
        sql_pool_connect(primary, conn, on_db, j);
    else
        connected(j);
    return true;
}

static void on_db(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct sql_job *j = ud;
    /* An idle connection the server dropped meanwhile: once more on a new one. */
    if (r->err && db_error_is_link(r->err) && !j->fresh && !j->retried &&
        r->err != DB_ERR_TIMEOUT) {
        j->retried = j->fresh = true;
        j->stage = S_CONNECT;
        sql_pool_connect(j->pool, c, on_db, j);
        return;
    }
    if (r->err && fall_back(j, r)) return;
    if (r->err) {
        fail_db(j, r);
        return;
    }
    switch (j->stage) {
    case S_CONNECT:
        connected(j);
        return;
    case S_ROLES:
        if (r->rows && mysql_num_rows(r->rows))
            run_query(j);
        else
            denied(j);
        return;
    case S_QUERY: {
        json_t *v = sql_rows_json(r->rows, j->call->tool->max_records);
        exec_succeed_json(j->call, v);
        json_decref(v);
        finish(j);
        return;
    }
    }
}

static const struct site_cfg *job_site(struct exec_call *c)
{
    const struct site_cfg *s = c->site.n ? config_site(c->cfg, c->site.p, c->site.n) : NULL;
    if (!c->site.n)
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "tool \"%s\" runs on a site's database: give the job a site", c->tool->name);
    else if (!s)
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "site \"%.*s\" is not configured: add sites.%.*s.db to the config",
                  (int)c->site.n, c->site.p, (int)c->site.n, c->site.p);
    return s;
}

/* A tool's "replica" wins; unset, the site's read_from_replica decides. A site without
 * a replica is read on its primary. */
static bool reads_replica(const struct tool_cfg *t, const struct site_cfg *s)
{
    return s->has_replica && (t->replica == 1 || (t->replica == -1 && s->read_from_replica));
}

static void sql_start(struct exec_call *c)
{
    char err[512];
    const struct site_cfg *s = job_site(c);
    struct sql_pool *pool =
        s ? sql_pool_for(c->loop, c->cfg, s, reads_replica(c->tool, s), err, sizeof err) : NULL;
    if (s && !pool) exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONFIG, "%s", err);
    if (!pool) {
        c->done(c);
        return;
    }
    struct sql_job *j = calloc(1, sizeof *j);
    if (!j) abort();
    *j = (struct sql_job){.call = c, .pool = pool};
    c->priv = j;
    /* Arguments are checked before any connection is taken. */
    if (render(j, false, err, sizeof err) != 0) {
        exec_fail(c, FAC_ST_ERROR, ERR_ARGS, "tool \"%s\": %s", c->tool->name, err);
        finish(j);
        return;
    }
    if (!(j->conn = sql_pool_take(pool, &j->fresh, err, sizeof err))) {
        exec_fail(c, FAC_ST_ERROR, FAC_ERR_CONFIG, "%s", err);
        finish(j);
        return;
    }
    if (j->fresh) {
        j->stage = S_CONNECT;
        sql_pool_connect(pool, j->conn, on_db, j);
    } else {
        connected(j);
    }
}

/* The job let go: the connection is dropped, and a query under way killed on the
 * server, where it would otherwise run on. */
static void sql_cancel(struct exec_call *c)
{
    struct sql_job *j = c->priv;
    if (!j) return;
    unsigned long tid = j->stage != S_CONNECT && db_busy(j->conn) ? db_thread_id(j->conn) : 0;
    db_free(j->conn);
    sql_pool_kill(j->pool, tid);
    buf_free(&j->text);
    free(j);
    c->priv = NULL;
}

const struct executor exec_sql = {"sql", sql_start, sql_cancel};
