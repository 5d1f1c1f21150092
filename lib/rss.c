/* Reads current memory figures from /proc; a worker calls rss_bytes(0) after jobs. */
#include "rss.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ssize_t read_proc(pid_t pid, const char *file, char *buf, size_t len)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    else
        snprintf(path, sizeof path, "/proc/self/%s", file);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n >= 0) buf[n] = '\0';
    return n;
}

int64_t rss_bytes(pid_t pid)
{
    char buf[256];
    long long size, resident;
    if (read_proc(pid, "statm", buf, sizeof buf) <= 0) return -1;
    if (sscanf(buf, "%lld %lld", &size, &resident) != 2) return -1;
    return resident * sysconf(_SC_PAGESIZE);
}

int64_t rss_anon_bytes(pid_t pid)
{
    char buf[4096];
    if (read_proc(pid, "status", buf, sizeof buf) <= 0) return -1;
    const char *p = strstr(buf, "RssAnon:");
    return p ? strtoll(p + 8, NULL, 10) * 1024 : -1;
}
