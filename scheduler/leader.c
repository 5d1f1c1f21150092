/*
 * Leader election by a lease: one key, P:scheduler:leader, holds the active scheduler's
 * id and expires LEASE_MS after its last renewal. One script both claims a free lease
 * and extends our own, so a leader that lost its connection for a moment simply takes
 * its lease back. A standby claims every CLAIM_EVERY_MS: it takes over within
 * LEASE_MS + CLAIM_EVERY_MS of the leader's death (at once after a clean exit, which
 * deletes the key). Everything the leader does is safe to do twice (promotion is one
 * atomic script, cron slots and rescues take their own keys), so a leader that stalls
 * past its lease costs at most duplicated effort, never a duplicated job.
 */
#include <string.h>

#include "clock.h"
#include "fac/protocol.h"
#include "keys.h"
#include "log.h"
#include "sched.h"
#include "scripts.h"

#define LEASE_MS 3000
#define RENEW_EVERY_MS 1000
#define CLAIM_EVERY_MS 500

static struct script script_claim = {"claim",
                                     "local cur = redis.call('GET', KEYS[1])\n"
                                     "if not cur then\n"
                                     "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])\n"
                                     "  return 1\n"
                                     "end\n"
                                     "if cur == ARGV[1] then\n"
                                     "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                                     "  return 1\n"
                                     "end\n"
                                     "return 0\n",
                                     ""};

/* 1: we hold the lease, 0: another scheduler does, -1: Redis error. */
static int claim(struct sched *s)
{
    char k[FAC_KEY_MAX], ttl[16];
    key_global(k, FAC_KEY_LEADER, s->cfg->prefix);
    snprintf(ttl, sizeof ttl, "%d", LEASE_MS);
    const char *av[] = {k, s->id, ttl};
    size_t al[] = {strlen(k), strlen(s->id), strlen(ttl)};
    redisReply *r =
        redis_check_master_reply(s->c, script_run_sync(s->c, &script_claim, 1, 2, av, al));
    int rc = r && r->type == REDIS_REPLY_INTEGER ? (int)r->integer : -1;
    if (rc < 0)
        log_warn("claiming the scheduler lease %s failed: %s", k, r ? r->str : s->c->errstr);
    freeReplyObject(r);
    return rc;
}

void leader_tick(struct sched *s)
{
    int64_t now = mono_ms();
    if (now < s->next_claim_ms) return;
    int rc = claim(s);
    bool was = s->leader;
    s->leader = rc == 1;
    s->next_claim_ms = now + (s->leader ? RENEW_EVERY_MS : CLAIM_EVERY_MS);
    if (s->leader && !was) log_info("scheduler %s is now the active scheduler", s->id);
    if (!s->leader && was)
        log_warn("scheduler %s lost the lease%s: standing by", s->id,
                 rc < 0 ? " (Redis error)" : " to another scheduler");
}

void leader_release(struct sched *s)
{
    if (!s->leader || !s->c || s->c->err) return;
    char k[FAC_KEY_MAX];
    key_global(k, FAC_KEY_LEADER, s->cfg->prefix);
    const char *av[] = {k, s->id};
    size_t al[] = {strlen(k), strlen(s->id)};
    freeReplyObject(script_run_sync(s->c, &script_release, 1, 1, av, al));
    s->leader = false;
    log_info("scheduler %s released the lease", s->id);
}
