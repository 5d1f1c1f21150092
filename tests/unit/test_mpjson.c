/*
 * msgpack → JSON (mpjson_write) for every msgpack type, always valid UTF-8 JSON that
 * jansson parses, with secret-looking keys redacted on request; and JSON → msgpack
 * (mpjson_pack_json) round trips through jansson.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mpjson.h"
#include "support.h"

/* Per-test state, released after each test even when it fails. */
static struct packbuf in;
static msgpack_unpacked u;
static struct buf out;
static json_t *parsed, *source;

static int fresh(void **state)
{
    packbuf_init(&in);
    msgpack_unpacked_init(&u);
    return 0;
}

static int release(void **state)
{
    packbuf_free(&in);
    msgpack_unpacked_destroy(&u);
    buf_free(&out);
    json_decref(parsed);
    json_decref(source);
    parsed = source = NULL;
    return 0;
}

/* Writes the packed object as JSON text into out. */
static void to_text(bool redact)
{
    assert_true(unpack_exactly(in.sb.data, in.sb.size, &u));
    buf_reset(&out);
    mpjson_write(&out, &u.data, redact);
}

/* Writes the packed object as JSON into out and returns it parsed by jansson; a text
 * jansson refuses fails the test. */
static json_t *to_json(bool redact)
{
    to_text(redact);
    json_error_t je;
    json_decref(parsed);
    parsed = json_loadb(out.data, out.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!parsed) fail_msg("jansson refused %s: %s", out.data, je.text);
    return parsed;
}

static void assert_json_text(const char *want)
{
    to_json(false);
    assert_string_equal(out.data, want);
}

static void pack_bytes_str(const char *s, size_t n)
{
    msgpack_pack_str(&in.pk, n);
    msgpack_pack_str_body(&in.pk, s, n);
}

/* The string s[0..n) comes out as a JSON string jansson reads back as want. */
static void assert_string_becomes(const char *s, size_t n, const char *want, size_t wantn)
{
    pack_bytes_str(s, n);
    json_t *j = to_json(false);
    assert_true(json_is_string(j));
    assert_int_equal(json_string_length(j), wantn);
    assert_memory_equal(json_string_value(j), want, wantn);
}

/* ---- every type ---- */

static void nil_is_null(void **state)
{
    msgpack_pack_nil(&in.pk);
    assert_json_text("null");
}

static void booleans_are_true_and_false(void **state)
{
    msgpack_pack_array(&in.pk, 2);
    msgpack_pack_true(&in.pk);
    msgpack_pack_false(&in.pk);
    assert_json_text("[true,false]");
}

static void positive_integers_are_json_integers(void **state)
{
    msgpack_pack_array(&in.pk, 2);
    msgpack_pack_int(&in.pk, 42);
    msgpack_pack_uint64(&in.pk, INT64_MAX);
    json_t *j = to_json(false);
    assert_int_equal(json_integer_value(json_array_get(j, 0)), 42);
    assert_int_equal(json_integer_value(json_array_get(j, 1)), INT64_MAX);
}

/* Exact digits; jansson itself stops at INT64_MAX, so only the text is compared. */
static void a_uint64_above_int64_max_is_written_exactly(void **state)
{
    msgpack_pack_uint64(&in.pk, UINT64_MAX);
    to_text(false);
    assert_string_equal(out.data, "18446744073709551615");
}

static void negative_integers_keep_all_64_bits(void **state)
{
    msgpack_pack_array(&in.pk, 2);
    msgpack_pack_int(&in.pk, -5);
    msgpack_pack_int64(&in.pk, INT64_MIN);
    json_t *j = to_json(false);
    assert_int_equal(json_integer_value(json_array_get(j, 0)), -5);
    assert_int_equal(json_integer_value(json_array_get(j, 1)), INT64_MIN);
}

static void float64_is_a_json_number(void **state)
{
    msgpack_pack_double(&in.pk, 0.1);
    json_t *j = to_json(false);
    assert_true(json_is_real(j));
    assert_true(json_real_value(j) == 0.1);
}

