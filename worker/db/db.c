/*
 * The non-blocking MariaDB connection (db.h). Every library call that may wait on the
 * network is a _start/_cont pair; when it returns a wait mask, we watch the socket
 * (and the library's timeout) and call _cont on readiness. A query that returns rows
 * continues with mysql_store_result_start, so a caller always gets all rows at once.
 */
#include "db.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum db_op { OP_NONE, OP_CONNECT, OP_QUERY, OP_STORE };

struct db_conn {
    struct ev_loop *loop;
    char *host, *socket, *name, *user, *password; /* owned copies */
    char *ssl_ca, *ssl_cert, *ssl_key;
    bool tls, verify_server_cert;
    unsigned port;
    double timeout;
    char where[512];
    MYSQL *m; /* NULL while closed */
    bool connected;
    enum db_op op;
    db_done_fn done;
    void *ud;
    int qerr;
    MYSQL *connret;
    MYSQL_RES *rows;
    ev_io io;
    ev_timer lib_timer; /* the library asked for MYSQL_WAIT_TIMEOUT */
    ev_timer deadline;  /* the whole operation's bound */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents);
static void on_lib_timer(struct ev_loop *loop, ev_timer *t, int revents);
static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents);

struct db_conn *db_open(struct ev_loop *loop, const struct db_params *p)
{
    struct db_conn *c = calloc(1, sizeof *c);
    if (!c) abort();
    c->loop = loop;
    c->host = dup_or_null(p->host ? p->host : "127.0.0.1");
    c->socket = dup_or_null(p->socket);
    c->name = dup_or_null(p->name);
    c->user = dup_or_null(p->user);
    c->password = dup_or_null(p->password);
    c->port = p->port ? p->port : 3306;
    c->timeout = p->timeout > 0 ? p->timeout : 5.0;
    c->tls = p->tls;
    c->verify_server_cert = p->verify_server_cert;
    c->ssl_ca = dup_or_null(p->ssl_ca);
    c->ssl_cert = dup_or_null(p->ssl_cert);
    c->ssl_key = dup_or_null(p->ssl_key);
    const char *tls = c->tls ? " (TLS)" : "";
    if (c->socket)
        snprintf(c->where, sizeof c->where, "%s@%s/%s%s", c->user ? c->user : "", c->socket,
                 c->name ? c->name : "", tls);
    else
        snprintf(c->where, sizeof c->where, "%s@%s:%u/%s%s", c->user ? c->user : "", c->host,
                 c->port, c->name ? c->name : "", tls);
    ev_init(&c->io, on_io);
    c->io.data = c;
    ev_init(&c->lib_timer, on_lib_timer);
    c->lib_timer.data = c;
    ev_init(&c->deadline, on_deadline);
    c->deadline.data = c;
    return c;
}

static void stop_watchers(struct db_conn *c)
{
    ev_io_stop(c->loop, &c->io);
    ev_timer_stop(c->loop, &c->lib_timer);
    ev_timer_stop(c->loop, &c->deadline);
}

/* Waits for what the library asked for in status (a MYSQL_WAIT_* mask). */
static void wait_for(struct db_conn *c, int status)
{
    int events = (status & (MYSQL_WAIT_READ | MYSQL_WAIT_EXCEPT) ? EV_READ : 0) |
                 (status & MYSQL_WAIT_WRITE ? EV_WRITE : 0);
    ev_io_stop(c->loop, &c->io);
    if (events) {
        ev_io_set(&c->io, mysql_get_socket(c->m), events);
        ev_io_start(c->loop, &c->io);
    }
    ev_timer_stop(c->loop, &c->lib_timer);
    if (status & MYSQL_WAIT_TIMEOUT) {
        ev_timer_set(&c->lib_timer, mysql_get_timeout_value_ms(c->m) / 1000.0, 0);
        ev_timer_start(c->loop, &c->lib_timer);
    }
}

/* Ends the current operation and reports it. The callback may start the next
 * operation or free c, so nothing of c is touched after it. */
