/*
 * The MariaDB sink: one site's rows, INSERTed in batches into its `tabAssistant Audit
 * Log`. At start it reads the table's columns (FAC versions differ) and the site's
 * time zone. A batch is acknowledged once its INSERT committed; when the server is
 * down, slow (audit.db_timeout) or failing, the batch goes to the spool instead and is
 * acknowledged once fsync'd there. While spooling, the sink reconnects every second;
 * once back, it replays the spool files (its own and dead workers') in order, then
 * writes directly again.
 *
 *   CONNECTING ──ok──▶ REPLAY ──spool empty──▶ DIRECT ──failure──▶ DOWN ──reconnect──▶ …
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "insert.h"
#include "log.h"
#include "sink.h"
#include "spool.h"

#define STMT_MAX (1 << 20) /* bytes of one INSERT (max_allowed_packet is 16 MiB) */
#define REPLAY_ROWS 2000   /* rows per replayed INSERT */
#define RECONNECT_S 1.0
#define SCHEMA_RETRY_S 30.0 /* a broken table is not fixed in a second */
#define SCAN_S 5.0          /* how often a writing sink looks for dead workers' files */

enum mdb_state { M_CONNECTING, M_DIRECT, M_DOWN, M_REPLAY };

struct mdb_sink;
typedef void (*insert_done_fn)(struct mdb_sink *m, const struct db_result *r);

struct mdb_sink {
    struct audit_sink base;
    const char *site; /* lives as long as the config */
    struct db_conn *db;
    struct spool *spool;
    enum mdb_state state;
    enum audit_boot boot;
    char boot_err[768];
    struct audit_table table;
    ev_timer timer; /* DOWN: reconnect; DIRECT: look for dead workers' spool files */
    /* The INSERTs under way: rows [ins_off, ins->n) of ins, ins_rows in the statement. */
    const struct audit_batch *ins;
    size_t ins_off, ins_rows;
    insert_done_fn ins_done;
    struct buf sql;
    struct audit_batch replay; /* rows read back from the spool */
    struct buf lines;
    unsigned long long spooled, replayed; /* since the last switch, for log lines */
};

static void go_direct(struct mdb_sink *m);
static void replay_next(struct mdb_sink *m);

static void arm(struct mdb_sink *m, double after)
{
    ev_timer_stop(m->base.loop, &m->timer);
    ev_timer_set(&m->timer, after, 0);
    ev_timer_start(m->base.loop, &m->timer);
}

/* ---- INSERTs: a batch as one or more statements, each committed on its own ---- */

static void insert_step(struct mdb_sink *m);

static void on_insert(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct mdb_sink *m = ud;
    if (!r->err) m->ins_off += m->ins_rows;
    if (r->err || m->ins_off == m->ins->n)
        m->ins_done(m, r);
    else
        insert_step(m);
}

static void insert_step(struct mdb_sink *m)
{
    buf_reset(&m->sql);
    m->ins_rows = audit_insert_sql(&m->sql, &m->table, m->ins->recs + m->ins_off,
                                   m->ins->n - m->ins_off, STMT_MAX);
    db_query(m->db, m->sql.data, m->sql.len, on_insert, m);
}

static void insert_rows(struct mdb_sink *m, const struct audit_batch *b, insert_done_fn done)
{
    m->ins = b;
    m->ins_off = 0;
    m->ins_done = done;
    insert_step(m);
}

/* ---- the spool ---- */

static void spool_batch(struct mdb_sink *m, const struct audit_batch *b, size_t from)
{
    char err[1024];
    buf_reset(&m->lines);
    audit_batch_json(&m->lines, b, from);
    if (spool_append(m->spool, m->lines.data, m->lines.len, err, sizeof err) != 0) {
        log_error("audit: site %s: %s; keeping %zu rows in memory and retrying", m->site, err,
                  b->n - from);
        audit_sink_done(&m->base, false);
        return;
    }
    m->spooled += b->n - from;
    audit_sink_done(&m->base, true);
}

