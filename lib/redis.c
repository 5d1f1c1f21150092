/*
 * Redis target parsing and the synchronous connect shared by the supervisor, the
 * scheduler and fac-ctl, including the Sentinel look-up of the master (docs/sentinel.md).
 */
#include "redis.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies [s, s+n) into out with %XX decoded; -1 if it does not fit. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        }
        if (o + 1 >= outlen) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* key names the config key in errors; out gets the file's first line-end-trimmed bytes. */
static int read_password_file(const char *key, const char *path, char *out, size_t outlen,
                              char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: cannot open it: %m", key, path);
        return -1;
    }
    ssize_t n = read(fd, out, outlen - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s %s: cannot read it: %m", key, path);
        return -1;
    }
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r'))
        n--;
    out[n] = '\0';
    return 0;
}

static int parse_unix(const char *rest, struct redis_target *t, char *err, size_t errlen)
{
    const char *q = strchr(rest, '?');
    size_t n = q ? (size_t)(q - rest) : strlen(rest);
    if (n == 0 || n >= sizeof t->path) {
        snprintf(err, errlen, "redis URL: unix socket path missing or too long");
        return -1;
    }
    memcpy(t->path, rest, n);
    t->path[n] = '\0';
    if (q) {
        const char *db = strstr(q, "db=");
        if (db) {
            char *end;
            long v = strtol(db + 3, &end, 10);
            if (end == db + 3 || (*end && *end != '&') || v < 0 || v > 100000) {
                snprintf(err, errlen, "redis URL: db= must be a database number");
                return -1;
            }
            t->db = (int)v;
        }
        const char *pw = strstr(q, "password=");
        if (pw) {
            const char *end = strchr(pw, '&');
            size_t pn = end ? (size_t)(end - pw - 9) : strlen(pw + 9);
            if (pct_decode(pw + 9, pn, t->password, sizeof t->password)) {
                snprintf(err, errlen, "redis URL: password too long");
                return -1;
            }
        }
    }
    return 0;
}

static int parse_tcp(const char *rest, struct redis_target *t, char *err, size_t errlen)
{
    const char *at = strrchr(rest, '@');
    const char *hp = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        const char *pw = colon ? colon + 1 : rest;
        if (colon && pct_decode(rest, (size_t)(colon - rest), t->user, sizeof t->user)) {
            snprintf(err, errlen, "redis URL: user name too long");
            return -1;
        }
        if (pct_decode(pw, (size_t)(at - pw), t->password, sizeof t->password)) {
            snprintf(err, errlen, "redis URL: password too long");
            return -1;
        }
        hp = at + 1;
    }
    const char *slash = strchr(hp, '/');
    size_t hpn = slash ? (size_t)(slash - hp) : strlen(hp);
    const char *colon = memchr(hp, ':', hpn);
    size_t hn = colon ? (size_t)(colon - hp) : hpn;
    if (hn == 0 || hn >= sizeof t->host) {
        snprintf(err, errlen, "redis URL: host missing or too long");
        return -1;
    }
    memcpy(t->host, hp, hn);
    t->host[hn] = '\0';
    t->port = 6379;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end != hp + hpn || p <= 0 || p > 65535) {
            snprintf(err, errlen, "redis URL: port must be 1-65535");
            return -1;
        }
        t->port = (int)p;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (*end || db < 0 || db > 100000) {
            snprintf(err, errlen, "redis URL: database must be a number after the '/'");
            return -1;
        }
        t->db = (int)db;
    }
    return 0;
}

int redis_target_parse(const char *url, const char *password_file, struct redis_target *t,
                       char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    int rc;
    if (strncmp(url, "redis://", 8) == 0)
        rc = parse_tcp(url + 8, t, err, errlen);
    else if (strncmp(url, "unix://", 7) == 0)
        rc = parse_unix(url + 7, t, err, errlen);
    else {
        snprintf(err, errlen,
                 "redis URL must start with redis:// or unix:// (e.g. "
                 "redis://127.0.0.1:11000/0)");
        return -1;
    }
    if (rc == 0 && password_file)
        rc = read_password_file("redis_password_file", password_file, t->password,
                                sizeof t->password, err, errlen);
    return rc;
}

