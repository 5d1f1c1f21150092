/* Memory of a process as the kernel counts it now (not the peak): /proc/PID/statm. */
#ifndef FAC_RSS_H
#define FAC_RSS_H

#include <stdint.h>
#include <sys/types.h>

/* Resident set size in bytes of pid (0 = self), or -1 when it cannot be read. */
int64_t rss_bytes(pid_t pid);
/* RssAnon (private anonymous memory) in bytes from /proc/PID/status, or -1. */
int64_t rss_anon_bytes(pid_t pid);

#endif
