/*
 * mp_check, the structural walk every untrusted element passes before msgpack-c sees it:
 * each msgpack format family is accepted, every cut of a valid object is MP_TRUNCATED
 * (read from an exact-size heap copy, so a read past the end shows under ASan), and the
 * depth limit holds at its exact boundary. Inputs come from msgpack-c's packer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mp.h"
#include "support.h"

static struct packbuf in;

static int fresh(void **state)
{
    packbuf_init(&in);
    return 0;
}

static int release(void **state)
{
    packbuf_free(&in);
    return 0;
}

/* mp_check on an exact-size copy of data[0..len), so no byte past len is readable. */
static enum mp_check_status check_exact(const void *data, size_t len, int max_depth)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, data, len);
    enum mp_check_status st = mp_check(copy, len, max_depth);
    free(copy);
    return st;
}

/* The packed bytes start with format byte `format` and pass mp_check. */
#define assert_valid_format(format) assert_valid_format_((format), __FILE__, __LINE__)
static void assert_valid_format_(uint8_t format, const char *file, int line)
{
    if (in.sb.size == 0 || (uint8_t)in.sb.data[0] != format) {
        print_error("packed format 0x%02x, expected 0x%02x\n",
                    in.sb.size ? (uint8_t)in.sb.data[0] : 0, format);
        _fail(file, line);
    }
    enum mp_check_status st = check_exact(in.sb.data, in.sb.size, 32);
    if (st != MP_OK) {
        print_error("mp_check: %s\n", mp_check_reason(st));
        _fail(file, line);
    }
}

/* n bytes of 'x' packed as str or bin body. */
static void pack_filler(size_t n, bool bin)
{
    char *body = malloc(n ? n : 1);
    assert_non_null(body);
    memset(body, 'x', n);
    if (bin) {
        msgpack_pack_bin(&in.pk, n);
        msgpack_pack_bin_body(&in.pk, body, n);
    } else {
        msgpack_pack_str(&in.pk, n);
        msgpack_pack_str_body(&in.pk, body, n);
    }
    free(body);
}

static void pack_ext_of(size_t n)
{
    char *body = calloc(1, n ? n : 1);
    assert_non_null(body);
    msgpack_pack_ext(&in.pk, n, 5);
    msgpack_pack_ext_body(&in.pk, body, n);
    free(body);
}

static void pack_int_array(uint32_t n)
{
    msgpack_pack_array(&in.pk, n);
    for (uint32_t i = 0; i < n; i++)
        msgpack_pack_int(&in.pk, 1);
}

static void pack_int_map(uint32_t n)
{
    msgpack_pack_map(&in.pk, n);
    for (uint32_t i = 0; i < n; i++) {
        msgpack_pack_uint32(&in.pk, i);
        msgpack_pack_nil(&in.pk);
    }
}

/* ---- every format family ---- */

static void positive_fixint_is_valid(void **state)
{
    msgpack_pack_int(&in.pk, 7);
    assert_valid_format(0x07);
}

static void negative_fixint_is_valid(void **state)
{
    msgpack_pack_int(&in.pk, -3);
    assert_valid_format(0xfd);
}

static void nil_is_valid(void **state)
{
    msgpack_pack_nil(&in.pk);
    assert_valid_format(0xc0);
}

static void false_is_valid(void **state)
{
    msgpack_pack_false(&in.pk);
    assert_valid_format(0xc2);
}

static void true_is_valid(void **state)
{
    msgpack_pack_true(&in.pk);
    assert_valid_format(0xc3);
}

static void float32_is_valid(void **state)
{
    msgpack_pack_float(&in.pk, 1.5f);
    assert_valid_format(0xca);
}

static void float64_is_valid(void **state)
{
    msgpack_pack_double(&in.pk, 1.5);
    assert_valid_format(0xcb);
}

static void uint8_is_valid(void **state)
{
    msgpack_pack_fix_uint8(&in.pk, 200);
    assert_valid_format(0xcc);
}

static void uint16_is_valid(void **state)
{
    msgpack_pack_fix_uint16(&in.pk, 60000);
    assert_valid_format(0xcd);
}

