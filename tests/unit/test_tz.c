/*
 * lib/tz.c reads tzdata files itself, so that a worker can write Datetimes in a site's
 * zone without touching TZ: its offsets must be glibc's localtime_r's, across DST
 * changes, for zones with whole-hour, half-hour and odd DST steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "support.h"
#include "tz.h"

static char err[512];
static struct tz_zone zone;

static int release(void **state)
{
    tz_free(&zone);
    return 0;
}

static void check_at(const char *name, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t)t;
    localtime_r(&tt, &tm);
    if (tz_offset(&zone, t) != tm.tm_gmtoff)
        fail_msg("%s at %lld: %d, localtime says %ld", name, (long long)t, tz_offset(&zone, t),
                 tm.tm_gmtoff);
}

/* Every 20 minutes through 2024 and 2025, and weekly samples from 1970 up to 2037. */
static void agrees_with_localtime(const char *name)
{
    if (tz_load(&zone, name, err, sizeof err) != 0) fail_msg("%s", err);
    setenv("TZ", name, 1);
    tzset();
    int64_t t0 = 1704067200; /* 2024-01-01 */
    for (int64_t t = t0; t < t0 + 2 * 366 * 86400; t += 1200)
        check_at(name, t);
    for (int64_t t = 0; t < 2114380800; t += 86400 * 7 + 3600)
        check_at(name, t);
}

static void berlin_follows_central_european_summer_time(void **state)
{
    agrees_with_localtime("Europe/Berlin");
}

static void new_york_follows_its_dst(void **state)
{
    agrees_with_localtime("America/New_York");
}

static void kolkata_is_five_and_a_half_hours_ahead(void **state)
{
    agrees_with_localtime("Asia/Kolkata");
    assert_int_equal(tz_offset(&zone, 1764291723), 19800);
}

static void lord_howe_moves_by_half_an_hour(void **state)
{
    agrees_with_localtime("Australia/Lord_Howe");
}

static void utc_and_the_empty_name_need_no_file(void **state)
{
    assert_int_equal(tz_load(&zone, "UTC", err, sizeof err), 0);
    assert_int_equal(tz_offset(&zone, 1764291723), 0);
    assert_int_equal(tz_load(&zone, "", err, sizeof err), 0);
    assert_string_equal(zone.name, "UTC");
}

static void an_unknown_zone_is_an_error_naming_it(void **state)
{
    assert_int_equal(tz_load(&zone, "Mars/Olympus_Mons", err, sizeof err), -1);
    assert_contains(err, "Mars/Olympus_Mons");
}

static void a_name_that_leaves_the_zone_directory_is_refused(void **state)
{
    assert_int_equal(tz_load(&zone, "../../etc/passwd", err, sizeof err), -1);
    assert_int_equal(tz_load(&zone, "/etc/passwd", err, sizeof err), -1);
}

static void a_file_that_is_not_tzif_is_refused(void **state)
{
    setenv("TZDIR", "/etc", 1);
    int rc = tz_load(&zone, "hostname", err, sizeof err);
    unsetenv("TZDIR");
    assert_int_equal(rc, -1);
    assert_contains(err, "not a TZif file");
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, release)
    const struct CMUnitTest tests[] = {
        T(berlin_follows_central_european_summer_time),
        T(new_york_follows_its_dst),
        T(kolkata_is_five_and_a_half_hours_ahead),
        T(lord_howe_moves_by_half_an_hour),
        T(utc_and_the_empty_name_need_no_file),
        T(an_unknown_zone_is_an_error_naming_it),
        T(a_name_that_leaves_the_zone_directory_is_refused),
        T(a_file_that_is_not_tzif_is_refused),
    };
    return cmocka_run_group_tests_name("tz", tests, NULL, NULL);
}
