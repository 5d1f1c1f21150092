/*
 * Where Redis is and how to log in: redis_target_parse for redis:// and unix:// URLs
 * (docs/configuration.md), the password file, a display form that never shows the
 * password, the AUTH argv, and which error replies mean bad credentials; the Sentinel
 * keys (redis_target_init) and which replies mean a failover. No server.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "redis.h"
#include "support.h"

static char dir[PATH_MAX];
static struct redis_target t;
static char err[512];
static char shown[1400];

static int make_dir(void **state)
{
    return tmpdir_create(dir, sizeof dir);
}

static int remove_dir(void **state)
{
    return tmpdir_remove(dir);
}

static void assert_parses(const char *url)
{
    err[0] = '\0';
    if (redis_target_parse(url, NULL, &t, err, sizeof err) != 0)
        fail_msg("%s refused: %s", url, err);
}

static void assert_refused(const char *url, const char *needle)
{
    err[0] = '\0';
    if (redis_target_parse(url, NULL, &t, err, sizeof err) == 0)
        fail_msg("%s accepted (host \"%s\" port %d db %d path \"%s\")", url, t.host, t.port, t.db,
                 t.path);
    assert_contains(err, needle);
}

static const char *display(void)
{
    return redis_target_display(&t, shown, sizeof shown);
}

/* ---- redis:// ---- */

static void a_tcp_url_gives_host_port_and_db(void **state)
{
    assert_parses("redis://10.0.0.5:6380/2");
    assert_string_equal(t.host, "10.0.0.5");
    assert_int_equal(t.port, 6380);
    assert_int_equal(t.db, 2);
    assert_string_equal(t.path, "");
    assert_string_equal(t.user, "");
    assert_string_equal(t.password, "");
}

static void the_port_defaults_to_6379(void **state)
{
    assert_parses("redis://cache.local/4");
    assert_string_equal(t.host, "cache.local");
    assert_int_equal(t.port, 6379);
    assert_int_equal(t.db, 4);
}

static void the_db_defaults_to_0(void **state)
{
    assert_parses("redis://cache.local:7000");
    assert_int_equal(t.port, 7000);
    assert_int_equal(t.db, 0);
    assert_parses("redis://cache.local:7000/");
    assert_int_equal(t.db, 0);
}

static void user_and_password_come_before_the_at_sign(void **state)
{
    assert_parses("redis://alice:s3cret@10.0.0.5:6380/1");
    assert_string_equal(t.user, "alice");
    assert_string_equal(t.password, "s3cret");
    assert_string_equal(t.host, "10.0.0.5");
    assert_int_equal(t.port, 6380);
    assert_int_equal(t.db, 1);
}

static void a_password_may_come_without_a_user(void **state)
{
    assert_parses("redis://:s3cret@host:6379/0");
    assert_string_equal(t.user, "");
    assert_string_equal(t.password, "s3cret");
    assert_string_equal(t.host, "host");
}

static void a_percent_encoded_password_is_decoded(void **state)
{
    assert_parses("redis://:p%40ss%3Aw%2fd%25@host:6379/0");
    assert_string_equal(t.password, "p@ss:w/d%");
    assert_string_equal(t.host, "host");
}

static void a_raw_at_sign_in_the_password_belongs_to_it(void **state)
{
    assert_parses("redis://:p@ss@host/0");
    assert_string_equal(t.password, "p@ss");
    assert_string_equal(t.host, "host");
}

static void a_scheme_other_than_redis_or_unix_is_refused(void **state)
{
    assert_refused("http://host:6379/0", "redis://");
    assert_refused("rediss://host:6379/0", "redis://");
}

static void port_0_is_refused(void **state)
{
    assert_refused("redis://host:0/0", "port");
}

static void port_70000_is_refused(void **state)
{
    assert_refused("redis://host:70000/0", "port");
}

static void a_port_that_is_not_a_number_is_refused(void **state)
{
    assert_refused("redis://host:abc/0", "port");
    assert_refused("redis://host:/0", "port");
    assert_refused("redis://host:63x79/0", "port");
}

static void a_db_that_is_not_a_number_is_refused(void **state)
{
    assert_refused("redis://host:6379/abc", "database");
    assert_refused("redis://host:6379/1x", "database");
    assert_refused("redis://host:6379/-1", "database");
}

