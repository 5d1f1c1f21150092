/* Packs result records and dead-letter entries in the v1 layout. */
#include "record.h"

#include <string.h>

#include "fac/protocol.h"
#include "mp.h"

void record_pack_result(struct buf *out, const struct result_rec *r)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_msgpack_write);
    msgpack_pack_map(&pk, 9 + r->cached);
    mp_pack_kv_int(&pk, "v", FAC_PROTOCOL_VERSION);
    mp_pack_kv_str(&pk, "id", r->id.p, r->id.n);
    mp_pack_kv_str(&pk, "status", r->status, strlen(r->status));
    if (strcmp(r->status, FAC_ST_SUCCESS) == 0) {
        mp_pack_cstr(&pk, "result");
        if (r->result)
            msgpack_pack_object(&pk, *r->result);
        else
            msgpack_pack_nil(&pk);
    } else {
        mp_pack_cstr(&pk, "error");
        msgpack_pack_map(&pk, 2);
        mp_pack_kv_str(&pk, "type", r->err_type, strlen(r->err_type));
        mp_pack_kv_str(&pk, "message", r->err_msg.p ? r->err_msg.p : "", r->err_msg.n);
    }
    mp_pack_kv_int(&pk, "attempt", r->attempt);
    mp_pack_kv_int(&pk, "started_at", r->started_at);
    mp_pack_kv_int(&pk, "ended_at", r->ended_at);
    mp_pack_cstr(&pk, "duration_ms");
    msgpack_pack_double(&pk, r->duration_ms);
    mp_pack_kv_str(&pk, "worker", r->worker, strlen(r->worker));
    if (r->cached) {
        mp_pack_cstr(&pk, "cached");
        msgpack_pack_true(&pk);
    }
}

void record_pack_dead(struct buf *out, const struct dead_rec *d)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_msgpack_write);
    bool errors = (d->history && d->history->errors) || d->last;
    msgpack_pack_map(&pk, 7 + (d->id.n > 0) + (d->attempt >= 0) + errors);
    mp_pack_kv_int(&pk, "v", FAC_PROTOCOL_VERSION);
    if (d->id.n) mp_pack_kv_str(&pk, "id", d->id.p, d->id.n);
    mp_pack_kv_str(&pk, "queue", d->queue, strlen(d->queue));
    mp_pack_kv_str(&pk, "reason", d->reason, strlen(d->reason));
    mp_pack_cstr(&pk, "error");
    msgpack_pack_map(&pk, 2);
    mp_pack_kv_str(&pk, "type", d->err_type, strlen(d->err_type));
    mp_pack_kv_str(&pk, "message", d->reason, strlen(d->reason));
    mp_pack_kv_int(&pk, "failed_at", d->failed_at);
    mp_pack_kv_str(&pk, "worker", d->worker, strlen(d->worker));
    if (d->attempt >= 0) mp_pack_kv_int(&pk, "attempt", d->attempt);
    if (errors) {
        mp_pack_cstr(&pk, "errors");
        envelope_pack_errors(&pk, d->history, d->last);
    }
    mp_pack_cstr(&pk, "job");
    msgpack_pack_bin(&pk, d->job.n);
    if (!d->job_follows) msgpack_pack_bin_body(&pk, d->job.p, d->job.n);
}
