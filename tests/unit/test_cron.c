/*
 * cron_parse and cron_next against the standard cron semantics the scheduler promises
 * (docs/scheduler.md "Cron"): lists, ranges, steps, names, macros, the optional seconds
 * field, the day-of-month / day-of-week OR rule, UTC time (no daylight-saving effects),
 * and refusals that name the bad field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "cronexpr.h"
#include "support.h"

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm);
}

static struct cron_expr parse_ok(const char *text)
{
    struct cron_expr e;
    char err[256] = "";
    if (cron_parse(text, &e, err, sizeof err)) fail_msg("\"%s\" refused: %s", text, err);
    return e;
}

static int64_t next(const char *text, int64_t after)
{
    struct cron_expr e = parse_ok(text);
    return cron_next(&e, after);
}

static void assert_refused(const char *text, const char *needle)
{
    struct cron_expr e;
    char err[256] = "";
    if (cron_parse(text, &e, err, sizeof err) == 0) fail_msg("\"%s\" was accepted", text);
    assert_contains(err, needle);
}

static void every_minute_fires_at_the_next_whole_minute(void **state)
{
    assert_int_equal(next("* * * * *", utc(2026, 11, 28, 10, 7, 30)), utc(2026, 11, 28, 10, 8, 0));
    assert_int_equal(next("* * * * *", utc(2026, 11, 28, 10, 7, 0)), utc(2026, 11, 28, 10, 8, 0));
}

static void next_is_strictly_after_the_given_time(void **state)
{
    assert_int_equal(next("0 2 * * *", 1795831200), 1795831200 + 86400);
    assert_int_equal(next("0 2 * * *", 1795831199), 1795831200);
}

static void steps_ranges_and_lists(void **state)
{
    assert_int_equal(next("*/15 * * * *", utc(2026, 11, 28, 10, 7, 0)),
                     utc(2026, 11, 28, 10, 15, 0));
    assert_int_equal(next("*/15 * * * *", utc(2026, 11, 28, 10, 45, 0)),
                     utc(2026, 11, 28, 11, 0, 0));
    int64_t t = utc(2026, 11, 28, 10, 0, 0);
    int64_t want[] = {5, 10, 11, 12, 65};
    for (size_t i = 0; i < 5; i++) {
        t = next("5,10-12 * * * *", t);
        assert_int_equal(t, utc(2026, 11, 28, 10, 0, 0) + want[i] * 60);
    }
    assert_int_equal(next("10-50/20 * * * *", utc(2026, 11, 28, 10, 31, 0)),
                     utc(2026, 11, 28, 10, 50, 0));
    assert_int_equal(next("30/10 * * * *", utc(2026, 11, 28, 10, 51, 0)),
                     utc(2026, 11, 28, 11, 30, 0));
}

static void month_and_weekday_names_in_any_case(void **state)
{
    /* 2026-11-28 is a Saturday: the next weekday is Monday the 30th */
    assert_int_equal(next("0 9 * * Mon-FRI", utc(2026, 11, 28, 0, 0, 0)),
                     utc(2026, 11, 30, 9, 0, 0));
    assert_int_equal(next("0 0 1 jan,JUL *", utc(2026, 11, 28, 0, 0, 0)), utc(2027, 1, 1, 0, 0, 0));
}

static void weekday_7_is_sunday(void **state)
{
    assert_int_equal(next("0 0 * * 7", utc(2026, 11, 28, 0, 0, 0)), utc(2026, 11, 29, 0, 0, 0));
    assert_int_equal(next("0 0 * * 0", utc(2026, 11, 28, 0, 0, 0)), utc(2026, 11, 29, 0, 0, 0));
}

static void restricted_day_of_month_and_weekday_match_either(void **state)
{
    /* the 13th OR any Friday: 2026-11-06 is the first Friday after Nov 1 */
    int64_t t = next("0 0 13 * fri", utc(2026, 11, 1, 0, 0, 0));
    assert_int_equal(t, utc(2026, 11, 6, 0, 0, 0));
    assert_int_equal(next("0 0 13 * fri", t), utc(2026, 11, 13, 0, 0, 0));
    assert_int_equal(next("0 0 13 * fri", utc(2026, 11, 13, 0, 0, 0)), utc(2026, 11, 20, 0, 0, 0));
}

static void a_starred_day_field_is_anded_with_the_other(void **state)
{
    /* "*\/2" starts with '*': odd days AND Fridays (Vixie cron) */
    assert_int_equal(next("0 0 */2 * fri", utc(2026, 11, 1, 0, 0, 0)), utc(2026, 11, 13, 0, 0, 0));
    /* "*" day of month with a weekday: only that weekday */
    assert_int_equal(next("0 0 * * fri", utc(2026, 11, 1, 0, 0, 0)), utc(2026, 11, 6, 0, 0, 0));
}