static void a_missing_host_is_refused(void **state)
{
    assert_refused("redis://:6379/0", "host");
    assert_refused("redis://:pw@/0", "host");
}

/* ---- unix:// ---- */

static void a_unix_url_gives_path_db_and_password(void **state)
{
    assert_parses("unix:///var/run/redis/redis.sock?db=3&password=x");
    assert_string_equal(t.path, "/var/run/redis/redis.sock");
    assert_int_equal(t.db, 3);
    assert_string_equal(t.password, "x");
    assert_string_equal(t.host, "");
}

static void a_unix_url_needs_no_query(void **state)
{
    assert_parses("unix:///tmp/redis.sock");
    assert_string_equal(t.path, "/tmp/redis.sock");
    assert_int_equal(t.db, 0);
    assert_string_equal(t.password, "");
}

static void a_unix_password_is_percent_decoded_and_ends_at_ampersand(void **state)
{
    assert_parses("unix:///tmp/redis.sock?password=a%26b&db=5");
    assert_string_equal(t.password, "a&b");
    assert_int_equal(t.db, 5);
}

static void a_unix_url_without_a_path_is_refused(void **state)
{
    assert_refused("unix://?db=1", "path");
}

/* The same rule as redis://: a db that is not a number is an error, not database 0. */
static void a_unix_db_that_is_not_a_number_is_refused(void **state)
{
    assert_refused("unix:///tmp/redis.sock?db=abc", "database");
}

static void a_negative_unix_db_is_refused(void **state)
{
    assert_refused("unix:///tmp/redis.sock?db=-1", "database");
}

/* ---- the password file ---- */

static void a_password_file_overrides_the_url_password(void **state)
{
    char path[PATH_MAX + 32];
    assert_int_equal(tmpdir_write(dir, "redis.pw", "from-file\r\n", path, sizeof path), 0);
    assert_int_equal(redis_target_parse("redis://:from-url@host/0", path, &t, err, sizeof err), 0);
    assert_string_equal(t.password, "from-file");
}

static void a_missing_password_file_is_refused_by_name(void **state)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/absent.pw", dir);
    assert_int_equal(redis_target_parse("redis://host/0", path, &t, err, sizeof err), -1);
    assert_contains(err, path);
}

/* ---- what may be shown ---- */

static void display_is_host_port_and_db(void **state)
{
    assert_parses("redis://alice:s3cret@10.0.0.5:6380/2");
    assert_string_equal(display(), "10.0.0.5:6380/2");
}

static void display_of_a_unix_socket_is_path_and_db(void **state)
{
    assert_parses("unix:///tmp/redis.sock?db=3&password=s3cret");
    assert_string_equal(display(), "unix:/tmp/redis.sock?db=3");
}

static void display_never_contains_the_password(void **state)
{
    static const char *const urls[] = {
        "redis://alice:s3cret@host:6379/0",
        "redis://:s3cret@host/0",
        "redis://s3cret@host",
        "redis://:s3%63ret@host:1/2",
        "unix:///tmp/r.sock?password=s3cret&db=1",
        "unix:///tmp/r.sock?db=1&password=s3cret",
    };
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        assert_parses(urls[i]);
        assert_string_equal(t.password, "s3cret");
        assert_not_contains(display(), "s3c");
    }
}

static void errors_never_contain_the_password(void **state)
{
    assert_refused("redis://alice:s3cret@host:99999/0", "port");
    assert_not_contains(err, "s3cret");
    assert_refused("redis://alice:s3cret@host/x", "database");
    assert_not_contains(err, "s3cret");
}

/* ---- AUTH ---- */

static void no_password_means_no_auth(void **state)
{
    const char *argv[3];
    size_t lens[3];
    assert_parses("redis://host/0");
    assert_int_equal(redis_auth_argv(&t, argv, lens), 0);
}

static void a_password_alone_is_auth_password(void **state)
{
    const char *argv[3];
    size_t lens[3];
    assert_parses("redis://:pw@host/0");
    assert_int_equal(redis_auth_argv(&t, argv, lens), 2);
    assert_string_equal(argv[0], "AUTH");
    assert_string_equal(argv[1], "pw");
    assert_int_equal(lens[1], 2);
}

