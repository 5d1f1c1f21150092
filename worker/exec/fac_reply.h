/*
 * What a Frappe Assistant Core reply means for a job (docs/executors.md has the table):
 * an MCP tools/call reply from FAC's endpoint, or the reply of a whitelisted Frappe
 * method. Pure functions of (HTTP status, body), so every reply shape FAC produces is
 * unit-tested without a server.
 */
#ifndef FAC_FAC_REPLY_H
#define FAC_FAC_REPLY_H

#include <jansson.h>

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

#endif
