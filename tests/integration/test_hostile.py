"""Hostile input, end to end (docs/hostile-input.md, issue 8): 100 MB strings,
10,000-deep nesting, path tricks in names, NUL bytes and invalid UTF-8,
duplicate keys and numbers past every range, in envelopes, in mcp/http
replies (fac_standin.py), in exec output and in config files.

Each case checks the three promises: a clear error that names the thing and
the fix, nothing lost (a dead entry with the original bytes, or an Error
result record, and an audit row), and a pool that goes on serving: an echo
job afterwards succeeds on the same worker pids."""

import json
import os
import struct
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import (SITE, WORKER_BIN, audit_row_name, audit_rows, ctl, dead_key, enqueue, get_result,
                      inflight_count, job, make_config, pack, ready_key, result_key,
                      site_config, unpack, wait_result, wait_until)

PYTHON = "/usr/bin/python3"
MB = 1 << 20


def _id():
    return "hostile-" + uuid.uuid4().hex


def py_tool(code, **keys):
    """An exec tool running a few lines of Python (never a shell)."""
    return dict({"kind": "exec", "argv": [PYTHON, "-S", "-c", code], "timeout": 20}, **keys)


def start(fac, **kw):
    tools = {"echo": {"kind": "builtin"}}
    tools.update(kw.pop("tools", {}))
    kw.setdefault("workers", 1)
    kw.setdefault("concurrency", 4)
    pool = fac.start(tools=tools, **kw)
    return pool, pool.worker_pids()


def still_serving(fac, pool, pids):
    """The promise every case ends with: an echo job succeeds, same pids."""
    jid = enqueue(fac.r, job("echo", {"after": "hostile"}))
    rec = wait_result(fac.r, jid, timeout=20)
    assert rec["status"] == "Success" and rec["result"] == {"after": "hostile"}, rec
    assert pool.worker_pids() == pids, "worker pids changed: %s -> %s" % (
        pids, pool.worker_pids())
    wait_until(lambda: inflight_count(fac.r) == 0, 10, what="no job left in flight")


def one_dead(r, timeout=20):
    wait_until(lambda: r.llen(dead_key()) >= 1, timeout, what="a dead entry")
    entries = r.lrange(dead_key(), 0, -1)
    assert len(entries) == 1, len(entries)
    return unpack(entries[0])


def run(fac, tool, args=None, timeout=30, **env):
    return wait_result(fac.r, enqueue(fac.r, job(tool, args or {}, **env)), timeout=timeout)


def row_of(fac, rec):
    """The audit row (JSON lines) of the attempt a result record tells of."""
    path = fac.tmp / "audit.jsonl"
    name = audit_row_name(rec["id"], rec["attempt"], rec["started_at"])

    def find():
        for row in (audit_rows(path) if path.exists() else []):
            if row["name"] == name:
                return row
        return None
    return wait_until(find, 20, interval=0.05, what="the audit row %s of %s" % (name, rec["id"]))


def nested_msgpack(depth):
    """{"a": {"a": ... 1}} depth maps deep, as bytes (msgpack-python refuses to
    pack past 512 levels)."""
    return b"\x81\xa1a" * depth + b"\x01"


def map_with_dup(pairs):
    """A msgpack map from (key, value) pairs, keys repeated as given."""
    out = bytearray()
    n = len(pairs)
    out += bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
    for k, v in pairs:
        out += pack(k) + pack(v)
    return bytes(out)


def check_config(tmp_path, cfg_text, name="fac.json"):
    """fac-worker --check-config on a file holding cfg_text: (exit code, stderr)."""
    p = Path(tmp_path) / name
    p.write_bytes(cfg_text if isinstance(cfg_text, bytes) else cfg_text.encode())
    p.chmod(0o640)
    r = subprocess.run([WORKER_BIN, "--check-config", "-c", str(p)], capture_output=True,
                       timeout=60)
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def base_config(tmp_path, **over):
    cfg = json.loads(make_config(tmp_path, name="base.json").read_text())
    cfg.update(over)
    return cfg


