/*
 * libcurl's multi-socket API driven by libev (see curl_loop.h). curl tells us which
 * sockets to watch (socket callback → ev_io) and when to wake it (timer callback →
 * ev_timer); we tell curl what happened (curl_multi_socket_action) and collect the
 * finished transfers (curl_multi_info_read).
 */
#include "curl_loop.h"

#include <stdlib.h>
#include <string.h>

/* The worker's one multi handle, made on first use after the fork. */
static struct {
    CURLM *multi;
    struct ev_loop *loop;
    ev_timer timer;
} M;

struct sock_watch {
    ev_io io;
    curl_socket_t fd;
};

static void finish_transfers(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(M.multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct http_req *r;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&r);
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
        curl_multi_remove_handle(M.multi, easy);
        r->rc = rc;
        r->done(r);
    }
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct sock_watch *w = (struct sock_watch *)io;
    int action =
        (revents & EV_READ ? CURL_CSELECT_IN : 0) | (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(M.multi, w->fd, action, &running);
    finish_transfers();
}

static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    int running;
    curl_multi_socket_action(M.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    finish_transfers();
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct sock_watch *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            ev_io_stop(M.loop, &w->io);
            free(w);
        }
        return 0;
    }
    if (!w) {
        w = calloc(1, sizeof *w);
        w->fd = fd;
        curl_multi_assign(M.multi, fd, w);
    } else {
        ev_io_stop(M.loop, &w->io);
    }
    int events = (what & CURL_POLL_IN ? EV_READ : 0) | (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_init(&w->io, on_io, fd, events);
    ev_io_start(M.loop, &w->io);
    return 0;
}

/* curl may not be called back into from here: a timeout of 0 runs on the next loop turn. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    ev_timer_stop(M.loop, &M.timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&M.timer, (double)timeout_ms / 1000.0, 0);
        ev_timer_start(M.loop, &M.timer);
    }
    return 0;
}

static int multi_init(struct ev_loop *loop)
{
    if (M.multi) return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return -1;
    M.multi = curl_multi_init();
    if (!M.multi) return -1;
    M.loop = loop;
    ev_init(&M.timer, on_timer);
    curl_multi_setopt(M.multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(M.multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct http_req *r = ud;
    size_t len = size * n;
    if (r->reply.len + len > r->max_reply) {
        r->too_large = true;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&r->reply, p, len);
    return len;
}

static void set_options(CURL *e, struct http_req *r)
{
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(r->connect_timeout * 1000));
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
}

int http_req_start(struct ev_loop *loop, struct http_req *r)
{
    r->errbuf[0] = '\0';
    if (multi_init(loop) != 0) {
        strcpy(r->errbuf, "libcurl could not be initialised");
        return -1;
    }
    r->easy = curl_easy_init();
    if (!r->easy) {
        strcpy(r->errbuf, "libcurl could not make a handle");
        return -1;
    }
    set_options(r->easy, r);
    /* curl's default cache (4 per added handle) closes connections a busy worker
     * would reuse a moment later. */
    curl_multi_setopt(M.multi, CURLMOPT_MAXCONNECTS, r->keep_idle);
    CURLMcode mc = curl_multi_add_handle(M.multi, r->easy);
    if (mc != CURLM_OK) {
        snprintf(r->errbuf, sizeof r->errbuf, "%s", curl_multi_strerror(mc));
        return -1;
    }
    return 0;
}

void http_req_cancel(struct http_req *r)
{
    if (r->easy) curl_multi_remove_handle(M.multi, r->easy);
}

void http_req_free(struct http_req *r)
{
    if (r->easy) curl_easy_cleanup(r->easy);
    r->easy = NULL;
    curl_slist_free_all(r->headers);
    r->headers = NULL;
    free(r->url);
    r->url = NULL;
    buf_free(&r->body);
    buf_free(&r->reply);
}
