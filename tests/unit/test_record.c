/*
 * The records a worker writes back (docs/protocol.md), read with msgpack-c: a result
 * record has exactly v, id, status, result or error, attempt, started_at, ended_at,
 * duration_ms, worker; a dead-letter entry has v, id?, queue, reason, error, failed_at,
 * worker, attempt? and the original job as bin, byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "record.h"
#include "support.h"

/* Per-test state, released after each test even when it fails. */
static struct buf out;
static msgpack_unpacked rec, value;
static struct packbuf in;

static int fresh(void **state)
{
    msgpack_unpacked_init(&rec);
    msgpack_unpacked_init(&value);
    packbuf_init(&in);
    return 0;
}

static int release(void **state)
{
    buf_free(&out);
    msgpack_unpacked_destroy(&rec);
    msgpack_unpacked_destroy(&value);
    packbuf_free(&in);
    return 0;
}

/* The packed record, which must be exactly one msgpack map. */
static const msgpack_object *unpacked(void)
{
    assert_true(unpack_exactly(out.data, out.len, &rec));
    assert_int_equal(rec.data.type, MSGPACK_OBJECT_MAP);
    return &rec.data;
}

/* The map has exactly the listed keys; on failure the keys it has are printed. */
#define assert_keys(map, ...)                                                                      \
    do {                                                                                           \
        static const char *const keys_[] = {__VA_ARGS__, NULL};                                    \
        assert_keys_((map), keys_, __FILE__, __LINE__);                                            \
    } while (0)

static void assert_keys_(const msgpack_object *map, const char *const *keys, const char *file,
                         int line)
{
    if (map_has_exactly(map, keys)) return;
    print_error("keys present:");
    for (long i = 0; i < map_size(map); i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR)
            print_error(" %.*s", (int)k->via.str.size, k->via.str.ptr);
    }
    print_error("\n");
    _fail(file, line);
}

static int64_t int_at(const msgpack_object *m, const char *key)
{
    const msgpack_object *v = map_get(m, key);
    if (!v ||
        (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER && v->type != MSGPACK_OBJECT_NEGATIVE_INTEGER))
        fail_msg("\"%s\" is not an integer", key);
    return v->via.i64;
}

static void assert_str_at(const msgpack_object *m, const char *key, const char *want)
{
    if (!obj_is_str(map_get(m, key), want)) fail_msg("\"%s\" is not \"%s\"", key, want);
}

#define STR(s) ((struct str){(s), sizeof(s) - 1})

static struct result_rec a_result(const char *status)
{
    return (struct result_rec){.id = STR("site1::job-7"),
                               .status = status,
                               .attempt = 2,
                               .started_at = 1700000000000,
                               .ended_at = 1700000000250,
                               .duration_ms = 249.75,
                               .worker = "node-1:4242"};
}

/* ---- result records ---- */

static void a_success_record_has_result_and_no_error(void **state)
{
    msgpack_pack_map(&in.pk, 1);
    pack_kv_str(&in.pk, "hello", "world");
    assert_true(unpack_exactly(in.sb.data, in.sb.size, &value));
    struct result_rec r = a_result("Success");
    r.result = &value.data;
    record_pack_result(&out, &r);
    const msgpack_object *m = unpacked();
    assert_keys(m, "v", "id", "status", "result", "attempt", "started_at", "ended_at",
                "duration_ms", "worker");
    assert_true(msgpack_object_equal(*map_get(m, "result"), value.data));
}

/* A tool that returns "": msgpack-c unpacks an empty string that no longer string
 * precedes as (NULL, 0). Run apart so that a sanitizer abort fails only this test. */
static int pack_an_empty_string_result(void *arg)
{
    pack_str(&in.pk, "");
    if (!unpack_exactly(in.sb.data, in.sb.size, &value)) return 2;
    struct result_rec r = a_result("Success");
    r.result = &value.data;
    record_pack_result(&out, &r);
    if (!unpack_exactly(out.data, out.len, &rec)) return 3;
    return !msgpack_object_equal(*map_get(&rec.data, "result"), value.data);
}

