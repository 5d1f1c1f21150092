/*
 * redis_shards (docs/sharding.md): the config key in its two forms and its mistakes,
 * and the map lib/shard.c builds from it: which server each queue lives on, one entry
 * per distinct server, and the order a worker fetches the servers in.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "shard.h"
#include "support.h"

static char dir[PATH_MAX];
static char cfg_path[PATH_MAX + 16];
static char err[2048];
static struct fac_config *cfg;
static struct shard_map map;

static int make_dir(void **state)
{
    return tmpdir_create(dir, sizeof dir);
}

static int remove_dir(void **state)
{
    return tmpdir_remove(dir);
}

static int free_all(void **state)
{
    shard_map_free(&map);
    config_free(cfg);
    cfg = NULL;
    return 0;
}

static struct fac_config *load(const char *json)
{
    return cfg = load_config_text(dir, json, cfg_path, sizeof cfg_path, err, sizeof err);
}

static void assert_refused(const char *json, const char *needle)
{
    assert_null(load(json));
    assert_contains(err, cfg_path);
    assert_contains(err, needle);
}

static void load_map(const char *json)
{
    if (!load(json)) fail_msg("config refused: %s", err);
    if (shard_map_build(cfg, &map, err, sizeof err)) fail_msg("map refused: %s", err);
}

static void no_shards_put_every_queue_on_home(void **state)
{
    load_map("{\"redis\": \"redis://10.0.0.1:6379/0\"}");
    assert_int_equal(map.nservers, 1);
    for (size_t q = 0; q < cfg->nqueues; q++)
        assert_int_equal(map.queue_server[q], SHARD_HOME);
    assert_int_equal(map.nfetch, 1);
    assert_int_equal(map.fetch_order[0], SHARD_HOME);
}

static void a_shard_is_a_url_or_an_object_and_one_server_is_one_entry(void **state)
{
    load_map("{\"redis\": \"redis://10.0.0.1:6379/0\","
             " \"queues\": [\"short\", \"default\", \"long\", \"bulk\"],"
             " \"redis_shards\": {\"short\": \"redis://10.0.0.2:6379/0\","
             "                    \"long\": {\"redis\": \"redis://10.0.0.2:6379/0\"},"
             "                    \"bulk\": \"redis://10.0.0.2:6379/1\"}}");
    assert_int_equal(cfg->nshards, 3);
    assert_int_equal(map.nservers, 3); /* home, 10.0.0.2 db 0, 10.0.0.2 db 1 */
    assert_int_equal(map.queue_server[0], map.queue_server[2]);
    assert_int_equal(map.queue_server[1], SHARD_HOME);
    assert_true(map.queue_server[0] != SHARD_HOME);
    assert_true(map.queue_server[3] != map.queue_server[0]);
    assert_int_equal(map.servers[map.queue_server[3]].db, 1);
    assert_int_equal(shard_of(cfg, &map, "long"), map.queue_server[0]);
    assert_int_equal(shard_of(cfg, &map, "not-a-queue"), SHARD_HOME);
}

static void servers_are_fetched_in_the_order_of_their_top_queue(void **state)
{
    load_map("{\"redis\": \"redis://10.0.0.1:6379/0\","
             " \"queues\": [\"short\", \"default\", \"long\"],"
             " \"redis_shards\": {\"short\": \"redis://10.0.0.2:6379/0\","
             "                    \"long\": \"redis://10.0.0.2:6379/0\"}}");
    assert_int_equal(map.nfetch, 2);
    assert_int_equal(map.fetch_order[0], map.queue_server[0]); /* the shard: it has short */
    assert_int_equal(map.fetch_order[1], SHARD_HOME);
}

static void home_holds_no_queue_when_every_queue_is_sharded(void **state)
{
    load_map("{\"redis\": \"redis://10.0.0.1:6379/0\", \"queues\": [\"a\"],"
             " \"redis_shards\": {\"a\": \"redis://10.0.0.2:6379/0\"}}");
    assert_int_equal(map.nservers, 2);
    assert_int_equal(map.nfetch, 1);
    assert_int_equal(map.fetch_order[0], 1);
}

static void a_shard_same_as_home_is_home(void **state)
{
    load_map("{\"redis\": \"redis://10.0.0.1:6379/0\", \"queues\": [\"a\", \"b\"],"
             " \"redis_shards\": {\"b\": \"redis://10.0.0.1:6379/0\"}}");
    assert_int_equal(map.nservers, 1);
    assert_int_equal(map.queue_server[1], SHARD_HOME);
}

static void a_shard_password_file_is_read(void **state)
{
    char pw[PATH_MAX + 16], json[2 * PATH_MAX];
    assert_int_equal(tmpdir_write(dir, "pw", "s3cret\n", pw, sizeof pw), 0);
    snprintf(json, sizeof json,
             "{\"queues\": [\"a\"], \"redis_shards\": {\"a\": {\"redis\": "
             "\"redis://10.0.0.2:6379/0\", \"redis_password_file\": \"%s\"}}}",
             pw);
    load_map(json);
    assert_string_equal(map.servers[1].password, "s3cret");
    char shown[256];
    assert_null(strstr(shard_display(&map, 1, shown, sizeof shown), "s3cret"));
}

