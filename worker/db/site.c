/*
 * A site's database settings from the config (sites.<site>.db), shared by everything
 * that talks to a site's MariaDB. The password may live in a file so that it stays
 * out of the config; it is never copied into an error text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* A TLS file the library would only fail on at connect, with a vaguer message. */
static int check_readable(const char *path, const char *site, const char *what, const char *key,
                          char *err, size_t errlen)
{
    if (!path || access(path, R_OK) == 0) return 0;
    snprintf(err, errlen, "sites.%s.%s.%s: cannot read %s: %s", site, what, key, path,
             strerror(errno));
    return -1;
}

int db_params_for_site(const struct site_cfg *s, bool replica, double timeout, struct db_params *p,
                       char **pw, char *err, size_t errlen)
{
    const struct site_db_cfg *d = replica ? &s->replica : &s->db;
    const char *what = replica ? "replica" : "db";
    *pw = NULL;
    if (!d->name) {
        snprintf(err, errlen,
                 "sites.%s.db.name: not set (the site's database name, Frappe's "
                 "db_name)",
                 s->name);
        return -1;
    }
    if (check_readable(d->ssl_ca, s->name, what, "ssl_ca", err, errlen) ||
        check_readable(d->ssl_cert, s->name, what, "ssl_cert", err, errlen) ||
        check_readable(d->ssl_key, s->name, what, "ssl_key", err, errlen))
        return -1;
    if (d->password_file) {
        char key[300];
        snprintf(key, sizeof key, "sites.%s.%s.password_file", s->name, what);
        if (!(*pw = read_secret_file(d->password_file, key, err, errlen))) return -1;
    } else if (d->password) {
        *pw = strdup(d->password);
    }
    bool tls = d->ssl || d->ssl_ca || d->ssl_cert || d->ssl_key || d->ssl_verify_server_cert == 1;
    *p = (struct db_params){.host = d->host,
                            .port = (unsigned)d->port,
                            .socket = d->socket,
                            .name = d->name,
                            .user = d->user ? d->user : d->name,
                            .password = *pw,
                            .timeout = timeout,
                            .tls = tls,
                            .ssl_ca = d->ssl_ca,
                            .ssl_cert = d->ssl_cert,
                            .ssl_key = d->ssl_key,
                            .verify_server_cert = d->ssl_verify_server_cert == -1
                                                      ? d->ssl_ca != NULL
                                                      : d->ssl_verify_server_cert == 1};
    return 0;
}

void db_password_free(char *pw)
{
    if (!pw) return;
    memset(pw, 0, strlen(pw));
    free(pw);
}
