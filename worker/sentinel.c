/*
 * The worker's ear on Redis Sentinel (docs/sentinel.md). For every server behind
 * Sentinel (home and each such queue shard) the worker subscribes to +switch-master on
 * one of that server's sentinels; a sentinel that goes away is replaced by the next.
 *
 * Home: a worker pins one master at boot; after a failover the old master keeps taking
 * writes until Sentinel reconfigures it, seconds later, and all of them are lost. So
 * when home's master is replaced the worker exits with FAC_EXIT_REDIS: the supervisor
 * requeues its jobs on the new master and starts its replacement at once.
 *
 * A queue shard: the worker drops that shard's connections (server_lost: its jobs stay
 * in flight there) and reconnects it, asking its sentinels for the new master; once
 * connected it puts back what it held there, as after any loss of a shard
 * (servers.c). The other servers' queues are served on meanwhile.
 */
#include <hiredis/adapters/libev.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "worker.h"

#define WATCH_RETRY_S 1.0

static void watch_connect(struct wserver *srv);

static void watch_retry_later(struct wserver *srv)
{
    struct worker *w = srv->w;
    srv->watch = NULL;
    if (w->exit_code || ev_is_active(&srv->watch_retry)) return;
    ev_timer_set(&srv->watch_retry, WATCH_RETRY_S, 0);
    ev_timer_start(w->loop, &srv->watch_retry);
}

static void on_watch_retry(struct ev_loop *loop, ev_timer *t, int revents)
{
    watch_connect(t->data);
}

static void on_watch_connect(const redisAsyncContext *c, int status)
{
    if (status != REDIS_OK) watch_retry_later(c->data);
}

static void on_watch_disconnect(const redisAsyncContext *c, int status)
{
    watch_retry_later(c->data);
}

/* "+switch-master <name> <old ip> <old port> <new ip> <new port>" */
static void on_switch(redisAsyncContext *c, void *r, void *priv)
{
    struct wserver *srv = c->data;
    struct worker *w = srv->w;
    redisReply *reply = r;
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_warn("sentinel %s:%d refused the +switch-master subscription: %.120s", c->c.tcp.host,
                 c->c.tcp.port, reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING ||
        reply->element[2]->type != REDIS_REPLY_STRING ||
        strcmp(reply->element[0]->str, "message") != 0)
        return;
    char name[128], host[256];
    int port;
    if (sscanf(reply->element[2]->str, "%127s %*s %*s %255s %d", name, host, &port) != 3 ||
        strcmp(name, srv->via.master_name) != 0)
        return;
    const struct redis_target *pinned = &w->map.servers[srv->index];
    if (strcmp(host, pinned->host) == 0 && port == pinned->port) return;
    char why[400];
    snprintf(why, sizeof why, "the sentinels made %s:%d the master", host, port);
    if (srv->index == SHARD_HOME)
        worker_fatal_redis(w, "a failover", why);
    else if (!srv->down) /* a shard waiting to reconnect asks its sentinels then anyway */
        server_lost(srv, NULL, "a failover", why);
}

static void watch_connect(struct wserver *srv)
{
    struct worker *w = srv->w;
    const struct redis_sentinel_addr *s =
        &srv->via.sentinels[srv->watch_next++ % srv->via.nsentinels];
    redisAsyncContext *c = redisAsyncConnect(s->host, s->port);
    if (!c || c->err) {
        if (c) redisAsyncFree(c);
        watch_retry_later(srv);
        return;
    }
    c->data = srv;
    redisLibevAttach(w->loop, c);
    redisAsyncSetConnectCallback(c, on_watch_connect);
    redisAsyncSetDisconnectCallback(c, on_watch_disconnect);
    if (srv->via.sentinel_password[0]) {
        const char *argv[] = {"AUTH", srv->via.sentinel_password};
        redisAsyncCommandArgv(c, on_switch, NULL, 2, argv, NULL);
    }
    redisAsyncCommand(c, on_switch, NULL, "SUBSCRIBE +switch-master");
    srv->watch = c;
}

void sentinel_watch_start(struct worker *w)
{
    for (size_t i = 0; i < w->map.nservers; i++) {
        struct wserver *srv = &w->servers[i];
        if (!srv->via.nsentinels) continue;
        ev_init(&srv->watch_retry, on_watch_retry);
        srv->watch_retry.data = srv;
        watch_connect(srv);
    }
}
