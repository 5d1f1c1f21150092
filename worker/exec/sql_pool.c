/* Per-site MariaDB connections of sql tools and KILL of abandoned queries (sql_pool.h). */
#include "sql_pool.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct sql_pool {
    struct ev_loop *loop;
    const struct site_cfg *site; /* lives as long as the config, which the worker keeps */
    bool replica;                /* the site's read-only replica, not its primary */
    double op_timeout;           /* db.c's bound on one operation: past every sql timeout */
    size_t max_idle;
    struct db_conn **idle;
    size_t nidle;
    struct sql_pool *next;
};

static struct sql_pool *pools; /* every site's, for the worker's life */

/* A connection's own bound only matters when a job's timer did not fire first. */
static double longest_sql_timeout(const struct fac_config *cfg)
{
    double t = 1;
    for (size_t i = 0; i < cfg->ntools; i++)
        if (strcmp(cfg->tools[i].kind, "sql") == 0 && cfg->tools[i].timeout > t)
            t = cfg->tools[i].timeout;
    return t + 1;
}

struct sql_pool *sql_pool_for(struct ev_loop *loop, const struct fac_config *cfg,
                              const struct site_cfg *s, bool replica, char *err, size_t errlen)
{
    for (struct sql_pool *p = pools; p; p = p->next)
        if (p->site == s && p->replica == replica) return p;
    if (!s->db.name) {
        snprintf(err, errlen,
                 "site \"%s\" has no database: set sites.%s.db.name (and its user and "
                 "password) for sql tools",
                 s->name, s->name);
        return NULL;
    }
    struct sql_pool *p = calloc(1, sizeof *p);
    if (!p) abort();
    *p = (struct sql_pool){.loop = loop,
                           .site = s,
                           .replica = replica,
                           .op_timeout = longest_sql_timeout(cfg),
                           .max_idle = (size_t)cfg->concurrency,
                           .next = pools};
    p->idle = calloc(p->max_idle, sizeof *p->idle);
    if (!p->idle) abort();
    pools = p;
    return p;
}

const char *sql_pool_site(const struct sql_pool *p)
{
    return p->site->name;
}

bool sql_pool_is_replica(const struct sql_pool *p)
{
    return p->replica;
}

struct db_conn *sql_pool_open(struct sql_pool *p, char *err, size_t errlen)
{
    struct db_params params;
    char *pw = NULL;
    /* Read per connection, so that a rotated password_file is picked up. */
    if (db_params_for_site(p->site, p->replica, p->op_timeout, &params, &pw, err, errlen) != 0)
        return NULL;
    struct db_conn *c = db_open(p->loop, &params);
    db_password_free(pw);
    return c;
}

struct db_conn *sql_pool_take(struct sql_pool *p, bool *fresh, char *err, size_t errlen)
{
    *fresh = p->nidle == 0;
    return *fresh ? sql_pool_open(p, err, errlen) : p->idle[--p->nidle];
}

void sql_pool_put(struct sql_pool *p, struct db_conn *c)
{
    if (db_connected(c) && !db_busy(c) && p->nidle < p->max_idle)
        p->idle[p->nidle++] = c;
    else
        db_free(c);
}

/* ---- connecting: connect, then SET SESSION TRANSACTION READ ONLY ---- */

struct opening {
    sql_ready_fn ready;
    void *ud;
};

static void on_read_only(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct opening o = *(struct opening *)ud;
    free(ud);
    o.ready(c, r, o.ud);
}

static void on_connected(struct db_conn *c, const struct db_result *r, void *ud)
{
    if (r->err) {
        on_read_only(c, r, ud);
        return;
    }
    /* Defence in depth beneath the SELECT-only check: a write fails in the server. */
    static const char ro[] = "SET SESSION TRANSACTION READ ONLY";
    db_query(c, ro, sizeof ro - 1, on_read_only, ud);
}

void sql_pool_connect(struct sql_pool *p, struct db_conn *c, sql_ready_fn ready, void *ud)
{
    struct opening *o = malloc(sizeof *o);
    if (!o) abort();
    *o = (struct opening){ready, ud};
    db_connect(c, on_connected, o);
}

/* ---- KILL ---- */

struct killing {
    struct sql_pool *pool;
    unsigned long thread_id;
};

static void on_killed(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct killing *k = ud;
    if (r->err && r->err != ER_NO_SUCH_THREAD) /* no such thread: it had ended already */
        log_warn("sql: site %s: cannot end session %lu on MariaDB %s (%u: %s): its query "
                 "runs on until the server's max_statement_time stops it",
                 k->pool->site->name, k->thread_id, db_where(c), r->err, r->errmsg);
    sql_pool_put(k->pool, c);
    free(k);
}

static void kill_on(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct killing *k = ud;
    if (r->err) {
        on_killed(c, r, ud);
        return;
    }
    char sql[64];
    int n = snprintf(sql, sizeof sql, "KILL CONNECTION %lu", k->thread_id);
    db_query(c, sql, (size_t)n, on_killed, k);
}

/* On a connection of its own: the idle ones may have gone stale, and a kill is rare. */
void sql_pool_kill(struct sql_pool *p, unsigned long thread_id)
{
    char err[512];
    struct db_conn *c = thread_id ? sql_pool_open(p, err, sizeof err) : NULL;
    if (!c) {
        if (thread_id)
            log_warn("sql: site %s: cannot end session %lu: %s", p->site->name, thread_id, err);
        return;
    }
    struct killing *k = malloc(sizeof *k);
    if (!k) abort();
    *k = (struct killing){p, thread_id};
    sql_pool_connect(p, c, kill_on, k);
}
