"""Prometheus beside Graphite on this host (the default pillar's monitoring:backend both): the
node exporter and the server listening only where the pillar says, every target up and this
host's real figures back from the query API (the kernel's, RabbitMQ's own), promtool satisfied with what the states wrote, a
second apply and test=True changing nothing, a change predicted exactly, a bad pillar named with
nothing touched, and the switch to graphite and back converging in one apply each. Alerts reach
the reactions: a killed watched daemon is started again through Alertmanager and the reactions'
webhook, and a call to that webhook without the token, or for what the pillar does not declare,
changes nothing. Salt's own highstates reach it through the textfile collector, and a failing
one fires its alert. Its console pages show every graph with data in a real browser."""

from __future__ import annotations

import glob
import json
import os
import pwd
import re
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pika
import pymysql
import pytest

from browser import Browser
from common import wait_until
from host_salt import changed, main_job_restored, salt_call, would_change
from monitoring_helpers import REACTIONS_LOG, pid_of, reactions_since
from project import ARTIFACTS
from salt_node import failed

PROMETHEUS_YML = "/etc/prometheus/prometheus.yml"
RULES_FILE = "/etc/prometheus/rules/devstack-salt.yml"
SOCKET = "/run/mysqld/mysqld.sock"
TOKEN_FILE = "/etc/prometheus/alert-hook.token"
WRITTEN = [PROMETHEUS_YML, RULES_FILE, "/etc/default/prometheus", "/etc/default/prometheus-node-exporter",
           "/etc/default/prometheus-mysqld-exporter", "/etc/collectd/collectd.conf",
           "/etc/default/prometheus-process-exporter", "/etc/prometheus/process-exporter.yml",
           "/etc/default/prometheus-alertmanager",
           "/etc/prometheus/alertmanager.yml", TOKEN_FILE,
           *(f"/etc/prometheus/targets/{job}.json" for job in ("node", "rabbitmq", "mysqld", "process"))]


@pytest.fixture(scope="module")
def prometheus():
    """The database, broker and monitoring roles applied with this host's pillar, which runs
    Prometheus here, RabbitMQ's Prometheus plugin and the mysqld exporter's account (another test
    may have left a server with a pillar of its own)."""
    salt_call("saltutil.sync_all")
    result = salt_call("state.apply", "database,broker,monitoring", "--retcode-passthrough")
    assert not failed(result), failed(result)
    config = salt_call("monitoring.prometheus_config")
    assert config["prometheus"] and config["server"], "the default pillar runs the Prometheus server here"
    return {"pillar": salt_call("pillar.get", "monitoring:prometheus", "unmask=True"), "url": config["url"]}


