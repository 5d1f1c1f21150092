/*
 * A worker's per-tool job counters in its shm slot (shm.h). Counting is on every job's
 * path, so it is an index, a bucket search over 15 bounds and three relaxed adds; the
 * supervisor sums the slots when /metrics is scraped.
 */
#include "shm.h"

#include <string.h>

#include "fac/protocol.h"

const double shm_duration_bounds[FAC_NBUCKETS - 1] = {FAC_DURATION_BOUNDS};

enum job_outcome shm_outcome(const char *status)
{
    static const char *const names[JO_COUNT] = {FAC_ST_SUCCESS, FAC_ST_ERROR, FAC_ST_TIMEOUT,
                                                FAC_ST_DENIED, FAC_ST_CANCELED};
    for (int i = 0; i < JO_COUNT; i++)
        if (strcmp(status, names[i]) == 0) return (enum job_outcome)i;
    return JO_ERROR;
}

void shm_count_job(struct worker_slot *slot, size_t tool_index, const char *status, double ms)
{
    if (tool_index >= FAC_MAX_TOOLS) return;
    struct tool_counters *t = &slot->tools[tool_index];
    double s = ms / 1000.0;
    size_t b = 0;
    while (b < FAC_NBUCKETS - 1 && s > shm_duration_bounds[b])
        b++;
    shm_add(&t->jobs[shm_outcome(status)], 1);
    shm_add(&t->buckets[b], 1);
    shm_add(&t->duration_us, (int64_t)(ms * 1000.0));
}
