/*
 * Bench config: a Frappe bench already knows its Redis, its sites' databases and how
 * many background workers it wants. This reads those keys from the bench's own files
 * (Frappe's layout: sites/common_site_config.json, sites/<site>/site_config.json) so
 * the fac-worker file only holds what Frappe's config does not. Keys Frappe has and we
 * do not use are Frappe's business and ignored; a key we use with a wrong type is an
 * error naming the file and the key. Precedence: docs/configuration.md "Beside a bench".
 */
#include "bench.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One Frappe config file: its path (for errors) and its parsed object. */
struct bfile {
    char path[PATH_MAX + NAME_MAX + 32];
    json_t *root;
};

struct bctx {
    struct fac_config *c;
    json_t *own; /* the fac-worker file: its explicit keys win */
    struct bfile common;
    json_t *tool_keys; /* tool → key → [value, file] set by a site, to find disagreements */
    char id[PATH_MAX]; /* bench_id's answer */
    char *err;
    size_t errlen;
};

static int bfail(struct bctx *b, const char *file, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bfail(struct bctx *b, const char *file, const char *key, const char *fmt, ...)
{
    int n = snprintf(b->err, b->errlen, "%s: %s%s", file, key ? key : "", key ? ": " : "");
    if (n < 0 || (size_t)n >= b->errlen) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err + n, b->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static int read_json(struct bctx *b, struct bfile *f)
{
    json_error_t je;
    f->root = json_load_file(f->path, 0, &je);
    if (!f->root) {
        if (je.line < 0)
            return bfail(b, f->path, NULL,
                         "cannot read it (%s): is bench_path \"%s\" a Frappe "
                         "bench directory?",
                         je.text, b->c->bench_path);
        return bfail(b, f->path, NULL, "line %d column %d: invalid JSON: %s", je.line, je.column,
                     je.text);
    }
    if (!json_is_object(f->root))
        return bfail(b, f->path, NULL, "the top level must be a JSON object");
    return 0;
}

/* Whether the fac-worker file gives own.k1[.k2[.k3[.k4]]] (a NULL ends the path). */
static bool own_sets(const struct bctx *b, const char *k1, const char *k2, const char *k3,
                     const char *k4)
{
    const char *keys[] = {k1, k2, k3, k4};
    json_t *v = b->own;
    for (size_t i = 0; i < 4 && keys[i] && v; i++)
        v = json_object_get(v, keys[i]);
    return v != NULL;
}

/* A string key: *out is NULL when absent. */
static int get_str(struct bctx *b, const struct bfile *f, const char *key, const char **out)
{
    json_t *v = json_object_get(f->root, key);
    *out = v ? json_string_value(v) : NULL;
    if (v && !*out) return bfail(b, f->path, key, "expected a string");
    return 0;
}

/* An integer key in [min, max], also as a string of digits (as some benches write
 * db_port); *set is false when absent. */
static int get_int(struct bctx *b, const struct bfile *f, const char *key, long long min,
                   long long max, long long *out, bool *set)
{
    json_t *v = json_object_get(f->root, key);
    *set = v != NULL;
    if (!v) return 0;
    char *end = NULL;
    if (json_is_integer(v))
        *out = json_integer_value(v);
    else if (json_is_string(v) && *json_string_value(v))
        *out = strtoll(json_string_value(v), &end, 10);
    if ((!json_is_integer(v) && (!end || *end)) || *out < min || *out > max)
        return bfail(b, f->path, key, "expected a whole number from %lld to %lld", min, max);
    return 0;
}

/* Frappe writes flags as true/false or 1/0. */
static int get_flag(struct bctx *b, const struct bfile *f, const char *key, bool *out)
{
    json_t *v = json_object_get(f->root, key);
    *out = false;
    if (!v) return 0;
    if (!json_is_boolean(v) && !json_is_integer(v))
        return bfail(b, f->path, key, "expected true or false (or 1 or 0)");
    *out = json_is_true(v) || (json_is_integer(v) && json_integer_value(v) != 0);
    return 0;
}

static int check_db_type(struct bctx *b, const struct bfile *f)
{
    const char *t;
    if (get_str(b, f, "db_type", &t)) return -1;
    if (t && strcmp(t, "mariadb") != 0)
        return bfail(b, f->path, "db_type",
                     "\"%s\" is not supported: fac-worker's audit and sql "
                     "tools speak MariaDB only; run this site on MariaDB, or leave bench_path "
                     "out and configure the site in the fac-worker file",
                     t);
    return 0;
}

/* Appends s to out with every byte outside RFC 3986's unreserved set as %XX. */
static size_t pct_encode(char *out, size_t n, size_t cap, const char *s)
{
    for (; *s && n + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch))
            out[n++] = (char)ch;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", ch);
    }
    out[n] = '\0';
    return n;
}

