"""Graphite's web application on this host (the carbon server of the default pillar): gunicorn
where the pillar says only, the render API answering with this host's real metrics and the Salt
run of the apply itself, the generated dashboards with data in every graph, and the same
dashboards looked at in a real browser (headless Chromium), a screenshot of each kept as an
artefact in build/artifacts/. The secret key and the admin password stay out of output, logs and
process arguments."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import pwd
import socket
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import pika
import pytest

from broker_helpers import management_overview
from browser import Browser
from common import wait_until
from host_salt import SALT_CALL, changed, run_watching_argv, salt_call, would_change
from monitoring_helpers import WHISPER, wait_for_points
from project import ARTIFACTS
from salt_node import failed


@pytest.fixture(scope="module")
def web():
    """The monitoring role applied (the web application with it) with the database and broker
    roles whose metrics its dashboards show (other host tests may have left those servers with a
    pillar of their own), and applied again: the second run changes nothing. Returns the pillar's
    monitoring section, the web application's settings and when the first run started."""
    salt_call("saltutil.sync_all")
    started = time.time()
    first = salt_call("state.apply", "database,broker,monitoring", "--retcode-passthrough")
    assert not failed(first), failed(first)
    again = salt_call("state.apply", "database,broker,monitoring", "--retcode-passthrough")
    assert not failed(again) and not changed(again), changed(again)
    monitoring = salt_call("pillar.get", "monitoring", "unmask=True")
    config = salt_call("monitoring.web_config")
    return {"pillar": monitoring, "config": config, "started": started}


def get(web: dict, path: str, **query) -> tuple[int, str, bytes]:
    url = web["config"]["url"] + path + ("?" + urllib.parse.urlencode(query, doseq=True) if query else "")
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def render(web: dict, target: str, since: str = "-10min") -> list[dict]:
    _, _, body = get(web, "/render", target=target, format="json", **{"from": since})
    return json.loads(body)


def points(series: list[dict]) -> list[tuple[float, int]]:
    """(value, timestamp) of every non-empty point of a render answer."""
    return [(value, stamp) for one in series for value, stamp in one["datapoints"] if value is not None]


def host_name() -> str:
    """This host as collectd's write_graphite names it (collectd.conf: FQDNLookup false)."""
    return socket.gethostname().replace(".", "_")


def manage_shell(code: str) -> None:
    """Python in graphite-web's Django, as the web user (what an operator's graphite-manage does)."""
    subprocess.run(["runuser", "-u", "_graphite", "--", "env", "PYTHONPATH=/etc/graphite",
                    "GRAPHITE_SETTINGS_MODULE=local_settings", "/usr/bin/graphite-manage", "shell", "-c", code],
                   check=True, capture_output=True)


def same_pid_namespace(pid: int) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") == os.readlink("/proc/self/ns/pid")
    except OSError:  # gone meanwhile
        return False


def test_the_web_application_listens_only_where_the_pillar_says(host, web):
    config = web["config"]
    assert config["enabled"] and config["address"] == web["pillar"]["web"]["address"]
    assert host.socket(f"tcp://{config['address']}:{config['port']}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{config['port']}").is_listening
    assert not host.socket(f"tcp://:::{config['port']}").is_listening
    # gunicorn (Debian's runs as python3), as the web user, and no part of it as root.
    # Only this host's: a booted machine's processes show here too, in a PID namespace of their own.
    workers = [p for p in host.process.filter(comm="python3")
               if "devstack_salt_graphite:application" in p.args and same_pid_namespace(p.pid)]
    assert len(workers) == 1 + web["pillar"]["web"]["workers"], [(p.pid, p.args) for p in workers]
    assert {p.user for p in workers} == {"_graphite"}, [(p.pid, p.user) for p in workers]


def test_the_render_api_returns_a_png_and_this_hosts_load_with_plausible_values(web):
    status, kind, body = get(web, "/render", target=f"collectd.{host_name()}.load.load.shortterm",
                             width="400", height="200", **{"from": "-10min"})
    assert status == 200 and kind == "image/png" and body.startswith(b"\x89PNG\r\n\x1a\n"), (status, kind, body[:20])

    def recent() -> list[tuple[float, int]]:
        return [(v, t) for v, t in points(render(web, f"collectd.{host_name()}.load.load.shortterm"))
                if t >= time.time() - 600]

    loads = wait_until(recent, 60, 2, "a point of this host's load in the last 10 minutes")
    assert all(0 <= value < 10 * os.cpu_count() for value, _ in loads), loads
    # The newest point matches the kernel's own figure within what the last 10 s can change.
    assert abs(loads[-1][0] - os.getloadavg()[0]) < 2 + os.cpu_count(), (loads[-1], os.getloadavg())


