/* Executor registry (a tool's kind selects its executor) and outcome helpers. */
#include "exec.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fac/protocol.h"
#include "mpjson.h"

static const struct executor *const executors[] = {&exec_builtin, &exec_mcp, &exec_http,
                                                   &exec_process, &exec_sql};

const struct executor *exec_for(const struct tool_cfg *tool)
{
    for (size_t i = 0; i < sizeof executors / sizeof *executors; i++)
        if (strcmp(executors[i]->kind, tool->kind) == 0) return executors[i];
    return NULL;
}

void exec_fail(struct exec_call *call, const char *status, const char *type, const char *fmt, ...)
{
    call->status = status;
    snprintf(call->err_type_buf, sizeof call->err_type_buf, "%s", type);
    call->err_type = call->err_type_buf;
    buf_reset(&call->err_msg);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    buf_reserve(&call->err_msg, (size_t)(n > 0 ? n : 0));
    va_start(ap, fmt);
    vsnprintf(call->err_msg.data, (size_t)n + 1, fmt, ap);
    va_end(ap);
    call->err_msg.len = (size_t)(n > 0 ? n : 0);
}

void exec_succeed_json(struct exec_call *call, const json_t *v)
{
    struct buf packed = {0};
    mpjson_pack_json(&packed, v);
    /* The object points into its bytes, so they live in the call's zone too. */
    char *bytes = msgpack_zone_malloc(call->zone, packed.len);
    memcpy(bytes, packed.data, packed.len);
    size_t off = 0;
    call->status = FAC_ST_SUCCESS;
    if (msgpack_unpack(bytes, packed.len, &off, call->zone, &call->result) !=
        MSGPACK_UNPACK_SUCCESS)
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_EXEC,
                  "the result nests deeper than msgpack allows (32 levels)");
    buf_free(&packed);
}
