/*
 * fac-ctl: the operator's command line. It speaks protocol v1 through lib/ like any
 * other client: enqueue (now, later, deduplicated; and wait), the status of one job,
 * pool statistics, and (dead.c, cancel.c) dead letters and cancel.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "config.h"
#include "ctl.h"
#include "fac/protocol.h"
#include "keys.h"
#include "mp.h"
#include "mpjson.h"
#include "redis.h"
#include "scripts.h"
#include "srvclock.h"

#define DEFAULT_CONFIG "/etc/fac-worker/fac.json"

static void usage(FILE *f)
{
    fputs("usage: fac-ctl [-c FILE] [--redis URL] [--prefix P] COMMAND ...\n"
          "  enqueue TOOL JSON-ARGS [--queue Q] [--site S] [--user U] [--id ID] [--timeout S]\n"
          "                         [--max-attempts N] [--at-front] [--wait] [--wait-timeout S]\n"
          "                         [--in DURATION | --at TIME] [--deduplicate]\n"
          "  status JOB-ID\n"
          "  stats [--json]\n"
          "  top [--interval S] [--once]\n"
          "  dead list [--queue Q] [--type T] [--json]\n"
          "  dead show JOB-ID\n"
          "  dead retry JOB-ID | --all [--queue Q] [--type T]\n"
          "  dead purge JOB-ID | --all [--queue Q] [--type T]\n"
          "  cancel JOB-ID\n",
          f);
}

int die(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fac-ctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

void print_msgpack_json(const char *data, size_t len)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    size_t off = 0;
    struct buf out = {0};
    if (mp_check(data, len, FAC_MP_MAX_DEPTH_CAP) == MP_OK &&
        msgpack_unpack(data, len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS)
        mpjson_write(&out, &o, false);
    else
        buf_puts(&out, "null");
    puts(out.data);
    buf_free(&out);
    msgpack_zone_destroy(&z);
}

/* ---- enqueue ---- */

static void random_id(char *out, size_t len)
{
    unsigned char r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)(random() ^ mono_ns() >> i);
    size_t n = 0;
    for (size_t i = 0; i < sizeof r && n + 2 < len; i++)
        n += (size_t)snprintf(out + n, len - n, "%02x", r[i]);
}

struct enqueue_opts {
    const char *queue, *site, *user, *id;
    double timeout, wait_timeout;
    long max_attempts;
    bool at_front, wait, deduplicate;
    int64_t due; /* ms; 0: now */
};

static void pack_opt_str(msgpack_packer *pk, const char *k, const char *v)
{
    if (v) mp_pack_kv_str(pk, k, v, strlen(v));
}

/* One call of the producer's enqueue script (docs/protocol.md "Enqueue script"), on the
 * queue's server. */
static int push(struct ctl *x, const struct enqueue_opts *o, const char *id, const struct buf *env)
{
    redisContext *c = ctl_queue_conn(x, o->queue);
    char rk[FAC_KEY_MAX], dk[FAC_KEY_MAX], uk[FAC_KEY_MAX], ch[FAC_KEY_MAX], due[24], ttl[24];
    key_ready(rk, x->cfg->prefix, o->queue);
    key_delayed(dk, x->cfg->prefix, o->queue);
    key_unique(uk, x->cfg->prefix, id, strlen(id));
    key_global(ch, FAC_CHAN_WAKE, x->cfg->prefix);
    snprintf(due, sizeof due, "%lld", (long long)o->due);
    snprintf(ttl, sizeof ttl, "%d", o->deduplicate ? FAC_UNIQUE_TTL_S : 0);
    const char *where = o->at_front ? "front" : "back";
    const char *av[] = {rk, dk, uk, env->data, due, where, ttl, ch};
    size_t al[] = {strlen(rk),  strlen(dk),    strlen(uk),  env->len,
                   strlen(due), strlen(where), strlen(ttl), strlen(ch)};
    redisReply *r = script_run_sync(c, &script_enqueue, 3, 5, av, al);
    int rc = CTL_OK;
    if (!r || r->type != REDIS_REPLY_INTEGER)
        rc = die(CTL_REDIS, "enqueueing onto %s failed: %s", o->due ? dk : rk,
                 r ? r->str : c->errstr);
    else if (r->integer == 0)
        rc = die(CTL_DUPLICATE, "job %s is already queued or running (deduplicate): not enqueued",
                 id);
    freeReplyObject(r);
    const struct redis_wait_cfg *rw = &x->cfg->redis_wait;
    long long got;
    /* c is the queue's own server: the WAIT covers the push there (docs/sentinel.md). */
    if (rc == CTL_OK && rw->replicas &&
        (got = redis_wait_sync(c, rw->replicas, rw->timeout_ms)) < rw->replicas) {
        rc = die(CTL_NOT_REPLICATED,
                 "job %s is enqueued, but %lld of %lld replicas confirmed it within %lld ms "
                 "(redis_wait): a failover now could lose it",
                 id, got < 0 ? 0 : got, (long long)rw->replicas, (long long)rw->timeout_ms);
    }
    return rc;
}

