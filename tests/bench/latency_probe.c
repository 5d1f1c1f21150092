/*
 * The benchmark's latency client in C (tests/bench/bench.py runs it): one `echo` job at
 * a time, timed from just before its LPUSH to the return of the BLPOP on its reply_to,
 * then the same two round trips without a worker (LPUSH onto a list nobody reads, BLPOP
 * of that list) as the client floor. With hiredis' blocking API there is almost no
 * client cost on top of the two round trips, so the figure is the pool's and Redis',
 * not a Python client's.
 *
 *   fac-latency-probe HOST PORT READY_KEY JOBS WARMUP TIMEOUT_S [GAP_MS]
 *
 * GAP_MS: a pause before each job, so that each one meets a pool that has been idle that
 * long (its audit flushed, every job acknowledged), as sporadic tool calls do; the floor
 * then gets a pause of its own before it too, so that it is the same two round trips
 * against a Redis (and a client) that slept as long, not ones right after a job.
 *
 * Prints one line per timed job, "<job ns> <floor ns>"; exits 1 with a message naming
 * the job on a missing or wrong reply.
 */
#include <hiredis/hiredis.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* {"v": 1, "id": id, "tool": "echo", "args": {"i": i}, "enqueued_at": ms, "reply_to": rk} */
static void pack_envelope(msgpack_sbuffer *sb, const char *id, long long i, const char *rk)
{
    msgpack_packer pk;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 6);
    pack_cstr(&pk, "v");
    msgpack_pack_int(&pk, 1);
    pack_cstr(&pk, "id");
    pack_cstr(&pk, id);
    pack_cstr(&pk, "tool");
    pack_cstr(&pk, "echo");
    pack_cstr(&pk, "args");
    msgpack_pack_map(&pk, 1);
    pack_cstr(&pk, "i");
    msgpack_pack_int64(&pk, i);
    pack_cstr(&pk, "enqueued_at");
    msgpack_pack_int64(&pk, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    pack_cstr(&pk, "reply_to");
    pack_cstr(&pk, rk);
}

/* The result record says Success and carries {"i": i} back. */
static int reply_ok(const char *data, size_t len, long long i)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    int ok = 0, status = 0, result = 0;
    if (msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t k = 0; k < u.data.via.map.size; k++) {
            const msgpack_object *key = &u.data.via.map.ptr[k].key;
            const msgpack_object *val = &u.data.via.map.ptr[k].val;
            if (key->type != MSGPACK_OBJECT_STR) continue;
            if (key->via.str.size == 6 && memcmp(key->via.str.ptr, "status", 6) == 0)
                status = val->type == MSGPACK_OBJECT_STR && val->via.str.size == 7 &&
                         memcmp(val->via.str.ptr, "Success", 7) == 0;
            if (key->via.str.size == 6 && memcmp(key->via.str.ptr, "result", 6) == 0)
                result = val->type == MSGPACK_OBJECT_MAP && val->via.map.size == 1 &&
                         val->via.map.ptr[0].val.type <= MSGPACK_OBJECT_NEGATIVE_INTEGER &&
                         val->via.map.ptr[0].val.via.i64 == i;
        }
        ok = status && result;
    }
    msgpack_unpacked_destroy(&u);
    return ok;
}

static void nap(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, ms % 1000 * 1000000L}, NULL);
}

/* LPUSH list elem, then BLPOP wait; the popped element, or NULL. */
static redisReply *push_pop(redisContext *c, const char *list, const msgpack_sbuffer *sb,
                            const char *wait, const char *timeout)
{
    redisReply *r = redisCommand(c, "LPUSH %s %b", list, sb->data, sb->size);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "LPUSH %s: %s\n", list, r ? r->str : c->errstr);
        exit(1);
    }
    freeReplyObject(r);
    r = redisCommand(c, "BLPOP %s %s", wait, timeout);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) return r;
    freeReplyObject(r);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s HOST PORT READY_KEY JOBS WARMUP TIMEOUT_S [GAP_MS]\n", argv[0]);
        return 2;
    }
    long gap_ms = argc == 8 ? atol(argv[7]) : 0;
    const char *ready = argv[3], *timeout = argv[6];
    long long jobs = atoll(argv[4]), warmup = atoll(argv[5]);
    redisContext *c = redisConnect(argv[1], atoi(argv[2]));
    if (!c || c->err) {
        fprintf(stderr, "redis %s:%s: %s\n", argv[1], argv[2], c ? c->errstr : "no memory");
        return 1;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    char id[64], rk[96];
    for (long long i = -warmup; i < jobs; i++) {
        snprintf(id, sizeof id, "clat-%lld", i);
        snprintf(rk, sizeof rk, "bench:reply:%s", id);
        if (gap_ms > 0) nap(gap_ms);
        pack_envelope(&sb, id, i, rk);
        long long t0 = now_ns();
        redisReply *r = push_pop(c, ready, &sb, rk, timeout);
        long long t1 = now_ns();
        if (!r) {
            fprintf(stderr, "job %s: no reply on %s within %s s\n", id, rk, timeout);
            return 1;
        }
        if (!reply_ok(r->element[1]->str, r->element[1]->len, i)) {
            fprintf(stderr, "job %s: the result record is not Success with {\"i\": %lld}\n", id, i);
            return 1;
        }
        freeReplyObject(r);
        if (gap_ms > 0) nap(gap_ms);
        long long t2 = now_ns();
        r = push_pop(c, "bench:cfloor", &sb, "bench:cfloor", timeout);
        long long t3 = now_ns();
        if (!r || r->element[1]->len != sb.size || memcmp(r->element[1]->str, sb.data, sb.size)) {
            fprintf(stderr, "client floor: BLPOP bench:cfloor did not return the element\n");
            return 1;
        }
        freeReplyObject(r);
        if (i >= 0) printf("%lld %lld\n", t1 - t0, t3 - t2);
    }
    msgpack_sbuffer_destroy(&sb);
    redisFree(c);
    return 0;
}
