/*
 * What a Frappe Assistant Core reply means for a job (docs/executors.md has the table):
 * an MCP tools/call reply from FAC's endpoint, or the reply of a whitelisted Frappe
 * method. Pure functions of (HTTP status, body), so every reply shape FAC produces is
 * unit-tested without a server.
 */
#ifndef FAC_FAC_REPLY_H
#define FAC_FAC_REPLY_H

#include <jansson.h>
#include <stdbool.h>

#include "buf.h"

struct fac_outcome {
    const char *status; /* FAC_ST_* */
    char err_type[64];  /* when not Success: FAC's error_type / exc_type, or ours */
    struct buf message; /* when not Success: FAC's own message */
    json_t *result;     /* Success: the tool's value (owned) */
};

/* A reply of POST .../frappe_assistant_core.api.fac_endpoint.handle_mcp (tools/call). */
void fac_reply_mcp(long http_status, const char *body, size_t len, struct fac_outcome *out);
/* A reply of POST /api/method/<dotted.path>. */
void fac_reply_method(long http_status, const char *body, size_t len, struct fac_outcome *out);
void fac_outcome_free(struct fac_outcome *o);

/* How replies and a tool's output are parsed: a key given twice is refused (which of the
 * two counts would be a guess, e.g. "isError": false, "isError": true), NUL is kept. */
#define FAC_JSON_FLAGS (JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL)
/* Whether JSON that did not load is hostile rather than not JSON at all: nested past the
 * parser's depth, or a repeated key. Then why says so ("is nested deeper than ..."). */
bool fac_json_refused(const json_error_t *je, char *why, size_t len);
/* Text that is not JSON, as a JSON string: bytes that are not UTF-8 become U+FFFD. */
json_t *fac_json_text(const char *s, size_t n);

#endif
