/*
 * envelope_decode and envelope_rewrite against docs/protocol.md: every field of a
 * good envelope, and every way a hostile or careless producer can break one, which must
 * give the right status and a message naming the key. Inputs come from msgpack-c.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "envelope.h"
#include "support.h"

#define MAX_PAYLOAD (16u << 20)

/* Per-test state, released after each test even when it fails. */
static struct packbuf in;
static msgpack_zone zone;
static struct envelope env;
static struct buf out;
static msgpack_unpacked reread;
static char err[512];

static int fresh(void **state)
{
    packbuf_init(&in);
    msgpack_zone_init(&zone, 2048);
    msgpack_unpacked_init(&reread);
    memset(&env, 0, sizeof env);
    err[0] = '\0';
    return 0;
}

static int release(void **state)
{
    packbuf_free(&in);
    msgpack_zone_destroy(&zone);
    msgpack_unpacked_destroy(&reread);
    buf_free(&out);
    return 0;
}

static enum envelope_status decode_bytes(const char *data, size_t len)
{
    return envelope_decode(data, len, MAX_PAYLOAD, &zone, &env, err, sizeof err);
}

static enum envelope_status decode(void)
{
    return decode_bytes(in.sb.data, in.sb.size);
}

/* Starts the map {"id": "j1", "tool": "echo", ...}: the caller packs `extra` more pairs. */
static msgpack_packer *envelope_with(uint32_t extra)
{
    msgpack_pack_map(&in.pk, 2 + extra);
    pack_kv_str(&in.pk, "id", "j1");
    pack_kv_str(&in.pk, "tool", "echo");
    return &in.pk;
}

#define assert_str(s, want) assert_str_((s), (want), __FILE__, __LINE__)
static void assert_str_(struct str s, const char *want, const char *file, int line)
{
    if (s.n == strlen(want) && memcmp(s.p, want, s.n) == 0) return;
    print_error("got \"%.*s\" (%u bytes), want \"%s\"\n", (int)s.n, s.p ? s.p : "", s.n, want);
    _fail(file, line);
}

/* The packed input is refused with status st and a message containing needle. */
static void assert_refused(enum envelope_status st, const char *needle)
{
    assert_int_equal(decode(), st);
    assert_contains(err, needle);
}

static void assert_accepted(void)
{
    enum envelope_status st = decode();
    if (st != ENV_OK) fail_msg("envelope refused (%d): %s", st, err);
}

/* ---- good envelopes ---- */

static void pack_full_envelope(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 15);
    pack_kv_int(pk, "v", 1);
    pack_kv_str(pk, "id", "site1.local::job-1");
    pack_kv_str(pk, "tool", "echo");
    pack_str(pk, "args");
    msgpack_pack_map(pk, 2);
    pack_kv_str(pk, "hello", "world");
    pack_kv_int(pk, "n", 7);
    pack_kv_str(pk, "site", "site1.local");
    pack_kv_str(pk, "user", "Administrator");
    pack_str(pk, "timeout");
    msgpack_pack_double(pk, 2.5);
    pack_kv_int(pk, "attempt", 2);
    pack_kv_int(pk, "max_attempts", 5);
    pack_kv_int(pk, "enqueued_at", 1700000000123);
    pack_kv_str(pk, "reply_to", "fac:reply:job-1");
    pack_kv_str(pk, "client_id", "client-9");
    pack_kv_str(pk, "session_id", "sess-42");
    pack_kv_str(pk, "ip_address", "10.1.2.3");
    pack_kv_str(pk, "source_app", "frappe");
}

