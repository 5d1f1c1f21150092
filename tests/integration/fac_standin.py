#!/usr/bin/python3
"""A local stand-in for a Frappe site running Frappe Assistant Core, for the
mcp and http executor tests (docs/executors.md).

It answers FAC's MCP endpoint
  POST /api/method/frappe_assistant_core.api.fac_endpoint.handle_mcp
with the reply shapes FAC really produces (frappe_assistant_core/mcp/server.py,
core/base_tool.py, api/fac_endpoint.py), and a few whitelisted Frappe methods
under /api/method/myapp.api.* with Frappe's own reply and error shapes
(summarize, validate, secret_report, soft_fail, nothing, slow, and
the hostile ones: huge, deep, dupkeys, text).
Behaviour is chosen by the MCP tool name (or the method name):

  echo_args        {"success": true, "result": {...}} envelope (FAC <= 2.x)
  get_document     the newer unwrapped result, isError false
  list_documents   like echo_args, with `limit` rows; records the limit it got
  create_document  isError false + success false, error_type ValidationError
  delete_document  isError false + success false, error_type PermissionError
  submit_document  isError true + {"success": false, ...} (newer FAC)
  run_python_code  isError true + "Error executing ...: ..." (a raising tool)
  internal_error   HTTP 400 JSON-RPC error -32603
  server_error     HTTP 500 with Frappe's exception body
  slow             sleeps args.ms, then succeeds
  huge             a result of args.mb MiB
  deep             a result nested args.depth levels ([[[...]]]); with args.outer
                   the JSON-RPC body itself is nested that deep instead
  dupkeys          text {"success": true, "result": 1, "result": 2, ...}, and with
                   args.outer a body whose "isError" is given twice (false, true)
  bytes            content[0].text with NUL, control bytes and a lone surrogate
  drop             closes the connection without a reply
  anything else    isError true "Tool '...' not found or not available ..."

API keys: k-admin:s-admin is Administrator; k-off:s-off is a user whose
assistant access is disabled (HTTP 403, as frappe.throw(PermissionError));
a wrong secret gets FAC's 401.  GET /_stats returns counters (calls per tool,
connections accepted, most requests in flight at once); POST /_reset zeroes
them.  Usage: fac_standin.py PORT_FILE  (binds 127.0.0.1 on a free port and
writes the port to PORT_FILE once it listens).
"""

import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MCP_PATH = "/api/method/frappe_assistant_core.api.fac_endpoint.handle_mcp"
USERS = {"k-admin": ("s-admin", "Administrator", True),
         "k-off": ("s-off", "off@example.com", False)}

LOCK = threading.Lock()
STATS = {"calls": {}, "connections": 0, "in_flight": 0, "max_in_flight": 0,
         "limits": [], "sites": []}


def frappe_error(exc_type, message):
    """Frappe's error body, as frappe.app.handle_exception builds it."""
    msg = json.dumps({"message": message, "title": "Message",
                      "indicator": "red", "raise_exception": 1})
    return {"exception": "frappe.exceptions.%s: %s" % (exc_type, message),
            "exc_type": exc_type,
            "exc": json.dumps(["Traceback (most recent call last): ..."]),
            "_server_messages": json.dumps([msg])}


def envelope(result):
    """BaseTool._safe_execute's success dict, as the text of content[0]."""
    return {"success": True, "result": result, "execution_time": 0.004}


def failure(error, error_type):
    return {"success": False, "error": error, "error_type": error_type,
            "execution_time": 0.002}


def tool_reply(name, args, user):
    """(isError, value) for a tools/call; value becomes content[0].text."""
    if name == "echo_args":
        return False, envelope({"arguments": args, "user": user})
    if name == "get_document":
        return False, {"doctype": args.get("doctype"), "name": args.get("name"),
                       "owner": user, "docstatus": 0}
    if name == "list_documents":
        limit = args.get("limit")
        with LOCK:
            STATS["limits"].append(limit)
        n = limit if isinstance(limit, int) and 0 < limit <= 10000 else 20
        rows = [{"name": "ToDo-%05d" % i} for i in range(n)]
        return False, envelope({"success": True, "data": rows, "count": n})
    if name == "create_document":
        return False, failure("Customer is mandatory", "ValidationError")
    if name == "delete_document":
        return False, failure("Insufficient permissions to execute delete_document",
                              "PermissionError")
    if name == "submit_document":
        return True, failure("Sales Invoice SINV-0009 not found", "DoesNotExistError")
    if name == "run_python_code":
        return True, "Error executing run_python_code: division by zero"
    if name == "slow":
        time.sleep(float(args.get("ms", 0)) / 1000.0)
        return False, envelope({"slept_ms": args.get("ms", 0)})
    if name == "huge":
        return False, envelope({"blob": "x" * int(float(args.get("mb", 1)) * 1048576)})
    if name == "bytes":
        return False, envelope({"text": "nul\x00ctl\x01\x1f lone \ud800 end"})
    return True, ("Tool '%s' not found or not available for the current user." % name)


class RawJSON(str):
    """A reply body written as it is (json.dumps cannot nest 10,000 deep or repeat a key)."""


class RawBody(bytes):
    def __new__(cls, data, ctype):
        obj = bytes.__new__(cls, data)
        obj.ctype = ctype
        return obj


def nested(depth, leaf="1"):
    """depth levels of arrays around leaf, as JSON text."""
    return "[" * depth + leaf + "]" * depth


