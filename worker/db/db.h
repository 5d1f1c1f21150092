/*
 * A MariaDB connection that never blocks the worker's event loop: Connector/C's
 * non-blocking calls (mysql_*_start/_cont) driven by an ev_io on the connection's
 * socket and ev_timers for the library's own timeouts and for a whole-operation bound.
 * One operation at a time per connection; it knows SQL text and rows, nothing of what
 * they are for (the audit writer and the sql executor both sit on top of it).
 */
#ifndef FAC_DB_H
#define FAC_DB_H

#include <ev.h>
#include <mysql.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Where and as whom to connect. Strings are copied by db_open. */
struct db_params {
    const char *host; /* ignored when socket is set */
    unsigned port;
    const char *socket; /* unix socket path, or NULL */
    const char *name;   /* the database */
    const char *user;
    const char *password; /* secret: never logged, never in an error text */
    double timeout;       /* seconds an operation (connect, or one query) may take */
    /* TLS, required when tls is set (never a silent fall back to plain text): the CA
     * the server's certificate must chain to, a client certificate and its key (PEM
     * paths, each may be NULL), and whether the chain and host name are checked. */
    bool tls;
    const char *ssl_ca, *ssl_cert, *ssl_key;
    bool verify_server_cert;
};

/* Not a server error number: the operation passed params.timeout and was abandoned. */
#define DB_ERR_TIMEOUT 9999

/* What an operation produced; lives only during the done callback. */
struct db_result {
    unsigned err;       /* 0 = success, else the server's or the client's error number */
    const char *errmsg; /* "" on success */
    MYSQL_RES *rows;    /* a statement that returns rows: all of them; else NULL */
    uint64_t affected;  /* otherwise: affected rows */
};

struct db_conn;
typedef void (*db_done_fn)(struct db_conn *c, const struct db_result *r, void *ud);

/* A closed connection to p; freed by db_free. Never fails but on out-of-memory. */
struct db_conn *db_open(struct ev_loop *loop, const struct db_params *p);
/* Starts connecting; done reports the outcome. */
void db_connect(struct db_conn *c, db_done_fn done, void *ud);
/* Runs one statement on a connected, idle connection. A connection-level failure
 * leaves the connection closed (db_connected false): connect again to go on. */
void db_query(struct db_conn *c, const char *sql, size_t len, db_done_fn done, void *ud);
bool db_connected(const struct db_conn *c);
bool db_busy(const struct db_conn *c);
/* Whether the session quotes strings without backslash escapes (sql_mode). */
bool db_no_backslash_escapes(const struct db_conn *c);
/* The server's id of the session (what KILL takes); 0 while closed. */
unsigned long db_thread_id(const struct db_conn *c);
/* "user@host:port/db" or "user@/path.sock/db", for log lines (never the password). */
const char *db_where(const struct db_conn *c);
/* Closes the connection now, abandoning any operation (its callback is not called). */
void db_disconnect(struct db_conn *c);
void db_free(struct db_conn *c);

/* True for errors that mean the server is unreachable or the link broke (as opposed
 * to an error in the statement): retrying later on a new connection may succeed. */
bool db_error_is_link(unsigned err);
/* True for errors that a retry will not fix: wrong credentials or database name. */
bool db_error_is_credentials(unsigned err);
/* True when the TLS handshake failed (a certificate not trusted or not naming the host,
 * or a server without TLS): a setting to fix, not a server that is down. */
bool db_error_is_tls(unsigned err);
/* Whether c connects with TLS (for messages). */
bool db_tls(const struct db_conn *c);

/* Connection settings of a site's database from the config: its primary (sites.<s>.db)
 * or, with replica, its read-only replica (sites.<s>.replica, which must exist). The
 * password comes from password or is read from password_file into pw (owned by the
 * caller, wiped and freed with db_password_free); TLS files must be readable. -1 with
 * err naming the key on failure. */
int db_params_for_site(const struct site_cfg *s, bool replica, double timeout, struct db_params *p,
                       char **pw, char *err, size_t errlen);
void db_password_free(char *pw);

#endif
