/*
 * Starting an exec tool's process: fork, then in the child its own process group,
 * death with the worker, pipes on fds 0-2 and no other descriptor, default signals,
 * the tool's rlimits and user, and execve of its argv (never a shell). What fails in
 * the child after the fork is written to its stderr, and it exits 127.
 */
#ifndef FAC_PROC_SPAWN_H
#define FAC_PROC_SPAWN_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

#define PROC_EXEC_FAILED 127

struct spawned {
    pid_t pid;        /* also its process group id */
    int in, out, err; /* the worker's ends: non-blocking, close-on-exec */
};

/* 0, or -1 with a message in err (nothing is left running or open). */
int proc_spawn(const struct tool_cfg *t, char *const envp[], struct spawned *out, char *err,
               size_t errlen);

#endif