/* redis_queue with Frappe's RQ credentials as the URL's user and password. */
static int redis_with_auth(struct bctx *b, const char *url, const char *user, const char *pw,
                           char **out)
{
    const struct bfile *f = &b->common;
    const char *rest = strstr(url, "://");
    if (!rest || (strncmp(url, "redis://", 8) && strncmp(url, "rediss://", 9)) || strchr(rest, '@'))
        return bfail(b, f->path, "redis_queue",
                     "use_rq_auth needs a redis:// URL without "
                     "credentials in it (Frappe adds rq_username and rq_password)");
    rest += 3;
    size_t cap = strlen(url) + 3 * (strlen(user) + strlen(pw)) + 8;
    char *u = malloc(cap);
    size_t n = (size_t)snprintf(u, cap, "%.*s", (int)(rest - url), url);
    n = pct_encode(u, n, cap, user);
    u[n++] = ':';
    n = pct_encode(u, n, cap, pw);
    snprintf(u + n, cap - n, "@%s", rest);
    *out = u;
    return 0;
}

/* Frappe's default RQ user: the bench's bench_id, else its directory's name. */
static const char *bench_id(struct bctx *b)
{
    const char *id = json_string_value(json_object_get(b->common.root, "bench_id"));
    if (id) return id;
    snprintf(b->id, sizeof b->id, "%s", b->c->bench_path);
    size_t n = strlen(b->id);
    while (n > 1 && b->id[n - 1] == '/')
        b->id[--n] = '\0';
    const char *slash = strrchr(b->id, '/');
    return slash ? slash + 1 : b->id;
}

static int apply_redis(struct bctx *b)
{
    const char *url, *user, *pw;
    bool auth;
    if (own_sets(b, "redis", NULL, NULL, NULL)) return 0;
    if (get_str(b, &b->common, "redis_queue", &url) ||
        get_flag(b, &b->common, "use_rq_auth", &auth) ||
        get_str(b, &b->common, "rq_username", &user) || get_str(b, &b->common, "rq_password", &pw))
        return -1;
    if (!url) return 0; /* Frappe's default, and ours: redis://127.0.0.1:11000 */
    char *full = NULL;
    if (auth && !pw)
        return bfail(b, b->common.path, "rq_password",
                     "use_rq_auth is set but rq_password is "
                     "not: add it (bench set-config -g rq_password ...)");
    if (auth && redis_with_auth(b, url, user ? user : bench_id(b), pw, &full)) return -1;
    free(b->c->redis);
    b->c->redis = full ? full : strdup(url);
    return 0;
}

static int apply_workers(struct bctx *b)
{
    long long n;
    bool set;
    if (get_int(b, &b->common, "background_workers", 1, 1024, &n, &set)) return -1;
    if (set && !own_sets(b, "workers", NULL, NULL, NULL)) b->c->workers = n;
    return 0;
}

/* assistant_tools.<tool> of one file. Tools are shared by every site of the pool, so
 * two sites that set one key must agree; a tool this pool does not run is FAC's own. */
