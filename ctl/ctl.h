/*
 * What fac-ctl's commands share: the connection, exit codes, finding a job by id in
 * the protocol's lists and zsets, and printing records as JSON. fac-ctl.c holds
 * enqueue, status and stats; dead.c the dead-letter commands; cancel.c cancel;
 * hosts.c the per-host view of stats; when.c the --in/--at time parsing.
 */
#ifndef FAC_CTL_H
#define FAC_CTL_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "shard.h"

enum ctl_exit {
    CTL_OK = 0,
    CTL_FAILED = 1,
    CTL_USAGE = 2,
    CTL_CONFIG = 3,
    CTL_REDIS = 4,
    CTL_WAIT_TIMEOUT = 5,
    CTL_DUPLICATE = 6,
    CTL_NOT_REPLICATED = 7 /* enqueued, but fewer replicas than redis_wait asks have it */
};

struct ctl {
    struct fac_config *cfg;
    redisContext *c;          /* the home server: registry, cancels, workers */
    struct shard_map map;     /* which server each queue lives on (docs/sharding.md) */
    struct shard_conns conns; /* made on first use */
};

/* The connection to a server, or to a queue's server (home for a queue the config does
 * not name). A server that cannot be reached ends fac-ctl with a message naming it. */
redisContext *ctl_server(struct ctl *x, size_t server);
redisContext *ctl_queue_conn(struct ctl *x, const char *queue);

/* Prints "fac-ctl: message" to stderr; returns code. */
int die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void print_msgpack_json(const char *data, size_t len);
/* True when the element (an envelope or a dead entry) has this id. */
bool element_has_id(const char *data, size_t len, const char *id);
/* Searches a list in pages; when found, copies the element into out (if given). */
bool list_find(redisContext *c, const char *key, const char *id, struct buf *out);
/* True when a list whose key matches pattern holds the job (SCAN: never blocks Redis). */
bool scan_any(redisContext *c, const char *pattern, const char *id);
/* Searches a delayed zset (ZSCAN); when found, copies the member into out (if given)
 * and its due time (ms) into *due (if given). */
bool zset_find(redisContext *c, const char *key, const char *id, struct buf *out, int64_t *due);

int cmd_dead(struct ctl *x, int argc, char **argv);
int cmd_top(struct ctl *x, int argc, char **argv);
/* {"queues": [{name, ready, inflight, dead}], "workers": [{id, pid, state, ...}]}. */
json_t *stats_json(struct ctl *x);
/* hosts.c: the workers grouped by their "host", one total per host, sorted by name:
 * [{host, workers, live (heard within dead_after), running, jobs_done, jobs_failed, rss,
 * heartbeat_age_ms (the oldest)}]. New reference. */
json_t *stats_hosts(json_t *workers, double dead_after);
/* hosts.c: the per-host table with an all-hosts total, then every worker by host. */
void print_hosts(json_t *stats);
int cmd_cancel(struct ctl *x, int argc, char **argv);

/* "30s", "5m", "2h", "1d", "250ms" or plain seconds → ms; -1 when not a duration. */
int64_t when_parse_in(const char *s);
/* ISO-8601 ("2026-11-28T01:02:03Z", with a fraction or a +hh:mm offset; no zone means
 * UTC) or epoch seconds → epoch ms; -1 when not a time. */
int64_t when_parse_at(const char *s);

#endif
