/*
 * JSON-lines backend. One write(2) per batch on an O_APPEND descriptor keeps lines from
 * several workers whole; fdatasync makes the batch durable before its jobs are acked.
 */
#include "jsonl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int jsonl_open(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        snprintf(err, errlen, "audit file %s: cannot open it for appending: %s (set audit.path "
                 "to a writable file)", path, strerror(errno));
    return fd;
}

int jsonl_write(int fd, const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            snprintf(err, errlen, "audit file %s: write failed: %s", path, strerror(errno));
            return -1;
        }
        off += (size_t)n;
    }
    if (fdatasync(fd) != 0) {
        snprintf(err, errlen, "audit file %s: fdatasync failed: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}
