/*
 * msgpack ↔ JSON. msgpack → JSON always yields valid UTF-8 JSON (invalid bytes become
 * U+FFFD, NaN becomes null, binary becomes base64 text) and can redact secret-looking
 * keys; JSON → msgpack (via jansson) serves fac-ctl and config-defined args.
 */
#ifndef FAC_MPJSON_H
#define FAC_MPJSON_H

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>

#include "buf.h"

#define MPJSON_REDACTED "***REDACTED***"

/* Appends o as JSON to out. With redact, values under keys containing password,
 * api_key, secret, token or auth (any case) become "***REDACTED***". */
void mpjson_write(struct buf *out, const msgpack_object *o, bool redact);
/* Appends o's JSON text as mpjson_write would, clipped to at most max bytes without
 * cutting a UTF-8 sequence (utf8_clip); true when it was clipped. Only what is kept is
 * rendered (and a little more), so a huge object costs what its first max bytes do. */
bool mpjson_write_clipped(struct buf *out, const msgpack_object *o, bool redact, size_t max);
/* Appends a JSON string literal for s[0..n) to out. */
void mpjson_write_str(struct buf *out, const char *s, size_t n);
bool mpjson_key_is_secret(const char *k, size_t n);
/* Packs a jansson value as msgpack into out. */
void mpjson_pack_json(struct buf *out, const json_t *v);

#endif