static void a_full_envelope_decodes_every_field(void **state)
{
    pack_full_envelope(&in.pk);
    assert_accepted();
    assert_str(env.id, "site1.local::job-1");
    assert_str(env.tool, "echo");
    assert_non_null(env.args);
    assert_int_equal(env.args->type, MSGPACK_OBJECT_MAP);
    assert_true(obj_is_str(map_get(env.args, "hello"), "world"));
    assert_int_equal(map_get(env.args, "n")->via.u64, 7);
    assert_str(env.site, "site1.local");
    assert_str(env.user, "Administrator");
    assert_float_equal(env.timeout, 2.5, 0);
    assert_int_equal(env.attempt, 2);
    assert_int_equal(env.max_attempts, 5);
    assert_int_equal(env.enqueued_at, 1700000000123);
    assert_str(env.reply_to, "fac:reply:job-1");
    assert_str(env.client_id, "client-9");
    assert_str(env.session_id, "sess-42");
    assert_str(env.ip_address, "10.1.2.3");
    assert_str(env.source_app, "frappe");
    assert_int_equal(env.root.type, MSGPACK_OBJECT_MAP);
    assert_int_equal(env.root.via.map.size, 15);
}

static void an_integer_timeout_is_seconds(void **state)
{
    pack_kv_int(envelope_with(1), "timeout", 30);
    assert_accepted();
    assert_float_equal(env.timeout, 30, 0);
}

static void a_float32_timeout_is_seconds(void **state)
{
    pack_str(envelope_with(1), "timeout");
    msgpack_pack_float(&in.pk, 0.5f);
    assert_accepted();
    assert_float_equal(env.timeout, 0.5, 0);
}

static void an_envelope_with_only_id_and_tool_gets_the_defaults(void **state)
{
    envelope_with(0);
    assert_accepted();
    assert_str(env.id, "j1");
    assert_str(env.tool, "echo");
    assert_null(env.args);
    assert_float_equal(env.timeout, 0, 0);
    assert_int_equal(env.attempt, 0);
    assert_int_equal(env.max_attempts, 0);
    assert_int_equal(env.enqueued_at, 0);
    assert_int_equal(env.site.n, 0);
    assert_int_equal(env.user.n, 0);
    assert_int_equal(env.reply_to.n, 0);
}

static void nil_optional_fields_count_as_absent(void **state)
{
    msgpack_packer *pk = envelope_with(4);
    pack_str(pk, "args");
    msgpack_pack_nil(pk);
    pack_str(pk, "timeout");
    msgpack_pack_nil(pk);
    pack_str(pk, "attempt");
    msgpack_pack_nil(pk);
    pack_str(pk, "site");
    msgpack_pack_nil(pk);
    assert_accepted();
    assert_null(env.args);
    assert_float_equal(env.timeout, 0, 0);
    assert_int_equal(env.attempt, 0);
    assert_int_equal(env.site.n, 0);
}

static void an_id_of_128_bytes_is_accepted(void **state)
{
    char id[129];
    memset(id, 'a', 128);
    id[128] = '\0';
    msgpack_pack_map(&in.pk, 2);
    pack_kv_str(&in.pk, "id", id);
    pack_kv_str(&in.pk, "tool", "echo");
    assert_accepted();
    assert_int_equal(env.id.n, 128);
}

/* ---- envelope_rewrite ---- */

static void with_attempt_replaces_attempt_and_keeps_every_other_key(void **state)
{
    msgpack_packer *pk = envelope_with(4);
    pack_kv_int(pk, "attempt", 1);
    pack_str(pk, "x_trace");
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, 1);
    pack_str(pk, "two");
    pack_str(pk, "x_meta");
    msgpack_pack_map(pk, 1);
    pack_kv_str(pk, "k", "v");
    pack_kv_str(pk, "reply_to", "fac:reply:j1");
    assert_accepted();

    envelope_rewrite(&env, &(struct envelope_update){.attempt = 2}, &out);
    assert_true(unpack_exactly(out.data, out.len, &reread));
    const msgpack_object *again = &reread.data;
    assert_int_equal(map_size(again), map_size(&env.root));
    const msgpack_object_map *orig = &env.root.via.map;
    for (uint32_t i = 0; i < orig->size; i++) {
        const msgpack_object *key = &orig->ptr[i].key;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)key->via.str.size, key->via.str.ptr);
        const msgpack_object *v = map_get(again, name);
        if (!v) fail_msg("key \"%s\" lost", name);
        if (strcmp(name, "attempt") != 0 && !msgpack_object_equal(*v, orig->ptr[i].val))
            fail_msg("key \"%s\" changed", name);
    }
    const msgpack_object *attempt = map_get(again, "attempt");
    assert_int_equal(attempt->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(attempt->via.u64, 2);
}

