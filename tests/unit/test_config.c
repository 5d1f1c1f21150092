/*
 * config_load, config_tool and config_parse_size against docs/configuration.md: the
 * built-in defaults, a complete file, and every kind of mistake, which must be refused
 * with a message naming the file and the key. Files are written to a private temp dir.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "support.h"

#define MB (1024LL * 1024)

static char dir[PATH_MAX];
static char cfg_path[PATH_MAX + 16];
static char err[2048];
static struct fac_config *cfg; /* the config a test loaded; freed after each test */

static int make_dir(void **state)
{
    return tmpdir_create(dir, sizeof dir);
}

static int remove_dir(void **state)
{
    return tmpdir_remove(dir);
}

static int free_config(void **state)
{
    config_free(cfg);
    cfg = NULL;
    return 0;
}

/* Writes json to fac.json in the temp dir and loads it into cfg. */
static struct fac_config *load(const char *json)
{
    return cfg = load_config_text(dir, json, cfg_path, sizeof cfg_path, err, sizeof err);
}

static void assert_loads(const char *json)
{
    if (!load(json)) fail_msg("config refused: %s", err);
}

/* The file is refused with a message naming the file and containing needle. */
static void assert_refused(const char *json, const char *needle)
{
    assert_null(load(json));
    assert_contains(err, cfg_path);
    assert_contains(err, needle);
}

static const struct tool_cfg *tool(const char *name)
{
    const struct tool_cfg *t = config_tool(cfg, name, strlen(name));
    if (!t) fail_msg("no tool \"%s\"", name);
    return t;
}

/* ---- defaults ---- */

static void defaults_serve_short_default_long_in_that_order(void **state)
{
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_null(cfg->path);
    assert_int_equal(cfg->nqueues, 3);
    assert_string_equal(cfg->queues[0], "short");
    assert_string_equal(cfg->queues[1], "default");
    assert_string_equal(cfg->queues[2], "long");
}

static void defaults_run_two_workers_of_sixteen_jobs(void **state)
{
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(cfg->workers, 2);
    assert_int_equal(cfg->concurrency, 16);
}

static void defaults_cap_memory_at_256mb_and_the_hard_cap_at_twice_that(void **state)
{
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(cfg->max_memory, 256 * MB);
    assert_int_equal(cfg->max_memory_hard, 512 * MB);
}

static void defaults_configure_the_four_safe_builtins_with_the_tool_timeout(void **state)
{
    static const char *const names[] = {"echo", "noop", "sleep", "fail"};
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_float_equal(cfg->tool_timeout, 60, 0);
    assert_int_equal(cfg->ntools, 4);
    for (size_t i = 0; i < 4; i++) {
        const struct tool_cfg *t = tool(names[i]);
        assert_string_equal(t->kind, "builtin");
        assert_string_equal(t->builtin, names[i]);
        assert_float_equal(t->timeout, 60, 0);
        assert_int_equal(t->max_attempts, 1);
    }
}

static void defaults_match_the_rest_of_the_documented_table(void **state)
{
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_string_equal(cfg->redis, "redis://127.0.0.1:11000/0");
    assert_null(cfg->redis_password_file);
    assert_string_equal(cfg->prefix, "fac");
    assert_non_null(cfg->host_id);
    assert_int_equal(cfg->max_jobs, 50000);
    assert_float_equal(cfg->shutdown_timeout, 25, 0);
    assert_float_equal(cfg->heartbeat_timeout, 30, 0);
    assert_float_equal(cfg->kill_grace, 5, 0);
    assert_float_equal(cfg->result_ttl, 600, 0);
    assert_float_equal(cfg->reply_ttl, 60, 0);
    assert_int_equal(cfg->max_payload, 16 * MB);
    assert_int_equal(cfg->dead_max, 10000);
    assert_false(cfg->test_tools);
    assert_null(cfg->log_file);
    assert_string_equal(cfg->log_level, "info");
    assert_string_equal(cfg->audit.to, "jsonl");
    assert_string_equal(cfg->audit.path, "fac-audit.jsonl");
    assert_int_equal(cfg->audit.batch, 500);
    assert_int_equal(cfg->audit.flush_ms, 50);
    assert_string_equal(cfg->audit.spool, "/var/spool/fac-worker");
    assert_true(cfg->audit.db_timeout == 5);
}

