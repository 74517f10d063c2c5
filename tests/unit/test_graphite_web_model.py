"""The web application's pillar, settings and generated dashboards, as plain Python: what
monitoring:web accepts and the errors naming its keys, what gunicorn and Django are given, and
which dashboards and graphs the nodes, roles and thresholds make."""

from __future__ import annotations

import grp
import gzip
import http.server
import json
import logging
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from devstack_salt import errors
from devstack_salt import graphite_dashboards as dashboards
from devstack_salt import graphite_web as web
from devstack_salt.errors import MonitoringError

SECRETS = {"secret_key": "k" * 40, "admin_password": "p" * 24}
CARBON = {"server": True, "address": "127.0.0.1", "port": 2003, "pickle_port": 2004, "query_port": 7002}


def errors_of(config, carbon=CARBON, server=True) -> list[str]:
    with pytest.raises(MonitoringError) as raised:
        web.web_settings(config, carbon, server)
    return raised.value.errors


def test_the_carbon_server_gets_the_web_application_with_defaults():
    model = web.web_settings(dict(SECRETS), CARBON, True)
    assert model["enabled"] and (model["address"], model["port"], model["workers"]) == ("127.0.0.1", 8013, 2)
    assert model["dashboards"] == web.DASHBOARD_DEFAULTS
    assert model["carbonlink"] == "127.0.0.1:7002"
    assert web.web_settings(None, CARBON, False)["enabled"] is False  # other nodes: off, no secrets needed


@pytest.mark.parametrize("config, expected", [
    ({"dashboards": {"colour": "blue"}}, "monitoring:web:dashboards:colour is not a dashboard setting"),
    ({"listen": "0.0.0.0"}, "monitoring:web:listen is not a setting of the web application"),
    ({"port": 2004}, "monitoring:web:port 2004 is carbon's pickle_port"),
    ({"port": 70000}, "monitoring:web:port must be a port number"),
    ({"workers": 0}, "monitoring:web:workers must be a number of processes from 1 to 32"),
    ({"dashboards": {"time_range": "yesterday"}}, "monitoring:web:dashboards:time_range must look like"),
    ({"dashboards": {"hosts": "yes"}}, "monitoring:web:dashboards:hosts must be true or false"),
    ({"secret_key": "short"}, "monitoring:web:secret_key must be a string of at least 16 characters"),
    ({"secret_key": " " + "k" * 40}, "monitoring:web:secret_key must be a string of at least 16 characters"),
    ({"time_zone": "Europe/Berln"}, "monitoring:web:time_zone must be a time zone name"),
])
def test_a_bad_web_pillar_names_the_key_to_fix(config, expected):
    found = errors_of({**SECRETS, **config})
    assert any(error.startswith(expected) for error in found), found


def test_the_web_application_needs_the_carbon_server_and_its_secrets():
    assert any("needs monitoring:carbon:server: true" in e for e in errors_of({"enabled": True, **SECRETS}, server=False))
    missing = errors_of({})
    assert {e.split()[0] for e in missing} == {"monitoring:web:secret_key", "monitoring:web:admin_password"}
    assert all("bin/configure" in e for e in missing)


def test_no_secret_in_the_settings_module_or_on_the_command_line(monkeypatch):
    monkeypatch.setattr(web, "is_local_address", lambda address: True)  # rendering only: ::1 need not exist here
    model = web.web_settings({**SECRETS, "address": "::1", "port": 8100}, CARBON, True)
    text = web.render_local_settings(model) + web.render_wsgi() + " ".join(web.gunicorn_argv(model))
    assert SECRETS["secret_key"] not in text and SECRETS["admin_password"] not in text
    assert "open('/etc/graphite/secret_key')" in web.render_local_settings(model)
    assert "DASHBOARD_REQUIRE_AUTHENTICATION = True" in web.render_local_settings(model)
    assert web.gunicorn_argv(model)[2:4] == ["--bind", "[::1]:8100"]
    assert web.base_url(model) == "http://[::1]:8100"
    compile(web.render_local_settings(model), "local_settings.py", "exec")
    compile(web.render_wsgi(), "devstack_salt_graphite.py", "exec")