static void with_attempt_adds_attempt_when_there_was_none(void **state)
{
    envelope_with(0);
    assert_accepted();
    envelope_rewrite(&env, &(struct envelope_update){.attempt = 1}, &out);
    assert_true(unpack_exactly(out.data, out.len, &reread));
    static const char *const keys[] = {"id", "tool", "attempt", NULL};
    assert_true(map_has_exactly(&reread.data, keys));
    assert_int_equal(map_get(&reread.data, "attempt")->via.u64, 1);
}

static void with_attempt_output_decodes_as_an_envelope(void **state)
{
    pack_full_envelope(&in.pk);
    assert_accepted();
    envelope_rewrite(&env, &(struct envelope_update){.attempt = 3}, &out);
    msgpack_zone_destroy(&zone);
    msgpack_zone_init(&zone, 2048);
    assert_int_equal(decode_bytes(out.data, out.len), ENV_OK);
    assert_int_equal(env.attempt, 3);
    assert_str(env.id, "site1.local::job-1");
}

/* msgpack-c unpacks an empty string that no longer string precedes as (NULL, 0). Run
 * apart so that a sanitizer abort fails only this test. */
static int repack_an_empty_key_and_value(void *arg)
{
    msgpack_pack_map(&in.pk, 3);
    pack_kv_str(&in.pk, "", "");
    pack_kv_str(&in.pk, "id", "j1");
    pack_kv_str(&in.pk, "tool", "echo");
    if (decode() != ENV_OK) return 2;
    envelope_rewrite(&env, &(struct envelope_update){.attempt = 1}, &out);
    if (!unpack_exactly(out.data, out.len, &reread)) return 3;
    const msgpack_object *empty = map_get(&reread.data, "");
    return !(empty && empty->type == MSGPACK_OBJECT_STR && empty->via.str.size == 0);
}

static void with_attempt_keeps_an_empty_key_and_value(void **state)
{
    assert_child_ok(repack_an_empty_key_and_value, NULL);
}

/* ---- bytes that are not an envelope ---- */

static void empty_input_is_a_decode_error(void **state)
{
    assert_int_equal(decode_bytes("", 0), ENV_DECODE);
    assert_contains(err, "empty");
}

static void a_truncated_envelope_is_a_decode_error(void **state)
{
    pack_full_envelope(&in.pk);
    assert_int_equal(decode_bytes(in.sb.data, in.sb.size - 1), ENV_DECODE);
    assert_contains(err, "truncated");
}

static void byte_0xc1_is_a_decode_error(void **state)
{
    assert_int_equal(decode_bytes("\xc1", 1), ENV_DECODE);
    assert_contains(err, "0xc1");
}

static void an_array_is_not_an_envelope(void **state)
{
    msgpack_pack_array(&in.pk, 2);
    pack_str(&in.pk, "id");
    pack_str(&in.pk, "j1");
    assert_refused(ENV_INVALID, "must be a msgpack map, got an array");
}

static void a_string_is_not_an_envelope(void **state)
{
    pack_str(&in.pk, "{\"id\": \"j1\"}");
    assert_refused(ENV_INVALID, "must be a msgpack map, got a string");
}

static void integer_keys_are_refused(void **state)
{
    msgpack_pack_map(&in.pk, 2);
    msgpack_pack_int(&in.pk, 1);
    pack_str(&in.pk, "j1");
    msgpack_pack_int(&in.pk, 2);
    pack_str(&in.pk, "echo");
    assert_refused(ENV_INVALID, "keys must be strings");
}

