/*
 * An sql tool's query and a job's values (lib/sqltpl.c, worker/exec/sql_bind.c): only
 * read-only queries with well-formed %(name)s placeholders pass the config check, and
 * binding puts each value in as a literal, never as SQL text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sql_bind.h"
#include "sqltpl.h"
#include "support.h"

static struct buf out;
static char err[256];
static struct packbuf pb;
static msgpack_unpacked u;

static int release(void **state)
{
    buf_free(&out);
    return 0;
}

static void only_read_only_queries_pass_the_check(void **state)
{
    assert_int_equal(sqltpl_check("SELECT 1", err, sizeof err), 0);
    assert_int_equal(
        sqltpl_check("\n -- why\n/* note */ with x as (select 1) select *", err, sizeof err), 0);
    assert_int_equal(sqltpl_check("show tables", err, sizeof err), 0);
    assert_int_equal(sqltpl_check("DELETE FROM t", err, sizeof err), -1);
    assert_contains(err, "only a read-only query");
    assert_int_equal(sqltpl_check("/*!50000 DELETE */ SELECT 1", err, sizeof err), -1);
    assert_int_equal(sqltpl_check("SELECTED", err, sizeof err), -1);
}

static void a_lone_percent_or_a_bad_name_is_refused(void **state)
{
    assert_int_equal(sqltpl_check("SELECT 'a%%' WHERE x = %(a_1)s", err, sizeof err), 0);
    assert_int_equal(sqltpl_check("SELECT 'a%'", err, sizeof err), -1);
    assert_contains(err, "%%");
    assert_int_equal(sqltpl_check("SELECT %(a b)s", err, sizeof err), -1);
    assert_int_equal(sqltpl_check("SELECT %(a)d", err, sizeof err), -1);
    assert_int_equal(sqltpl_check("SELECT %(a", err, sizeof err), -1);
}

/* args {"s": s, "n": -5, "l": ["a", 2], "m": {}} */
static const msgpack_object *args(const char *s)
{
    packbuf_reset(&pb);
    msgpack_pack_map(&pb.pk, 4);
    pack_kv_str(&pb.pk, "s", s);
    pack_kv_int(&pb.pk, "n", -5);
    pack_str(&pb.pk, "l");
    msgpack_pack_array(&pb.pk, 2);
    pack_str(&pb.pk, "a");
    msgpack_pack_int(&pb.pk, 2);
    pack_str(&pb.pk, "m");
    msgpack_pack_map(&pb.pk, 0);
    assert_true(unpack_exactly(pb.sb.data, pb.sb.size, &u));
    return &u.data;
}

static int render(const char *query, const char *s, bool nbe)
{
    buf_reset(&out);
    int rc = sql_bind(&out, query, args(s), nbe, err, sizeof err);
    buf_putc(&out, '\0');
    return rc;
}

static void values_are_literals(void **state)
{
    assert_int_equal(render("SELECT %(s)s, %(n)s, 100%% IN %(l)s", "x' OR 1=1 --", false), 0);
    assert_string_equal(out.data, "SELECT 'x\\' OR 1=1 --', -5, 100% IN ('a', 2)");
    assert_int_equal(render("SELECT %(s)s", "it's \\", true), 0);
    assert_string_equal(out.data, "SELECT 'it''s \\'");
}

static void a_missing_or_unbindable_value_is_named(void **state)
{
    assert_int_equal(render("SELECT %(status)s", "", false), -1);
    assert_string_equal(err, "args.status is missing (the query binds it as %(status)s)");
    assert_int_equal(render("SELECT %(m)s", "", false), -1);
    assert_contains(err, "args.m cannot be bound");
    assert_int_equal(render("SELECT %(s)s", "bad \xff byte", false), -1);
    assert_contains(err, "args.s is not valid UTF-8");
}

static int setup(void **state)
{
    packbuf_init(&pb);
    msgpack_unpacked_init(&u);
    return 0;
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, release)
    const struct CMUnitTest tests[] = {
        T(only_read_only_queries_pass_the_check),
        T(a_lone_percent_or_a_bad_name_is_refused),
        T(values_are_literals),
        T(a_missing_or_unbindable_value_is_named),
    };
    int rc = cmocka_run_group_tests_name("sql_bind", tests, setup, NULL);
    packbuf_free(&pb);
    msgpack_unpacked_destroy(&u);
    return rc;
}
