/*
 * The configuration: one JSON file checked strictly against a table of typed entries
 * (docs/configuration.md). A loaded config is immutable; reload builds a new one.
 */
#ifndef FAC_CONFIG_H
#define FAC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cronexpr.h"
#include "redis.h"

/* Supplementary groups a run_as user may have (more is refused at load). */
#define FAC_RUN_AS_GROUPS_MAX 64

/* Each element of a named map (tools, sites) starts with its name. A key that does not
 * apply to a tool's kind is refused at load, so unused fields keep their defaults. */
struct tool_cfg {
    char *name;
    char *kind; /* "builtin", "mcp", "http", "exec", "sql" */
    double timeout;
    int64_t max_attempts;
    int64_t concurrency; /* jobs of this tool one worker runs at once; 0 = no own cap */
    double cache_ttl;    /* seconds a Success result is reused; 0 = never */
    char *builtin;       /* builtin: which one; defaults to the tool's name */
    /* mcp, http */
    char *remote_name;   /* mcp: FAC's tool name (key "name"); defaults to the tool's name */
    char *url;           /* http: absolute, or a path under the site's url */
    int64_t max_records; /* mcp, http: clamps args.limit, 0 = no clamp; sql: rows returned */
    double connect_timeout;
    int64_t max_reply; /* bytes */
    /* exec */
    char **argv; /* NULL-terminated; argv[0] is a path: never a shell */
    size_t argc;
    char **env; /* names passed from the worker's environment; NULL = the default list
                 * (lists are NULL-terminated) */
    size_t nenv;
    char *cwd;
    char *run_as; /* user name, "uid" or "uid:gid"; resolved into run_uid/run_gid */
    bool has_run_as;
    uid_t run_uid;
    gid_t run_gid;
    gid_t run_groups[FAC_RUN_AS_GROUPS_MAX]; /* a user name's supplementary groups */
    int nrun_groups;
    int64_t memory_limit, max_procs, max_output, max_stderr; /* 0 = unlimited (limits) */
    double cpu_limit;                                        /* 0 = unlimited */
    double kill_grace; /* SIGTERM → SIGKILL of the process group; default: top-level */
    /* sql */
    char *query;  /* read-only, with %(name)s placeholders (sqltpl.h) */
    char **roles; /* the job's user needs one of them; NULL = no check */
    size_t nroles;
    int replica; /* -1 = not given: the site's read_from_replica decides; 0 or 1 */
};

/* A MariaDB server of a site: its primary (db) or a read-only replica. */
struct site_db_cfg {
    char *host;
    int64_t port;
    char *socket;
    char *name;                     /* Frappe's database name, which is also its DB user */
    char *user;                     /* defaults to name */
    char *password, *password_file; /* secret: never log */
    /* TLS: on when ssl is true or any file is given, and then required (no fallback to
     * plain text). ssl_verify_server_cert: -1 = not given, which means true when
     * ssl_ca is set; true checks the certificate's chain and that it names the host. */
    bool ssl;
    char *ssl_ca, *ssl_cert, *ssl_key;
    int ssl_verify_server_cert;
};

struct site_cfg {
    char *name; /* the Frappe site, e.g. "site1.local" */
    char *url;  /* where its Frappe answers HTTP */
    char *api_key;
    char *api_secret, *api_secret_file; /* secret: never log */
    struct site_db_cfg db;
    /* A read-only replica for sql tools; its keys not given are the db's (resolved at
     * load), has_replica when replica.host or replica.socket is given. */
    struct site_db_cfg replica;
    bool has_replica;
    bool read_from_replica; /* every sql tool of the site reads the replica by default */
    bool replica_fallback;  /* replica unreachable: read the primary instead of failing */
};

struct audit_cfg {
    char *to; /* "jsonl", "mariadb" or "none" */
    char *path;
    int64_t batch;
    int64_t flush_ms;
    char *spool;       /* directory of spool files ("mariadb") */
    double db_timeout; /* seconds a connect or an INSERT may take before rows are spooled */
};

/* One entry of "cron": a job the scheduler enqueues on every slot of its schedule. */
struct cron_cfg {
    char *name;
    char *schedule;
    char *tool;
    char *args; /* the JSON object as compact text; "{}" when not given */
    char *queue, *site, *user;
    int64_t max_attempts; /* 0: the tool's */
    double timeout;       /* 0: the tool's */
    struct cron_expr expr;
};

