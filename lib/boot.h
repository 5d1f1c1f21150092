/*
 * What every daemon does once its options are parsed: load the config strictly, answer
 * --check-config, or set up logging from the config and the command line.
 */
#ifndef FAC_BOOT_H
#define FAC_BOOT_H

#include <stdbool.h>

#include "config.h"

struct boot_opts {
    const char *prog;       /* "fac-worker": prefixes messages on stderr */
    const char *role;       /* the log role: "sup", "sch" */
    const char *path;       /* the config file */
    bool check;             /* --check-config */
    const char *log_file;   /* --log-file, or NULL for the config's */
    const char *log_level;  /* --log-level, or NULL for the config's */
    const char *log_format; /* --log-format, or NULL for the config's */
    bool runs_tools;        /* fac-worker: refuse run_as it cannot switch to */
};

/* The loaded config with logging set up, or NULL with *rc set to the exit code (0 after
 * a passed --check-config, FAC_EXIT_BOOT or FAC_EXIT_USAGE otherwise). */
struct fac_config *boot_config(const struct boot_opts *o, int *rc);

#endif
