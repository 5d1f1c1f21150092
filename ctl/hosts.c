/*
 * fac-ctl stats across hosts: many pools on many hosts share one registry, so stats
 * groups the registry's workers by the host they run on and totals each host. A host
 * whose workers are all silent for over dead_after shows live 0: it vanished, and the
 * scheduler will rescue its jobs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static long long wint(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *wstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k)) ?: "?";
}

static void add_int(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer((json_int_t)(wint(o, k) + v)));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Orders workers by host, then id. */
static int by_host_then_id(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(wstr(x, "host"), wstr(y, "host"));
    return c ? c : strcmp(wstr(x, "id"), wstr(y, "id"));
}

json_t *stats_hosts(json_t *workers, double dead_after)
{
    json_t *by_host = json_object(), *w;
    size_t i;
    json_array_foreach(workers, i, w)
    {
        const char *host = wstr(w, "host");
        json_t *h = json_object_get(by_host, host);
        if (!h) {
            h = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "host", host, "workers", 0, "live",
                          0, "running", 0, "jobs_done", 0, "jobs_failed", 0, "rss", 0,
                          "heartbeat_age_ms", 0);
            json_object_set_new(by_host, host, h);
        }
        long long age = wint(w, "heartbeat_age_ms");
        add_int(h, "workers", 1);
        add_int(h, "live", age <= (long long)(dead_after * 1000));
        add_int(h, "running", wint(w, "running"));
        add_int(h, "jobs_done", wint(w, "jobs_done"));
        add_int(h, "jobs_failed", wint(w, "jobs_failed"));
        add_int(h, "rss", wint(w, "rss"));
        if (age > wint(h, "heartbeat_age_ms"))
            json_object_set_new(h, "heartbeat_age_ms", json_integer((json_int_t)age));
    }
    /* jansson iterates in insertion order: sort by name for a stable listing */
    size_t n = json_object_size(by_host), k = 0;
    const char **names = calloc(n ? n : 1, sizeof *names);
    const char *name;
    json_t *h;
    json_object_foreach(by_host, name, h) names[k++] = name;
    qsort(names, n, sizeof *names, by_name);
    json_t *hosts = json_array();
    for (k = 0; k < n; k++)
        json_array_append(hosts, json_object_get(by_host, names[k]));
    free(names);
    json_decref(by_host);
    return hosts;
}

void print_hosts(json_t *stats)
{
    json_t *hosts = json_object_get(stats, "hosts"), *workers = json_object_get(stats, "workers");
    size_t i;
    json_t *v;
    long long tw = 0, tl = 0, tr = 0, tj = 0, tf = 0, trss = 0;
    printf("\n%-24s %7s %5s %8s %10s %8s %9s %10s\n", "HOST", "WORKERS", "LIVE", "RUNNING", "JOBS",
           "FAILED", "RSS(MB)", "HEARTBEAT");
    json_array_foreach(hosts, i, v)
    {
        printf("%-24s %7lld %5lld %8lld %10lld %8lld %9.1f %9.1fs\n", wstr(v, "host"),
               wint(v, "workers"), wint(v, "live"), wint(v, "running"), wint(v, "jobs_done"),
               wint(v, "jobs_failed"), (double)wint(v, "rss") / 1048576.0,
               (double)wint(v, "heartbeat_age_ms") / 1000.0);
        tw += wint(v, "workers"), tl += wint(v, "live"), tr += wint(v, "running");
        tj += wint(v, "jobs_done"), tf += wint(v, "jobs_failed"), trss += wint(v, "rss");
    }
    printf("%-24s %7lld %5lld %8lld %10lld %8lld %9.1f\n", "(all hosts)", tw, tl, tr, tj, tf,
           (double)trss / 1048576.0);

    size_t n = json_array_size(workers);
    json_t **sorted = calloc(n ? n : 1, sizeof *sorted);
    json_array_foreach(workers, i, v) sorted[i] = v;
    qsort(sorted, n, sizeof *sorted, by_host_then_id);
    printf("\n%-24s %-28s %8s %-9s %8s %10s %8s %9s\n", "HOST", "WORKER", "PID", "STATE", "RUNNING",
           "JOBS", "FAILED", "RSS(MB)");
    for (i = 0; i < n; i++)
        printf("%-24s %-28s %8lld %-9s %8lld %10lld %8lld %9.1f\n", wstr(sorted[i], "host"),
               wstr(sorted[i], "id"), wint(sorted[i], "pid"), wstr(sorted[i], "state"),
               wint(sorted[i], "running"), wint(sorted[i], "jobs_done"),
               wint(sorted[i], "jobs_failed"), (double)wint(sorted[i], "rss") / 1048576.0);
    free(sorted);
}
