/* The cluster-wide view from the worker registry (see cluster.h). */
#include "cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"

/* One worker as read, kept until the next read for its jobs/s. */
struct seen {
    char wid[160];
    char host[72];
    int64_t beat_ms; /* its heartbeat's score: Redis's clock (srvclock.h) */
    long long done, failed, running;
    double rate;
};

struct cluster {
    struct seen *prev; /* sorted by wid */
    size_t nprev;
};

struct cluster *cluster_new(void)
{
    return calloc(1, sizeof(struct cluster));
}

void cluster_free(struct cluster *cl)
{
    if (!cl) return;
    free(cl->prev);
    free(cl);
}

void cluster_view_free(struct cluster_view *v)
{
    free(v->hosts);
    memset(v, 0, sizeof *v);
}

static int by_wid(const void *a, const void *b)
{
    return strcmp(((const struct seen *)a)->wid, ((const struct seen *)b)->wid);
}

static int by_host(const void *a, const void *b)
{
    return strcmp(((const struct seen *)a)->host, ((const struct seen *)b)->host);
}

static long long reply_ll(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* Jobs/s from the counts of two heartbeats of the same worker; between two heartbeats
 * the last rate holds. A count that went down is a new process with a reused id. */
static void rate_of(struct seen *w, const struct cluster *cl)
{
    struct seen *p = cl->nprev ? bsearch(w, cl->prev, cl->nprev, sizeof *w, by_wid) : NULL;
    if (!p || w->done < p->done) return;
    if (w->beat_ms == p->beat_ms)
        w->rate = p->rate;
    else if (w->beat_ms > p->beat_ms)
        w->rate = (double)(w->done - p->done) * 1000.0 / (double)(w->beat_ms - p->beat_ms);
}

/* TIME, ZCARD and the newest heartbeats in one round trip. */
static redisReply *read_index(redisContext *c, const char *zset, int64_t *now,
                              long long *registered)
{
    redisAppendCommand(c, "TIME");
    redisAppendCommand(c, "ZCARD %s", zset);
    redisAppendCommand(c, "ZREVRANGE %s 0 %d WITHSCORES", zset, CLUSTER_MAX_WORKERS - 1);
    redisReply *t = NULL, *n = NULL, *z = NULL;
    int ok = redisGetReply(c, (void **)&t) == REDIS_OK &&
             redisGetReply(c, (void **)&n) == REDIS_OK && redisGetReply(c, (void **)&z) == REDIS_OK;
    ok = ok && t->type == REDIS_REPLY_ARRAY && t->elements == 2 && n->type == REDIS_REPLY_INTEGER &&
         z->type == REDIS_REPLY_ARRAY;
    if (ok) {
        *now = reply_ll(t->element[0]) * 1000 + reply_ll(t->element[1]) / 1000;
        *registered = n->integer;
    }
    freeReplyObject(t);
    freeReplyObject(n);
    if (!ok) {
        freeReplyObject(z);
        return NULL;
    }
    return z;
}

/* The workers' hashes, pipelined: one more round trip. */
static int read_workers(redisContext *c, const struct fac_config *cfg, const redisReply *z,
                        struct seen *ws, size_t n)
{
    char k[FAC_KEY_MAX];
    for (size_t i = 0; i < n; i++) {
        struct seen *w = &ws[i];
        const char *wid = z->element[2 * i]->str;
        snprintf(w->wid, sizeof w->wid, "%s", wid);
        w->beat_ms = strtoll(z->element[2 * i + 1]->str, NULL, 10);
        const char *colon = strrchr(wid, ':'); /* "<host_id>:<pid>", for an expired hash */
        snprintf(w->host, sizeof w->host, "%.*s", colon ? (int)(colon - wid) : (int)strlen(wid),
                 wid);
        redisAppendCommand(c, "HMGET %s host jobs_done jobs_failed running",
                           key_worker(k, cfg->prefix, wid));
    }
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *h = NULL;
        if (redisGetReply(c, (void **)&h) != REDIS_OK) return -1;
        if (h->type == REDIS_REPLY_ARRAY && h->elements == 4) {
            struct seen *w = &ws[i];
            if (h->element[0]->type == REDIS_REPLY_STRING)
                snprintf(w->host, sizeof w->host, "%s", h->element[0]->str);
            w->done = reply_ll(h->element[1]);
            w->failed = reply_ll(h->element[2]);
            w->running = reply_ll(h->element[3]);
        } else {
            rc = -1;
        }
        freeReplyObject(h);
    }
    return rc;
}

/* Per-host totals of ws (sorted by host here). */
static void total_hosts(struct seen *ws, size_t n, int64_t now, double dead_after,
                        struct cluster_view *out)
{
    qsort(ws, n, sizeof *ws, by_host);
    out->hosts = calloc(n ? n : 1, sizeof *out->hosts);
    for (size_t i = 0; i < n; i++) {
        if (!out->nhosts || strcmp(out->hosts[out->nhosts - 1].host, ws[i].host))
            snprintf(out->hosts[out->nhosts++].host, sizeof out->hosts->host, "%s", ws[i].host);
        struct cluster_host *h = &out->hosts[out->nhosts - 1];
        double age = now > ws[i].beat_ms ? (double)(now - ws[i].beat_ms) / 1000.0 : 0;
        if (age > h->heartbeat_age_s) h->heartbeat_age_s = age;
        h->done += (double)ws[i].done;
        h->failed += (double)ws[i].failed;
        if (age > dead_after) {
            h->silent++;
            continue;
        }
        h->workers++;
        h->running += (double)ws[i].running;
        h->jobs_per_s += ws[i].rate;
    }
}

int cluster_read(struct cluster *cl, redisContext *c, const struct fac_config *cfg,
                 struct cluster_view *out)
{
    memset(out, 0, sizeof *out);
    char zk[FAC_KEY_MAX];
    int64_t now = 0;
    redisReply *z = read_index(c, key_workers(zk, cfg->prefix), &now, &out->registered);
    if (!z) return -1;
    size_t n = z->elements / 2;
    struct seen *ws = calloc(n ? n : 1, sizeof *ws);
    if (read_workers(c, cfg, z, ws, n)) {
        freeReplyObject(z);
        free(ws);
        return -1;
    }
    freeReplyObject(z);
    qsort(ws, n, sizeof *ws, by_wid);
    for (size_t i = 0; i < n; i++)
        rate_of(&ws[i], cl);
    struct seen *keep = malloc((n ? n : 1) * sizeof *keep);
    memcpy(keep, ws, n * sizeof *ws); /* sorted by wid, for the next read's bsearch */
    free(cl->prev);
    cl->prev = keep;
    cl->nprev = n;
    total_hosts(ws, n, now, cfg->dead_after, out);
    free(ws);
    return 0;
}
