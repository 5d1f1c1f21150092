/* Queue → server map and per-server synchronous connections (see shard.h). */
#include "shard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

int shard_target(const struct shard_where *w, struct redis_target *t, char *err, size_t errlen)
{
    char why[1024];
    if (redis_target_init(t, w->url, w->password_file, w->sentinel, why, sizeof why) == 0) return 0;
    size_t n = strlen(w->key);
    if (strncmp(why, w->key, n) == 0 && why[n] == '.') /* it names the key path already */
        snprintf(err, errlen, "%s", why);
    else
        snprintf(err, errlen, "%s: %s", w->key, why);
    return -1;
}

static bool same_server(const struct redis_target *a, const struct redis_target *b)
{
    return strcmp(a->host, b->host) == 0 && a->port == b->port && strcmp(a->path, b->path) == 0 &&
           a->db == b->db && strcmp(a->user, b->user) == 0 &&
           strcmp(a->password, b->password) == 0 && a->nsentinels == b->nsentinels &&
           strcmp(a->master_name, b->master_name) == 0 &&
           memcmp(a->sentinels, b->sentinels, sizeof a->sentinels) == 0;
}

/* The index of t in the map, added when new. */
static size_t add_server(struct shard_map *m, const struct redis_target *t)
{
    for (size_t i = 0; i < m->nservers; i++)
        if (same_server(&m->servers[i], t)) return i;
    m->servers[m->nservers] = *t;
    return m->nservers++;
}

static const struct shard_cfg *shard_for(const struct fac_config *cfg, const char *queue)
{
    for (size_t i = 0; i < cfg->nshards; i++)
        if (strcmp(cfg->shards[i].queue, queue) == 0) return &cfg->shards[i];
    return NULL;
}

int shard_map_build(const struct fac_config *cfg, struct shard_map *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->servers = calloc(1 + cfg->nshards, sizeof *m->servers);
    m->queue_server = calloc(cfg->nqueues ? cfg->nqueues : 1, sizeof *m->queue_server);
    m->fetch_order = calloc(1 + cfg->nshards, sizeof *m->fetch_order);
    struct redis_target t;
    struct redis_sentinel_cfg sc = config_sentinel_cfg(cfg);
    struct shard_where home = {"redis", cfg->redis, cfg->redis_password_file, &sc};
    if (shard_target(&home, &t, err, errlen)) goto fail;
    add_server(m, &t);
    for (size_t q = 0; q < cfg->nqueues; q++) {
        const struct shard_cfg *sh = shard_for(cfg, cfg->queues[q]);
        if (!sh) continue; /* queue_server[q] = SHARD_HOME */
        char key[160], prefix[164];
        snprintf(key, sizeof key, "redis_shards.%s", sh->queue);
        snprintf(prefix, sizeof prefix, "%s.", key);
        struct redis_sentinel_cfg ssc = config_shard_sentinel_cfg(sh, prefix);
        struct shard_where where = {key, sh->redis, sh->redis_password_file, &ssc};
        if (shard_target(&where, &t, err, errlen)) goto fail;
        m->queue_server[q] = add_server(m, &t);
    }
    memset(&t, 0, sizeof t);
    for (size_t q = 0; q < cfg->nqueues; q++) {
        size_t s = m->queue_server[q], k = 0;
        while (k < m->nfetch && m->fetch_order[k] != s)
            k++;
        if (k == m->nfetch) m->fetch_order[m->nfetch++] = s;
    }
    return 0;
fail:
    memset(&t, 0, sizeof t);
    shard_map_free(m);
    return -1;
}

void shard_map_free(struct shard_map *m)
{
    if (m->servers) memset(m->servers, 0, m->nservers * sizeof *m->servers); /* passwords */
    free(m->servers);
    free(m->queue_server);
    free(m->fetch_order);
    memset(m, 0, sizeof *m);
}

size_t shard_of(const struct fac_config *cfg, const struct shard_map *m, const char *queue)
{
    for (size_t q = 0; q < cfg->nqueues; q++)
        if (strcmp(cfg->queues[q], queue) == 0) return m->queue_server[q];
    return SHARD_HOME;
}

const char *shard_display(const struct shard_map *m, size_t server, char *out, size_t outlen)
{
    return redis_target_display(&m->servers[server], out, outlen);
}

void shard_conns_init(struct shard_conns *sc, const struct shard_map *m, double timeout_s,
                      int64_t retry_ms)
{
    sc->map = m;
    sc->c = calloc(m->nservers, sizeof *sc->c);
    sc->next_try_ms = calloc(m->nservers, sizeof *sc->next_try_ms);
    sc->master_check_ms = calloc(m->nservers, sizeof *sc->master_check_ms);
    sc->timeout_s = timeout_s;
    sc->retry_ms = retry_ms;
}

redisContext *shard_conn(struct shard_conns *sc, size_t server, enum redis_connect_status *st,
                         char *err, size_t errlen)
{
    enum redis_connect_status ignored;
    char none[8];
    if (!st) st = &ignored;
    if (!err) err = none, errlen = sizeof none;
    err[0] = '\0';
    *st = REDIS_CONNECT_DOWN;
    if (sc->c[server]) { /* a broken one stays until its owner drops it (shard_conns_check) */
        if (sc->c[server]->err) return NULL;
        *st = REDIS_CONNECT_OK;
        return sc->c[server];
    }
    if (mono_ms() < sc->next_try_ms[server]) return NULL;
    sc->c[server] = redis_connect_sync(&sc->map->servers[server], sc->timeout_s, st, err, errlen);
    if (!sc->c[server]) sc->next_try_ms[server] = mono_ms() + sc->retry_ms;
    return sc->c[server];
}

void shard_conn_drop(struct shard_conns *sc, size_t server)
{
    if (sc->c[server]) redisFree(sc->c[server]);
    sc->c[server] = NULL;
}

bool shard_conn_follow(struct shard_conns *sc, size_t server)
{
    redisContext *c = sc->c[server];
    if (!c || c->err ||
        !redis_master_moved(&sc->map->servers[server], c, &sc->master_check_ms[server]))
        return false;
    shard_conn_drop(sc, server);
    return true;
}

bool shard_conns_check(struct shard_conns *sc)
{
    bool dropped = false;
    for (size_t i = 0; sc->c && i < sc->map->nservers; i++)
        if (sc->c[i] && sc->c[i]->err) {
            shard_conn_drop(sc, i);
            dropped = true;
        }
    return dropped;
}

void shard_conns_close(struct shard_conns *sc)
{
    for (size_t i = 0; sc->c && i < sc->map->nservers; i++)
        shard_conn_drop(sc, i);
    free(sc->c);
    free(sc->next_try_ms);
    free(sc->master_check_ms);
    sc->c = NULL;
    sc->next_try_ms = NULL;
    sc->master_check_ms = NULL;
}
