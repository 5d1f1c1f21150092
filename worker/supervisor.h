/*
 * The supervisor: forks and watches the workers, and nothing else. It knows no job:
 * when it reaps a worker it hands the worker's id to the requeue helper.
 */
#ifndef FAC_SUPERVISOR_H
#define FAC_SUPERVISOR_H

#include "config.h"

/* Runs the pool until it is stopped; returns the exit code. Takes ownership of cfg. */
int supervisor_run(struct fac_config *cfg, int cli_workers);

#endif