def api(url: str, path: str, **query: str) -> dict:
    """The data of a Prometheus HTTP API answer (its status must be success)."""
    address = f"{url}/api/v1/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")

    def answer_once() -> dict | None:
        try:
            with urllib.request.urlopen(address, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            if error.code != 503:  # 503: a server restarted by a test is still opening its storage
                raise
            return None
    answer = wait_until(answer_once, 60, 1, f"Prometheus answering {path} (503: not ready)")
    assert answer["status"] == "success", answer
    return answer["data"]


def value(url: str, query: str) -> float:
    """The one value of an instant query that must match exactly one series."""
    result = api(url, "query", query=query)["result"]
    assert len(result) == 1, (query, result)
    return float(result[0]["value"][1])


def listeners(pillar: dict) -> dict[str, tuple[str, int]]:
    """What listens where, by the process's command-line name."""
    exporter = pillar["node_exporter"]
    return {"prometheus-node-exporter": (exporter["address"], exporter["port"]),
            "prometheus-mysqld-exporter": (exporter["address"], pillar["mysqld_exporter"]["port"]),
            "prometheus-process-exporter": (exporter["address"], pillar["process_exporter"]["port"]),
            "prometheus-alertmanager": (pillar["address"], pillar["alertmanager"]["port"]),
            "/usr/bin/prometheus ": (pillar["address"], pillar["port"])}


def hook(pillar: dict) -> tuple[str, int]:
    """Where the reactions' daemon serves Alertmanager's webhook."""
    return pillar["address"], pillar["alertmanager"]["hook_port"]


def test_the_exporter_and_the_server_listen_only_where_the_pillar_says(host, prometheus):
    for name, (address, port) in listeners(prometheus["pillar"]).items():
        assert pid_of(name), f"{name} is not running"
        assert host.socket(f"tcp://{address}:{port}").is_listening, (name, address, port)
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening, f"{name} listens on every address"
    address, port = hook(prometheus["pillar"])
    assert host.socket(f"tcp://{address}:{port}").is_listening and not host.socket(f"tcp://0.0.0.0:{port}").is_listening
    assert not host.socket("tcp://9094").is_listening, "Alertmanager's cluster port is open"
    # The watched daemons' names are in the process exporter's file, not its command line, where
    # pkill -f carbon-cache (or this suite's pid_of) would find the exporter too.
    argv = open(f"/proc/{pid_of('prometheus-process-exporter')}/cmdline", "rb").read().decode()
    for service in salt_call("pillar.get", "monitoring:reactions:services", "unmask=True"):
        assert service not in argv, argv


def test_every_target_is_up_and_the_exporter_reports_this_hosts_own_figures(prometheus):
    url = prometheus["url"]

    def all_up() -> list[dict] | None:
        targets = api(url, "targets")["activeTargets"]
        return targets if targets and all(t["health"] == "up" for t in targets) else None

    targets = wait_until(all_up, 90, 2, lambda: f"every target up: {api(url, 'targets')['activeTargets']}")
    assert {t["labels"]["job"] for t in targets} == {"node", "prometheus", "rabbitmq", "mysqld", "process"}  # all-in-one
    # Figures this test reads from the kernel itself: exact, not merely plausible.
    with open("/proc/meminfo") as handle:
        total = next(int(line.split()[1]) * 1024 for line in handle if line.startswith("MemTotal:"))
    assert value(url, "node_memory_MemTotal_bytes") == total
    with open("/proc/stat") as handle:
        boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    assert value(url, "node_boot_time_seconds") == boot
    root = os.statvfs("/")
    assert value(url, 'node_filesystem_size_bytes{mountpoint="/"}') == root.f_blocks * root.f_frsize
    assert value(url, 'up{job="prometheus"}') == 1
    # The process exporter's count of each watched service's processes: the kernel's, by comm.
    for service in salt_call("pillar.get", "monitoring:reactions:services", "unmask=True"):
        comms = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                comms.append(open(f"/proc/{pid}/comm").read().strip())
            except OSError:
                continue
        query = f'namedprocess_namegroup_num_procs{{groupname="{service}"}}'
        wait_until(lambda: value(url, query) == comms.count(service) > 0, 45, 3,
                   lambda: f"{query} at {comms.count(service)} (now {value(url, query)})")


def test_rabbitmqs_own_endpoint_reports_its_version_and_the_queues_this_test_declares(prometheus):
    url = prometheus["url"]
    broker = salt_call("pillar.get", "broker", "unmask=True")
    version = subprocess.run(["/usr/lib/rabbitmq/bin/rabbitmqctl", "version"], capture_output=True, text=True,
                             check=True, timeout=60).stdout.strip()
    info = api(url, "query", query="rabbitmq_build_info")["result"]
    assert [series["metric"]["rabbitmq_version"] for series in info] == [version]
    before = value(url, "rabbitmq_queues")
    user = broker["devstack_user"]
    params = pika.ConnectionParameters(broker["address"], broker["port"], "/",
                                       pika.PlainCredentials(user, broker["users"][user]["password"]))
    names = [f"prometheus-test-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        for name in names:
            channel.queue_declare(name, auto_delete=False)
        wait_until(lambda: value(url, "rabbitmq_queues") >= before + 3, 90, 2,
                   lambda: f"rabbitmq_queues at {before} + 3 (now {value(url, 'rabbitmq_queues')})")
    finally:
        for name in names:
            connection.channel().queue_delete(name)
        connection.close()
    wait_until(lambda: value(url, "rabbitmq_queues") <= before, 90, 2,
               lambda: f"rabbitmq_queues back at {before} (now {value(url, 'rabbitmq_queues')})")


def test_mysqld_exporter_reads_mariadb_as_its_socket_account_with_every_collector_working(prometheus):
    """As the unix_socket account ``prometheus`` (no password exists): the server is up for it,
    each of its default collectors succeeds with the account's few rights, and the connections it
    reports follow the ones this test holds open."""
    url = prometheus["url"]
    assert value(url, "mysql_up") == 1
    # mysqld_exporter 0.14 times each collector it ran and counts each one's errors (a counter
    # that keeps an earlier outage's errors): none may have failed over the last three scrapes.
    ran = {series["metric"]["collector"]
           for series in api(url, "query", query="mysql_exporter_collector_duration_seconds")["result"]}
    assert ran == {"connection", "collect.global_status", "collect.global_variables", "collect.slave_status",
                   "collect.info_schema.innodb_cmp", "collect.info_schema.innodb_cmpmem",
                   "collect.info_schema.query_response_time"}, ran   # the defaults; innodb_cmp* need PROCESS
    def failing() -> list[str]:
        found = api(url, "query", query="increase(mysql_exporter_scrape_errors_total[45s]) > 0")["result"]
        return [series["metric"]["collector"] for series in found]
    wait_until(lambda: not failing() and value(url, "mysql_exporter_last_scrape_error") == 0, 90, 5,
               lambda: f"collectors failing with the account's grants: {failing()}")
    with pymysql.connect(unix_socket=SOCKET, user="root") as conn, conn.cursor() as cur:
        cur.execute("SELECT Host, plugin, authentication_string FROM mysql.user WHERE User = 'prometheus'")
        assert cur.fetchall() == (("localhost", "unix_socket", ""),)
    with pytest.raises(pymysql.err.OperationalError):  # root is not the system user prometheus
        pymysql.connect(unix_socket=SOCKET, user="prometheus")
    # The server's own count (this asking connection stands for the exporter's own during its
    # scrape; Prometheus's last sample may be a scrape old), then five more held open.
    with pymysql.connect(unix_socket=SOCKET, user="root") as conn, conn.cursor() as cur:
        cur.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        before = int(cur.fetchone()[1])
    threads = "mysql_global_status_threads_connected"
    held = [pymysql.connect(unix_socket=SOCKET, user="root") for _ in range(5)]
    try:
        wait_until(lambda: value(url, threads) >= before + 5, 90, 2,
                   lambda: f"threads_connected at {before} + 5 (now {value(url, threads)})")
    finally:
        for conn in held:
            conn.close()
    wait_until(lambda: value(url, threads) < before + 5, 90, 2,
               lambda: f"threads_connected back under {before} + 5 (now {value(url, threads)})")


def test_promtool_accepts_the_configuration_and_the_rules_the_states_wrote(prometheus):
    for kind, path in (("config", PROMETHEUS_YML), ("rules", RULES_FILE)):
        check = subprocess.run(["promtool", "check", kind, path], capture_output=True, text=True)
        assert check.returncode == 0 and "SUCCESS" in check.stdout + check.stderr, check.stdout + check.stderr


def test_the_running_server_has_the_pillars_thresholds_as_rules(prometheus):
    thresholds = salt_call("pillar.get", "monitoring:thresholds", "unmask=True")
    untranslated = salt_call("monitoring.prometheus_config")["untranslated"]
    loaded = {rule["name"] for group in api(prometheus["url"], "rules")["groups"] for rule in group["rules"]}
    watched = salt_call("pillar.get", "monitoring:reactions:services", "unmask=True")
    assert loaded == {"TargetDown", "DiskWillFill", "HighstateFailing"} | (set(thresholds) - set(untranslated)) | \
        ({"ServiceDown"} if watched else set())
    assert set(untranslated) == {name for name, spec in thresholds.items() if spec["source"].startswith("carbon:")}


def test_the_root_disk_rule_fires_above_its_line_and_holds_until_the_rearm_line(prometheus, tmp_path):
    """promtool's own rule test of the written file, with the pillar's root_disk_full numbers: the
    alert fires above ``above``, keeps firing between the lines, resolves below ``rearm_below``
    (the Graphite beacon's edge: one crossing, not one alert per evaluation around the line)."""
    spec = salt_call("pillar.get", "monitoring:thresholds:root_disk_full", "unmask=True")
    above, rearm = spec["above"], spec["rearm_below"]
    used = [above - 10, above + 1, (above + rearm) / 2, (above + rearm) / 2, rearm - 1]
    labels = 'mountpoint="/", instance="a:9100", node="a"'
    firing = [{"exp_labels": {"severity": "warning", "threshold": "root_disk_full", "instance": "a:9100",
                              "mountpoint": "/", "node": "a"},
               "exp_annotations": {"summary": f"disk:/ above {above} on a"}}]
    test = {"rule_files": [RULES_FILE], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [
            {"series": f"node_filesystem_free_bytes{{{labels}}}", "values": " ".join(str(100 - u) for u in used)},
            {"series": f"node_filesystem_size_bytes{{{labels}}}", "values": " ".join("100" for _ in used)}],
        "alert_rule_test": [
            {"eval_time": f"{minute}m", "alertname": "root_disk_full", "exp_alerts": firing if minute in (1, 2, 3) else []}
            for minute in range(len(used))]}]}
    path = tmp_path / "root_disk_full_test.yml"
    path.write_text(json.dumps(test))  # JSON is YAML
    run = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    assert run.returncode == 0 and "SUCCESS" in run.stdout, run.stdout + run.stderr


