/*
 * proc_env_build (worker/exec/proc_env.h): an exec tool sees only the allowed names
 * of the worker's environment, plus FAC_JOB_ID, FAC_TOOL, FAC_SITE and FAC_USER.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proc_env.h"
#include "support.h"

static char *worker_env[] = {
    "PATH=/usr/bin:/bin", "LANG=C.UTF-8", "TZ=UTC", "REDIS_PASSWORD=hunter2",
    "PATHX=no",           "DB_SECRET=s3", NULL};
static char **env;

static int release(void **state)
{
    proc_env_free(env);
    env = NULL;
    return 0;
}

#define S(lit) ((struct str){(lit), sizeof(lit) - 1})

static size_t count(char **e)
{
    size_t n = 0;
    while (e[n])
        n++;
    return n;
}

static bool has(char **e, const char *entry)
{
    for (; *e; e++)
        if (strcmp(*e, entry) == 0) return true;
    return false;
}

static void the_default_list_passes_path_lang_lc_all_and_tz_only(void **state)
{
    struct proc_env_ctx ctx = {0};
    env = proc_env_build(worker_env, NULL, 0, &ctx);
    assert_int_equal(count(env), 3); /* LC_ALL is not set in the worker */
    assert_true(has(env, "PATH=/usr/bin:/bin"));
    assert_true(has(env, "LANG=C.UTF-8"));
    assert_true(has(env, "TZ=UTC"));
}

static void a_name_must_match_exactly(void **state)
{
    char *allow[] = {"PATH"};
    struct proc_env_ctx ctx = {0};
    env = proc_env_build(worker_env, allow, 1, &ctx);
    assert_int_equal(count(env), 1);
    assert_false(has(env, "PATHX=no"));
}

static void an_empty_list_passes_nothing_of_the_worker(void **state)
{
    char *allow[] = {NULL};
    struct proc_env_ctx ctx = {0};
    env = proc_env_build(worker_env, allow, 0, &ctx);
    assert_int_equal(count(env), 0);
}

static void a_name_the_worker_lacks_is_left_out(void **state)
{
    char *allow[] = {"HOME", "DB_SECRET"};
    struct proc_env_ctx ctx = {0};
    env = proc_env_build(worker_env, allow, 2, &ctx);
    assert_int_equal(count(env), 1);
    assert_true(has(env, "DB_SECRET=s3"));
}

static void the_job_context_is_added_and_wins_over_the_worker(void **state)
{
    char *fake[] = {"FAC_SITE=evil", NULL};
    char *allow[] = {"FAC_SITE"};
    struct proc_env_ctx ctx = {S("j-1"), S("report"), S("site1.local"), S("")};
    env = proc_env_build(fake, allow, 1, &ctx);
    assert_int_equal(count(env), 3); /* no FAC_USER: it is empty */
    assert_true(has(env, "FAC_JOB_ID=j-1"));
    assert_true(has(env, "FAC_TOOL=report"));
    assert_true(has(env, "FAC_SITE=site1.local"));
}

#define T(f) cmocka_unit_test_teardown(f, release)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(the_default_list_passes_path_lang_lc_all_and_tz_only),
        T(a_name_must_match_exactly),
        T(an_empty_list_passes_nothing_of_the_worker),
        T(a_name_the_worker_lacks_is_left_out),
        T(the_job_context_is_added_and_wins_over_the_worker),
    };
    return cmocka_run_group_tests_name("proc_env", tests, NULL, NULL);
}