/* ---- a complete file ---- */

static const char full_file[] =
    "{\n"
    "  \"redis\": \"redis://:pw@10.0.0.5:6380/2\",\n"
    "  \"redis_password_file\": \"/etc/fac/redis.pw\",\n"
    "  \"prefix\": \"bench\",\n"
    "  \"queues\": [\"high\", \"low\"],\n"
    "  \"host_id\": \"node-1\",\n"
    "  \"workers\": 4,\n"
    "  \"concurrency\": 64,\n"
    "  \"max_memory\": \"512MB\",\n"
    "  \"max_memory_hard\": \"2GB\",\n"
    "  \"max_jobs\": 0,\n"
    "  \"shutdown_timeout\": 10.5,\n"
    "  \"heartbeat_timeout\": 3,\n"
    "  \"kill_grace\": 1,\n"
    "  \"result_ttl\": 120,\n"
    "  \"reply_ttl\": 30,\n"
    "  \"max_payload\": \"1MB\",\n"
    "  \"dead_max\": 50,\n"
    "  \"tool_timeout\": 15,\n"
    "  \"test_tools\": true,\n"
    "  \"log_file\": \"/var/log/fac.log\",\n"
    "  \"log_level\": \"debug\",\n"
    "  \"audit\": {\"to\": \"none\", \"path\": \"/tmp/a.jsonl\", \"batch\": 10, \"flush_ms\": 5},\n"
    "  \"tools\": {\n"
    "    \"echo\": {\"kind\": \"builtin\", \"timeout\": 2.5, \"max_attempts\": 3},\n"
    "    \"slow\": {\"builtin\": \"sleep\"},\n"
    "    \"leak\": {}\n"
    "  }\n"
    "}\n";

static void a_full_file_sets_every_top_level_key(void **state)
{
    assert_loads(full_file);
    assert_string_equal(cfg->path, cfg_path);
    assert_string_equal(cfg->redis, "redis://:pw@10.0.0.5:6380/2");
    assert_string_equal(cfg->redis_password_file, "/etc/fac/redis.pw");
    assert_string_equal(cfg->prefix, "bench");
    assert_int_equal(cfg->nqueues, 2);
    assert_string_equal(cfg->queues[0], "high");
    assert_string_equal(cfg->queues[1], "low");
    assert_string_equal(cfg->host_id, "node-1");
    assert_int_equal(cfg->workers, 4);
    assert_int_equal(cfg->concurrency, 64);
    assert_int_equal(cfg->max_memory, 512 * MB);
    assert_int_equal(cfg->max_memory_hard, 2048 * MB);
    assert_int_equal(cfg->max_jobs, 0);
    assert_float_equal(cfg->shutdown_timeout, 10.5, 0);
    assert_float_equal(cfg->heartbeat_timeout, 3, 0);
    assert_float_equal(cfg->kill_grace, 1, 0);
    assert_float_equal(cfg->result_ttl, 120, 0);
    assert_float_equal(cfg->reply_ttl, 30, 0);
    assert_int_equal(cfg->max_payload, 1 * MB);
    assert_int_equal(cfg->dead_max, 50);
    assert_float_equal(cfg->tool_timeout, 15, 0);
    assert_true(cfg->test_tools);
    assert_string_equal(cfg->log_file, "/var/log/fac.log");
    assert_string_equal(cfg->log_level, "debug");
}

static void a_full_file_sets_every_audit_key(void **state)
{
    assert_loads(full_file);
    assert_string_equal(cfg->audit.to, "none");
    assert_string_equal(cfg->audit.path, "/tmp/a.jsonl");
    assert_int_equal(cfg->audit.batch, 10);
    assert_int_equal(cfg->audit.flush_ms, 5);
}

static void a_tools_key_replaces_the_default_tools(void **state)
{
    assert_loads(full_file);
    assert_int_equal(cfg->ntools, 3);
    const struct tool_cfg *echo = tool("echo");
    assert_string_equal(echo->kind, "builtin");
    assert_string_equal(echo->builtin, "echo");
    assert_float_equal(echo->timeout, 2.5, 0);
    assert_int_equal(echo->max_attempts, 3);
    assert_null(config_tool(cfg, "noop", 4));
}