static void a_result_that_is_an_empty_string_is_packed(void **state)
{
    assert_child_ok(pack_an_empty_string_result, NULL);
}

static void a_cached_result_says_cached_true(void **state)
{
    struct result_rec r = a_result("Success");
    r.cached = true;
    record_pack_result(&out, &r);
    const msgpack_object *m = unpacked();
    assert_keys(m, "v", "id", "status", "result", "attempt", "started_at", "ended_at",
                "duration_ms", "worker", "cached");
    const msgpack_object *c = map_get(m, "cached");
    assert_int_equal(c->type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(c->via.boolean);
}

static void a_success_record_carries_the_run_facts(void **state)
{
    struct result_rec r = a_result("Success");
    record_pack_result(&out, &r);
    const msgpack_object *m = unpacked();
    assert_int_equal(int_at(m, "v"), 1);
    assert_str_at(m, "id", "site1::job-7");
    assert_str_at(m, "status", "Success");
    assert_int_equal(int_at(m, "attempt"), 2);
    assert_int_equal(int_at(m, "started_at"), 1700000000000);
    assert_int_equal(int_at(m, "ended_at"), 1700000000250);
    const msgpack_object *d = map_get(m, "duration_ms");
    assert_int_equal(d->type, MSGPACK_OBJECT_FLOAT64);
    assert_true(d->via.f64 == 249.75);
    assert_str_at(m, "worker", "node-1:4242");
}

static void a_success_without_a_result_has_result_nil(void **state)
{
    struct result_rec r = a_result("Success");
    record_pack_result(&out, &r);
    const msgpack_object *m = unpacked();
    assert_non_null(map_get(m, "result"));
    assert_int_equal(map_get(m, "result")->type, MSGPACK_OBJECT_NIL);
}

static void an_error_record_has_error_type_and_message_and_no_result(void **state)
{
    struct result_rec r = a_result("Error");
    r.err_type = "ExecutionError";
    r.err_msg = STR("boom: disk full");
    record_pack_result(&out, &r);
    const msgpack_object *m = unpacked();
    assert_keys(m, "v", "id", "status", "error", "attempt", "started_at", "ended_at", "duration_ms",
                "worker");
    assert_str_at(m, "status", "Error");
    const msgpack_object *e = map_get(m, "error");
    assert_keys(e, "type", "message");
    assert_str_at(e, "type", "ExecutionError");
    assert_str_at(e, "message", "boom: disk full");
}

static void every_status_but_success_has_an_error(void **state)
{
    static const char *const statuses[] = {"Timeout", "Permission Denied", "Canceled"};
    for (size_t i = 0; i < 3; i++) {
        buf_reset(&out);
        msgpack_unpacked_destroy(&rec);
        msgpack_unpacked_init(&rec);
        struct result_rec r = a_result(statuses[i]);
        r.err_type = statuses[i];
        record_pack_result(&out, &r);
        const msgpack_object *m = unpacked();
        assert_null(map_get(m, "result"));
        assert_keys(map_get(m, "error"), "type", "message");
    }
}

static void an_error_without_a_message_has_an_empty_message(void **state)
{
    struct result_rec r = a_result("Error");
    r.err_type = "WorkerLost";
    record_pack_result(&out, &r);
    assert_str_at(map_get(unpacked(), "error"), "message", "");
}

/* ---- dead-letter entries ---- */

/* A job that is not msgpack at all: it must come back byte for byte. */
static const char raw_job[] = "\x82\xa2id\xa2j1\xc1\x00\xff tail";

static struct dead_rec a_dead(void)
{
    return (struct dead_rec){.id = STR("j1"),
                             .queue = "default",
                             .reason = "the envelope is not msgpack: fix the producer",
                             .err_type = "DecodeError",
                             .worker = "node-1:4242",
                             .attempt = 3,
                             .failed_at = 1700000001000,
                             .job = STR(raw_job)};
}

static void a_dead_entry_with_an_id_has_every_documented_key(void **state)
{
    struct dead_rec d = a_dead();
    record_pack_dead(&out, &d);
    const msgpack_object *m = unpacked();
    assert_keys(m, "v", "id", "queue", "reason", "error", "failed_at", "worker", "attempt", "job");
    assert_int_equal(int_at(m, "v"), 1);
    assert_str_at(m, "id", "j1");
    assert_str_at(m, "queue", "default");
    assert_str_at(m, "reason", "the envelope is not msgpack: fix the producer");
    assert_int_equal(int_at(m, "failed_at"), 1700000001000);
    assert_str_at(m, "worker", "node-1:4242");
    assert_int_equal(int_at(m, "attempt"), 3);
}

static void a_dead_entry_error_gives_the_type_and_the_reason(void **state)
{
    struct dead_rec d = a_dead();
    record_pack_dead(&out, &d);
    const msgpack_object *e = map_get(unpacked(), "error");
    assert_keys(e, "type", "message");
    assert_str_at(e, "type", "DecodeError");
    assert_str_at(e, "message", "the envelope is not msgpack: fix the producer");
}

static void a_dead_entry_keeps_the_job_byte_for_byte_as_bin(void **state)
{
    struct dead_rec d = a_dead();
    record_pack_dead(&out, &d);
    const msgpack_object *job = map_get(unpacked(), "job");
    assert_non_null(job);
    assert_int_equal(job->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(job->via.bin.size, sizeof raw_job - 1);
    assert_memory_equal(job->via.bin.ptr, raw_job, sizeof raw_job - 1);
}

static void a_large_job_is_kept_byte_for_byte(void **state)
{
    size_t n = 100000;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    struct dead_rec d = a_dead();
    d.job = (struct str){big, (uint32_t)n};
    record_pack_dead(&out, &d);
    free(big); /* the record holds its own copy */
    big = NULL;
    const msgpack_object *job = map_get(unpacked(), "job");
    assert_int_equal(job->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(job->via.bin.size, n);
    for (size_t i = 0; i < n; i++)
        if (job->via.bin.ptr[i] != (char)(i * 7)) fail_msg("byte %zu differs", i);
}

static void a_dead_entry_without_an_id_or_attempt_leaves_both_out(void **state)
{
    struct dead_rec d = a_dead();
    d.id = (struct str){NULL, 0};
    d.attempt = -1;
    record_pack_dead(&out, &d);
    assert_keys(unpacked(), "v", "queue", "reason", "error", "failed_at", "worker", "job");
}

static void attempt_zero_is_a_known_attempt(void **state)
{
    struct dead_rec d = a_dead();
    d.attempt = 0;
    record_pack_dead(&out, &d);
    assert_int_equal(int_at(unpacked(), "attempt"), 0);
}

static void a_dead_entry_with_the_job_following_is_the_whole_entry_once_appended(void **state)
{
    struct dead_rec d = a_dead();
    record_pack_dead(&out, &d);
    struct buf whole = out;
    out = (struct buf){0};
    d.job_follows = true; /* the move script appends the job's bytes (ARGV[5] "append") */
    record_pack_dead(&out, &d);
    assert_int_equal(out.len, whole.len - d.job.n);
    buf_append(&out, d.job.p, d.job.n);
    assert_int_equal(out.len, whole.len);
    assert_memory_equal(out.data, whole.data, whole.len);
    buf_free(&whole);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fresh, release)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(a_success_record_has_result_and_no_error),
        T(a_result_that_is_an_empty_string_is_packed),
        T(a_cached_result_says_cached_true),
        T(a_success_record_carries_the_run_facts),
        T(a_success_without_a_result_has_result_nil),
        T(an_error_record_has_error_type_and_message_and_no_result),
        T(every_status_but_success_has_an_error),
        T(an_error_without_a_message_has_an_empty_message),
        T(a_dead_entry_with_an_id_has_every_documented_key),
        T(a_dead_entry_error_gives_the_type_and_the_reason),
        T(a_dead_entry_keeps_the_job_byte_for_byte_as_bin),
        T(a_large_job_is_kept_byte_for_byte),
        T(a_dead_entry_without_an_id_or_attempt_leaves_both_out),
        T(attempt_zero_is_a_known_attempt),
        T(a_dead_entry_with_the_job_following_is_the_whole_entry_once_appended),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