def test_the_web_application_reads_whisper_files_where_carbons_settings_put_them():
    assert web.web_settings(dict(SECRETS), CARBON, True)["whisper_dir"] == "/var/lib/graphite/whisper"  # Debian's
    carbon = {**CARBON, "settings": {"LOCAL_DATA_DIR": "/srv/graphite/whisper/"}}
    model = web.web_settings(dict(SECRETS), carbon, True)
    assert model["whisper_dir"] == "/srv/graphite/whisper"
    assert "WHISPER_DIR = '/srv/graphite/whisper'" in web.render_local_settings(model)
    found = errors_of(dict(SECRETS), {**CARBON, "settings": {"LOCAL_DATA_DIR": "whisper"}})
    assert any(e.startswith("monitoring:carbon:settings:LOCAL_DATA_DIR must be an absolute path") for e in found), found


def all_in_one() -> dict[int, str]:
    """The other roles' ports on an all-in-one node with their defaults."""
    return web.node_ports(["all-in-one"], None, None)


def test_the_ports_of_the_other_roles_on_this_node():
    ports = all_in_one()
    assert set(ports) == {3306, 5672, 25672, 15672, 15692, 4369, 80, 443, 5000, 8000, 8080}
    assert ports[3306] == "the database role's port (database:server:port)"
    assert ports[25672] == "the broker role's dist_port (broker:dist_port)"
    assert web.node_ports(["monitoring"], None, None) == {}
    assert set(web.node_ports(["devstack", "monitoring"], None, None)) == {80, 443, 5000, 8000, 8080}
    # From the roles' own models: the pillar's ports, the roles' defaults otherwise.
    assert 3307 in web.node_ports(["database"], {"server": {"port": 3307}}, None)
    assert 5673 in web.node_ports(["broker"], None, {"port": 5673})
    assert web.node_ports(["database"], {"server": {"port": "x"}}, None) == {}  # the database role says why


@pytest.mark.parametrize("config, expected", [
    ({"port": 3306}, "monitoring:web:port 3306 collides with the database role's port (database:server:port)"),
    ({"port": 15672}, "monitoring:web:port 15672 collides with the broker role's management_port (broker:management_port)"),
    ({"port": 4369}, "monitoring:web:port 4369 collides with epmd"),
    ({"port": 8080}, "monitoring:web:port 8080 collides with Swift's proxy, a DevStack service of this node"),
    ({"port": 5000}, "monitoring:web:port 5000 collides with Keystone, a DevStack service of this node"),
    ({"address": "192.0.2.1"}, "monitoring:web:address 192.0.2.1 is not an address of this host"),
    ({"address": "no-such-host.invalid"}, "monitoring:web:address no-such-host.invalid is not an address of this host"),
])
def test_an_address_or_port_the_web_application_cannot_have_here_names_the_key(config, expected):
    with pytest.raises(MonitoringError) as raised:
        web.web_settings({**SECRETS, **config}, CARBON, True, ports=all_in_one())
    assert any(error.startswith(expected) for error in raised.value.errors), raised.value.errors


def test_a_port_below_the_unprivileged_ones_is_refused(monkeypatch):
    # gunicorn runs as the web user, without CAP_NET_BIND_SERVICE.
    monkeypatch.setattr(web, "unprivileged_port_start", lambda: 1024)
    found = errors_of({**SECRETS, "port": 81})
    assert any(e.startswith("monitoring:web:port 81 is below 1024") and "_graphite" in e for e in found), found
    assert web.web_settings({**SECRETS, "port": 1024}, CARBON, True)["port"] == 1024
    monkeypatch.setattr(web, "unprivileged_port_start", lambda: 0)  # a host that lets anyone bind any port
    assert web.web_settings({**SECRETS, "port": 81}, CARBON, True)["port"] == 81