# ---- 100 MB strings ----------------------------------------------------------------

def test_a_100mb_envelope_over_max_payload_is_dead_naming_max_payload(fac):
    # The idle worker's take (BLMOVE ready inflight) reads the element once into
    # hiredis' buffer; under ASan its quarantine keeps those 100 MB past the default
    # max_memory, which would recycle the worker (gracefully) and change its pid.
    pool, pids = start(fac, max_memory="1GB")
    env = job("echo", {"blob": "x" * (100 * MB)}, id=_id())
    data = pack(env)
    enqueue(fac.r, data)
    entry = one_dead(fac.r)
    assert entry["error"]["type"] == "PayloadTooLarge", entry
    assert "max_payload" in entry["reason"] and str(len(data)) in entry["reason"], entry["reason"]
    assert entry["job"] == data  # the original bytes: nothing lost
    still_serving(fac, pool, pids)


def test_an_entry_buried_inside_redis_reads_like_any_dead_entry(fac):
    """Over max_payload, the dead entry is written inside Redis (here by the idle
    worker's take burial; test_fetch_take.py shows the fetch script's is the same):
    fac-ctl lists it and decodes its job like the worker's own."""
    pool, pids = start(fac, max_payload="1KB")
    env = job("echo", {"blob": "x" * 2048}, id=_id())
    data = pack(env)
    enqueue(fac.r, data)
    entry = one_dead(fac.r)
    assert set(entry) == {"v", "queue", "reason", "error", "failed_at", "worker", "job"}, entry
    assert entry["v"] == 1 and entry["queue"] == "default" and entry["job"] == data
    assert entry["worker"] in pool.live_workers(), entry["worker"]
    assert entry["error"] == {"type": "PayloadTooLarge", "message": entry["reason"]}
    assert abs(entry["failed_at"] - __import__("time").time() * 1000) < 60000
    res = ctl(pool.config_path, "dead", "list", "--json")
    assert res.returncode == 0, res.stderr
    (listed,) = json.loads(res.stdout)
    assert listed["error"]["type"] == "PayloadTooLarge" and listed["job"]["id"] == env["id"]
    assert "moved to the dead list: PayloadTooLarge" in pool.log_text()
    still_serving(fac, pool, pids)


def test_a_100mb_string_under_a_raised_max_payload_runs_and_the_audit_clips(fac):
    pool, pids = start(fac, max_payload="256MB", max_memory="1GB", heartbeat_timeout=30)
    jid = _id()
    rec = run(fac, "echo", {"blob": "y" * (100 * MB), "tag": jid}, id=jid, timeout=60)
    assert rec["status"] == "Success", {k: v for k, v in rec.items() if k != "result"}
    assert len(rec["result"]["blob"]) == 100 * MB
    row = row_of(fac, rec)
    assert len(row["input_data"].encode()) <= 1 * MB + 64, len(row["input_data"])
    assert len(row["output_data"].encode()) <= 50000 and row["output_truncated"] in (1, True)
    still_serving(fac, pool, pids)


@pytest.mark.parametrize("kind", ["mcp", "http"])
def test_a_100mb_reply_is_reply_too_large_naming_max_reply(fac, fac_site, kind):
    tool = ({"kind": "mcp", "name": "huge"} if kind == "mcp"
            else {"kind": "http", "url": "/api/method/myapp.api.huge"})
    pool, pids = start(fac, sites=site_config(fac_site.url), tools={"big": tool})
    rec = run(fac, "big", {"mb": 100}, site=SITE, timeout=60)
    assert rec["status"] == "Error" and rec["error"]["type"] == "ReplyTooLarge", rec
    assert "max_reply" in rec["error"]["message"], rec["error"]
    still_serving(fac, pool, pids)


