/*
 * The records a worker writes back: the result record and the dead-letter entry
 * (docs/protocol.md). Packing only; readers use mp_get on the decoded map.
 */
#ifndef FAC_RECORD_H
#define FAC_RECORD_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "envelope.h"

struct result_rec {
    struct str id;
    const char *status;
    const msgpack_object *result; /* Success only; NULL packs nil */
    const char *err_type;         /* not Success */
    struct str err_msg;
    int64_t attempt, started_at, ended_at;
    double duration_ms;
    const char *worker;
    bool cached; /* answered from the result cache: adds "cached": true */
};

struct dead_rec {
    struct str id; /* n == 0 when unknown */
    const char *queue;
    const char *reason;
    const char *err_type;
    const char *worker;
    int64_t attempt; /* -1 when unknown */
    int64_t failed_at;
    struct str job; /* the original element */
    /* Only job's bin header is packed, its bytes are left for the move script to append
     * (ARGV[5] "append"): a 100 MB element is then sent to Redis once, not twice. */
    bool job_follows;
    /* "errors": history's earlier errors plus last; packed when either is set. */
    const struct envelope *history;
    const struct attempt_error *last;
};

void record_pack_result(struct buf *out, const struct result_rec *r);
void record_pack_dead(struct buf *out, const struct dead_rec *d);

#endif
