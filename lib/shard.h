/*
 * Queue sharding (docs/sharding.md): which Redis server each queue lives on. The main
 * `redis` is the home server (index SHARD_HOME): it holds the queues that
 * `redis_shards` does not move, and everything that is not a queue's (the worker
 * registry, heartbeats, the scheduler's lease, cron bookkeeping, the result cache).
 * Everything of one job (ready, in-flight, delayed and dead entries, its result record,
 * its reply_to list and its unique key) lives on its queue's server.
 */
#ifndef FAC_SHARD_H
#define FAC_SHARD_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "redis.h"

#define SHARD_HOME 0

/* Built once from a config, freed by shard_map_free. Two shards with the same server
 * (host, port or socket, db and credentials) share one entry. */
struct shard_map {
    size_t nservers;
    struct redis_target *servers; /* [SHARD_HOME] is `redis` */
    size_t *queue_server;         /* per cfg->queues index */
    /* The servers that hold queues, ordered by their highest-priority queue: the order in
     * which a worker fetches from them. */
    size_t *fetch_order;
    size_t nfetch;
};

/* Where one server is, as the config says: its top-level keys for home, its
 * redis_shards entry for a shard, each with its own Sentinel keys (docs/sentinel.md
 * "Shards"). shard_target is the one place every server's target is made. */
struct shard_where {
    const char *key; /* "redis" or "redis_shards.<queue>": names it in messages */
    const char *url;
    const char *password_file;                 /* may be NULL */
    const struct redis_sentinel_cfg *sentinel; /* its Sentinel keys; NULL: none */
};

/* Fills t; returns 0, or -1 with a message that starts with w->key. */
int shard_target(const struct shard_where *w, struct redis_target *t, char *err, size_t errlen);
/* Returns 0, or -1 with a message naming the key (redis or redis_shards.<queue>). */
int shard_map_build(const struct fac_config *cfg, struct shard_map *m, char *err, size_t errlen);
void shard_map_free(struct shard_map *m);
/* The server of a queue by name; a queue this config does not serve lives on home. */
size_t shard_of(const struct fac_config *cfg, const struct shard_map *m, const char *queue);
/* "127.0.0.1:6379/0": safe to log. */
const char *shard_display(const struct shard_map *m, size_t server, char *out, size_t outlen);

/* Synchronous connections, one per server, made on first use. After a failure a server
 * is tried again at most once per retry_ms. */
struct shard_conns {
    const struct shard_map *map;
    redisContext **c;
    int64_t *next_try_ms;     /* monotonic */
    int64_t *master_check_ms; /* Sentinel servers: the next redis_master_moved check */
    double timeout_s;
    int64_t retry_ms;
};

void shard_conns_init(struct shard_conns *sc, const struct shard_map *m, double timeout_s,
                      int64_t retry_ms);
/* The server's connection, or NULL: then *st and err say why (err is empty when the
 * server failed a moment ago and is not tried again yet, or when its connection broke
 * and is not dropped yet). A broken connection is never freed here, so a pointer held
 * by the caller stays valid until shard_conn_drop or shard_conns_check. st and err may
 * be NULL. */
redisContext *shard_conn(struct shard_conns *sc, size_t server, enum redis_connect_status *st,
                         char *err, size_t errlen);
/* Closes the server's connection after an error; the next shard_conn reconnects. */
void shard_conn_drop(struct shard_conns *sc, size_t server);
/* For a server behind Sentinel: drops its connection when the sentinels name another
 * master (asked at most once a second, redis_master_moved), so that the next shard_conn
 * reaches the new one; true when it did. Always false without sentinels. */
bool shard_conn_follow(struct shard_conns *sc, size_t server);
/* Drops every connection that has an error; true when one did. */
bool shard_conns_check(struct shard_conns *sc);
void shard_conns_close(struct shard_conns *sc);

#endif
