/*
 * Where Redis is and how to log in: URL parsing (redis://, unix://), the password kept
 * out of every message, and a synchronous connect (supervisor, scheduler, fac-ctl) that
 * does AUTH and SELECT. With Redis Sentinel (docs/sentinel.md) the master's address
 * comes from the sentinels at each connect, so a reconnect follows a failover. The
 * worker's async connections use the same target, pinned to one master per boot.
 */
#ifndef FAC_REDIS_H
#define FAC_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REDIS_MAX_SENTINELS 16

struct redis_sentinel_addr {
    char host[256];
    int port;
};

struct redis_target {
    char host[256]; /* with sentinels: unused until redis_target_pin sets the master */
    int port;
    char path[1024]; /* unix socket when non-empty */
    int db;
    char user[128];
    char password[256]; /* secret: never printed */
    /* Sentinel: nsentinels > 0 means the master is asked of these, by master_name. */
    struct redis_sentinel_addr sentinels[REDIS_MAX_SENTINELS];
    int nsentinels;
    char master_name[128];
    char sentinel_password[256]; /* secret: AUTH for the sentinels themselves */
    char key_prefix[160];        /* "" or "redis_shards.<queue>.": names its keys in errors */
};

/* Parses url; password_file (may be NULL) overrides a password in the URL. */
int redis_target_parse(const char *url, const char *password_file, struct redis_target *t,
                       char *err, size_t errlen);
/* The one way from config fields to a target: redis_target_parse plus, when nsentinels >
 * 0, the sentinels ("host:port" each), the master name and the sentinels' password file
 * (may be NULL). Errors name the config key and the fix. */
struct redis_sentinel_cfg {
    char *const *sentinels;
    size_t nsentinels;
    const char *master;        /* redis_master */
    const char *password_file; /* redis_sentinel_password_file, may be NULL */
    const char *key_prefix;    /* NULL or "" (top level), or "redis_shards.<queue>." */
};
int redis_target_init(struct redis_target *t, const char *url, const char *password_file,
                      const struct redis_sentinel_cfg *sc, char *err, size_t errlen);
/* The config's own check of the sentinel keys (lib/config.c): errors name the key. */
int redis_sentinel_check(const struct redis_sentinel_cfg *sc, const char *url, char *err,
                         size_t errlen);
/* Checks one "host:port" sentinel address; fills a (may be NULL). */
int redis_sentinel_addr_parse(const char *s, struct redis_sentinel_addr *a, char *err,
                              size_t errlen);
/* "127.0.0.1:6379/0" or "unix:/path?db=0": safe to log. */
const char *redis_target_display(const struct redis_target *t, char *out, size_t outlen);

enum redis_connect_status { REDIS_CONNECT_OK, REDIS_CONNECT_DOWN, REDIS_CONNECT_AUTH };
/* Connects with timeouts, then AUTH (when a password is set) and SELECT. With sentinels
 * it first asks each in turn for the master (short timeouts), connects to it and checks
 * that ROLE says master; a stale answer moves on to the next sentinel. On failure
 * returns NULL, sets *status and writes a message naming the server into err. */
redisContext *redis_connect_sync(const struct redis_target *t, double timeout_s,
                                 enum redis_connect_status *status, char *err, size_t errlen);
/* For the worker: finds the master as redis_connect_sync does and writes into *pinned a
 * copy of t aimed at it with no sentinels, so every connection of one boot reaches the
 * same server. A target without sentinels is copied as it is. */
enum redis_connect_status redis_target_pin(const struct redis_target *t, double timeout_s,
                                           struct redis_target *pinned, char *err, size_t errlen);
/* The AUTH/SELECT argv for an async connection's first commands; returns argc (0 = none). */
int redis_auth_argv(const struct redis_target *t, const char **argv, size_t *lens);
/* Where the sentinels say the master is now (asking each in turn, no connect to it);
 * 0, or -1 with err. For a target without sentinels: its own host:port. */
int redis_sentinel_master(const struct redis_target *t, double timeout_s, char *host,
                          size_t hostlen, int *port, char *err, size_t errlen);
/* For a sync connection c of a Sentinel target: true when the sentinels now name
 * another master (a failover finished), so the caller drops c and reconnects. Asks at
 * most once a second: *next_check_ms (monotonic ms, 0 = ask now) keeps the pace.
 * Unreachable sentinels leave c as it is (and are asked again after 5 s). Always false
 * without sentinels. */
bool redis_master_moved(const struct redis_target *t, const redisContext *c,
                        int64_t *next_check_ms);
/* WAIT replicas timeout_ms on c: how many replicas have every write c made so far, or
 * -1 when WAIT failed. */
long long redis_wait_sync(redisContext *c, int64_t replicas, int64_t timeout_ms);
/* True when a Redis error reply means the credentials are wrong (not a transient fault). */
bool redis_error_is_auth(const char *msg);
/* True when an error reply means this server is no longer the master (READONLY after a
 * failover, UNBLOCKED by a demotion, MASTERDOWN): reconnect through the sentinels. */
bool redis_error_is_failover(const char *msg);
/* When r (may be NULL) is such an error, marks c as lost, so that the owner's usual
 * reconnect (on c->err) goes through the sentinels to the new master. Returns r. */
redisReply *redis_check_master_reply(redisContext *c, redisReply *r);

#endif