def test_the_last_highstate_is_in_prometheus_and_a_failing_one_fires_its_alert(prometheus):
    """Salt's own runs through the node exporter's textfile collector (saltext-prometheus's
    returner): a highstate with a failed state (a devstack pillar its validation refuses, so
    nothing is changed) fires HighstateFailing; the next good highstate resolves it, and its own
    figures are what Prometheus has."""
    url, node = prometheus["url"], salt_call("grains.get", "id")
    series = f'{{state="highstate", node="{node}"}}'
    firing = f'ALERTS{{alertname="HighstateFailing", node="{node}", alertstate="firing"}}'

    def completed_since(moment: float) -> bool:
        found = api(url, "query", query=f"salt_last_completed{series}")["result"]
        return bool(found) and float(found[0]["value"][1]) >= int(moment)

    with main_job_restored():
        started = time.time()
        bad = salt_call("state.apply", f"pillar={json.dumps({'devstack': {'no_such_key': 1}})}", check=False)
        assert "devstack:no_such_key is not a known key" in json.dumps(bad) and not changed(bad), changed(bad)
        wait_until(lambda: completed_since(started), 60, 2, "the failing highstate's figures in Prometheus")
        assert value(url, f"salt_states_failed{series}") == len(failed(bad)) > 0
        wait_until(lambda: api(url, "query", query=firing)["result"], 90, 2, "HighstateFailing firing")
        started = time.time()
        good = salt_call("state.apply", "--retcode-passthrough")
        assert not failed(good), failed(good)
        wait_until(lambda: completed_since(started), 60, 2, "the good highstate's figures in Prometheus")
        assert (value(url, f"salt_states_total{series}"), value(url, f"salt_states_failed{series}")) == (len(good), 0)
        wait_until(lambda: not api(url, "query", query=firing)["result"], 90, 2, "HighstateFailing resolved")
    status = os.stat("/var/lib/prometheus/node-exporter/salt-highstate.prom")
    assert (status.st_mode & 0o777, status.st_uid) == (0o644, 0)  # root writes it, the exporter reads it


