/*
 * Line logger shared by every program. Each line is built in one buffer and written
 * with one write(2) on an O_APPEND descriptor, so lines from the supervisor and its
 * workers never interleave inside a line.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static struct {
    const char *role;
    char path[4096];
    int fd;
    enum log_level level;
} L = {"fac", "", 2, LOG_INFO};

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

void log_write(enum log_level lvl, const char *file, int line, const char *fmt, ...)
{
    if (lvl < L.level) return;
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s %s[%d] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[lvl], L.role, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 64) n = (int)sizeof buf - 64;
    if (file) n += snprintf(buf + n, sizeof buf - (size_t)n, " (%s:%d)", file, line);
    buf[n++] = '\n';
    ssize_t w = write(L.fd, buf, (size_t)n);
    (void)w; /* nowhere left to report a failed log write */
}
