/*
 * fac-ctl dead list|show|retry|purge: the dead-letter lists P:{Q}:dead (docs/operations.md),
 * each on its queue's server (docs/sharding.md).
 * Entries are chosen by id, or by a filter (--queue, --type) with --all. A retry puts
 * the job back on its queue in one atomic step with removing its entry and its old
 * result record; it keeps counting attempts (attempt + 1, max_attempts raised to give it
 * its attempts again), so that every attempt keeps its own audit row.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "ctl.h"
#include "envelope.h"
#include "fac/protocol.h"
#include "keys.h"
#include "mp.h"
#include "mpjson.h"
#include "scripts.h"

struct dead_opts {
    const char *queue, *type, *id;
    bool all, json;
};

/* One entry, decoded; lives while its zone does. */
struct entry {
    const char *queue;
    redisContext *c; /* the queue's server */
    const redisReply *raw;
    msgpack_object obj;
};

typedef int (*entry_fn)(struct ctl *x, const struct dead_opts *o, struct entry *e, void *ud);

static bool matches(const struct dead_opts *o, const msgpack_object *entry)
{
    if (o->id && !mp_str_eq(mp_get(entry, "id"), o->id)) return false;
    return !o->type || mp_str_eq(mp_get(mp_get(entry, "error"), "type"), o->type);
}

/* Calls fn for each matching entry, queue by queue; stops early when fn returns non-0.
 * Returns how many entries fn was called for, or -1 on a Redis error. */
static long for_each_entry(struct ctl *x, const struct dead_opts *o, entry_fn fn, void *ud)
{
    long n = 0;
    for (size_t i = 0; i < x->cfg->nqueues; i++) {
        const char *q = x->cfg->queues[i];
        if (o->queue && strcmp(o->queue, q) != 0) continue;
        char k[FAC_KEY_MAX];
        redisContext *c = ctl_queue_conn(x, q);
        redisReply *r = redisCommand(c, "LRANGE %s 0 -1", key_dead(k, x->cfg->prefix, q));
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            die(CTL_REDIS, "LRANGE %s failed: %s", k, r ? r->str : c->errstr);
            freeReplyObject(r);
            return -1;
        }
        int stop = 0;
        for (size_t j = 0; j < r->elements && !stop; j++) {
            msgpack_zone z;
            msgpack_zone_init(&z, 2048);
            struct entry e = {q, c, r->element[j]};
            size_t off = 0;
            if (mp_check(e.raw->str, e.raw->len, FAC_MP_MAX_DEPTH_CAP) == MP_OK &&
                msgpack_unpack(e.raw->str, e.raw->len, &off, &z, &e.obj) ==
                    MSGPACK_UNPACK_SUCCESS &&
                matches(o, &e.obj)) {
                n++;
                stop = fn(x, o, &e, ud);
            }
            msgpack_zone_destroy(&z);
        }
        freeReplyObject(r);
        if (stop) break;
    }
    return n;
}

/* The entry as JSON, with its "job" decoded when it is a readable envelope. */
static void entry_json(struct buf *out, const msgpack_object *entry)
{
    const msgpack_object_map *m = &entry->via.map;
    buf_putc(out, '{');
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if (i) buf_putc(out, ',');
        mpjson_write(out, k, false);
        buf_putc(out, ':');
        msgpack_zone z;
        msgpack_zone_init(&z, 1024);
        msgpack_object job;
        size_t off = 0;
        if (mp_str_eq(k, "job") && v->type == MSGPACK_OBJECT_BIN &&
            mp_check(v->via.bin.ptr, v->via.bin.size, FAC_MP_MAX_DEPTH_CAP) == MP_OK &&
            msgpack_unpack(v->via.bin.ptr, v->via.bin.size, &off, &z, &job) ==
                MSGPACK_UNPACK_SUCCESS)
            mpjson_write(out, &job, false);
        else
            mpjson_write(out, v, false);
        msgpack_zone_destroy(&z);
    }
    buf_putc(out, '}');
}

static struct str obj_str(const msgpack_object *o)
{
    if (!o || o->type != MSGPACK_OBJECT_STR) return (struct str){"", 0};
    return (struct str){o->via.str.ptr, o->via.str.size};
}

static int64_t obj_int(const msgpack_object *o)
{
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) return (int64_t)o->via.u64;
    return o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : -1;
}

static int print_row(struct ctl *x, const struct dead_opts *o, struct entry *e, void *ud)
{
    struct buf *json = ud;
    if (o->json) {
        buf_putc(json, json->len > 1 ? ',' : '[');
        entry_json(json, &e->obj);
        return 0;
    }
    struct str id = obj_str(mp_get(&e->obj, "id")),
               type = obj_str(mp_get(mp_get(&e->obj, "error"), "type"));
    struct str reason = obj_str(mp_get(&e->obj, "reason"));
    time_t t = (time_t)(obj_int(mp_get(&e->obj, "failed_at")) / 1000);
    struct tm tm;
    char when[32];
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("%-36.*s %-10s %-16.*s %7lld %-20s %.*s\n", (int)id.n, id.p, e->queue, (int)type.n,
           type.p, (long long)obj_int(mp_get(&e->obj, "attempt")), when,
           (int)(reason.n < 100 ? reason.n : 100), reason.p);
    return 0;
}

static int show_one(struct ctl *x, const struct dead_opts *o, struct entry *e, void *ud)
{
    struct buf out = {0};
    entry_json(&out, &e->obj);
    puts(out.data);
    buf_free(&out);
    return 1;
}

/* The job of an entry, ready to run again: attempt + 1, its attempts given back, and
 * the error that killed it added to its history. */