/* One entry of "redis_shards": the Redis server a queue lives on (docs/sharding.md). */
struct shard_cfg {
    char *queue; /* the map key: a name from "queues" */
    char *redis; /* URL; may hold a password: never log it */
    char *redis_password_file;
    /* Sentinel for this shard (docs/sentinel.md "Shards"): the same keys as at the top. */
    char **redis_sentinels;
    size_t nredis_sentinels;
    char *redis_master;
    char *redis_sentinel_password_file;
};

/* Retry delay: base x 2^attempt, at most max, then spread by +/- jitter (a fraction). */
struct retry_cfg {
    double base, max, jitter;
};

/* WAIT after a write that must survive a failover (docs/sentinel.md); replicas 0 = off. */
struct redis_wait_cfg {
    int64_t replicas, timeout_ms;
};

struct fac_config {
    char *path;       /* the file it came from, NULL for built-in defaults */
    char *bench_path; /* a Frappe bench whose own config is read too (lib/bench.h) */
    char *redis;      /* URL; may hold a password: never log it, use redis_url_display */
    char *redis_password_file;
    char **redis_sentinels; /* "host:port" each; NULL: no Sentinel (lib/redis.h) */
    size_t nredis_sentinels;
    char *redis_master; /* the name the sentinels monitor */
    char *redis_sentinel_password_file;
    struct redis_wait_cfg redis_wait;
    struct shard_cfg *shards; /* queues that live on another server than `redis` */
    size_t nshards;
    char *prefix;
    char **queues;
    size_t nqueues;
    char *host_id;
    int64_t workers, concurrency;
    int64_t max_memory, max_memory_hard, max_payload, max_jobs, dead_max;
    double shutdown_timeout, heartbeat_timeout, kill_grace, result_ttl, reply_ttl, tool_timeout;
    bool test_tools;
    char *log_file, *log_level, *log_format;
    char *metrics; /* HOST:PORT of the /metrics endpoint; "" = off */
    struct audit_cfg audit;
    bool scheduler;    /* the supervisor runs fac-scheduler as one more child */
    double dead_after; /* a worker silent this long (and its supervisor too) is rescued */
    struct retry_cfg retry_backoff;
    struct cron_cfg *cron;
    size_t ncron;
    struct tool_cfg *tools;
    size_t ntools;
    struct site_cfg *sites;
    size_t nsites;
};

/* Loads path (or the defaults when path is NULL). On error returns NULL and writes a
 * message naming the file and key path into err. The result is freed by config_free. */
struct fac_config *config_load(const char *path, char *err, size_t errlen);
void config_free(struct fac_config *c);
/* The Redis target of the config's top-level keys (redis, redis_password_file and the
 * Sentinel keys), through redis_target_init; errors name the key. */
struct redis_sentinel_cfg config_sentinel_cfg(const struct fac_config *c);
/* The same for one redis_shards entry; key_prefix is "redis_shards.<queue>." (kept by
 * the caller) and names the keys in errors. */
struct redis_sentinel_cfg config_shard_sentinel_cfg(const struct shard_cfg *sh,
                                                    const char *key_prefix);
int config_redis_target(const struct fac_config *c, struct redis_target *t, char *err,
                        size_t errlen);
const struct tool_cfg *config_tool(const struct fac_config *c, const char *name, size_t len);
const struct site_cfg *config_site(const struct fac_config *c, const char *name, size_t len);
/* For lib/bench.c, while a config is loaded. config_add_site appends a site with the
 * defaults (NULL when out of memory). config_tool_limits sets the numeric keys of obj
 * (a Frappe file's assistant_tools.<tool>) on t, checked by the tool table; errors name
 * file and prefix. Returns 0 or -1. */
struct json_t;
struct site_cfg *config_add_site(struct fac_config *c, const char *name);
int config_tool_limits(struct tool_cfg *t, struct json_t *obj, const char *file, const char *prefix,
                       char *err, size_t errlen);
/* "512MB" → bytes; returns -1 when s is not a size. */
int64_t config_parse_size(const char *s);

/* Whether a tool or site name is safe as a file name, a header value and a key part:
 * 1-120 of A-Z a-z 0-9 . _ - @ +, not starting with '.'. */
bool config_name_ok(const char *name);
/* The message of a name that is not: what is allowed and to rename it. */
#define FAC_NAME_RULE                                                                              \
    "a name has 1-120 characters from A-Z a-z 0-9 . _ - @ + and does not start with \".\" "        \
    "(it becomes part of file names, HTTP headers and keys): rename it"
/* Refuses run_as tools when this process cannot switch users (it is not root): 0 or -1
 * with err naming the tool and the fix. For fac-worker, which spawns the tools. */
int config_check_run_as(const struct fac_config *c, char *err, size_t errlen);

#endif