static void finish(struct db_conn *c, unsigned err, const char *msg)
{
    stop_watchers(c);
    struct db_result r = {.err = err, .errmsg = msg ? msg : "", .rows = c->rows};
    if (!err && c->m && c->op != OP_CONNECT) r.affected = mysql_affected_rows(c->m);
    MYSQL_RES *rows = c->rows;
    db_done_fn done = c->done;
    void *ud = c->ud;
    c->rows = NULL;
    c->op = OP_NONE;
    c->done = NULL;
    if (err && db_error_is_link(err)) db_disconnect(c);
    done(c, &r, ud);
    if (rows) mysql_free_result(rows);
}

static void finish_mysql_error(struct db_conn *c)
{
    char msg[512];
    unsigned err = mysql_errno(c->m);
    snprintf(msg, sizeof msg, "%s", mysql_error(c->m));
    finish(c, err ? err : CR_UNKNOWN_ERROR, msg);
}

/* One step of the operation has returned status: wait again, or move on. */
static void progress(struct db_conn *c, int status)
{
    for (;;) {
        if (status) {
            wait_for(c, status);
            return;
        }
        switch (c->op) {
        case OP_CONNECT:
            if (!c->connret) {
                finish_mysql_error(c);
                return;
            }
            c->connected = true;
            finish(c, 0, NULL);
            return;
        case OP_QUERY:
            if (c->qerr) {
                finish_mysql_error(c);
                return;
            }
            if (mysql_field_count(c->m) == 0) {
                finish(c, 0, NULL);
                return;
            }
            c->op = OP_STORE;
            status = mysql_store_result_start(&c->rows, c->m);
            continue;
        case OP_STORE:
            if (!c->rows && mysql_errno(c->m)) {
                finish_mysql_error(c);
                return;
            }
            finish(c, 0, NULL);
            return;
        case OP_NONE:
            return;
        }
    }
}

static void resume(struct db_conn *c, int ready)
{
    int status = 0;
    switch (c->op) {
    case OP_CONNECT:
        status = mysql_real_connect_cont(&c->connret, c->m, ready);
        break;
    case OP_QUERY:
        status = mysql_real_query_cont(&c->qerr, c->m, ready);
        break;
    case OP_STORE:
        status = mysql_store_result_cont(&c->rows, c->m, ready);
        break;
    case OP_NONE:
        return;
    }
    progress(c, status);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    resume(w->data,
           (revents & EV_READ ? MYSQL_WAIT_READ : 0) | (revents & EV_WRITE ? MYSQL_WAIT_WRITE : 0));
}

static void on_lib_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    resume(t->data, MYSQL_WAIT_TIMEOUT);
}

static void on_deadline(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct db_conn *c = t->data;
    char msg[128];
    snprintf(msg, sizeof msg, "no answer within %g s", c->timeout);
    db_done_fn done = c->done;
    void *ud = c->ud;
    enum db_op op = c->op;
    db_disconnect(c); /* the server may still finish the statement: callers must not care */
    c->op = op;
    c->done = done;
    c->ud = ud;
    finish(c, DB_ERR_TIMEOUT, msg);
}

static void begin(struct db_conn *c, enum db_op op, db_done_fn done, void *ud)
{
    c->op = op;
    c->done = done;
    c->ud = ud;
    c->rows = NULL;
    ev_timer_set(&c->deadline, c->timeout, 0);
    ev_timer_start(c->loop, &c->deadline);
}