def test_the_salt_run_of_the_apply_itself_is_measured(web):
    minion = salt_call("grains.get", "id").replace(".", "_")
    target = f"salt.{minion}.state_apply.duration_ms"

    def of_this_apply() -> list[tuple[float, int]]:
        return [(v, t) for v, t in points(render(web, target, "-30min")) if t >= web["started"] - 10]

    runs = wait_until(of_this_apply, 60, 2, f"a point of {target} since the fixture's apply")
    assert all(0 < value < 600_000 for value, _ in runs), runs


@contextlib.contextmanager
def broker_traffic(broker: dict):
    """Publish and fetch a message through the broker (a queue kept until the end of the module
    so RabbitMQ's overview keeps its queue totals): the broker dashboard's rates have data. The
    connection stays open while the caller waits (no heartbeat to miss meanwhile): the channel
    reports its counts every few seconds while it lives, so they reach the management API's
    overview (what collectd reads) whatever the timing of a close."""
    user = broker["devstack_user"]
    params = pika.ConnectionParameters(broker["address"], broker["port"], "/",
                                       pika.PlainCredentials(user, broker["users"][user]["password"]),
                                       connection_attempts=3, retry_delay=2, socket_timeout=10, heartbeat=0)
    queue = f"graphite-web-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        channel.queue_declare(queue, auto_delete=False)
        channel.confirm_delivery()
        for i in range(5):
            channel.basic_publish("", queue, f"message {i}".encode(), mandatory=True)
        for _ in range(3):
            channel.basic_get(queue, auto_ack=True)
        yield queue
    finally:
        connection.close()


def broker_overview(broker: dict, user: str) -> str:
    """What RabbitMQ's management API says of its message counts (collectd's source, read as
    collectd's ``user``), for an error."""
    try:
        overview = management_overview(broker, user)
    except (OSError, ValueError) as exc:
        return f"the management API did not answer: {exc}"
    counts = {key: value for key, value in overview.get("message_stats", {}).items() if not key.endswith("_details")}
    return f"the management API's message_stats: {counts}"


@pytest.fixture(scope="module")
def traffic(web):
    broker = salt_call("pillar.get", "broker", "unmask=True")
    with broker_traffic(broker) as queue:
        sent = time.time()
        # collectd derives a rate from two readings: wait for the first of each after the traffic.
        for name in ("derive-message_stats-publish", "derive-message_stats-deliver_get", "gauge-queue_totals-messages_ready"):
            try:
                wait_for_points(f"{WHISPER}/collectd/{host_name()}/curl_json-rabbitmq/{name}.wsp", since=sent, timeout=90)
            except AssertionError as exc:
                reader = web["pillar"]["collectd"]["role_metrics"]["broker"]["user"]
                raise AssertionError(f"{exc}; {broker_overview(broker, reader)}") from None
    yield
    user = broker["devstack_user"]
    connection = pika.BlockingConnection(pika.ConnectionParameters(
        broker["address"], broker["port"], "/", pika.PlainCredentials(user, broker["users"][user]["password"])))
    connection.channel().queue_delete(queue)
    connection.close()


def dashboards_of(web: dict) -> dict:
    return salt_call("monitoring.dashboards", "states=True")


def test_a_dashboard_for_the_host_and_each_role_of_the_all_in_one_node_with_data_in_every_graph(web, traffic):
    found = dashboards_of(web)
    assert set(found) == {f"host-{host_name()}", "database", "broker", "salt-runs"}, sorted(found)
    since = web["pillar"]["web"]["dashboards"]["time_range"]
    for name, dashboard in found.items():
        assert dashboard["url"] == f"{web['config']['url']}/dashboard/{name}"
        _, _, body = get(web, f"/dashboard/load/{name}")
        saved = json.loads(body)
        assert saved.get("state") == dashboard["state"], (name, saved)
        for _, params, url in dashboard["state"]["graphs"]:
            for target in params["target"]:
                def has_data(target: str = target) -> list:
                    return points(render(web, target, since))
                wait_until(has_data, 60, 5, f"data for {target} on dashboard {name}")
            status, kind, body = get(web, url)
            assert status == 200 and kind == "image/png" and len(body) > 1000, (name, params["title"], status, kind)


