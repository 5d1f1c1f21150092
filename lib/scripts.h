/*
 * The Lua scripts of the protocol, each run atomically by Redis. Callers send EVALSHA
 * with script->sha and fall back to EVAL with script->src on a NOSCRIPT reply.
 */
#ifndef FAC_SCRIPTS_H
#define FAC_SCRIPTS_H

#include <hiredis/hiredis.h>

struct script {
    const char *name;
    const char *src;
    char sha[41];
};

/* FETCH: KEYS ready1, inflight1, ready2, inflight2, ... in priority order; ARGV n.
 * Moves up to n jobs, highest priority first; returns {queue-index (1-based), job, ...}. */
extern struct script script_fetch;
/* MOVE: KEYS from, to; ARGV old, new, "front" | "dead", cap. Removes old from `from`
 * (searching from the oldest end) and, only if it was there, RPUSHes new onto `to`
 * ("front": served next) or LPUSHes it and trims `to` to cap ("dead"). Returns 1 or 0. */
extern struct script script_move;

void scripts_init(void);
/* Runs a script on a synchronous connection; argv holds keys then args. */
redisReply *script_run_sync(redisContext *c, struct script *s, int nkeys, int nargs,
                            const char **argv, const size_t *lens);

#endif