static int cmd_enqueue(struct ctl *x, int argc, char **argv)
{
    static const struct option opts[] = {{"queue", required_argument, NULL, 'q'},
                                         {"site", required_argument, NULL, 's'},
                                         {"user", required_argument, NULL, 'u'},
                                         {"id", required_argument, NULL, 'i'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"max-attempts", required_argument, NULL, 'm'},
                                         {"at-front", no_argument, NULL, 'f'},
                                         {"wait", no_argument, NULL, 'w'},
                                         {"wait-timeout", required_argument, NULL, 'W'},
                                         {"in", required_argument, NULL, 'I'},
                                         {"at", required_argument, NULL, 'A'},
                                         {"deduplicate", no_argument, NULL, 'D'},
                                         {NULL, 0, NULL, 0}};
    int64_t ms;
    struct enqueue_opts o = {.queue = "default", .wait_timeout = 60};
    int c;
    optind = 0; /* glibc: 0 re-initialises getopt after main's "+" parse */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'q':
            o.queue = optarg;
            break;
        case 's':
            o.site = optarg;
            break;
        case 'u':
            o.user = optarg;
            break;
        case 'i':
            o.id = optarg;
            break;
        case 't':
            o.timeout = atof(optarg);
            break;
        case 'm':
            o.max_attempts = atol(optarg);
            break;
        case 'f':
            o.at_front = true;
            break;
        case 'w':
            o.wait = true;
            break;
        case 'W':
            o.wait_timeout = atof(optarg);
            break;
        case 'I':
            if ((ms = when_parse_in(optarg)) < 0)
                return die(CTL_USAGE, "--in takes a duration such as 30s, 5m, 2h or 1d, got \"%s\"",
                           optarg);
            o.due = now_ms() + ms;
            break;
        case 'A':
            if ((ms = when_parse_at(optarg)) < 0)
                return die(CTL_USAGE,
                           "--at takes an ISO-8601 time (2026-11-28T02:00:00Z) or epoch "
                           "seconds, got \"%s\"",
                           optarg);
            o.due = ms;
            break;
        case 'D':
            o.deduplicate = true;
            break;
        default:
            usage(stderr);
            return CTL_USAGE;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return CTL_USAGE;
    }
    const char *tool = argv[optind], *args_text = argv[optind + 1];
    json_error_t je;
    json_t *args = json_loads(args_text, JSON_REJECT_DUPLICATES, &je);
    if (!args || !json_is_object(args)) {
        json_decref(args);
        return die(CTL_USAGE, "JSON-ARGS must be a JSON object, e.g. '{\"doctype\": \"User\"}'%s%s",
                   args ? "" : ": ", args ? "" : je.text);
    }
    char idbuf[64], reply[FAC_KEY_MAX] = "";
    const char *id = o.id;
    if (!id) {
        random_id(idbuf, sizeof idbuf);
        id = idbuf;
    }
    if (!*id || strlen(id) > FAC_JOB_ID_MAX)
        return die(CTL_USAGE, "--id must have 1-%d bytes", FAC_JOB_ID_MAX);
    if (o.wait) snprintf(reply, sizeof reply, "%s:reply:%s", x->cfg->prefix, id);

    struct buf env = {0};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &env, buf_msgpack_write);
    int n = 5 + (o.site != NULL) + (o.user != NULL) + (o.timeout > 0) + (o.max_attempts > 0) +
            o.wait + o.deduplicate;
    msgpack_pack_map(&pk, (size_t)n);
    mp_pack_kv_int(&pk, "v", FAC_PROTOCOL_VERSION);
    pack_opt_str(&pk, "id", id);
    pack_opt_str(&pk, "tool", tool);
    mp_pack_cstr(&pk, "args");
    mpjson_pack_json(&env, args);
    mp_pack_kv_int(&pk, "enqueued_at", now_ms());
    pack_opt_str(&pk, "site", o.site);
    pack_opt_str(&pk, "user", o.user);
    if (o.timeout > 0) {
        mp_pack_cstr(&pk, "timeout");
        msgpack_pack_double(&pk, o.timeout);
    }
    if (o.max_attempts > 0) mp_pack_kv_int(&pk, "max_attempts", o.max_attempts);
    if (o.wait) pack_opt_str(&pk, "reply_to", reply);
    if (o.deduplicate) {
        mp_pack_cstr(&pk, "deduplicate");
        msgpack_pack_true(&pk);
    }
    json_decref(args);

    redisContext *qc = ctl_queue_conn(x, o.queue); /* the worker replies on the job's server */
    if (o.wait) freeReplyObject(redisCommand(qc, "DEL %s", reply));
    int rc = push(x, &o, id, &env);
    buf_free(&env);
    if (rc != CTL_OK && rc != CTL_NOT_REPLICATED) return rc;
    if (!o.wait) {
        puts(id); /* also when not replicated: it is enqueued */
        return rc;
    }
    struct timeval tv = {(time_t)o.wait_timeout + 5, 0};
    redisSetTimeout(qc, tv);
    redisReply *r = redisCommand(qc, "BLPOP %s %f", reply, o.wait_timeout);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        freeReplyObject(r);
        return die(CTL_WAIT_TIMEOUT,
                   "no result for job %s within %g s; it is still queued or "
                   "running: check with 'fac-ctl status %s'",
                   id, o.wait_timeout, id);
    }
    const redisReply *rec = r->element[1];
    print_msgpack_json(rec->str, rec->len);
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object obj;
    size_t off = 0;
    bool ok = msgpack_unpack(rec->str, rec->len, &off, &z, &obj) == MSGPACK_UNPACK_SUCCESS &&
              mp_str_eq(mp_get(&obj, "status"), FAC_ST_SUCCESS);
    msgpack_zone_destroy(&z);
    freeReplyObject(r);
    return ok ? CTL_OK : CTL_FAILED;
}

