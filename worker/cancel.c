/*
 * Cancel, the worker's side (docs/scheduler.md "Cancel"). `fac-ctl cancel ID` adds the
 * id to P:canceled on every server and PUBLISHes it on P:cancel on the home server
 * (docs/sharding.md). Every worker subscribes to that channel on home on a connection
 * of its own and stops a running job with that id like a
 * timeout (job_cancel). A job not yet running is caught before it starts: the fetch
 * script reports when any cancel is pending, and only then is each fetched job
 * checked against P:canceled (job.c), so the check costs nothing normally.
 */
#include <string.h>

#include "fac/protocol.h"
#include "job.h"
#include "keys.h"
#include "worker.h"

static void on_cancel_message(redisAsyncContext *c, void *r, void *priv)
{
    struct worker *w = conn_worker(c);
    redisReply *reply = r;
    if (!reply) return;
    if (reply->type == REDIS_REPLY_ERROR) {
        worker_fatal_redis_on(c, "SUBSCRIBE to the cancel channel", reply->str);
        return;
    }
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
        reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(reply->element[0]->str, "subscribe") == 0)
        worker_conn_booted(c->data);
    else if (strcmp(reply->element[0]->str, "message") == 0)
        job_cancel(w, reply->element[2]->str, reply->element[2]->len);
}

redisAsyncContext *cancel_open(struct worker *w)
{
    redisAsyncContext *c = worker_conn_open(&w->servers[SHARD_HOME], "cancel", true);
    if (!c) return NULL;
    char ch[FAC_KEY_MAX];
    redisAsyncCommand(c, on_cancel_message, NULL, "SUBSCRIBE %s",
                      key_global(ch, FAC_CHAN_CANCEL, w->cfg->prefix));
    return c;
}