int redis_sentinel_addr_parse(const char *s, struct redis_sentinel_addr *a, char *err,
                              size_t errlen)
{
    const char *colon = strrchr(s, ':');
    const char *h = s, *hend = colon;
    if (*s == '[') { /* [IPv6]:port */
        h = s + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':') hend = NULL;
        colon = hend ? hend + 1 : NULL;
    }
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 0;
    if (!colon || !hend || hend == h || (size_t)(hend - h) >= sizeof a->host || end == colon + 1 ||
        *end || port <= 0 || port > 65535) {
        snprintf(err, errlen,
                 "\"%.300s\" is not a sentinel address: write \"host:port\", e.g. "
                 "\"10.0.0.5:26379\"",
                 s);
        return -1;
    }
    if (a) {
        memcpy(a->host, h, (size_t)(hend - h));
        a->host[hend - h] = '\0';
        a->port = (int)port;
    }
    return 0;
}

int redis_sentinel_check(const struct redis_sentinel_cfg *sc, const char *url, char *err,
                         size_t errlen)
{
    const char *k = sc->key_prefix ? sc->key_prefix : "";
    if (!sc->nsentinels) {
        if (sc->master)
            snprintf(err, errlen,
                     "%sredis_master is set but %sredis_sentinels is not: list the sentinels "
                     "(\"redis_sentinels\": [\"host:26379\", ...]) or remove redis_master",
                     k, k);
        else if (sc->password_file)
            snprintf(err, errlen,
                     "%sredis_sentinel_password_file is set but %sredis_sentinels is not: list "
                     "the sentinels or remove it",
                     k, k);
        return sc->master || sc->password_file ? -1 : 0;
    }
    if (!sc->master || !*sc->master || strlen(sc->master) >= 128 ||
        strpbrk(sc->master, " \t\r\n")) {
        snprintf(err, errlen,
                 "%sredis_sentinels is set, so %sredis_master must name the master: add "
                 "\"redis_master\": \"<the name in the sentinels' 'sentinel monitor' line>\" "
                 "(1-127 characters, no spaces)",
                 k, k);
        return -1;
    }
    if (sc->nsentinels > REDIS_MAX_SENTINELS) {
        snprintf(err, errlen, "%sredis_sentinels: at most %d sentinels, got %zu", k,
                 REDIS_MAX_SENTINELS, sc->nsentinels);
        return -1;
    }
    for (size_t i = 0; i < sc->nsentinels; i++) {
        char why[400];
        if (redis_sentinel_addr_parse(sc->sentinels[i], NULL, why, sizeof why)) {
            snprintf(err, errlen, "%sredis_sentinels item %zu: %s", k, i, why);
            return -1;
        }
    }
    if (url && strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen,
                 "%sredis: with %sredis_sentinels the URL must be "
                 "redis://[user:password@]host/db (the sentinels name the master's address; "
                 "the URL gives user, password and db)",
                 k, k);
        return -1;
    }
    return 0;
}

int redis_target_init(struct redis_target *t, const char *url, const char *password_file,
                      const struct redis_sentinel_cfg *sc, char *err, size_t errlen)
{
    if (redis_target_parse(url, password_file, t, err, errlen)) return -1;
    if (!sc) return 0;
    if (redis_sentinel_check(sc, url, err, errlen)) return -1;
    for (size_t i = 0; i < sc->nsentinels; i++)
        redis_sentinel_addr_parse(sc->sentinels[i], &t->sentinels[i], err, errlen);
    t->nsentinels = (int)sc->nsentinels;
    if (sc->master) snprintf(t->master_name, sizeof t->master_name, "%s", sc->master);
    if (sc->key_prefix) snprintf(t->key_prefix, sizeof t->key_prefix, "%s", sc->key_prefix);
    char key[200];
    snprintf(key, sizeof key, "%sredis_sentinel_password_file", t->key_prefix);
    if (sc->password_file && read_password_file(key, sc->password_file, t->sentinel_password,
                                                sizeof t->sentinel_password, err, errlen))
        return -1;
    return 0;
}

const char *redis_target_display(const struct redis_target *t, char *out, size_t outlen)
{
    if (t->nsentinels) {
        int n = snprintf(out, outlen, "master \"%s\" via sentinels ", t->master_name);
        for (int i = 0; i < t->nsentinels && n > 0 && (size_t)n < outlen; i++)
            n += snprintf(out + n, outlen - (size_t)n, "%s%s:%d", i ? "," : "",
                          t->sentinels[i].host, t->sentinels[i].port);
        if (n > 0 && (size_t)n < outlen) snprintf(out + n, outlen - (size_t)n, " db %d", t->db);
    } else if (t->path[0])
        snprintf(out, outlen, "unix:%s?db=%d", t->path, t->db);
    else
        snprintf(out, outlen, "%s:%d/%d", t->host, t->port, t->db);
    return out;
}