def test_a_100mb_reply_under_a_raised_max_reply_is_the_result(fac, fac_site):
    pool, pids = start(fac, sites=site_config(fac_site.url), max_memory="1GB",
                       heartbeat_timeout=30,
                       tools={"big": {"kind": "http", "url": "/api/method/myapp.api.huge",
                                      "max_reply": "200MB", "timeout": 60}})
    jid = _id()
    rec = run(fac, "big", {"mb": 100}, site=SITE, id=jid, timeout=90)
    assert rec["status"] == "Success", rec.get("error")
    assert len(rec["result"]["blob"]) == 100 * MB
    row = row_of(fac, rec)
    assert len(row["output_data"].encode()) <= 50000 and row["output_truncated"] in (1, True)
    still_serving(fac, pool, pids)


def test_100mb_of_exec_stdout_is_output_too_large_naming_max_output(fac):
    code = "import sys; sys.stdout.write('\"' + 'z' * (100 << 20) + '\"')"
    pool, pids = start(fac, tools={"w": py_tool(code)})
    rec = run(fac, "w")
    assert rec["status"] == "Error" and rec["error"]["type"] == "OutputTooLarge", rec
    assert "max_output" in rec["error"]["message"], rec["error"]
    still_serving(fac, pool, pids)


def test_a_100mb_json_line_from_exec_under_a_raised_max_output_is_the_result(fac):
    code = "import sys; sys.stdout.write('\"' + 'z' * (100 << 20) + '\"')"
    pool, pids = start(fac, max_memory="1GB", heartbeat_timeout=30,
                       tools={"w": py_tool(code, max_output="200MB")})
    jid = _id()
    rec = run(fac, "w", id=jid, timeout=60)
    assert rec["status"] == "Success", rec.get("error")
    assert rec["result"] == "z" * (100 * MB)
    row = row_of(fac, rec)
    assert len(row["output_data"].encode()) <= 50000 and row["output_truncated"] in (1, True)
    still_serving(fac, pool, pids)


def test_a_config_file_with_a_100mb_line_is_refused_naming_the_key(tmp_path):
    cfg = base_config(tmp_path, host_id="h" * (100 * MB))
    rc, err = check_config(tmp_path, json.dumps(cfg))
    assert rc == 3, err[:500]
    assert "fac.json" in err and "host_id" in err and "1-64" in err, err[:500]
    assert len(err) < 4096, "the error repeats the 100 MB value (%d bytes)" % len(err)


# ---- 10,000-deep nesting -----------------------------------------------------------

def test_args_10000_deep_in_msgpack_are_dead_naming_the_depth(fac):
    pool, pids = start(fac)
    jid = _id()
    body = pack({"v": 1, "id": jid, "tool": "echo"})
    data = bytes([body[0] + 1]) + body[1:] + pack("args") + nested_msgpack(10000)
    enqueue(fac.r, data)
    entry = one_dead(fac.r)
    assert entry["error"]["type"] == "DecodeError", entry
    assert "nest" in entry["reason"] or "deep" in entry["reason"], entry["reason"]
    assert entry["job"] == data
    still_serving(fac, pool, pids)


@pytest.mark.parametrize("where", ["text", "outer"])
def test_an_mcp_reply_10000_deep_is_a_bad_reply_naming_the_depth(fac, fac_site, where):
    pool, pids = start(fac, sites=site_config(fac_site.url),
                       tools={"deep": {"kind": "mcp"}})
    rec = run(fac, "deep", {"depth": 10000, "outer": where == "outer"}, site=SITE)
    assert rec["status"] == "Error" and rec["error"]["type"] == "BadReply", rec
    assert "deeper than" in rec["error"]["message"], rec["error"]
    still_serving(fac, pool, pids)


def test_an_http_reply_10000_deep_is_a_bad_reply_not_text(fac, fac_site):
    pool, pids = start(fac, sites=site_config(fac_site.url),
                       tools={"deep": {"kind": "http", "url": "/api/method/myapp.api.deep"}})
    rec = run(fac, "deep", {"depth": 10000}, site=SITE)
    assert rec["status"] == "Error" and rec["error"]["type"] == "BadReply", rec
    assert "deeper than" in rec["error"]["message"], rec["error"]
    still_serving(fac, pool, pids)


