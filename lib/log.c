/*
 * Line logger shared by every program. Each line is built in one buffer and written
 * with one write(2) on an O_APPEND descriptor, so lines from the supervisor and its
 * workers never interleave inside a line. With the JSON format each line is one object
 * {"ts","level","role","pid","msg", ...} whose extra fields are the message's key=value
 * words, so a call site logs its fields once for both formats.
 */
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

static struct {
    const char *role;
    char path[4096];
    int fd;
    enum log_level level;
    enum log_format format;
} L = {"fac", "", 2, LOG_INFO, LOG_TEXT};

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

int log_init(const char *role, const char *path, enum log_level level)
{
    L.role = role;
    L.level = level;
    if (!path || !*path) {
        L.path[0] = '\0';
        L.fd = 2;
        return 0;
    }
    snprintf(L.path, sizeof L.path, "%s", path);
    return log_reopen();
}

void log_set_role(const char *role)
{
    L.role = role;
}

int log_reopen(void)
{
    if (!L.path[0]) return 0;
    int fd = open(L.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        int e = errno;
        log_error("cannot open log file %s: %s; logging to stderr", L.path, strerror(e));
        return -1;
    }
    if (L.fd > 2) close(L.fd);
    L.fd = fd;
    return 0;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "text") == 0)
        *out = LOG_TEXT;
    else if (strcmp(s, "json") == 0)
        *out = LOG_JSON;
    else
        return -1;
    return 0;
}

void log_set_format(enum log_format f)
{
    L.format = f;
}

/* A fixed line buffer: appends past its end are dropped, the line stays one write. */
struct line {
    char b[4096];
    size_t n;
};

static void put(struct line *l, const char *s, size_t n)
{
    if (n > sizeof l->b - 64 - l->n) n = sizeof l->b - 64 - l->n;
    memcpy(l->b + l->n, s, n);
    l->n += n;
}

/* s[0..n) as a JSON string body: escapes, and U+FFFD for bytes that are not UTF-8. */
static void put_json(struct line *l, const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : utf8_seq((const unsigned char *)s + i, n - i);
        char esc[8];
        if (c == '"' || c == '\\')
            put(l, (char[]){'\\', (char)c}, 2);
        else if (c < 0x20)
            put(l, esc, (size_t)snprintf(esc, sizeof esc, "\\u%04x", c));
        else if (k == 0)
            put(l, "\\ufffd", 6);
        else
            put(l, s + i, k);
        i += k ? k : 1;
    }
}

static bool is_base_key(const char *k, size_t n)
{
    static const char *const base[] = {"ts", "level", "role", "pid", "msg", "src"};
    for (size_t i = 0; i < sizeof base / sizeof *base; i++)
        if (strlen(base[i]) == n && memcmp(base[i], k, n) == 0) return true;
    return false;
}

static bool is_number(const char *v, size_t n)
{
    if (n == 0 || n > 30 || !(isdigit((unsigned char)*v) || (*v == '-' && n > 1))) return false;
    char tmp[32], *end;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    strtod(tmp, &end);
    return *end == '\0';
}

/* Each "key=value" word of msg (key: [a-z_]+, value up to the next space, without a
 * trailing , ; or :) as ,"key":value — a number when it reads as one. */
static void put_fields(struct line *l, const char *msg)
{
    for (const char *p = msg; *p;) {
        const char *k = p;
        while (islower((unsigned char)*p) || *p == '_')
            p++;
        size_t kl = (size_t)(p - k);
        if (kl && *p == '=' && (k == msg || k[-1] == ' ') && !is_base_key(k, kl)) {
            const char *v = ++p;
            while (*p && *p != ' ')
                p++;
            size_t vl = (size_t)(p - v);
            while (vl && strchr(",;:", v[vl - 1]))
                vl--;
            put(l, ",\"", 2);
            put(l, k, kl);
            put(l, "\":", 2);
            bool num = is_number(v, vl);
            if (!num) put(l, "\"", 1);
            put_json(l, v, vl);
            if (!num) put(l, "\"", 1);
        }
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
}

static void format_json(struct line *l, const char *ts, enum log_level lvl, const char *msg,
                        const char *file, int line)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char head[256];
    put(l, head,
        (size_t)snprintf(head, sizeof head,
                         "{\"ts\":\"%s\",\"level\":\"%s\",\"role\":\"%s\","
                         "\"pid\":%d,\"msg\":\"",
                         ts, names[lvl], L.role, (int)getpid()));
    put_json(l, msg, strlen(msg));
    put(l, "\"", 1);
    put_fields(l, msg);
    if (file) put(l, head, (size_t)snprintf(head, sizeof head, ",\"src\":\"%s:%d\"", file, line));
    l->b[l->n++] = '}'; /* put() keeps 64 bytes for this and the newline */
}

static void format_text(struct line *l, const char *ts, enum log_level lvl, const char *msg,
                        const char *file, int line)
{
    char head[160];
    put(l, head,
        (size_t)snprintf(head, sizeof head, "%s %s %s[%d] ", ts, level_names[lvl], L.role,
                         (int)getpid()));
    put(l, msg, strlen(msg));
    if (file) put(l, head, (size_t)snprintf(head, sizeof head, " (%s:%d)", file, line));
}

void log_write(enum log_level lvl, const char *file, int line, const char *fmt, ...)
{
    if (lvl < L.level) return;
    char msg[2048], ts[80]; /* ts: room for any int the compiler imagines */
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct line l = {.n = 0};
    if (L.format == LOG_JSON)
        format_json(&l, ts, lvl, msg, file, line);
    else
        format_text(&l, ts, lvl, msg, file, line);
    l.b[l.n++] = '\n';
    ssize_t w = write(L.fd, l.b, l.n);
    (void)w; /* nowhere left to report a failed log write */
}
