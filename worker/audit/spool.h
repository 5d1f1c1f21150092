/*
 * The audit spool: where a site's rows wait, on local disk and fsync'd, while its
 * MariaDB is away. Each worker appends to a file of its own, <site>@<host>-<pid>-<ms>-<n>
 * .spool in audit.spool, and holds an flock on it while it lives: a file nobody can
 * lock belongs to a live worker, a file anybody can lock was left by a dead one, and
 * whoever locks it replays it. A file is deleted only after all its rows are
 * committed. The lines are the audit's JSON lines (columns.h).
 */
#ifndef FAC_AUDIT_SPOOL_H
#define FAC_AUDIT_SPOOL_H

#include <stddef.h>

#include "buf.h"

struct spool;

/* One site's spool in dir (created if missing). NULL with err set when dir is not a
 * writable directory. */
struct spool *spool_open(const char *dir, const char *site, const char *host_id, char *err,
                         size_t errlen);
void spool_free(struct spool *s);
/* Appends whole lines to this worker's own file and fdatasyncs it. On failure nothing
 * is left half-written (the file is cut back) and err says why. */
int spool_append(struct spool *s, const char *data, size_t len, char *err, size_t errlen);
/* Claims the files of this site's dead workers (locks them) and queues them for replay,
 * then this worker's own file. Returns how many files are queued. */
size_t spool_claim(struct spool *s);
/* Reads whole lines from the first queued file, from where replay stands: at most
 * max_lines, and at most max_bytes unless one line is longer. A file read to its end
 * is deleted here (everything before was committed). Returns the number of lines
 * appended to out, 0 when every queued file is done, -1 with err on a read error. */
int spool_read(struct spool *s, struct buf *out, size_t max_lines, size_t max_bytes, char *err,
               size_t errlen);
/* The lines of the last spool_read are committed: replay moves past them. */
void spool_commit(struct spool *s);
/* This worker's own file, for log lines. */
const char *spool_own_path(const struct spool *s);

#endif
