/*
 * A site's database settings from the config (sites.<site>.db), shared by everything
 * that talks to a site's MariaDB. The password may live in a file so that it stays
 * out of the config; it is never copied into an error text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

static char *read_secret_file(const char *path, const char *key, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read %s: %s", key, path, strerror(errno));
        return NULL;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    char *pw = strdup(buf);
    memset(buf, 0, sizeof buf);
    return pw;
}

int db_params_for_site(const struct site_cfg *s, double timeout, struct db_params *p, char **pw,
                       char *err, size_t errlen)
{
    const struct site_db_cfg *d = &s->db;
    *pw = NULL;
    if (!d->name) {
        snprintf(err, errlen,
                 "sites.%s.db.name: not set (the site's database name, Frappe's "
                 "db_name)",
                 s->name);
        return -1;
    }
    if (d->password_file) {
        char key[300];
        snprintf(key, sizeof key, "sites.%s.db.password_file", s->name);
        if (!(*pw = read_secret_file(d->password_file, key, err, errlen))) return -1;
    } else if (d->password) {
        *pw = strdup(d->password);
    }
    *p = (struct db_params){.host = d->host,
                            .port = (unsigned)d->port,
                            .socket = d->socket,
                            .name = d->name,
                            .user = d->user ? d->user : d->name,
                            .password = *pw,
                            .timeout = timeout};
    return 0;
}

void db_password_free(char *pw)
{
    if (!pw) return;
    memset(pw, 0, strlen(pw));
    free(pw);
}