static void a_user_and_password_are_auth_user_password(void **state)
{
    const char *argv[3];
    size_t lens[3];
    assert_parses("redis://alice:pw@host/0");
    assert_int_equal(redis_auth_argv(&t, argv, lens), 3);
    assert_string_equal(argv[0], "AUTH");
    assert_string_equal(argv[1], "alice");
    assert_string_equal(argv[2], "pw");
    assert_int_equal(lens[1], 5);
}

static void wrongpass_noauth_and_noperm_are_auth_errors(void **state)
{
    assert_true(
        redis_error_is_auth("WRONGPASS invalid username-password pair or user is disabled."));
    assert_true(redis_error_is_auth("NOAUTH Authentication required."));
    assert_true(
        redis_error_is_auth("NOPERM this user has no permissions to run the 'select' command"));
    assert_true(redis_error_is_auth("ERR invalid password"));
}

static void other_errors_are_not_auth_errors(void **state)
{
    assert_false(redis_error_is_auth("ERR unknown command 'FOO', with args beginning with: "));
    assert_false(redis_error_is_auth("LOADING Redis is loading the dataset in memory"));
    assert_false(redis_error_is_auth("ERR DB index is out of range"));
}

/* ---- Sentinel ---- */

static char *const three[] = {"10.0.0.1:26379", "[::1]:26380", "s3.example:26381"};

static int init_with(const char *url, char *const *sentinels, size_t n, const char *master,
                     const char *pwfile)
{
    struct redis_sentinel_cfg sc = {sentinels, n, master, pwfile};
    err[0] = '\0';
    return redis_target_init(&t, url, NULL, &sc, err, sizeof err);
}

static void sentinels_and_master_fill_the_target(void **state)
{
    assert_int_equal(init_with("redis://u:pw@ignored:1/3", three, 3, "mymaster", NULL), 0);
    assert_int_equal(t.nsentinels, 3);
    assert_string_equal(t.sentinels[0].host, "10.0.0.1");
    assert_int_equal(t.sentinels[0].port, 26379);
    assert_string_equal(t.sentinels[1].host, "::1");
    assert_int_equal(t.sentinels[1].port, 26380);
    assert_string_equal(t.sentinels[2].host, "s3.example");
    assert_string_equal(t.master_name, "mymaster");
    assert_string_equal(t.user, "u");
    assert_string_equal(t.password, "pw");
    assert_int_equal(t.db, 3);
    assert_string_equal(display(), "master \"mymaster\" via sentinels "
                                   "10.0.0.1:26379,::1:26380,s3.example:26381 db 3");
    assert_not_contains(display(), "pw");
}

static void no_sentinels_leave_a_plain_target(void **state)
{
    assert_int_equal(init_with("redis://h:7/1", NULL, 0, NULL, NULL), 0);
    assert_int_equal(t.nsentinels, 0);
    assert_string_equal(display(), "h:7/1");
}

static void sentinels_without_a_master_name_are_refused(void **state)
{
    assert_int_equal(init_with("redis://h/0", three, 1, NULL, NULL), -1);
    assert_contains(err, "redis_master");
    assert_int_equal(init_with("redis://h/0", three, 1, "two words", NULL), -1);
    assert_contains(err, "redis_master");
}

static void a_master_name_without_sentinels_is_refused(void **state)
{
    assert_int_equal(init_with("redis://h/0", NULL, 0, "m", NULL), -1);
    assert_contains(err, "redis_sentinels");
}

static void a_sentinel_that_is_not_host_port_is_refused_by_item(void **state)
{
    static const char *const bad[] = {"host",       "host:",   ":26379",     "host:0",
                                      "host:65536", "host:2x", "[::1]26379", "[]:1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *list[] = {"ok:1", (char *)bad[i]};
        if (init_with("redis://h/0", list, 2, "m", NULL) == 0) fail_msg("%s accepted", bad[i]);
        assert_contains(err, "redis_sentinels item 1");
        assert_contains(err, "host:port");
    }
}

static void sentinels_need_a_redis_url(void **state)
{
    assert_int_equal(init_with("unix:///tmp/r.sock", three, 1, "m", NULL), -1);
    assert_contains(err, "redis://");
}

