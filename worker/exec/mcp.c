/*
 * mcp tools: a JSON-RPC 2.0 tools/call to FAC's MCP endpoint on the job's site, so a
 * queued job runs exactly the tool an MCP client would (its permissions, its audit).
 * FAC's tool name is the tool's "name" key, else the fac-worker tool name.
 */
#include <stdint.h>
#include <string.h>

#include "exec.h"
#include "mpjson.h"
#include "site_post.h"

#define FAC_MCP_PATH "/api/method/frappe_assistant_core.api.fac_endpoint.handle_mcp"

static void mcp_start(struct exec_call *c)
{
    static uint64_t next_id; /* JSON-RPC ids: unique within this worker */
    const char *name = c->tool->remote_name ? c->tool->remote_name : c->tool->name;
    struct buf body = {0};
    buf_printf(&body,
               "{\"jsonrpc\":\"2.0\",\"id\":%llu,\"method\":\"tools/call\","
               "\"params\":{\"name\":",
               (unsigned long long)++next_id);
    mpjson_write_str(&body, name, strlen(name));
    buf_puts(&body, ",\"arguments\":");
    site_post_write_args(&body, c);
    buf_puts(&body, "}}");
    site_post_start(c, FAC_MCP_PATH, &body, fac_reply_mcp);
}

const struct executor exec_mcp = {"mcp", mcp_start, site_post_cancel};