int redis_auth_argv(const struct redis_target *t, const char **argv, size_t *lens)
{
    if (!t->password[0]) return 0;
    int n = 0;
    argv[n++] = "AUTH";
    if (t->user[0]) argv[n++] = t->user;
    argv[n++] = t->password;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    return n;
}

bool redis_error_is_auth(const char *msg)
{
    return strncmp(msg, "WRONGPASS", 9) == 0 || strncmp(msg, "NOAUTH", 6) == 0 ||
           strstr(msg, "invalid password") || strstr(msg, "invalid username-password") ||
           strncmp(msg, "NOPERM", 6) == 0;
}

long long redis_wait_sync(redisContext *c, int64_t replicas, int64_t timeout_ms)
{
    redisReply *r = redisCommand(c, "WAIT %lld %lld", (long long)replicas, (long long)timeout_ms);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

bool redis_error_is_failover(const char *msg)
{
    return strncmp(msg, "READONLY", 8) == 0 || strncmp(msg, "UNBLOCKED", 9) == 0 ||
           strncmp(msg, "MASTERDOWN", 10) == 0;
}

static redisContext *fail_with(redisContext *c, enum redis_connect_status *st,
                               enum redis_connect_status why)
{
    *st = why;
    redisFree(c);
    return NULL;
}

static struct timeval seconds_tv(double s)
{
    return (struct timeval){(time_t)s, (suseconds_t)((s - (long)s) * 1e6)};
}

/* Connects to host:port (or t's socket when host is NULL), then AUTH and SELECT. */
static redisContext *connect_server(const struct redis_target *t, const char *host, int port,
                                    double timeout_s, enum redis_connect_status *st, char *err,
                                    size_t errlen)
{
    char where[1200];
    if (host)
        snprintf(where, sizeof where, "%s:%d/%d", host, port, t->db);
    else
        redis_target_display(t, where, sizeof where);
    struct timeval tv = seconds_tv(timeout_s);
    redisContext *c =
        host ? redisConnectWithTimeout(host, port, tv) : redisConnectUnixWithTimeout(t->path, tv);
    if (!c || c->err) {
        snprintf(err, errlen, "cannot connect to Redis at %s: %s", where,
                 c ? c->errstr : "out of memory");
        return fail_with(c, st, REDIS_CONNECT_DOWN);
    }
    redisSetTimeout(c, tv);
    const char *argv[3];
    size_t lens[3];
    int argc = redis_auth_argv(t, argv, lens);
    if (argc) {
        redisReply *r = redisCommandArgv(c, argc, argv, lens);
        if (!r) {
            snprintf(err, errlen, "Redis at %s: AUTH failed: %s", where, c->errstr);
            return fail_with(c, st, REDIS_CONNECT_DOWN);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen,
                     "Redis at %s refused the credentials (%.80s): check the "
                     "password in the redis URL or redis_password_file",
                     where, r->str);
            freeReplyObject(r);
            return fail_with(c, st, REDIS_CONNECT_AUTH);
        }
        freeReplyObject(r);
    }
    redisReply *r = redisCommand(c, "SELECT %d", t->db);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        bool auth = r && redis_error_is_auth(r->str);
        snprintf(err, errlen, "Redis at %s: SELECT %d failed: %.120s%s", where, t->db,
                 r ? r->str : c->errstr, auth ? " (set the password in the redis URL)" : "");
        if (r) freeReplyObject(r);
        return fail_with(c, st, auth ? REDIS_CONNECT_AUTH : REDIS_CONNECT_DOWN);
    }
    freeReplyObject(r);
    *st = REDIS_CONNECT_OK;
    return c;
}

redisReply *redis_check_master_reply(redisContext *c, redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR && redis_error_is_failover(r->str) && !c->err) {
        c->err = REDIS_ERR_OTHER;
        snprintf(c->errstr, sizeof c->errstr, "no longer the master: %.80s", r->str);
    }
    return r;
}

/* ---- Sentinel ---- */

#define SENTINEL_TIMEOUT_S 0.5 /* per sentinel: a dead one must not hold up the next */

