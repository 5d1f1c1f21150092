/* Placeholders and the read-only check of an sql tool's query (sqltpl.h). */
#include "sqltpl.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const read_only_verbs[] = {"SELECT", "WITH", "SHOW", NULL};

/* Past blanks, -- and # line comments and block comments (not MariaDB's executable
 * comments, which run their contents). */
static const char *skip_blanks(const char *p)
{
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if ((p[0] == '-' && p[1] == '-' && (isspace((unsigned char)p[2]) || !p[2])) ||
            p[0] == '#') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*' && p[2] != '!' && !(p[2] == 'M' && p[3] == '!')) {
            const char *end = strstr(p + 2, "*/");
            if (!end) return p;
            p = end + 2;
        } else {
            return p;
        }
    }
}

static int check_verb(const char *query, char *err, size_t errlen)
{
    const char *p = skip_blanks(query);
    size_t n = 0;
    while (isalpha((unsigned char)p[n]))
        n++;
    for (const char *const *v = read_only_verbs; *v; v++)
        if (n == strlen(*v) && strncasecmp(p, *v, n) == 0) return 0;
    snprintf(err, errlen,
             "\"%.*s\": only a read-only query is allowed here (SELECT, WITH or SHOW); "
             "writes belong in a Frappe method called by an http tool",
             (int)(n ? n : 20), p);
    return -1;
}

bool sqltpl_next(const char **pos, struct sqltpl_piece *out)
{
    const char *p = *pos;
    if (!*p) return false;
    if (p[0] == '%' && p[1] == '(') {
        const char *close = strchr(p + 2, ')');
        *out = (struct sqltpl_piece){true, p + 2, (size_t)(close - p - 2)};
        *pos = close + 2;     /* ")s" */
    } else if (p[0] == '%') { /* %%: the % itself */
        *out = (struct sqltpl_piece){false, p, 1};
        *pos = p + 2;
    } else {
        size_t n = strcspn(p, "%");
        *out = (struct sqltpl_piece){false, p, n};
        *pos = p + n;
    }
    return true;
}

static bool name_ok(const char *s, size_t n)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_') return false;
    return true;
}

int sqltpl_check(const char *query, char *err, size_t errlen)
{
    if (check_verb(query, err, errlen)) return -1;
    for (const char *p = strchr(query, '%'); p; p = strchr(p, '%')) {
        if (p[1] == '%') {
            p += 2;
            continue;
        }
        const char *close = p[1] == '(' ? strchr(p + 2, ')') : NULL;
        if (!close || close[1] != 's' || !name_ok(p + 2, (size_t)(close - p - 2))) {
            snprintf(err, errlen,
                     "\"%.20s\" at offset %zu: write a placeholder as %%(name)s (letters, "
                     "digits, _) and a literal %% as %%%%",
                     p, (size_t)(p - query));
            return -1;
        }
        p = close + 2;
    }
    return 0;
}
