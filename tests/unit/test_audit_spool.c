/*
 * The audit spool and the JSON line it holds (worker/audit/spool.c, columns.c): a row
 * reads back exactly as it was written; replay returns whole lines in order, moves on
 * only when told the rows are committed, deletes a file read to its end, takes over a
 * file nobody holds and leaves alone one a live writer holds.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>

#include "columns.h"
#include "spool.h"
#include "support.h"

static char dir[4096];
static char err[1024];
static struct buf out;
static struct spool *sp, *other;
static struct audit_rec rec, back;

static int make_dir(void **state)
{
    return tmpdir_create(dir, sizeof dir);
}

static int remove_dir(void **state)
{
    return tmpdir_remove(dir);
}

static int fresh(void **state)
{
    char sub[4200];
    static int n;
    snprintf(sub, sizeof sub, "%s/t%d", dir, n++);
    sp = spool_open(sub, "site1.local", "host", err, sizeof err);
    other = spool_open(sub, "site1.local", "host", err, sizeof err);
    return sp && other ? 0 : -1;
}

static int release(void **state)
{
    spool_free(sp);
    spool_free(other);
    sp = other = NULL;
    buf_free(&out);
    audit_rec_free(&rec);
    audit_rec_free(&back);
    return 0;
}

static void a_row_reads_back_from_its_json_line(void **state)
{
    audit_rec_clear(&rec);
    audit_rec_set(&rec, AC_NAME, "ASST-1", 6);
    audit_rec_set(&rec, AC_INPUT_DATA, "{\"q\":\"a\\\"b\\n\"}\0x", 16); /* NUL too */
    audit_rec_set(&rec, AC_USER, "Jürgen", strlen("Jürgen"));
    audit_rec_set_int(&rec, AC_TIMESTAMP, 1764291723456);
    audit_rec_set_num(&rec, AC_EXECUTION_TIME, 1.5);
    audit_rec_set_int(&rec, AC_OUTPUT_TRUNCATED, 1);
    audit_rec_json(&out, &rec);
    assert_contains(out.data, "\"timestamp\":\"2025-11-28 01:02:03.456000\"");
    assert_contains(out.data, "\"error_type\":null");
    if (audit_rec_from_json(&back, out.data, out.len, err, sizeof err) != 0) fail_msg("%s", err);
    for (int c = 0; c < AUDIT_NCOLS; c++) {
        struct str a = audit_rec_get(&rec, c), b = audit_rec_get(&back, c);
        assert_int_equal(a.n, b.n);
        assert_true((a.p == NULL) == (b.p == NULL));
        if (a.p) assert_memory_equal(a.p, b.p, a.n);
    }
}

static void a_line_that_is_not_a_row_is_refused(void **state)
{
    assert_int_equal(
        audit_rec_from_json(&back, "{\"name\":\"x\",\"idx\":\"7\"}", 22, err, sizeof err), -1);
    assert_contains(err, "idx");
    assert_int_equal(audit_rec_from_json(&back, "{\"name\":", 8, err, sizeof err), -1);
    assert_int_equal(audit_rec_from_json(&back, "{}", 2, err, sizeof err), -1);
    assert_contains(err, "name");
}

static void replay_returns_lines_in_order_and_moves_on_only_after_commit(void **state)
{
    assert_int_equal(spool_append(sp, "a\nb\nc\n", 6, err, sizeof err), 0);
    assert_int_equal(spool_claim(sp), 1);
    assert_int_equal(spool_read(sp, &out, 2, 1 << 20, err, sizeof err), 2);
    assert_string_equal(out.data, "a\nb\n");
    buf_reset(&out);
    assert_int_equal(spool_read(sp, &out, 2, 1 << 20, err, sizeof err), 2); /* not committed */
    assert_string_equal(out.data, "a\nb\n");
    spool_commit(sp);
    buf_reset(&out);
    assert_int_equal(spool_read(sp, &out, 2, 1 << 20, err, sizeof err), 1);
    assert_string_equal(out.data, "c\n");
    spool_commit(sp);
    char path[4096];
    snprintf(path, sizeof path, "%s", spool_own_path(sp));
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(spool_read(sp, &out, 2, 1 << 20, err, sizeof err), 0);
    assert_int_not_equal(access(path, F_OK), 0); /* read to its end: deleted */
}

static void a_line_longer_than_max_bytes_is_still_read_whole(void **state)
{
    assert_int_equal(spool_append(sp, "0123456789\nab\n", 14, err, sizeof err), 0);
    spool_claim(sp);
    assert_int_equal(spool_read(sp, &out, 10, 4, err, sizeof err), 1);
    assert_string_equal(out.data, "0123456789\n");
}

static void a_live_writers_file_is_not_claimed(void **state)
{
    assert_int_equal(spool_append(other, "x\n", 2, err, sizeof err), 0);
    assert_int_equal(spool_claim(sp), 0);
}

static void a_dead_writers_file_is_claimed_replayed_and_its_torn_tail_dropped(void **state)
{
    assert_int_equal(spool_append(other, "x\ny\n", 4, err, sizeof err), 0);
    char path[4096];
    snprintf(path, sizeof path, "%s", spool_own_path(other));
    spool_free(other); /* its lock goes with it, as with a dead process */
    other = NULL;
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_int_equal(write(fd, "{\"torn", 6), 6);
    close(fd);
    assert_int_equal(spool_claim(sp), 1);
    assert_int_equal(spool_read(sp, &out, 10, 1 << 20, err, sizeof err), 2);
    assert_string_equal(out.data, "x\ny\n");
    spool_commit(sp);
    assert_int_equal(spool_read(sp, &out, 10, 1 << 20, err, sizeof err), 0);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void dead_writers_files_come_before_our_own(void **state)
{
    assert_int_equal(spool_append(sp, "own\n", 4, err, sizeof err), 0);
    assert_int_equal(spool_claim(sp), 1);
    assert_int_equal(spool_append(other, "old\n", 4, err, sizeof err), 0);
    spool_free(other);
    other = NULL;
    assert_int_equal(spool_claim(sp), 2);
    assert_int_equal(spool_read(sp, &out, 10, 1 << 20, err, sizeof err), 1);
    assert_string_equal(out.data, "old\n");
}

static void a_spool_directory_that_cannot_be_made_is_an_error_naming_it(void **state)
{
    assert_null(spool_open("/proc/no/such/dir", "s", "h", err, sizeof err));
    assert_contains(err, "audit.spool /proc/no/such/dir");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fresh, release)
    const struct CMUnitTest tests[] = {
        T(a_row_reads_back_from_its_json_line),
        T(a_line_that_is_not_a_row_is_refused),
        T(replay_returns_lines_in_order_and_moves_on_only_after_commit),
        T(a_line_longer_than_max_bytes_is_still_read_whole),
        T(a_live_writers_file_is_not_claimed),
        T(a_dead_writers_file_is_claimed_replayed_and_its_torn_tail_dropped),
        T(dead_writers_files_come_before_our_own),
        T(a_spool_directory_that_cannot_be_made_is_an_error_naming_it),
    };
    return cmocka_run_group_tests_name("audit_spool", tests, make_dir, remove_dir);
}