static void uint32_is_valid(void **state)
{
    msgpack_pack_fix_uint32(&in.pk, 4000000000u);
    assert_valid_format(0xce);
}

static void uint64_is_valid(void **state)
{
    msgpack_pack_fix_uint64(&in.pk, UINT64_MAX);
    assert_valid_format(0xcf);
}

static void int8_is_valid(void **state)
{
    msgpack_pack_fix_int8(&in.pk, -100);
    assert_valid_format(0xd0);
}

static void int16_is_valid(void **state)
{
    msgpack_pack_fix_int16(&in.pk, -30000);
    assert_valid_format(0xd1);
}

static void int32_is_valid(void **state)
{
    msgpack_pack_fix_int32(&in.pk, -2000000000);
    assert_valid_format(0xd2);
}

static void int64_is_valid(void **state)
{
    msgpack_pack_fix_int64(&in.pk, INT64_MIN);
    assert_valid_format(0xd3);
}

static void fixstr_is_valid(void **state)
{
    pack_filler(31, false);
    assert_valid_format(0xbf);
}

static void str8_is_valid(void **state)
{
    pack_filler(200, false);
    assert_valid_format(0xd9);
}

static void str16_is_valid(void **state)
{
    pack_filler(1000, false);
    assert_valid_format(0xda);
}

static void str32_is_valid(void **state)
{
    pack_filler(70000, false);
    assert_valid_format(0xdb);
}

static void bin8_is_valid(void **state)
{
    pack_filler(10, true);
    assert_valid_format(0xc4);
}

static void bin16_is_valid(void **state)
{
    pack_filler(1000, true);
    assert_valid_format(0xc5);
}

static void bin32_is_valid(void **state)
{
    pack_filler(70000, true);
    assert_valid_format(0xc6);
}

static void fixext_1_2_4_8_16_are_valid(void **state)
{
    static const struct {
        size_t n;
        uint8_t format;
    } fix[] = {{1, 0xd4}, {2, 0xd5}, {4, 0xd6}, {8, 0xd7}, {16, 0xd8}};
    for (size_t i = 0; i < sizeof fix / sizeof *fix; i++) {
        packbuf_reset(&in);
        pack_ext_of(fix[i].n);
        assert_valid_format(fix[i].format);
    }
}

static void ext8_is_valid(void **state)
{
    pack_ext_of(3);
    assert_valid_format(0xc7);
}

static void ext16_is_valid(void **state)
{
    pack_ext_of(300);
    assert_valid_format(0xc8);
}

static void ext32_is_valid(void **state)
{
    pack_ext_of(70000);
    assert_valid_format(0xc9);
}

static void fixarray_is_valid(void **state)
{
    pack_int_array(15);
    assert_valid_format(0x9f);
}

static void array16_is_valid(void **state)
{
    pack_int_array(16);
    assert_valid_format(0xdc);
}

static void array32_is_valid(void **state)
{
    pack_int_array(70000);
    assert_valid_format(0xdd);
}

static void fixmap_is_valid(void **state)
{
    pack_int_map(15);
    assert_valid_format(0x8f);
}

static void map16_is_valid(void **state)
{
    pack_int_map(16);
    assert_valid_format(0xde);
}

static void map32_is_valid(void **state)
{
    pack_int_map(70000);
    assert_valid_format(0xdf);
}

static void empty_containers_are_valid(void **state)
{
    msgpack_pack_array(&in.pk, 2);
    msgpack_pack_array(&in.pk, 0);
    msgpack_pack_map(&in.pk, 0);
    assert_valid_format(0x92);
}

/* ---- broken data ---- */

static void no_bytes_is_empty(void **state)
{
    assert_int_equal(mp_check("", 0, 32), MP_EMPTY);
}

