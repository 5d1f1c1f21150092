/*
 * config_load with bench_path against docs/configuration.md "Beside a bench": a bench
 * tree in Frappe's layout (sites/common_site_config.json, sites/<site>/site_config.json,
 * sites/apps.txt, sites/assets/) is written to a private temp dir for each test, and
 * what the loaded config holds, or the error naming the Frappe file and key, is checked.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "config.h"
#include "support.h"

static char dir[PATH_MAX], bench[PATH_MAX + 16], err[2048];
static struct fac_config *cfg; /* freed after each test */

/* A bench named frappe-bench with two non-sites beside its sites. */
static int make_bench(void **state)
{
    char p[PATH_MAX + 64];
    if (tmpdir_create(dir, sizeof dir)) return -1;
    snprintf(bench, sizeof bench, "%s/frappe-bench", dir);
    mkdir(bench, 0700);
    snprintf(p, sizeof p, "%s/sites", bench);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/sites/assets", bench);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/sites", bench);
    return tmpdir_write(p, "apps.txt", "frappe\nfrappe_assistant_core\n", p, sizeof p);
}

static int remove_bench(void **state)
{
    config_free(cfg);
    cfg = NULL;
    return tmpdir_remove(dir);
}

static void write_common(const char *json)
{
    char sites[PATH_MAX + 32], p[PATH_MAX + 64];
    snprintf(sites, sizeof sites, "%s/sites", bench);
    assert_int_equal(tmpdir_write(sites, "common_site_config.json", json, p, sizeof p), 0);
}

static void write_site(const char *site, const char *json)
{
    char d[PATH_MAX + 300], p[PATH_MAX + 400];
    snprintf(d, sizeof d, "%s/sites/%s", bench, site);
    mkdir(d, 0700);
    assert_int_equal(tmpdir_write(d, "site_config.json", json, p, sizeof p), 0);
}

/* Loads a fac-worker file: {"bench_path": <bench>, <rest>}. */
static struct fac_config *load(const char *rest)
{
    char json[PATH_MAX + 2048], p[PATH_MAX + 32];
    snprintf(json, sizeof json, "{\"bench_path\": \"%s\"%s%s}", bench, *rest ? ", " : "", rest);
    return cfg = load_config_text(dir, json, p, sizeof p, err, sizeof err);
}

static void assert_loads(const char *rest)
{
    if (!load(rest)) fail_msg("config refused: %s", err);
}

static void assert_refused(const char *rest, const char *file, const char *needle)
{
    assert_null(load(rest));
    assert_contains(err, file);
    assert_contains(err, needle);
}

static const char site1[] = "{\"db_name\": \"_1bd3e0294da19198\", \"db_password\": \"s3cret\", "
                            "\"host_name\": \"erp.example.com\", \"encryption_key\": \"x\"}";

static void reads_redis_workers_and_sites(void **state)
{
    write_common("{\"redis_queue\": \"redis://127.0.0.1:11000\", \"redis_cache\": "
                 "\"redis://127.0.0.1:13000\", \"background_workers\": 3, \"db_host\": "
                 "\"10.0.0.5\", \"webserver_port\": 8000, \"socketio_port\": 9000}");
    write_site("site1.local", site1);
    assert_loads("");
    assert_string_equal(cfg->redis, "redis://127.0.0.1:11000");
    assert_int_equal(cfg->workers, 3);
    assert_int_equal(cfg->nsites, 1); /* assets/ and apps.txt are not sites */
    const struct site_cfg *s = config_site(cfg, "site1.local", 11);
    assert_non_null(s);
    assert_string_equal(s->url, "http://erp.example.com");
    assert_string_equal(s->db.host, "10.0.0.5");
    assert_int_equal(s->db.port, 3306);
    assert_string_equal(s->db.name, "_1bd3e0294da19198");
    assert_string_equal(s->db.user, "_1bd3e0294da19198"); /* Frappe's DB user is db_name */
    assert_string_equal(s->db.password, "s3cret");
}

static void site_keys_win_over_common(void **state)
{
    write_common("{\"db_host\": \"10.0.0.5\", \"db_port\": 3306}");
    write_site("a.local", "{\"db_name\": \"a\", \"db_host\": \"10.0.0.9\", \"db_port\": \"3307\"}");
    write_site("b.local", "{\"db_name\": \"b\", \"host_name\": \"https://b.example.com\"}");
    assert_loads("");
    assert_int_equal(cfg->nsites, 2);
    assert_string_equal(config_site(cfg, "a.local", 7)->db.host, "10.0.0.9");
    assert_int_equal(config_site(cfg, "a.local", 7)->db.port, 3307);
    assert_string_equal(config_site(cfg, "b.local", 7)->db.host, "10.0.0.5");
    assert_string_equal(config_site(cfg, "b.local", 7)->url, "https://b.example.com");
}

