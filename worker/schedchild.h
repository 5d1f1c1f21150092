/*
 * The supervisor's scheduler child (scheduler: true): fac-scheduler, found next to
 * fac-worker, run as one more child so that one command runs everything. It is
 * restarted with backoff when it dies, told about HUP and USR1, and stopped with the
 * pool. It is exec'd, not forked code: the scheduler never links worker code.
 */
#ifndef FAC_SCHEDCHILD_H
#define FAC_SCHEDCHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

struct sched_child {
    pid_t pid;       /* 0: not running */
    int64_t born_ms; /* monotonic */
    int64_t next_ms; /* monotonic: not started again before this (backoff) */
    int64_t term_ms; /* when it was told to stop; SIGKILL after kill_grace */
    int failures;
    bool gave_up; /* it could not start (missing binary, bad config): not retried */
};

/* Starts, stops or kills the child as cfg and stopping ask; close_fd (may be -1) is
 * closed in the child before exec. */
void schedchild_maintain(struct sched_child *c, const struct fac_config *cfg, bool stopping,
                         int close_fd);
/* True when pid was the scheduler child (then it is accounted for). */
bool schedchild_reaped(struct sched_child *c, pid_t pid, int status);
void schedchild_signal(const struct sched_child *c, int sig);

#endif