/* A map holding one of every family, nested. */
static void pack_composite(void)
{
    msgpack_packer *pk = &in.pk;
    msgpack_pack_map(pk, 8);
    pack_kv_str(pk, "s", "hello");
    pack_str(pk, "ints");
    msgpack_pack_array(pk, 6);
    msgpack_pack_int(pk, -1);
    msgpack_pack_fix_uint16(pk, 500);
    msgpack_pack_fix_int32(pk, -70000);
    msgpack_pack_fix_uint64(pk, 1);
    msgpack_pack_double(pk, 0.25);
    msgpack_pack_float(pk, 2.0f);
    pack_str(pk, "bin");
    msgpack_pack_bin(pk, 3);
    msgpack_pack_bin_body(pk, "\x00\x01\x02", 3);
    pack_str(pk, "ext");
    msgpack_pack_ext(pk, 4, 1);
    msgpack_pack_ext_body(pk, "abcd", 4);
    pack_str(pk, "ext8");
    msgpack_pack_ext(pk, 5, 2);
    msgpack_pack_ext_body(pk, "abcde", 5);
    pack_str(pk, "nested");
    msgpack_pack_map(pk, 1);
    pack_str(pk, "deeper");
    msgpack_pack_array(pk, 2);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
    pack_str(pk, "long");
    msgpack_pack_str(pk, 40);
    msgpack_pack_str_body(pk, "0123456789012345678901234567890123456789", 40);
    pack_str(pk, "big");
    msgpack_pack_array(pk, 16);
    for (int i = 0; i < 16; i++)
        msgpack_pack_fix_uint32(pk, (uint32_t)i);
}

static void the_composite_object_is_valid(void **state)
{
    pack_composite();
    assert_valid_format(0x88);
}

static void every_cut_of_a_valid_object_is_truncated(void **state)
{
    pack_composite();
    for (size_t len = 1; len < in.sb.size; len++) {
        enum mp_check_status st = check_exact(in.sb.data, len, 32);
        if (st != MP_TRUNCATED)
            fail_msg("cut at %zu of %zu bytes: %s", len, in.sb.size, mp_check_reason(st));
    }
}

static void byte_0xc1_is_bad(void **state)
{
    assert_int_equal(check_exact("\xc1", 1, 32), MP_BAD_BYTE);
}

static void byte_0xc1_inside_a_container_is_bad(void **state)
{
    assert_int_equal(check_exact("\x92\x01\xc1", 3, 32), MP_BAD_BYTE);
}

static void bytes_after_the_object_are_trailing(void **state)
{
    assert_int_equal(check_exact("\x91\x01\x02", 3, 32), MP_TRAILING);
}

static void a_count_larger_than_the_data_is_truncated(void **state)
{
    assert_int_equal(check_exact("\xdd\xff\xff\xff\xff\x01\x02", 7, 32), MP_TRUNCATED);
    assert_int_equal(check_exact("\xdf\x80\x00\x00\x00\x01\x02", 7, 32), MP_TRUNCATED);
}

static void a_length_larger_than_the_data_is_truncated(void **state)
{
    assert_int_equal(check_exact("\xdb\xff\xff\xff\xffxyz", 8, 32), MP_TRUNCATED);
    assert_int_equal(check_exact("\xc9\x00\x00\x00\x04\x01xyz", 9, 32), MP_TRUNCATED);
}

/* ---- depth ---- */

static void pack_nested_arrays(int levels)
{
    for (int i = 0; i < levels; i++)
        msgpack_pack_array(&in.pk, 1);
    msgpack_pack_int(&in.pk, 1);
}

static void nesting_exactly_max_depth_is_valid(void **state)
{
    pack_nested_arrays(32);
    assert_int_equal(check_exact(in.sb.data, in.sb.size, 32), MP_OK);
}

static void nesting_one_past_max_depth_is_too_deep(void **state)
{
    pack_nested_arrays(33);
    assert_int_equal(check_exact(in.sb.data, in.sb.size, 32), MP_TOO_DEEP);
}

static void nested_maps_count_like_arrays(void **state)
{
    pack_nested_maps(&in.pk, 4);
    assert_int_equal(check_exact(in.sb.data, in.sb.size, 4), MP_OK);
    assert_int_equal(check_exact(in.sb.data, in.sb.size, 3), MP_TOO_DEEP);
}

static void scalars_have_no_depth(void **state)
{
    assert_int_equal(check_exact("\x01", 1, 0), MP_OK);
}

