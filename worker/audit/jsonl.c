/*
 * The JSON-lines sink: the audit when no database is configured (the quick-start's
 * default), and for rows of sites without one. One write(2) per batch on an O_APPEND
 * descriptor keeps lines from several workers whole; fdatasync makes the batch
 * durable before its jobs are acknowledged.
 *
 * The write and the fdatasync run on a thread of the sink's own, so that the worker's
 * loop never waits for the disk: a flush takes 0.1-10 ms here, and a job pushed to a
 * worker in the middle of one waited for it. The loop renders the batch, hands the
 * buffer over and is told through an ev_async when it is durable; the batcher gives a
 * sink one batch at a time, so one buffer and one hand-off slot suffice. The thread
 * makes only system calls (no malloc, no locks but the sink's own), so an exec tool's
 * fork from the loop thread stays safe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "sink.h"

#define SLOW_WRITE_NS 1000000000LL /* a batch slower than this is logged */

struct jsonl_sink {
    struct audit_sink base;
    char *path;
    int fd;
    struct buf lines;
    bool failing; /* the last write failed: logged once until one works again */

    /* The writer thread and its hand-off: under mu, `todo` is set by the loop and
     * cleared by the thread, which then stores the outcome and wakes the loop. */
    pthread_t thread;
    bool thread_up;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool todo, quit;
    int write_errno;  /* 0: the batch is durable */
    int64_t write_ns; /* how long its write and fdatasync took */
    ev_async done;
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

/* 0, or the errno of the write or fdatasync that failed. */
static int write_all(int fd, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        off += (size_t)n;
    }
    return fdatasync(fd) == 0 ? 0 : errno;
}

static void *writer_main(void *arg)
{
    struct jsonl_sink *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!j->todo && !j->quit)
            pthread_cond_wait(&j->cv, &j->mu);
        if (!j->todo) break;
        pthread_mutex_unlock(&j->mu);
        /* The loop leaves fd and lines alone while todo is set. */
        int64_t t0 = mono_ns();
        int e = write_all(j->fd, j->lines.data, j->lines.len);
        int64_t took = mono_ns() - t0;
        pthread_mutex_lock(&j->mu);
        j->write_errno = e;
        j->write_ns = took;
        j->todo = false;
        ev_async_send(j->base.loop, &j->done);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

static void batch_failed(struct jsonl_sink *j, const char *err)
{
    if (!j->failing) log_error("%s; keeping %zu rows and retrying", err, j->base.writing.n);
    j->failing = true;
    audit_sink_done(&j->base, false);
}

/* On the loop: the thread is done with the batch. */
static void on_written(struct ev_loop *loop, ev_async *w, int revents)
{
    struct jsonl_sink *j = w->data;
    pthread_mutex_lock(&j->mu);
    bool pending = j->todo;
    int e = j->write_errno;
    int64_t took = j->write_ns;
    pthread_mutex_unlock(&j->mu);
    if (pending) return;
    if (took > SLOW_WRITE_NS)
        log_warn("audit file %s: writing %zu rows (%zu bytes) and fdatasync took %.1f s; their "
                 "jobs stayed in flight meanwhile (a slow or busy disk)",
                 j->path, j->base.writing.n, j->lines.len, (double)took / 1e9);
    if (e != 0) {
        char err[512];
        snprintf(err, sizeof err, "audit file %s: write failed: %s", j->path, strerror(e));
        batch_failed(j, err);
        return;
    }
    if (j->failing) log_info("audit file %s is writable again", j->path);
    j->failing = false;
    audit_sink_done(&j->base, true);
}

static void jsonl_write(struct audit_sink *s, const struct audit_batch *b)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    char err[512];
    if (j->fd < 0 && jsonl_open_file(j, err, sizeof err) != 0) {
        batch_failed(j, err);
        return;
    }
    if (!j->thread_up) {
        int e = pthread_create(&j->thread, NULL, writer_main, j);
        if (e != 0) { /* no thread: this batch waits for the disk on the loop */
            log_warn("audit file %s: no writer thread (%s): writing on the worker's loop", j->path,
                     strerror(e));
            buf_reset(&j->lines);
            audit_batch_json(&j->lines, b, 0);
            j->write_ns = 0;
            j->write_errno = write_all(j->fd, j->lines.data, j->lines.len);
            on_written(s->loop, &j->done, 0);
            return;
        }
        j->thread_up = true;
    }
    buf_reset(&j->lines);
    audit_batch_json(&j->lines, b, 0);
    pthread_mutex_lock(&j->mu);
    j->todo = true;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static enum audit_boot jsonl_boot(struct audit_sink *s, char *err, size_t errlen)
{
    return AUDIT_READY;
}

static void jsonl_free(struct audit_sink *s)
{
    struct jsonl_sink *j = (struct jsonl_sink *)s;
    if (j->thread_up) { /* a batch still being written is finished first */
        pthread_mutex_lock(&j->mu);
        j->quit = true;
        pthread_cond_signal(&j->cv);
        pthread_mutex_unlock(&j->mu);
        pthread_join(j->thread, NULL);
    }
    ev_async_stop(s->loop, &j->done);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
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
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    ev_async_init(&j->done, on_written);
    j->done.data = j;
    ev_async_start(loop, &j->done);
    if (open_now && jsonl_open_file(j, err, errlen) != 0) {
        jsonl_free(&j->base);
        return NULL;
    }
    return &j->base;
}
