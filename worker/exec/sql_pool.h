/*
 * The connections sql tools use, per worker and per site: an idle one is reused, else
 * a new one is opened (and made read-only for its whole session before its first
 * query); up to the worker's concurrency stay open per site. And the way a query the
 * worker let go of (timeout, cancel) is ended on the server: KILL from another
 * connection of the same site, on the event loop like everything else.
 */
#ifndef FAC_SQL_POOL_H
#define FAC_SQL_POOL_H

#include <stdbool.h>

#include "db.h"

struct sql_pool;
/* A connection is ready for queries (r->err 0), or could not be made ready. */
typedef void (*sql_ready_fn)(struct db_conn *c, const struct db_result *r, void *ud);

/* The pool of site s's primary, or with replica of its read-only replica (which the
 * site must have), made on first use and kept for the worker's life; NULL with err
 * naming the key to set when the site has no database settings. */
struct sql_pool *sql_pool_for(struct ev_loop *loop, const struct fac_config *cfg,
                              const struct site_cfg *s, bool replica, char *err, size_t errlen);
/* A new, closed connection to the site, for sql_pool_connect; the caller owns it until
 * sql_pool_put or db_free. NULL with err when the password file cannot be read. */
struct db_conn *sql_pool_open(struct sql_pool *p, char *err, size_t errlen);
/* An idle connection (*fresh false), else a new one as sql_pool_open makes it. */
struct db_conn *sql_pool_take(struct sql_pool *p, bool *fresh, char *err, size_t errlen);
/* Connects c and makes its session read-only; ready reports the outcome. */
void sql_pool_connect(struct sql_pool *p, struct db_conn *c, sql_ready_fn ready, void *ud);
/* Gives c back: kept when it is connected and idle and the pool has room, else freed. */
void sql_pool_put(struct sql_pool *p, struct db_conn *c);
/* Ends the server session thread_id (and the query it runs) from another connection. */
void sql_pool_kill(struct sql_pool *p, unsigned long thread_id);
/* The site, as the config names it. */
const char *sql_pool_site(const struct sql_pool *p);
/* Whether the pool's server is the site's replica. */
bool sql_pool_is_replica(const struct sql_pool *p);

#endif