static void a_tool_names_its_builtin_and_inherits_the_tool_timeout(void **state)
{
    assert_loads(full_file);
    const struct tool_cfg *slow = tool("slow");
    assert_string_equal(slow->kind, "builtin");
    assert_string_equal(slow->builtin, "sleep");
    assert_float_equal(slow->timeout, 15, 0);
    assert_int_equal(slow->max_attempts, 1);
}

static void max_memory_hard_defaults_to_twice_a_configured_max_memory(void **state)
{
    assert_loads("{\"max_memory\": \"100MB\"}");
    assert_int_equal(cfg->max_memory_hard, 200 * MB);
}

static void max_memory_hard_below_max_memory_is_refused(void **state)
{
    assert_refused("{\"max_memory\": \"100MB\", \"max_memory_hard\": \"50MB\"}", "max_memory_hard");
}

/* ---- sizes ---- */

static void size_units_are_powers_of_1024(void **state)
{
    assert_int_equal(config_parse_size("512MB"), 512 * MB);
    assert_int_equal(config_parse_size("64KB"), 64 * 1024);
    assert_int_equal(config_parse_size("1GB"), 1024 * MB);
}

static void a_size_without_unit_is_bytes(void **state)
{
    assert_int_equal(config_parse_size("1048576"), 1048576);
}

static void a_size_may_have_a_fraction(void **state)
{
    assert_int_equal(config_parse_size("1.5MB"), 1572864);
}

static void a_word_is_not_a_size(void **state)
{
    assert_int_equal(config_parse_size("abc"), -1);
}

static void a_negative_size_is_not_a_size(void **state)
{
    assert_int_equal(config_parse_size("-5MB"), -1);
}

static void an_unknown_unit_is_not_a_size(void **state)
{
    assert_int_equal(config_parse_size("12XB"), -1);
}

static void an_empty_string_is_not_a_size(void **state)
{
    assert_int_equal(config_parse_size(""), -1);
}

/* strtod accepts "nan"; the header promises -1 for anything that is not a size. */
static void nan_is_not_a_size(void **state)
{
    assert_int_equal(config_parse_size("nan"), -1);
    assert_int_equal(config_parse_size("nanMB"), -1);
}

static void a_size_in_the_file_may_be_a_number_of_bytes(void **state)
{
    assert_loads("{\"max_memory\": 1048576}");
    assert_int_equal(cfg->max_memory, 1048576);
}

static void a_size_in_the_file_may_be_a_string_with_a_fraction(void **state)
{
    assert_loads("{\"max_memory\": \"1.5MB\"}");
    assert_int_equal(cfg->max_memory, 1572864);
}

static void a_bad_size_in_the_file_names_the_key_and_the_value(void **state)
{
    assert_refused("{\"max_memory\": \"12XB\"}", "max_memory");
    assert_contains(err, "12XB");
}

/* ---- mistakes ---- */

static void an_unknown_top_level_key_is_refused_by_name(void **state)
{
    assert_refused("{\"wrokers\": 2}", "wrokers");
    assert_contains(err, "unknown key");
}

static void an_unknown_key_inside_a_tool_is_refused_by_its_path(void **state)
{
    assert_refused("{\"tools\": {\"echo\": {\"timout\": 5}}}", "tools.echo.timout");
}

static void an_unknown_key_inside_audit_is_refused_by_its_path(void **state)
{
    assert_refused("{\"audit\": {\"batchsize\": 5}}", "audit.batchsize");
}

static void a_wrong_type_is_refused_by_its_path(void **state)
{
    assert_refused("{\"tools\": {\"echo\": {\"timeout\": \"abc\"}}}", "tools.echo.timeout");
    assert_contains(err, "seconds");
}

static void a_string_for_an_integer_is_refused(void **state)
{
    assert_refused("{\"workers\": \"4\"}", "workers");
}

static void a_fraction_for_an_integer_is_refused(void **state)
{
    assert_refused("{\"workers\": 2.5}", "workers");
}

static void workers_zero_is_out_of_range(void **state)
{
    assert_refused("{\"workers\": 0}", "workers");
    assert_contains(err, "out of range");
}

static void workers_5000_is_out_of_range(void **state)
{
    assert_refused("{\"workers\": 5000}", "workers");
    assert_contains(err, "out of range");
}

