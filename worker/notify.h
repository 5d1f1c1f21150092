/*
 * The supervisor's side of systemd's notify protocol (Type=notify): READY=1 once the
 * pool is up, RELOADING=1 / READY=1 around a HUP, STOPPING=1, a STATUS= line with
 * workers, jobs/s and queue depths, and WATCHDOG=1 pings when WatchdogSec is set.
 * Outside systemd (no $NOTIFY_SOCKET) every call does nothing.
 */
#ifndef FAC_NOTIFY_H
#define FAC_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

struct notify {
    bool enabled;
    bool ready_sent, reloading;
    int64_t watchdog_ms; /* ping interval; 0 = no watchdog */
    int64_t last_ping_ms, last_status_ms;
    int64_t rate_jobs, rate_ms; /* jobs total and time of the last rate sample */
    double jobs_per_s;
};

/* What the supervisor knows this turn. */
struct notify_view {
    int alive, target;
    bool pool_ready;    /* every worker of the current generation serves */
    int64_t jobs_total; /* finished by all workers since start */
    const char *queues; /* "short=0 default=3 long=0", or "" when Redis is away */
};

void notify_init(struct notify *n);
/* Sends READY, STATUS and WATCHDOG as they fall due; call every supervisor turn. */
void notify_tick(struct notify *n, const struct notify_view *v);
void notify_reloading(struct notify *n);
void notify_stopping(struct notify *n);

#endif