static int apply_tool_limits(struct bctx *b, const struct bfile *f, bool from_site)
{
    json_t *all = json_object_get(f->root, "assistant_tools"), *obj;
    const char *tool;
    if (all && !json_is_object(all))
        return bfail(b, f->path, "assistant_tools", "expected an object: tool name → limits");
    json_object_foreach(all, tool, obj)
    {
        struct tool_cfg *t = (struct tool_cfg *)config_tool(b->c, tool, strlen(tool));
        if (!t) continue;
        char path[256];
        snprintf(path, sizeof path, "assistant_tools.%s", tool);
        if (config_tool_limits(t, obj, f->path, path, b->err, b->errlen)) return -1;
        if (!from_site) continue;
        json_t *seen = json_object_get(b->tool_keys, tool), *v;
        const char *key;
        if (!seen) json_object_set_new(b->tool_keys, tool, seen = json_object());
        json_object_foreach(obj, key, v)
        {
            json_t *prev = json_object_get(seen, key);
            if (prev && !json_equal(json_array_get(prev, 0), v))
                return bfail(b, f->path, path,
                             "%s differs from %s: a tool's limits hold for "
                             "every site of the pool, so set it once in "
                             "common_site_config.json",
                             key, json_string_value(json_array_get(prev, 1)));
            if (!prev) json_object_set_new(seen, key, json_pack("[Os]", v, f->path));
        }
    }
    return 0;
}

/* The file that decides a site key: the site's own, else the bench's common one. */
static const struct bfile *owner(const struct bctx *b, const struct bfile *site, const char *key)
{
    return json_object_get(site->root, key) ? site : &b->common;
}

/* host_name as Frappe's get_url reads it: a bare host name means http. */
static int apply_site_url(struct bctx *b, const struct bfile *f, struct site_cfg *s)
{
    const char *host;
    if (own_sets(b, "sites", s->name, "url", NULL)) return 0;
    if (get_str(b, owner(b, f, "host_name"), "host_name", &host)) return -1;
    if (!host) return 0;
    free(s->url);
    size_t n = strlen(host) + 8;
    s->url = malloc(n);
    snprintf(s->url, n, "%s%s", strstr(host, "://") ? "" : "http://", host);
    return 0;
}

static const struct db_key {
    const char *frappe, *ours, *also; /* also: another key of ours that takes its place */
    bool is_int;
    size_t off;
} db_keys[] = {
    {"db_host", "host", NULL, false, offsetof(struct site_db_cfg, host)},
    {"db_port", "port", NULL, true, offsetof(struct site_db_cfg, port)},
    {"db_socket", "socket", NULL, false, offsetof(struct site_db_cfg, socket)},
    {"db_name", "name", NULL, false, offsetof(struct site_db_cfg, name)},
    {"db_password", "password", "password_file", false, offsetof(struct site_db_cfg, password)},
    /* Frappe passes these to its MariaDB client as ssl={"ca", "cert", "key"} */
    {"db_ssl_ca", "ssl_ca", NULL, false, offsetof(struct site_db_cfg, ssl_ca)},
    {"db_ssl_cert", "ssl_cert", NULL, false, offsetof(struct site_db_cfg, ssl_cert)},
    {"db_ssl_key", "ssl_key", NULL, false, offsetof(struct site_db_cfg, ssl_key)},
};

static int apply_site_db(struct bctx *b, const struct bfile *f, struct site_cfg *s)
{
    for (size_t i = 0; i < sizeof db_keys / sizeof db_keys[0]; i++) {
        const struct db_key *k = &db_keys[i];
        const struct bfile *from = owner(b, f, k->frappe);
        char *field = (char *)&s->db + k->off;
        if (own_sets(b, "sites", s->name, "db", k->ours) ||
            (k->also && own_sets(b, "sites", s->name, "db", k->also)))
            continue;
        if (k->is_int) {
            long long n;
            bool set;
            if (get_int(b, from, k->frappe, 1, 65535, &n, &set)) return -1;
            if (set) *(int64_t *)field = n;
            continue;
        }
        const char *v;
        if (get_str(b, from, k->frappe, &v)) return -1;
        if (!v) continue;
        free(*(char **)field);
        *(char **)field = strdup(v);
    }
    return 0;
}

/* A string key of the site (else common) into *field, unless the fac-worker file sets
 * sites.<site>.replica.<ours>. */
static int replica_str(struct bctx *b, const struct bfile *f, struct site_cfg *s,
                       const char *frappe, const char *ours, char **field)
{
    const char *v;
    if (own_sets(b, "sites", s->name, "replica", ours)) return 0;
    if (get_str(b, owner(b, f, frappe), frappe, &v)) return -1;
    if (!v) return 0;
    free(*field);
    *field = strdup(v);
    return 0;
}

