/*
 * libFuzzer harness for the config loader: any file content is loaded or refused with a
 * message that names the file (or the bench file it points to); never a crash or a leak.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fac-fuzz-config", 0);
        assert(fd >= 0);
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    assert(ftruncate(fd, 0) == 0);
    assert(pwrite(fd, data, len, 0) == (ssize_t)len);
    char err[2048] = "";
    struct fac_config *c = config_load(path, err, sizeof err);
    if (c)
        config_free(c);
    else
        /* the message starts with the file: this config, or a file of its bench_path */
        assert(strstr(err, path) == err || strstr(err, "sites/"));
    return 0;
}
