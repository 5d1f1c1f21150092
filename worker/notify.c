/* sd_notify messages from the supervisor (see notify.h). */
#include "notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>

#include "clock.h"

#define STATUS_EVERY_MS 2000

void notify_init(struct notify *n)
{
    *n = (struct notify){0};
    n->enabled = getenv("NOTIFY_SOCKET") != NULL;
    uint64_t usec = 0;
    if (n->enabled && sd_watchdog_enabled(0, &usec) > 0) n->watchdog_ms = (int64_t)(usec / 2000);
    n->rate_ms = mono_ms();
}

static void update_rate(struct notify *n, int64_t jobs_total, int64_t now)
{
    if (now - n->rate_ms < STATUS_EVERY_MS) return;
    n->jobs_per_s = (double)(jobs_total - n->rate_jobs) * 1000.0 / (double)(now - n->rate_ms);
    n->rate_jobs = jobs_total;
    n->rate_ms = now;
}

void notify_tick(struct notify *n, const struct notify_view *v)
{
    if (!n->enabled) return;
    int64_t now = mono_ms();
    update_rate(n, v->jobs_total, now);
    if (v->pool_ready && (!n->ready_sent || n->reloading)) {
        sd_notifyf(0, "READY=1\nSTATUS=%d workers serving", v->alive);
        n->ready_sent = true;
        n->reloading = false;
        n->last_status_ms = now;
    }
    if (now - n->last_status_ms >= STATUS_EVERY_MS) {
        sd_notifyf(0, "STATUS=workers %d/%d, %.0f jobs/s, %lld jobs done%s%s", v->alive, v->target,
                   n->jobs_per_s, (long long)v->jobs_total, *v->queues ? ", ready " : "",
                   v->queues);
        n->last_status_ms = now;
    }
    if (n->watchdog_ms && now - n->last_ping_ms >= n->watchdog_ms) {
        sd_notify(0, "WATCHDOG=1");
        n->last_ping_ms = now;
    }
}

void notify_reloading(struct notify *n)
{
    if (!n->enabled) return;
    sd_notify(0, "RELOADING=1\nSTATUS=reloading: replacing workers one by one");
    n->reloading = true;
}

void notify_stopping(struct notify *n)
{
    if (n->enabled) sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing running jobs");
}
