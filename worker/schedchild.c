/* The supervisor's scheduler child (see schedchild.h). */
#include "schedchild.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "clock.h"
#include "fac/protocol.h"
#include "log.h"

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000
#define HEALTHY_LIFETIME_MS 30000

/* build/fac-worker → build/fac-scheduler; /usr/bin/fac-worker → /usr/bin/fac-scheduler */
static int scheduler_path(char *out, size_t outlen)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return -1;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) return -1;
    *slash = '\0';
    return snprintf(out, outlen, "%s/fac-scheduler", self) < (int)outlen ? 0 : -1;
}

static void exec_scheduler(const char *path, const struct fac_config *cfg, pid_t parent,
                           int close_fd)
{
    setpgid(0, 0);                    /* terminal signals reach the supervisor only */
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* its lease is released at once, not left to expire */
    if (getppid() != parent) _exit(FAC_EXIT_CRASH);
    if (close_fd >= 0) close(close_fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const char *argv[] = {path,           "-c",
                          cfg->path,      "--log-level",
                          cfg->log_level, cfg->log_file ? "--log-file" : NULL,
                          cfg->log_file,  NULL};
    execv(path, (char *const *)argv);
    log_error("cannot run the scheduler %s: %s; install fac-scheduler next to fac-worker or set "
              "\"scheduler\": false",
              path, strerror(errno));
    _exit(FAC_EXIT_BOOT);
}

static void spawn(struct sched_child *c, const struct fac_config *cfg, int close_fd)
{
    char path[PATH_MAX];
    if (scheduler_path(path, sizeof path) || !cfg->path) {
        log_error("cannot find fac-scheduler next to this program (or the pool runs without a "
                  "config file): set \"scheduler\": false and run fac-scheduler yourself");
        c->gave_up = true;
        return;
    }
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        log_error("fork of the scheduler failed: %s; retrying", strerror(errno));
        c->next_ms = mono_ms() + BACKOFF_FIRST_MS;
        return;
    }
    if (pid == 0) exec_scheduler(path, cfg, parent, close_fd);
    *c = (struct sched_child){.pid = pid, .born_ms = mono_ms(), .failures = c->failures};
    log_info("started the scheduler pid=%d (%s)", (int)pid, path);
}

void schedchild_maintain(struct sched_child *c, const struct fac_config *cfg, bool stopping,
                         int close_fd)
{
    int64_t now = mono_ms();
    bool wanted = cfg->scheduler && !stopping;
    if (!c->pid) {
        if (wanted && !c->gave_up && now >= c->next_ms) spawn(c, cfg, close_fd);
        return;
    }
    if (!wanted && !c->term_ms) {
        kill(c->pid, SIGTERM);
        c->term_ms = now;
    } else if (c->term_ms && now - c->term_ms >= (int64_t)(cfg->kill_grace * 1000)) {
        log_warn("the scheduler pid=%d did not exit in time: SIGKILL", (int)c->pid);
        kill(c->pid, SIGKILL);
    }
}

bool schedchild_reaped(struct sched_child *c, pid_t pid, int status)
{
    if (!c->pid || pid != c->pid) return false;
    int64_t lived = mono_ms() - c->born_ms;
    bool asked = c->term_ms != 0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    c->pid = 0;
    c->term_ms = 0;
    if (asked) return true;
    if (code == FAC_EXIT_BOOT) {
        log_error("the scheduler exited with code 3 (bad config or credentials): not restarting "
                  "it; fix the config and reload (HUP)");
        c->gave_up = true;
        return true;
    }
    if (lived >= HEALTHY_LIFETIME_MS) c->failures = 0;
    int64_t delay = BACKOFF_FIRST_MS << (c->failures < 5 ? c->failures : 5);
    if (delay > BACKOFF_MAX_MS) delay = BACKOFF_MAX_MS;
    c->failures++;
    c->next_ms = mono_ms() + delay;
    log_warn("the scheduler pid=%d %s %d after %.1f s: restarting it in %lld ms", (int)pid,
             WIFSIGNALED(status) ? "was killed by signal" : "exited with code",
             WIFSIGNALED(status) ? WTERMSIG(status) : code, (double)lived / 1000.0,
             (long long)delay);
    return true;
}

void schedchild_signal(const struct sched_child *c, int sig)
{
    if (c->pid) kill(c->pid, sig);
}
