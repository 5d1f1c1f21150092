/*
 * The /metrics HTTP endpoint on libmicrohttpd, for metrics.c. It runs on the
 * supervisor's own loop, without a thread: the loop polls MHD's epoll descriptor with
 * its signalfd and calls metrics_http_run. The supervisor forks its workers, and a fork
 * taken while another thread holds a lock the child needs (an allocator's: ASan's
 * allocator is not fork-safe in GCC 12, and a worker's new thread hung on such a lock)
 * can hang the child; so the supervisor keeps a single thread. Where MHD has no epoll,
 * it falls back to its own polling thread (which blocks every supervisor signal, as it
 * is started after sigprocmask, and only renders under the metrics mutex).
 */
#ifndef FAC_METRICS_HTTP_H
#define FAC_METRICS_HTTP_H

struct metrics;
struct metrics_http;

/* Listens on addr ("HOST:PORT"); NULL when it cannot (logged, naming the fix). */
struct metrics_http *metrics_http_start(const char *addr, struct metrics *m);
void metrics_http_stop(struct metrics_http *h);
/* The descriptor the supervisor's loop polls for reading, -1 with MHD's own thread. */
int metrics_http_fd(const struct metrics_http *h);
/* Serves what is ready (never blocks); a no-op with MHD's own thread. */
void metrics_http_run(struct metrics_http *h);
/* In a forked child: closes the listening socket, leaving the parent's thread alone. */
void metrics_http_after_fork(struct metrics_http *h);

#endif
