/*
 * The /metrics HTTP endpoint on libmicrohttpd, for metrics.c. It runs in MHD's own
 * polling thread: the supervisor's loop sleeps in sigtimedwait, which cannot also
 * wait on sockets, and a thread created after sigprocmask keeps every supervisor
 * signal blocked, so signals still reach only that loop. The thread only renders
 * (metrics_render, under the metrics mutex), so it shares no other state.
 */
#ifndef FAC_METRICS_HTTP_H
#define FAC_METRICS_HTTP_H

struct metrics;
struct metrics_http;

/* Listens on addr ("HOST:PORT"); NULL when it cannot (logged, naming the fix). */
struct metrics_http *metrics_http_start(const char *addr, struct metrics *m);
void metrics_http_stop(struct metrics_http *h);
/* In a forked child: closes the listening socket, leaving the parent's thread alone. */
void metrics_http_after_fork(struct metrics_http *h);

#endif