static void workers_bounds_1_and_1024_are_allowed(void **state)
{
    assert_loads("{\"workers\": 1}");
    assert_int_equal(cfg->workers, 1);
    config_free(cfg);
    cfg = NULL;
    assert_loads("{\"workers\": 1024}");
    assert_int_equal(cfg->workers, 1024);
}

static void invalid_json_is_refused_with_line_and_column(void **state)
{
    assert_refused("{\n  \"workers\": 2,\n  oops\n}\n", "line 3 column ");
    assert_contains(err, "invalid JSON");
}

static void a_duplicate_key_is_refused(void **state)
{
    assert_refused("{\"workers\": 2,\n \"workers\": 3}", "duplicate");
}

static void a_top_level_that_is_not_an_object_is_refused(void **state)
{
    assert_refused("[1, 2]", "JSON object");
}

static void a_missing_file_is_refused_by_name(void **state)
{
    char missing[PATH_MAX + 16];
    snprintf(missing, sizeof missing, "%s/absent.json", dir);
    cfg = config_load(missing, err, sizeof err);
    assert_null(cfg);
    assert_contains(err, missing);
}

static void a_test_builtin_without_test_tools_says_to_set_test_tools(void **state)
{
    assert_refused("{\"tools\": {\"leak\": {}}}", "tools.leak");
    assert_contains(err, "\"test_tools\": true");
}

static void a_test_builtin_under_another_name_still_needs_test_tools(void **state)
{
    assert_refused("{\"tools\": {\"stall\": {\"builtin\": \"hang\"}}}", "tools.stall");
    assert_contains(err, "test_tools");
}

static void test_builtins_load_with_test_tools(void **state)
{
    assert_loads("{\"test_tools\": true, \"tools\": {\"leak\": {}, \"hang\": {}}}");
    assert_string_equal(tool("leak")->builtin, "leak");
    assert_string_equal(tool("hang")->builtin, "hang");
}

static void an_unknown_builtin_is_refused(void **state)
{
    assert_refused("{\"tools\": {\"magic\": {}}}", "tools.magic");
    assert_contains(err, "unknown builtin \"magic\"");
}

static void an_unsupported_kind_is_refused_with_the_supported_ones(void **state)
{
    assert_refused("{\"tools\": {\"q\": {\"kind\": \"ftp\"}}}", "tools.q");
    assert_contains(err, "\"ftp\" is not supported");
    assert_contains(err, "builtin, mcp, http, exec");
}

/* ---- tools of the other kinds (docs/executors.md) ---- */

static void an_mcp_tool_takes_fac_s_name_and_http_limits(void **state)
{
    assert_loads("{\"sites\": {\"s1\": {\"url\": \"http://127.0.0.1:8000\"}}, \"tools\": {"
                 "\"docs\": {\"kind\": \"mcp\", \"name\": \"list_documents\", \"max_records\": 50,"
                 " \"concurrency\": 3, \"cache_ttl\": 30, \"max_reply\": \"1MB\"}}}");
    const struct tool_cfg *t = tool("docs");
    assert_string_equal(t->remote_name, "list_documents");
    assert_int_equal(t->max_records, 50);
    assert_int_equal(t->concurrency, 3);
    assert_float_equal(t->cache_ttl, 30, 0);
    assert_int_equal(t->max_reply, 1 * MB);
    assert_float_equal(t->connect_timeout, 10, 0);
    assert_null(t->builtin);
}

static void an_exec_tool_takes_argv_env_and_limits(void **state)
{
    assert_loads("{\"kill_grace\": 3, \"tools\": {\"py\": {\"kind\": \"exec\", "
                 "\"argv\": [\"/usr/bin/python3\", \"-c\", \"-c\"], \"env\": [\"PATH\"], "
                 "\"memory_limit\": \"512MB\", \"cpu_limit\": 5, \"run_as\": \"4242:4343\"}}}");
    const struct tool_cfg *t = tool("py");
    assert_int_equal(t->argc, 3);
    assert_string_equal(t->argv[2], "-c");
    assert_int_equal(t->nenv, 1);
    assert_string_equal(t->env[0], "PATH");
    assert_int_equal(t->memory_limit, 512 * MB);
    assert_float_equal(t->cpu_limit, 5, 0);
    assert_true(t->has_run_as);
    assert_int_equal(t->run_uid, 4242);
    assert_int_equal(t->run_gid, 4343);
    assert_float_equal(t->kill_grace, 3, 0);
    assert_int_equal(t->max_output, 10 * MB);
    assert_int_equal(t->max_stderr, 64 * 1024);
}