def test_where_the_web_application_does_not_run_its_address_and_port_are_not_this_hosts_concern():
    config = {"address": "192.0.2.1", "port": 80}  # a pillar shared with the carbon server's node
    assert web.web_settings(config, CARBON, False, ports=all_in_one())["enabled"] is False
    for address in ("127.0.0.1", "0.0.0.0", "localhost"):
        assert web.web_settings({**SECRETS, "address": address}, CARBON, True, ports=all_in_one())["address"] == address


def test_a_port_another_program_listens_on_is_named_with_its_pid():
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        model = web.web_settings({**SECRETS, "port": port}, CARBON, True)
        conflict = web.port_conflict(model)
        assert conflict.startswith(f"monitoring:web:port {port} is in use by another program (PID {os.getpid()}")
        # Another address on the same port does not collide; a wildcard does.
        assert web.port_conflict({**model, "address": "127.0.0.2"}) is None
        assert web.port_conflict({**model, "address": "0.0.0.0"}) is not None
    assert web.port_conflict(model) is None


# ---- dashboards -------------------------------------------------------------------------------

THIS_NODE_PLUGINS = {
    "cpu": {}, "memory": {}, "load": {}, "df": {"MountPoint": "/"}, "interface": {"Interface": "lo"},
    "mysql": {"Database mariadb": {"User": "collectd"}},
    "curl_json": {"URL http://127.0.0.1:15672/api/overview": {"Instance": "rabbitmq"}},
}
THRESHOLDS = {
    "root_disk_full": {"source": "disk:/", "above": 95},
    "state_run_failed": {"source": "carbon:salt.node1.state_apply.failed", "above": 0.5},
    "other": {"source": "carbon:somewhere.else", "above": 3},
}


def generated(whisper_dir, plugins=THIS_NODE_PLUGINS, settings=None):
    found = dashboards.inventory(str(whisper_dir), "collectd", "salt", "node1", plugins, "node1")
    return dashboards.dashboards(settings or dict(web.DASHBOARD_DEFAULTS), found, "collectd", "salt", THRESHOLDS)


def test_this_node_has_its_dashboards_from_its_own_collectd_configuration(tmp_path):
    found = generated(tmp_path)  # carbon holds nothing yet
    assert sorted(found) == ["broker", "database", "host-node1", "salt-runs"]
    titles = [entry[1]["title"] for entry in found["host-node1"]["graphs"]]
    assert titles == ["Load average", "CPU, all cores (jiffies per second)", "Memory (bytes)",
                      "Root file system (% used)", "Network (bytes per second)"]
    assert generated(tmp_path) == found  # the same twice


def test_a_node_carbon_holds_metrics_of_gets_a_dashboard_of_what_it_sends(tmp_path):
    for folder in ("collectd/node2/load/load", "collectd/node2/cpu-0", "collectd/node2/mysql-mariadb",
                   "salt/node2/state_highstate"):
        os.makedirs(tmp_path / folder)
    found = generated(tmp_path)
    assert [entry[1]["title"] for entry in found["host-node2"]["graphs"]] == [
        "Load average", "CPU, all cores (jiffies per second)"]
    database = json.dumps(found["database"])
    assert "collectd.node1.mysql-mariadb" in database and "collectd.node2.mysql-mariadb" in database
    assert "node2" not in json.dumps(found["broker"])
    assert "salt.node2.*.duration_ms" in json.dumps(found["salt-runs"])


def test_the_pillars_thresholds_are_drawn_on_the_graphs_they_watch(tmp_path):
    found = generated(tmp_path)
    disk = next(e[1] for e in found["host-node1"]["graphs"] if e[1]["title"].startswith("Root"))
    assert disk["target"][1] == 'threshold(95.0,"root_disk_full above 95","red")'
    failed = next(e[1] for e in found["salt-runs"]["graphs"] if e[1]["title"].startswith("Failed"))
    assert failed["target"][-1] == 'threshold(0.5,"state_run_failed above 0.5","red")'
    assert "somewhere" not in json.dumps(found)


