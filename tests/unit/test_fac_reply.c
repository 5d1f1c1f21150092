/*
 * fac_reply_mcp and fac_reply_method (worker/exec/fac_reply.h) against every reply
 * shape FAC and Frappe produce (docs/executors.md, "What a reply means"): which
 * status, which error type, FAC's own message, and the value of a success.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fac/protocol.h"
#include "fac_reply.h"
#include "support.h"

static struct fac_outcome o;

static int release(void **state)
{
    fac_outcome_free(&o);
    memset(&o, 0, sizeof o);
    return 0;
}

static void mcp(long status, const char *body)
{
    fac_reply_mcp(status, body, strlen(body), &o);
}

static void method(long status, const char *body)
{
    fac_reply_method(status, body, strlen(body), &o);
}

/* A tools/call result whose content[0].text is text (a JSON string literal's body). */
static void tool_text(const char *is_error, const char *text)
{
    char body[2048];
    snprintf(body, sizeof body,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":"
             "[{\"type\":\"text\",\"text\":\"%s\"}],\"isError\":%s}}",
             text, is_error);
    mcp(200, body);
}

static void assert_success_json(const char *want)
{
    assert_string_equal(o.status, FAC_ST_SUCCESS);
    json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
    assert_non_null(w);
    if (!json_equal(o.result, w)) {
        char *got = json_dumps(o.result, JSON_ENCODE_ANY);
        print_error("result %s, want %s\n", got, want);
        free(got);
        json_decref(w);
        fail();
    }
    json_decref(w);
}

static void assert_failed(const char *status, const char *type, const char *message)
{
    assert_string_equal(o.status, status);
    assert_string_equal(o.err_type, type);
    assert_non_null(o.message.data);
    assert_string_equal(o.message.data, message);
    assert_null(o.result);
}

/* ---- tools/call successes ---- */

static void the_success_envelope_of_fac_2_is_unwrapped(void **state)
{
    tool_text("false", "{\\\"success\\\": true, \\\"result\\\": {\\\"n\\\": 1}, "
                       "\\\"execution_time\\\": 0.01}");
    assert_success_json("{\"n\": 1}");
}

static void an_unwrapped_result_of_newer_fac_is_kept_whole(void **state)
{
    tool_text("false", "{\\\"doctype\\\": \\\"ToDo\\\", \\\"name\\\": \\\"T-1\\\"}");
    assert_success_json("{\"doctype\": \"ToDo\", \"name\": \"T-1\"}");
}

static void a_tools_own_success_flag_without_result_is_kept_whole(void **state)
{
    tool_text("false", "{\\\"success\\\": true, \\\"data\\\": [1, 2]}");
    assert_success_json("{\"success\": true, \"data\": [1, 2]}");
}

static void text_that_is_not_json_is_a_string_result(void **state)
{
    tool_text("false", "plain words");
    assert_success_json("\"plain words\"");
}

static void a_result_without_content_gives_structured_content(void **state)
{
    mcp(200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"structuredContent\":{\"a\":1}}}");
    assert_success_json("{\"a\": 1}");
}

/* ---- tools/call failures ---- */

static void success_false_with_is_error_false_is_an_error(void **state)
{
    tool_text("false", "{\\\"success\\\": false, \\\"error\\\": \\\"Customer is mandatory\\\", "
                       "\\\"error_type\\\": \\\"ValidationError\\\"}");
    assert_failed(FAC_ST_ERROR, "ValidationError", "Customer is mandatory");
}

static void a_permission_error_of_the_tool_is_permission_denied(void **state)
{
    tool_text("false", "{\\\"success\\\": false, \\\"error\\\": \\\"Insufficient permissions\\\", "
                       "\\\"error_type\\\": \\\"PermissionError\\\"}");
    assert_failed(FAC_ST_DENIED, "PermissionError", "Insufficient permissions");
}

static void a_failure_inside_the_success_envelope_is_an_error(void **state)
{
    tool_text("false", "{\\\"success\\\": true, \\\"result\\\": {\\\"success\\\": false, "
                       "\\\"error\\\": \\\"Document not found\\\"}}");
    assert_failed(FAC_ST_ERROR, FAC_ERR_EXEC, "Document not found");
}

static void is_error_with_plain_text_is_an_execution_error(void **state)
{
    tool_text("true", "Error executing run_python_code: division by zero");
    assert_failed(FAC_ST_ERROR, FAC_ERR_EXEC, "Error executing run_python_code: division by zero");
}

