/* The JSON-lines audit file: appended with O_APPEND by every worker, fsync'd per batch. */
#ifndef FAC_AUDIT_JSONL_H
#define FAC_AUDIT_JSONL_H

#include <stddef.h>

int jsonl_open(const char *path, char *err, size_t errlen);
/* Writes all of data and fdatasyncs; -1 with err set on failure (nothing is dropped:
 * the caller keeps the batch and tries again). */
int jsonl_write(int fd, const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
