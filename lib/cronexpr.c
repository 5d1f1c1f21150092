/*
 * Cron expression parsing and next-slot search (see cronexpr.h). Each field becomes a
 * bit set; the search walks forward from a time, jumping a whole month, day, hour or
 * minute whenever that field does not match, so it takes at most a few hundred steps.
 */
#include "cronexpr.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct field {
    const char *name;
    int lo, hi;
    const char *const *names; /* names[i] stands for lo + i */
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                          "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field fields[] = {
    {"second", 0, 59, NULL},       {"minute", 0, 59, NULL},       {"hour", 0, 23, NULL},
    {"day of month", 1, 31, NULL}, {"month", 1, 12, month_names}, {"day of week", 0, 7, dow_names},
};

static const struct {
    const char *name, *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* A number or (for month and weekday) a three-letter name; advances *p. */
static int read_value(const struct field *f, const char **p, int *out)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end - s > 4) return -1;
        *out = (int)v;
        *p = end;
        return 0;
    }
    for (int i = 0; f->names && f->names[i]; i++)
        if (strncasecmp(s, f->names[i], 3) == 0 && !isalpha((unsigned char)s[3])) {
            *out = f->lo + i;
            *p = s + 3;
            return 0;
        }
    return -1;
}

#define FAIL(...) (snprintf(err, errlen, __VA_ARGS__), -1)

/* One comma-separated item: "*", "v", "a-b", each with an optional "/step". */
static int parse_item(const struct field *f, const char *item, uint64_t *bits, char *err,
                      size_t errlen)
{
    const char *p = item;
    int a = f->lo, b = f->hi, step = 1;
    if (*p == '*') {
        p++;
    } else {
        if (read_value(f, &p, &a)) return FAIL("%s: \"%s\" is not a value", f->name, item);
        b = a;
        if (*p == '-') {
            p++;
            if (read_value(f, &p, &b)) return FAIL("%s: \"%s\" has no range end", f->name, item);
        } else if (*p == '/') {
            b = f->hi; /* "a/n": from a to the end, as Vixie cron reads it */
        }
    }
    if (*p == '/') {
        char *end;
        long n = strtol(p + 1, &end, 10);
        if (end == p + 1 || n < 1 || n > f->hi)
            return FAIL("%s: bad step in \"%s\"", f->name, item);
        step = (int)n;
        p = end;
    }
    if (*p) return FAIL("%s: unexpected \"%s\" in \"%s\"", f->name, p, item);
    if (a < f->lo || b > f->hi || a > b)
        return FAIL("%s: \"%s\" is outside %d-%d or runs backwards", f->name, item, f->lo, f->hi);
    for (int v = a; v <= b; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int parse_field(const struct field *f, const char *text, uint64_t *bits, char *err,
                       size_t errlen)
{
    char buf[128];
    if (strlen(text) >= sizeof buf) return FAIL("%s: field too long", f->name);
    snprintf(buf, sizeof buf, "%s", text);
    *bits = 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save))
        if (parse_item(f, item, bits, err, errlen)) return -1;
    if (!*bits) return FAIL("%s: empty field", f->name);
    return 0;
}

int cron_parse(const char *text, struct cron_expr *e, char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof macros / sizeof *macros; i++)
        if (strcasecmp(text, macros[i].name) == 0) text = macros[i].expansion;
    if (*text == '@')
        return FAIL("unknown macro \"%s\" (known: @yearly, @monthly, @weekly, "
                    "@daily, @hourly)",
                    text);
    char buf[512], *tok[7], *save = NULL;
    if (strlen(text) >= sizeof buf) return FAIL("schedule too long");
    snprintf(buf, sizeof buf, "%s", text);
    int n = 0;
    for (char *t = strtok_r(buf, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (n == 6) return FAIL("\"%s\" has more than 6 fields", text);
        tok[n++] = t;
    }
    if (n != 5 && n != 6)
        return FAIL("\"%s\" has %d fields; write 5 (minute hour day month weekday) or 6 "
                    "(seconds first)",
                    text, n);
    memset(e, 0, sizeof *e);
    uint64_t bits[6] = {1}; /* 5 fields: second 0 only */
    for (int i = 0; i < n; i++)
        if (parse_field(&fields[i + 6 - n], tok[i], &bits[i + 6 - n], err, errlen)) return -1;
    e->sec = bits[0];
    e->min = bits[1];
    e->hour = (uint32_t)bits[2];
    e->dom = (uint32_t)bits[3];
    e->month = (uint16_t)bits[4];
    e->dow = (uint8_t)((bits[5] | bits[5] >> 7) & 0x7f); /* 7 is Sunday */
    e->dom_star = tok[n - 3][0] == '*';
    e->dow_star = tok[n - 1][0] == '*';
    return 0;
}

static bool day_matches(const struct cron_expr *e, const struct tm *tm)
{
    bool dom = e->dom >> tm->tm_mday & 1, dow = e->dow >> tm->tm_wday & 1;
    return e->dom_star || e->dow_star ? dom && dow : dom || dow;
}

#define SEARCH_YEARS 8

int64_t cron_next(const struct cron_expr *e, int64_t after)
{
    int64_t t = after + 1, limit = after + SEARCH_YEARS * 366LL * 86400;
    while (t <= limit) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        if (!(e->month >> (tm.tm_mon + 1) & 1)) {
            tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!day_matches(e, &tm)) {
            tm.tm_mday++, tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
        } else if (!(e->hour >> tm.tm_hour & 1)) {
            tm.tm_hour++, tm.tm_min = tm.tm_sec = 0;
        } else if (!(e->min >> tm.tm_min & 1)) {
            tm.tm_min++, tm.tm_sec = 0;
        } else if (!(e->sec >> tm.tm_sec & 1)) {
            tm.tm_sec++;
        } else {
            return t;
        }
        t = (int64_t)timegm(&tm); /* normalises day 32, month 13, hour 24 ... */
    }
    return -1;
}
