/*
 * libFuzzer harness for the envelope decoder: any bytes must be decoded or refused with
 * a reason, never crash; an accepted envelope rewritten for its next attempt (with an
 * error appended to its history) must decode again to the same id and tool.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    struct envelope e;
    char err[512];
    enum envelope_status st =
        envelope_decode((const char *)data, len, 1 << 20, &z, &e, err, sizeof err);
    if (st != ENV_OK) {
        assert(err[0] != '\0'); /* every refusal says why */
        msgpack_zone_destroy(&z);
        return 0;
    }
    struct buf again = {0};
    struct attempt_error failure = {e.attempt, "Timeout", {"fuzz", 4}, 1};
    struct envelope_update up = {.attempt = e.attempt + 1, .error = &failure};
    envelope_rewrite(&e, &up, &again);
    msgpack_zone z2;
    msgpack_zone_init(&z2, 2048);
    struct envelope e2;
    st = envelope_decode(again.data, again.len, 2 << 20, &z2, &e2, err, sizeof err);
    assert(st == ENV_OK);
    assert(e2.attempt == e.attempt + 1);
    assert(e2.id.n == e.id.n && memcmp(e2.id.p, e.id.p, e.id.n) == 0);
    assert(e2.tool.n == e.tool.n && memcmp(e2.tool.p, e.tool.p, e.tool.n) == 0);
    buf_free(&again);
    msgpack_zone_destroy(&z2);
    msgpack_zone_destroy(&z);
    return 0;
}
