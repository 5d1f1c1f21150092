/* The /metrics endpoint (see metrics_http.h). */
#include "metrics_http.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "buf.h"
#include "log.h"
#include "metrics.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
    struct MHD_Daemon *d;
    int fd; /* MHD's epoll descriptor; -1: MHD runs its own thread */
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, struct buf *body,
                             const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct buf body = {0};
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        buf_puts(&body, "only GET /metrics is served\n");
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, &body, "text/plain");
    }
    if (strcmp(url, "/metrics")) {
        buf_puts(&body, "not found: the metrics are at /metrics\n");
        return reply(conn, MHD_HTTP_NOT_FOUND, &body, "text/plain");
    }
    metrics_render(cls, &body);
    return reply(conn, MHD_HTTP_OK, &body, PROM_TYPE);
}

struct metrics_http *metrics_http_start(const char *addr, struct metrics *m)
{
    struct sockaddr_storage ss;
    char err[256];
    if (addr_parse(addr, &ss, err, sizeof err)) {
        log_error("metrics: %s", err);
        return NULL;
    }
    unsigned v6 = ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0;
    bool own_loop = MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES;
    unsigned flags = own_loop ? MHD_USE_EPOLL : MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags | v6, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, 32u, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!d) {
        log_error("metrics: cannot listen on %s (is the port taken, e.g. by another fac-worker?): "
                  "set \"metrics\" to a free HOST:PORT, or false; running without /metrics",
                  addr);
        return NULL;
    }
    struct metrics_http *h = malloc(sizeof *h);
    h->d = d;
    h->fd = -1;
    const union MHD_DaemonInfo *i =
        own_loop ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (i) h->fd = i->epoll_fd;
    log_info("metrics: serving http://%s/metrics", addr);
    return h;
}

void metrics_http_stop(struct metrics_http *h)
{
    if (!h) return;
    MHD_stop_daemon(h->d);
    free(h);
}

void metrics_http_after_fork(struct metrics_http *h)
{
    if (!h) return;
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_LISTEN_FD);
    if (i) close(i->listen_fd);
    if (h->fd >= 0) close(h->fd);
}

int metrics_http_fd(const struct metrics_http *h)
{
    return h ? h->fd : -1;
}

void metrics_http_run(struct metrics_http *h)
{
    if (h && h->fd >= 0) MHD_run(h->d);
}