static void go_down(struct mdb_sink *m, const struct db_result *r)
{
    if (m->state == M_DIRECT || m->state == M_REPLAY)
        log_warn("audit: site %s: MariaDB %s failed (%u: %s): audit rows go to the spool in %s "
                 "until it is back",
                 m->site, db_where(m->db), r->err, r->errmsg, spool_own_path(m->spool));
    if (m->state == M_DIRECT) m->spooled = 0;
    m->state = M_DOWN;
    db_disconnect(m->db);
    arm(m, RECONNECT_S);
}

/* ---- connecting: columns, time zone ---- */

static void boot_fail_or_log(struct mdb_sink *m, const char *msg, double retry)
{
    if (m->boot == AUDIT_BOOTING) {
        m->boot = AUDIT_BOOT_FAILED;
        snprintf(m->boot_err, sizeof m->boot_err, "%s", msg);
        return;
    }
    log_error("%s; audit rows go to the spool meanwhile", msg);
    m->state = M_DOWN;
    db_disconnect(m->db);
    arm(m, retry);
}

static void on_connect_failed(struct mdb_sink *m, const struct db_result *r)
{
    char msg[768];
    if (db_error_is_credentials(r->err)) {
        snprintf(msg, sizeof msg,
                 "audit: site %s: MariaDB %s refused the connection (%u: %s): "
                 "fix sites.%s.db (name, user, password or password_file)",
                 m->site, db_where(m->db), r->err, r->errmsg, m->site);
        boot_fail_or_log(m, msg, SCHEMA_RETRY_S);
        return;
    }
    if (db_error_is_tls(r->err)) {
        snprintf(msg, sizeof msg,
                 "audit: site %s: no TLS connection to MariaDB %s (%u: %s): fix the TLS keys "
                 "of sites.%s.db (ssl_ca: the CA that signed the server's certificate, which "
                 "must name the host connected to; or ssl_verify_server_cert: false)",
                 m->site, db_where(m->db), r->err, r->errmsg, m->site);
        boot_fail_or_log(m, msg, SCHEMA_RETRY_S);
        return;
    }
    if (m->state == M_CONNECTING)
        log_warn("audit: site %s: MariaDB %s is unreachable (%u: %s): audit rows go to the spool "
                 "in %s until it is back",
                 m->site, db_where(m->db), r->err, r->errmsg, spool_own_path(m->spool));
    if (m->boot == AUDIT_BOOTING) m->boot = AUDIT_READY;
    m->state = M_DOWN;
    arm(m, RECONNECT_S);
}

static void on_time_zone(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct mdb_sink *m = ud;
    if (r->err && db_error_is_link(r->err)) {
        on_connect_failed(m, r);
        return;
    }
    MYSQL_ROW row = r->rows ? mysql_fetch_row(r->rows) : NULL;
    char err[256];
    tz_free(&m->table.zone);
    if (tz_load(&m->table.zone, row && row[0] ? row[0] : "UTC", err, sizeof err) != 0) {
        log_warn("audit: site %s: System Settings: %s; writing Datetimes in UTC", m->site, err);
        tz_load(&m->table.zone, "UTC", err, sizeof err);
    }
    m->table.no_backslash_escapes = db_no_backslash_escapes(c);
    if (m->boot == AUDIT_BOOTING) {
        int n = 0;
        for (int i = 0; i < AUDIT_NCOLS; i++)
            n += m->table.has[i];
        log_info("audit: site %s: rows go to MariaDB %s, table `%s` (%d columns written, time "
                 "zone %s)",
                 m->site, db_where(c), AUDIT_TABLE, n, m->table.zone.name);
        m->boot = AUDIT_READY;
    }
    size_t files = spool_claim(m->spool);
    if (!files) {
        go_direct(m);
        return;
    }
    log_info("audit: site %s: MariaDB %s is reachable: replaying %zu spool file(s)", m->site,
             db_where(c), files);
    m->state = M_REPLAY;
    m->replayed = 0;
    replay_next(m);
}