static void is_error_with_a_failure_object_keeps_its_type(void **state)
{
    tool_text("true", "{\\\"success\\\": false, \\\"error\\\": \\\"SINV-9 not found\\\", "
                      "\\\"error_type\\\": \\\"DoesNotExistError\\\"}");
    assert_failed(FAC_ST_ERROR, "DoesNotExistError", "SINV-9 not found");
}

static void is_error_with_an_object_without_error_gives_its_message(void **state)
{
    tool_text("true", "{\\\"message\\\": \\\"Nope\\\"}");
    assert_failed(FAC_ST_ERROR, FAC_ERR_EXEC, "Nope");
}

static void a_jsonrpc_error_with_http_400_is_an_error_with_its_code(void **state)
{
    mcp(400, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32603,"
             "\"message\":\"Internal error: boom\"}}");
    assert_failed(FAC_ST_ERROR, FAC_ERR_JSONRPC, "Internal error: boom (JSON-RPC error -32603)");
}

static void a_jsonrpc_error_with_http_200_is_an_error_too(void **state)
{
    mcp(200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,"
             "\"message\":\"Method not found: tools/cal\"}}");
    assert_failed(FAC_ST_ERROR, FAC_ERR_JSONRPC,
                  "Method not found: tools/cal (JSON-RPC error -32601)");
}

/* ---- HTTP errors ---- */

static void facs_401_is_an_authentication_error(void **state)
{
    mcp(401, "{\"error\": \"invalid_credentials\", \"message\": \"Invalid API credentials\"}");
    assert_failed(FAC_ST_ERROR, FAC_ERR_AUTH, "Invalid API credentials");
}

static void http_403_is_permission_denied_with_frappes_message(void **state)
{
    mcp(403, "{\"exc_type\": \"PermissionError\", \"exception\": \"frappe.exceptions."
             "PermissionError: Assistant access is disabled\", \"_server_messages\": "
             "\"[\\\"{\\\\\\\"message\\\\\\\": \\\\\\\"Assistant access is disabled for user "
             "u\\\\\\\"}\\\"]\"}");
    assert_failed(FAC_ST_DENIED, "PermissionError", "Assistant access is disabled for user u");
}

static void http_403_without_a_body_is_permission_denied(void **state)
{
    mcp(403, "");
    assert_failed(FAC_ST_DENIED, "PermissionError", "HTTP 403 with an empty body");
}

static void frappes_exception_text_loses_its_class_path(void **state)
{
    mcp(500, "{\"exc_type\": \"OperationalError\", \"exception\": "
             "\"pymysql.err.OperationalError: (2013, 'Lost connection')\"}");
    assert_failed(FAC_ST_ERROR, "OperationalError", "(2013, 'Lost connection')");
}

static void several_server_messages_are_joined(void **state)
{
    method(
        417,
        "{\"exc_type\": \"ValidationError\", \"_server_messages\": "
        "\"[\\\"{\\\\\\\"message\\\\\\\": \\\\\\\"A\\\\\\\"}\\\", \\\"\\\\\\\"B\\\\\\\"\\\"]\"}");
    assert_failed(FAC_ST_ERROR, "ValidationError", "A; B");
}

static void an_html_error_page_is_an_http_error_with_its_start(void **state)
{
    mcp(502, "<html>\r\n<head><title>502 Bad Gateway</title></head></html>");
    assert_failed(FAC_ST_ERROR, FAC_ERR_HTTP,
                  "HTTP 502: <html>  <head><title>502 Bad Gateway</title></head></html>");
}

static void a_long_error_page_is_cut(void **state)
{
    char body[1000];
    memset(body, 'x', sizeof body - 1);
    body[sizeof body - 1] = '\0';
    mcp(504, body);
    assert_string_equal(o.err_type, FAC_ERR_HTTP);
    assert_int_equal(o.message.len, strlen("HTTP 504: ") + 300 + 3);
}

static void a_2xx_that_is_not_json_rpc_is_a_bad_reply(void **state)
{
    mcp(200, "<html>login</html>");
    assert_failed(FAC_ST_ERROR, FAC_ERR_BAD_REPLY,
                  "FAC's reply is not a JSON-RPC result: <html>login</html>");
    release(NULL);
    mcp(200, "{\"jsonrpc\": \"2.0\"}");
    assert_string_equal(o.err_type, FAC_ERR_BAD_REPLY);
}

/* ---- whitelisted methods ---- */

static void a_methods_message_is_its_value(void **state)
{
    method(200, "{\"message\": {\"total\": 42}}");
    assert_success_json("{\"total\": 42}");
}

static void a_method_returning_none_is_an_empty_object(void **state)
{
    method(200, "{}");
    assert_success_json("{}");
}