@pytest.mark.parametrize("depth", [40, 10000])
def test_exec_output_nested_deep_is_an_error_naming_the_depth(fac, depth):
    code = "import sys; sys.stdout.write('[' * %d + '1' + ']' * %d)" % (depth, depth)
    pool, pids = start(fac, tools={"deep": py_tool(code)})
    rec = run(fac, "deep")
    assert rec["status"] == "Error" and rec["error"]["type"] == "ExecutionError", rec
    assert "deeper than" in rec["error"]["message"], rec["error"]
    still_serving(fac, pool, pids)


def test_a_config_file_10000_deep_is_refused_with_line_and_column(tmp_path):
    cfg = json.dumps(base_config(tmp_path))
    text = cfg[:-1] + ', "tools": {"t": ' + "[" * 10000 + "]" * 10000 + "}}"
    rc, err = check_config(tmp_path, text)
    assert rc == 3, err
    assert "fac.json" in err and "line 1 column" in err and "depth" in err, err


# ---- path tricks in names ----------------------------------------------------------

@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/b", "..", ".hidden", "t\x00x",
                                  "t\nx", "t x", 'q"uote', "t" * 121])
def test_a_tool_name_that_is_not_a_plain_name_is_refused_at_load(tmp_path, name):
    cfg = base_config(tmp_path, tools={name: {"kind": "builtin", "builtin": "echo"}})
    rc, err = check_config(tmp_path, json.dumps(cfg))
    assert rc == 3, err
    assert "fac.json" in err, err
    assert ("tools." in err and "name" in err) or ("\x00" in name and "u0000" in err), err


@pytest.mark.parametrize("name", ["../../etc", "/abs", "a/b", "..", "site\x00.local",
                                  "site\r\nX-Evil: 1", "s" * 121])
def test_a_site_name_that_could_leave_a_directory_or_a_header_is_refused(tmp_path, name):
    cfg = base_config(tmp_path, sites={name: {"url": "http://127.0.0.1:1"}})
    rc, err = check_config(tmp_path, json.dumps(cfg))
    assert rc == 3, err
    assert "fac.json" in err, err
    assert ("sites." in err and "name" in err) or ("\x00" in name and "u0000" in err), err


def test_a_bench_site_directory_with_a_newline_in_its_name_is_refused(tmp_path):
    bench = tmp_path / "bench"
    (bench / "sites" / "bad\nsite").mkdir(parents=True)
    (bench / "sites" / "common_site_config.json").write_text('{"redis_queue": "redis://127.0.0.1:1"}')
    (bench / "sites" / "bad\nsite" / "site_config.json").write_text('{"db_name": "x"}')
    cfg = base_config(tmp_path, bench_path=str(bench))
    cfg.pop("redis")
    rc, err = check_config(tmp_path, json.dumps(cfg))
    assert rc == 3, err
    assert "site_config.json" in err and "name" in err, err


@pytest.mark.parametrize("host_id", ["../../tmp/x", "a/b", "h:1", "h x", "h{q}"])
def test_a_host_id_with_a_slash_colon_space_or_brace_is_refused(tmp_path, host_id):
    rc, err = check_config(tmp_path, json.dumps(base_config(tmp_path, host_id=host_id)))
    assert rc == 3, err
    assert "host_id" in err and "fac.json" in err, err


@pytest.mark.parametrize("queue", ["q{1}", "}", "a b", "", "q\nx", "q" * 65])
def test_a_queue_name_that_breaks_a_key_is_refused(tmp_path, queue):
    rc, err = check_config(tmp_path, json.dumps(base_config(tmp_path, queues=[queue])))
    assert rc == 3, err
    assert "queues" in err and "fac.json" in err, err


def test_a_queue_name_with_colons_and_dots_is_only_a_key_part(fac):
    """Inside the hash tag braces, ':' and '/' are plain characters of a key."""
    q = "a:b/../c"
    pool = fac.start(workers=1, queues=[q], tools={"echo": {"kind": "builtin"}})
    rec = wait_result(fac.r, enqueue(fac.r, job("echo", {"q": q}), queue=q))
    assert rec["status"] == "Success" and rec["result"] == {"q": q}, rec
    assert fac.r.llen(ready_key(q)) == 0 and pool.running()


