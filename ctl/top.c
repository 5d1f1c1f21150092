/*
 * fac-ctl top: a live view of the pool, redrawn every interval like top(1): queues
 * (with how fast each ready list grows or shrinks between frames), workers, the pool's
 * jobs/s, and the newest dead letters as the recent failures (cheap: LRANGE of each
 * dead list, which workers already keep). q or Ctrl-C quits; --once prints one frame.
 */
#include <jansson.h>
#include <msgpack.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "clock.h"
#include "ctl.h"
#include "keys.h"
#include "mp.h"

#define RECENT_FAILURES 5
#define MAX_QUEUES 64

struct top {
    long long ready[MAX_QUEUES];
    long long jobs_done;
    int64_t at_ms; /* 0: no frame yet */
};

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    interrupted = 1;
}

static void str_field(const msgpack_object *map, const char *k, char *out, size_t n)
{
    const msgpack_object *v = mp_map_get(map, k, strlen(k));
    if (v && v->type == MSGPACK_OBJECT_STR)
        snprintf(out, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
    else
        snprintf(out, n, "-");
}

/* One line per dead entry: when, queue, id, type, reason (clipped to the screen). */
static void print_failures(struct ctl *x)
{
    printf("\nRECENT FAILURES (newest dead letters)\n");
    char k[FAC_KEY_MAX];
    int shown = 0;
    for (size_t q = 0; q < x->cfg->nqueues; q++) {
        redisReply *r =
            redisCommand(ctl_queue_conn(x, x->cfg->queues[q]), "LRANGE %s 0 %d",
                         key_dead(k, x->cfg->prefix, x->cfg->queues[q]), RECENT_FAILURES - 1);
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            if (msgpack_unpack_next(&u, r->element[i]->str, r->element[i]->len, NULL) ==
                    MSGPACK_UNPACK_SUCCESS &&
                u.data.type == MSGPACK_OBJECT_MAP) {
                char id[64], type[40], reason[80];
                str_field(&u.data, "id", id, sizeof id);
                const msgpack_object *err = mp_get(&u.data, "error");
                if (err && err->type == MSGPACK_OBJECT_MAP)
                    str_field(err, "type", type, sizeof type);
                else
                    snprintf(type, sizeof type, "-");
                str_field(&u.data, "reason", reason, sizeof reason);
                printf("%-10s %-34s %-18s %s\n", x->cfg->queues[q], id, type, reason);
                shown++;
            }
            msgpack_unpacked_destroy(&u);
        }
        freeReplyObject(r);
    }
    if (!shown) printf("(none)\n");
}

static void print_queues(json_t *s, struct top *t, double dt)
{
    size_t i;
    json_t *v;
    printf("%-16s %10s %10s %10s %10s\n", "QUEUE", "READY", "INFLIGHT", "DEAD", "READY/s");
    json_array_foreach(json_object_get(s, "queues"), i, v)
    {
        long long ready = json_integer_value(json_object_get(v, "ready"));
        char rate[24] = "-";
        if (dt > 0 && i < MAX_QUEUES)
            snprintf(rate, sizeof rate, "%+.1f", (ready - t->ready[i]) / dt);
        if (i < MAX_QUEUES) t->ready[i] = ready;
        printf("%-16s %10lld %10lld %10lld %10s\n", json_string_value(json_object_get(v, "name")),
               ready, (long long)json_integer_value(json_object_get(v, "inflight")),
               (long long)json_integer_value(json_object_get(v, "dead")), rate);
    }
}

static void print_workers(json_t *s, struct top *t, double dt)
{
    size_t i;
    json_t *v;
    long long done = 0;
    json_array_foreach(json_object_get(s, "workers"), i, v) done +=
        json_integer_value(json_object_get(v, "jobs_done"));
    if (dt > 0)
        printf("\njobs/s %.1f", (done - t->jobs_done) / dt);
    else
        printf("\njobs/s -");
    t->jobs_done = done;
    printf("   workers %zu\n%8s %-9s %8s %10s %8s %9s\n",
           json_array_size(json_object_get(s, "workers")), "PID", "STATE", "RUNNING", "JOBS",
           "FAILED", "RSS(MB)");
    json_array_foreach(json_object_get(s, "workers"), i, v)
        printf("%8lld %-9s %8lld %10lld %8lld %9.1f\n",
               (long long)json_integer_value(json_object_get(v, "pid")),
               json_string_value(json_object_get(v, "state")) ?: "?",
               (long long)json_integer_value(json_object_get(v, "running")),
               (long long)json_integer_value(json_object_get(v, "jobs_done")),
               (long long)json_integer_value(json_object_get(v, "jobs_failed")),
               (double)json_integer_value(json_object_get(v, "rss")) / 1048576.0);
}

static void frame(struct ctl *x, struct top *t, bool clear)
{
    int64_t now = mono_ms();
    double dt = t->at_ms ? (double)(now - t->at_ms) / 1000.0 : 0;
    t->at_ms = now;
    json_t *s = stats_json(x);
    if (clear) printf("\033[H\033[2J");
    printf("fac-ctl top — prefix %s   (q quits)\n\n", x->cfg->prefix);
    print_queues(s, t, dt);
    print_workers(s, t, dt);
    print_failures(x);
    json_decref(s);
    fflush(stdout);
}

/* Waits up to ms for a key; true when it was q. */
static bool wait_quit_key(int ms)
{
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (poll(&p, 1, ms) <= 0) return false;
    char c;
    return read(0, &c, 1) == 1 && (c == 'q' || c == 'Q');
}

static void live(struct ctl *x, double interval)
{
    struct termios saved, raw;
    bool tty = tcgetattr(0, &saved) == 0;
    if (tty) {
        raw = saved;
        raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO); /* ISIG stays: Ctrl-C is SIGINT */
        tcsetattr(0, TCSANOW, &raw);
    }
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    struct top t = {0};
    while (!interrupted) {
        frame(x, &t, true);
        if (wait_quit_key((int)(interval * 1000))) break;
    }
    if (tty) tcsetattr(0, TCSANOW, &saved);
}

int cmd_top(struct ctl *x, int argc, char **argv)
{
    double interval = 1;
    bool once = false;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (strcmp(argv[i], "--once") == 0)
            once = true;
        else if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc &&
                 (interval = strtod(argv[++i], &end)) >= 0.1 && !*end)
            continue;
        else
            return die(CTL_USAGE, "top takes [--interval SECONDS (0.1 or more)] [--once]");
    }
    struct top t = {0};
    if (once)
        frame(x, &t, false);
    else
        live(x, interval);
    return CTL_OK;
}