static void trailing_bytes_are_a_decode_error(void **state)
{
    envelope_with(0);
    msgpack_pack_nil(&in.pk);
    assert_refused(ENV_DECODE, "extra bytes");
}

static void a_string_longer_than_the_data_is_a_decode_error(void **state)
{
    /* {"id": str16 of 0xffff bytes} with one byte of it present */
    static const char bytes[] = "\x81\xa2id\xda\xff\xffx";
    assert_int_equal(decode_bytes(bytes, sizeof bytes - 1), ENV_DECODE);
    assert_contains(err, "truncated");
}

static void a_huge_declared_array_with_few_bytes_is_a_decode_error(void **state)
{
    static const char bytes[] = "\xdd\xff\xff\xff\xff\x01\x02";
    assert_int_equal(decode_bytes(bytes, sizeof bytes - 1), ENV_DECODE);
}

static void a_huge_declared_map_inside_args_is_a_decode_error(void **state)
{
    static const char tail[] = "\xdf\xff\xff\xff\xff\x01\x02";
    pack_str(envelope_with(1), "args");
    msgpack_sbuffer_write(&in.sb, tail, sizeof tail - 1);
    assert_refused(ENV_DECODE, "truncated");
}

static void an_envelope_over_max_payload_is_too_large(void **state)
{
    envelope_with(0);
    size_t len = in.sb.size;
    assert_int_equal(envelope_decode(in.sb.data, len, len - 1, &zone, &env, err, sizeof err),
                     ENV_TOO_LARGE);
    assert_contains(err, "max_payload");
    assert_string_equal(envelope_error_type(ENV_TOO_LARGE), "PayloadTooLarge");
}

static void an_envelope_of_exactly_max_payload_is_accepted(void **state)
{
    envelope_with(0);
    size_t len = in.sb.size;
    assert_int_equal(envelope_decode(in.sb.data, len, len, &zone, &env, err, sizeof err), ENV_OK);
}

/* Nesting counts containers from the envelope map (1) and args (2) inward. */
static void pack_args_nested(int levels_inside_args)
{
    pack_str(envelope_with(1), "args");
    pack_nested_maps(&in.pk, levels_inside_args);
}

static void nesting_32_levels_in_all_is_accepted(void **state)
{
    pack_args_nested(31);
    assert_accepted();
}

static void nesting_33_levels_in_all_is_a_decode_error(void **state)
{
    pack_args_nested(32);
    assert_refused(ENV_DECODE, "deeper than 32");
}

static void nesting_33_levels_inside_args_is_a_decode_error(void **state)
{
    pack_args_nested(33);
    assert_refused(ENV_DECODE, "deeper than 32");
}

static void a_map_of_300_keys_is_refused(void **state)
{
    msgpack_packer *pk = envelope_with(298);
    for (int i = 0; i < 298; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        pack_kv_int(pk, k, i);
    }
    assert_refused(ENV_INVALID, "300 keys");
}

static void a_duplicate_id_key_is_refused(void **state)
{
    pack_kv_str(envelope_with(1), "id", "j2");
    assert_refused(ENV_INVALID, "\"id\" appears twice");
}

static void the_error_types_follow_the_protocol(void **state)
{
    assert_string_equal(envelope_error_type(ENV_DECODE), "DecodeError");
    assert_string_equal(envelope_error_type(ENV_INVALID), "InvalidEnvelope");
    assert_string_equal(envelope_error_type(ENV_TOO_LARGE), "PayloadTooLarge");
}

/* ---- maps with a bad key ---- */

static void a_missing_id_is_refused(void **state)
{
    msgpack_pack_map(&in.pk, 1);
    pack_kv_str(&in.pk, "tool", "echo");
    assert_refused(ENV_INVALID, "no \"id\"");
    assert_int_equal(env.id.n, 0);
}

