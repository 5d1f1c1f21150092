/* fac-worker: command line, config check, then the supervisor. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"
#include "config.h"
#include "fac/protocol.h"
#include "log.h"
#include "supervisor.h"

#define DEFAULT_CONFIG "/etc/fac-worker/fac.json"

static void usage(FILE *f)
{
    fprintf(f, "usage: fac-worker [-c FILE] [-w N] [--check-config] [--log-file F] "
               "[--log-level debug|info|warn|error] [--log-format text|json]\n"
               "  -c, --config FILE   JSON config (default " DEFAULT_CONFIG ")\n"
               "  -w, --workers N     worker processes (overrides \"workers\")\n"
               "  --check-config      check the config and exit (0 valid, 3 invalid)\n");
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"workers", required_argument, NULL, 'w'},
                                         {"check-config", no_argument, NULL, 'C'},
                                         {"log-file", required_argument, NULL, 'L'},
                                         {"log-level", required_argument, NULL, 'l'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"log-format", required_argument, NULL, 'F'},
                                         {"version", no_argument, NULL, 'V'},
                                         {NULL, 0, NULL, 0}};
    const char *path = DEFAULT_CONFIG, *log_file = NULL, *log_level = NULL, *log_format = NULL;
    int workers = 0, check = 0, c;
    while ((c = getopt_long(argc, argv, "c:w:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'w': {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (*end || n < 1 || n > 1024) {
                fprintf(stderr, "fac-worker: -w takes a number of workers from 1 to 1024\n");
                return FAC_EXIT_USAGE;
            }
            workers = (int)n;
            break;
        }
        case 'C':
            check = 1;
            break;
        case 'L':
            log_file = optarg;
            break;
        case 'l':
            log_level = optarg;
            break;
        case 'F':
            log_format = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            puts("fac-worker 0.1.0 (protocol v1)");
            return 0;
        default:
            usage(stderr);
            return FAC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return FAC_EXIT_USAGE;
    }
    struct boot_opts o = {"fac-worker", "sup", path, check, log_file, log_level, log_format, true};
    int rc;
    struct fac_config *cfg = boot_config(&o, &rc);
    if (!cfg) return rc;
    return supervisor_run(cfg, workers);
}