@pytest.mark.parametrize("argv0", ["bin/tool", "../../bin/sh", "./x", "/bin/\x00sh"])
def test_an_exec_argv0_that_is_not_an_absolute_path_is_refused(tmp_path, argv0):
    cfg = base_config(tmp_path, tools={"t": {"kind": "exec", "argv": [argv0]}})
    rc, err = check_config(tmp_path, json.dumps(cfg))
    assert rc == 3, err
    if "\x00" in argv0:  # JSON's \u0000 is refused by the parser: never cut at the NUL
        assert "fac.json: line 1 column" in err and "u0000" in err, err
    else:
        assert "tools.t.argv" in err and "absolute path" in err and "fac.json" in err, err


@pytest.mark.parametrize("key,value", [("path", "/tmp/a\u0000b"), ("spool", "/tmp/s\u0000")])
def test_a_nul_in_an_audit_path_is_refused_not_cut(tmp_path, key, value):
    cfg = base_config(tmp_path)
    cfg["audit"] = dict(cfg["audit"], **{key: value}, to="mariadb" if key == "spool" else "jsonl")
    rc, err = check_config(tmp_path, json.dumps(cfg))
    assert rc == 3, err
    assert "fac.json" in err, err


def test_job_ids_with_dotdot_colon_and_braces_are_plain_keys(fac):
    pool, pids = start(fac)
    ids = ["../../../../tmp/x-" + uuid.uuid4().hex, "a:b:c:" + uuid.uuid4().hex,
           "{tag}" + uuid.uuid4().hex, "%2e%2e/" + uuid.uuid4().hex]
    for jid in ids:
        rec = run(fac, "echo", {"id": jid}, id=jid)
        assert rec["status"] == "Success" and rec["id"] == jid, rec
        assert fac.r.exists(result_key(jid))
    assert not any(Path("/tmp").glob("x-*" + ids[0][-8:]))
    wait_until(lambda: len(audit_rows(fac.tmp / "audit.jsonl")) == len(ids), 10,
               what="one audit row per job")
    still_serving(fac, pool, pids)


@pytest.mark.parametrize("jid", ["line\nbreak", "nul\x00id", "tab\tid"])
def test_job_ids_with_control_characters_are_dead(fac, jid):
    pool, pids = start(fac)
    data = pack(job("echo", id=jid))
    enqueue(fac.r, data)
    entry = one_dead(fac.r)
    assert entry["error"]["type"] == "InvalidEnvelope" and "id" in entry["reason"], entry
    assert entry["job"] == data
    still_serving(fac, pool, pids)


def test_a_jobs_site_with_path_tricks_is_an_error_naming_the_site(fac, fac_site):
    pool, pids = start(fac, sites=site_config(fac_site.url),
                       tools={"echo_args": {"kind": "mcp"}})
    rec = run(fac, "echo_args", {}, site="../" + SITE)
    assert rec["status"] == "Error", rec
    assert "../" + SITE in rec["error"]["message"] and "sites" in rec["error"]["message"], rec
    assert fac_site.stats()["calls"] == {}
    still_serving(fac, pool, pids)


# ---- NUL bytes and invalid UTF-8 ---------------------------------------------------

def test_exec_text_output_with_nul_and_invalid_utf8_is_stored_as_valid_text(fac):
    code = "import sys; sys.stdout.buffer.write(b'a\\x00b \\xff\\xfe c \\xc3\\xa9 \\xed\\xa0\\x80 end')"
    pool, pids = start(fac, tools={"bytes": py_tool(code)})
    jid = _id()
    raw = fac.r  # the record must be strict msgpack: its str valid UTF-8
    rec_bytes = None
    enqueue(raw, job("bytes", id=jid))
    wait_result(raw, jid)
    rec_bytes = raw.get(result_key(jid))
    import msgpack
    strict = msgpack.unpackb(rec_bytes, raw=False)  # raises on invalid UTF-8
    rec = strict
    assert strict["status"] == "Success", strict
    assert strict["result"] == "a\x00b \ufffd\ufffd c \u00e9 \ufffd\ufffd\ufffd end", strict["result"]
    row = row_of(fac, rec)
    assert json.loads(row["output_data"]) == strict["result"]
    line = [l for l in (fac.tmp / "audit.jsonl").read_bytes().splitlines() if jid.encode() in l][0]
    line.decode("utf-8")  # the audit file is valid UTF-8
    assert b"\x00" not in line
    still_serving(fac, pool, pids)


