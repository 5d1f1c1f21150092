/*
 * http tools: POST the job's arguments as a JSON object to a configured URL — usually a
 * whitelisted Frappe method under the job's site — with the site's API token. Frappe
 * passes the object's keys to the method as keyword arguments.
 */
#include "exec.h"
#include "site_post.h"

static void http_start(struct exec_call *c)
{
    struct buf body = {0};
    site_post_write_args(&body, c);
    site_post_start(c, c->tool->url, &body, fac_reply_method);
}

const struct executor exec_http = {"http", http_start, site_post_cancel};