/* ---- status ---- */

bool element_has_id(const char *data, size_t len, const char *id)
{
    if (mp_check(data, len, FAC_MP_MAX_DEPTH_CAP) != MP_OK) return false;
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    msgpack_object o;
    size_t off = 0;
    bool yes = msgpack_unpack(data, len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS &&
               mp_str_eq(mp_get(&o, "id"), id);
    msgpack_zone_destroy(&z);
    return yes;
}

bool list_find(redisContext *c, const char *key, const char *id, struct buf *out)
{
    for (long start = 0;; start += 1000) {
        redisReply *r = redisCommand(c, "LRANGE %s %ld %ld", key, start, start + 999);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            return false;
        }
        for (size_t i = 0; i < r->elements; i++)
            if (element_has_id(r->element[i]->str, r->element[i]->len, id)) {
                if (out) buf_append(out, r->element[i]->str, r->element[i]->len);
                freeReplyObject(r);
                return true;
            }
        freeReplyObject(r);
    }
}

bool zset_find(redisContext *c, const char *key, const char *id, struct buf *out, int64_t *due)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "ZSCAN %s %s COUNT 1000", key, cursor);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return false;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *items = r->element[1];
        for (size_t i = 0; i + 1 < items->elements; i += 2)
            if (element_has_id(items->element[i]->str, items->element[i]->len, id)) {
                if (out) buf_append(out, items->element[i]->str, items->element[i]->len);
                if (due) *due = (int64_t)strtod(items->element[i + 1]->str, NULL);
                freeReplyObject(r);
                return true;
            }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return false;
}

bool scan_any(redisContext *c, const char *pattern, const char *id)
{
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            return false;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            if (list_find(c, r->element[1]->element[i]->str, id, NULL)) {
                freeReplyObject(r);
                return true;
            }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return false;
}

