/*
 * HTTP requests on the worker's libev loop through libcurl's multi-socket interface:
 * no thread and no blocking call, any number of requests in flight, and one CURLM per
 * worker process so connections (and TLS sessions, DNS answers) are reused between
 * jobs. The mcp and http executors are thin layers on top.
 */
#ifndef FAC_CURL_LOOP_H
#define FAC_CURL_LOOP_H

#include <curl/curl.h>
#include <ev.h>
#include <stdbool.h>

#include "buf.h"

struct http_req;
typedef void (*http_done_fn)(struct http_req *r);

/* One POST. The caller owns the struct and everything in it; http_req_free releases
 * the buffers, headers and handle, not the struct. */
struct http_req {
    /* Set before http_req_start. */
    char *url;                  /* malloc'd */
    struct buf body;            /* the request body */
    struct curl_slist *headers; /* may hold a secret: never logged */
    double connect_timeout;     /* seconds */
    size_t max_reply;           /* a longer reply ends the request with too_large */
    long keep_idle;             /* idle connections the worker keeps: its concurrency */
    http_done_fn done;
    void *ud;

    /* The outcome, set before done() is called. */
    CURLcode rc; /* CURLE_OK when a whole reply came */
    long status; /* HTTP status, 0 when none came */
    struct buf reply;
    bool too_large;
    char errbuf[CURL_ERROR_SIZE];

    CURL *easy;
};

/* Starts r on loop; done() is called from the loop, never from inside this call. On a
 * setup failure returns -1 with a message in r->errbuf and done() is never called. */
int http_req_start(struct ev_loop *loop, struct http_req *r);
/* Stops a started request that has not called done(): its transfer is removed from the
 * multi handle (its connection closed or kept for reuse), and done() is never called. */
void http_req_cancel(struct http_req *r);
void http_req_free(struct http_req *r);

#endif
