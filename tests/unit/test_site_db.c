/*
 * A site's MariaDB settings (docs/configuration.md `sites`): the TLS keys of
 * sites.<site>.db and sites.<site>.replica, what a replica takes from the primary, the
 * mistakes refused at load, and the connection settings db_params_for_site derives
 * (TLS on and verified when a CA is given). Files are written to a private temp dir.
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
#include "db.h"
#include "support.h"

static char dir[PATH_MAX], cfg_path[PATH_MAX + 16], ca[PATH_MAX + 16], err[2048];
static struct fac_config *cfg;

static int setup(void **state)
{
    if (tmpdir_create(dir, sizeof dir)) return -1;
    return tmpdir_write(dir, "ca.pem", "-----BEGIN CERTIFICATE-----\n", ca, sizeof ca);
}

static int teardown(void **state)
{
    config_free(cfg);
    cfg = NULL;
    return tmpdir_remove(dir);
}

/* Loads {"sites": {"s.local": <site>}}. */
static struct fac_config *load(const char *site)
{
    char json[8192];
    snprintf(json, sizeof json, "{\"sites\": {\"s.local\": %s}}", site);
    return cfg = load_config_text(dir, json, cfg_path, sizeof cfg_path, err, sizeof err);
}

static const struct site_cfg *loads(const char *site)
{
    if (!load(site)) fail_msg("config refused: %s", err);
    return config_site(cfg, "s.local", 7);
}

static void refused(const char *site, const char *key, const char *needle)
{
    assert_null(load(site));
    assert_contains(err, key);
    assert_contains(err, needle);
}

static void no_tls_keys_no_tls(void **state)
{
    const struct site_cfg *s = loads("{\"db\": {\"name\": \"d\", \"password\": \"pw\"}}");
    struct db_params p;
    char *pw;
    assert_int_equal(db_params_for_site(s, false, 5, &p, &pw, err, sizeof err), 0);
    assert_false(p.tls);
    assert_false(s->has_replica);
    db_password_free(pw);
}

static void a_ca_turns_tls_on_and_verifies_by_default(void **state)
{
    char site[PATH_MAX + 128];
    snprintf(site, sizeof site, "{\"db\": {\"name\": \"d\", \"ssl_ca\": \"%s\"}}", ca);
    const struct site_cfg *s = loads(site);
    struct db_params p;
    char *pw;
    assert_int_equal(db_params_for_site(s, false, 5, &p, &pw, err, sizeof err), 0);
    assert_true(p.tls);
    assert_true(p.verify_server_cert);
    assert_string_equal(p.ssl_ca, ca);
    db_password_free(pw);
}

static void verification_can_be_turned_off(void **state)
{
    char site[PATH_MAX + 128];
    snprintf(site, sizeof site,
             "{\"db\": {\"name\": \"d\", \"ssl_ca\": \"%s\", \"ssl_verify_server_cert\": false}}",
             ca);
    const struct site_cfg *s = loads(site);
    struct db_params p;
    char *pw;
    assert_int_equal(db_params_for_site(s, false, 5, &p, &pw, err, sizeof err), 0);
    assert_true(p.tls);
    assert_false(p.verify_server_cert);
    db_password_free(pw);
}

static void ssl_true_without_a_ca_encrypts_without_verifying(void **state)
{
    const struct site_cfg *s = loads("{\"db\": {\"name\": \"d\", \"ssl\": true}}");
    struct db_params p;
    char *pw;
    assert_int_equal(db_params_for_site(s, false, 5, &p, &pw, err, sizeof err), 0);
    assert_true(p.tls);
    assert_false(p.verify_server_cert);
    assert_null(p.ssl_ca);
    db_password_free(pw);
}

static void an_unreadable_tls_file_names_its_key(void **state)
{
    const struct site_cfg *s = loads(
        "{\"db\": {\"name\": \"d\", \"password\": \"pw-77\", \"ssl_ca\": \"/nonexistent/ca\"}}");
    struct db_params p;
    char *pw;
    assert_int_equal(db_params_for_site(s, false, 5, &p, &pw, err, sizeof err), -1);
    assert_contains(err, "sites.s.local.db.ssl_ca");
    assert_contains(err, "/nonexistent/ca");
    assert_null(strstr(err, "pw-77"));
}

static void a_cert_without_its_key_is_refused(void **state)
{
    refused("{\"db\": {\"name\": \"d\", \"ssl_cert\": \"/c.pem\"}}", "sites.s.local.db.ssl_key",
            "both ssl_cert and ssl_key");
    refused("{\"db\": {\"name\": \"d\"}, \"replica\": {\"host\": \"r\", \"ssl_key\": \"/k\"}}",
            "sites.s.local.replica.ssl_cert", "both ssl_cert and ssl_key");
}

static void a_wrong_type_is_refused(void **state)
{
    refused("{\"db\": {\"name\": \"d\", \"ssl_verify_server_cert\": 1}}",
            "sites.s.local.db.ssl_verify_server_cert", "expected true or false");
}

