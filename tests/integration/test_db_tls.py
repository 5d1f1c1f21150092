"""MariaDB over TLS (docs/configuration.md `sites`, docs/audit.md "TLS"): the TLS
keys of sites.<site>.db hold for every MariaDB connection fac-worker makes (the
audit writer with its column read at start, and the sql tools' pool). A private
mariadbd runs with a test CA's server certificate (SAN 127.0.0.1, localhost); the
site's DB user is created `REQUIRE SSL` (or `REQUIRE X509`), so the server itself
refuses any plain connection, and the TLS of each session is read back from the
server (performance_schema.status_by_thread and the session's own Ssl_version),
not inferred from the job succeeding.
"""

import subprocess

import pytest

from conftest import (AUDIT_TABLE, MariaDB, SQL_FIXTURES, builtin_tools, enqueue,
                      job, site_db_config, wait_result, wait_until)

SITE = "site1.local"
TOOLS = dict(builtin_tools("echo"), **{
    "tls_status": {"kind": "sql", "query": "SHOW SESSION STATUS LIKE 'Ssl_version'"},
    "audit_count": {"kind": "sql",
                    "query": "SELECT COUNT(*) AS n FROM `%s`" % AUDIT_TABLE},
})


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


def signed_cert(d, name, cn, san=None):
    """name.key and name.pem, signed by d/ca.pem."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    ext = []
    if san:
        (d / (name + ".ext")).write_text("subjectAltName=%s\n" % san)
        ext = ["-extfile", name + ".ext"]
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", name + ".pem", "-days", "2", *ext, cwd=d)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1/localhost and a client
    certificate it signed, and an unrelated CA (the wrong one)."""
    d = tmp_path_factory.mktemp("certs")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
            "-out", "ca.pem", "-days", "2", "-subj", "/CN=fac-test-ca", cwd=d)
    signed_cert(d, "server", "127.0.0.1", "IP:127.0.0.1,DNS:localhost")
    signed_cert(d, "client", "fac-worker-client")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key",
            "-out", "other-ca.pem", "-days", "2", "-subj", "/CN=some-other-ca", cwd=d)
    return d


@pytest.fixture(scope="module")
def tls_db(tmp_path_factory, certs):
    """A private mariadbd serving TLS with the test CA's server certificate, with
    performance_schema on so other sessions' TLS can be read."""
    srv = MariaDB(tmp_path_factory.mktemp("mariadb-tls"), extra_args=[
        "--ssl-ca=%s" % (certs / "ca.pem"), "--ssl-cert=%s" % (certs / "server.pem"),
        "--ssl-key=%s" % (certs / "server.key"), "--performance-schema=ON"])
    try:
        srv.install().start()
        assert srv.sql("SHOW VARIABLES LIKE 'have_ssl'") == [["have_ssl", "YES"]]
        yield srv
    finally:
        if srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait(10)


def site_db(srv, name, require):
    """A site database whose user the server admits only with `require`."""
    srv.create_site_db(name, name + "-pw")
    srv.sql("ALTER USER '%s'@'%%' REQUIRE %s;" % (name, require))
    return name


def tls_sessions(srv, user):
    """{thread id: Ssl_version} of every session of user, as the server sees it."""
    rows = srv.sql(
        "SELECT t.THREAD_ID, IFNULL(s.VARIABLE_VALUE, '') FROM performance_schema.threads t "
        "LEFT JOIN performance_schema.status_by_thread s ON s.THREAD_ID = t.THREAD_ID "
        "AND s.VARIABLE_NAME = 'Ssl_version' WHERE t.PROCESSLIST_USER = '%s'" % user)
    return {r[0]: r[1] for r in rows}


def tls_config(srv, db, **tls):
    return {SITE: {"db": site_db_config(srv, db, db + "-pw", **tls)}}


def start(fac, tmp_path, sites, wait=True, audit_to="mariadb"):
    return fac.start(workers=1, concurrency=4, tools=TOOLS, sites=sites, wait=wait,
                     audit={"to": audit_to, "path": str(tmp_path / "audit.jsonl"),
                            "spool": str(tmp_path / "spool"), "flush_ms": 10})