/* Asks one sentinel where the master is; DOWN with why on any failure. */
static enum redis_connect_status ask_sentinel(const struct redis_target *t,
                                              const struct redis_sentinel_addr *s, double timeout_s,
                                              char *host, size_t hostlen, int *port, char *why,
                                              size_t whylen)
{
    struct timeval tv = seconds_tv(timeout_s);
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv);
    enum redis_connect_status st = REDIS_CONNECT_DOWN;
    redisReply *r = NULL;
    if (!c || c->err) {
        snprintf(why, whylen, "%s", c ? c->errstr : "out of memory");
        goto out;
    }
    redisSetTimeout(c, tv);
    if (t->sentinel_password[0]) {
        const char *argv[] = {"AUTH", t->sentinel_password};
        r = redisCommandArgv(c, 2, argv, NULL);
        if (!r || r->type == REDIS_REPLY_ERROR) {
            bool auth = r && redis_error_is_auth(r->str);
            snprintf(why, whylen, "AUTH refused (%.80s)%s%s%s", r ? r->str : c->errstr,
                     auth ? ": check " : "", auth ? t->key_prefix : "",
                     auth ? "redis_sentinel_password_file" : "");
            if (auth) st = REDIS_CONNECT_AUTH;
            goto out;
        }
        freeReplyObject(r);
    }
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", t->master_name};
    r = redisCommandArgv(c, 3, argv, NULL);
    if (!r) {
        snprintf(why, whylen, "%s", c->errstr);
    } else if (r->type == REDIS_REPLY_ERROR) {
        bool auth = redis_error_is_auth(r->str);
        snprintf(why, whylen, "%.160s%s%s%s", r->str,
                 auth ? ": set the sentinels' password in " : "", auth ? t->key_prefix : "",
                 auth ? "redis_sentinel_password_file" : "");
        if (auth) st = REDIS_CONNECT_AUTH;
    } else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
               r->element[0]->type != REDIS_REPLY_STRING ||
               r->element[1]->type != REDIS_REPLY_STRING) {
        snprintf(why, whylen, "it does not monitor a master named \"%s\" (check %sredis_master)",
                 t->master_name, t->key_prefix);
    } else {
        snprintf(host, hostlen, "%s", r->element[0]->str);
        *port = atoi(r->element[1]->str);
        st = REDIS_CONNECT_OK;
    }
out:
    freeReplyObject(r);
    redisFree(c);
    return st;
}

/* A sentinel may answer with the old master for a moment after a failover. */
static bool says_master(redisContext *c, char *why, size_t whylen)
{
    redisReply *r = redisCommand(c, "ROLE");
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
              r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "master") == 0;
    if (!ok)
        snprintf(why, whylen, "it is not the master (ROLE: %.60s): a stale answer",
                 !r                             ? c->errstr
                 : r->type == REDIS_REPLY_ERROR ? r->str
                 : r->type == REDIS_REPLY_ARRAY && r->elements &&
                         r->element[0]->type == REDIS_REPLY_STRING
                     ? r->element[0]->str
                     : "?");
    freeReplyObject(r);
    return ok;
}

/* Logs the master once per process and again whenever it changes; each master name
 * (home's and every shard's) is followed on its own. */
static void note_master(const struct redis_target *t, const char *host, int port,
                        const struct redis_sentinel_addr *by)
{
    static struct {
        char name[128], addr[300];
    } seen[2 * REDIS_MAX_SENTINELS];
    static size_t nseen;
    char now[300];
    snprintf(now, sizeof now, "%s:%d", host, port);
    size_t i = 0;
    while (i < nseen && strcmp(seen[i].name, t->master_name) != 0)
        i++;
    if (i < nseen && strcmp(seen[i].addr, now) == 0) return;
    log_info("Redis master \"%s\" is %s (named by sentinel %s:%d)", t->master_name, now, by->host,
             by->port);
    if (i == nseen) {
        if (nseen == sizeof seen / sizeof *seen) return;
        nseen++;
    }
    snprintf(seen[i].name, sizeof seen[i].name, "%s", t->master_name);
    snprintf(seen[i].addr, sizeof seen[i].addr, "%s", now);
}

