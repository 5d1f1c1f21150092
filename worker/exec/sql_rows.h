/*
 * The rows of an sql tool's query as its result: {"rows": [{column: value, …}, …],
 * "truncated": bool}. Values keep their SQL types as JSON has them: integers as
 * integers, DECIMAL/FLOAT/DOUBLE as numbers (as Frappe's own JSON writes them), NULL as
 * null, everything else (text, dates, times) as the server writes it, as a string.
 */
#ifndef FAC_SQL_ROWS_H
#define FAC_SQL_ROWS_H

#include <jansson.h>
#include <mysql.h>
#include <stdint.h>

/* The first max_records rows of res; "truncated" when res holds more. New reference. */
json_t *sql_rows_json(MYSQL_RES *res, int64_t max_records);

#endif
