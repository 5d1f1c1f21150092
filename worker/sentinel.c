/*
 * The worker's ear on Redis Sentinel (docs/sentinel.md). A worker pins one master at
 * boot; after a failover the old master keeps taking writes until Sentinel
 * reconfigures it, seconds later, and all of them are lost. So the worker subscribes
 * to +switch-master on one sentinel and, when its master is replaced, exits with
 * FAC_EXIT_REDIS: the supervisor requeues its jobs on the new master and starts its
 * replacement at once. A sentinel that goes away is replaced by the next one.
 */
#include <hiredis/adapters/libev.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "worker.h"

#define WATCH_RETRY_S 1.0

static void watch_connect(struct worker *w);

static void watch_retry_later(struct worker *w)
{
    w->watch = NULL;
    if (w->exit_code || ev_is_active(&w->watch_retry)) return;
    ev_timer_set(&w->watch_retry, WATCH_RETRY_S, 0);
    ev_timer_start(w->loop, &w->watch_retry);
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
    struct worker *w = c->data;
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
        strcmp(name, w->via.master_name) != 0)
        return;
    if (strcmp(host, w->target.host) == 0 && port == w->target.port) return;
    char why[400];
    snprintf(why, sizeof why, "the sentinels made %s:%d the master", host, port);
    worker_fatal_redis(w, "a failover", why);
}

static void watch_connect(struct worker *w)
{
    const struct redis_sentinel_addr *s = &w->via.sentinels[w->watch_next++ % w->via.nsentinels];
    redisAsyncContext *c = redisAsyncConnect(s->host, s->port);
    if (!c || c->err) {
        if (c) redisAsyncFree(c);
        watch_retry_later(w);
        return;
    }
    c->data = w;
    redisLibevAttach(w->loop, c);
    redisAsyncSetConnectCallback(c, on_watch_connect);
    redisAsyncSetDisconnectCallback(c, on_watch_disconnect);
    if (w->via.sentinel_password[0]) {
        const char *argv[] = {"AUTH", w->via.sentinel_password};
        redisAsyncCommandArgv(c, on_switch, NULL, 2, argv, NULL);
    }
    redisAsyncCommand(c, on_switch, NULL, "SUBSCRIBE +switch-master");
    w->watch = c;
}

void sentinel_watch_start(struct worker *w)
{
    if (!w->via.nsentinels) return;
    ev_init(&w->watch_retry, on_watch_retry);
    w->watch_retry.data = w;
    watch_connect(w);
}