def run(fac, tool, args=None):
    return wait_result(fac.r, enqueue(fac.r, job(tool, args or {}, site=SITE)), 15)


def assert_everything_over_tls(fac, srv, db, pool):
    rec = run(fac, "echo", {"over": "tls"})
    assert rec["status"] == "Success", rec
    wait_until(lambda: srv.count(db) >= 1, 15, what="the audit row over TLS")
    # The sql tool's own session, as the server reports it to that session.
    rec = run(fac, "tls_status")
    assert rec["status"] == "Success", rec
    (row,) = rec["result"]["rows"]
    assert row["Variable_name"] == "Ssl_version" and row["Value"].startswith("TLSv1"), row
    rec = run(fac, "audit_count")
    assert rec["status"] == "Success" and rec["result"]["rows"][0]["n"] >= 1, rec
    # Every session of the site's user (the audit writer's, the sql pool's) from the
    # server's side: all of them TLS, and both of them there.
    sessions = tls_sessions(srv, db)
    assert len(sessions) >= 2, sessions
    assert all(v.startswith("TLSv1") for v in sessions.values()), sessions
    assert "(TLS)" in pool.log_text()


def test_audit_and_sql_run_over_tls_to_a_require_ssl_user(fac, tls_db, certs, tmp_path):
    db = site_db(tls_db, "tls_req", "SSL")
    pool = start(fac, tmp_path, tls_config(tls_db, db, ssl_ca=str(certs / "ca.pem")))
    assert_everything_over_tls(fac, tls_db, db, pool)


def test_the_same_user_without_tls_keys_is_refused_by_the_server(fac, tls_db, tmp_path):
    """What makes the test above a proof: this server does not admit the user over
    a plain connection, so the audit writer stops at start."""
    db = site_db(tls_db, "tls_plain", "SSL")
    pool = start(fac, tmp_path, tls_config(tls_db, db), wait=False)
    assert pool.wait_exit(20) == 3
    log = pool.log_text()
    assert "refused the connection" in log and "sites.site1.local.db" in log, log
    assert db + "-pw" not in log


def test_require_x509_with_the_client_certificate(fac, tls_db, certs, tmp_path):
    db = site_db(tls_db, "tls_x509", "X509")
    pool = start(fac, tmp_path, tls_config(
        tls_db, db, ssl_ca=str(certs / "ca.pem"), ssl_cert=str(certs / "client.pem"),
        ssl_key=str(certs / "client.key")))
    assert_everything_over_tls(fac, tls_db, db, pool)


def test_require_x509_without_a_client_certificate_is_refused(fac, tls_db, certs, tmp_path):
    db = site_db(tls_db, "tls_nocert", "X509")
    pool = start(fac, tmp_path, tls_config(tls_db, db, ssl_ca=str(certs / "ca.pem")),
                 wait=False)
    assert pool.wait_exit(20) == 3
    assert "refused the connection" in pool.log_text()


def test_ssl_true_encrypts_without_a_ca(fac, tls_db, tmp_path):
    db = site_db(tls_db, "tls_noca", "SSL")
    pool = start(fac, tmp_path, tls_config(tls_db, db, ssl=True))
    assert_everything_over_tls(fac, tls_db, db, pool)


def test_a_wrong_ca_stops_the_audit_writer_naming_site_server_and_fix(fac, tls_db, certs,
                                                                      tmp_path):
    db = site_db(tls_db, "tls_wrongca", "SSL")
    secret = "tls_wrongca-pw"
    (tmp_path / "db.pw").write_text(secret + "\n")
    (tmp_path / "db.pw").chmod(0o600)
    sites = tls_config(tls_db, db, ssl_ca=str(certs / "other-ca.pem"),
                       password_file=str(tmp_path / "db.pw"))
    del sites[SITE]["db"]["password"]
    pool = start(fac, tmp_path, sites, wait=False)
    assert pool.wait_exit(20) == 3
    log = pool.log_text()
    assert "site site1.local" in log and "no TLS connection" in log, log
    assert "127.0.0.1:%d" % tls_db.port in log, log
    assert "sites.site1.local.db" in log and "ssl_ca" in log, log
    assert secret not in log
    assert tls_db.count(db) == 0