static void optional_seconds_field(void **state)
{
    assert_int_equal(next("*/10 * * * * *", utc(2026, 11, 28, 10, 7, 31)),
                     utc(2026, 11, 28, 10, 7, 40));
    assert_int_equal(next("* * * * * *", utc(2026, 11, 28, 10, 7, 59)),
                     utc(2026, 11, 28, 10, 8, 0));
    assert_int_equal(next("30 0 * * * *", utc(2026, 11, 28, 10, 7, 31)),
                     utc(2026, 11, 28, 11, 0, 30));
}

static void macros_expand_to_standard_schedules(void **state)
{
    assert_int_equal(next("@hourly", utc(2026, 11, 28, 10, 7, 0)), utc(2026, 11, 28, 11, 0, 0));
    assert_int_equal(next("@daily", utc(2026, 11, 28, 10, 7, 0)), utc(2026, 11, 29, 0, 0, 0));
    assert_int_equal(next("@weekly", utc(2026, 11, 28, 10, 7, 0)), utc(2026, 11, 29, 0, 0, 0));
    assert_int_equal(next("@monthly", utc(2026, 11, 28, 10, 7, 0)), utc(2026, 12, 1, 0, 0, 0));
    assert_int_equal(next("@yearly", utc(2026, 11, 28, 10, 7, 0)), utc(2027, 1, 1, 0, 0, 0));
}

static void leap_day_and_impossible_dates(void **state)
{
    assert_int_equal(next("0 0 29 2 *", utc(2026, 3, 1, 0, 0, 0)), utc(2028, 2, 29, 0, 0, 0));
    assert_int_equal(next("0 0 30 2 *", utc(2026, 3, 1, 0, 0, 0)), -1);
    assert_int_equal(next("0 0 31 4 *", utc(2026, 3, 1, 0, 0, 0)), -1);
}

static void month_ends_roll_over(void **state)
{
    assert_int_equal(next("0 0 31 * *", utc(2026, 11, 28, 0, 0, 0)), utc(2026, 12, 31, 0, 0, 0));
    assert_int_equal(next("59 23 * * *", utc(2026, 12, 31, 23, 59, 0)), utc(2027, 1, 1, 23, 59, 0));
}

/* The same hourly schedule over the EU spring-forward night, with a local time zone
 * set: slots stay exactly 3600 s apart and 02:00 UTC exists. */
static void times_are_utc_whatever_the_local_zone(void **state)
{
    setenv("TZ", "Europe/Berlin", 1);
    tzset();
    struct cron_expr e = parse_ok("0 * * * *");
    int64_t t = utc(2026, 3, 28, 20, 0, 0);
    for (int i = 0; i < 12; i++) {
        int64_t n = cron_next(&e, t);
        assert_int_equal(n - t, 3600);
        t = n;
    }
    assert_int_equal(next("0 2 29 3 *", utc(2026, 3, 1, 0, 0, 0)), utc(2026, 3, 29, 2, 0, 0));
    unsetenv("TZ");
    tzset();
}

static void bad_expressions_are_refused_naming_the_field(void **state)
{
    assert_refused("* * * *", "has 4 fields");
    assert_refused("* * * * * * *", "more than 6 fields");
    assert_refused("60 * * * *", "minute");
    assert_refused("* 24 * * *", "hour");
    assert_refused("* * 0 * *", "day of month");
    assert_refused("* * * 13 *", "month");
    assert_refused("* * * * 8", "day of week");
    assert_refused("5-1 * * * *", "runs backwards");
    assert_refused("*/0 * * * *", "bad step");
    assert_refused("abc * * * *", "not a value");
    assert_refused("* * * foo *", "month");
    assert_refused("1-* * * * *", "no range end");
    assert_refused("1x * * * *", "unexpected");
    assert_refused("@reboot", "unknown macro");
    assert_refused("", "has 0 fields");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_minute_fires_at_the_next_whole_minute),
        cmocka_unit_test(next_is_strictly_after_the_given_time),
        cmocka_unit_test(steps_ranges_and_lists),
        cmocka_unit_test(month_and_weekday_names_in_any_case),
        cmocka_unit_test(weekday_7_is_sunday),
        cmocka_unit_test(restricted_day_of_month_and_weekday_match_either),
        cmocka_unit_test(a_starred_day_field_is_anded_with_the_other),
        cmocka_unit_test(optional_seconds_field),
        cmocka_unit_test(macros_expand_to_standard_schedules),
        cmocka_unit_test(leap_day_and_impossible_dates),
        cmocka_unit_test(month_ends_roll_over),
        cmocka_unit_test(times_are_utc_whatever_the_local_zone),
        cmocka_unit_test(bad_expressions_are_refused_naming_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
