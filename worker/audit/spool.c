/* Spool files: append + fdatasync, flock ownership, replay in order (spool.h). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

struct spool_file {
    char path[4096];
    int fd;    /* -1: none; holds LOCK_EX while open */
    off_t off; /* replay position: everything before it is committed */
};

struct spool {
    char dir[2048];
    char prefix[512]; /* "<site, %-encoded>@" */
    char host_id[128];
    struct spool_file own;
    struct spool_file **queue; /* replay order: dead workers' files, then own */
    size_t nqueue;
    size_t read_bytes; /* of the last spool_read, until committed */
};

/* Site names become file names: anything but [A-Za-z0-9._-] is %-encoded, so two
 * sites never share a prefix and '@' can end it. */
static void encode_site(char *out, size_t outlen, const char *site)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)site; *p && n + 4 < outlen; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '.' || *p == '_' || *p == '-')
            out[n++] = (char)*p;
        else
            n += (size_t)snprintf(out + n, outlen - n, "%%%02X", *p);
    }
    out[n] = '\0';
}

struct spool *spool_open(const char *dir, const char *site, const char *host_id, char *err,
                         size_t errlen)
{
    if (strlen(dir) >= sizeof((struct spool *)0)->dir) {
        snprintf(err, errlen,
                 "audit.spool %.100s...: the path is too long (set audit.spool to a shorter one)",
                 dir);
        return NULL;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen,
                 "audit.spool %s: cannot create the directory: %s (set audit.spool "
                 "to a writable directory)",
                 dir, strerror(errno));
        return NULL;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(err, errlen,
                 "audit.spool %s: not a writable directory: %s (set audit.spool to "
                 "a writable directory)",
                 dir, strerror(errno));
        return NULL;
    }
    struct spool *s = calloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    char enc[400];
    encode_site(enc, sizeof enc, site);
    snprintf(s->prefix, sizeof s->prefix, "%s@", enc);
    snprintf(s->host_id, sizeof s->host_id, "%s", host_id);
    s->own.fd = -1;
    return s;
}

static void file_close(struct spool_file *f)
{
    if (f->fd >= 0) close(f->fd);
    f->fd = -1;
    f->off = 0;
}

void spool_free(struct spool *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->nqueue; i++)
        if (s->queue[i] != &s->own) {
            file_close(s->queue[i]);
            free(s->queue[i]);
        }
    file_close(&s->own);
    free(s->queue);
    free(s);
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    fsync(fd);
    close(fd);
}