static int cmd_status(struct ctl *x, int argc, char **argv)
{
    if (argc != 2) {
        usage(stderr);
        return CTL_USAGE;
    }
    const char *id = argv[1];
    const char *prefix = x->cfg->prefix;
    char k[FAC_KEY_MAX];
    redisReply *r = NULL; /* the result is on its queue's server, which the id does not say */
    for (size_t s = 0; s < x->map.nservers && !(r && r->type == REDIS_REPLY_STRING); s++) {
        freeReplyObject(r);
        r = redisCommand(ctl_server(x, s), "GET %s", key_result(k, prefix, id, strlen(id)));
    }
    if (r && r->type == REDIS_REPLY_STRING) {
        msgpack_zone z;
        msgpack_zone_init(&z, 1024);
        msgpack_object o;
        size_t off = 0;
        bool read = msgpack_unpack(r->str, r->len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS;
        const msgpack_object *st = read ? mp_get(&o, "status") : NULL;
        puts(mp_str_eq(st, FAC_ST_SUCCESS)    ? "finished"
             : mp_str_eq(st, FAC_ST_CANCELED) ? "canceled"
                                              : "failed");
        msgpack_zone_destroy(&z);
        print_msgpack_json(r->str, r->len);
        freeReplyObject(r);
        return CTL_OK;
    }
    freeReplyObject(r);
    r = redisCommand(x->c, "ZSCORE %s %s", key_global(k, FAC_KEY_CANCELED, prefix), id);
    bool canceled = r && r->type == REDIS_REPLY_STRING && strtoll(r->str, NULL, 10) > now_ms();
    freeReplyObject(r);
    if (canceled) {
        puts("canceled"); /* not final yet: it will not run, or is being stopped */
        return CTL_OK;
    }
    for (size_t i = 0; i < x->cfg->nqueues; i++) {
        char pat[FAC_KEY_MAX];
        snprintf(pat, sizeof pat, "%s:{%s}:inflight:*", prefix, x->cfg->queues[i]);
        if (scan_any(ctl_queue_conn(x, x->cfg->queues[i]), pat, id)) {
            printf("running\n");
            return CTL_OK;
        }
    }
    for (size_t i = 0; i < x->cfg->nqueues; i++)
        if (list_find(ctl_queue_conn(x, x->cfg->queues[i]), key_ready(k, prefix, x->cfg->queues[i]),
                      id, NULL)) {
            printf("queued\n");
            return CTL_OK;
        }
    for (size_t i = 0; i < x->cfg->nqueues; i++) {
        int64_t due;
        if (zset_find(ctl_queue_conn(x, x->cfg->queues[i]),
                      key_delayed(k, prefix, x->cfg->queues[i]), id, NULL, &due)) {
            printf("scheduled\n{\"queue\":\"%s\",\"due_at\":%lld,\"due_in_ms\":%lld}\n",
                   x->cfg->queues[i], (long long)due, (long long)(due - now_ms()));
            return CTL_OK;
        }
    }
    for (size_t i = 0; i < x->cfg->nqueues; i++) {
        struct buf entry = {0};
        if (list_find(ctl_queue_conn(x, x->cfg->queues[i]), key_dead(k, prefix, x->cfg->queues[i]),
                      id, &entry)) {
            puts("dead");
            print_msgpack_json(entry.data, entry.len);
            buf_free(&entry);
            return CTL_OK;
        }
    }
    puts("unknown");
    return CTL_FAILED;
}

/* ---- stats ---- */

static long long llen(redisContext *c, const char *key)
{
    redisReply *r = redisCommand(c, "LLEN %s", key);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return n;
}

static long long inflight_total(struct ctl *x, const char *queue)
{
    redisContext *c = ctl_queue_conn(x, queue);
    char pat[FAC_KEY_MAX], cursor[32] = "0";
    long long total = 0;
    snprintf(pat, sizeof pat, "%s:{%s}:inflight:*", x->cfg->prefix, queue);
    do {
        redisReply *r = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pat);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++)
            total += llen(c, r->element[1]->element[i]->str);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return total;
}

json_t *stats_json(struct ctl *x)
{
    json_t *root = json_object(), *queues = json_array(), *workers = json_array();
    char k[FAC_KEY_MAX];
    for (size_t i = 0; i < x->cfg->nqueues; i++) {
        const char *q = x->cfg->queues[i];
        redisContext *c = ctl_queue_conn(x, q);
        json_array_append_new(queues,
                              json_pack("{s:s,s:I,s:I,s:I}", "name", q, "ready",
                                        (json_int_t)llen(c, key_ready(k, x->cfg->prefix, q)),
                                        "inflight", (json_int_t)inflight_total(x, q), "dead",
                                        (json_int_t)llen(c, key_dead(k, x->cfg->prefix, q))));
    }
    redisReply *r = redisCommand(x->c, "ZRANGE %s 0 -1 WITHSCORES", key_workers(k, x->cfg->prefix));
    int64_t now = srvclock_now_ms(x->c); /* heartbeats are on Redis's clock: srvclock.h */
    if (now < 0) now = now_ms();
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        const char *wid = r->element[i]->str;
        const char *colon = strrchr(wid, ':'); /* "<host_id>:<pid>" */
        json_t *w = json_pack("{s:s,s:s%,s:I}", "id", wid, "host", wid,
                              colon ? (size_t)(colon - wid) : strlen(wid), "heartbeat_age_ms",
                              (json_int_t)(now - atoll(r->element[i + 1]->str)));
        redisReply *h = redisCommand(x->c, "HGETALL %s", key_worker(k, x->cfg->prefix, wid));
        for (size_t j = 0; h && h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements; j += 2) {
            const char *f = h->element[j]->str, *v = h->element[j + 1]->str;
            bool numeric =
                strcmp(f, "host") && strcmp(f, "sup") && strcmp(f, "queues") && strcmp(f, "state");
            json_object_set_new(w, f, numeric ? json_integer(atoll(v)) : json_string(v));
        }
        freeReplyObject(h);
        json_array_append_new(workers, w);
    }
    freeReplyObject(r);
    json_object_set_new(root, "queues", queues);
    json_object_set_new(root, "hosts", stats_hosts(workers, x->cfg->dead_after));
    json_object_set_new(root, "workers", workers);
    return root;
}

