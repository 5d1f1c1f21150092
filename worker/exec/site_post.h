/*
 * What the mcp and http executors share: POST a JSON body to the job's Frappe site
 * (sites.<site>: url, api_key, api_secret or api_secret_file) with
 * "Authorization: token key:secret", and turn the reply into the call's outcome with
 * a fac_reply mapper. The secret never appears in a log line or an error message.
 */
#ifndef FAC_SITE_POST_H
#define FAC_SITE_POST_H

#include "buf.h"
#include "exec.h"
#include "fac_reply.h"

typedef void (*reply_map_fn)(long http_status, const char *body, size_t len,
                             struct fac_outcome *out);

/* Appends the call's arguments as JSON, with args.limit clamped to the tool's
 * max_records (docs/executors.md "max_records"). */
void site_post_write_args(struct buf *out, const struct exec_call *call);
/* Starts the POST of body (taken over and freed) to path_or_url: a path is appended to
 * the site's url. done() may be called before this returns (bad site, bad secret). */
void site_post_start(struct exec_call *call, const char *path_or_url, struct buf *body,
                     reply_map_fn map);
/* Removes the call's transfer; done() is then never called. */
void site_post_cancel(struct exec_call *call);

#endif