static void the_sentinel_password_comes_from_its_file_and_is_not_shown(void **state)
{
    char path[PATH_MAX + 32];
    assert_int_equal(tmpdir_write(dir, "sentinel.pw", "sent-pw\n", path, sizeof path), 0);
    assert_int_equal(init_with("redis://h/0", three, 1, "m", path), 0);
    assert_string_equal(t.sentinel_password, "sent-pw");
    assert_not_contains(display(), "sent-pw");
    char absent[PATH_MAX + 32];
    snprintf(absent, sizeof absent, "%s/absent.pw", dir);
    assert_int_equal(init_with("redis://h/0", three, 1, "m", absent), -1);
    assert_contains(err, "redis_sentinel_password_file");
}

static void readonly_unblocked_and_masterdown_mean_a_failover(void **state)
{
    assert_true(redis_error_is_failover("READONLY You can't write against a read only replica."));
    assert_true(redis_error_is_failover(
        "UNBLOCKED force unblock from blocking operation, instance state changed (master -> "
        "replica?)"));
    assert_true(redis_error_is_failover("MASTERDOWN Link with MASTER is down"));
    assert_false(redis_error_is_failover("ERR unknown command"));
    assert_false(redis_error_is_failover("NOAUTH Authentication required."));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_tcp_url_gives_host_port_and_db),
        cmocka_unit_test(the_port_defaults_to_6379),
        cmocka_unit_test(the_db_defaults_to_0),
        cmocka_unit_test(user_and_password_come_before_the_at_sign),
        cmocka_unit_test(a_password_may_come_without_a_user),
        cmocka_unit_test(a_percent_encoded_password_is_decoded),
        cmocka_unit_test(a_raw_at_sign_in_the_password_belongs_to_it),
        cmocka_unit_test(a_scheme_other_than_redis_or_unix_is_refused),
        cmocka_unit_test(port_0_is_refused),
        cmocka_unit_test(port_70000_is_refused),
        cmocka_unit_test(a_port_that_is_not_a_number_is_refused),
        cmocka_unit_test(a_db_that_is_not_a_number_is_refused),
        cmocka_unit_test(a_missing_host_is_refused),
        cmocka_unit_test(a_unix_url_gives_path_db_and_password),
        cmocka_unit_test(a_unix_url_needs_no_query),
        cmocka_unit_test(a_unix_password_is_percent_decoded_and_ends_at_ampersand),
        cmocka_unit_test(a_unix_url_without_a_path_is_refused),
        cmocka_unit_test(a_unix_db_that_is_not_a_number_is_refused),
        cmocka_unit_test(a_negative_unix_db_is_refused),
        cmocka_unit_test(a_password_file_overrides_the_url_password),
        cmocka_unit_test(a_missing_password_file_is_refused_by_name),
        cmocka_unit_test(display_is_host_port_and_db),
        cmocka_unit_test(display_of_a_unix_socket_is_path_and_db),
        cmocka_unit_test(display_never_contains_the_password),
        cmocka_unit_test(errors_never_contain_the_password),
        cmocka_unit_test(no_password_means_no_auth),
        cmocka_unit_test(a_password_alone_is_auth_password),
        cmocka_unit_test(a_user_and_password_are_auth_user_password),
        cmocka_unit_test(wrongpass_noauth_and_noperm_are_auth_errors),
        cmocka_unit_test(other_errors_are_not_auth_errors),
        cmocka_unit_test(sentinels_and_master_fill_the_target),
        cmocka_unit_test(no_sentinels_leave_a_plain_target),
        cmocka_unit_test(sentinels_without_a_master_name_are_refused),
        cmocka_unit_test(a_master_name_without_sentinels_is_refused),
        cmocka_unit_test(a_sentinel_that_is_not_host_port_is_refused_by_item),
        cmocka_unit_test(sentinels_need_a_redis_url),
        cmocka_unit_test(the_sentinel_password_comes_from_its_file_and_is_not_shown),
        cmocka_unit_test(readonly_unblocked_and_masterdown_mean_a_failover),
    };
    return cmocka_run_group_tests_name("redis_url", tests, make_dir, remove_dir);
}
