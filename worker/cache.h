/*
 * The result cache (a tool's cache_ttl): the same call (tool, site, user, arguments)
 * within the TTL is answered from Redis without running the tool. Only Success results
 * are stored; a cache that cannot be read is a miss, never a failed job.
 */
#ifndef FAC_CACHE_H
#define FAC_CACHE_H

#include <msgpack.h>

struct job;

/* Looks j's call up: a hit finishes j (job_finish_cached), a miss runs it (job_admit). */
void cache_lookup(struct job *j);
/* Stores j's Success result under the key cache_lookup computed, for the tool's TTL. */
void cache_store(struct job *j, const msgpack_object *result);

#endif