static int next_envelope(struct ctl *x, const msgpack_object *entry, struct buf *out, char *why,
                         size_t whylen)
{
    const msgpack_object *job = mp_get(entry, "job");
    if (!job || job->type != MSGPACK_OBJECT_BIN)
        return snprintf(why, whylen, "it holds no job"), -1;
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    struct envelope env;
    int rc = -1;
    if (envelope_decode(job->via.bin.ptr, job->via.bin.size, (size_t)x->cfg->max_payload, &z, &env,
                        why, whylen) == ENV_OK) {
        const struct tool_cfg *t = config_tool(x->cfg, env.tool.p, env.tool.n);
        int64_t budget = env.max_attempts ? env.max_attempts : t ? t->max_attempts : 1;
        const msgpack_object *err = mp_get(entry, "error");
        struct attempt_error last = {env.attempt, FAC_ERR_EXEC, obj_str(mp_get(err, "message")),
                                     obj_int(mp_get(entry, "failed_at"))};
        char type[64];
        struct str ts = obj_str(mp_get(err, "type"));
        snprintf(type, sizeof type, "%.*s", (int)ts.n, ts.p);
        if (ts.n) last.type = type;
        envelope_rewrite(&env,
                         &(struct envelope_update){.attempt = env.attempt + 1,
                                                   .max_attempts = env.attempt + 1 + budget,
                                                   .error = &last},
                         out);
        rc = 0;
    }
    msgpack_zone_destroy(&z);
    return rc;
}

static int retry_one(struct ctl *x, const struct dead_opts *o, struct entry *e, void *ud)
{
    long *done = ud;
    struct str id = obj_str(mp_get(&e->obj, "id"));
    char why[512], dk[FAC_KEY_MAX], rk[FAC_KEY_MAX], res[FAC_KEY_MAX];
    struct buf job = {0};
    if (next_envelope(x, &e->obj, &job, why, sizeof why)) {
        fprintf(stderr, "fac-ctl: skipped dead entry %.*s: %s; purge it instead\n", (int)id.n, id.p,
                why);
        return 0;
    }
    key_dead(dk, x->cfg->prefix, e->queue);
    key_ready(rk, x->cfg->prefix, e->queue);
    key_result(res, x->cfg->prefix, id.p, id.n);
    int rc = script_move_sync(e->c, dk, rk, res, (struct str){e->raw->str, (uint32_t)e->raw->len},
                              (struct str){job.data, (uint32_t)job.len}, "back", 0);
    buf_free(&job);
    if (rc < 0)
        return die(CTL_REDIS, "moving %.*s back to %s failed: %s", (int)id.n, id.p, rk,
                   e->c->errstr),
               -1;
    if (rc == 1) {
        printf("retried %.*s on queue %s\n", (int)id.n, id.p, e->queue);
        (*done)++;
    }
    return !o->all;
}

static int purge_one(struct ctl *x, const struct dead_opts *o, struct entry *e, void *ud)
{
    long *done = ud;
    char k[FAC_KEY_MAX];
    redisReply *r = redisCommand(e->c, "LREM %s 1 %b", key_dead(k, x->cfg->prefix, e->queue),
                                 e->raw->str, e->raw->len);
    if (r && r->type == REDIS_REPLY_INTEGER) *done += r->integer;
    freeReplyObject(r);
    return !o->all;
}

static int parse_opts(int argc, char **argv, struct dead_opts *o)
{
    static const struct option opts[] = {{"queue", required_argument, NULL, 'q'},
                                         {"type", required_argument, NULL, 't'},
                                         {"all", no_argument, NULL, 'a'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            o->queue = optarg;
            break;
        case 't':
            o->type = optarg;
            break;
        case 'a':
            o->all = true;
            break;
        case 'j':
            o->json = true;
            break;
        default:
            return -1;
        }
    }
    if (optind < argc) o->id = argv[optind++];
    return optind < argc ? -1 : 0;
}

int cmd_dead(struct ctl *x, int argc, char **argv)
{
    struct dead_opts o = {0};
    const char *sub = argc > 1 ? argv[1] : "";
    if (parse_opts(argc - 1, argv + 1, &o))
        return die(CTL_USAGE, "usage: fac-ctl dead list|show|retry|purge [JOB-ID | --all] "
                              "[--queue Q] [--type T] [--json]");
    bool list = strcmp(sub, "list") == 0, show = strcmp(sub, "show") == 0;
    if (show && (!o.id || o.all)) return die(CTL_USAGE, "dead show takes one JOB-ID");
    if (!list && !show && !o.id == !o.all)
        return die(CTL_USAGE, "dead %s takes one JOB-ID or --all (with --queue/--type to filter)",
                   sub);
    long done = 0, n;
    struct buf json = {0};
    if (list)
        n = for_each_entry(x, &o, print_row, &json);
    else if (show)
        n = for_each_entry(x, &o, show_one, NULL);
    else if (strcmp(sub, "retry") == 0)
        n = for_each_entry(x, &o, retry_one, &done);
    else if (strcmp(sub, "purge") == 0)
        n = for_each_entry(x, &o, purge_one, &done);
    else
        return die(CTL_USAGE, "dead takes list, show, retry or purge, got \"%s\"", sub);
    if (list && o.json) puts(json.len ? (buf_putc(&json, ']'), json.data) : "[]");
    buf_free(&json);
    if (n < 0) return CTL_REDIS;
    if (o.id && n == 0) return die(CTL_FAILED, "no dead entry for job %s", o.id);
    if (!strcmp(sub, "purge")) printf("purged %ld dead entries\n", done);
    return CTL_OK;
}