static void float32_is_a_json_number(void **state)
{
    msgpack_pack_float(&in.pk, 1.25f);
    json_t *j = to_json(false);
    assert_true(json_is_real(j));
    assert_true(json_real_value(j) == 1.25);
}

static void nan_and_infinities_are_null(void **state)
{
    msgpack_pack_array(&in.pk, 4);
    msgpack_pack_double(&in.pk, NAN);
    msgpack_pack_double(&in.pk, INFINITY);
    msgpack_pack_double(&in.pk, -INFINITY);
    msgpack_pack_float(&in.pk, NAN);
    assert_json_text("[null,null,null,null]");
}

static void a_string_is_a_json_string(void **state)
{
    pack_str(&in.pk, "hello world");
    assert_json_text("\"hello world\"");
}

/* msgpack-c unpacks an empty string that no longer string precedes as (NULL, 0). Run
 * apart so that a sanitizer abort fails only this test. */
static int write_an_empty_string(void *arg)
{
    msgpack_pack_map(&in.pk, 1);
    pack_bytes_str("", 0);
    pack_bytes_str("", 0);
    if (!unpack_exactly(in.sb.data, in.sb.size, &u)) return 2;
    mpjson_write(&out, &u.data, false);
    return strcmp(out.data, "{\"\":\"\"}") != 0;
}

static void an_empty_string_is_an_empty_json_string(void **state)
{
    assert_child_ok(write_an_empty_string, NULL);
}

static void binary_is_base64_text(void **state)
{
    msgpack_pack_bin(&in.pk, 4);
    msgpack_pack_bin_body(&in.pk, "\x00\x01\x02\xff", 4);
    assert_json_text("\"AAEC/w==\"");
}

static void base64_pads_every_tail_length(void **state)
{
    static const char *const want[] = {"\"\"", "\"Zg==\"", "\"Zm8=\"", "\"Zm9v\"", "\"Zm9vYg==\""};
    for (size_t n = 0; n < 5; n++) {
        packbuf_reset(&in);
        msgpack_pack_bin(&in.pk, n);
        msgpack_pack_bin_body(&in.pk, "foob", n);
        assert_json_text(want[n]);
    }
}

static void an_extension_is_null(void **state)
{
    msgpack_pack_ext(&in.pk, 4, 7);
    msgpack_pack_ext_body(&in.pk, "abcd", 4);
    assert_json_text("null");
}

static void an_array_is_a_json_array(void **state)
{
    msgpack_pack_array(&in.pk, 3);
    msgpack_pack_int(&in.pk, 1);
    pack_str(&in.pk, "a");
    msgpack_pack_array(&in.pk, 0);
    assert_json_text("[1,\"a\",[]]");
}

static void a_map_is_a_json_object(void **state)
{
    msgpack_pack_map(&in.pk, 2);
    pack_kv_int(&in.pk, "a", 1);
    pack_str(&in.pk, "b");
    msgpack_pack_map(&in.pk, 0);
    assert_json_text("{\"a\":1,\"b\":{}}");
}

/* Scalar keys become their JSON text; container keys a placeholder (see write_key). */
static void non_string_map_keys_become_their_json_text(void **state)
{
    msgpack_pack_map(&in.pk, 4);
    msgpack_pack_int(&in.pk, 1);
    pack_str(&in.pk, "one");
    msgpack_pack_nil(&in.pk);
    pack_str(&in.pk, "nil");
    msgpack_pack_true(&in.pk);
    pack_str(&in.pk, "true");
    msgpack_pack_array(&in.pk, 1);
    pack_str(&in.pk, "x");
    pack_str(&in.pk, "array");
    json_t *j = to_json(false);
    assert_string_equal(json_string_value(json_object_get(j, "1")), "one");
    assert_string_equal(json_string_value(json_object_get(j, "null")), "nil");
    assert_string_equal(json_string_value(json_object_get(j, "true")), "true");
    assert_string_equal(json_string_value(json_object_get(j, "[array]")), "array");
}