#: What a console page shows once every graph has its answer: per graph, per expression, how many
#: series came back with values (-1: the query failed), and what the page says is wrong (a graph's
#: "No timeseries returned" or "Error loading data", a node of no exporter). None while loading.
CONSOLE_GRAPHS = """(() => {
  if (typeof PromConsole === 'undefined') return {graphs: 'prom_console.js did not load', errors: []};
  const graphs = PromConsole._graph_registry;
  if (!graphs.every(g => g.rendered_data !== null)) return null;
  return {graphs: graphs.map(g => g.rendered_data.map(d => d.status === 'success'
            ? d.data.result.filter(r => r.values.length).length : -1)),
          errors: Array.from(document.querySelectorAll('.prom_graph_error, .ds-unknown')).map(e => e.textContent)};
})()"""


def test_every_console_page_shows_its_graphs_with_data_in_a_real_browser(prometheus):
    """Headless Chromium opens the consoles' index, follows its links to the node's, the roles'
    and Salt's pages, and each graph there has series with values and no error; a screenshot of
    each page is kept. A node the server does not scrape shows its error (the check can fail)."""
    url, node = prometheus["url"], salt_call("grains.get", "id")
    if not api(url, "query", query=f'salt_states_total{{state="highstate", node="{node}"}}')["result"]:
        # The returner's options take effect from the run after the one that wrote them.
        assert not failed(salt_call("state.apply", "--retcode-passthrough"))
        wait_until(lambda: api(url, "query", query=f'salt_states_total{{state="highstate", node="{node}"}}')["result"],
                   60, 2, "the highstate's figures in Prometheus")
    os.makedirs(ARTIFACTS, exist_ok=True)
    with Browser() as browser:
        index = salt_call("monitoring.prometheus_config")["consoles_url"]
        assert index == f"{url}/consoles/index.html", index
        browser.open(index)
        pages = browser.evaluate("Array.from(document.querySelectorAll('#nodes a, main li a')).map(a => a.getAttribute('href'))")
        assert pages == [f"node.html?node={node}", "database.html", "broker.html", "salt.html"], pages
        row = browser.evaluate("Array.from(document.querySelectorAll('#nodes tr:nth-child(2) td')).map(td => td.innerText)")
        # Up, its load, and its last highstate (another test's may have had failures).
        assert row[1] == "1" and float(row[2]) >= 0 and re.fullmatch(r"\d+ failed", row[5]), row
        browser.screenshot(os.path.join(ARTIFACTS, "prometheus-console-index.png"))
        for page in pages:
            browser.open(f"{url}/consoles/{page}")
            shown = browser.wait_for(CONSOLE_GRAPHS, timeout=60)
            browser.screenshot(os.path.join(ARTIFACTS, f"prometheus-console-{page.split('?')[0].removesuffix('.html')}.png"))
            assert shown["errors"] == [] and shown["graphs"] and all(
                count > 0 for graph in shown["graphs"] for count in graph), (page, shown)
        browser.open(f"{url}/consoles/node.html?node=no-such-node")
        shown = browser.wait_for(CONSOLE_GRAPHS, timeout=60)
        assert "No node exporter of this name is scraped." in shown["errors"] and "No timeseries returned" in shown["errors"]
        errors = [e for e in browser.console_errors if "favicon.ico" not in e]
        assert not errors, errors