def test_dashboards_the_pillar_turns_off_are_not_made(tmp_path):
    settings = {**web.DASHBOARD_DEFAULTS, "hosts": False, "broker": False}
    assert sorted(generated(tmp_path, settings=settings)) == ["database", "salt-runs"]
    assert sorted(generated(tmp_path, plugins={"load": {}})) == ["host-node1", "salt-runs"]
    # The root file system graph only where collectd's df plugin reports it.
    for options, root in (({}, True), ({"MountPoint": "/"}, True), ({"MountPoint": ["/srv", "/"]}, True),
                          ({"MountPoint": "/srv"}, False), ({"MountPoint": "/", "IgnoreSelected": True}, False),
                          ({"MountPoint": "/srv", "IgnoreSelected": True}, True)):
        found = generated(tmp_path, plugins={"df": options})  # df only: a host dashboard iff its root graph
        assert ("host-node1" in found) == root, (options, found)


def test_a_dashboard_state_is_what_graphite_webs_own_ui_saves(tmp_path):
    state = generated(tmp_path)["host-node1"]
    assert state["name"] == "host-node1"
    assert state["timeConfig"]["relativeStartQuantity"] == "2" and state["timeConfig"]["relativeStartUnits"] == "hours"
    assert state["refreshConfig"] == {"enabled": True, "interval": 60000}
    graph_id, params, url = state["graphs"][0]
    assert graph_id == "host-node1-1" and url.startswith("/render?") and "from=-2hours" in url
    assert dashboards.targets_of(state)[0] == params["target"]
    assert dashboards.metric_name("node1.example.org") == "node1_example_org"


# ---- graphite-web's dashboard API (a fake graphite-web on loopback) ---------------------------


