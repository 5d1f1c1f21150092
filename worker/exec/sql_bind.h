/*
 * A job's arguments into an sql tool's query: each %(name)s becomes the value of
 * args.name written as a SQL literal (strings quoted by the session's rules, numbers
 * as numbers, lists as (a, b, …) for IN). Only values ever come from a job; the text
 * around them is the configured query. Pure, so the rules are unit-tested.
 */
#ifndef FAC_SQL_BIND_H
#define FAC_SQL_BIND_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends query (checked by sqltpl_check) to out with every placeholder bound from
 * args (a map, or NULL). -1 with err naming the argument when one is missing or is a
 * value SQL cannot take (an object, a nested list, text that is not UTF-8). */
int sql_bind(struct buf *out, const char *query, const msgpack_object *args,
             bool no_backslash_escapes, char *err, size_t errlen);

#endif