def test_a_second_apply_and_test_mode_change_nothing(prometheus):
    again = salt_call("state.apply", "monitoring", "--retcode-passthrough")
    assert not failed(again) and not changed(again), changed(again)
    predicted = salt_call("state.apply", "monitoring", "test=True")
    assert not changed(predicted) and not would_change(predicted), would_change(predicted)


def test_a_new_scrape_interval_is_predicted_exactly_and_prometheus_runs_with_it(prometheus):
    override = f"pillar={json.dumps({'monitoring': {'prometheus': {'scrape_interval': '7s'}}})}"
    with main_job_restored():
        before = {path: os.stat(path).st_mtime_ns for path in WRITTEN}
        predicted = salt_call("state.apply", "monitoring", override, "test=True")
        assert {path: os.stat(path).st_mtime_ns for path in WRITTEN} == before, "test=True wrote a file"
        applied = salt_call("state.apply", "monitoring", override, "--retcode-passthrough")
        assert not failed(applied), failed(applied)
        assert set(changed(applied)) == would_change(predicted), (sorted(changed(applied)), sorted(would_change(predicted)))
        assert any(PROMETHEUS_YML in key for key in changed(applied)), sorted(changed(applied))
        wait_until(lambda: "scrape_interval: 7s" in api(prometheus["url"], "status/config")["yaml"], 30, 1,
                   "the running Prometheus with scrape_interval 7s")


