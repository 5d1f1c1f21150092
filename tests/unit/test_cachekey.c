/*
 * cache_key (lib/cachekey.h): the same call gives the same key whatever order the
 * producer packed its argument map in; anything that makes it another call (tool,
 * site, user, an argument's value or type) gives another key. Arguments are packed by
 * msgpack-c here, not by lib/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cachekey.h"
#include "keys.h"
#include "support.h"

static struct packbuf pb;
static msgpack_unpacked args;

static int fresh(void **state)
{
    packbuf_init(&pb);
    msgpack_unpacked_init(&args);
    return 0;
}

static int release(void **state)
{
    packbuf_free(&pb);
    msgpack_unpacked_destroy(&args);
    return 0;
}

#define S(lit) ((struct str){(lit), sizeof(lit) - 1})

/* The key for tool t of site "s1", user u, and the arguments packed into pb so far. */
static const char *key_of(char *out, struct str t, struct str u)
{
    if (pb.sb.size) assert_true(unpack_exactly(pb.sb.data, pb.sb.size, &args));
    cache_key(out, "fac", t, S("s1"), u, pb.sb.size ? &args.data : NULL);
    packbuf_reset(&pb);
    return out;
}

static const char *key_ab(char *out, int a, int b, bool b_first)
{
    msgpack_pack_map(&pb.pk, 2);
    if (b_first) pack_kv_int(&pb.pk, "b", b);
    pack_kv_int(&pb.pk, "a", a);
    if (!b_first) pack_kv_int(&pb.pk, "b", b);
    return key_of(out, S("list_documents"), S("u@x"));
}

static void the_key_is_prefix_cache_and_a_sha256(void **state)
{
    char k[FAC_KEY_MAX];
    key_of(k, S("echo"), S(""));
    assert_int_equal(strlen(k), strlen("fac:cache:") + 64);
    assert_int_equal(strncmp(k, "fac:cache:", 10), 0);
    assert_int_equal(strspn(k + 10, "0123456789abcdef"), 64);
}

static void map_order_does_not_change_the_key(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX];
    assert_string_equal(key_ab(k1, 1, 2, false), key_ab(k2, 1, 2, true));
}

static void nested_map_order_does_not_change_the_key(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX];
    for (int order = 0; order < 2; order++) {
        msgpack_pack_map(&pb.pk, 1);
        pack_str(&pb.pk, "filters");
        msgpack_pack_map(&pb.pk, 2);
        pack_kv_str(&pb.pk, order ? "status" : "customer", order ? "Paid" : "ACME");
        pack_kv_str(&pb.pk, order ? "customer" : "status", order ? "ACME" : "Paid");
        key_of(order ? k2 : k1, S("list_documents"), S("u"));
    }
    assert_string_equal(k1, k2);
}

static void another_value_gives_another_key(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX];
    assert_string_not_equal(key_ab(k1, 1, 2, false), key_ab(k2, 1, 3, false));
}

static void an_integer_packed_wide_is_the_same_integer(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX];
    msgpack_pack_map(&pb.pk, 1);
    pack_str(&pb.pk, "limit");
    msgpack_pack_fix_uint64(&pb.pk, 20); /* 9 bytes where 1 would do */
    key_of(k1, S("t"), S("u"));
    msgpack_pack_map(&pb.pk, 1);
    pack_kv_int(&pb.pk, "limit", 20);
    assert_string_equal(k1, key_of(k2, S("t"), S("u")));
}

static void a_string_and_a_number_are_different_arguments(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX];
    msgpack_pack_map(&pb.pk, 1);
    pack_kv_str(&pb.pk, "limit", "20");
    key_of(k1, S("t"), S("u"));
    msgpack_pack_map(&pb.pk, 1);
    pack_kv_int(&pb.pk, "limit", 20);
    assert_string_not_equal(k1, key_of(k2, S("t"), S("u")));
}

static void tool_and_user_are_part_of_the_call(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX], k3[FAC_KEY_MAX];
    key_of(k1, S("a"), S("u1"));
    key_of(k2, S("b"), S("u1"));
    key_of(k3, S("a"), S("u2"));
    assert_string_not_equal(k1, k2);
    assert_string_not_equal(k1, k3);
}

static void fields_cannot_slide_into_each_other(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX];
    key_of(k1, S("ab"), S("c"));
    key_of(k2, S("a"), S("bc"));
    assert_string_not_equal(k1, k2);
}

static void no_user_is_administrator_and_no_args_are_an_empty_map(void **state)
{
    char k1[FAC_KEY_MAX], k2[FAC_KEY_MAX];
    key_of(k1, S("t"), S(""));
    msgpack_pack_map(&pb.pk, 0);
    assert_string_equal(k1, key_of(k2, S("t"), S("Administrator")));
}

#define T(f) cmocka_unit_test_setup_teardown(f, fresh, release)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(the_key_is_prefix_cache_and_a_sha256),
        T(map_order_does_not_change_the_key),
        T(nested_map_order_does_not_change_the_key),
        T(another_value_gives_another_key),
        T(an_integer_packed_wide_is_the_same_integer),
        T(a_string_and_a_number_are_different_arguments),
        T(tool_and_user_are_part_of_the_call),
        T(fields_cannot_slide_into_each_other),
        T(no_user_is_administrator_and_no_args_are_an_empty_map),
    };
    return cmocka_run_group_tests_name("cachekey", tests, NULL, NULL);
}