static redisContext *sentinel_connect(const struct redis_target *t, double timeout_s,
                                      enum redis_connect_status *st, char *err, size_t errlen)
{
    double stimeout = timeout_s < SENTINEL_TIMEOUT_S ? timeout_s : SENTINEL_TIMEOUT_S;
    char tried[1024] = "";
    size_t n = 0;
    for (int i = 0; i < t->nsentinels; i++) {
        const struct redis_sentinel_addr *s = &t->sentinels[i];
        char host[256], why[600];
        int port = 0;
        enum redis_connect_status ss =
            ask_sentinel(t, s, stimeout, host, sizeof host, &port, why, sizeof why);
        if (ss == REDIS_CONNECT_AUTH) {
            snprintf(err, errlen, "Redis sentinel %s:%d: %s", s->host, s->port, why);
            *st = REDIS_CONNECT_AUTH;
            return NULL;
        }
        if (ss == REDIS_CONNECT_OK) {
            redisContext *c = connect_server(t, host, port, timeout_s, st, why, sizeof why);
            if (c && says_master(c, why, sizeof why)) {
                note_master(t, host, port, s);
                return c;
            }
            redisFree(c);
            if (*st == REDIS_CONNECT_AUTH) {
                snprintf(err, errlen, "%s", why);
                return NULL;
            }
        }
        if (n < sizeof tried)
            n += (size_t)snprintf(tried + n, sizeof tried - n, "%s%s:%d: %s", n ? "; " : "",
                                  s->host, s->port, why);
    }
    snprintf(err, errlen,
             "no sentinel named a reachable Redis master \"%s\" (%s): check that the sentinels "
             "run and monitor it (%sredis_sentinels, %sredis_master)",
             t->master_name, tried, t->key_prefix, t->key_prefix);
    *st = REDIS_CONNECT_DOWN;
    return NULL;
}

int redis_sentinel_master(const struct redis_target *t, double timeout_s, char *host,
                          size_t hostlen, int *port, char *err, size_t errlen)
{
    if (!t->nsentinels) {
        snprintf(host, hostlen, "%s", t->host);
        *port = t->port;
        return 0;
    }
    /* The one that answered last first: a dead first sentinel costs its timeout once. */
    static int answered;
    double stimeout = timeout_s < SENTINEL_TIMEOUT_S ? timeout_s : SENTINEL_TIMEOUT_S;
    for (int k = 0; k < t->nsentinels; k++) {
        int i = (answered + k) % t->nsentinels;
        if (ask_sentinel(t, &t->sentinels[i], stimeout, host, hostlen, port, err, errlen) ==
            REDIS_CONNECT_OK) {
            answered = i;
            return 0;
        }
    }
    return -1;
}

bool redis_master_moved(const struct redis_target *t, const redisContext *c, int64_t *next_check_ms)
{
    if (!t->nsentinels || !c || c->err || !c->tcp.host) return false;
    int64_t now = mono_ms();
    if (now < *next_check_ms) return false;
    *next_check_ms = now + 1000;
    char host[256], err[600];
    int port;
    if (redis_sentinel_master(t, SENTINEL_TIMEOUT_S, host, sizeof host, &port, err, sizeof err)) {
        *next_check_ms = now + 5000; /* no sentinel answers: keep c, and the caller's pace */
        return false;
    }
    if (strcmp(host, c->tcp.host) == 0 && port == c->tcp.port) return false;
    log_info("the sentinels now name %s:%d as Redis master \"%s\" (was %s:%d): reconnecting", host,
             port, t->master_name, c->tcp.host, c->tcp.port);
    return true;
}

redisContext *redis_connect_sync(const struct redis_target *t, double timeout_s,
                                 enum redis_connect_status *st, char *err, size_t errlen)
{
    if (t->nsentinels) return sentinel_connect(t, timeout_s, st, err, errlen);
    return connect_server(t, t->path[0] ? NULL : t->host, t->port, timeout_s, st, err, errlen);
}

enum redis_connect_status redis_target_pin(const struct redis_target *t, double timeout_s,
                                           struct redis_target *pinned, char *err, size_t errlen)
{
    *pinned = *t;
    if (!t->nsentinels) return REDIS_CONNECT_OK;
    enum redis_connect_status st;
    redisContext *c = sentinel_connect(t, timeout_s, &st, err, errlen);
    if (!c) return st;
    snprintf(pinned->host, sizeof pinned->host, "%s", c->tcp.host);
    pinned->port = c->tcp.port;
    pinned->nsentinels = 0;
    memset(pinned->sentinel_password, 0, sizeof pinned->sentinel_password);
    redisFree(c);
    return REDIS_CONNECT_OK;
}
