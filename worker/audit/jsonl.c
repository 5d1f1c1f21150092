/*
 * The JSON-lines sink: the audit when no database is configured (the quick-start's
 * default), and for rows of sites without one. One write(2) per batch on an O_APPEND
 * descriptor keeps lines from several workers whole; fdatasync makes the batch
 * durable before its jobs are acknowledged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sink.h"

struct jsonl_sink {
    struct audit_sink base;
    char *path;
    int fd;
    struct buf lines;
    bool failing; /* the last write failed: logged once until one works again */
};

static int jsonl_open_file(struct jsonl_sink *j, char *err, size_t errlen)
{
    j->fd = open(j->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (j->fd < 0)
        snprintf(err, errlen,
                 "audit file %s: cannot open it for appending: %s (set audit.path "
                 "to a writable file)",
                 j->path, strerror(errno));
    return j->fd < 0 ? -1 : 0;
}

static int write_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        off += (size_t)n;
    }
    return fdatasync(fd);
}

static void jsonl_write(struct audit_sink *s, const struct audit_batch *b)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    char err[512];
    buf_reset(&j->lines);
    audit_batch_json(&j->lines, b, 0);
    int rc = j->fd < 0 ? jsonl_open_file(j, err, sizeof err) : 0;
    if (rc == 0 && write_all(j->fd, j->lines.data, j->lines.len) != 0) {
        snprintf(err, sizeof err, "audit file %s: write failed: %s", j->path, strerror(errno));
        rc = -1;
    }
    if (rc != 0) {
        if (!j->failing) log_error("%s; keeping %zu rows and retrying", err, b->n);
        j->failing = true;
        audit_sink_done(s, false);
        return;
    }
    if (j->failing) log_info("audit file %s is writable again", j->path);
    j->failing = false;
    audit_sink_done(s, true);
}

static enum audit_boot jsonl_boot(struct audit_sink *s, char *err, size_t errlen)
{
    return AUDIT_READY;
}

static void jsonl_free(struct audit_sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    if (j->fd >= 0) close(j->fd);
    buf_free(&j->lines);
    free(j->path);
    free(j);
}

static const struct audit_sink_ops jsonl_ops = {jsonl_write, jsonl_boot, jsonl_free};

struct audit_sink *jsonl_sink_open(struct audit *a, struct ev_loop *loop, const char *path,
                                   bool open_now, char *err, size_t errlen)
{
    struct jsonl_sink *j = calloc(1, sizeof *j);
    audit_sink_init(&j->base, &jsonl_ops, a, loop);
    j->path = strdup(path);
    j->fd = -1;
    if (open_now && jsonl_open_file(j, err, errlen) != 0) {
        jsonl_free(&j->base);
        return NULL;
    }
    return &j->base;
}
