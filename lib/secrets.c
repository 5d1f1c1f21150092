/* Refuses secrets that every user of the host can read (see secrets.h). */
#include "secrets.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "redis.h"

static bool open_to_all(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH));
}

/* The first inline secret the config holds, named by its key path, or NULL. */
static const char *inline_secret(const struct fac_config *c, char *what, size_t len)
{
    struct redis_target t;
    char err[256];
    if (c->redis && redis_target_parse(c->redis, NULL, &t, err, sizeof err) == 0 && t.password[0]) {
        memset(&t, 0, sizeof t);
        return snprintf(what, len, "the password in \"redis\""), what;
    }
    for (size_t i = 0; i < c->nshards; i++)
        if (c->shards[i].redis &&
            redis_target_parse(c->shards[i].redis, NULL, &t, err, sizeof err) == 0 &&
            t.password[0]) {
            memset(&t, 0, sizeof t);
            return snprintf(what, len, "the password in \"redis_shards.%s\"", c->shards[i].queue),
                   what;
        }
    for (size_t i = 0; i < c->nsites; i++) {
        if (c->sites[i].api_secret)
            return snprintf(what, len, "sites.%s.api_secret", c->sites[i].name), what;
        if (c->sites[i].db.password)
            return snprintf(what, len, "sites.%s.db.password", c->sites[i].name), what;
        if (c->sites[i].replica.password)
            return snprintf(what, len, "sites.%s.replica.password", c->sites[i].name), what;
    }
    return NULL;
}

static int refuse(const char *file, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen,
             "%s: %s can be read by every user of this host: run 'chmod o-rwx %s' "
             "(owner root or the service user, group fac-worker)",
             file, what, file);
    return -1;
}

int secrets_check_modes(const struct fac_config *c, const char *file, char *err, size_t errlen)
{
    char what[300];
    if (inline_secret(c, what, sizeof what) && open_to_all(file)) {
        char msg[400];
        snprintf(msg, sizeof msg, "the config file, which holds %s,", what);
        return refuse(file, msg, err, errlen);
    }
    if (open_to_all(c->redis_password_file))
        return refuse(c->redis_password_file, "redis_password_file", err, errlen);
    if (open_to_all(c->redis_sentinel_password_file))
        return refuse(c->redis_sentinel_password_file, "redis_sentinel_password_file", err, errlen);
    for (size_t i = 0; i < c->nshards; i++) {
        if (open_to_all(c->shards[i].redis_password_file))
            return refuse(c->shards[i].redis_password_file, "this redis_shards password file", err,
                          errlen);
        if (open_to_all(c->shards[i].redis_sentinel_password_file))
            return refuse(c->shards[i].redis_sentinel_password_file,
                          "this redis_shards sentinel password file", err, errlen);
    }
    for (size_t i = 0; i < c->nsites; i++) {
        if (open_to_all(c->sites[i].api_secret_file))
            return refuse(c->sites[i].api_secret_file, "this api_secret_file", err, errlen);
        if (open_to_all(c->sites[i].db.password_file))
            return refuse(c->sites[i].db.password_file, "this db.password_file", err, errlen);
        if (open_to_all(c->sites[i].replica.password_file))
            return refuse(c->sites[i].replica.password_file, "this replica.password_file", err,
                          errlen);
    }
    return 0;
}
