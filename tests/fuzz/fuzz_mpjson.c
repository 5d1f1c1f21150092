/*
 * libFuzzer harness for msgpack ↔ JSON. Input read as msgpack: whatever mp_check
 * accepts converts to JSON that jansson parses (valid UTF-8, no NaN), with and without
 * redaction. Input read as JSON: what jansson parses packs to msgpack that mp_check
 * accepts and that converts back to parseable JSON.
 */
#include <assert.h>
#include <jansson.h>
#include <stdint.h>
#include <string.h>

#include "mp.h"
#include "mpjson.h"

static void assert_json_parses(const struct buf *b)
{
    json_error_t je;
    /* INT_AS_REAL: JSON allows integers past int64 (msgpack uint64), jansson does not */
    json_t *v = json_loadb(b->data ? b->data : "", b->len,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    /* jansson refuses "\u0000" inside object keys, which JSON allows: not our error */
    assert(v != NULL || strstr(je.text, "NUL byte in object key"));
    json_decref(v);
}

static void from_msgpack(const uint8_t *data, size_t len)
{
    if (mp_check(data, len, FAC_MP_MAX_DEPTH_CAP) != MP_OK) return;
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    msgpack_object o;
    size_t off = 0;
    int rc = msgpack_unpack((const char *)data, len, &off, &z, &o);
    assert(rc == MSGPACK_UNPACK_SUCCESS); /* mp_check vouched for it */
    for (int redact = 0; redact <= 1; redact++) {
        struct buf out = {0};
        mpjson_write(&out, &o, redact);
        assert_json_parses(&out);
        buf_free(&out);
    }
    msgpack_zone_destroy(&z);
}

static void from_json(const uint8_t *data, size_t len)
{
    json_error_t je;
    json_t *v = json_loadb((const char *)data, len, JSON_DECODE_ANY, &je);
    if (!v) return;
    struct buf mp = {0}, out = {0};
    mpjson_pack_json(&mp, v);
    assert(mp_check(mp.data, mp.len, FAC_MP_MAX_DEPTH_CAP) == MP_OK ||
           mp_check(mp.data, mp.len, FAC_MP_MAX_DEPTH_CAP) == MP_TOO_DEEP);
    msgpack_zone z;
    msgpack_zone_init(&z, 2048);
    msgpack_object o;
    size_t off = 0;
    if (mp_check(mp.data, mp.len, FAC_MP_MAX_DEPTH_CAP) == MP_OK &&
        msgpack_unpack(mp.data, mp.len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS) {
        mpjson_write(&out, &o, false);
        assert_json_parses(&out);
    }
    msgpack_zone_destroy(&z);
    buf_free(&mp);
    buf_free(&out);
    json_decref(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    from_msgpack(data, len);
    from_json(data, len);
    return 0;
}