static void a_missing_tool_is_refused_and_the_id_kept(void **state)
{
    msgpack_pack_map(&in.pk, 1);
    pack_kv_str(&in.pk, "id", "j1");
    assert_refused(ENV_INVALID, "no \"tool\"");
    assert_str(env.id, "j1");
}

static void an_id_that_is_not_a_string_is_refused(void **state)
{
    msgpack_pack_map(&in.pk, 2);
    pack_kv_int(&in.pk, "id", 42);
    pack_kv_str(&in.pk, "tool", "echo");
    assert_refused(ENV_INVALID, "\"id\" must be a string, got an integer");
    assert_int_equal(env.id.n, 0);
}

static void an_empty_id_is_refused(void **state)
{
    msgpack_pack_map(&in.pk, 2);
    pack_kv_str(&in.pk, "id", "");
    pack_kv_str(&in.pk, "tool", "echo");
    assert_refused(ENV_INVALID, "\"id\"");
}

static void an_id_of_129_bytes_is_refused(void **state)
{
    char id[130];
    memset(id, 'a', 129);
    id[129] = '\0';
    msgpack_pack_map(&in.pk, 2);
    pack_kv_str(&in.pk, "id", id);
    pack_kv_str(&in.pk, "tool", "echo");
    assert_refused(ENV_INVALID, "\"id\" must have 1-128 bytes, got 129");
    assert_int_equal(env.id.n, 0);
}

static void an_id_with_a_control_character_is_refused(void **state)
{
    msgpack_pack_map(&in.pk, 2);
    pack_kv_str(&in.pk, "id", "j\n1");
    pack_kv_str(&in.pk, "tool", "echo");
    assert_refused(ENV_INVALID, "\"id\" must not contain control characters");
}

static void args_that_are_not_a_map_are_refused(void **state)
{
    pack_str(envelope_with(1), "args");
    msgpack_pack_array(&in.pk, 1);
    msgpack_pack_int(&in.pk, 1);
    assert_refused(ENV_INVALID, "\"args\" must be a map");
}

static void a_negative_timeout_is_refused(void **state)
{
    pack_str(envelope_with(1), "timeout");
    msgpack_pack_double(&in.pk, -1.5);
    assert_refused(ENV_INVALID, "\"timeout\" must be a positive number");
}

static void a_zero_timeout_is_refused(void **state)
{
    pack_kv_int(envelope_with(1), "timeout", 0);
    assert_refused(ENV_INVALID, "\"timeout\" must be a positive number");
}

static void a_nan_timeout_is_refused(void **state)
{
    pack_str(envelope_with(1), "timeout");
    msgpack_pack_double(&in.pk, NAN);
    assert_refused(ENV_INVALID, "\"timeout\" must be a positive number");
}

static void an_infinite_timeout_is_refused(void **state)
{
    pack_str(envelope_with(1), "timeout");
    msgpack_pack_double(&in.pk, INFINITY);
    assert_refused(ENV_INVALID, "\"timeout\"");
}

static void a_string_timeout_is_refused(void **state)
{
    pack_kv_str(envelope_with(1), "timeout", "30");
    assert_refused(ENV_INVALID, "\"timeout\" must be a number of seconds, got a string");
}

static void a_negative_attempt_is_refused(void **state)
{
    pack_kv_int(envelope_with(1), "attempt", -1);
    assert_refused(ENV_INVALID, "\"attempt\"");
}

static void max_attempts_zero_is_refused(void **state)
{
    pack_kv_int(envelope_with(1), "max_attempts", 0);
    assert_refused(ENV_INVALID, "\"max_attempts\"");
}

static void protocol_version_2_is_refused(void **state)
{
    pack_kv_int(envelope_with(1), "v", 2);
    assert_refused(ENV_INVALID, "(\"v\")");
}

