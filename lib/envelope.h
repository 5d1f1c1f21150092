/*
 * The job envelope (docs/protocol.md): decoding with every check a hostile producer
 * needs, and re-encoding with a new attempt number (unknown keys kept).
 */
#ifndef FAC_ENVELOPE_H
#define FAC_ENVELOPE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* A string inside the decoded element: not NUL-terminated, lives as long as the zone. */
struct str {
    const char *p;
    uint32_t n;
};

struct envelope {
    msgpack_object root;        /* the whole map, lives in the caller's zone */
    struct str id, tool;        /* required */
    const msgpack_object *args; /* a map, or NULL for none */
    struct str site, user, reply_to, client_id, session_id, ip_address, source_app;
    double timeout;       /* seconds; 0 = not given */
    int64_t attempt;      /* 0-based */
    int64_t max_attempts; /* 0 = not given */
    int64_t enqueued_at;  /* ms; 0 = not given */
};

enum envelope_status { ENV_OK, ENV_DECODE, ENV_INVALID, ENV_TOO_LARGE };

/* Decodes data into e (objects allocated in zone). On failure writes a reason into err
 * and, when the id could be read, leaves it in e->id (else e->id.n == 0). */
enum envelope_status envelope_decode(const char *data, size_t len, size_t max_payload,
                                     msgpack_zone *zone, struct envelope *e, char *err,
                                     size_t errlen);
/* The error.type string for a failed decode. */
const char *envelope_error_type(enum envelope_status st);
/* The same envelope with "attempt" set to attempt, appended to out. */
void envelope_with_attempt(const struct envelope *e, int64_t attempt, struct buf *out);

#endif