static void own_file_wins_over_the_bench(void **state)
{
    write_common("{\"redis_queue\": \"redis://127.0.0.1:11000\", \"background_workers\": 3}");
    write_site("site1.local", site1);
    assert_loads("\"redis\": \"redis://10.1.1.1:6379/2\", \"workers\": 5, \"sites\": "
                 "{\"site1.local\": {\"url\": \"https://erp.internal\", \"db\": {\"host\": "
                 "\"db.internal\", \"password_file\": \"/etc/fac-worker/db.pw\"}}}");
    assert_string_equal(cfg->redis, "redis://10.1.1.1:6379/2");
    assert_int_equal(cfg->workers, 5);
    const struct site_cfg *s = config_site(cfg, "site1.local", 11);
    assert_string_equal(s->url, "https://erp.internal");
    assert_string_equal(s->db.host, "db.internal");
    assert_null(s->db.password); /* our password_file takes the place of db_password */
    assert_string_equal(s->db.name, "_1bd3e0294da19198");
}

static void rq_auth_goes_into_the_url(void **state)
{
    write_common("{\"redis_queue\": \"redis://127.0.0.1:11000\", \"use_rq_auth\": 1, "
                 "\"rq_username\": \"bench-rq\", \"rq_password\": \"p@ss:w/rd\"}");
    assert_loads("");
    assert_string_equal(cfg->redis, "redis://bench-rq:p%40ss%3Aw%2Frd@127.0.0.1:11000");
}

static void rq_user_defaults_to_the_bench_name(void **state)
{
    write_common("{\"redis_queue\": \"redis://127.0.0.1:11000\", \"use_rq_auth\": true, "
                 "\"rq_password\": \"pw\"}");
    assert_loads("");
    assert_string_equal(cfg->redis, "redis://frappe-bench:pw@127.0.0.1:11000");
}

static void rq_auth_without_password_is_refused(void **state)
{
    write_common("{\"use_rq_auth\": true, \"redis_queue\": \"redis://127.0.0.1:11000\"}");
    assert_refused("", "sites/common_site_config.json", "rq_password: use_rq_auth is set");
}

static void assistant_tools_set_limits(void **state)
{
    write_common("{\"assistant_tools\": {\"docs\": {\"max_records\": 50}, \"not_here\": "
                 "{\"timeout\": 1}}}");
    write_site("site1.local", "{\"assistant_tools\": {\"docs\": {\"timeout\": 7}}}");
    assert_loads("\"tools\": {\"docs\": {\"kind\": \"mcp\", \"timeout\": 30, \"max_records\": "
                 "1000}}");
    const struct tool_cfg *t = config_tool(cfg, "docs", 4);
    assert_true(t->timeout == 7);
    assert_int_equal(t->max_records, 50);
}

static void assistant_tools_wrong_type_names_the_site_file(void **state)
{
    write_common("{}");
    write_site("site1.local", "{\"assistant_tools\": {\"echo\": {\"timeout\": \"soon\"}}}");
    assert_refused(
        "", "sites/site1.local/site_config.json: assistant_tools.echo.timeout: ", "expected");
}

static void assistant_tools_cannot_change_what_runs(void **state)
{
    write_common("{\"assistant_tools\": {\"run\": {\"argv\": [\"/bin/sh\"]}}}");
    assert_refused("\"tools\": {\"run\": {\"kind\": \"exec\", \"argv\": [\"/bin/true\"]}}",
                   "common_site_config.json: assistant_tools.run.argv", "not a limit");
}

static void assistant_tools_key_of_another_kind_is_refused(void **state)
{
    write_common("{\"assistant_tools\": {\"docs\": {\"memory_limit\": \"512MB\"}}}");
    assert_refused("\"tools\": {\"docs\": {\"kind\": \"mcp\"}}",
                   "assistant_tools.docs.memory_limit", "does not apply to the mcp tool");
}

static void sites_disagreeing_on_a_tool_are_refused(void **state)
{
    write_common("{}");
    write_site("a.local", "{\"assistant_tools\": {\"echo\": {\"timeout\": 5}}}");
    write_site("b.local", "{\"assistant_tools\": {\"echo\": {\"timeout\": 9}}}");
    assert_refused("", "sites/b.local/site_config.json", "differs from");
}

static void postgres_is_refused(void **state)
{
    write_common("{}");
    write_site("pg.local", "{\"db_type\": \"postgres\", \"db_name\": \"pg\"}");
    assert_refused("", "sites/pg.local/site_config.json: db_type: ", "MariaDB only");
}

