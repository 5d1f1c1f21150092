/*
 * Cron expressions: the standard 5 fields (minute hour day-of-month month day-of-week)
 * with lists, ranges, steps, month and weekday names and the @hourly-style macros, plus
 * an optional leading seconds field (6 fields) for sub-minute schedules. Times are UTC
 * epoch seconds, so there is no daylight-saving gap or repeat. It lives in lib/ because
 * the config check needs it as much as the scheduler does.
 */
#ifndef FAC_CRONEXPR_H
#define FAC_CRONEXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cron_expr {
    uint64_t sec, min; /* bit v set: value v matches */
    uint32_t hour;
    uint32_t dom;   /* bits 1-31 */
    uint16_t month; /* bits 1-12 */
    uint8_t dow;    /* bits 0-6, Sunday = 0 (7 is read as Sunday too) */
    /* Vixie cron's rule: when both day fields are restricted a day matches if EITHER
     * does; a field written starting with '*' is unrestricted and the two are ANDed. */
    bool dom_star, dow_star;
};

/* Parses text into e. On error returns -1 and writes a message naming the field. */
int cron_parse(const char *text, struct cron_expr *e, char *err, size_t errlen);
/* The first matching second strictly after `after` (UTC epoch seconds), or -1 when the
 * expression matches nothing in the next eight years (e.g. "0 0 30 2 *"). */
int64_t cron_next(const struct cron_expr *e, int64_t after);

#endif