def test_the_pillars_thresholds_are_drawn_as_lines(web):
    found = dashboards_of(web)
    thresholds = web["pillar"]["thresholds"]
    disk = next(g[1] for g in found[f"host-{host_name()}"]["state"]["graphs"] if "file system" in g[1]["title"])
    above = thresholds["root_disk_full"]["above"]
    assert any(t.startswith(f"threshold({float(above)},") for t in disk["target"]), disk
    failures = next(g[1] for g in found["salt-runs"]["state"]["graphs"] if g[1]["title"].startswith("Failed"))
    assert any(t.startswith(f"threshold({float(thresholds['state_run_failed']['above'])},") for t in failures["target"])


#: What the dashboard page shows as an error: graphite-web's initialError (a missing dashboard,
#: an invalid theme) and any visible ExtJS window (its error boxes). Nothing, on a good page.
SHOWN_ERRORS = """(() => ({
  initialError: typeof initialError === 'undefined' ? 'not a dashboard page' : (initialError || ''),
  windows: Array.from(document.querySelectorAll('.x-window'))
    .filter(w => w.offsetWidth > 0 && getComputedStyle(w).visibility !== 'hidden')
    .map(w => w.innerText.trim().replace(/\\s+/g, ' ')),
}))()"""
#: Console errors that say nothing about the page: the template's web font (no internet here)
#: and the browser's favicon request.
HARMLESS = ("fonts.googleapis.com", "favicon.ico")


def test_every_dashboard_shows_its_graphs_in_a_real_browser(web, traffic):
    os.makedirs(ARTIFACTS, exist_ok=True)
    found = dashboards_of(web)
    with Browser() as browser:
        for name, dashboard in sorted(found.items()):
            browser.open(dashboard["url"])
            expected = len(dashboard["state"]["graphs"])
            loaded = browser.wait_for(
                "(() => { const g = Array.from(document.images).filter(i => i.src.includes('/render'));"
                f" return g.length === {expected} && g.every(i => i.complete && i.naturalWidth > 0)"
                " && g.map(i => i.naturalWidth); })()", timeout=60)
            assert len(loaded) == expected and all(width > 0 for width in loaded), (name, loaded)
            browser.screenshot(os.path.join(ARTIFACTS, f"graphite-dashboard-{name}.png"))
            assert browser.evaluate(SHOWN_ERRORS) == {"initialError": "", "windows": []}, name
        errors = [e for e in browser.console_errors if not any(word in e for word in HARMLESS)]
        assert not errors, errors


def test_a_missing_dashboard_is_an_error_the_browser_check_sees(web):
    """The check above can fail: a dashboard that does not exist shows graphite-web's error."""
    with Browser() as browser:
        browser.open(f"{web['config']['url']}/dashboard/no-such-dashboard")
        shown = browser.wait_for(f"(() => {{ const s = {SHOWN_ERRORS}; return s.windows.length && s; }})()", timeout=30)
    assert "does not exist" in shown["initialError"] and any("does not exist" in w for w in shown["windows"]), shown


def test_the_secret_key_and_admin_password_stay_out_of_output_logs_and_process_arguments(web, tmp_path):
    secrets = [web["pillar"]["web"]["secret_key"], web["pillar"]["web"]["admin_password"]]
    key_file = "/etc/graphite/secret_key"
    stat = os.stat(key_file)
    assert stat.st_mode & 0o777 == 0o640 and stat.st_uid == 0
    # The database holds the admin's password hash and the sessions: the web user's only.
    database = os.stat("/var/lib/graphite/graphite.db")
    assert database.st_mode & 0o777 == 0o640 and database.st_uid == pwd.getpwnam("_graphite").pw_uid
    # Make the apply write the key, set the admin's password and log in to save a dashboard.
    manage_shell("from django.contrib.auth.models import User; from graphite.dashboard.models import Dashboard; "
                 "User.objects.filter(username='admin').update(password='!'); "
                 "Dashboard.objects.filter(name='salt-runs').delete()")
    os.unlink(key_file)
    rc, out, err, argv = run_watching_argv(
        [SALT_CALL, "--out=json", "--log-level=debug", "state.apply", "monitoring"], tmp_path)
    assert rc == 0, err[-2000:]
    result = json.loads(out)["local"]
    changes = list(changed(result).values())
    assert {"secret_key": "written"} in changes and {"admin": "password and rights set"} in changes, changes
    assert any(change.get("salt-runs") == "created" for change in changes), changes
    assert open(key_file).read().strip() == secrets[0]
    # The sampling saw the commands that handle the secrets (graphite-manage sets the password).
    assert "graphite-manage" in argv and "gunicorn" in argv
    logs = ""
    for folder in ("/var/log/graphite",):
        for name in os.listdir(folder):
            with open(os.path.join(folder, name), errors="replace") as handle:
                logs += handle.read()
    settings = open("/etc/graphite/local_settings.py").read()
    for secret in secrets:
        for where, text in (("output", out), ("debug log", err), ("process arguments", argv),
                            ("web logs", logs), ("settings module", settings)):
            assert secret not in text, f"a web application secret is in the {where}"