@pytest.mark.parametrize("override, key", [
    ({"backend": "nagios"}, "monitoring:backend must be one of graphite, prometheus, both"),
    ({"backend": "prometheus"}, "monitoring:backend: prometheus alone is not available yet"),
    ({"prometheus": {"port": 9100}}, "monitoring:prometheus:node_exporter:port and monitoring:prometheus:port are both 9100"),
    ({"prometheus": {"retention": "forever"}}, "monitoring:prometheus:retention must be a Prometheus duration"),
    ({"prometheus": {"node_exporter": {"address": "exporter.example"}}}, "monitoring:prometheus:node_exporter:address must be an IP address"),
    ({"prometheus": {"listen": "0.0.0.0"}}, "monitoring:prometheus has no key listen"),
    ({"prometheus": {"alertmanager": {"hook_token": "short"}}}, "monitoring:prometheus:alertmanager:hook_token must be"),
    ({"thresholds": {"disk-full": {"source": "disk:/", "above": 95}}}, "monitoring:thresholds:disk-full: the name"),
    ({"prometheus": {"alertmanager": {"hook_port": 9090}}}, "monitoring:prometheus:port and "
                                                             "monitoring:prometheus:alertmanager:hook_port are both 9090"),
    # This all-in-one node's broker.
    ({"prometheus": {"port": 15672}}, "monitoring:prometheus:port 15672 collides with the broker role's management_port"),
])
def test_a_bad_pillar_is_named_and_nothing_changes(prometheus, override, key):
    before = {path: os.stat(path).st_mtime_ns for path in WRITTEN}
    pids = {name: pid_of(name) for name in listeners(prometheus["pillar"])}
    result = salt_call("state.apply", "monitoring", f"pillar={json.dumps({'monitoring': override})}", check=False)
    text = json.dumps(result)
    assert key in text and "Traceback" not in text, text[-2000:]
    assert {path: os.stat(path).st_mtime_ns for path in WRITTEN} == before
    assert {name: pid_of(name) for name in pids} == pids


def test_switching_to_graphite_and_back_converges_in_one_apply_each(host, prometheus):
    graphite = f"pillar={json.dumps({'monitoring': {'backend': 'graphite'}})}"
    names = listeners(prometheus["pillar"])
    with main_job_restored():
        off = salt_call("state.apply", "monitoring", graphite, "--retcode-passthrough")
        assert not failed(off), failed(off)
        assert changed(off), "the switch to graphite stopped nothing"
        wait_until(lambda: not any(pid_of(name) for name in names), 30, 1, "the exporter and the server gone")
        for address, port in [*names.values(), hook(prometheus["pillar"])]:
            wait_until(lambda: not host.socket(f"tcp://{address}:{port}").is_listening, 30, 1, f"{port} closed")
        again = salt_call("state.apply", "monitoring", graphite, "--retcode-passthrough")
        assert not failed(again) and not changed(again), changed(again)
        on = salt_call("state.apply", "monitoring", "--retcode-passthrough")
        assert not failed(on) and changed(on), failed(on)
        for name, (address, port) in [*names.items(), ("the webhook", hook(prometheus["pillar"]))]:
            wait_until(lambda: host.socket(f"tcp://{address}:{port}").is_listening, 30, 1, f"{name} listening again")
        again = salt_call("state.apply", "monitoring", "--retcode-passthrough")
        assert not failed(again) and not changed(again), changed(again)


