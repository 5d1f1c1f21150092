/* Key names of protocol v1, built into caller buffers of FAC_KEY_MAX bytes. */
#ifndef FAC_KEYS_H
#define FAC_KEYS_H

#include <stdio.h>

#include "fac/protocol.h"

#define FAC_KEY_MAX 512

static inline const char *key_ready(char *k, const char *prefix, const char *q)
{
    snprintf(k, FAC_KEY_MAX, FAC_KEY_READY, prefix, q);
    return k;
}
static inline const char *key_inflight(char *k, const char *prefix, const char *q, const char *wid)
{
    snprintf(k, FAC_KEY_MAX, FAC_KEY_INFLIGHT, prefix, q, wid);
    return k;
}
static inline const char *key_delayed(char *k, const char *prefix, const char *q)
{
    snprintf(k, FAC_KEY_MAX, FAC_KEY_DELAYED, prefix, q);
    return k;
}
static inline const char *key_unique(char *k, const char *prefix, const char *id, size_t idlen)
{
    snprintf(k, FAC_KEY_MAX, "%s:unique:%.*s", prefix, (int)idlen, id);
    return k;
}
/* A key or channel that is the prefix and one fixed suffix (FAC_KEY_CANCELED, ...). */
static inline const char *key_global(char *k, const char *fmt, const char *prefix)
{
    snprintf(k, FAC_KEY_MAX, fmt, prefix);
    return k;
}
static inline const char *key_dead(char *k, const char *prefix, const char *q)
{
    snprintf(k, FAC_KEY_MAX, FAC_KEY_DEAD, prefix, q);
    return k;
}
static inline const char *key_result(char *k, const char *prefix, const char *id, size_t idlen)
{
    snprintf(k, FAC_KEY_MAX, "%s:result:%.*s", prefix, (int)idlen, id);
    return k;
}
static inline const char *key_workers(char *k, const char *prefix)
{
    snprintf(k, FAC_KEY_MAX, FAC_KEY_WORKERS, prefix);
    return k;
}
static inline const char *key_worker(char *k, const char *prefix, const char *wid)
{
    snprintf(k, FAC_KEY_MAX, FAC_KEY_WORKER, prefix, wid);
    return k;
}

#endif
