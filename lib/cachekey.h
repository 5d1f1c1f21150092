/*
 * The result cache's key (docs/protocol.md "Keys"): one tool called for one site and
 * user with equal arguments gives one key, whatever order the producer wrote the
 * argument map in, so any client can find or drop a cached result.
 */
#ifndef FAC_CACHEKEY_H
#define FAC_CACHEKEY_H

#include <msgpack.h>

#include "envelope.h"

/* Writes "<prefix>:cache:<64 hex digits>" into out (FAC_KEY_MAX bytes): SHA-256 over the
 * length-prefixed tool, site and user and the canonical msgpack of args (NULL = {}).
 * An empty user counts as "Administrator", as in the audit. */
const char *cache_key(char *out, const char *prefix, struct str tool, struct str site,
                      struct str user, const msgpack_object *args);

#endif