/* Frappe's read replica (frappe.connect_replica): replica_host and replica_db_port, the
 * primary's db_name, and the primary's credentials unless
 * different_credentials_for_replica names others (replica_db_user, else replica_db_name,
 * is the user; replica_db_password its password). */
static int apply_site_replica(struct bctx *b, const struct bfile *f, struct site_cfg *s)
{
    struct site_db_cfg *r = &s->replica;
    bool flag, other_creds;
    long long n;
    if (get_flag(b, owner(b, f, "read_from_replica"), "read_from_replica", &flag)) return -1;
    if (flag && !own_sets(b, "sites", s->name, "read_from_replica", NULL))
        s->read_from_replica = true;
    if (replica_str(b, f, s, "replica_host", "host", &r->host)) return -1;
    if (get_int(b, owner(b, f, "replica_db_port"), "replica_db_port", 1, 65535, &n, &flag))
        return -1;
    if (flag && !own_sets(b, "sites", s->name, "replica", "port")) r->port = n;
    if (get_flag(b, owner(b, f, "different_credentials_for_replica"),
                 "different_credentials_for_replica", &other_creds))
        return -1;
    if (!other_creds) return 0;
    const char *user;
    if (get_str(b, owner(b, f, "replica_db_user"), "replica_db_user", &user)) return -1;
    if (replica_str(b, f, s, user ? "replica_db_user" : "replica_db_name", "user", &r->user))
        return -1;
    if (own_sets(b, "sites", s->name, "replica", "password_file")) return 0;
    return replica_str(b, f, s, "replica_db_password", "password", &r->password);
}

static int apply_site(struct bctx *b, const char *name, struct bfile *f)
{
    if (!config_name_ok(name)) {
        char shown[128];
        snprintf(shown, sizeof shown, "%s", name);
        for (char *c = shown; *c; c++)
            if (!isprint((unsigned char)*c)) *c = '?';
        return bfail(b, f->path, NULL, "the site \"%s\": " FAC_NAME_RULE, shown);
    }
    if (read_json(b, f) || check_db_type(b, owner(b, f, "db_type"))) return -1;
    struct site_cfg *s = (struct site_cfg *)config_site(b->c, name, strlen(name));
    if (!s && !(s = config_add_site(b->c, name))) return bfail(b, f->path, NULL, "out of memory");
    if (apply_site_url(b, f, s) || apply_site_db(b, f, s) || apply_site_replica(b, f, s)) return -1;
    return apply_tool_limits(b, f, true);
}

/* Frappe's sites are the directories of sites/ that hold a site_config.json (assets/,
 * apps.txt and the rest are not), taken in name order so errors are reproducible. */
static int apply_sites(struct bctx *b)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/sites", b->c->bench_path);
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort), rc = 0;
    if (n < 0) return bfail(b, dir, NULL, "cannot list the bench's sites");
    for (int i = 0; i < n; i++) {
        struct bfile f = {.root = NULL};
        struct stat st;
        snprintf(f.path, sizeof f.path, "%s/%s/site_config.json", dir, names[i]->d_name);
        if (!rc && names[i]->d_name[0] != '.' && stat(f.path, &st) == 0 && S_ISREG(st.st_mode))
            rc = apply_site(b, names[i]->d_name, &f);
        json_decref(f.root);
        free(names[i]);
    }
    free(names);
    return rc;
}

int bench_apply(struct fac_config *c, json_t *own, char *err, size_t errlen)
{
    struct bctx b = {.c = c, .own = own, .tool_keys = json_object(), .err = err, .errlen = errlen};
    snprintf(b.common.path, sizeof b.common.path, "%s/sites/common_site_config.json",
             c->bench_path);
    int rc = read_json(&b, &b.common) || check_db_type(&b, &b.common) || apply_redis(&b) ||
                     apply_workers(&b) || apply_tool_limits(&b, &b.common, false) || apply_sites(&b)
                 ? -1
                 : 0;
    json_decref(b.common.root);
    json_decref(b.tool_keys);
    return rc;
}
