/*
 * Wire protocol v1: the names every producer, worker and tool agrees on.
 * docs/protocol.md explains them; this header is the single place the strings live.
 */
#ifndef FAC_PROTOCOL_H
#define FAC_PROTOCOL_H

#define FAC_PROTOCOL_VERSION 1

/* Key formats: prefix, then the queue in a Redis Cluster hash tag. */
#define FAC_KEY_READY "%s:{%s}:ready"
#define FAC_KEY_INFLIGHT "%s:{%s}:inflight:%s"
#define FAC_KEY_DELAYED "%s:{%s}:delayed"
#define FAC_KEY_DEAD "%s:{%s}:dead"
#define FAC_KEY_RESULT "%s:result:%s"
#define FAC_KEY_WORKERS "%s:workers"
#define FAC_KEY_WORKER "%s:worker:%s"
#define FAC_KEY_CACHE "%s:cache:%s"            /* prefix, SHA-256 hex (lib/cachekey.h) */
#define FAC_KEY_UNIQUE "%s:unique:%s"          /* deduplicate: held from enqueue to final */
#define FAC_KEY_CANCELED "%s:canceled"         /* zset: job id -> when the cancel expires (ms) */
#define FAC_CHAN_CANCEL "%s:cancel"            /* pub/sub: a canceled job id */
#define FAC_CHAN_WAKE "%s:scheduler:wake"      /* pub/sub: a delayed job due earlier (ms) */
#define FAC_KEY_LEADER "%s:scheduler:leader"   /* the active scheduler's lease */
#define FAC_KEY_CRON_SLOT "%s:cron:%s:%lld"    /* a fired slot: name, epoch second */
#define FAC_KEY_CRON_AT "%s:scheduler:cron_at" /* the second the leader last fired up to */
#define FAC_KEY_SUPERVISORS "%s:supervisors"   /* zset: supervisor id -> heartbeat (ms) */
#define FAC_KEY_RESCUE_LOCK "%s:rescue:%s"     /* one rescuer per dead worker */
/* host_id -> boot id of the machine using it, TTL dead_after (docs/scale-out.md) */
#define FAC_KEY_HOST "%s:host:%s"

/* How long a cancel waits for its job to be seen (fac-ctl cancel). */
#define FAC_CANCEL_TTL_MS (86400 * 1000LL)
/* How long fac-ctl holds a unique key at most, should its job never end. */
#define FAC_UNIQUE_TTL_S 86400

#define FAC_JOB_ID_MAX 128
#define FAC_MAX_NESTING 32

/* Result statuses: the audit log's vocabulary plus Canceled. */
#define FAC_ST_SUCCESS "Success"
#define FAC_ST_ERROR "Error"
#define FAC_ST_TIMEOUT "Timeout"
#define FAC_ST_DENIED "Permission Denied"
#define FAC_ST_CANCELED "Canceled"

/* error.type values set by the worker itself. */
#define FAC_ERR_DECODE "DecodeError"
#define FAC_ERR_INVALID "InvalidEnvelope"
#define FAC_ERR_TOO_LARGE "PayloadTooLarge"
#define FAC_ERR_UNKNOWN_TOOL "UnknownTool"
#define FAC_ERR_WORKER_LOST "WorkerLost"
#define FAC_ERR_TIMEOUT "Timeout"
#define FAC_ERR_EXEC "ExecutionError"
#define FAC_ERR_CANCELED "Canceled"
/* error.type values of the executors (docs/executors.md); FAC's own error_type and
 * Frappe's exc_type (ValidationError, PermissionError, ...) are passed through. */
#define FAC_ERR_CONFIG "ConfigError"
#define FAC_ERR_CONNECTION "ConnectionError"
#define FAC_ERR_REPLY_TOO_LARGE "ReplyTooLarge"
#define FAC_ERR_OUTPUT_TOO_LARGE "OutputTooLarge"
#define FAC_ERR_BAD_REPLY "BadReply"
#define FAC_ERR_JSONRPC "JSONRPCError"
#define FAC_ERR_HTTP "HTTPError"
#define FAC_ERR_AUTH "AuthenticationError"
#define FAC_ERR_PERMISSION "PermissionError"

/* Process exit codes (docs/operations.md). */
enum fac_exit {
    FAC_EXIT_OK = 0,
    FAC_EXIT_CRASH = 1,
    FAC_EXIT_USAGE = 2,
    FAC_EXIT_BOOT = 3,  /* bad config or credentials: never respawned */
    FAC_EXIT_REDIS = 4, /* Redis unreachable or lost: respawned with backoff */
};

#endif
