/* Executor registry: a tool's kind selects its executor. */
#include "exec.h"

#include <stdarg.h>
#include <string.h>

static const struct executor *const executors[] = {&exec_builtin};

const struct executor *exec_for(const struct tool_cfg *tool)
{
    for (size_t i = 0; i < sizeof executors / sizeof *executors; i++)
        if (strcmp(executors[i]->kind, tool->kind) == 0) return executors[i];
    return NULL;
}

void exec_fail(struct exec_call *call, const char *status, const char *type, const char *fmt, ...)
{
    call->status = status;
    call->err_type = type;
    buf_reset(&call->err_msg);
    va_list ap;
    va_start(ap, fmt);
    char tmp[1024];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_puts(&call->err_msg, tmp);
}