static int own_create(struct spool *s, char *err, size_t errlen)
{
    static unsigned seq; /* two files made in one millisecond still get two names */
    snprintf(s->own.path, sizeof s->own.path, "%s/%s%s-%d-%lld-%u.spool", s->dir, s->prefix,
             s->host_id, (int)getpid(), (long long)now_ms(), seq++);
    s->own.fd = open(s->own.path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (s->own.fd < 0 || flock(s->own.fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen, "spool file %s: cannot create and lock it: %s", s->own.path,
                 strerror(errno));
        file_close(&s->own);
        return -1;
    }
    sync_dir(s->dir); /* the file's name must survive a host crash too */
    return 0;
}

int spool_append(struct spool *s, const char *data, size_t len, char *err, size_t errlen)
{
    if (s->own.fd < 0 && own_create(s, err, errlen) != 0) return -1;
    off_t end = lseek(s->own.fd, 0, SEEK_END);
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(s->own.fd, data + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto fail;
        off += (size_t)n;
    }
    if (fdatasync(s->own.fd) == 0) return 0;
fail:
    snprintf(err, errlen, "spool file %s: write failed: %s", s->own.path, strerror(errno));
    if (end >= 0 && ftruncate(s->own.fd, end) != 0)
        log_warn("spool file %s: cannot cut back a "
                 "failed write",
                 s->own.path);
    return -1;
}

static void queue_push(struct spool *s, struct spool_file *f)
{
    s->queue = realloc(s->queue, (s->nqueue + 1) * sizeof *s->queue);
    if (!s->queue) abort();
    s->queue[s->nqueue++] = f;
}

static bool queued(const struct spool *s, const struct spool_file *f)
{
    for (size_t i = 0; i < s->nqueue; i++)
        if (s->queue[i] == f) return true;
    return false;
}

/* A dead worker's file, locked by us now; NULL when it is not one. */
static struct spool_file *claim_file(struct spool *s, const char *name)
{
    size_t n = strlen(name), pn = strlen(s->prefix);
    if (n <= pn + 6 || strncmp(name, s->prefix, pn) != 0 || strcmp(name + n - 6, ".spool") != 0)
        return NULL;
    struct spool_file *f = calloc(1, sizeof *f);
    snprintf(f->path, sizeof f->path, "%s/%.255s", s->dir, name);
    f->fd = open(f->path, O_RDWR | O_CLOEXEC);
    struct stat st;
    /* Locked: a live worker's (or ours). Unlinked once we got the lock: replayed already. */
    if (f->fd < 0 || flock(f->fd, LOCK_EX | LOCK_NB) != 0 || fstat(f->fd, &st) != 0 ||
        st.st_nlink == 0) {
        file_close(f);
        free(f);
        return NULL;
    }
    return f;
}

size_t spool_claim(struct spool *s)
{
    /* Our own file holds the newest rows: it stays last, after dead workers' files. */
    bool own_queued = queued(s, &s->own);
    if (own_queued) s->nqueue--;
    DIR *d = opendir(s->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        struct spool_file *f = claim_file(s, e->d_name);
        if (!f) continue;
        log_info("audit spool: replaying %s, left by a worker that is gone", f->path);
        queue_push(s, f);
    }
    if (d) closedir(d);
    if (s->own.fd >= 0) queue_push(s, &s->own);
    return s->nqueue;
}

/* The first queued file is done: delete it (its rows are all committed). */
static void queue_pop(struct spool *s)
{
    struct spool_file *f = s->queue[0];
    if (unlink(f->path) != 0 && errno != ENOENT)
        log_warn("spool file %s: cannot delete it: %s", f->path, strerror(errno));
    file_close(f);
    if (f != &s->own) free(f);
    memmove(s->queue, s->queue + 1, --s->nqueue * sizeof *s->queue);
}

int spool_read(struct spool *s, struct buf *out, size_t max_lines, size_t max_bytes, char *err,
               size_t errlen)
{
    s->read_bytes = 0;
    while (s->nqueue) {
        struct spool_file *f = s->queue[0];
        size_t start = out->len, want = max_bytes, lines = 0;
        for (;;) {
            buf_reserve(out, want);
            ssize_t n = pread(f->fd, out->data + start, want, f->off);
            if (n < 0) {
                snprintf(err, errlen, "spool file %s: read failed: %s", f->path, strerror(errno));
                return -1;
            }
            size_t used = 0;
            for (size_t i = 0; i < (size_t)n && lines < max_lines && (!lines || i < max_bytes); i++)
                if (out->data[start + i] == '\n') used = i + 1, lines++;
            if (lines || (size_t)n < want) {
                out->len = start + used;
                out->data[out->len] = '\0';
                break;
            }
            want *= 2; /* one line longer than max_bytes */
        }
        if (lines) {
            s->read_bytes = out->len - start;
            return (int)lines;
        }
        struct stat st;
        if (fstat(f->fd, &st) == 0 && st.st_size > f->off)
            log_warn("spool file %s: dropping %lld bytes of a torn last line (a batch that was "
                     "never acknowledged)",
                     f->path, (long long)(st.st_size - f->off));
        queue_pop(s);
    }
    return 0;
}

void spool_commit(struct spool *s)
{
    if (s->nqueue) s->queue[0]->off += (off_t)s->read_bytes;
    s->read_bytes = 0;
}

const char *spool_own_path(const struct spool *s)
{
    return s->own.fd >= 0 ? s->own.path : s->dir;
}