static void a_non_string_reply_to_is_refused(void **state)
{
    pack_kv_int(envelope_with(1), "reply_to", 5);
    assert_refused(ENV_INVALID, "\"reply_to\" must be a string");
}

/* envelope.h: "when the id could be read, leaves it in e->id". In {"id": "j1", "tool":
 * "echo", 7: 7} the id is plain to read, so the worker can answer the caller. */
static void a_refused_envelope_with_a_readable_id_reports_the_id(void **state)
{
    msgpack_packer *pk = envelope_with(1);
    msgpack_pack_int(pk, 7);
    msgpack_pack_int(pk, 7);
    assert_refused(ENV_INVALID, "keys must be strings");
    assert_str(env.id, "j1");
}

/* docs/protocol.md: a dead job whose id is known gets a result record "so a caller
 * waiting on reply_to is answered instead of hanging"; the worker pushes it to
 * e->reply_to, so a refused envelope must still expose a readable reply_to. */
static void a_refused_envelope_with_a_readable_id_reports_reply_to(void **state)
{
    msgpack_packer *pk = envelope_with(2);
    pack_kv_str(pk, "reply_to", "fac:reply:j1");
    pack_kv_int(pk, "timeout", -1);
    assert_refused(ENV_INVALID, "\"timeout\"");
    assert_str(env.id, "j1");
    assert_str(env.reply_to, "fac:reply:j1");
}

/* ---- retry history and deduplicate (docs/protocol.md "Job envelope") ---- */

static void deduplicate_is_read_as_a_boolean(void **state)
{
    msgpack_packer *pk = envelope_with(1);
    pack_str(pk, "deduplicate");
    msgpack_pack_true(pk);
    assert_accepted();
    assert_true(env.deduplicate);
}

static void deduplicate_that_is_not_a_boolean_is_refused(void **state)
{
    pack_kv_int(envelope_with(1), "deduplicate", 1);
    assert_refused(ENV_INVALID, "\"deduplicate\" must be true or false");
}

static void errors_that_are_not_an_array_are_refused(void **state)
{
    pack_kv_str(envelope_with(1), "errors", "boom");
    assert_refused(ENV_INVALID, "\"errors\" must be an array");
}

/* Rewrites env into dst with an error for attempt `attempt`, then decodes dst into env
 * (which then points into dst: dst must outlive its use). */
static void next_attempt(struct buf *dst, int64_t attempt, int64_t max, const char *msg)
{
    struct attempt_error ae = {
        attempt, "ExecutionError", {msg, (uint32_t)strlen(msg)}, 1000 + attempt};
    envelope_rewrite(
        &env, &(struct envelope_update){.attempt = attempt + 1, .max_attempts = max, .error = &ae},
        dst);
    assert_int_equal(decode_bytes(dst->data, dst->len), ENV_OK);
}

static void each_retry_appends_its_error_to_the_history(void **state)
{
    envelope_with(0);
    assert_accepted();
    struct buf first = {0};
    next_attempt(&first, 0, 0, "first");
    next_attempt(&out, 1, 0, "second");
    assert_int_equal(env.attempt, 2);
    assert_int_equal(env.errors->via.array.size, 2);
    const msgpack_object *e0 = &env.errors->via.array.ptr[0], *e1 = &env.errors->via.array.ptr[1];
    static const char *const keys[] = {"attempt", "type", "message", "at", NULL};
    assert_true(map_has_exactly(e0, keys));
    assert_int_equal(map_get(e0, "attempt")->via.u64, 0);
    assert_true(obj_is_str(map_get(e0, "message"), "first"));
    assert_int_equal(map_get(e0, "at")->via.u64, 1000);
    assert_int_equal(map_get(e1, "attempt")->via.u64, 1);
    assert_true(obj_is_str(map_get(e1, "type"), "ExecutionError"));
    assert_true(obj_is_str(map_get(e1, "message"), "second"));
    assert_int_equal(env.max_attempts, 0);
    buf_free(&first);
}