static void a_shard_for_an_unserved_queue_is_refused_with_the_fix(void **state)
{
    assert_refused("{\"queues\": [\"default\"],"
                   " \"redis_shards\": {\"reports\": \"redis://10.0.0.2:6379/0\"}}",
                   "redis_shards.reports: \"reports\" is not in \"queues\": add it to "
                   "\"queues\" or remove it from \"redis_shards\"");
}

static void a_shard_without_a_url_is_refused(void **state)
{
    assert_refused("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": {}}}",
                   "redis_shards.a: needs \"redis\"");
    free_all(state);
    assert_refused("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": 5}}",
                   "redis_shards.a: expected a string or an object");
    free_all(state);
    assert_refused("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": \"http://x\"}}",
                   "redis_shards.a: redis URL must start with redis:// or unix://");
    free_all(state);
    assert_refused("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": {\"url\": \"redis://x\"}}}",
                   "redis_shards.a.url: unknown key");
}

static void a_bad_shard_url_is_named_by_its_queue(void **state)
{
    assert_refused("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": \"redis://h:99999\"}}",
                   "redis_shards.a: redis URL: port must be 1-65535");
}

static void a_missing_shard_password_file_is_named_by_its_queue(void **state)
{
    if (!load("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": {\"redis\": "
              "\"redis://h:1/0\", \"redis_password_file\": \"/nonexistent/pw\"}}}"))
        fail_msg("config refused: %s", err);
    assert_int_equal(shard_map_build(cfg, &map, err, sizeof err), -1);
    assert_contains(err, "redis_shards.a: redis_password_file /nonexistent/pw: cannot open it");
}

static void a_shard_behind_sentinel_has_its_own_sentinels_and_master(void **state)
{
    load_map("{\"redis\": \"redis://10.0.0.1:6379/0\","
             " \"redis_sentinels\": [\"10.0.0.9:26379\"], \"redis_master\": \"home\","
             " \"queues\": [\"default\", \"long\", \"bulk\"],"
             " \"redis_shards\": {"
             "   \"long\": {\"redis\": \"redis://:pw@ignored/2\","
             "            \"redis_sentinels\": [\"10.0.1.1:26379\", \"[::1]:26380\"],"
             "            \"redis_master\": \"fac-long\"},"
             "   \"bulk\": \"redis://10.0.0.3:6379/0\"}}");
    assert_int_equal(map.nservers, 3);
    const struct redis_target *home = &map.servers[SHARD_HOME];
    assert_int_equal(home->nsentinels, 1);
    assert_string_equal(home->master_name, "home");
    assert_string_equal(home->key_prefix, "");
    const struct redis_target *t = &map.servers[map.queue_server[1]];
    assert_int_equal(t->nsentinels, 2);
    assert_string_equal(t->master_name, "fac-long");
    assert_string_equal(t->sentinels[0].host, "10.0.1.1");
    assert_int_equal(t->sentinels[1].port, 26380);
    assert_string_equal(t->sentinels[1].host, "::1");
    assert_string_equal(t->password, "pw");
    assert_int_equal(t->db, 2);
    assert_string_equal(t->key_prefix, "redis_shards.long.");
    assert_int_equal(map.servers[map.queue_server[2]].nsentinels, 0); /* bulk: plain */
}

static void a_shard_sentinel_mistake_names_the_key_path(void **state)
{
    assert_refused("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": {\"redis\": "
                   "\"redis://h/0\", \"redis_master\": \"m\"}}}",
                   "redis_shards.a.redis_master is set but redis_shards.a.redis_sentinels is not");
    free_all(state);
    assert_refused("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": {\"redis\": "
                   "\"redis://h/0\", \"redis_sentinels\": [\"h:26379\"]}}}",
                   "redis_shards.a.redis_sentinels is set, so redis_shards.a.redis_master must");
    free_all(state);
    if (!load("{\"queues\": [\"a\"], \"redis_shards\": {\"a\": {\"redis\": \"redis://h/0\","
              " \"redis_sentinels\": [\"h:26379\"], \"redis_master\": \"m\","
              " \"redis_sentinel_password_file\": \"/nonexistent/spw\"}}}"))
        fail_msg("config refused: %s", err);
    assert_int_equal(shard_map_build(cfg, &map, err, sizeof err), -1);
    assert_contains(err, "redis_shards.a.redis_sentinel_password_file /nonexistent/spw: cannot "
                         "open it");
    assert_null(strstr(err, "redis_shards.a: redis_shards.a"));
}

#define T(f) cmocka_unit_test_teardown(f, free_all)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(no_shards_put_every_queue_on_home),
        T(a_shard_is_a_url_or_an_object_and_one_server_is_one_entry),
        T(servers_are_fetched_in_the_order_of_their_top_queue),
        T(home_holds_no_queue_when_every_queue_is_sharded),
        T(a_shard_same_as_home_is_home),
        T(a_shard_password_file_is_read),
        T(a_shard_for_an_unserved_queue_is_refused_with_the_fix),
        T(a_shard_without_a_url_is_refused),
        T(a_bad_shard_url_is_named_by_its_queue),
        T(a_missing_shard_password_file_is_named_by_its_queue),
        T(a_shard_behind_sentinel_has_its_own_sentinels_and_master),
        T(a_shard_sentinel_mistake_names_the_key_path),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