def test_test_mode_predicts_exactly_what_the_apply_then_changes(web):
    """A local edit of the settings and a dashboard deleted by hand: test=True names exactly the
    states the real run then changes, and changes nothing itself."""
    with open("/etc/graphite/local_settings.py", "a") as handle:
        handle.write("# a local edit, to be replaced\n")
    manage_shell("from graphite.dashboard.models import Dashboard; Dashboard.objects.filter(name='broker').delete()")
    edited = open("/etc/graphite/local_settings.py").read()
    predicted = salt_call("state.apply", "monitoring", "test=True")
    assert not [key for key, value in predicted.items() if value["result"] is False], predicted
    would = would_change(predicted)
    dashboards = next(value for value in predicted.values() if value["name"] == "graphite-web dashboards")
    assert dashboards["changes"] == {"broker": "created"}, dashboards
    assert open("/etc/graphite/local_settings.py").read() == edited
    _, _, body = get(web, "/dashboard/load/broker")
    assert "does not exist" in json.loads(body).get("error", ""), body
    applied = salt_call("state.apply", "monitoring", "--retcode-passthrough")
    assert not failed(applied), failed(applied)
    assert set(changed(applied)) == would, (sorted(changed(applied)), sorted(would))
    assert "local edit" not in open("/etc/graphite/local_settings.py").read()
    assert set(changed(salt_call("state.apply", "monitoring"))) == set()


DATABASE = "/var/lib/graphite/graphite.db"


def database_state(result: dict) -> dict:
    return next(value for value in result.values() if value["name"] == DATABASE)


def test_the_database_is_kept_private_and_created_whole_and_test_mode_predicts_both(web):
    """monitoring.web_database: a database given to root and made readable by all is given back
    to the web user, 0640; a missing one is created 0640 with every migration and the admin
    account (then the dashboards in it); test=True predicts each and changes nothing."""
    os.chown(DATABASE, 0, 0)
    os.chmod(DATABASE, 0o644)
    predicted = database_state(salt_call("state.apply", "monitoring", "test=True"))
    assert predicted["result"] is None and predicted["changes"] == {
        "owner": "root:root -> _graphite:_graphite", "mode": "0644 -> 0640"}, predicted
    assert os.stat(DATABASE).st_uid == 0 and os.stat(DATABASE).st_mode & 0o777 == 0o644
    applied = salt_call("state.apply", "monitoring", "--retcode-passthrough")
    assert not failed(applied) and database_state(applied)["changes"] == predicted["changes"], database_state(applied)
    info = os.stat(DATABASE)
    assert info.st_uid == pwd.getpwnam("_graphite").pw_uid and info.st_mode & 0o777 == 0o640
    aside = DATABASE + ".by-test"
    os.rename(DATABASE, aside)
    try:
        result = salt_call("state.apply", "monitoring", "test=True")
        assert database_state(result)["changes"] == {"database": "created", "admin": "created"}
        assert not os.path.exists(DATABASE)
        applied = salt_call("state.apply", "monitoring", "--retcode-passthrough")
        assert not failed(applied), failed(applied)
        made = database_state(applied)["changes"]
        assert {"auth.0001_initial", "dashboard.0001_initial"} <= set(made["migrations"]), made
        # Created 0640 for the web user: no owner or mode to fix.
        assert made["database"] == "created" and made["admin"] == "created" and set(made) == {
            "database", "migrations", "admin"}, made
        info = os.stat(DATABASE)
        assert info.st_uid == pwd.getpwnam("_graphite").pw_uid and info.st_mode & 0o777 == 0o640
        assert any(change.get("broker") == "created" for change in changed(applied).values()), changed(applied)
        assert changed(salt_call("state.apply", "monitoring")) == {}
    finally:
        os.replace(aside, DATABASE)


