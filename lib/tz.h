/*
 * UTC offsets of a named time zone, read from its tzdata file (TZif, RFC 8536), for
 * writing naive datetimes in a Frappe site's zone. Unlike localtime_r it never touches
 * the process's TZ: a worker serves sites in several zones, and its exec tools and
 * libcurl's resolver thread read the environment.
 */
#ifndef FAC_TZ_H
#define FAC_TZ_H

#include <stddef.h>
#include <stdint.h>

/* A loaded zone; zeroed means UTC. Freed by tz_free. */
struct tz_zone {
    char name[64];
    size_t n;        /* transitions */
    int64_t *at;     /* their UTC times, seconds, ascending */
    int32_t *offset; /* the offset (seconds east of UTC) from each transition on */
    int32_t offset0; /* before the first transition */
};

/* Loads name (e.g. "Asia/Kolkata") from $TZDIR or /usr/share/zoneinfo; "UTC" and ""
 * give UTC. -1 with err naming the zone when there is no such readable TZif file. */
int tz_load(struct tz_zone *z, const char *name, char *err, size_t errlen);
/* Seconds east of UTC at UTC time t (seconds). Past the last transition in the file
 * (Debian's tzdata lists them up to 2037) the last offset holds. */
int32_t tz_offset(const struct tz_zone *z, int64_t t);
void tz_free(struct tz_zone *z);

#endif