def test_a_wrong_ca_fails_the_sql_job_with_a_clear_error(fac, tls_db, certs, tmp_path):
    db = site_db(tls_db, "tls_sqlca", "SSL")
    pool = start(fac, tmp_path, tls_config(tls_db, db, ssl_ca=str(certs / "other-ca.pem")),
                 audit_to="jsonl")
    rec = run(fac, "tls_status")
    assert rec["status"] == "Error", rec
    err = rec["error"]
    assert err["type"] == "ConfigError", err
    msg = err["message"]
    assert "site site1.local" in msg and "127.0.0.1:%d" % tls_db.port in msg, msg
    assert "sites.site1.local.db" in msg and "ssl_ca" in msg, msg
    assert db + "-pw" not in msg and db + "-pw" not in pool.log_text()


def test_verification_off_keeps_the_chain_check_of_a_given_ca(fac, tls_db, certs, tmp_path):
    """ssl_verify_server_cert false turns off the host-name check only: a CA that
    is given is still the one the server's certificate must chain to."""
    db = site_db(tls_db, "tls_noverify", "SSL")
    pool = start(fac, tmp_path, tls_config(tls_db, db, ssl_ca=str(certs / "ca.pem"),
                                           ssl_verify_server_cert=False))
    assert_everything_over_tls(fac, tls_db, db, pool)
    pool.stop()
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    pool = start(fac, wrong, tls_config(tls_db, db, ssl_ca=str(certs / "other-ca.pem"),
                                        ssl_verify_server_cert=False), wait=False)
    assert pool.wait_exit(20) == 3
    assert "no TLS connection" in pool.log_text()


def test_verification_without_a_ca_uses_the_system_cas(fac, tls_db, tmp_path):
    """ssl true and ssl_verify_server_cert true with no ssl_ca: the server's
    certificate must chain to a CA the host trusts, which the test CA is not."""
    db = site_db(tls_db, "tls_sysca", "SSL")
    pool = start(fac, tmp_path, tls_config(tls_db, db, ssl=True, ssl_verify_server_cert=True),
                 wait=False)
    assert pool.wait_exit(20) == 3
    assert "no TLS connection" in pool.log_text()


def test_a_replica_connection_takes_the_dbs_tls_keys(fac, tls_db, certs, tmp_path):
    """sites.<site>.replica without TLS keys of its own uses db's. The "replica"
    is the same TLS server reached as a read-only user of its own (REQUIRE SSL
    too), so the server tells its sessions (the sql tools') from the audit
    writer's."""
    db = site_db(tls_db, "tls_primary", "SSL")
    ro = "tls_replica_ro"
    tls_db.sql("CREATE USER '%s'@'%%' IDENTIFIED BY '%s-pw' REQUIRE SSL;\n"
               "GRANT SELECT ON `%s`.* TO '%s'@'%%';" % (ro, ro, db, ro))
    sites = tls_config(tls_db, db, ssl_ca=str(certs / "ca.pem"))
    sites[SITE]["replica"] = {"host": "127.0.0.1", "port": tls_db.port, "user": ro,
                              "password": ro + "-pw"}
    sites[SITE]["read_from_replica"] = True
    start(fac, tmp_path, sites)
    rec = run(fac, "echo")
    assert rec["status"] == "Success", rec
    wait_until(lambda: tls_db.count(db) >= 1, 15, what="the audit row over TLS")
    rec = run(fac, "tls_status")
    assert rec["status"] == "Success", rec
    assert rec["result"]["rows"][0]["Value"].startswith("TLSv1"), rec
    replica_sessions, audit_sessions = tls_sessions(tls_db, ro), tls_sessions(tls_db, db)
    assert replica_sessions and all(v.startswith("TLSv1") for v in replica_sessions.values()), \
        replica_sessions
    assert audit_sessions and all(v.startswith("TLSv1") for v in audit_sessions.values()), \
        audit_sessions