static const char *missing_required(const struct audit_table *t)
{
    for (int i = 0; i < AUDIT_NCOLS; i++)
        if (audit_cols[i].required && !t->has[i]) return audit_cols[i].name;
    return NULL;
}

static void on_columns(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct mdb_sink *m = ud;
    char msg[768];
    if (r->err && db_error_is_link(r->err)) {
        on_connect_failed(m, r);
        return;
    }
    if (r->err) {
        snprintf(msg, sizeof msg,
                 "audit: site %s: cannot read table `%s` in MariaDB %s (%u: %s): "
                 "install Frappe Assistant Core on the site (bench --site %s migrate) or point "
                 "sites.%s.db.name at the site's database",
                 m->site, AUDIT_TABLE, db_where(c), r->err, r->errmsg, m->site, m->site);
        boot_fail_or_log(m, msg, SCHEMA_RETRY_S);
        return;
    }
    memset(m->table.has, 0, sizeof m->table.has);
    MYSQL_ROW row;
    while (r->rows && (row = mysql_fetch_row(r->rows)))
        for (int i = 0; i < AUDIT_NCOLS; i++)
            if (audit_cols[i].in_table && row[0] && strcmp(row[0], audit_cols[i].name) == 0)
                m->table.has[i] = true;
    const char *missing = missing_required(&m->table);
    if (missing) {
        snprintf(msg, sizeof msg,
                 "audit: site %s: table `%s` in MariaDB %s has no column `%s`, "
                 "which every audit row needs (name, action, user, status, timestamp): migrate "
                 "the site (bench --site %s migrate) so the table matches Frappe Assistant Core's "
                 "DocType",
                 m->site, AUDIT_TABLE, db_where(c), missing, m->site);
        boot_fail_or_log(m, msg, SCHEMA_RETRY_S);
        return;
    }
    static const char q[] = "SELECT `value` FROM `tabSingles` WHERE `doctype`='System Settings' "
                            "AND `field`='time_zone'";
    db_query(c, q, sizeof q - 1, on_time_zone, m);
}

static void on_connected(struct db_conn *c, const struct db_result *r, void *ud)
{
    struct mdb_sink *m = ud;
    if (r->err) {
        on_connect_failed(m, r);
        return;
    }
    static const char q[] = "SHOW COLUMNS FROM `" AUDIT_TABLE "`";
    db_query(c, q, sizeof q - 1, on_columns, m);
}

/* ---- replay ---- */

static void on_replayed(struct mdb_sink *m, const struct db_result *r)
{
    if (r->err) {
        go_down(m, r);
        return;
    }
    spool_commit(m->spool);
    m->replayed += m->replay.n;
    replay_next(m);
}

/* Parses the JSON lines in m->lines into m->replay, skipping (and logging) any that
 * cannot be read: a torn or hand-edited line must not stop the replay for good. */
static void parse_lines(struct mdb_sink *m)
{
    char err[256];
    const char *p = m->lines.data, *end = m->lines.data + m->lines.len, *nl;
    audit_batch_clear(&m->replay);
    for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
        struct audit_rec *rec = audit_batch_push(&m->replay, NULL);
        if (audit_rec_from_json(rec, p, (size_t)(nl - p), err, sizeof err) != 0) {
            log_error("audit: site %s: skipping an unreadable spool line: %s", m->site, err);
            m->replay.n--;
        }
    }
}

/* Reads the next rows from the spool into m->replay: 1, or 0 when the spool is empty,
 * or -1 on a read error. */
static int replay_read(struct mdb_sink *m)
{
    char err[1024];
    for (;;) {
        buf_reset(&m->lines);
        int n = spool_read(m->spool, &m->lines, REPLAY_ROWS, STMT_MAX, err, sizeof err);
        if (n < 0) {
            log_error("audit: site %s: %s; retrying in %g s", m->site, err, RECONNECT_S);
            return -1;
        }
        if (n == 0) {
            if (!spool_claim(m->spool)) return 0; /* rows spooled meanwhile are queued now */
            continue;
        }
        parse_lines(m);
        if (m->replay.n) return 1;
        spool_commit(m->spool); /* nothing readable in these lines */
    }
}

