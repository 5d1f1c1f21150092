/*
 * Beside a Frappe bench: what fac-worker takes from the bench's own config files, so a
 * bench is configured once (DESIGN §4, docs/configuration.md "Beside a bench").
 */
#ifndef FAC_BENCH_H
#define FAC_BENCH_H

#include <jansson.h>
#include <stddef.h>

#include "config.h"

/* Reads c->bench_path's sites/common_site_config.json and every
 * sites/<site>/site_config.json into c: the Redis URL with its auth, the worker count,
 * each site's database and URL, and assistant_tools.<tool> limits. A key that `own`
 * (the fac-worker file's JSON) sets explicitly is kept. Returns 0, or -1 with a message
 * naming the Frappe file and key in err (never a secret's value). */
int bench_apply(struct fac_config *c, json_t *own, char *err, size_t errlen);

#endif
