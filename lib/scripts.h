/*
 * The Lua scripts of the protocol, each run atomically by Redis. Callers send EVALSHA
 * with script->sha and fall back to EVAL with script->src on a NOSCRIPT reply.
 */
#ifndef FAC_SCRIPTS_H
#define FAC_SCRIPTS_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "envelope.h"

struct script {
    const char *name;
    const char *src;
    char sha[41];
};

/* FETCH: KEYS canceled, ready1, inflight1, ready2, inflight2, ... in priority order;
 * ARGV n. Moves up to n jobs, highest priority first; returns {number of pending
 * cancels, queue-index (1-based), job, ...}: the worker checks a job against the cancels
 * only when there are any. */
extern struct script script_fetch;
/* BURY_TAKEN: KEYS inflight, dead; ARGV size, max_payload, dead_max, worker id, queue.
 * Moves the job a take left on the in-flight list's tail, over max_payload, to the dead
 * list with its reason, if it has that size. Returns 1, or 0 when it was not there. */
extern struct script script_bury_taken;
/* MOVE: KEYS from, to[, gone]; ARGV old, new, "front" | "back" | "dead", cap. Removes
 * old from `from` (searching from the oldest end) and, only if it was there, deletes the
 * key `gone` (when given) and RPUSHes new onto `to` ("front": served next) or LPUSHes it
 * ("back"), trimming `to` to cap ("dead"). Returns 1 or 0. */
extern struct script script_move;
/* ENQUEUE, the producer's one atomic step (docs/protocol.md "Enqueue script"):
 * KEYS ready, delayed, unique; ARGV job, due-ms (0: now), "front" | "back", unique-ttl-s
 * (0: no deduplication), wake channel. Returns 1, or 0 when the unique key already
 * existed (a job with this id is queued or running) and nothing was pushed. */
extern struct script script_enqueue;
/* RETRY: KEYS inflight, delayed; ARGV old, new, due-ms, wake channel. Removes old from
 * the in-flight list and, only if it was there, schedules new at due. Returns 1 or 0. */
extern struct script script_retry;
/* RELEASE: KEYS lock; ARGV token. Deletes a lock or lease only while it holds token. */
extern struct script script_release;

void scripts_init(void);
/* Runs a script on a synchronous connection; argv holds keys then args. A script not
 * hashed by scripts_init is hashed on first use. */
redisReply *script_run_sync(redisContext *c, struct script *s, int nkeys, int nargs,
                            const char **argv, const size_t *lens);

/* script_move on a synchronous connection; gone may be NULL. Returns 1 (moved), 0 (old
 * was not in `from`) or -1 (Redis error). */
int script_move_sync(redisContext *c, const char *from, const char *to, const char *gone,
                     struct str old, struct str nw, const char *mode, int64_t cap);

#endif
