/* Redis target parsing and the synchronous connect shared by the supervisor and fac-ctl. */
#include "redis.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

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

static int read_password_file(const char *path, struct redis_target *t, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "redis_password_file %s: cannot open it: %m", path);
        return -1;
    }
    ssize_t n = read(fd, t->password, sizeof t->password - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "redis_password_file %s: cannot read it: %m", path);
        return -1;
    }
    while (n > 0 && (t->password[n - 1] == '\n' || t->password[n - 1] == '\r'))
        n--;
    t->password[n] = '\0';
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
    if (rc == 0 && password_file) rc = read_password_file(password_file, t, err, errlen);
    return rc;
}

const char *redis_target_display(const struct redis_target *t, char *out, size_t outlen)
{
    if (t->path[0])
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

static redisContext *fail_with(redisContext *c, enum redis_connect_status *st,
                               enum redis_connect_status why)
{
    *st = why;
    redisFree(c);
    return NULL;
}

redisContext *redis_connect_sync(const struct redis_target *t, double timeout_s,
                                 enum redis_connect_status *st, char *err, size_t errlen)
{
    char where[1200];
    redis_target_display(t, where, sizeof where);
    struct timeval tv = {(time_t)timeout_s, (suseconds_t)((timeout_s - (long)timeout_s) * 1e6)};
    redisContext *c = t->path[0] ? redisConnectUnixWithTimeout(t->path, tv)
                                 : redisConnectWithTimeout(t->host, t->port, tv);
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