static long long jint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static int cmd_stats(struct ctl *x, int argc, char **argv)
{
    bool as_json = argc == 2 && strcmp(argv[1], "--json") == 0;
    if (argc > 2 || (argc == 2 && !as_json)) {
        usage(stderr);
        return CTL_USAGE;
    }
    json_t *s = stats_json(x);
    if (as_json) {
        char *text = json_dumps(s, JSON_COMPACT);
        puts(text);
        free(text);
        json_decref(s);
        return CTL_OK;
    }
    size_t i;
    json_t *v;
    printf("%-16s %10s %10s %10s\n", "QUEUE", "READY", "INFLIGHT", "DEAD");
    json_array_foreach(json_object_get(s, "queues"), i, v)
        printf("%-16s %10lld %10lld %10lld\n", json_string_value(json_object_get(v, "name")),
               jint(v, "ready"), jint(v, "inflight"), jint(v, "dead"));
    print_hosts(s);
    json_decref(s);
    return CTL_OK;
}

redisContext *ctl_server(struct ctl *x, size_t server)
{
    enum redis_connect_status st;
    char err[1400];
    redisContext *c = shard_conn(&x->conns, server, &st, err, sizeof err);
    if (c) return c;
    die(st == REDIS_CONNECT_AUTH ? CTL_CONFIG : CTL_REDIS, "%s",
        err[0] ? err : "lost the connection to Redis");
    exit(st == REDIS_CONNECT_AUTH ? CTL_CONFIG : CTL_REDIS);
}

redisContext *ctl_queue_conn(struct ctl *x, const char *queue)
{
    return ctl_server(x, shard_of(x->cfg, &x->map, queue));
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"redis", required_argument, NULL, 'r'},
                                         {"prefix", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = NULL, *redis_url = NULL, *prefix = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "+c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'r':
            redis_url = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'h':
            usage(stdout);
            return CTL_OK;
        default:
            usage(stderr);
            return CTL_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return CTL_USAGE;
    }
    if (!path && access(DEFAULT_CONFIG, R_OK) == 0) path = DEFAULT_CONFIG;
    char err[2048];
    struct ctl x = {0};
    x.cfg = config_load(path, err, sizeof err);
    if (!x.cfg) return die(CTL_CONFIG, "%s", err);
    if (redis_url) {
        free(x.cfg->redis);
        x.cfg->redis = strdup(redis_url);
    }
    if (prefix) {
        free(x.cfg->prefix);
        x.cfg->prefix = strdup(prefix);
    }
    if (shard_map_build(x.cfg, &x.map, err, sizeof err)) return die(CTL_CONFIG, "%s", err);
    shard_conns_init(&x.conns, &x.map, 5.0, 0);
    x.c = ctl_server(&x, SHARD_HOME);
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    int rc;
    if (strcmp(cmd, "enqueue") == 0)
        rc = cmd_enqueue(&x, sub_argc, sub_argv);
    else if (strcmp(cmd, "status") == 0)
        rc = cmd_status(&x, sub_argc, sub_argv);
    else if (strcmp(cmd, "stats") == 0)
        rc = cmd_stats(&x, sub_argc, sub_argv);
    else if (strcmp(cmd, "top") == 0)
        rc = cmd_top(&x, sub_argc, sub_argv);
    else if (strcmp(cmd, "dead") == 0)
        rc = cmd_dead(&x, sub_argc, sub_argv);
    else if (strcmp(cmd, "cancel") == 0)
        rc = cmd_cancel(&x, sub_argc, sub_argv);
    else {
        usage(stderr);
        rc = CTL_USAGE;
    }
    shard_conns_close(&x.conns);
    shard_map_free(&x.map);
    config_free(x.cfg);
    return rc;
}
