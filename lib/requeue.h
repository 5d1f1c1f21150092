/*
 * Putting a worker's in-flight jobs back, on a synchronous connection. The supervisor
 * calls it with a reaped worker's id; it knows jobs only through the envelope and the
 * protocol keys. A crashed worker's jobs come back with attempt + 1, a job that has
 * killed its worker too often goes dead instead (a poison pill).
 */
#ifndef FAC_REQUEUE_H
#define FAC_REQUEUE_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "shard.h"

struct requeue_stats {
    int requeued, dead;
    bool skipped; /* another process holds this worker's rescue lock and does it */
};

/* Returns 0, or -1 with err set when Redis failed (call again later: nothing is lost,
 * what was not moved is still in the in-flight lists). A crashed worker's jobs get
 * attempt + 1 and a WorkerLost entry in their "errors". The worker's registry entry and
 * the rescue lock are on the home server; each queue's in-flight list is on that queue's
 * server (sc), and every server is done before the registry entry goes. */
int requeue_worker(struct shard_conns *sc, const struct fac_config *cfg, const char *wid,
                   bool crashed, struct requeue_stats *st, char *err, size_t errlen);

/* One queue's in-flight list of a worker, on that queue's server c: what requeue_worker
 * does per queue, without the lock and without touching the registry. A worker whose
 * connection to a queue shard broke uses it on itself once the shard is back. */
int requeue_list(redisContext *c, const struct fac_config *cfg, const char *queue, const char *wid,
                 bool crashed, struct requeue_stats *st, char *err, size_t errlen);

/* Requeues the jobs of this host's workers that died with an earlier supervisor (their
 * pid is gone). Returns the number of workers rescued, or -1 on a Redis error. */
int requeue_orphans(struct shard_conns *sc, const struct fac_config *cfg, char *err, size_t errlen);

/* How many deaths a job may cause before it goes dead. */
int requeue_death_limit(int64_t max_attempts);

#endif
