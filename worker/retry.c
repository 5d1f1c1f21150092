/*
 * Retry policy (docs/scheduler.md "Retries"): which failed attempts run again, and
 * after how long. An attempt that ends in Error or Timeout is retried while attempts
 * are left (the envelope's max_attempts, else the tool's); Permission Denied and
 * Canceled never are. The delay doubles with each attempt from retry_backoff.base up
 * to retry_backoff.max, spread by +/- jitter so a burst of failures does not come back
 * as a burst.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fac/protocol.h"
#include "job.h"

static bool retryable(const char *status)
{
    return strcmp(status, FAC_ST_ERROR) == 0 || strcmp(status, FAC_ST_TIMEOUT) == 0;
}

int64_t retry_max_attempts(const struct job *j)
{
    return j->env.max_attempts ? j->env.max_attempts : j->tool->max_attempts;
}

bool retry_wanted(const struct job *j, const char *status)
{
    return retryable(status) && j->env.attempt + 1 < retry_max_attempts(j);
}

bool retry_exhausted(const struct job *j, const char *status)
{
    return retryable(status) && retry_max_attempts(j) > 1 && !retry_wanted(j, status);
}

int64_t retry_delay_ms(const struct retry_cfg *rb, int64_t attempt)
{
    double d = rb->base * pow(2.0, (double)(attempt < 60 ? attempt : 60));
    if (d > rb->max) d = rb->max;
    double spread = (double)random() / RAND_MAX * 2.0 - 1.0; /* [-1, 1] */
    d *= 1.0 + rb->jitter * spread;
    return (int64_t)llround(d * 1000.0);
}
