/* Binding a job's arguments into an sql tool's query (sql_bind.h). */
#include "sql_bind.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "mp.h"
#include "sql.h"
#include "sqltpl.h"
#include "utf8.h"

static bool utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if (!(k = utf8_seq((const unsigned char *)s + i, n - i))) return false;
    return true;
}

/* One scalar as a literal; NULL on success, else why it cannot be one. */
static const char *bind_scalar(struct buf *out, const msgpack_object *v, bool nbe)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        buf_puts(out, "NULL");
        return NULL;
    case MSGPACK_OBJECT_BOOLEAN:
        buf_puts(out, v->via.boolean ? "1" : "0");
        return NULL;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        buf_printf(out, "%" PRIu64, v->via.u64);
        return NULL;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        buf_printf(out, "%" PRId64, v->via.i64);
        return NULL;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(v->via.f64)) return "is not a finite number";
        buf_printf(out, "%.17g", v->via.f64);
        return NULL;
    case MSGPACK_OBJECT_STR:
    case MSGPACK_OBJECT_BIN:
        if (!utf8_valid(v->via.str.ptr, v->via.str.size)) return "is not valid UTF-8 text";
        sql_quote(out, v->via.str.ptr, v->via.str.size, nbe);
        return NULL;
    default:
        return "cannot be bound: pass a string, number, boolean, null or a list of them";
    }
}

/* A list becomes (a, b, …) for IN, as frappe.db.sql writes a tuple; an empty one is
 * (NULL), which matches nothing rather than being a syntax error. */
static const char *bind_value(struct buf *out, const msgpack_object *v, bool nbe)
{
    if (v->type != MSGPACK_OBJECT_ARRAY) return bind_scalar(out, v, nbe);
    if (!v->via.array.size) {
        buf_puts(out, "(NULL)");
        return NULL;
    }
    buf_putc(out, '(');
    for (uint32_t i = 0; i < v->via.array.size; i++) {
        const msgpack_object *e = &v->via.array.ptr[i];
        if (i) buf_puts(out, ", ");
        if (e->type == MSGPACK_OBJECT_ARRAY || e->type == MSGPACK_OBJECT_MAP)
            return "is a list with a list or object in it: only scalars can be bound";
        const char *why = bind_scalar(out, e, nbe);
        if (why) return why;
    }
    buf_putc(out, ')');
    return NULL;
}

int sql_bind(struct buf *out, const char *query, const msgpack_object *args,
             bool no_backslash_escapes, char *err, size_t errlen)
{
    struct sqltpl_piece piece;
    for (const char *pos = query; sqltpl_next(&pos, &piece);) {
        if (!piece.is_param) {
            buf_append(out, piece.s, piece.n);
            continue;
        }
        const msgpack_object *v = mp_map_get(args, piece.s, piece.n);
        if (!v) {
            snprintf(err, errlen, "args.%.*s is missing (the query binds it as %%(%.*s)s)",
                     (int)piece.n, piece.s, (int)piece.n, piece.s);
            return -1;
        }
        const char *why = bind_value(out, v, no_backslash_escapes);
        if (why) {
            snprintf(err, errlen, "args.%.*s %s", (int)piece.n, piece.s, why);
            return -1;
        }
    }
    return 0;
}