/* A key nested 30 deep used to be escaped once per level: 2^30 bytes of output. */
static void deeply_nested_container_keys_stay_small(void **state)
{
    for (int i = 0; i < 30; i++)
        msgpack_pack_map(&in.pk, 1); /* each map's key is a map */
    msgpack_pack_map(&in.pk, 0);
    for (int i = 0; i < 30; i++)
        pack_str(&in.pk, "v");
    to_json(false);
    assert_true(out.len < 64);
}

/* ---- strings are always valid UTF-8 JSON ---- */

static void valid_utf8_is_kept_as_it_is(void **state)
{
    static const char s[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_string_becomes(s, sizeof s - 1, s, sizeof s - 1);
}

static void an_invalid_byte_becomes_u_fffd(void **state)
{
    assert_string_becomes("a\xffz", 3, "a\xef\xbf\xbdz", 5);
    assert_contains(out.data, "\\ufffd");
}

static void an_overlong_encoding_becomes_u_fffd(void **state)
{
    assert_string_becomes("\xc0\x80", 2, "\xef\xbf\xbd\xef\xbf\xbd", 6);
}

static void a_utf16_surrogate_becomes_u_fffd(void **state)
{
    assert_string_becomes("\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 9);
}

static void a_sequence_cut_at_the_end_becomes_u_fffd(void **state)
{
    assert_string_becomes("x\xe2\x82", 3, "x\xef\xbf\xbd\xef\xbf\xbd", 7);
}

static void a_code_point_past_u_10ffff_becomes_u_fffd(void **state)
{
    assert_string_becomes("\xf4\x90\x80\x80", 4, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
                          12);
}

static void control_characters_are_escaped(void **state)
{
    static const char s[] = "\x01\n\r\t\x1f";
    assert_string_becomes(s, sizeof s - 1, s, sizeof s - 1);
    assert_string_equal(out.data, "\"\\u0001\\n\\r\\t\\u001f\"");
}

static void a_nul_byte_is_escaped(void **state)
{
    assert_string_becomes("a\0b", 3, "a\0b", 3);
    assert_string_equal(out.data, "\"a\\u0000b\"");
}

static void quotes_and_backslashes_are_escaped(void **state)
{
    assert_string_becomes("say \"hi\" \\o/", 12, "say \"hi\" \\o/", 12);
    assert_string_equal(out.data, "\"say \\\"hi\\\" \\\\o/\"");
}

static void mpjson_write_str_appends_to_what_is_there(void **state)
{
    buf_puts(&out, "k=");
    mpjson_write_str(&out, "v\"", 2);
    assert_string_equal(out.data, "k=\"v\\\"\"");
}

/* ---- redaction ---- */

static void pack_secret_map(void)
{
    msgpack_packer *pk = &in.pk;
    msgpack_pack_map(pk, 8);
    pack_kv_str(pk, "password", "p1");
    pack_kv_str(pk, "API_KEY", "k1");
    pack_kv_str(pk, "client_secret", "s1");
    pack_kv_str(pk, "access_token", "t1");
    pack_kv_str(pk, "Authorization", "Bearer x");
    pack_kv_str(pk, "PassWord", "p2");
    pack_kv_str(pk, "user", "alice");
    pack_kv_int(pk, "count", 3);
}

static void assert_redacted(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    if (!v || strcmp(v, MPJSON_REDACTED) != 0)
        fail_msg("\"%s\" is not redacted in %s", key, out.data);
}

static void keys_naming_secrets_are_redacted_in_any_case(void **state)
{
    pack_secret_map();
    json_t *j = to_json(true);
    assert_redacted(j, "password");
    assert_redacted(j, "API_KEY");
    assert_redacted(j, "client_secret");
    assert_redacted(j, "access_token");
    assert_redacted(j, "Authorization");
    assert_redacted(j, "PassWord");
}

static void other_keys_are_not_redacted(void **state)
{
    pack_secret_map();
    json_t *j = to_json(true);
    assert_string_equal(json_string_value(json_object_get(j, "user")), "alice");
    assert_int_equal(json_integer_value(json_object_get(j, "count")), 3);
}

static void nothing_is_redacted_without_redact(void **state)
{
    pack_secret_map();
    json_t *j = to_json(false);
    assert_string_equal(json_string_value(json_object_get(j, "password")), "p1");
    assert_not_contains(out.data, MPJSON_REDACTED);
}

/* The rule is "keys containing auth": "author" contains it, so it is redacted too. */
static void a_key_containing_auth_such_as_author_is_redacted(void **state)
{
    msgpack_pack_map(&in.pk, 1);
    pack_kv_str(&in.pk, "author", "Jane");
    assert_redacted(to_json(true), "author");
}

static void secrets_in_nested_maps_and_arrays_are_redacted(void **state)
{
    msgpack_packer *pk = &in.pk;
    msgpack_pack_map(pk, 2);
    pack_str(pk, "outer");
    msgpack_pack_map(pk, 2);
    pack_kv_str(pk, "token", "t");
    pack_kv_str(pk, "name", "n");
    pack_str(pk, "list");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    pack_kv_str(pk, "db_password", "p");
    json_t *j = to_json(true);
    json_t *outer = json_object_get(j, "outer");
    assert_redacted(outer, "token");
    assert_string_equal(json_string_value(json_object_get(outer, "name")), "n");
    assert_redacted(json_array_get(json_object_get(j, "list"), 0), "db_password");
}

static void a_secret_map_value_is_redacted_whole(void **state)
{
    msgpack_pack_map(&in.pk, 1);
    pack_str(&in.pk, "auth");
    msgpack_pack_map(&in.pk, 1);
    pack_kv_str(&in.pk, "user", "alice");
    json_t *j = to_json(true);
    assert_redacted(j, "auth");
    assert_not_contains(out.data, "alice");
}

static void key_is_secret_matches_each_word(void **state)
{
    static const char *const secret[] = {"password", "x_api_key", "SECRET", "myToken", "oauth"};
    for (size_t i = 0; i < sizeof secret / sizeof *secret; i++)
        if (!mpjson_key_is_secret(secret[i], strlen(secret[i])))
            fail_msg("\"%s\" not seen as secret", secret[i]);
    assert_false(mpjson_key_is_secret("user", 4));
    assert_false(mpjson_key_is_secret("pass", 4));
    /* only the first n bytes count */
    assert_false(mpjson_key_is_secret("tokenizer", 3));
}

/* A key longer than 255 bytes still "contains password": its value stays out of the
 * JSON (the audit row of a job's args). */
static void a_long_key_ending_in_password_is_redacted(void **state)
{
    char key[300];
    memset(key, 'x', sizeof key);
    memcpy(key + sizeof key - 8, "password", 8);
    msgpack_pack_map(&in.pk, 1);
    pack_bytes_str(key, sizeof key);
    pack_str(&in.pk, "hunter2");
    to_json(true);
    assert_not_contains(out.data, "hunter2");
}

/* msgpack keys are byte strings: a NUL before the word must not hide it. (Valid JSON,
 * but jansson refuses NUL in keys, so only the text is checked.) */
static void a_key_with_a_nul_before_password_is_redacted(void **state)
{
    msgpack_pack_map(&in.pk, 1);
    pack_bytes_str("x\0password", 10);
    pack_str(&in.pk, "hunter2");
    to_text(true);
    assert_not_contains(out.data, "hunter2");
}

/* ---- JSON → msgpack ---- */

static const char nested_doc[] =
    "{\"name\": \"caf\xc3\xa9\", \"n\": 42, \"neg\": -7, \"big\": 9223372036854775807,"
    " \"ratio\": 1.5, \"tiny\": -0.000125, \"ok\": true, \"no\": false, \"none\": null,"
    " \"list\": [1, \"two\", [3.25, null], {\"deep\": {\"deeper\": [true]}}],"
    " \"empty\": {}, \"nothing\": []}";

static void pack_source(const char *text)
{
    json_error_t je;
    source = json_loads(text, 0, &je);
    if (!source) fail_msg("test document: %s", je.text);
    mpjson_pack_json(&out, source);
    assert_true(unpack_exactly(out.data, out.len, &u));
}

static void json_packs_to_the_matching_msgpack_types(void **state)
{
    pack_source(nested_doc);
    const msgpack_object *m = &u.data;
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    assert_true(obj_is_str(map_get(m, "name"), "caf\xc3\xa9"));
    assert_int_equal(map_get(m, "n")->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(map_get(m, "n")->via.u64, 42);
    assert_int_equal(map_get(m, "neg")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(map_get(m, "neg")->via.i64, -7);
    assert_int_equal(map_get(m, "big")->via.u64, INT64_MAX);
    assert_int_equal(map_get(m, "ratio")->type, MSGPACK_OBJECT_FLOAT64);
    assert_true(map_get(m, "ratio")->via.f64 == 1.5);
    assert_int_equal(map_get(m, "ok")->type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(map_get(m, "ok")->via.boolean);
    assert_false(map_get(m, "no")->via.boolean);
    assert_int_equal(map_get(m, "none")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(map_get(m, "list")->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(map_get(m, "list")->via.array.size, 4);
    assert_int_equal(map_size(map_get(m, "empty")), 0);
}

static void json_round_trips_through_msgpack(void **state)
{
    pack_source(nested_doc);
    struct buf text = {0};
    mpjson_write(&text, &u.data, false);
    json_error_t je;
    parsed = json_loadb(text.data, text.len, 0, &je);
    if (!parsed) fail_msg("jansson refused %s: %s", text.data, je.text);
    bool same = json_equal(parsed, source);
    if (!same) print_error("in:  %s\nout: %s\n", nested_doc, text.data);
    buf_free(&text);
    assert_true(same);
}

static void a_json_string_with_a_nul_keeps_its_length(void **state)
{
    source = json_stringn("a\0b", 3);
    mpjson_pack_json(&out, source);
    assert_true(unpack_exactly(out.data, out.len, &u));
    assert_int_equal(u.data.type, MSGPACK_OBJECT_STR);
    assert_int_equal(u.data.via.str.size, 3);
    assert_memory_equal(u.data.via.str.ptr, "a\0b", 3);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fresh, release)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(nil_is_null),
        T(booleans_are_true_and_false),
        T(positive_integers_are_json_integers),
        T(a_uint64_above_int64_max_is_written_exactly),
        T(negative_integers_keep_all_64_bits),
        T(float64_is_a_json_number),
        T(float32_is_a_json_number),
        T(nan_and_infinities_are_null),
        T(a_string_is_a_json_string),
        T(an_empty_string_is_an_empty_json_string),
        T(binary_is_base64_text),
        T(base64_pads_every_tail_length),
        T(an_extension_is_null),
        T(an_array_is_a_json_array),
        T(a_map_is_a_json_object),
        T(non_string_map_keys_become_their_json_text),
        T(deeply_nested_container_keys_stay_small),
        T(valid_utf8_is_kept_as_it_is),
        T(an_invalid_byte_becomes_u_fffd),
        T(an_overlong_encoding_becomes_u_fffd),
        T(a_utf16_surrogate_becomes_u_fffd),
        T(a_sequence_cut_at_the_end_becomes_u_fffd),
        T(a_code_point_past_u_10ffff_becomes_u_fffd),
        T(control_characters_are_escaped),
        T(a_nul_byte_is_escaped),
        T(quotes_and_backslashes_are_escaped),
        T(mpjson_write_str_appends_to_what_is_there),
        T(keys_naming_secrets_are_redacted_in_any_case),
        T(other_keys_are_not_redacted),
        T(nothing_is_redacted_without_redact),
        T(a_key_containing_auth_such_as_author_is_redacted),
        T(secrets_in_nested_maps_and_arrays_are_redacted),
        T(a_secret_map_value_is_redacted_whole),
        T(key_is_secret_matches_each_word),
        T(a_long_key_ending_in_password_is_redacted),
        T(a_key_with_a_nul_before_password_is_redacted),
        T(json_packs_to_the_matching_msgpack_types),
        T(json_round_trips_through_msgpack),
        T(a_json_string_with_a_nul_keeps_its_length),
    };
    return cmocka_run_group_tests_name("mpjson", tests, NULL, NULL);
}
