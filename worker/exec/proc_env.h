/*
 * The environment of an exec tool's process: only the names on the tool's allow-list
 * (key "env"; default PATH, LANG, LC_ALL, TZ) are copied from the worker's own
 * environment, so its secrets (credentials in the service's environment) never reach a
 * tool, and FAC_JOB_ID, FAC_TOOL, FAC_SITE and FAC_USER tell the tool what it runs for.
 */
#ifndef FAC_PROC_ENV_H
#define FAC_PROC_ENV_H

#include <stddef.h>

#include "envelope.h"

struct proc_env_ctx {
    struct str job_id, tool, site, user; /* empty ones are left out */
};

/* A NULL-terminated "NAME=value" array, freed with proc_env_free. allow == NULL means
 * the default list; names are matched exactly. */
char **proc_env_build(char *const *environ_in, char *const *allow, size_t nallow,
                      const struct proc_env_ctx *ctx);
void proc_env_free(char **envp);

#endif
