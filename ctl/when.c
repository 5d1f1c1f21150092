/* fac-ctl's time arguments: enqueue --in DURATION and --at TIME (see ctl.h). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

int64_t when_parse_in(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) return -1;
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (strcmp(end, units[i].unit) == 0) return (int64_t)llround(v * units[i].ms);
    return -1;
}

/* "Z", "+hh:mm", "-hhmm" or nothing (UTC) → seconds east of UTC; -1 when bad. */
static int zone_offset(const char *p, long *east)
{
    *east = 0;
    if (!*p || strcmp(p, "Z") == 0 || strcmp(p, "z") == 0) return 0;
    if (*p != '+' && *p != '-') return -1;
    int h, m;
    if (sscanf(p + 1, "%2d:%2d", &h, &m) != 2 && sscanf(p + 1, "%2d%2d", &h, &m) != 2) return -1;
    size_t n = strlen(p + 1);
    if ((n != 5 && n != 4) || h > 23 || m > 59) return -1;
    *east = (*p == '-' ? -1 : 1) * (h * 3600L + m * 60L);
    return 0;
}

int64_t when_parse_at(const char *s)
{
    char *end;
    double epoch = strtod(s, &end);
    if (end != s && !*end && isfinite(epoch) && epoch >= 0) return (int64_t)llround(epoch * 1000);
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p) p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
    if (!p) return -1;
    double frac = 0;
    if (*p == '.') {
        frac = strtod(p, &end);
        p = end;
    }
    long east;
    if (zone_offset(p, &east)) return -1;
    return ((int64_t)timegm(&tm) - east) * 1000 + (int64_t)llround(frac * 1000);
}