static void the_replica_takes_what_it_does_not_set_from_the_primary(void **state)
{
    char site[PATH_MAX + 256];
    snprintf(site, sizeof site,
             "{\"db\": {\"name\": \"d\", \"port\": 3307, \"password\": \"pw\", \"ssl_ca\": "
             "\"%s\"}, \"replica\": {\"host\": \"10.0.0.2\"}, \"read_from_replica\": true}",
             ca);
    const struct site_cfg *s = loads(site);
    assert_true(s->has_replica);
    assert_true(s->read_from_replica);
    assert_false(s->replica_fallback);
    assert_string_equal(s->replica.host, "10.0.0.2");
    assert_int_equal(s->replica.port, 3307);
    assert_string_equal(s->replica.name, "d");
    assert_string_equal(s->replica.user, "d");
    assert_string_equal(s->replica.password, "pw");
    assert_string_equal(s->replica.ssl_ca, ca);
    struct db_params p;
    char *pw;
    assert_int_equal(db_params_for_site(s, true, 5, &p, &pw, err, sizeof err), 0);
    assert_string_equal(p.host, "10.0.0.2");
    assert_true(p.tls && p.verify_server_cert);
    db_password_free(pw);
    assert_int_equal(db_params_for_site(s, false, 5, &p, &pw, err, sizeof err), 0);
    assert_string_equal(p.host, "127.0.0.1"); /* the primary is still the primary */
    db_password_free(pw);
}

static void the_replicas_own_keys_win(void **state)
{
    const struct site_cfg *s =
        loads("{\"db\": {\"name\": \"d\", \"user\": \"u\", \"password\": \"pw\", \"ssl\": true}, "
              "\"replica\": {\"socket\": \"/run/r.sock\", \"user\": \"ro\", \"password_file\": "
              "\"/etc/ro.pw\", \"ssl_verify_server_cert\": false}, \"replica_fallback\": true}");
    assert_true(s->has_replica && s->replica_fallback);
    assert_string_equal(s->replica.user, "ro");
    assert_null(s->replica.password); /* its password_file takes the place of db.password */
    assert_string_equal(s->replica.password_file, "/etc/ro.pw");
    assert_false(s->replica.ssl); /* TLS keys of its own: none taken from db */
    assert_int_equal(s->replica.ssl_verify_server_cert, 0);
    assert_string_equal(s->db.user, "u");
}

static void read_from_replica_without_a_replica_is_refused(void **state)
{
    refused("{\"db\": {\"name\": \"d\"}, \"read_from_replica\": true}",
            "sites.s.local.read_from_replica", "replica.host");
}

static void a_replica_without_a_host_is_refused(void **state)
{
    refused("{\"db\": {\"name\": \"d\"}, \"replica\": {\"port\": 3307}}", "sites.s.local.replica",
            "needs host (or socket)");
}

static void a_tools_replica_key_is_for_sql_tools_only(void **state)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"tools\": {\"e\": {\"kind\": \"builtin\", \"builtin\": "
             "\"echo\", \"replica\": true}}}");
    assert_int_equal(tmpdir_write(dir, "fac.json", json, cfg_path, sizeof cfg_path), 0);
    assert_null(cfg = config_load(cfg_path, err, sizeof err));
    assert_contains(err, "\"replica\" does not apply to a builtin tool");
    snprintf(json, sizeof json,
             "{\"tools\": {\"q\": {\"kind\": \"sql\", \"query\": \"SELECT 1\", \"replica\": "
             "false}, \"r\": {\"kind\": \"sql\", \"query\": \"SELECT 1\"}}}");
    assert_int_equal(tmpdir_write(dir, "fac.json", json, cfg_path, sizeof cfg_path), 0);
    if (!(cfg = config_load(cfg_path, err, sizeof err))) fail_msg("refused: %s", err);
    assert_int_equal(config_tool(cfg, "q", 1)->replica, 0);
    assert_int_equal(config_tool(cfg, "r", 1)->replica, -1);
}

static void a_world_readable_config_with_a_replica_password_is_refused(void **state)
{
    char json[256];
    snprintf(json, sizeof json,
             "{\"sites\": {\"s.local\": {\"db\": {\"name\": \"d\"}, \"replica\": "
             "{\"host\": \"r\", \"password\": \"ro-secret-9\"}}}}");
    assert_int_equal(tmpdir_write(dir, "fac.json", json, cfg_path, sizeof cfg_path), 0);
    assert_int_equal(chmod(cfg_path, 0644), 0);
    assert_null(cfg = config_load(cfg_path, err, sizeof err));
    assert_contains(err, "sites.s.local.replica.password");
    assert_contains(err, "chmod o-rwx");
    assert_null(strstr(err, "ro-secret-9"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(no_tls_keys_no_tls),
        T(a_ca_turns_tls_on_and_verifies_by_default),
        T(verification_can_be_turned_off),
        T(ssl_true_without_a_ca_encrypts_without_verifying),
        T(an_unreadable_tls_file_names_its_key),
        T(a_cert_without_its_key_is_refused),
        T(a_wrong_type_is_refused),
        T(the_replica_takes_what_it_does_not_set_from_the_primary),
        T(the_replicas_own_keys_win),
        T(read_from_replica_without_a_replica_is_refused),
        T(a_replica_without_a_host_is_refused),
        T(a_tools_replica_key_is_for_sql_tools_only),
        T(a_world_readable_config_with_a_replica_password_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