def method_reply(method, args, user):
    """(HTTP status, body) of POST /api/method/myapp.api.<method>."""
    if method == "summarize":
        return 200, {"message": {"args": args, "user": user}}
    if method == "validate":
        return 417, frappe_error("ValidationError", "Posting Date is mandatory")
    if method == "secret_report":
        return 403, frappe_error("PermissionError", "Not permitted")
    if method == "soft_fail":
        return 200, {"message": {"success": False, "error": "Nothing to summarize"}}
    if method == "nothing":
        return 200, {}
    if method == "slow":
        time.sleep(float(args.get("ms", 0)) / 1000.0)
        return 200, {"message": "done"}
    if method == "huge":
        return 200, {"message": {"blob": "x" * int(float(args.get("mb", 1)) * 1048576)}}
    if method == "deep":
        return 200, RawJSON('{"message": %s}' % nested(int(args.get("depth", 10000))))
    if method == "dupkeys":
        return 200, RawJSON('{"message": {"a": 1, "a": 2}, "message": {"b": 3}}')
    if method == "text":
        return 200, RawBody(b"plain \x00 text \xff\xfe not utf-8", "text/plain")
    return 404, frappe_error("DoesNotExistError", "Method myapp.api.%s not found" % method)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so connection reuse shows

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        ctype = "application/json"
        if isinstance(obj, RawBody):
            data, ctype = bytes(obj), obj.ctype
        elif isinstance(obj, RawJSON):
            data = obj.encode()
        else:
            data = json.dumps(obj, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def authenticate(self):
        """The user, or None after sending FAC's 401 / Frappe's 403."""
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("token "):
            self.send_json(401, {"error": "unauthorized", "message": "Authentication required"})
            return None
        key, _, secret = auth[6:].partition(":")
        entry = USERS.get(key)
        if entry is None or entry[0] != secret:
            self.send_json(401, {"error": "invalid_credentials",
                                 "message": "Invalid API credentials"})
            return None
        if not entry[2]:
            self.send_json(403, frappe_error(
                "PermissionError", "Assistant access is disabled for user %s" % entry[1]))
            return None
        return entry[1]

    def do_GET(self):
        with LOCK:
            self.send_json(200, STATS)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        raw = self.rfile.read(length)
        if self.path == "/_reset":
            with LOCK:
                STATS.update(calls={}, connections=0, max_in_flight=0, limits=[], sites=[])
            return self.send_json(200, {})
        with LOCK:
            STATS["in_flight"] += 1
            STATS["max_in_flight"] = max(STATS["max_in_flight"], STATS["in_flight"])
            STATS["sites"].append(self.headers.get("X-Frappe-Site-Name"))
        try:
            self.route(raw)
        finally:
            with LOCK:
                STATS["in_flight"] -= 1

    def route(self, raw):
        user = self.authenticate()
        if user is None:
            return
        if self.path == MCP_PATH:
            return self.mcp(raw, user)
        prefix = "/api/method/myapp.api."
        if self.path.startswith(prefix):
            status, body = method_reply(self.path[len(prefix):], json.loads(raw or b"{}"), user)
            return self.send_json(status, body)
        self.send_json(404, frappe_error("DoesNotExistError", "Not found"))

    def mcp(self, raw, user):
        try:
            req = json.loads(raw)
        except ValueError as e:
            return self.send_json(400, {"jsonrpc": "2.0", "id": None,
                                        "error": {"code": -32700, "message": "Parse error: %s" % e}})
        params = req.get("params", {})
        name, args = params.get("name"), params.get("arguments", {})
        with LOCK:
            STATS["calls"][name] = STATS["calls"].get(name, 0) + 1
        if name == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if name == "internal_error":
            return self.send_json(400, {"jsonrpc": "2.0", "id": req.get("id"), "error": {
                "code": -32603, "message": "Internal error: 'NoneType' object has no attribute 'get'"}})
        if name == "deep" and args.get("outer"):
            return self.send_json(200, RawJSON(
                '{"jsonrpc": "2.0", "id": %s, "result": {"content": [{"type": "text", '
                '"text": "1"}], "isError": false, "extra": %s}}'
                % (json.dumps(req.get("id")), nested(int(args.get("depth", 10000))))))
        if name == "deep":
            text = nested(int(args.get("depth", 10000)))
            return self.send_json(200, {"jsonrpc": "2.0", "id": req.get("id"), "result": {
                "content": [{"type": "text", "text": text}], "isError": False}})
        if name == "dupkeys" and args.get("outer"):
            return self.send_json(200, RawJSON(
                '{"jsonrpc": "2.0", "id": %s, "result": {"content": [{"type": "text", '
                '"text": "{\\"ok\\": 1}"}], "isError": false, "isError": true}}'
                % json.dumps(req.get("id"))))
        if name == "dupkeys":
            text = '{"success": true, "result": 1, "result": 2, "success": false}'
            return self.send_json(200, {"jsonrpc": "2.0", "id": req.get("id"), "result": {
                "content": [{"type": "text", "text": text}], "isError": False}})
        if name == "server_error":
            return self.send_json(500, frappe_error(
                "OperationalError", "(2013, 'Lost connection to MySQL server during query')"))
        is_error, value = tool_reply(name, args, user)
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        self.send_json(200, {"jsonrpc": "2.0", "id": req.get("id"), "result": {
            "content": [{"type": "text", "text": text}], "isError": is_error}})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a worker opens many connections at once

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # a client gone is no news

    def process_request(self, request, client_address):
        with LOCK:
            STATS["connections"] += 1
        super().process_request(request, client_address)


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
