/*
 * Config loader. Every key is an entry in a table (name, type, where it lands, bounds,
 * default), so checking, defaults and error messages come from one place and a new
 * key is one line. Objects (audit, tools.<name>, cron[i]) have tables of their own.
 */
#include "config.h"

#include "bench.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "log.h"
#include "redis.h"
#include "secrets.h"
#include "sqltpl.h"

/* T_OFFSTR: a string, or false meaning off (stored as ""). T_NUM: a plain number (double).
 * T_JSON: any JSON object, kept as compact text.
 * T_STRLIST: a char ** with its count at count_off and at least `min` items.
 * T_OBJ: a nested object with its own table. T_MAP: name → object, stored as an array
 * of elem_size structs whose first member is `char *name`, with its count at count_off.
 * T_LIST: an array of objects, stored the same way (a name, if any, is an entry).
 * T_TRI: true or false into an int, -1 when not given (a default decided later). */
enum cfg_type {
    T_STR,
    T_OFFSTR,
    T_INT,
    T_SIZE,
    T_SECS,
    T_NUM,
    T_BOOL,
    T_JSON,
    T_STRLIST,
    T_OBJ,
    T_MAP,
    T_LIST,
    T_TRI
};

struct ctx;

struct cfg_entry {
    const char *name;
    enum cfg_type type;
    size_t off;
    double min, max; /* bounds for numbers; T_STRLIST: min is the fewest items */
    double dnum;     /* default for numbers and bools */
    const char *dstr;
    const struct cfg_entry *sub; /* T_OBJ, T_MAP */
    size_t elem_size, count_off; /* T_MAP; count_off also for T_STRLIST */
    /* Tool keys only: the kinds that take this key (space-separated), NULL for all. */
    const char *kinds;
    /* T_STRLIST: a check of the whole list once read, or NULL. */
    int (*check)(struct ctx *x, const char *path, char **items, size_t n);
    /* T_MAP: an element given as a string instead of an object sets this key of it. */
    const char *shorthand;
};

#define TOP(f) offsetof(struct fac_config, f)
#define AUD(f) offsetof(struct audit_cfg, f)
#define TOOL(f) offsetof(struct tool_cfg, f)
#define SITE(f) offsetof(struct site_cfg, f)
#define SDB(f) offsetof(struct site_db_cfg, f)
#define CRON(f) offsetof(struct cron_cfg, f)
#define RETRY(f) offsetof(struct retry_cfg, f)
#define RWAIT(f) offsetof(struct redis_wait_cfg, f)
#define SHARD(f) offsetof(struct shard_cfg, f)
#define BIG 9.0e15