def test_amtool_accepts_alertmanager_yml_and_the_webhook_token_is_in_one_file_only(prometheus):
    check = subprocess.run(["amtool", "check-config", "/etc/prometheus/alertmanager.yml"], capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    status = os.stat(TOKEN_FILE)
    assert (status.st_mode & 0o777, pwd.getpwuid(status.st_uid).pw_name) == (0o600, "prometheus")
    token = open(TOKEN_FILE).read()
    assert token == salt_call("pillar.get", "monitoring:prometheus:alertmanager:hook_token", "unmask=True")
    project = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    places = ["/etc/prometheus/alertmanager.yml", "/etc/default/prometheus-alertmanager",
              f"{project}/.salt/minion.d/beacons.conf", f"{project}/.salt/log/minion", REACTIONS_LOG,
              *(f"/var/log/prometheus/{name}" for name in os.listdir("/var/log/prometheus"))]
    for path in places:
        if os.path.isfile(path):
            assert token not in open(path, errors="replace").read(), f"the webhook's token is in {path}"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        assert token.encode() not in argv, f"the webhook's token is in the arguments of process {pid}"


def post(pillar: dict, body: dict, token: str | None) -> tuple[int, str]:
    """A call to the reactions' webhook, as Alertmanager makes it (or anyone else)."""
    address, port = hook(pillar)
    request = urllib.request.Request(f"http://{address}:{port}/alerts", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token is not None else {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode().strip()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode().strip()


def test_a_webhook_call_without_the_token_or_for_an_undeclared_reaction_changes_nothing(prometheus):
    """Forged notifications (no token, a wrong one, another node, names the pillar does not
    declare) fire no reaction; the same notification with the token does (the control), through
    the reactor to monitoring.react_threshold, which records it."""
    node = salt_call("grains.get", "id")
    token = open(TOKEN_FILE).read()
    assert post(prometheus["pillar"], {}, None)[0] == 401  # the hook answers at all

    def notification(crossing: str, name: str = "selftest", on: str = node, **labels: str) -> dict:
        return {"version": "4", "status": "firing", "receiver": "salt", "alerts": [
            {"status": "firing", "labels": {"alertname": name, "node": on, **labels}, "startsAt": crossing}]}

    start = time.time()
    run = uuid.uuid4().hex[:8]
    forged = {f"{run}-none": None, f"{run}-wrong": token[:-1] + ("x" if token[-1] != "x" else "y")}
    for crossing, wrong in forged.items():
        assert post(prometheus["pillar"], notification(crossing), wrong)[0] == 401
    assert post(prometheus["pillar"], notification(f"{run}-elsewhere", on="another-node"), token) == (200, "0 reaction(s)")
    assert post(prometheus["pillar"], notification(f"{run}-undeclared", name="no_such_threshold"), token) == \
        (200, "0 reaction(s)")
    assert post(prometheus["pillar"], notification(f"{run}-sshd", name="ServiceDown", service="sshd"), token) == \
        (200, "0 reaction(s)")
    watched = salt_call("pillar.get", "monitoring:reactions:services", "unmask=True")[0]
    assert post(prometheus["pillar"], notification(f"{run}-other", name="TargetDown", service=watched), token) == \
        (200, "0 reaction(s)")  # only ServiceDown names a service to start
    try:
        assert post(prometheus["pillar"], notification(f"{run}-control"), token) == (200, "1 reaction(s)")
        seen = wait_until(lambda: [entry for entry in reactions_since(start)
                                   if entry.get("event", {}).get("crossing") == f"{run}-control"], 60, 1,
                          "the control notification's reaction in the reactions log")
    finally:  # the self-test's brake and crossing as a fresh node has them (other tests trip it)
        for stamp in glob.glob("/var/lib/devstack-salt/reactions/threshold-selftest*"):
            os.unlink(stamp)
    assert seen[0]["tag"] == "devstack_salt/alert/threshold"
    crossings = {str(entry.get("event", {}).get("crossing")) for entry in reactions_since(start)}
    assert not {c for c in crossings if c.startswith(run) and c != f"{run}-control"}, crossings


def test_a_killed_watched_daemon_is_started_again_through_alertmanager_and_its_alert_resolves(prometheus):
    """With the Graphite beacon of the service held (its reaction would come first), kill a
    watched daemon: Prometheus's ServiceDown fires, Alertmanager calls the webhook, the reactor
    starts the daemon, and the alert resolves."""
    service = salt_call("pillar.get", "monitoring:reactions:services", "unmask=True")[0]
    process = salt_call("monitoring.prometheus_config")["process"]
    assert process, "the default pillar runs the process exporter"
    url = prometheus["url"]
    start = time.time()
    assert salt_call("beacons.disable_beacon", "service")["result"], "the service beacon could not be held"
    try:
        pid = pid_of(service)
        assert pid, f"{service} is not running"
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        started = wait_until(lambda: [entry for entry in reactions_since(start)
                                      if entry.get("tag") == "devstack_salt/alert/service"
                                      and entry.get("event", {}).get("service_name") == service
                                      and entry.get("running_after")], 180, 2,
                             f"{service} started again through Alertmanager")
        assert started[0]["time"] > killed
        assert pid_of(service) not in (None, pid)
        wait_until(lambda: not api(url, "query", query=f'ALERTS{{alertname="ServiceDown", service="{service}", '
                                                       'alertstate="firing"}')["result"], 90, 2,
                   f"ServiceDown of {service} resolved")
    finally:
        enabled = salt_call("beacons.enable_beacon", "service")
        if not pid_of(service):
            salt_call("service.start", service)
        assert enabled["result"], f"the service beacon stays held: {enabled}"