def test_exec_json_output_with_escaped_nul_keeps_it(fac):
    code = "import sys; sys.stdout.write('{\"s\": \"a\\\\u0000b\"}')"
    pool, pids = start(fac, tools={"nul": py_tool(code)})
    rec = run(fac, "nul")
    assert rec["status"] == "Success" and rec["result"] == {"s": "a\x00b"}, rec
    still_serving(fac, pool, pids)


def test_an_http_text_reply_with_nul_and_invalid_utf8_is_valid_text(fac, fac_site):
    pool, pids = start(fac, sites=site_config(fac_site.url),
                       tools={"text": {"kind": "http", "url": "/api/method/myapp.api.text"}})
    jid = _id()
    enqueue(fac.r, job("text", {}, site=SITE, id=jid))
    wait_result(fac.r, jid)
    import msgpack
    rec = msgpack.unpackb(fac.r.get(result_key(jid)), raw=False)
    assert rec["status"] == "Success", rec
    assert rec["result"] == "plain \x00 text \ufffd\ufffd not utf-8", rec
    still_serving(fac, pool, pids)


def test_args_with_invalid_utf8_and_nul_reach_the_audit_as_valid_json(fac):
    pool, pids = start(fac)
    jid = _id()
    # a str (not bin) with bytes that are not UTF-8: msgpack-python will not make one
    body = pack({"v": 1, "id": jid, "tool": "echo"})
    args = b"\x81" + pack("s") + b"\xa6a\x00\xff\xfeb!"
    data = bytes([body[0] + 1]) + body[1:] + pack("args") + args
    enqueue(fac.r, data)
    rec = wait_result(fac.r, jid)
    row = row_of(fac, rec)
    assert json.loads(row["input_data"]) == {"s": "a\x00\ufffd\ufffdb!"}, row["input_data"]
    still_serving(fac, pool, pids)


# ---- duplicate keys ----------------------------------------------------------------

@pytest.mark.parametrize("key", ["tool", "args", "timeout"])
def test_an_envelope_repeating_a_key_is_dead_naming_it(fac, key):
    pool, pids = start(fac)
    jid = _id()
    first = {"tool": "echo", "args": {"a": 1}, "timeout": 5}[key]
    second = {"tool": "no_such_tool", "args": {"a": 2}, "timeout": 1}[key]
    pairs = [p for p in [("v", 1), ("id", jid), ("tool", "echo"), ("args", {})] if p[0] != key]
    pairs += [(key, first), (key, second)]
    data = map_with_dup(pairs)
    enqueue(fac.r, data)
    entry = one_dead(fac.r)
    assert entry["error"]["type"] == "InvalidEnvelope", entry
    assert key in entry["reason"] and ("twice" in entry["reason"] or "duplicate" in entry["reason"]
                                       or "repeat" in entry["reason"]), entry["reason"]
    assert entry["job"] == data
    still_serving(fac, pool, pids)


def test_args_repeating_a_key_pass_as_they_are_and_readers_keep_the_last(fac):
    """The worker does not rewrite args: a repeated key reaches the tool as sent (JSON
    readers, FAC's included, keep the last value) and the audit row shows both, so the
    audit never claims less than what the tool was given."""
    pool, pids = start(fac)
    jid = _id()
    body = pack({"v": 1, "id": jid, "tool": "echo"})
    args = b"\x82" + pack("a") + pack(1) + pack("a") + pack(2)
    data = bytes([body[0] + 1]) + body[1:] + pack("args") + args
    enqueue(fac.r, data)
    rec = wait_result(fac.r, jid)
    assert rec["status"] == "Success" and rec["result"] == {"a": 2}, rec
    row = row_of(fac, rec)
    assert row["input_data"].replace(" ", "") == '{"a":1,"a":2}', row["input_data"]
    assert json.loads(row["input_data"]) == {"a": 2}
    still_serving(fac, pool, pids)


