/*
 * The job envelope (docs/protocol.md): decoding with every check a hostile producer
 * needs, and re-encoding for the next attempt (unknown keys kept), with the error
 * history that travels with a retried job.
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
    double timeout;               /* seconds; 0 = not given */
    int64_t attempt;              /* 0-based */
    int64_t max_attempts;         /* 0 = not given */
    int64_t enqueued_at;          /* ms; 0 = not given */
    bool deduplicate;             /* the producer holds P:unique:<id> until the job is final */
    const msgpack_object *errors; /* an array of earlier attempts' errors, or NULL */
};

/* One failed attempt, as it is kept in "errors" (message clipped to ERROR_MESSAGE_MAX). */
struct attempt_error {
    int64_t attempt;
    const char *type;
    struct str message;
    int64_t at; /* ms */
};
#define ERROR_MESSAGE_MAX 1000

/* What changes from one attempt to the next. */
struct envelope_update {
    int64_t attempt;
    int64_t max_attempts;              /* 0: unchanged */
    const struct attempt_error *error; /* appended to "errors"; NULL: unchanged */
};

enum envelope_status { ENV_OK, ENV_DECODE, ENV_INVALID, ENV_TOO_LARGE };

/* Decodes data into e (objects allocated in zone). On failure writes a reason into err
 * and, when the id could be read, leaves it in e->id (else e->id.n == 0). */
enum envelope_status envelope_decode(const char *data, size_t len, size_t max_payload,
                                     msgpack_zone *zone, struct envelope *e, char *err,
                                     size_t errlen);
/* The error.type string for a failed decode. */
const char *envelope_error_type(enum envelope_status st);
/* The same envelope with the update applied, appended to out. */
void envelope_rewrite(const struct envelope *e, const struct envelope_update *u, struct buf *out);
/* Packs e's "errors" (e may be NULL) plus last (may be NULL) as one array. */
void envelope_pack_errors(msgpack_packer *pk, const struct envelope *e,
                          const struct attempt_error *last);

#endif
