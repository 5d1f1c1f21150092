/* Config loading and logging set-up shared by fac-worker and fac-scheduler. */
#include "boot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fac/protocol.h"
#include "log.h"

static struct fac_config *fail(const char *prog, int code, int *rc, struct fac_config *cfg,
                               const char *msg)
{
    fprintf(stderr, "%s: %s\n", prog, msg);
    config_free(cfg);
    *rc = code;
    return NULL;
}

struct fac_config *boot_config(const struct boot_opts *o, int *rc)
{
    char err[2048];
    struct fac_config *cfg = config_load(o->path, err, sizeof err);
    if (!cfg) return fail(o->prog, FAC_EXIT_BOOT, rc, NULL, err);
    if (o->runs_tools && config_check_run_as(cfg, err, sizeof err))
        return fail(o->prog, FAC_EXIT_BOOT, rc, cfg, err);
    if (o->check) {
        printf("%s: valid (%zu queues, %zu tools, %lld workers, %zu cron entries)\n", o->path,
               cfg->nqueues, cfg->ntools, (long long)cfg->workers, cfg->ncron);
        config_free(cfg);
        *rc = 0;
        return NULL;
    }
    enum log_level lvl = LOG_INFO;
    if (log_level_parse(o->log_level ? o->log_level : cfg->log_level, &lvl))
        return fail(o->prog, FAC_EXIT_USAGE, rc, cfg,
                    "--log-level takes debug, info, warn or error");
    enum log_format fmt = LOG_TEXT;
    if (log_format_parse(o->log_format ? o->log_format : cfg->log_format, &fmt))
        return fail(o->prog, FAC_EXIT_USAGE, rc, cfg, "--log-format takes text or json");
    log_set_format(fmt);
    if (o->log_file) {
        free(cfg->log_file);
        cfg->log_file = strdup(o->log_file);
    }
    if (log_init(o->role, cfg->log_file, lvl) != 0) {
        config_free(cfg);
        *rc = FAC_EXIT_BOOT;
        return NULL;
    }
    return cfg;
}