static void replay_next(struct mdb_sink *m)
{
    int rc = replay_read(m);
    if (rc > 0) {
        insert_rows(m, &m->replay, on_replayed);
    } else if (rc < 0) { /* the files stay; try again later */
        m->state = M_DOWN;
        db_disconnect(m->db);
        arm(m, RECONNECT_S);
    } else {
        log_info("audit: site %s: spool replayed into MariaDB %s: %llu rows committed (%llu "
                 "spooled meanwhile); writing directly again",
                 m->site, db_where(m->db), m->replayed, m->spooled);
        go_direct(m);
    }
}

/* ---- writing ---- */

static void go_direct(struct mdb_sink *m)
{
    m->state = M_DIRECT;
    m->spooled = 0;
    arm(m, SCAN_S);
}

static void on_batch_inserted(struct mdb_sink *m, const struct db_result *r)
{
    if (!r->err) {
        audit_sink_done(&m->base, true);
        return;
    }
    go_down(m, r);
    spool_batch(m, m->ins, m->ins_off); /* the statements before ins_off are committed */
}

static void mdb_write(struct audit_sink *s, const struct audit_batch *b)
{
    struct mdb_sink *m = (struct mdb_sink *)s;
    if (m->state == M_DIRECT)
        insert_rows(m, b, on_batch_inserted);
    else
        spool_batch(m, b, 0);
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct mdb_sink *m = t->data;
    if (m->state == M_DOWN) {
        db_connect(m->db, on_connected, m);
        return;
    }
    if (m->state != M_DIRECT) return;
    if (db_busy(m->db) || !spool_claim(m->spool)) { /* nobody left rows behind */
        arm(m, SCAN_S);
        return;
    }
    m->state = M_REPLAY;
    m->replayed = 0;
    replay_next(m);
}

static enum audit_boot mdb_boot(struct audit_sink *s, char *err, size_t errlen)
{
    struct mdb_sink *m = (struct mdb_sink *)s;
    if (m->boot == AUDIT_BOOT_FAILED) snprintf(err, errlen, "%s", m->boot_err);
    return m->boot;
}

static void mdb_free(struct audit_sink *s)
{
    struct mdb_sink *m = (struct mdb_sink *)s;
    ev_timer_stop(s->loop, &m->timer);
    db_free(m->db);
    spool_free(m->spool);
    buf_free(&m->sql);
    buf_free(&m->lines);
    audit_batch_free(&m->replay);
    tz_free(&m->table.zone);
    free(m);
}

static const struct audit_sink_ops mdb_ops = {mdb_write, mdb_boot, mdb_free};

struct audit_sink *mariadb_sink_open(struct audit *a, struct ev_loop *loop,
                                     const struct fac_config *cfg, const struct site_cfg *site,
                                     char *err, size_t errlen)
{
    struct db_params p;
    char *pw;
    if (db_params_for_site(site, false, cfg->audit.db_timeout, &p, &pw, err, errlen) != 0)
        return NULL;
    struct spool *sp = spool_open(cfg->audit.spool, site->name, cfg->host_id, err, errlen);
    if (!sp) {
        db_password_free(pw);
        return NULL;
    }
    struct mdb_sink *m = calloc(1, sizeof *m);
    audit_sink_init(&m->base, &mdb_ops, a, loop);
    m->site = site->name;
    m->spool = sp;
    m->db = db_open(loop, &p);
    db_password_free(pw);
    m->state = M_CONNECTING;
    m->boot = AUDIT_BOOTING;
    ev_init(&m->timer, on_timer);
    m->timer.data = m;
    db_connect(m->db, on_connected, m);
    return &m->base;
}