static void
an_exec_tool_without_env_keeps_the_default_list_and_an_empty_one_stays_empty(void **state)
{
    assert_loads("{\"tools\": {\"a\": {\"kind\": \"exec\", \"argv\": [\"/bin/true\"]},"
                 " \"b\": {\"kind\": \"exec\", \"argv\": [\"/bin/true\"], \"env\": []}}}");
    assert_null(tool("a")->env);
    assert_non_null(tool("b")->env);
    assert_int_equal(tool("b")->nenv, 0);
}

static void a_key_of_another_kind_is_refused_naming_the_kinds_it_applies_to(void **state)
{
    assert_refused("{\"tools\": {\"docs\": {\"kind\": \"mcp\", \"memory_limit\": \"1GB\"}}}",
                   "tools.docs");
    assert_contains(err, "\"memory_limit\" does not apply to a mcp tool (only to: exec)");
}

static void a_builtin_key_on_an_exec_tool_is_refused(void **state)
{
    assert_refused("{\"tools\": {\"x\": {\"kind\": \"exec\", \"argv\": [\"/bin/true\"], "
                   "\"builtin\": \"echo\"}}}",
                   "tools.x");
    assert_contains(err, "\"builtin\" does not apply");
}

static void an_exec_tool_needs_argv(void **state)
{
    assert_refused("{\"tools\": {\"x\": {\"kind\": \"exec\"}}}", "tools.x.argv");
}

static void an_empty_argv_is_refused(void **state)
{
    assert_refused("{\"tools\": {\"x\": {\"kind\": \"exec\", \"argv\": []}}}", "tools.x.argv");
    assert_contains(err, "empty");
}

static void an_argv_program_must_be_a_path(void **state)
{
    assert_refused("{\"tools\": {\"x\": {\"kind\": \"exec\", \"argv\": [\"python3\"]}}}",
                   "tools.x.argv");
    assert_contains(err, "/usr/bin/python3");
}

static void an_argv_item_must_be_a_string(void **state)
{
    assert_refused("{\"tools\": {\"x\": {\"kind\": \"exec\", \"argv\": [\"/bin/echo\", 1]}}}",
                   "tools.x.argv");
    assert_contains(err, "item 1 must be a string");
}

static void run_as_an_unknown_user_is_refused(void **state)
{
    assert_refused("{\"tools\": {\"x\": {\"kind\": \"exec\", \"argv\": [\"/bin/true\"], "
                   "\"run_as\": \"no-such-user-fac\"}}}",
                   "tools.x.run_as");
    assert_contains(err, "no user \"no-such-user-fac\"");
}

static void run_as_a_user_name_takes_its_ids(void **state)
{
    assert_loads("{\"tools\": {\"x\": {\"kind\": \"exec\", \"argv\": [\"/bin/true\"], "
                 "\"run_as\": \"root\"}}}");
    assert_true(tool("x")->has_run_as);
    assert_int_equal(tool("x")->run_uid, 0);
}

static void max_procs_for_root_without_run_as_is_refused_as_root(void **state)
{
    const char *json = "{\"tools\": {\"x\": {\"kind\": \"exec\", \"argv\": [\"/bin/true\"], "
                       "\"max_procs\": 10}}}";
    if (geteuid() != 0) {
        assert_loads(json); /* RLIMIT_NPROC holds every other user */
        return;
    }
    assert_refused(json, "tools.x.max_procs");
    assert_contains(err, "run_as");
}

static void an_http_tool_needs_a_url(void **state)
{
    assert_refused("{\"tools\": {\"h\": {\"kind\": \"http\"}}}", "tools.h.url");
    assert_contains(err, "/api/method/");
}

static void an_http_url_is_a_path_or_an_http_url(void **state)
{
    assert_refused("{\"tools\": {\"h\": {\"kind\": \"http\", \"url\": \"ftp://x\"}}}",
                   "tools.h.url");
    assert_loads("{\"tools\": {\"h\": {\"kind\": \"http\", \"url\": \"/api/method/a.b\"}}}");
    free_config(NULL);
    assert_loads("{\"tools\": {\"h\": {\"kind\": \"http\", \"url\": \"https://x/y\"}}}");
}