static void a_rewrite_may_raise_max_attempts(void **state)
{
    pack_kv_int(envelope_with(1), "max_attempts", 2);
    assert_accepted();
    next_attempt(&out, 1, 5, "x");
    assert_int_equal(env.max_attempts, 5);
    assert_int_equal(map_size(&env.root), 5); /* id tool attempt max_attempts errors */
}

static void a_long_error_message_is_clipped_on_a_character_boundary(void **state)
{
    char msg[ERROR_MESSAGE_MAX + 10];
    memset(msg, 'a', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    memcpy(msg + ERROR_MESSAGE_MAX - 1, "\xc3\xa9", 2); /* an e-acute across the limit */
    envelope_with(0);
    assert_accepted();
    next_attempt(&out, 0, 0, msg);
    const msgpack_object *m = map_get(&env.errors->via.array.ptr[0], "message");
    assert_int_equal(m->via.str.size, ERROR_MESSAGE_MAX - 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fresh, release)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(a_full_envelope_decodes_every_field),
        T(an_integer_timeout_is_seconds),
        T(a_float32_timeout_is_seconds),
        T(an_envelope_with_only_id_and_tool_gets_the_defaults),
        T(nil_optional_fields_count_as_absent),
        T(an_id_of_128_bytes_is_accepted),
        T(with_attempt_replaces_attempt_and_keeps_every_other_key),
        T(with_attempt_adds_attempt_when_there_was_none),
        T(with_attempt_output_decodes_as_an_envelope),
        T(with_attempt_keeps_an_empty_key_and_value),
        T(deduplicate_is_read_as_a_boolean),
        T(deduplicate_that_is_not_a_boolean_is_refused),
        T(errors_that_are_not_an_array_are_refused),
        T(each_retry_appends_its_error_to_the_history),
        T(a_rewrite_may_raise_max_attempts),
        T(a_long_error_message_is_clipped_on_a_character_boundary),
        T(empty_input_is_a_decode_error),
        T(a_truncated_envelope_is_a_decode_error),
        T(byte_0xc1_is_a_decode_error),
        T(an_array_is_not_an_envelope),
        T(a_string_is_not_an_envelope),
        T(integer_keys_are_refused),
        T(trailing_bytes_are_a_decode_error),
        T(a_string_longer_than_the_data_is_a_decode_error),
        T(a_huge_declared_array_with_few_bytes_is_a_decode_error),
        T(a_huge_declared_map_inside_args_is_a_decode_error),
        T(an_envelope_over_max_payload_is_too_large),
        T(an_envelope_of_exactly_max_payload_is_accepted),
        T(nesting_32_levels_in_all_is_accepted),
        T(nesting_33_levels_in_all_is_a_decode_error),
        T(nesting_33_levels_inside_args_is_a_decode_error),
        T(a_map_of_300_keys_is_refused),
        T(a_duplicate_id_key_is_refused),
        T(the_error_types_follow_the_protocol),
        T(a_missing_id_is_refused),
        T(a_missing_tool_is_refused_and_the_id_kept),
        T(an_id_that_is_not_a_string_is_refused),
        T(an_empty_id_is_refused),
        T(an_id_of_129_bytes_is_refused),
        T(an_id_with_a_control_character_is_refused),
        T(args_that_are_not_a_map_are_refused),
        T(a_negative_timeout_is_refused),
        T(a_zero_timeout_is_refused),
        T(a_nan_timeout_is_refused),
        T(an_infinite_timeout_is_refused),
        T(a_string_timeout_is_refused),
        T(a_negative_attempt_is_refused),
        T(max_attempts_zero_is_refused),
        T(protocol_version_2_is_refused),
        T(a_non_string_reply_to_is_refused),
        T(a_refused_envelope_with_a_readable_id_reports_the_id),
        T(a_refused_envelope_with_a_readable_id_reports_reply_to),
    };
    return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