void db_connect(struct db_conn *c, db_done_fn done, void *ud)
{
    db_disconnect(c);
    begin(c, OP_CONNECT, done, ud);
    c->m = mysql_init(NULL);
    if (!c->m) abort();
    unsigned ct = (unsigned)(c->timeout + 0.999);
    my_bool no = 0;
    mysql_options(c->m, MYSQL_OPT_NONBLOCK, 0);
    mysql_options(c->m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
    mysql_options(c->m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_options(c->m, MYSQL_OPT_LOCAL_INFILE, &no);
    mysql_options(c->m, MYSQL_INIT_COMMAND, "SET autocommit=1");
    if (c->socket) {
        unsigned proto = MYSQL_PROTOCOL_SOCKET;
        mysql_options(c->m, MYSQL_OPT_PROTOCOL, &proto);
    }
    if (c->tls) {
        /* Options only: the handshake runs inside mysql_real_connect_start/_cont like
         * the rest of the connect, so it never blocks the loop either. */
        my_bool enforce = 1, verify = c->verify_server_cert;
        if (c->ssl_ca) mysql_options(c->m, MYSQL_OPT_SSL_CA, c->ssl_ca);
        if (c->ssl_cert) mysql_options(c->m, MYSQL_OPT_SSL_CERT, c->ssl_cert);
        if (c->ssl_key) mysql_options(c->m, MYSQL_OPT_SSL_KEY, c->ssl_key);
        mysql_options(c->m, MYSQL_OPT_SSL_ENFORCE, &enforce);
        mysql_options(c->m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    }
    int status =
        mysql_real_connect_start(&c->connret, c->m, c->socket ? NULL : c->host, c->user,
                                 c->password, c->name, c->socket ? 0 : c->port, c->socket, 0);
    progress(c, status);
}

void db_query(struct db_conn *c, const char *sql, size_t len, db_done_fn done, void *ud)
{
    begin(c, OP_QUERY, done, ud);
    if (!c->connected) {
        finish(c, CR_SERVER_GONE_ERROR, "not connected");
        return;
    }
    progress(c, mysql_real_query_start(&c->qerr, c->m, sql, (unsigned long)len));
}

bool db_connected(const struct db_conn *c)
{
    return c->connected;
}

bool db_busy(const struct db_conn *c)
{
    return c->op != OP_NONE;
}

bool db_no_backslash_escapes(const struct db_conn *c)
{
    unsigned st = 0;
    if (c->m) mariadb_get_infov(c->m, MARIADB_CONNECTION_SERVER_STATUS, &st);
    return (st & SERVER_STATUS_NO_BACKSLASH_ESCAPES) != 0;
}

unsigned long db_thread_id(const struct db_conn *c)
{
    return c->m ? mysql_thread_id(c->m) : 0;
}

const char *db_where(const struct db_conn *c)
{
    return c->where;
}

/* An operation in progress holds a suspended context inside the library: shut the
 * socket so that it fails at once, run it to its end, then close without waiting. */
void db_disconnect(struct db_conn *c)
{
    stop_watchers(c);
    if (c->m) {
        if (c->op != OP_NONE) {
            shutdown(mysql_get_socket(c->m), SHUT_RDWR);
            for (int i = 0; i < 1000 && c->op != OP_NONE; i++) {
                int ready = MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_TIMEOUT, st = 0;
                if (c->op == OP_CONNECT)
                    st = mysql_real_connect_cont(&c->connret, c->m, ready);
                else if (c->op == OP_QUERY)
                    st = mysql_real_query_cont(&c->qerr, c->m, ready);
                else
                    st = mysql_store_result_cont(&c->rows, c->m, ready);
                if (!st) break;
            }
            if (c->rows) mysql_free_result(c->rows);
            c->rows = NULL;
        }
        shutdown(mysql_get_socket(c->m), SHUT_RDWR); /* mysql_close must not wait on COM_QUIT */
        mysql_close(c->m);
        c->m = NULL;
    }
    c->connected = false;
    c->op = OP_NONE;
    c->done = NULL;
}

void db_free(struct db_conn *c)
{
    if (!c) return;
    db_disconnect(c);
    if (c->password) {
        memset(c->password, 0, strlen(c->password));
        free(c->password);
    }
    free(c->host);
    free(c->ssl_ca);
    free(c->ssl_cert);
    free(c->ssl_key);
    free(c->socket);
    free(c->name);
    free(c->user);
    free(c);
}

bool db_error_is_link(unsigned err)
{
    switch (err) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_UNKNOWN_HOST:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case CR_SERVER_HANDSHAKE_ERR:
    case CR_COMMANDS_OUT_OF_SYNC:
    case ER_CON_COUNT_ERROR:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case DB_ERR_TIMEOUT:
        return true;
    default:
        return false;
    }
}

bool db_error_is_credentials(unsigned err)
{
    return err == ER_ACCESS_DENIED_ERROR || err == ER_DBACCESS_DENIED_ERROR ||
           err == ER_BAD_DB_ERROR || err == ER_ACCESS_DENIED_NO_PASSWORD_ERROR;
}

bool db_error_is_tls(unsigned err)
{
    return err == CR_SSL_CONNECTION_ERROR;
}

bool db_tls(const struct db_conn *c)
{
    return c->tls;
}
