/*
 * Logging: one line per event, "TIME LEVEL role[pid] message", to stderr or a file
 * that SIGUSR1 reopens. Errors carry file:line. Callers never log secrets.
 * Structured fields are written once, as key=value words in the message
 * ("job finished job_id=... tool=echo duration_ms=1.2"): the text format shows them as
 * they are, the JSON format (one object per line) also lifts them into fields.
 */
#ifndef FAC_LOG_H
#define FAC_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_TEXT, LOG_JSON };

/* role is a static string ("sup", "wrk", "ctl"); path NULL means stderr. */
int log_init(const char *role, const char *path, enum log_level level);
void log_set_role(const char *role);
int log_reopen(void);
int log_level_parse(const char *s, enum log_level *out);
/* "text" or "json"; returns -1 for anything else. */
int log_format_parse(const char *s, enum log_format *out);
void log_set_format(enum log_format f);
void log_write(enum log_level lvl, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_write(LOG_DEBUG, NULL, 0, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, NULL, 0, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, NULL, 0, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
