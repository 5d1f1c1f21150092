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

enum worker_state { WS_BOOTING, WS_READY, WS_QUIET, WS_DRAINING, WS_EXITING };

struct worker_slot {
    int64_t tick_ms; /* CLOCK_MONOTONIC ms of the event loop's last heartbeat */
    int64_t jobs_done;
    int64_t rss;
    int32_t state; /* enum worker_state */
    int32_t running;
};

struct pool_shm {
    int32_t quiet; /* 1 while the pool is quiet (TSTP) */
    struct worker_slot slots[FAC_MAX_WORKERS];
};

#define shm_store(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define shm_load(p) __atomic_load_n((p), __ATOMIC_RELAXED)

#endif