static void an_unknown_audit_destination_is_refused(void **state)
{
    assert_refused("{\"audit\": {\"to\": \"postgres\"}}", "audit.to");
    assert_contains(err, "mariadb");
}

static void audit_to_mariadb_takes_a_spool_and_a_db_timeout(void **state)
{
    cfg = load("{\"audit\": {\"to\": \"mariadb\", \"spool\": \"/tmp/sp\", \"db_timeout\": 2.5}}");
    assert_non_null(cfg);
    assert_string_equal(cfg->audit.to, "mariadb");
    assert_string_equal(cfg->audit.spool, "/tmp/sp");
    assert_true(cfg->audit.db_timeout == 2.5);
}

static void an_empty_queue_list_is_refused(void **state)
{
    assert_refused("{\"queues\": []}", "queues");
    assert_contains(err, "empty");
}

static void a_queue_listed_twice_is_refused(void **state)
{
    assert_refused("{\"queues\": [\"a\", \"b\", \"a\"]}", "queues");
    assert_contains(err, "\"a\" is listed twice");
}

static void a_queue_name_with_braces_is_refused(void **state)
{
    assert_refused("{\"queues\": [\"a{b}\"]}", "queues");
    assert_contains(err, "braces");
}

static void a_prefix_with_a_space_is_refused(void **state)
{
    assert_refused("{\"prefix\": \"my fac\"}", "prefix");
}

static void an_unknown_log_level_is_refused(void **state)
{
    assert_refused("{\"log_level\": \"verbose\"}", "log_level");
}

/* ---- config_tool ---- */

static void config_tool_finds_a_tool_by_name_and_length(void **state)
{
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    const char *bytes = "sleepy"; /* not NUL-terminated after the name, as in an envelope */
    const struct tool_cfg *t = config_tool(cfg, bytes, 5);
    assert_non_null(t);
    assert_string_equal(t->name, "sleep");
}

static void config_tool_does_not_match_a_prefix(void **state)
{
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_null(config_tool(cfg, "ech", 3));
    assert_null(config_tool(cfg, "echoes", 6));
    assert_null(config_tool(cfg, "", 0));
}

/* ---- scheduler keys (docs/configuration.md "Scheduler") ---- */

static void defaults_of_the_scheduler_keys(void **state)
{
    cfg = config_load(NULL, err, sizeof err);
    assert_non_null(cfg);
    assert_false(cfg->scheduler);
    assert_float_equal(cfg->dead_after, 30, 0);
    assert_float_equal(cfg->retry_backoff.base, 1, 0);
    assert_float_equal(cfg->retry_backoff.max, 300, 0);
    assert_float_equal(cfg->retry_backoff.jitter, 0.25, 0);
    assert_int_equal(cfg->ncron, 0);
}

static void a_cron_entry_sets_every_key(void **state)
{
    assert_loads("{\"scheduler\": true, \"dead_after\": 12.5,"
                 " \"retry_backoff\": {\"base\": 0.5, \"max\": 60, \"jitter\": 0},"
                 " \"cron\": [{\"name\": \"nightly\", \"schedule\": \"0 2 * * *\","
                 " \"tool\": \"echo\", \"args\": {\"a\": [1, \"x\"]}, \"queue\": \"long\","
                 " \"site\": \"s1\", \"user\": \"u@x\", \"max_attempts\": 3, \"timeout\": 9},"
                 " {\"name\": \"often\", \"schedule\": \"*/5 * * * * *\", \"tool\": \"noop\"}]}");
    assert_true(cfg->scheduler);
    assert_float_equal(cfg->dead_after, 12.5, 0);
    assert_float_equal(cfg->retry_backoff.base, 0.5, 0);
    assert_float_equal(cfg->retry_backoff.max, 60, 0);
    assert_float_equal(cfg->retry_backoff.jitter, 0, 0);
    assert_int_equal(cfg->ncron, 2);
    const struct cron_cfg *c = &cfg->cron[0];
    assert_string_equal(c->name, "nightly");
    assert_string_equal(c->schedule, "0 2 * * *");
    assert_string_equal(c->tool, "echo");
    assert_string_equal(c->args, "{\"a\":[1,\"x\"]}");
    assert_string_equal(c->queue, "long");
    assert_string_equal(c->site, "s1");
    assert_string_equal(c->user, "u@x");
    assert_int_equal(c->max_attempts, 3);
    assert_float_equal(c->timeout, 9, 0);
    assert_int_equal(c->expr.hour, 1u << 2);
    c = &cfg->cron[1];
    assert_string_equal(c->args, "{}");
    assert_string_equal(c->queue, "default");
    assert_null(c->site);
    assert_int_equal(c->max_attempts, 0);
    assert_int_equal(c->expr.sec, 1 | 1ULL << 5 | 1ULL << 10 | 1ULL << 15 | 1ULL << 20 |
                                      1ULL << 25 | 1ULL << 30 | 1ULL << 35 | 1ULL << 40 |
                                      1ULL << 45 | 1ULL << 50 | 1ULL << 55);
}