@pytest.mark.parametrize("where", ["text", "outer"])
def test_an_mcp_reply_repeating_a_key_is_a_bad_reply(fac, fac_site, where):
    pool, pids = start(fac, sites=site_config(fac_site.url),
                       tools={"dupkeys": {"kind": "mcp"}})
    rec = run(fac, "dupkeys", {"outer": where == "outer"}, site=SITE)
    assert rec["status"] == "Error" and rec["error"]["type"] == "BadReply", rec
    assert "twice" in rec["error"]["message"], rec["error"]
    still_serving(fac, pool, pids)


def test_an_http_reply_repeating_a_key_is_a_bad_reply(fac, fac_site):
    pool, pids = start(fac, sites=site_config(fac_site.url),
                       tools={"dup": {"kind": "http", "url": "/api/method/myapp.api.dupkeys"}})
    rec = run(fac, "dup", site=SITE)
    assert rec["status"] == "Error" and rec["error"]["type"] == "BadReply", rec
    assert "twice" in rec["error"]["message"] and '"a"' in rec["error"]["message"], rec
    still_serving(fac, pool, pids)


def test_exec_json_output_repeating_a_key_is_an_error(fac):
    code = "import sys; sys.stdout.write('{\"ok\": true, \"ok\": false}')"
    pool, pids = start(fac, tools={"dup": py_tool(code)})
    rec = run(fac, "dup")
    assert rec["status"] == "Error" and "twice" in rec["error"]["message"], rec
    still_serving(fac, pool, pids)


# ---- numbers past every range ------------------------------------------------------

@pytest.mark.parametrize("field,value,outcome", [
    ("timeout", 1e300, "capped"),
    ("timeout", float("inf"), "dead"),
    ("timeout", float("nan"), "dead"),
    ("timeout", -1, "dead"),
    ("timeout", 2 ** 64 - 1, "capped"),
    ("attempt", 2 ** 63, "dead"),
    ("attempt", 2 ** 64 - 1, "dead"),
    ("max_attempts", 2 ** 64 - 1, "dead"),
    ("max_attempts", -(2 ** 63), "dead"),
    ("enqueued_at", 2 ** 64 - 1, "dead"),
    ("enqueued_at", -(2 ** 63), "dead"),
])
def test_envelope_numbers_past_their_range(fac, field, value, outcome):
    pool, pids = start(fac)
    env = job("echo", {"f": field}, id=_id())
    env[field] = value
    data = pack(env)
    enqueue(fac.r, data)
    if outcome == "dead":
        entry = one_dead(fac.r)
        assert entry["error"]["type"] == "InvalidEnvelope", entry
        assert field in entry["reason"], entry["reason"]
        assert entry["job"] == data
    else:
        rec = wait_result(fac.r, env["id"], timeout=10)
        assert rec["status"] == "Success", rec
        assert fac.r.llen(dead_key()) == 0
    still_serving(fac, pool, pids)


@pytest.mark.parametrize("key,value", [
    ("tool_timeout", "1e300"), ("tool_timeout", "-1"), ("tool_timeout", "NaN"),
    ("tool_timeout", "Infinity"), ("workers", "18446744073709551616"),
    ("max_payload", "1e30"), ("max_payload", '"99999999999999999999GB"'),
    ("result_ttl", "9223372036854775808"), ("concurrency", "-9223372036854775809"),
])
def test_config_numbers_past_their_range_are_refused(tmp_path, key, value):
    cfg = json.dumps(base_config(tmp_path))
    text = cfg[:-1] + ', "%s": %s}' % (key, value)
    rc, err = check_config(tmp_path, text)
    assert rc == 3, err
    assert "fac.json" in err and (key in err or "invalid JSON" in err), err
