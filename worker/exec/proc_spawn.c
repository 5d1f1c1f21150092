/*
 * fork + execve of an exec tool (see proc_spawn.h). The worker's only other thread, the
 * JSON-lines audit writer (audit/jsonl.c), makes nothing but system calls and holds no
 * lock the child could need, so the child may use ordinary library calls (glibc makes
 * malloc safe across fork) between fork and exec.
 */
#include "proc_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

/* Ends with exit 127 and the reason on stderr, which the worker reads as the error. */
static void child_fail(const struct tool_cfg *t, const char *what)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "fac-worker: tool \"%s\": %s: %s\n", t->name, what,
                     strerror(errno));
    if (write(2, msg, (size_t)n) < 0) {
    } /* nowhere else to say it */
    _exit(PROC_EXEC_FAILED);
}

static void set_limit(const struct tool_cfg *t, int resource, rlim_t soft, rlim_t hard)
{
    struct rlimit rl = {soft, hard};
    if (setrlimit(resource, &rl) != 0) child_fail(t, "setrlimit");
}

static void child_limits(const struct tool_cfg *t)
{
    set_limit(t, RLIMIT_CORE, 0, 0); /* a crashing tool leaves no core file behind */
    if (t->memory_limit) set_limit(t, RLIMIT_AS, (rlim_t)t->memory_limit, (rlim_t)t->memory_limit);
    if (t->cpu_limit > 0) {
        rlim_t s = (rlim_t)ceil(t->cpu_limit);
        set_limit(t, RLIMIT_CPU, s, s + 1); /* SIGXCPU, then SIGKILL a second later */
    }
    if (t->max_procs) set_limit(t, RLIMIT_NPROC, (rlim_t)t->max_procs, (rlim_t)t->max_procs);
}

/* Pipe ends onto 0-2 (moved above 2 first, in case one already is 0-2), nothing else. */
static void child_fds(const struct tool_cfg *t, const int ends[3])
{
    int high[3];
    for (int i = 0; i < 3; i++)
        if ((high[i] = fcntl(ends[i], F_DUPFD_CLOEXEC, 3)) < 0) child_fail(t, "dup");
    for (int i = 0; i < 3; i++)
        if (dup2(high[i], i) < 0) child_fail(t, "dup2");
    if (close_range(3, ~0U, 0) != 0)
        for (int fd = 3; fd < 65536; fd++)
            close(fd);
}

static void child_signals(void)
{
    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL); /* the worker ignores SIGPIPE */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_run(const struct tool_cfg *t, const int ends[3], char *const envp[], pid_t worker)
{
    setpgid(0, 0);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != worker) _exit(PROC_EXEC_FAILED);
    child_fds(t, ends);
    child_signals();
    child_limits(t);
    if (t->cwd && chdir(t->cwd) != 0) child_fail(t, t->cwd);
    if (t->has_run_as && (setgroups((size_t)t->nrun_groups, t->run_groups) != 0 ||
                          setgid(t->run_gid) != 0 || setuid(t->run_uid) != 0))
        child_fail(t, "run_as");
    execve(t->argv[0], t->argv, envp);
    child_fail(t, t->argv[0]);
}

static void close_pipes(int p[3][2])
{
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 2; k++)
            if (p[i][k] >= 0) close(p[i][k]);
}

int proc_spawn(const struct tool_cfg *t, char *const envp[], struct spawned *out, char *err,
               size_t errlen)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    for (int i = 0; i < 3; i++)
        if (pipe2(p[i], O_CLOEXEC) != 0) {
            snprintf(err, errlen, "cannot make a pipe for tool \"%s\": %s", t->name,
                     strerror(errno));
            close_pipes(p);
            return -1;
        }
    pid_t worker = getpid();
    pid_t pid = fork();
    if (pid == 0) child_run(t, (int[3]){p[0][0], p[1][1], p[2][1]}, envp, worker);
    if (pid < 0) {
        snprintf(err, errlen, "cannot start tool \"%s\": fork: %s", t->name, strerror(errno));
        close_pipes(p);
        return -1;
    }
    setpgid(pid, pid); /* as the child does: a kill of the group cannot miss it */
    *out = (struct spawned){pid, p[0][1], p[1][0], p[2][0]};
    p[0][1] = p[1][0] = p[2][0] = -1;
    close_pipes(p);
    fcntl(out->in, F_SETFL, O_NONBLOCK);
    fcntl(out->out, F_SETFL, O_NONBLOCK);
    fcntl(out->err, F_SETFL, O_NONBLOCK);
    return 0;
}
