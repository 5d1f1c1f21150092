/*
 * Where Redis is and how to log in: URL parsing (redis://, unix://), the password kept
 * out of every message, and a synchronous connect (supervisor, fac-ctl) that does AUTH
 * and SELECT. The worker's async connections use the same target.
 */
#ifndef FAC_REDIS_H
#define FAC_REDIS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

struct redis_target {
    char host[256];
    int port;
    char path[1024]; /* unix socket when non-empty */
    int db;
    char user[128];
    char password[256]; /* secret: never printed */
};

/* Parses url; password_file (may be NULL) overrides a password in the URL. */
int redis_target_parse(const char *url, const char *password_file, struct redis_target *t,
                       char *err, size_t errlen);
/* "127.0.0.1:6379/0" or "unix:/path?db=0": safe to log. */
const char *redis_target_display(const struct redis_target *t, char *out, size_t outlen);

enum redis_connect_status { REDIS_CONNECT_OK, REDIS_CONNECT_DOWN, REDIS_CONNECT_AUTH };
/* Connects with timeouts, then AUTH (when a password is set) and SELECT. On failure
 * returns NULL, sets *status and writes a message naming the server into err. */
redisContext *redis_connect_sync(const struct redis_target *t, double timeout_s,
                                 enum redis_connect_status *status, char *err, size_t errlen);
/* The AUTH/SELECT argv for an async connection's first commands; returns argc (0 = none). */
int redis_auth_argv(const struct redis_target *t, const char **argv, size_t *lens);
/* True when a Redis error reply means the credentials are wrong (not a transient fault). */
bool redis_error_is_auth(const char *msg);

#endif