static void a_bad_cron_schedule_is_refused_by_its_path(void **state)
{
    assert_refused(
        "{\"cron\": [{\"name\": \"a\", \"schedule\": \"61 * * * *\", \"tool\": \"echo\"}]}",
        "cron[0].schedule: minute");
    assert_refused(
        "{\"cron\": [{\"name\": \"a\", \"schedule\": \"0 0 30 2 *\", \"tool\": \"echo\"}]}",
        "never fires");
}

static void a_cron_entry_needs_a_name_a_schedule_and_a_tool(void **state)
{
    assert_refused("{\"cron\": [{\"schedule\": \"* * * * *\", \"tool\": \"echo\"}]}",
                   "cron[0]: needs \"name\", \"schedule\" and \"tool\"");
    assert_refused("{\"cron\": [{\"name\": \"a\", \"tool\": \"echo\"}]}", "cron[0]: needs");
}

static void a_cron_entry_must_name_a_configured_tool_and_a_served_queue(void **state)
{
    assert_refused(
        "{\"cron\": [{\"name\": \"a\", \"schedule\": \"* * * * *\", \"tool\": \"nope\"}]}",
        "cron[0].tool: \"nope\" is not a configured tool");
    assert_refused(
        "{\"queues\": [\"q1\"], \"cron\": [{\"name\": \"a\", \"schedule\": \"* * * * *\","
        " \"tool\": \"echo\"}]}",
        "cron[0].queue: \"default\" is not in \"queues\"");
}

static void cron_names_are_unique_and_usable_in_keys(void **state)
{
    assert_refused("{\"cron\": [{\"name\": \"a\", \"schedule\": \"* * * * *\", \"tool\": \"echo\"},"
                   " {\"name\": \"a\", \"schedule\": \"* * * * *\", \"tool\": \"echo\"}]}",
                   "cron[1]: name \"a\" is used twice");
    assert_refused(
        "{\"cron\": [{\"name\": \"a b\", \"schedule\": \"* * * * *\", \"tool\": \"echo\"}]}",
        "cron[0]: name \"a b\" must be");
}

static void cron_must_be_an_array_of_objects_with_known_keys(void **state)
{
    assert_refused("{\"cron\": {\"a\": {}}}", "cron: expected an array of objects, got an object");
    assert_refused("{\"cron\": [1]}", "cron[0]: expected an object, got an integer");
    assert_refused("{\"cron\": [{\"name\": \"a\", \"every\": 5}]}", "cron[0].every: unknown key");
    assert_refused("{\"cron\": [{\"name\": \"a\", \"args\": [1]}]}",
                   "cron[0].args: expected an object");
}

static void retry_backoff_is_checked(void **state)
{
    assert_refused("{\"retry_backoff\": {\"jitter\": 2}}",
                   "retry_backoff.jitter: 2 is out of range");
    assert_refused("{\"retry_backoff\": {\"jitter\": \"x\"}}", "expected a number, got a string");
    assert_refused("{\"retry_backoff\": {\"base\": 10, \"max\": 5}}",
                   "retry_backoff.max: must not be below retry_backoff.base");
    assert_refused("{\"dead_after\": 0}", "dead_after: 0 is out of range");
}