static const struct cfg_entry audit_entries[] = {
    {"to", T_STR, AUD(to), 0, 0, 0, "jsonl"},
    {"path", T_STR, AUD(path), 0, 0, 0, "fac-audit.jsonl"},
    {"batch", T_INT, AUD(batch), 1, 100000, 500, NULL},
    {"flush_ms", T_INT, AUD(flush_ms), 0, 60000, 50, NULL},
    {"spool", T_STR, AUD(spool), 0, 0, 0, "/var/spool/fac-worker"},
    {"db_timeout", T_SECS, AUD(db_timeout), 0.1, 3600, 5, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

#define KIND(k) NULL, NULL, 0, 0, (k)
#define LIST(f, nf, least, k) T_STRLIST, TOOL(f), (least), 0, 0, NULL, NULL, 0, TOOL(nf), (k)

/* docs/configuration.md `tools` and docs/executors.md explain each key. */
static const struct cfg_entry tool_entries[] = {
    {"kind", T_STR, TOOL(kind), 0, 0, 0, "builtin"},
    {"timeout", T_SECS, TOOL(timeout), 0.001, 31536000, 0, NULL},
    {"max_attempts", T_INT, TOOL(max_attempts), 1, 1000, 1, NULL},
    {"concurrency", T_INT, TOOL(concurrency), 0, 4096, 0, NULL},
    {"cache_ttl", T_SECS, TOOL(cache_ttl), 0, 31536000, 0, NULL},
    {"builtin", T_STR, TOOL(builtin), 0, 0, 0, KIND("builtin")},
    {"name", T_STR, TOOL(remote_name), 0, 0, 0, KIND("mcp")},
    {"url", T_STR, TOOL(url), 0, 0, 0, KIND("http")},
    {"max_records", T_INT, TOOL(max_records), 0, BIG, 0, KIND("mcp http sql")},
    {"connect_timeout", T_SECS, TOOL(connect_timeout), 0.001, 3600, 10, KIND("mcp http")},
    {"max_reply", T_SIZE, TOOL(max_reply), 1024, 1 << 30, 16 << 20, KIND("mcp http")},
    {"argv", LIST(argv, argc, 1, "exec")},
    {"env", LIST(env, nenv, 0, "exec")},
    {"cwd", T_STR, TOOL(cwd), 0, 0, 0, KIND("exec")},
    {"run_as", T_STR, TOOL(run_as), 0, 0, 0, KIND("exec")},
    {"memory_limit", T_SIZE, TOOL(memory_limit), 1 << 20, BIG, 0, KIND("exec")},
    {"cpu_limit", T_SECS, TOOL(cpu_limit), 1, 31536000, 0, KIND("exec")},
    {"max_procs", T_INT, TOOL(max_procs), 1, 1 << 22, 0, KIND("exec")},
    {"max_output", T_SIZE, TOOL(max_output), 1024, 1 << 30, 10 << 20, KIND("exec")},
    {"max_stderr", T_SIZE, TOOL(max_stderr), 256, 64 << 20, 64 << 10, KIND("exec")},
    {"kill_grace", T_SECS, TOOL(kill_grace), 0, 3600, -1, KIND("exec")},
    {"query", T_STR, TOOL(query), 0, 0, 0, KIND("sql")},
    {"roles", LIST(roles, nroles, 1, "sql")},
    {"replica", T_TRI, TOOL(replica), 0, 0, -1, KIND("sql")},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct cfg_entry site_db_entries[] = {
    {"host", T_STR, SDB(host), 0, 0, 0, "127.0.0.1"},
    {"port", T_INT, SDB(port), 1, 65535, 3306, NULL},
    {"socket", T_STR, SDB(socket), 0, 0, 0, NULL},
    {"name", T_STR, SDB(name), 0, 0, 0, NULL},
    {"user", T_STR, SDB(user), 0, 0, 0, NULL},
    {"password", T_STR, SDB(password), 0, 0, 0, NULL},
    {"password_file", T_STR, SDB(password_file), 0, 0, 0, NULL},
    {"ssl", T_BOOL, SDB(ssl), 0, 0, 0, NULL},
    {"ssl_ca", T_STR, SDB(ssl_ca), 0, 0, 0, NULL},
    {"ssl_cert", T_STR, SDB(ssl_cert), 0, 0, 0, NULL},
    {"ssl_key", T_STR, SDB(ssl_key), 0, 0, 0, NULL},
    {"ssl_verify_server_cert", T_TRI, SDB(ssl_verify_server_cert), 0, 0, -1, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

/* The same keys, with no host or port of their own: finish_replica fills what is not
 * given from the site's db. */
static const struct cfg_entry site_replica_entries[] = {
    {"host", T_STR, SDB(host), 0, 0, 0, NULL},
    {"port", T_INT, SDB(port), 1, 65535, 0, NULL},
    {"socket", T_STR, SDB(socket), 0, 0, 0, NULL},
    {"name", T_STR, SDB(name), 0, 0, 0, NULL},
    {"user", T_STR, SDB(user), 0, 0, 0, NULL},
    {"password", T_STR, SDB(password), 0, 0, 0, NULL},
    {"password_file", T_STR, SDB(password_file), 0, 0, 0, NULL},
    {"ssl", T_BOOL, SDB(ssl), 0, 0, 0, NULL},
    {"ssl_ca", T_STR, SDB(ssl_ca), 0, 0, 0, NULL},
    {"ssl_cert", T_STR, SDB(ssl_cert), 0, 0, 0, NULL},
    {"ssl_key", T_STR, SDB(ssl_key), 0, 0, 0, NULL},
    {"ssl_verify_server_cert", T_TRI, SDB(ssl_verify_server_cert), 0, 0, -1, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct cfg_entry site_entries[] = {
    {"url", T_STR, SITE(url), 0, 0, 0, NULL},
    {"api_key", T_STR, SITE(api_key), 0, 0, 0, NULL},
    {"api_secret", T_STR, SITE(api_secret), 0, 0, 0, NULL},
    {"api_secret_file", T_STR, SITE(api_secret_file), 0, 0, 0, NULL},
    {"db", T_OBJ, SITE(db), 0, 0, 0, NULL, site_db_entries, 0, 0},
    {"replica", T_OBJ, SITE(replica), 0, 0, 0, NULL, site_replica_entries, 0, 0},
    {"read_from_replica", T_BOOL, SITE(read_from_replica), 0, 0, 0, NULL},
    {"replica_fallback", T_BOOL, SITE(replica_fallback), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static int check_queue_names(struct ctx *x, const char *path, char **items, size_t n);

static const struct cfg_entry cron_entries[] = {
    {"name", T_STR, CRON(name), 0, 0, 0, NULL},
    {"schedule", T_STR, CRON(schedule), 0, 0, 0, NULL},
    {"tool", T_STR, CRON(tool), 0, 0, 0, NULL},
    {"args", T_JSON, CRON(args), 0, 0, 0, "{}"},
    {"queue", T_STR, CRON(queue), 0, 0, 0, "default"},
    {"site", T_STR, CRON(site), 0, 0, 0, NULL},
    {"user", T_STR, CRON(user), 0, 0, 0, NULL},
    {"max_attempts", T_INT, CRON(max_attempts), 1, 1000, 0, NULL},
    {"timeout", T_SECS, CRON(timeout), 0.001, 31536000, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct cfg_entry shard_entries[] = {
    {"redis", T_STR, SHARD(redis), 0, 0, 0, NULL},
    {"redis_password_file", T_STR, SHARD(redis_password_file), 0, 0, 0, NULL},
    {"redis_sentinels", T_STRLIST, SHARD(redis_sentinels), 1, 0, 0, NULL, NULL, 0,
     SHARD(nredis_sentinels), NULL, NULL},
    {"redis_master", T_STR, SHARD(redis_master), 0, 0, 0, NULL},
    {"redis_sentinel_password_file", T_STR, SHARD(redis_sentinel_password_file), 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct cfg_entry retry_entries[] = {
    {"base", T_SECS, RETRY(base), 0.001, 86400, 1, NULL},
    {"max", T_SECS, RETRY(max), 0.001, 604800, 300, NULL},
    {"jitter", T_NUM, RETRY(jitter), 0, 1, 0.25, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct cfg_entry redis_wait_entries[] = {
    {"replicas", T_INT, RWAIT(replicas), 0, 16, 0, NULL},
    {"timeout_ms", T_INT, RWAIT(timeout_ms), 1, 60000, 100, NULL},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const struct cfg_entry top_entries[] = {
    {"bench_path", T_STR, TOP(bench_path), 0, 0, 0, NULL},
    {"redis", T_STR, TOP(redis), 0, 0, 0, "redis://127.0.0.1:11000/0"},
    {"redis_password_file", T_STR, TOP(redis_password_file), 0, 0, 0, NULL},
    {"redis_sentinels", T_STRLIST, TOP(redis_sentinels), 1, 0, 0, NULL, NULL, 0,
     TOP(nredis_sentinels), NULL, NULL},
    {"redis_master", T_STR, TOP(redis_master), 0, 0, 0, NULL},
    {"redis_sentinel_password_file", T_STR, TOP(redis_sentinel_password_file), 0, 0, 0, NULL},
    {"redis_wait", T_OBJ, TOP(redis_wait), 0, 0, 0, NULL, redis_wait_entries, 0, 0},
    {"redis_shards", T_MAP, TOP(shards), 0, 0, 0, NULL, shard_entries, sizeof(struct shard_cfg),
     TOP(nshards), NULL, NULL, "redis"},
    {"prefix", T_STR, TOP(prefix), 0, 0, 0, "fac"},
    {"queues", T_STRLIST, TOP(queues), 1, 0, 0, NULL, NULL, 0, TOP(nqueues), NULL,
     check_queue_names},
    {"host_id", T_STR, TOP(host_id), 0, 0, 0, NULL},
    {"workers", T_INT, TOP(workers), 1, 1024, 2, NULL},
    {"concurrency", T_INT, TOP(concurrency), 1, 4096, 16, NULL},
    {"max_memory", T_SIZE, TOP(max_memory), 1 << 20, BIG, 256 << 20, NULL},
    {"max_memory_hard", T_SIZE, TOP(max_memory_hard), 1 << 20, BIG, 0, NULL},
    {"max_jobs", T_INT, TOP(max_jobs), 0, BIG, 50000, NULL},
    {"shutdown_timeout", T_SECS, TOP(shutdown_timeout), 0, 86400, 25, NULL},
    {"heartbeat_timeout", T_SECS, TOP(heartbeat_timeout), 0.2, 86400, 30, NULL},
    {"kill_grace", T_SECS, TOP(kill_grace), 0, 3600, 5, NULL},
    {"result_ttl", T_SECS, TOP(result_ttl), 1, 31536000, 600, NULL},
    {"reply_ttl", T_SECS, TOP(reply_ttl), 1, 86400, 60, NULL},
    {"max_payload", T_SIZE, TOP(max_payload), 64, 512 << 20, 16 << 20, NULL},
    {"dead_max", T_INT, TOP(dead_max), 1, BIG, 10000, NULL},
    {"tool_timeout", T_SECS, TOP(tool_timeout), 0.001, 31536000, 60, NULL},
    {"test_tools", T_BOOL, TOP(test_tools), 0, 0, 0, NULL},
    {"log_file", T_STR, TOP(log_file), 0, 0, 0, NULL},
    {"log_level", T_STR, TOP(log_level), 0, 0, 0, "info"},
    {"log_format", T_STR, TOP(log_format), 0, 0, 0, "text"},
    {"metrics", T_OFFSTR, TOP(metrics), 0, 0, 0, "127.0.0.1:9187"},
    {"audit", T_OBJ, TOP(audit), 0, 0, 0, NULL, audit_entries, 0, 0},
    {"scheduler", T_BOOL, TOP(scheduler), 0, 0, 0, NULL},
    {"dead_after", T_SECS, TOP(dead_after), 1, 86400, 30, NULL},
    {"retry_backoff", T_OBJ, TOP(retry_backoff), 0, 0, 0, NULL, retry_entries, 0, 0},
    {"cron", T_LIST, TOP(cron), 0, 0, 0, NULL, cron_entries, sizeof(struct cron_cfg), TOP(ncron)},
    {"tools", T_MAP, TOP(tools), 0, 0, 0, NULL, tool_entries, sizeof(struct tool_cfg), TOP(ntools)},
    {"sites", T_MAP, TOP(sites), 0, 0, 0, NULL, site_entries, sizeof(struct site_cfg), TOP(nsites)},
    {NULL, 0, 0, 0, 0, 0, NULL},
};

static const char *const safe_builtins[] = {"echo", "noop", "sleep", "fail", NULL};
static const char *const test_builtins[] = {"leak", "hang", NULL};

struct ctx {
    const char *file;
    char *err;
    size_t errlen;
};

static int fail(struct ctx *x, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *x, const char *path, const char *fmt, ...)
{
    int n = snprintf(x->err, x->errlen, "%s: %s%s", x->file, path ? path : "", path ? ": " : "");
    if (n < 0 || (size_t)n >= x->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err + n, x->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

int64_t config_parse_size(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < 0) return -1;
    while (*end == ' ')
        end++;
    double mult = 1;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        mult = 1024.0;
        end++;
        break;
    case 'M':
        mult = 1024.0 * 1024;
        end++;
        break;
    case 'G':
        mult = 1024.0 * 1024 * 1024;
        end++;
        break;
    case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        end++;
        break;
    default:
        break;
    }
    if (toupper((unsigned char)*end) == 'I') end++; /* MiB */
    if (toupper((unsigned char)*end) == 'B') end++;
    if (*end) return -1;
    v *= mult;
    return v > BIG ? -1 : (int64_t)v;
}

static int set_number(struct ctx *x, const char *path, const struct cfg_entry *e, json_t *v,
                      double *out)
{
    if (e->type == T_SIZE && json_is_string(v)) {
        int64_t n = config_parse_size(json_string_value(v));
        if (n < 0)
            return fail(x, path, "\"%s\" is not a size: write bytes or e.g. \"512MB\"",
                        json_string_value(v));
        *out = (double)n;
    } else if (json_is_number(v)) {
        *out = json_number_value(v);
    } else {
        const char *want = e->type == T_SIZE   ? "a size (bytes or \"512MB\")"
                           : e->type == T_SECS ? "a number of seconds"
                           : e->type == T_NUM  ? "a number"
                                               : "an integer";
        return fail(x, path, "expected %s, got %s", want, json_kind(v));
    }
    if (!(*out >= e->min && *out <= e->max))
        return fail(x, path, "%g is out of range [%g, %g]", *out, e->min, e->max);
    if ((e->type == T_INT || e->type == T_SIZE) && *out != (double)(int64_t)*out)
        return fail(x, path, "expected a whole number, got %g", *out);
    return 0;
}

static int parse_table(struct ctx *x, const char *prefix, const struct cfg_entry *tab, json_t *obj,
                       void *base);
static void apply_defaults(const struct cfg_entry *tab, void *base);

static int parse_strlist(struct ctx *x, const char *path, const struct cfg_entry *e, json_t *v,
                         void *base)
{
    if (!json_is_array(v))
        return fail(x, path, "expected an array of strings, got %s", json_kind(v));
    size_t n = json_array_size(v);
    if (n < (size_t)e->min) return fail(x, path, "expected a non-empty array, got an empty array");
    char **items = calloc(n + 1, sizeof *items); /* NULL-terminated, as execve wants argv */
    *(char ***)((char *)base + e->off) = items;
    *(size_t *)((char *)base + e->count_off) = n;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(v, i));
        if (!s) return fail(x, path, "item %zu must be a string", i);
        items[i] = strdup(s);
    }
    return e->check ? e->check(x, path, items, n) : 0;
}

static int check_queue_names(struct ctx *x, const char *path, char **items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *s = items[i];
        if (!*s || strlen(s) > 64 || strpbrk(s, "{} \t\r\n"))
            return fail(x, path,
                        "item %zu must be a queue name of 1-64 characters without "
                        "braces or spaces",
                        i);
        for (size_t k = 0; k < i; k++)
            if (strcmp(items[k], s) == 0) return fail(x, path, "queue \"%s\" is listed twice", s);
    }
    return 0;
}

static bool in_list(const char *const *list, const char *s)
{
    for (; *list; list++)
        if (strcmp(*list, s) == 0) return true;
    return false;
}

/* Allocates the n elements of a T_MAP or T_LIST field, each with its defaults. */
static char *alloc_elems(const struct cfg_entry *e, void *base, size_t n)
{
    char *arr = calloc(n ? n : 1, e->elem_size);
    *(void **)((char *)base + e->off) = arr;
    *(size_t *)((char *)base + e->count_off) = n;
    for (size_t i = 0; i < n; i++)
        apply_defaults(e->sub, arr + e->elem_size * i);
    return arr;
}

static int parse_elem(struct ctx *x, const char *path, const struct cfg_entry *e, json_t *t,
                      char *elem)
{
    if (e->shorthand && json_is_string(t)) {
        json_t *obj = json_pack("{sO}", e->shorthand, t);
        int rc = parse_table(x, path, e->sub, obj, elem);
        json_decref(obj);
        return rc;
    }
    if (!json_is_object(t))
        return fail(x, path, "expected %s, got %s",
                    e->shorthand ? "a string or an object" : "an object", json_kind(t));
    return parse_table(x, path, e->sub, t, elem);
}

static int parse_map(struct ctx *x, const char *path, const struct cfg_entry *e, json_t *v,
                     void *base)
{
    if (!json_is_object(v)) return fail(x, path, "expected an object, got %s", json_kind(v));
    char *arr = alloc_elems(e, base, json_object_size(v));
    size_t i = 0;
    const char *name;
    json_t *t;
    json_object_foreach(v, name, t)
    {
        char sub[512];
        snprintf(sub, sizeof sub, "%.255s.%.200s", path, name);
        char *elem = arr + e->elem_size * i++;
        *(char **)elem = strdup(name);
        if (!config_name_ok(name)) {
            for (char *c = sub; *c; c++) /* the message stays one printable line */
                if (!isprint((unsigned char)*c)) *c = '?';
            return fail(x, sub, FAC_NAME_RULE);
        }
        if (parse_elem(x, sub, e, t, elem)) return -1;
    }
    return 0;
}

static int parse_list(struct ctx *x, const char *path, const struct cfg_entry *e, json_t *v,
                      void *base)
{
    if (!json_is_array(v))
        return fail(x, path, "expected an array of objects, got %s", json_kind(v));
    char *arr = alloc_elems(e, base, json_array_size(v));
    for (size_t i = 0; i < json_array_size(v); i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%.255s[%zu]", path, i);
        if (parse_elem(x, sub, e, json_array_get(v, i), arr + e->elem_size * i)) return -1;
    }
    return 0;
}

static int parse_entry(struct ctx *x, const char *path, const struct cfg_entry *e, json_t *v,
                       void *base)
{
    char *field = (char *)base + e->off;
    double d;
    switch (e->type) {
    case T_STR:
    case T_OFFSTR:
        if (e->type == T_OFFSTR && json_is_false(v))
            v = json_string("");
        else if (!json_is_string(v))
            return fail(x, path, "expected a string%s, got %s",
                        e->type == T_OFFSTR ? " or false" : "", json_kind(v));
        else
            json_incref(v);
        free(*(char **)field);
        *(char **)field = strdup(json_string_value(v));
        json_decref(v);
        return 0;
    case T_BOOL:
        if (!json_is_boolean(v))
            return fail(x, path, "expected true or false, got %s", json_kind(v));
        *(bool *)field = json_is_true(v);
        return 0;
    case T_TRI:
        if (!json_is_boolean(v))
            return fail(x, path, "expected true or false, got %s", json_kind(v));
        *(int *)field = json_is_true(v) ? 1 : 0;
        return 0;
    case T_INT:
    case T_SIZE:
        if (set_number(x, path, e, v, &d)) return -1;
        *(int64_t *)field = (int64_t)d;
        return 0;
    case T_SECS:
    case T_NUM:
        if (set_number(x, path, e, v, &d)) return -1;
        *(double *)field = d;
        return 0;
    case T_JSON:
        if (!json_is_object(v)) return fail(x, path, "expected an object, got %s", json_kind(v));
        free(*(char **)field);
        *(char **)field = json_dumps(v, JSON_COMPACT);
        return 0;
    case T_STRLIST:
        return parse_strlist(x, path, e, v, base);
    case T_OBJ:
        if (!json_is_object(v)) return fail(x, path, "expected an object, got %s", json_kind(v));
        return parse_table(x, path, e->sub, v, field);
    case T_MAP:
        return parse_map(x, path, e, v, base);
    case T_LIST:
        return parse_list(x, path, e, v, base);
    }
    return fail(x, path, "internal: unknown entry type");
}

static void list_names(const struct cfg_entry *tab, char *out, size_t outlen)
{
    size_t n = 0;
    out[0] = '\0';
    for (const struct cfg_entry *e = tab; e->name && n < outlen; e++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", n ? ", " : "", e->name);
}

static int parse_table(struct ctx *x, const char *prefix, const struct cfg_entry *tab, json_t *obj,
                       void *base)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        char path[256];
        snprintf(path, sizeof path, "%s%s%s", prefix ? prefix : "", prefix ? "." : "", key);
        const struct cfg_entry *e = tab;
        while (e->name && strcmp(e->name, key) != 0)
            e++;
        if (!e->name) {
            char known[1024];
            list_names(tab, known, sizeof known);
            return fail(x, path, "unknown key (known keys here: %s)", known);
        }
        if (parse_entry(x, path, e, v, base)) return -1;
    }
    return 0;
}

/* Defaults come from the same tables, before the file is applied. */
static void apply_defaults(const struct cfg_entry *tab, void *base)
{
    for (const struct cfg_entry *e = tab; e->name; e++) {
        char *field = (char *)base + e->off;
        switch (e->type) {
        case T_STR:
        case T_OFFSTR:
        case T_JSON:
            *(char **)field = e->dstr ? strdup(e->dstr) : NULL;
            break;
        case T_BOOL:
            *(bool *)field = e->dnum != 0;
            break;
        case T_TRI:
            *(int *)field = -1;
            break;
        case T_INT:
        case T_SIZE:
            *(int64_t *)field = (int64_t)e->dnum;
            break;
        case T_SECS:
        case T_NUM:
            *(double *)field = e->dnum;
            break;
        case T_OBJ:
            apply_defaults(e->sub, field);
            break;
        case T_STRLIST:
        case T_MAP:
        case T_LIST:
            break; /* empty unless given; finish() fills queues and tools */
        }
    }
}

static void default_queues(struct fac_config *c)
{
    static const char *const q[] = {"short", "default", "long"};
    c->nqueues = 3;
    c->queues = calloc(3, sizeof *c->queues);
    for (int i = 0; i < 3; i++)
        c->queues[i] = strdup(q[i]);
}

static void default_tools(struct fac_config *c)
{
    c->ntools = 4;
    c->tools = calloc(4, sizeof *c->tools);
    for (size_t i = 0; i < 4; i++) {
        apply_defaults(tool_entries, &c->tools[i]);
        c->tools[i].name = strdup(safe_builtins[i]);
    }
}

bool config_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 120 || name[0] == '.') return false;
    for (const char *s = name; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("._-@+", *s)) return false;
    return true;
}

static bool ident_ok(const char *s, size_t max)
{
    if (!s || !*s || strlen(s) > max) return false;
    for (; *s; s++)
        if (!isgraph((unsigned char)*s) || *s == '{' || *s == '}') return false;
    return true;
}

static const char *const tool_kinds[] = {"builtin", "mcp", "http", "exec", "sql", NULL};

static bool kind_takes(const char *kinds, const char *kind)
{
    size_t n = strlen(kind);
    for (const char *p = kinds; (p = strstr(p, kind)); p += n)
        if ((p == kinds || p[-1] == ' ') && (p[n] == ' ' || !p[n])) return true;
    return false;
}

/* Whether the file gave a key a value other than its default. */
static bool entry_is_set(const struct cfg_entry *e, const void *base)
{
    const char *field = (const char *)base + e->off;
    switch (e->type) {
    case T_STR:
    case T_OFFSTR:
        return *(char *const *)field != NULL;
    case T_STRLIST:
        return *(char **const *)field != NULL;
    case T_INT:
    case T_SIZE:
        return *(const int64_t *)field != (int64_t)e->dnum;
    case T_SECS:
        return *(const double *)field != e->dnum;
    case T_TRI:
        return *(const int *)field != -1;
    default:
        return false;
    }
}

static int check_kind_keys(struct ctx *x, const char *path, const struct tool_cfg *t)
{
    if (!in_list(tool_kinds, t->kind))
        return fail(x, path,
                    "kind \"%s\" is not supported by this build (supported: builtin, "
                    "mcp, http, exec, sql)",
                    t->kind);
    for (const struct cfg_entry *e = tool_entries; e->name; e++)
        if (e->kinds && !kind_takes(e->kinds, t->kind) && entry_is_set(e, t))
            return fail(x, path, "\"%s\" does not apply to a %s tool (only to: %s)", e->name,
                        t->kind, e->kinds);
    return 0;
}

static int finish_builtin(struct ctx *x, const struct fac_config *c, const char *path,
                          struct tool_cfg *t)
{
    if (!t->builtin) t->builtin = strdup(t->name);
    if (in_list(test_builtins, t->builtin) && !c->test_tools)
        return fail(x, path,
                    "builtin \"%s\" is for tests only: set \"test_tools\": true "
                    "to allow it",
                    t->builtin);
    if (!in_list(safe_builtins, t->builtin) && !in_list(test_builtins, t->builtin))
        return fail(x, path,
                    "unknown builtin \"%s\" (known: echo, noop, sleep, fail, leak, "
                    "hang); set \"builtin\" to one of them",
                    t->builtin);
    return 0;
}

/* "name", "uid" or "uid:gid" → ids; a name takes its primary group. */
static int resolve_run_as(struct ctx *x, const char *path, struct tool_cfg *t)
{
    char *end;
    unsigned long uid = strtoul(t->run_as, &end, 10);
    if (end != t->run_as && (*end == '\0' || *end == ':')) {
        unsigned long gid = uid;
        if (*end == ':') {
            const char *g = end + 1;
            gid = strtoul(g, &end, 10);
            if (end == g || *end) return fail(x, path, "write \"uid:gid\" with two numbers");
        }
        t->run_uid = (uid_t)uid;
        t->run_gid = (gid_t)gid;
    } else {
        struct passwd *pw = getpwnam(t->run_as);
        if (!pw)
            return fail(x, path, "no user \"%s\" on this host: create it or give \"uid:gid\"",
                        t->run_as);
        t->run_uid = pw->pw_uid;
        t->run_gid = pw->pw_gid;
        /* initgroups(3)'s list, read now: NSS is not for a forked child */
        int n = FAC_RUN_AS_GROUPS_MAX;
        if (getgrouplist(pw->pw_name, pw->pw_gid, t->run_groups, &n) < 0)
            return fail(x, path,
                        "user \"%s\" is in more than %d groups: give \"uid:gid\" (no "
                        "supplementary groups) or a user with fewer",
                        t->run_as, FAC_RUN_AS_GROUPS_MAX);
        t->nrun_groups = n;
    }
    t->has_run_as = true;
    return 0;
}

static int finish_exec(struct ctx *x, const struct fac_config *c, const char *path,
                       struct tool_cfg *t)
{
    char sub[320];
    snprintf(sub, sizeof sub, "%s.argv", path);
    if (!t->argv) return fail(x, sub, "an exec tool needs argv: the program and its arguments");
    if (t->argv[0][0] != '/')
        return fail(x, sub,
                    "\"%s\" must be an absolute path (e.g. /usr/bin/%s): exec tools never "
                    "search PATH nor resolve a path against the working directory",
                    t->argv[0], t->argv[0]);
    if (t->kill_grace < 0) t->kill_grace = c->kill_grace;
    snprintf(sub, sizeof sub, "%s.run_as", path);
    if (t->run_as && resolve_run_as(x, sub, t)) return -1;
    snprintf(sub, sizeof sub, "%s.max_procs", path);
    if (t->max_procs && geteuid() == 0 && (!t->has_run_as || t->run_uid == 0))
        return fail(x, sub,
                    "RLIMIT_NPROC does not hold processes of root: set \"run_as\" to a "
                    "dedicated user");
    return 0;
}

#define SQL_DEFAULT_MAX_RECORDS 1000

static int finish_sql(struct ctx *x, const char *path, struct tool_cfg *t)
{
    char sub[320], why[512];
    snprintf(sub, sizeof sub, "%s.query", path);
    if (!t->query)
        return fail(x, sub, "an sql tool needs query: a SELECT with %%(name)s placeholders");
    if (sqltpl_check(t->query, why, sizeof why)) return fail(x, sub, "%s", why);
    if (!t->max_records) t->max_records = SQL_DEFAULT_MAX_RECORDS;
    return 0;
}

static int finish_tool(struct ctx *x, const struct fac_config *c, struct tool_cfg *t)
{
    char path[256];
    snprintf(path, sizeof path, "tools.%s", t->name);
    if (check_kind_keys(x, path, t)) return -1;
    if (t->timeout <= 0) t->timeout = c->tool_timeout;
    if (strcmp(t->kind, "builtin") == 0) return finish_builtin(x, c, path, t);
    if (strcmp(t->kind, "exec") == 0) return finish_exec(x, c, path, t);
    if (strcmp(t->kind, "sql") == 0) return finish_sql(x, path, t);
    if (strcmp(t->kind, "http") == 0) {
        char sub[320];
        snprintf(sub, sizeof sub, "%s.url", path);
        if (!t->url)
            return fail(x, sub,
                        "an http tool needs url: a path such as "
                        "/api/method/myapp.api.run, or a full http(s):// URL");
        if (t->url[0] != '/' && strncmp(t->url, "http://", 7) && strncmp(t->url, "https://", 8))
            return fail(x, sub, "must start with /, http:// or https://");
    }
    return 0;
}

static bool is_queue(const struct fac_config *c, const char *q)
{
    for (size_t i = 0; i < c->nqueues; i++)
        if (strcmp(c->queues[i], q) == 0) return true;
    return false;
}

/* A shard names a served queue and says where its Redis is. */
static int check_shard(struct ctx *x, const struct fac_config *c, const struct shard_cfg *sh)
{
    char path[256];
    snprintf(path, sizeof path, "redis_shards.%.200s", sh->queue);
    if (!is_queue(c, sh->queue))
        return fail(x, path,
                    "\"%s\" is not in \"queues\": add it to \"queues\" or remove it from "
                    "\"redis_shards\"",
                    sh->queue);
    if (!sh->redis)
        return fail(x, path,
                    "needs \"redis\": a URL string (\"redis://host:port/db\") or an object "
                    "{\"redis\": URL, \"redis_password_file\": PATH}");
    struct redis_target t;
    char why[512];
    int bad = redis_target_parse(sh->redis, NULL, &t, why, sizeof why);
    memset(&t, 0, sizeof t); /* the password, if the URL holds one */
    if (bad) return fail(x, path, "%s", why);
    char prefix[260];
    snprintf(prefix, sizeof prefix, "%s.", path);
    struct redis_sentinel_cfg sc = config_shard_sentinel_cfg(sh, prefix);
    if (redis_sentinel_check(&sc, sh->redis, why, sizeof why)) return fail(x, NULL, "%s", why);
    return 0;
}

/* A cron entry needs a name usable in a key, a schedule that fires, a configured tool
 * and a served queue. */
static int check_cron_entry(struct ctx *x, struct fac_config *c, size_t i)
{
    struct cron_cfg *e = &c->cron[i];
    char path[64], why[256];
    snprintf(path, sizeof path, "cron[%zu]", i);
    if (!e->name || !e->schedule || !e->tool)
        return fail(x, path, "needs \"name\", \"schedule\" and \"tool\"");
    if (!ident_ok(e->name, 100)) /* it is part of job ids: cron:<name>:<slot> */
        return fail(x, path,
                    "name \"%s\" must be 1-100 printable characters without spaces "
                    "or braces",
                    e->name);
    for (size_t k = 0; k < i; k++)
        if (strcmp(c->cron[k].name, e->name) == 0)
            return fail(x, path, "name \"%s\" is used twice", e->name);
    snprintf(path, sizeof path, "cron[%zu].schedule", i);
    if (cron_parse(e->schedule, &e->expr, why, sizeof why)) return fail(x, path, "%s", why);
    if (cron_next(&e->expr, (int64_t)time(NULL)) < 0)
        return fail(x, path, "\"%s\" never fires (no such date)", e->schedule);
    snprintf(path, sizeof path, "cron[%zu].tool", i);
    if (!config_tool(c, e->tool, strlen(e->tool)))
        return fail(x, path, "\"%s\" is not a configured tool: add it to \"tools\"", e->tool);
    snprintf(path, sizeof path, "cron[%zu].queue", i);
    if (!is_queue(c, e->queue))
        return fail(x, path, "\"%s\" is not in \"queues\": name a served queue", e->queue);
    return 0;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static bool tls_given(const struct site_db_cfg *d)
{
    return d->ssl || d->ssl_ca || d->ssl_cert || d->ssl_key || d->ssl_verify_server_cert != -1;
}

/* A client certificate needs its key and the other way round; `what` is "db" or
 * "replica". */
static int check_tls(struct ctx *x, const struct site_cfg *s, const char *what,
                     const struct site_db_cfg *d)
{
    char path[320];
    snprintf(path, sizeof path, "sites.%s.%s.%s", s->name, what,
             d->ssl_cert ? "ssl_key" : "ssl_cert");
    if (!d->ssl_cert != !d->ssl_key)
        return fail(x, path,
                    "a client certificate needs both ssl_cert and ssl_key (PEM files); "
                    "give both or neither");
    return 0;
}

/* The replica's keys not given are the primary's: the same database, user, password
 * and TLS settings (as Frappe's connect_replica uses db_name and db_password unless
 * told otherwise); only where it is must be given. */
static int finish_replica(struct ctx *x, struct site_cfg *s)
{
    struct site_db_cfg *r = &s->replica;
    const struct site_db_cfg *d = &s->db;
    char path[320];
    s->has_replica = r->host || r->socket;
    snprintf(path, sizeof path, "sites.%s.replica", s->name);
    if (!s->has_replica &&
        (r->name || r->user || r->password || r->password_file || r->port || tls_given(r)))
        return fail(x, path, "a replica needs host (or socket): where the read-only server is");
    if (!s->has_replica) {
        snprintf(path, sizeof path, "sites.%s.read_from_replica", s->name);
        if (s->read_from_replica)
            return fail(x, path,
                        "the site has no replica: set sites.%s.replica.host (Frappe: "
                        "replica_host), or drop read_from_replica",
                        s->name);
        return 0;
    }
    if (!r->port) r->port = d->port;
    if (!r->user) r->user = dup_or_null(r->name ? r->name : d->user);
    if (!r->name) r->name = dup_or_null(d->name);
    if (!r->password && !r->password_file) {
        r->password = dup_or_null(d->password);
        r->password_file = dup_or_null(d->password_file);
    }
    if (!tls_given(r)) {
        r->ssl = d->ssl;
        r->ssl_ca = dup_or_null(d->ssl_ca);
        r->ssl_cert = dup_or_null(d->ssl_cert);
        r->ssl_key = dup_or_null(d->ssl_key);
        r->ssl_verify_server_cert = d->ssl_verify_server_cert;
    }
    if (!r->name)
        return fail(x, path,
                    "the replica has no database name: set sites.%s.db.name (or "
                    "replica.name)",
                    s->name);
    return check_tls(x, s, "replica", r);
}

static int finish_site(struct ctx *x, struct site_cfg *s)
{
    char path[256];
    snprintf(path, sizeof path, "sites.%s.url", s->name);
    if (s->url && strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8))
        return fail(x, path, "must start with http:// or https://");
    if (!s->db.user && s->db.name) s->db.user = strdup(s->db.name); /* Frappe's convention */
    if (check_tls(x, s, "db", &s->db)) return -1;
    return finish_replica(x, s);
}

/* Cross-field checks and derived values, after all keys are read. */
static int finish(struct ctx *x, struct fac_config *c)
{
    if (!c->queues) default_queues(c);
    if (!c->tools) default_tools(c);
    if (!c->host_id) {
        char h[256] = "localhost";
        gethostname(h, sizeof h - 1);
        c->host_id = strdup(h);
    }
    if (!ident_ok(c->prefix, 64))
        return fail(x, "prefix", "must be 1-64 printable characters without spaces or braces");
    if (!ident_ok(c->host_id, 64) || strpbrk(c->host_id, "/:"))
        return fail(x, "host_id",
                    "must be 1-64 printable characters without spaces, braces, '/' or ':' "
                    "(it is part of worker ids and spool file names)");
    if (!c->max_memory_hard) c->max_memory_hard = 2 * c->max_memory;
    if (c->max_memory_hard < c->max_memory)
        return fail(x, "max_memory_hard", "must not be below max_memory");
    if (strcmp(c->log_level, "debug") && strcmp(c->log_level, "info") &&
        strcmp(c->log_level, "warn") && strcmp(c->log_level, "error"))
        return fail(x, "log_level", "\"%s\" is not one of debug, info, warn, error", c->log_level);
    if (log_format_parse(c->log_format, &(enum log_format){0}))
        return fail(x, "log_format", "\"%s\" is not one of text, json", c->log_format);
    char why[512];
    struct redis_sentinel_cfg sc = config_sentinel_cfg(c);
    if (redis_sentinel_check(&sc, c->redis, why, sizeof why)) return fail(x, NULL, "%s", why);
    if (*c->metrics && addr_parse(c->metrics, NULL, why, sizeof why))
        return fail(x, "metrics", "%s; or false to turn the endpoint off", why);
    if (strcmp(c->audit.to, "jsonl") && strcmp(c->audit.to, "mariadb") &&
        strcmp(c->audit.to, "none"))
        return fail(x, "audit.to",
                    "\"%s\" is not supported: use \"jsonl\", \"mariadb\" or "
                    "\"none\"",
                    c->audit.to);
    for (size_t i = 0; i < c->nsites; i++)
        if (finish_site(x, &c->sites[i])) return -1;
    for (size_t i = 0; i < c->ntools; i++)
        if (finish_tool(x, c, &c->tools[i])) return -1;
    if (c->retry_backoff.max < c->retry_backoff.base)
        return fail(x, "retry_backoff.max", "must not be below retry_backoff.base");
    for (size_t i = 0; i < c->ncron; i++)
        if (check_cron_entry(x, c, i)) return -1;
    for (size_t i = 0; i < c->nshards; i++)
        if (check_shard(x, c, &c->shards[i])) return -1;
    return 0;
}

struct fac_config *config_load(const char *path, char *err, size_t errlen)
{
    struct ctx x = {path ? path : "(defaults)", err, errlen};
    struct fac_config *c = calloc(1, sizeof *c);
    apply_defaults(top_entries, c);
    c->path = path ? strdup(path) : NULL;
    json_t *root = NULL;
    if (path) {
        json_error_t je;
        root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
            if (je.line < 0)
                fail(&x, NULL, "cannot read the config file: %s", je.text);
            else
                fail(&x, NULL, "line %d column %d: invalid JSON: %s", je.line, je.column, je.text);
            goto err;
        }
        if (!json_is_object(root)) {
            fail(&x, NULL, "the top level must be a JSON object, got %s", json_kind(root));
            goto err;
        }
        if (parse_table(&x, NULL, top_entries, root, c)) goto err;
        /* Our own file only: a bench's site_config.json files are Frappe's to guard. */
        if (secrets_check_modes(c, path, err, errlen)) goto err;
        if (!c->tools) default_tools(c); /* the bench's assistant_tools may tune them */
        if (c->bench_path && bench_apply(c, root, err, errlen)) goto err;
    }
    if (finish(&x, c)) goto err;
    json_decref(root);
    return c;
err:
    json_decref(root);
    config_free(c);
    return NULL;
}

static void free_table(const struct cfg_entry *tab, void *base)
{
    for (const struct cfg_entry *e = tab; e->name; e++) {
        char *field = (char *)base + e->off;
        switch (e->type) {
        case T_STR:
        case T_OFFSTR:
        case T_JSON:
            free(*(char **)field);
            break;
        case T_STRLIST: {
            char **items = *(char ***)field;
            size_t n = *(size_t *)((char *)base + e->count_off);
            for (size_t i = 0; items && i < n; i++)
                free(items[i]);
            free(items);
            break;
        }
        case T_OBJ:
            free_table(e->sub, field);
            break;
        case T_MAP:
        case T_LIST: {
            char *arr = *(char **)field;
            size_t n = *(size_t *)((char *)base + e->count_off);
            for (size_t i = 0; arr && i < n; i++) {
                if (e->type == T_MAP) free(*(char **)(arr + i * e->elem_size));
                free_table(e->sub, arr + i * e->elem_size);
            }
            free(arr);
            break;
        }
        default:
            break;
        }
    }
}

void config_free(struct fac_config *c)
{
    if (!c) return;
    free(c->path);
    free_table(top_entries, c);
    free(c);
}

struct redis_sentinel_cfg config_sentinel_cfg(const struct fac_config *c)
{
    return (struct redis_sentinel_cfg){c->redis_sentinels, c->nredis_sentinels, c->redis_master,
                                       c->redis_sentinel_password_file};
}

struct redis_sentinel_cfg config_shard_sentinel_cfg(const struct shard_cfg *sh,
                                                    const char *key_prefix)
{
    return (struct redis_sentinel_cfg){sh->redis_sentinels, sh->nredis_sentinels, sh->redis_master,
                                       sh->redis_sentinel_password_file, key_prefix};
}

int config_redis_target(const struct fac_config *c, struct redis_target *t, char *err,
                        size_t errlen)
{
    struct redis_sentinel_cfg sc = config_sentinel_cfg(c);
    return redis_target_init(t, c->redis, c->redis_password_file, &sc, err, errlen);
}

const struct tool_cfg *config_tool(const struct fac_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->ntools; i++)
        if (strlen(c->tools[i].name) == len && memcmp(c->tools[i].name, name, len) == 0)
            return &c->tools[i];
    return NULL;
}

const struct site_cfg *config_site(const struct fac_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->nsites; i++)
        if (strlen(c->sites[i].name) == len && memcmp(c->sites[i].name, name, len) == 0)
            return &c->sites[i];
    return NULL;
}

struct site_cfg *config_add_site(struct fac_config *c, const char *name)
{
    struct site_cfg *s = realloc(c->sites, (c->nsites + 1) * sizeof *s);
    if (!s) return NULL;
    c->sites = s;
    s = &c->sites[c->nsites++];
    memset(s, 0, sizeof *s);
    apply_defaults(site_entries, s);
    s->name = strdup(name);
    return s;
}

/* Only numbers: a Frappe file may tune a tool's limits, never what the tool runs. */
int config_tool_limits(struct tool_cfg *t, json_t *obj, const char *file, const char *prefix,
                       char *err, size_t errlen)
{
    struct ctx x = {file, err, errlen};
    if (!json_is_object(obj))
        return fail(&x, prefix, "expected an object of tool limits, got %s", json_kind(obj));
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        char path[256];
        snprintf(path, sizeof path, "%s.%s", prefix, key);
        const struct cfg_entry *e = tool_entries;
        while (e->name && strcmp(e->name, key) != 0)
            e++;
        if (!e->name || e->type == T_STR || e->type == T_STRLIST || e->type == T_TRI)
            return fail(&x, path,
                        "not a limit (timeout, max_attempts, concurrency, cache_ttl, "
                        "max_records, memory_limit, ...): what a tool runs is set in the "
                        "fac-worker config only");
        if (e->kinds && !kind_takes(e->kinds, t->kind))
            return fail(&x, path, "does not apply to the %s tool \"%s\" (only to: %s)", t->kind,
                        t->name, e->kinds);
        if (parse_entry(&x, path, e, v, t)) return -1;
    }
    return 0;
}

int config_check_run_as(const struct fac_config *c, char *err, size_t errlen)
{
    if (geteuid() == 0) return 0;
    for (size_t i = 0; i < c->ntools; i++) {
        const struct tool_cfg *t = &c->tools[i];
        if (t->has_run_as) { /* even its own ids: setgroups() needs root too */
            snprintf(err, errlen,
                     "%s: tools.%s.run_as: \"%s\" needs fac-worker to run as root to switch "
                     "users (it runs as uid %u): start it as root, or remove run_as",
                     c->path ? c->path : "(defaults)", t->name, t->run_as, (unsigned)geteuid());
            return -1;
        }
    }
    return 0;
}
