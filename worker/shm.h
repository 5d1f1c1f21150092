/*
 * The page the supervisor shares with its workers (mmap'd before forking). Each worker
 * writes only its own slot; the supervisor reads them to find stuck workers and to
 * report. The header carries pool-wide flags a worker reads at boot and on SIGTSTP.
 */
#ifndef FAC_SHM_H
#define FAC_SHM_H

#include <stdint.h>
#include <sys/types.h>

#define FAC_MAX_WORKERS 1024
/* Tools past this index in the config's order are not counted in the metrics. */
#define FAC_MAX_TOOLS 64
/* Job duration histogram: upper bounds in seconds (Prometheus' "le"), then +Inf. */
#define FAC_DURATION_BOUNDS                                                                        \
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
#define FAC_NBUCKETS 16 /* the bounds above and +Inf */

enum worker_state { WS_BOOTING, WS_READY, WS_QUIET, WS_DRAINING, WS_EXITING };

/* A job's final status as counted per tool (the protocol's status strings). */
enum job_outcome { JO_SUCCESS, JO_ERROR, JO_TIMEOUT, JO_DENIED, JO_CANCELED, JO_COUNT };

/* Why a worker that exits 0 stopped on its own (a recycle); 0 for any other stop. */
enum recycle_reason { RR_NONE, RR_MAX_MEMORY, RR_MAX_JOBS };

/* One tool's jobs in one worker: counts by outcome, durations per bucket (not
 * cumulative: the supervisor sums them into Prometheus' cumulative form). */
struct tool_counters {
    int64_t jobs[JO_COUNT];
    int64_t buckets[FAC_NBUCKETS];
    int64_t duration_us; /* sum */
};

struct worker_slot {
    int64_t tick_ms; /* CLOCK_MONOTONIC ms of the event loop's last heartbeat */
    int64_t jobs_done;
    int64_t rss;
    int32_t state; /* enum worker_state */
    int32_t running;
    int32_t recycle; /* enum recycle_reason, set before a recycling worker exits */
    struct tool_counters tools[FAC_MAX_TOOLS]; /* by the tool's index in the config */
};

struct pool_shm {
    int32_t quiet; /* 1 while the pool is quiet (TSTP) */
    struct worker_slot slots[FAC_MAX_WORKERS];
};

#define shm_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define shm_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define shm_add(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELAXED)

extern const double shm_duration_bounds[FAC_NBUCKETS - 1];

/* The job_outcome of a protocol status string (an unknown one counts as Error). */
enum job_outcome shm_outcome(const char *status);
/* Counts one finished job of the tool at tool_index in a worker's own slot. */
void shm_count_job(struct worker_slot *slot, size_t tool_index, const char *status, double ms);

#endif