static void a_plain_text_reply_is_a_string(void **state)
{
    method(200, "pong");
    assert_success_json("\"pong\"");
}

static void a_method_saying_success_false_is_an_error(void **state)
{
    method(200, "{\"message\": {\"success\": false, \"error\": \"Nothing to do\"}}");
    assert_failed(FAC_ST_ERROR, FAC_ERR_EXEC, "Nothing to do");
}

static void a_methods_validation_error_keeps_its_type(void **state)
{
    method(417, "{\"exc_type\": \"ValidationError\", \"exception\": "
                "\"frappe.exceptions.ValidationError: Posting Date is mandatory\"}");
    assert_failed(FAC_ST_ERROR, "ValidationError", "Posting Date is mandatory");
}

static void is_error_given_twice_is_a_bad_reply_not_the_last_value(void **state)
{
    mcp(200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\","
             "\"text\":\"1\"}],\"isError\":false,\"isError\":true}}");
    assert_string_equal(o.err_type, FAC_ERR_BAD_REPLY);
    assert_non_null(strstr(o.message.data, "gives a key twice"));
    assert_non_null(strstr(o.message.data, "isError"));
    release(NULL);
    tool_text("false", "{\\\"success\\\": true, \\\"success\\\": false}");
    assert_string_equal(o.err_type, FAC_ERR_BAD_REPLY);
    assert_non_null(strstr(o.message.data, "the tool's result in FAC's reply gives a key twice"));
}

static void json_deeper_than_the_parser_allows_is_a_bad_reply_not_text(void **state)
{
    size_t depth = 5000, n = 2 * depth + 1;
    char *body = malloc(n + 1);
    memset(body, '[', depth);
    body[depth] = '1';
    memset(body + depth + 1, ']', depth);
    body[n] = '\0';
    method(200, body);
    assert_string_equal(o.err_type, FAC_ERR_BAD_REPLY);
    assert_non_null(strstr(o.message.data, "is nested deeper than 2048 levels"));
    release(NULL);
    mcp(200, body);
    assert_string_equal(o.err_type, FAC_ERR_BAD_REPLY);
    assert_non_null(strstr(o.message.data, "is nested deeper than 2048 levels"));
    free(body);
}

static void plain_text_that_is_not_utf8_becomes_valid_text(void **state)
{
    fac_reply_method(200, "a\0b\xff!", 5, &o);
    assert_string_equal(o.status, FAC_ST_SUCCESS);
    assert_int_equal(json_string_length(o.result), 7);
    assert_memory_equal(json_string_value(o.result), "a\0b\xef\xbf\xbd!", 7);
}

#define T(f) cmocka_unit_test_teardown(f, release)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(the_success_envelope_of_fac_2_is_unwrapped),
        T(an_unwrapped_result_of_newer_fac_is_kept_whole),
        T(a_tools_own_success_flag_without_result_is_kept_whole),
        T(text_that_is_not_json_is_a_string_result),
        T(a_result_without_content_gives_structured_content),
        T(success_false_with_is_error_false_is_an_error),
        T(a_permission_error_of_the_tool_is_permission_denied),
        T(a_failure_inside_the_success_envelope_is_an_error),
        T(is_error_with_plain_text_is_an_execution_error),
        T(is_error_with_a_failure_object_keeps_its_type),
        T(is_error_with_an_object_without_error_gives_its_message),
        T(a_jsonrpc_error_with_http_400_is_an_error_with_its_code),
        T(a_jsonrpc_error_with_http_200_is_an_error_too),
        T(facs_401_is_an_authentication_error),
        T(http_403_is_permission_denied_with_frappes_message),
        T(http_403_without_a_body_is_permission_denied),
        T(frappes_exception_text_loses_its_class_path),
        T(several_server_messages_are_joined),
        T(an_html_error_page_is_an_http_error_with_its_start),
        T(a_long_error_page_is_cut),
        T(a_2xx_that_is_not_json_rpc_is_a_bad_reply),
        T(a_methods_message_is_its_value),
        T(a_method_returning_none_is_an_empty_object),
        T(a_plain_text_reply_is_a_string),
        T(a_method_saying_success_false_is_an_error),
        T(a_methods_validation_error_keeps_its_type),
        T(is_error_given_twice_is_a_bad_reply_not_the_last_value),
        T(json_deeper_than_the_parser_allows_is_a_bad_reply_not_text),
        T(plain_text_that_is_not_utf8_becomes_valid_text),
    };
    return cmocka_run_group_tests_name("fac_reply", tests, NULL, NULL);
}
