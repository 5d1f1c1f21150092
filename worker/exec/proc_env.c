/* An exec tool's environment from an allow-list (see proc_env.h). */
#include "proc_env.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

static char *const default_allow[] = {"PATH", "LANG", "LC_ALL", "TZ"};

static const char *lookup(char *const *env, const char *name)
{
    size_t n = strlen(name);
    for (; env && *env; env++)
        if (strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env;
    return NULL;
}

static void add(char **out, size_t *n, const char *name, struct str v)
{
    if (!v.n) return;
    struct buf b = {0};
    buf_printf(&b, "%s=%.*s", name, (int)v.n, v.p);
    out[(*n)++] = b.data;
}

char **proc_env_build(char *const *environ_in, char *const *allow, size_t nallow,
                      const struct proc_env_ctx *ctx)
{
    if (!allow) {
        allow = default_allow;
        nallow = sizeof default_allow / sizeof *default_allow;
    }
    char **out = calloc(nallow + 5, sizeof *out);
    size_t n = 0;
    add(out, &n, "FAC_JOB_ID", ctx->job_id);
    add(out, &n, "FAC_TOOL", ctx->tool);
    add(out, &n, "FAC_SITE", ctx->site);
    add(out, &n, "FAC_USER", ctx->user);
    for (size_t i = 0; i < nallow; i++) {
        const char *entry = lookup(environ_in, allow[i]);
        if (entry && !lookup(out, allow[i])) out[n++] = strdup(entry); /* ours win */
    }
    return out;
}

void proc_env_free(char **envp)
{
    for (char **p = envp; p && *p; p++)
        free(*p);
    free(envp);
}
