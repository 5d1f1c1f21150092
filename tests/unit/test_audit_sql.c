/*
 * The SQL an audit batch becomes (worker/db/sql.c, worker/audit/insert.c): string
 * literals escaped as MariaDB reads them in both quoting modes, only the table's own
 * columns named, Datetimes in the site's time zone, statements split by size.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "columns.h"
#include "insert.h"
#include "sql.h"
#include "support.h"

static struct buf out;
static char err[256];
static struct audit_rec recs[3];

static int release(void **state)
{
    buf_free(&out);
    for (int i = 0; i < 3; i++)
        audit_rec_free(&recs[i]);
    return 0;
}

static void quote(const char *s, size_t n, bool no_backslash)
{
    buf_reset(&out);
    sql_quote(&out, s, n, no_backslash);
}

static void backslash_mode_escapes_quotes_backslashes_and_control_bytes(void **state)
{
    quote("it's a \"test\"\\", 14, false);
    assert_string_equal(out.data, "'it\\'s a \\\"test\\\"\\\\'");
    quote("a\0b\nc\rd\032e", 9, false);
    assert_memory_equal(out.data, "'a\\0b\\nc\\rd\\Ze'", out.len);
}

static void no_backslash_mode_only_doubles_single_quotes(void **state)
{
    quote("it's \\n", 7, true);
    assert_string_equal(out.data, "'it''s \\n'");
}

static void utf8_text_passes_unchanged(void **state)
{
    quote("Grüße – 日本", strlen("Grüße – 日本"), false);
    assert_string_equal(out.data, "'Grüße – 日本'");
}

static void an_identifier_doubles_its_backticks(void **state)
{
    sql_ident(&out, "tab`Odd");
    assert_string_equal(out.data, "`tab``Odd`");
}

static void fill(struct audit_rec *r, const char *name)
{
    audit_rec_clear(r);
    audit_rec_set(r, AC_NAME, name, strlen(name));
    audit_rec_set(r, AC_ACTION, "echo", 4);
    audit_rec_set(r, AC_USER, "O'Brien", 7);
    audit_rec_set(r, AC_STATUS, "Success", 7);
    audit_rec_set_int(r, AC_TIMESTAMP, 1764291723456); /* 2025-11-28 01:02:03.456 UTC */
    audit_rec_set_num(r, AC_EXECUTION_TIME, 0.25);
    audit_rec_set(r, AC_JOB_ID, "j1", 2); /* not a table column */
}

static struct audit_table table(void)
{
    struct audit_table t = {.zone = {.name = "UTC"}};
    t.has[AC_NAME] = t.has[AC_ACTION] = t.has[AC_USER] = t.has[AC_STATUS] = true;
    t.has[AC_TIMESTAMP] = t.has[AC_EXECUTION_TIME] = t.has[AC_ERROR_TYPE] = true;
    return t;
}

static void an_insert_names_only_the_tables_columns(void **state)
{
    struct audit_table t = table();
    fill(&recs[0], "ASST-1");
    assert_int_equal(audit_insert_sql(&out, &t, recs, 1, 1 << 20), 1);
    assert_string_equal(out.data,
                        "INSERT IGNORE INTO `tabAssistant Audit Log` (`name`,`action`,`user`,"
                        "`status`,`error_type`,`execution_time`,`timestamp`) VALUES ('ASST-1',"
                        "'echo','O\\'Brien','Success',NULL,0.250000,"
                        "'2025-11-28 01:02:03.456000')");
    assert_not_contains(out.data, "job_id");
}

static void datetimes_are_written_in_the_sites_time_zone(void **state)
{
    struct audit_table t = table();
    assert_int_equal(tz_load(&t.zone, "Asia/Kolkata", err, sizeof err), 0);
    fill(&recs[0], "ASST-1");
    audit_insert_sql(&out, &t, recs, 1, 1 << 20);
    tz_free(&t.zone);
    assert_contains(out.data, "'2025-11-28 06:32:03.456000'");
}

static void many_rows_share_one_statement_until_it_is_full(void **state)
{
    struct audit_table t = table();
    fill(&recs[0], "ASST-1");
    fill(&recs[1], "ASST-2");
    fill(&recs[2], "ASST-3");
    assert_int_equal(audit_insert_sql(&out, &t, recs, 3, 1 << 20), 3);
    assert_contains(out.data, "),('ASST-2'");
    buf_reset(&out);
    size_t one = (audit_insert_sql(&out, &t, recs, 1, 1 << 20), out.len);
    buf_reset(&out);
    assert_int_equal(audit_insert_sql(&out, &t, recs, 3, one + 10), 1);
    assert_int_equal(out.len, one);
    buf_reset(&out);
    assert_int_equal(audit_insert_sql(&out, &t, recs, 3, 1), 1); /* at least one row */
}

static void invalid_utf8_in_a_value_becomes_the_replacement_character(void **state)
{
    audit_rec_clear(&recs[0]);
    audit_rec_set(&recs[0], AC_USER,
                  "a\xff"
                  "b",
                  3);
    struct str v = audit_rec_get(&recs[0], AC_USER);
    assert_int_equal(v.n, 5);
    assert_memory_equal(v.p,
                        "a\xef\xbf\xbd"
                        "b",
                        5);
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, release)
    const struct CMUnitTest tests[] = {
        T(backslash_mode_escapes_quotes_backslashes_and_control_bytes),
        T(no_backslash_mode_only_doubles_single_quotes),
        T(utf8_text_passes_unchanged),
        T(an_identifier_doubles_its_backticks),
        T(an_insert_names_only_the_tables_columns),
        T(datetimes_are_written_in_the_sites_time_zone),
        T(many_rows_share_one_statement_until_it_is_full),
        T(invalid_utf8_in_a_value_becomes_the_replacement_character),
    };
    return cmocka_run_group_tests_name("audit_sql", tests, NULL, NULL);
}
