/*
 * A job's POST to its Frappe site (see site_post.h): the site and its credentials are
 * looked up per call, the secret file is read once per worker, and the reply goes
 * through the caller's mapper into the call's outcome.
 */
#include "site_post.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_loop.h"
#include "fac/protocol.h"
#include "mp.h"
#include "mpjson.h"

#define SECRET_MAX 4096

struct site_post {
    struct http_req req;
    struct exec_call *call;
    reply_map_fn map;
};

/* Secrets read from api_secret_file, per site, for the life of the worker. */
static struct secret {
    const struct site_cfg *site;
    char *value;
} * secrets;
static size_t nsecrets;

static int read_secret_file(const struct site_cfg *s, char *out, struct exec_call *call)
{
    FILE *f = fopen(s->api_secret_file, "r");
    size_t n = f ? fread(out, 1, SECRET_MAX - 1, f) : 0;
    int err = errno;
    if (f) fclose(f);
    if (!f) {
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "cannot read sites.%s.api_secret_file (%s): "
                  "%s",
                  s->name, s->api_secret_file, strerror(err));
        return -1;
    }
    while (n && isspace((unsigned char)out[n - 1]))
        n--;
    out[n] = '\0';
    if (n == 0) {
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_CONFIG, "sites.%s.api_secret_file (%s) is empty",
                  s->name, s->api_secret_file);
        return -1;
    }
    return 0;
}

static const char *site_secret(const struct site_cfg *s, struct exec_call *call)
{
    if (s->api_secret) return s->api_secret;
    for (size_t i = 0; i < nsecrets; i++)
        if (secrets[i].site == s) return secrets[i].value;
    char value[SECRET_MAX];
    if (read_secret_file(s, value, call)) return NULL;
    secrets = realloc(secrets, (nsecrets + 1) * sizeof *secrets);
    secrets[nsecrets] = (struct secret){s, strdup(value)};
    explicit_bzero(value, sizeof value);
    return secrets[nsecrets++].value;
}

/* The job's site, complete enough to call; NULL with the call failed otherwise. */
static const struct site_cfg *job_site(struct exec_call *call)
{
    const char *tool = call->tool->name;
    if (!call->site.n) {
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "tool \"%s\" calls the job's Frappe site, "
                  "but the job has no \"site\": enqueue it with one",
                  tool);
        return NULL;
    }
    const struct site_cfg *s = config_site(call->cfg, call->site.p, call->site.n);
    int n = (int)call->site.n;
    const char *name = call->site.p;
    if (!s)
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "site \"%.*s\" is not configured: add "
                  "\"sites\": {\"%.*s\": {\"url\": ..., \"api_key\": ..., \"api_secret_file\": "
                  "...}} to the config",
                  n, name, n, name);
    else if (!s->url || !s->api_key || (!s->api_secret && !s->api_secret_file))
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_CONFIG,
                  "sites.%s needs url, api_key and "
                  "api_secret or api_secret_file for tool \"%s\"",
                  s->name, tool);
    else
        return s;
    return NULL;
}

static bool limit_within(const msgpack_object *limit, int64_t max)
{
    return limit->type == MSGPACK_OBJECT_POSITIVE_INTEGER && limit->via.u64 >= 1 &&
           limit->via.u64 <= (uint64_t)max;
}

void site_post_write_args(struct buf *out, const struct exec_call *call)
{
    const msgpack_object *args = call->args;
    int64_t max = call->tool->max_records;
    const msgpack_object *limit = mp_get(args, "limit");
    if (!args) {
        buf_puts(out, "{}");
        return;
    }
    if (!max || !limit || limit_within(limit, max)) {
        mpjson_write(out, args, false);
        return;
    }
    /* A shallow copy of the map, whose limit is max_records. */
    uint32_t n = args->via.map.size;
    msgpack_object_kv *kv = msgpack_zone_malloc(call->zone, n * sizeof *kv);
    memcpy(kv, args->via.map.ptr, n * sizeof *kv);
    for (uint32_t i = 0; i < n; i++)
        if (mp_str_eq(&kv[i].key, "limit"))
            kv[i].val =
                (msgpack_object){.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = (uint64_t)max};
    msgpack_object clamped = {.type = MSGPACK_OBJECT_MAP, .via.map = {n, kv}};
    mpjson_write(out, &clamped, false);
}