#define T(f) cmocka_unit_test_teardown(f, free_config)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(defaults_serve_short_default_long_in_that_order),
        T(defaults_run_two_workers_of_sixteen_jobs),
        T(defaults_cap_memory_at_256mb_and_the_hard_cap_at_twice_that),
        T(defaults_configure_the_four_safe_builtins_with_the_tool_timeout),
        T(defaults_match_the_rest_of_the_documented_table),
        T(a_full_file_sets_every_top_level_key),
        T(a_full_file_sets_every_audit_key),
        T(a_tools_key_replaces_the_default_tools),
        T(a_tool_names_its_builtin_and_inherits_the_tool_timeout),
        T(max_memory_hard_defaults_to_twice_a_configured_max_memory),
        T(max_memory_hard_below_max_memory_is_refused),
        T(size_units_are_powers_of_1024),
        T(a_size_without_unit_is_bytes),
        T(a_size_may_have_a_fraction),
        T(a_word_is_not_a_size),
        T(a_negative_size_is_not_a_size),
        T(an_unknown_unit_is_not_a_size),
        T(an_empty_string_is_not_a_size),
        T(nan_is_not_a_size),
        T(a_size_in_the_file_may_be_a_number_of_bytes),
        T(a_size_in_the_file_may_be_a_string_with_a_fraction),
        T(a_bad_size_in_the_file_names_the_key_and_the_value),
        T(an_unknown_top_level_key_is_refused_by_name),
        T(an_unknown_key_inside_a_tool_is_refused_by_its_path),
        T(an_unknown_key_inside_audit_is_refused_by_its_path),
        T(a_wrong_type_is_refused_by_its_path),
        T(a_string_for_an_integer_is_refused),
        T(a_fraction_for_an_integer_is_refused),
        T(workers_zero_is_out_of_range),
        T(workers_5000_is_out_of_range),
        T(workers_bounds_1_and_1024_are_allowed),
        T(invalid_json_is_refused_with_line_and_column),
        T(a_duplicate_key_is_refused),
        T(a_top_level_that_is_not_an_object_is_refused),
        T(a_missing_file_is_refused_by_name),
        T(a_test_builtin_without_test_tools_says_to_set_test_tools),
        T(a_test_builtin_under_another_name_still_needs_test_tools),
        T(test_builtins_load_with_test_tools),
        T(an_unknown_builtin_is_refused),
        T(an_unsupported_kind_is_refused_with_the_supported_ones),
        T(an_mcp_tool_takes_fac_s_name_and_http_limits),
        T(an_exec_tool_takes_argv_env_and_limits),
        T(an_exec_tool_without_env_keeps_the_default_list_and_an_empty_one_stays_empty),
        T(a_key_of_another_kind_is_refused_naming_the_kinds_it_applies_to),
        T(a_builtin_key_on_an_exec_tool_is_refused),
        T(an_exec_tool_needs_argv),
        T(an_empty_argv_is_refused),
        T(an_argv_program_must_be_a_path),
        T(an_argv_item_must_be_a_string),
        T(run_as_an_unknown_user_is_refused),
        T(run_as_a_user_name_takes_its_ids),
        T(max_procs_for_root_without_run_as_is_refused_as_root),
        T(an_http_tool_needs_a_url),
        T(an_http_url_is_a_path_or_an_http_url),
        T(an_unknown_audit_destination_is_refused),
        T(audit_to_mariadb_takes_a_spool_and_a_db_timeout),
        T(an_empty_queue_list_is_refused),
        T(a_queue_listed_twice_is_refused),
        T(a_queue_name_with_braces_is_refused),
        T(a_prefix_with_a_space_is_refused),
        T(an_unknown_log_level_is_refused),
        T(config_tool_finds_a_tool_by_name_and_length),
        T(config_tool_does_not_match_a_prefix),
        T(defaults_of_the_scheduler_keys),
        T(a_cron_entry_sets_every_key),
        T(a_bad_cron_schedule_is_refused_by_its_path),
        T(a_cron_entry_needs_a_name_a_schedule_and_a_tool),
        T(a_cron_entry_must_name_a_configured_tool_and_a_served_queue),
        T(cron_names_are_unique_and_usable_in_keys),
        T(cron_must_be_an_array_of_objects_with_known_keys),
        T(retry_backoff_is_checked),
    };
    return cmocka_run_group_tests_name("config", tests, make_dir, remove_dir);
}