class FakeWeb(http.server.ThreadingHTTPServer):
    """A graphite-web stand-in: ``answers[path]`` is ``(status, body)``; every request's path
    is recorded in ``seen``."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.server.seen.append(self.path)
                status, body = self.server.answers.get(self.path, (404, b"not found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.do_GET()

        super().__init__(("127.0.0.1", 0), Handler)
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.seen: list[str] = []
        self.base = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def fake_web():
    server = FakeWeb()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def answer(value) -> tuple[int, bytes]:
    return 200, json.dumps(value).encode()


def test_the_web_applications_errors_are_in_the_one_hierarchy(fake_web):
    assert dashboards.GraphiteWebError is errors.GraphiteWebError  # still importable where it was
    assert issubclass(errors.GraphiteWebError, errors.DevstackSaltError)
    # No answer is a service that is down (not running yet); a wrong answer is not.
    assert issubclass(errors.GraphiteWebDown, errors.GraphiteWebError)
    assert issubclass(errors.GraphiteWebDown, errors.ServiceDown)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(errors.GraphiteWebDown, match="did not answer"):
        dashboards.load(f"http://127.0.0.1:{port}", "x", timeout=5)
    fake_web.answers["/dashboard/load/x"] = (500, b"<html>Server Error</html>")
    with pytest.raises(errors.GraphiteWebError, match="HTTP 500") as raised:
        dashboards.load(fake_web.base, "x", timeout=5)
    assert not isinstance(raised.value, errors.ServiceDown)
    fake_web.answers["/dashboard/load/x"] = (200, b"<html>not JSON</html>")
    with pytest.raises(errors.GraphiteWebError, match="not JSON"):
        dashboards.load(fake_web.base, "x", timeout=5)


LOGGED_IN = answer({"success": True, "permissions": ["change", "delete"], "errors": {}})


@pytest.mark.parametrize("login", [
    {"success": False, "errors": "Username and/or password invalid."},  # errors not a mapping
    {"success": True, "permissions": 5},                                 # permissions not a list
    {"success": "yes", "permissions": ["change"]},
    {},
])
def test_a_malformed_login_answer_is_a_graphite_web_error(fake_web, login):
    fake_web.answers["/dashboard/login"] = answer(login)
    with pytest.raises(errors.GraphiteWebError, match="refused the login of 'admin'") as raised:
        dashboards.save(fake_web.base, "admin", "p" * 24, {"one": {"name": "one"}}, timeout=5)
    assert "p" * 24 not in str(raised.value)
    assert "/dashboard/save/one" not in fake_web.seen


def test_a_failed_logout_neither_fails_the_saves_nor_hides_the_error_of_one(fake_web):
    fake_web.answers.update({"/dashboard/login": LOGGED_IN, "/dashboard/save/one": answer({"success": True}),
                             "/dashboard/logout": (500, b"<html>Server Error</html>")})
    dashboards.save(fake_web.base, "admin", "p" * 24, {"one": {"name": "one"}}, timeout=5)
    assert fake_web.seen == ["/dashboard/login", "/dashboard/save/one", "/dashboard/logout"]
    fake_web.answers["/dashboard/save/two"] = answer({"error": "Must be logged in with appropriate permissions to save"})
    fake_web.answers["/dashboard/logout"] = (200, b"not JSON")
    with pytest.raises(errors.GraphiteWebError, match="did not save dashboard two: Must be logged in"):
        dashboards.save(fake_web.base, "admin", "p" * 24, {"one": {"name": "one"}, "two": {"name": "two"}}, timeout=5)
    assert fake_web.seen[-1] == "/dashboard/logout"
    fake_web.answers["/dashboard/save/two"] = answer({"success": False, "error": ["not", "text"]})
    with pytest.raises(errors.GraphiteWebError, match="did not save dashboard two: unexpected answer"):
        dashboards.save(fake_web.base, "admin", "p" * 24, {"two": {"name": "two"}}, timeout=5)


# ---- what is saved, read from graphite-web's database -----------------------------------------


def database_holding(path, states: dict) -> str:
    """A graphite-web database (its dashboard table as Django's migration makes it) holding
    ``states`` (name -> state, or text stored as it is)."""
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "dashboard_dashboard" ("name" varchar(128) NOT NULL PRIMARY KEY, "state" text NOT NULL)')
        db.executemany("INSERT INTO dashboard_dashboard VALUES (?, ?)",
                       [(name, state if isinstance(state, str) else json.dumps(state)) for name, state in states.items()])
    db.close()
    return str(path)


def test_the_plan_reads_what_is_saved_from_the_database_read_only(tmp_path):
    wanted = generated(tmp_path / "whisper")
    host = wanted["host-node1"]
    path = database_holding(tmp_path / "graphite.db", {
        "host-node1": host, "database": {**wanted["database"], "graphSize": {"width": 1, "height": 1}},
        "broker": "not JSON", "someone-elses": {"name": "someone-elses"}})
    before = (open(path, "rb").read(), os.stat(path).st_mtime_ns)
    assert dashboards.plan(wanted, path) == {"database": "updated", "broker": "updated", "salt-runs": "created"}
    assert dashboards.saved_states(path, ["host-node1", "salt-runs"]) == {"host-node1": json.loads(json.dumps(host))}
    assert (open(path, "rb").read(), os.stat(path).st_mtime_ns) == before
    assert sorted(os.listdir(tmp_path)) == ["graphite.db"]  # no journal: read only


def test_before_the_database_or_its_table_exists_every_dashboard_would_be_created(tmp_path):
    wanted = generated(tmp_path)
    everything = {name: "created" for name in wanted}
    assert dashboards.plan(wanted, str(tmp_path / "graphite.db")) == everything
    sqlite3.connect(tmp_path / "graphite.db").close()  # created, not migrated yet
    assert dashboards.plan(wanted, str(tmp_path / "graphite.db")) == everything
    assert not os.path.exists(tmp_path / "nothing.db") and dashboards.saved_states(str(tmp_path / "nothing.db"), ["x"]) == {}


def test_a_database_that_cannot_be_read_is_a_graphite_web_error(tmp_path):
    (tmp_path / "graphite.db").write_bytes(b"not a database" * 100)
    with pytest.raises(errors.GraphiteWebError, match=f"cannot read the saved dashboards in {tmp_path}/graphite.db"):
        dashboards.plan({"x": {}}, str(tmp_path / "graphite.db"))


def test_saving_waits_for_the_web_application_then_reads_back_from_the_database(fake_web, tmp_path):
    wanted = generated(tmp_path / "whisper")
    path = database_holding(tmp_path / "graphite.db", {name: state for name, state in wanted.items() if name != "broker"})
    changes = dashboards.plan(wanted, path)
    assert changes == {"broker": "created"}
    fake_web.answers.update({"/dashboard/load/broker": answer({"error": "Dashboard 'broker' does not exist. "}),
                             "/dashboard/login": LOGGED_IN, "/dashboard/save/broker": answer({"success": True}),
                             "/dashboard/logout": answer({"success": True})})
    # The fake saves nothing into the database: what still differs is returned.
    assert dashboards.apply(fake_web.base, "admin", "p" * 24, wanted, changes, path, timeout=5) == changes
    assert fake_web.seen == ["/dashboard/load/broker", "/dashboard/login", "/dashboard/save/broker", "/dashboard/logout"]
    assert dashboards.apply(fake_web.base, "admin", "p" * 24, wanted, {}, path, timeout=5) == {}
    assert len(fake_web.seen) == 4  # nothing to save: the web application is not asked


def test_the_wait_for_the_web_application_is_bounded(fake_web):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(errors.GraphiteWebDown, match="did not answer /dashboard/load/broker"):
        dashboards.wait_until_answering(f"http://127.0.0.1:{port}", "broker", 1, step=0.2)
    assert 1 <= time.monotonic() - started < 10
    fake_web.answers["/dashboard/load/broker"] = answer({"error": "Dashboard 'broker' does not exist. "})
    dashboards.wait_until_answering(fake_web.base, "broker", 1)


# ---- the logs' rotation -----------------------------------------------------------------------

#: Debian 12's /etc/logrotate.d/graphite-web (package graphite-web 1.1.8-2), its user left out.
DEBIAN_LOGROTATE = "/var/log/graphite/*.log {\n\tweekly\n\tmissingok\n\trotate 4\n\tcompress\n\tnotifempty\n\tcreate\n}\n"


def test_the_logs_drop_in_copies_and_truncates_and_comes_before_debians():
    text = web.render_logrotate()
    assert text.splitlines()[3] == " ".join(web.LOG_FILES) + " {"
    assert "\tcopytruncate" in text and "\tignoreduplicates" in text and "create" not in text
    assert os.path.basename(web.LOGROTATE_FILE) < "graphite-web"  # logrotate reads the folder in name order
    assert web.LOG_FILES[0] in web.gunicorn_argv(web.web_settings(dict(SECRETS), CARBON, True))


@pytest.mark.skipif(not shutil.which("logrotate"), reason="logrotate is not installed")
def test_a_rotated_log_is_still_written_by_the_program_holding_it_open(tmp_path):
    logs, conf = tmp_path / "log", tmp_path / "logrotate.d"
    logs.mkdir()
    conf.mkdir()
    (conf / os.path.basename(web.LOGROTATE_FILE)).write_text(web.render_logrotate().replace(web.LOG_DIR, str(logs)))
    (conf / "graphite-web").write_text(DEBIAN_LOGROTATE.replace("/var/log/graphite", str(logs)))
    handler = logging.FileHandler(logs / "info.log")  # what graphite's info logger holds open
    try:
        handler.emit(logging.makeLogRecord({"msg": "before the rotation"}))
        done = subprocess.run(["logrotate", "--force", "--state", str(tmp_path / "status"), str(conf)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "error" not in done.stderr, done.stderr
        handler.emit(logging.makeLogRecord({"msg": "after the rotation"}))
        handler.flush()
    finally:
        handler.close()
    assert (logs / "info.log").read_text() == "after the rotation\n"
    with gzip.open(logs / "info.log.1.gz", "rt") as rotated:
        assert rotated.read() == "before the rotation\n"


def test_the_database_check_runs_graphite_manage_once_only_when_it_can_and_reads_its_answer(tmp_path, monkeypatch):
    """Under test=True graphite-manage (whose settings open the secret key file) runs only when
    it can: no database is a fresh host (everything missing), no key file cannot be checked
    before the apply writes it; otherwise one run answers with the pending migrations and the
    admin account's state, made when the run is real, the password only on its standard input;
    a failing run is an error with its last lines."""
    calls = []
    answer = {"migrations": [], "admin": "ok"}

    def run_all(argv, **kwargs):
        calls.append((argv, json.loads(kwargs["stdin"])))
        return {"retcode": 0, "stdout": "Some noise\ndatabase: " + json.dumps(answer) + "\n", "stderr": ""}

    manage, database, key = (tmp_path / name for name in ("graphite-manage", "graphite.db", "secret_key"))
    monkeypatch.setattr(web, "MANAGE", str(manage))
    monkeypatch.setattr(web, "DATABASE_FILE", str(database))
    monkeypatch.setattr(web, "SECRET_KEY_FILE", str(key))
    manage.write_text("")
    assert web.database_state(run_all, "admin", "pw", apply=False) == {
        "database": "missing", "migrations": [], "admin": "missing"}
    database.write_text("")
    assert web.database_state(run_all, "admin", "pw", apply=False) == {
        "database": "unknown", "migrations": [], "admin": "unknown"}
    assert calls == []
    key.write_text("k")
    assert web.database_state(run_all, "admin", "pw", apply=False) == {"database": "ok", **answer}
    key.unlink()
    answer.update(migrations=["auth.0001_initial", "dashboard.0001_initial"], admin="missing")
    assert web.database_state(run_all, "admin", "pw", apply=True) == {"database": "ok", **answer}
    assert [given for _, given in calls] == [{"user": "admin", "password": "pw", "apply": False},
                                            {"user": "admin", "password": "pw", "apply": True}]
    assert all(argv[:3] == ["runuser", "-u", web.USER] and argv[-3:] == ["shell", "-c", web.DATABASE_SCRIPT]
               and "pw" not in " ".join(argv) for argv, _ in calls)

    def failing(argv, **kwargs):
        return {"retcode": 1, "stdout": "", "stderr": "Traceback\n...\nsqlite3.OperationalError: disk I/O error"}

    with pytest.raises(errors.DevstackSaltError,
                       match=f"(?s)could not migrate the database {database} and its admin account 'admin': .*disk I/O error"):
        web.database_state(failing, "admin", "pw", apply=True)


def test_the_database_file_is_made_the_web_users_only(tmp_path, monkeypatch):
    """What the file lacks is said as "is -> should be", and made so; no file, nothing to fix."""
    me, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    monkeypatch.setattr(web, "USER", me)
    path = tmp_path / "graphite.db"
    assert web.database_file_fixes(str(path)) == {}
    path.write_text("")
    path.chmod(0o644)
    assert web.database_file_fixes(str(path)) == ({"mode": "0644 -> 0640"} if group == me else
                                                  {"owner": f"{me}:{group} -> {me}:{me}", "mode": "0644 -> 0640"})
    web.make_database_private(str(path))
    assert path.stat().st_mode & 0o777 == 0o640
    assert web.database_file_fixes(str(path)) == {}


def test_salt_runs_show_every_minion_of_the_cloud_before_its_first_run_reaches_carbon(tmp_path):
    """A minion's first runs may reach carbon only after the carbon server saved its dashboards
    (they come up in the same orchestration): the minions in the mine count from the start, so
    the next apply does not change the dashboard when their runs arrive."""
    found = dashboards.inventory(str(tmp_path), "collectd", "salt", "node1", THIS_NODE_PLUGINS, "node1",
                                 ["db1", "mq1", "devstack.example"])
    assert found["salt_ids"] == ["db1", "devstack_example", "mq1", "node1"]
    (tmp_path / "salt" / "mq1" / "state_sls").mkdir(parents=True)
    again = dashboards.inventory(str(tmp_path), "collectd", "salt", "node1", THIS_NODE_PLUGINS, "node1",
                                 ["db1", "mq1", "devstack.example"])
    assert again == found
    salt_runs = dashboards.dashboards(dict(web.DASHBOARD_DEFAULTS), found, "collectd", "salt", THRESHOLDS)["salt-runs"]
    assert "salt.mq1.*.duration_ms" in json.dumps(salt_runs)