static char *site_url(const struct site_cfg *s, const char *path_or_url)
{
    if (path_or_url[0] != '/') return strdup(path_or_url);
    size_t n = strlen(s->url);
    while (n && s->url[n - 1] == '/')
        n--;
    struct buf u = {0};
    buf_printf(&u, "%.*s%s", (int)n, s->url, path_or_url);
    return u.data;
}

static struct curl_slist *auth_headers(const struct site_cfg *s, const char *secret)
{
    struct buf h = {0};
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    l = curl_slist_append(l, "Accept: application/json");
    l = curl_slist_append(l, "Expect:"); /* no 100-continue round trip for large bodies */
    buf_printf(&h, "X-Frappe-Site-Name: %s", s->name); /* a bench serving several sites */
    l = curl_slist_append(l, h.data);
    buf_reset(&h);
    buf_printf(&h, "Authorization: token %s:%s", s->api_key, secret);
    l = curl_slist_append(l, h.data);
    explicit_bzero(h.data, h.len); /* the secret does not linger in freed memory */
    buf_free(&h);
    return l;
}

static void outcome_to_call(struct site_post *sp, struct fac_outcome *o)
{
    struct exec_call *call = sp->call;
    if (strcmp(o->status, FAC_ST_SUCCESS) == 0) {
        exec_succeed_json(call, o->result);
        return;
    }
    exec_fail(call, o->status, o->err_type, "%s", o->message.data ? o->message.data : "");
    if (strcmp(o->err_type, FAC_ERR_AUTH) == 0)
        buf_printf(&call->err_msg, " (%s refused sites.%.*s.api_key and its secret: check them)",
                   sp->req.url, (int)call->site.n, call->site.p);
}

static void post_done(struct http_req *r)
{
    struct site_post *sp = r->ud;
    struct exec_call *call = sp->call;
    if (r->too_large) {
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_REPLY_TOO_LARGE,
                  "the reply of %s is larger than "
                  "max_reply (%zu bytes): ask for less, or raise tools.%s.max_reply",
                  r->url, r->max_reply, call->tool->name);
    } else if (r->rc != CURLE_OK) {
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_CONNECTION, "no reply from %s: %s", r->url,
                  r->errbuf[0] ? r->errbuf : curl_easy_strerror(r->rc));
    } else {
        struct fac_outcome o = {0};
        sp->map(r->status, r->reply.data, r->reply.len, &o);
        outcome_to_call(sp, &o);
        fac_outcome_free(&o);
    }
    http_req_free(&sp->req);
    free(sp);
    call->priv = NULL;
    call->done(call);
}

void site_post_start(struct exec_call *call, const char *path_or_url, struct buf *body,
                     reply_map_fn map)
{
    const struct site_cfg *s = job_site(call);
    const char *secret = s ? site_secret(s, call) : NULL;
    if (!secret) {
        buf_free(body);
        call->done(call);
        return;
    }
    struct site_post *sp = calloc(1, sizeof *sp);
    sp->call = call;
    sp->map = map;
    sp->req.url = site_url(s, path_or_url);
    sp->req.body = *body;
    sp->req.headers = auth_headers(s, secret);
    sp->req.connect_timeout = call->tool->connect_timeout;
    sp->req.max_reply = (size_t)call->tool->max_reply;
    sp->req.keep_idle = (long)call->cfg->concurrency;
    sp->req.done = post_done;
    sp->req.ud = sp;
    if (http_req_start(call->loop, &sp->req) != 0) {
        exec_fail(call, FAC_ST_ERROR, FAC_ERR_CONNECTION, "cannot call %s: %s", sp->req.url,
                  sp->req.errbuf);
        http_req_free(&sp->req);
        free(sp);
        call->done(call);
        return;
    }
    call->priv = sp;
}

void site_post_cancel(struct exec_call *call)
{
    struct site_post *sp = call->priv;
    if (!sp) return;
    http_req_cancel(&sp->req);
    http_req_free(&sp->req);
    free(sp);
    call->priv = NULL;
}