static void wrong_type_of_a_used_key_names_file_and_key(void **state)
{
    write_common("{\"background_workers\": \"many\"}");
    assert_refused("", "common_site_config.json: background_workers: ", "whole number");
    write_common("{}");
    write_site("site1.local", "{\"db_port\": true}");
    assert_refused("", "site1.local/site_config.json: db_port: ", "whole number");
    write_site("site1.local", "{\"host_name\": 8000}");
    assert_refused("", "site1.local/site_config.json: host_name: ", "expected a string");
}

static void secrets_stay_out_of_errors(void **state)
{
    write_common("{\"use_rq_auth\": 1, \"rq_password\": \"hunter2\", \"redis_queue\": "
                 "\"redis://u:hunter2@127.0.0.1:11000\"}");
    assert_refused("", "redis_queue", "without credentials");
    assert_not_contains(err, "hunter2");
}

/* Frappe's MariaDB client takes ssl={ca, cert, key} from db_ssl_ca/cert/key. */
static void db_ssl_keys_become_the_sites_tls_keys(void **state)
{
    write_common("{\"db_ssl_ca\": \"/etc/ssl/db-ca.pem\"}");
    write_site("site1.local", "{\"db_name\": \"d\", \"db_ssl_cert\": \"/etc/ssl/c.pem\", "
                              "\"db_ssl_key\": \"/etc/ssl/c.key\"}");
    assert_loads("");
    const struct site_cfg *s = config_site(cfg, "site1.local", 11);
    assert_string_equal(s->db.ssl_ca, "/etc/ssl/db-ca.pem");
    assert_string_equal(s->db.ssl_cert, "/etc/ssl/c.pem");
    assert_string_equal(s->db.ssl_key, "/etc/ssl/c.key");
    assert_int_equal(s->db.ssl_verify_server_cert, -1); /* verified: a CA is given */
    assert_true(s->replica.ssl_ca == NULL && !s->has_replica);
}

/* frappe.connect_replica: replica_host, replica_db_port, the primary's db_name and
 * credentials unless different_credentials_for_replica. */
static void replica_keys_become_the_sites_replica(void **state)
{
    write_common("{\"read_from_replica\": 1, \"replica_host\": \"10.0.0.7\"}");
    write_site("a.local", "{\"db_name\": \"a\", \"db_password\": \"apw\", "
                          "\"replica_db_port\": \"3307\"}");
    write_site("b.local", "{\"db_name\": \"b\", \"db_password\": \"bpw\", "
                          "\"replica_host\": \"10.0.0.8\", \"different_credentials_for_replica\": "
                          "true, \"replica_db_name\": \"b_ro\", \"replica_db_password\": \"ro\"}");
    assert_loads("\"sites\": {\"b.local\": {\"read_from_replica\": false}}");
    const struct site_cfg *a = config_site(cfg, "a.local", 7), *b = config_site(cfg, "b.local", 7);
    assert_true(a->has_replica && a->read_from_replica);
    assert_string_equal(a->replica.host, "10.0.0.7");
    assert_int_equal(a->replica.port, 3307);
    assert_string_equal(a->replica.name, "a");
    assert_string_equal(a->replica.user, "a");
    assert_string_equal(a->replica.password, "apw");
    assert_true(b->has_replica);
    assert_false(b->read_from_replica); /* the fac-worker file wins */
    assert_string_equal(b->replica.host, "10.0.0.8");
    assert_int_equal(b->replica.port, 3306);
    assert_string_equal(b->replica.name, "b"); /* Frappe reads db_name on the replica too */
    assert_string_equal(b->replica.user, "b_ro");
    assert_string_equal(b->replica.password, "ro");
}

static void read_from_replica_without_replica_host_is_refused(void **state)
{
    write_common("{}");
    write_site("site1.local", "{\"db_name\": \"d\", \"read_from_replica\": true}");
    assert_refused("", "sites.site1.local.read_from_replica", "replica_host");
}

static void a_directory_that_is_no_bench_is_refused(void **state)
{
    assert_refused("", "sites/common_site_config.json", "a Frappe bench directory?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, make_bench, remove_bench)
        T(reads_redis_workers_and_sites),
        T(site_keys_win_over_common),
        T(own_file_wins_over_the_bench),
        T(rq_auth_goes_into_the_url),
        T(rq_user_defaults_to_the_bench_name),
        T(rq_auth_without_password_is_refused),
        T(assistant_tools_set_limits),
        T(assistant_tools_wrong_type_names_the_site_file),
        T(assistant_tools_cannot_change_what_runs),
        T(assistant_tools_key_of_another_kind_is_refused),
        T(sites_disagreeing_on_a_tool_are_refused),
        T(postgres_is_refused),
        T(wrong_type_of_a_used_key_names_file_and_key),
        T(secrets_stay_out_of_errors),
        T(a_directory_that_is_no_bench_is_refused),
        T(db_ssl_keys_become_the_sites_tls_keys),
        T(replica_keys_become_the_sites_replica),
        T(read_from_replica_without_replica_host_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