def test_the_web_applications_logs_are_rotated_in_place_and_written_on(web, tmp_path):
    """Our logrotate drop-in comes before Debian's graphite-web, which logrotate then skips for
    these files; a forced rotation copies and truncates info.log, which graphite goes on writing."""
    drop_in = "/etc/logrotate.d/devstack-salt-graphite-web"
    debug = subprocess.run(["logrotate", "--debug", "--state", str(tmp_path / "status"), "/etc/logrotate.conf"],
                           capture_output=True, text=True, timeout=120)
    output = debug.stdout + debug.stderr
    assert not [line for line in output.splitlines() if "error" in line and "graphite" in line], output[-3000:]
    assert "ignore duplicate log entry for /var/log/graphite/gunicorn.log" in output, output[-3000:]
    info = "/var/log/graphite/info.log"
    marker = f"devstack_salt.logrotate_{uuid.uuid4().hex[:8]}"
    render(web, f"{marker}.before")  # graphite's info log names every path it looks up
    assert f"{marker}.before" in open(info, errors="replace").read()
    inode = os.stat(info).st_ino
    subprocess.run(["logrotate", "--force", "--state", str(tmp_path / "status"), drop_in],
                   check=True, capture_output=True, timeout=120)
    assert os.stat(info).st_ino == inode and f"{marker}.before" not in open(info, errors="replace").read()
    with gzip.open(f"{info}.1.gz", "rt", errors="replace") as rotated:
        assert f"{marker}.before" in rotated.read()
    render(web, f"{marker}.after")
    assert f"{marker}.after" in open(info, errors="replace").read()


def stop_service(name: str) -> None:
    """Stop a service the way the SLS runs it: systemctl under systemd, its init script elsewhere."""
    command = ["systemctl", "stop", name] if os.path.isdir("/run/systemd/system") else ["service", name, "stop"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def test_with_the_web_application_stopped_test_mode_predicts_no_dashboard_change(host, web):
    """What is saved is read from graphite-web's database: with the web application stopped,
    test=True predicts its start and no dashboard change, and the real run agrees."""
    config = web["config"]
    listening = host.socket(f"tcp://{config['address']}:{config['port']}")
    try:
        stop_service(config["service"])
        wait_until(lambda: not listening.is_listening, 30, 0.5, f"{config['service']} to stop listening")
        predicted = salt_call("state.apply", "monitoring", "test=True")
        assert not [key for key, value in predicted.items() if value["result"] is False], predicted
        dashboards = next(value for value in predicted.values() if value["name"] == "graphite-web dashboards")
        assert dashboards["result"] is True and dashboards["changes"] == {}, dashboards
        service = next(value for value in predicted.values() if value["name"] == config["service"])
        assert service["result"] is None, service  # would be started
        would = would_change(predicted)
    finally:
        applied = salt_call("state.apply", "monitoring", "--retcode-passthrough", check=False)
    assert not failed(applied), failed(applied)
    assert set(changed(applied)) == would, (sorted(changed(applied)), sorted(would))
    assert listening.is_listening


@pytest.mark.parametrize("override, key", [
    ({"monitoring": {"web": {"dashboards": {"colour": "blue"}}}}, "monitoring:web:dashboards:colour is not a dashboard setting"),
    ({"monitoring": {"web": {"port": 2003}}}, "monitoring:web:port 2003 is carbon's port"),
    ({"monitoring": {"web": {"listen": "0.0.0.0"}}}, "monitoring:web:listen is not a setting"),
    # This all-in-one node's broker, and an address that is not this host's.
    ({"monitoring": {"web": {"port": 5672}}}, "monitoring:web:port 5672 collides with the broker role's port"),
    ({"monitoring": {"web": {"address": "192.0.2.1"}}}, "monitoring:web:address 192.0.2.1 is not an address of this host"),
])
def test_a_bad_web_pillar_is_a_clear_error_and_changes_nothing(web, override, key):
    watched = ["/etc/graphite/local_settings.py", "/etc/graphite/secret_key", "/etc/collectd/collectd.conf"]
    before = {path: os.stat(path).st_mtime_ns for path in watched}
    result = salt_call("state.apply", "monitoring", f"pillar={json.dumps(override)}", check=False)
    text = json.dumps(result)
    assert key in text and "Traceback" not in text, text[-2000:]
    assert {path: os.stat(path).st_mtime_ns for path in watched} == before


def test_a_port_another_program_listens_on_is_a_clear_error_and_changes_nothing(web):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        before = os.stat("/etc/graphite/local_settings.py").st_mtime_ns
        result = salt_call("state.apply", "monitoring", f"pillar={json.dumps({'monitoring': {'web': {'port': port}}})}",
                           check=False)
        text = json.dumps(result)
        assert f"monitoring:web:port {port} is in use by another program (PID {os.getpid()}" in text, text[-2000:]
        assert os.stat("/etc/graphite/local_settings.py").st_mtime_ns == before
    test_mode = salt_call("state.apply", "monitoring", "test=True")
    assert all(value["result"] is True for value in test_mode.values()) and not changed(test_mode), changed(test_mode)