/* The cap is what msgpack-c can unpack, so whatever mp_check passes also unpacks. */
static void max_depth_is_capped_at_what_msgpack_c_unpacks(void **state)
{
    pack_nested_arrays(FAC_MP_MAX_DEPTH_CAP);
    assert_int_equal(check_exact(in.sb.data, in.sb.size, 1000), MP_OK);
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(in.sb.data, in.sb.size, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    msgpack_zone_destroy(&z);
    packbuf_reset(&in);
    pack_nested_arrays(FAC_MP_MAX_DEPTH_CAP + 1);
    assert_int_equal(check_exact(in.sb.data, in.sb.size, 1000), MP_TOO_DEEP);
}

/* [[[]]] nests three levels: the empty innermost array is a level like any other. */
static void an_empty_container_past_max_depth_is_too_deep(void **state)
{
    assert_int_equal(check_exact("\x91\x91\x90", 3, 2), MP_TOO_DEEP);
}

/* ---- helpers ---- */

static void mp_map_get_finds_a_key_by_its_exact_bytes(void **state)
{
    msgpack_pack_map(&in.pk, 2);
    pack_kv_int(&in.pk, "idx", 1);
    pack_kv_int(&in.pk, "id", 2);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_true(unpack_exactly(in.sb.data, in.sb.size, &u));
    const msgpack_object *v = mp_get(&u.data, "id");
    bool found = v && v->via.u64 == 2;
    bool absent = mp_get(&u.data, "i") == NULL;
    bool not_a_map = mp_get(&u.data.via.map.ptr[0].val, "id") == NULL;
    msgpack_unpacked_destroy(&u);
    assert_true(found);
    assert_true(absent);
    assert_true(not_a_map);
}

static void every_status_has_a_reason(void **state)
{
    for (int st = MP_OK; st <= MP_TRAILING; st++) {
        const char *r = mp_check_reason((enum mp_check_status)st);
        assert_non_null(r);
        assert_true(strlen(r) > 0);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, fresh, release)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(positive_fixint_is_valid),
        T(negative_fixint_is_valid),
        T(nil_is_valid),
        T(false_is_valid),
        T(true_is_valid),
        T(float32_is_valid),
        T(float64_is_valid),
        T(uint8_is_valid),
        T(uint16_is_valid),
        T(uint32_is_valid),
        T(uint64_is_valid),
        T(int8_is_valid),
        T(int16_is_valid),
        T(int32_is_valid),
        T(int64_is_valid),
        T(fixstr_is_valid),
        T(str8_is_valid),
        T(str16_is_valid),
        T(str32_is_valid),
        T(bin8_is_valid),
        T(bin16_is_valid),
        T(bin32_is_valid),
        T(fixext_1_2_4_8_16_are_valid),
        T(ext8_is_valid),
        T(ext16_is_valid),
        T(ext32_is_valid),
        T(fixarray_is_valid),
        T(array16_is_valid),
        T(array32_is_valid),
        T(fixmap_is_valid),
        T(map16_is_valid),
        T(map32_is_valid),
        T(empty_containers_are_valid),
        T(no_bytes_is_empty),
        T(the_composite_object_is_valid),
        T(every_cut_of_a_valid_object_is_truncated),
        T(byte_0xc1_is_bad),
        T(byte_0xc1_inside_a_container_is_bad),
        T(bytes_after_the_object_are_trailing),
        T(a_count_larger_than_the_data_is_truncated),
        T(a_length_larger_than_the_data_is_truncated),
        T(nesting_exactly_max_depth_is_valid),
        T(nesting_one_past_max_depth_is_too_deep),
        T(nested_maps_count_like_arrays),
        T(scalars_have_no_depth),
        T(max_depth_is_capped_at_what_msgpack_c_unpacks),
        T(an_empty_container_past_max_depth_is_too_deep),
        T(mp_map_get_finds_a_key_by_its_exact_bytes),
        T(every_status_has_a_reason),
    };
    return cmocka_run_group_tests_name("mp", tests, NULL, NULL);
}
