/*
 * Heartbeats on the Redis server's clock. Hosts' clocks drift apart; a heartbeat
 * scored by its writer's clock and judged by another host's (the scheduler's
 * dead_after, fac-ctl's ages, the cluster metrics) would call a live host with a slow
 * clock dead, or keep a dead one with a fast clock alive for as long as the skew. So
 * every heartbeat in P:workers and P:supervisors is scored by Redis itself (TIME in a
 * Lua script), and every reader measures its age against Redis's TIME: one clock.
 */
#ifndef FAC_SRVCLOCK_H
#define FAC_SRVCLOCK_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "scripts.h"

/* BEAT: KEYS zset; ARGV member. ZADDs member with the server's time in ms; returns it.
 * The worker sends it with EVAL on its async connection. */
extern struct script script_beat;

/* script_beat on a synchronous connection; returns its reply (the score, or an error;
 * NULL when the connection failed), which the caller frees. */
redisReply *srvclock_beat_sync(redisContext *c, const char *zset, const char *member);
/* The server's clock in ms (TIME), or -1 when Redis did not answer. */
int64_t srvclock_now_ms(redisContext *c);

#endif
