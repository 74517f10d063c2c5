"""The monitoring renderers, the threshold beacon's logic and the Salt-run metrics, as plain Python."""

from __future__ import annotations

import datetime
import json
import os

import pytest
import yaml
from devstack_salt import carbon, collectd, prometheus, thresholds, whisper
from devstack_salt import run_metrics as r
from devstack_salt.errors import MonitoringError

from project import PROJECT, load_source


def test_any_plugin_with_options_lists_and_labelled_blocks():
    text = collectd.render_collectd_conf({"plugins": {"processes": {"Process": ["a", "b"]}, "mysql": {
        "Database nova": {"Host": "db", "Port": 3306, "Password": 'p"w\\'}}, "exec": {"Exec": [["nobody", "/x"]]}}})
    assert '<Plugin processes>\n  Process "a"\n  Process "b"\n</Plugin>' in text
    assert '<Database "nova">\n    Host "db"\n    Port 3306\n    Password "p\\"w\\\\"\n  </Database>' in text
    assert 'Exec "nobody" "/x"' in text
    assert "LoadPlugin write_graphite" in text and 'Prefix "collectd."' in text


def test_default_plugins_when_the_pillar_names_none():
    text = collectd.render_collectd_conf({})
    for name in ("cpu", "memory", "load", "df", "interface", "processes"):
        assert f"LoadPlugin {name}\n" in text


def test_a_failed_read_is_retried_within_three_intervals_unless_the_pillar_says():
    """collectd's own default (a day) kept a broker's metrics away for minutes after a restart."""
    assert "\nInterval 10\nMaxReadInterval 30\n" in collectd.render_collectd_conf({})
    assert "\nInterval 5\nMaxReadInterval 15\n" in collectd.render_collectd_conf({"interval": 5})
    assert "\nMaxReadInterval 600\n" in collectd.render_collectd_conf({"max_read_interval": 600})


@pytest.mark.parametrize("config, path", [
    ({"plugins": {"Bad-Name": {}}}, "monitoring:collectd:plugins:Bad-Name"),
    ({"plugins": {"df": {"Mount Point x": "/"}}}, "monitoring:collectd:plugins:df:Mount Point x"),
    ({"plugins": {"df": {"MountPoint": "a\nb"}}}, "monitoring:collectd:plugins:df:MountPoint"),
    ({"plugins": {"df": {"MountPoint": None}}}, "monitoring:collectd:plugins:df:MountPoint"),
    ({"interval": 0}, "monitoring:collectd:interval"),
    ({"interval": 10, "max_read_interval": 5}, "monitoring:collectd:max_read_interval"),
    ({"max_read_interval": "1m"}, "monitoring:collectd:max_read_interval"),
    ({"carbon_port": "x"}, "monitoring:collectd:carbon_port"),
])
def test_bad_collectd_pillar_names_the_key(config, path):
    with pytest.raises(MonitoringError) as info:
        collectd.render_collectd_conf(config)
    assert any(e.startswith(path) for e in info.value.errors), info.value.errors


@pytest.mark.parametrize("function, root", [
    (collectd.render_collectd_conf, "monitoring:collectd"), (collectd.plugin_packages, "monitoring:collectd"),
    (collectd.carbon_target, "monitoring:collectd"), (carbon.render_carbon_conf, "monitoring:carbon"),
    (carbon.render_storage_schemas, "monitoring:carbon"), (carbon.whisper_dir, "monitoring:carbon"),
])
@pytest.mark.parametrize("config", ["a string", 7, ["a"], True, 0, ""])
def test_a_section_that_is_not_a_mapping_is_the_error_the_pillar_gets(function, root, config):
    """What ``monitoring.collectd_conf config=...`` and its kin hand over: the same error as the
    monitoring SLS gets from that section in pillar (carbon.pillar_section), never a traceback."""
    with pytest.raises(MonitoringError) as info:
        function(config)
    with pytest.raises(MonitoringError) as from_pillar:
        carbon.pillar_section(config, root.split(":")[1])
    assert info.value.errors == from_pillar.value.errors == [
        f"{root} must be a mapping (got {type(config).__name__}); see README.md, Monitoring role"]


def test_a_plugin_named_by_a_number_is_an_error_naming_it():
    with pytest.raises(MonitoringError) as info:
        collectd.render_collectd_conf({"plugins": {0: None, "df": {}}})
    assert info.value.errors == ["monitoring:collectd:plugins:0: a plugin name is lower-case letters, digits and '_'"]
    with pytest.raises(MonitoringError, match="monitoring:collectd:plugins must be a mapping"):
        collectd.plugin_packages({"plugins": 5})


def test_secrets_are_detected_for_hiding_the_diff():
    assert collectd.has_secret({"plugins": {"mysql": {"Database x": {"Password": "p"}}}})
    assert not collectd.has_secret({"plugins": {"cpu": {}}})


def test_carbon_binds_where_the_pillar_says_and_raises_the_create_rate():
    text = carbon.render_carbon_conf({"address": "127.0.0.1", "port": 12003, "max_creates_per_minute": 5000})
    assert "LINE_RECEIVER_INTERFACE = 127.0.0.1\n" in text and "LINE_RECEIVER_PORT = 12003\n" in text
    assert "MAX_CREATES_PER_MINUTE = 5000\n" in text
    with pytest.raises(MonitoringError, match="monitoring:carbon:settings:lower"):
        carbon.render_carbon_conf({"settings": {"lower": 1}})


def test_storage_schemas_keep_pillar_order_and_check_retentions():
    text = carbon.render_storage_schemas({"schemas": [{"name": "b", "pattern": "^b", "retentions": "10s:1d"},
                                                 {"name": "a", "pattern": ".*", "retentions": "1m:30d"}]})
    assert text.index("[b]") < text.index("[a]")
    with pytest.raises(MonitoringError, match=r"schemas\[0\]:retentions"):
        carbon.render_storage_schemas({"schemas": [{"name": "a", "pattern": ".*", "retentions": "forever"}]})


def test_run_metrics_of_a_state_run():
    jid = (datetime.datetime.now() - datetime.timedelta(seconds=2)).strftime("%Y%m%d%H%M%S%f")
    ret = {"fun": "state.apply", "jid": jid, "retcode": 2, "return": {
        "a": {"result": True, "changes": {"x": 1}}, "b": {"result": False, "changes": {}},
        "c": {"result": True, "changes": {}}}}
    metrics = r.run_metrics(ret, datetime.datetime.now().timestamp())
    assert {k: metrics[k] for k in ("states", "changed", "failed", "retcode")} == {
        "states": 3, "changed": 1, "failed": 1, "retcode": 2}
    assert 1500 < metrics["duration_ms"] < 60_000
    assert r.run_metrics({"fun": "test.ping", "return": True}, 0) == {}
    assert r.metric_prefix("salt", "node1.example.org", "state.apply") == "salt.node1_example_org.state_apply"


def test_whether_salt_runs_are_measured_and_where_is_decided_in_one_place():
    assert r.settings({"salt_runs": {"prefix": "runs"}}) == {"enabled": False, "host": "127.0.0.1", "port": 2003,
                                                             "prefix": "runs"}
    assert r.settings({"salt_runs": {"enabled": True}, "collectd": {"carbon_port": 2103}})["port"] == 2103
    assert r.settings(None)["enabled"] is False
    with pytest.raises(MonitoringError) as raised:
        r.settings({"salt_runs": {"enabled": True, "carbon_port": "x", "prefix": "salt runs"}})
    assert [e.split()[0] for e in raised.value.errors] == ["monitoring:salt_runs:carbon_port",
                                                           "monitoring:salt_runs:prefix"]
    with pytest.raises(MonitoringError, match="monitoring:salt_runs must be a mapping"):
        r.settings({"salt_runs": True})


b = load_source("metric_threshold_beacon", os.path.join(PROJECT, "_beacons", "metric_threshold.py"))


def test_threshold_beacon_reports_one_crossing_until_rearmed(monkeypatch, tmp_path):
    values = iter([1.0, 9.0, 9.5, 8.0, 3.0, 9.0])
    monkeypatch.setattr(thresholds, "measure", lambda source, whisper_dir, now: next(values))
    monkeypatch.setattr(b, "__opts__", {"cachedir": str(tmp_path)}, raising=False)
    config = [{"thresholds": {"t": {"source": "load1", "above": 5, "rearm_below": 4}}}]
    reports = [b.beacon(config) for _ in range(6)]
    assert reports[0] == [] and reports[4] == []
    crossings = [r[0]["crossing"] for r in reports if r]
    assert len(crossings) == 4 and len(set(crossings[:3])) == 1 and crossings[3] != crossings[0]


def test_a_crossing_outlives_a_reload_of_the_beacon_module(monkeypatch, tmp_path):
    """The minion reloads beacon modules on every pillar or module refresh (each highstate's
    sync): a threshold still above its limit afterwards is the same crossing, not a new one."""
    config = [{"thresholds": {"t": {"source": "load1", "above": 5}, "gone": {"source": "load1", "above": 50}}}]
    monkeypatch.setattr(thresholds, "measure", lambda source, whisper_dir, now: 60.0)
    monkeypatch.setattr(b, "__opts__", {"cachedir": str(tmp_path)}, raising=False)
    first = {e["threshold"]: e["crossing"] for e in b.beacon(config)}
    reloaded = load_source("metric_threshold_beacon_reloaded", os.path.join(PROJECT, "_beacons", "metric_threshold.py"))
    reloaded.__opts__ = {"cachedir": str(tmp_path)}
    assert {e["threshold"]: e["crossing"] for e in reloaded.beacon(config)} == first
    # A threshold taken out of the configuration is forgotten: configured again, it trips anew.
    reloaded.beacon([{"thresholds": {"t": config[0]["thresholds"]["t"]}}])
    assert set(thresholds.read_tripped(str(tmp_path / thresholds.STATE_FILE))) == {"t"}


def test_threshold_beacon_validates_sources():
    assert b.validate([{"thresholds": {"t": {"source": "load1", "above": 1}}}])[0]
    assert not b.validate([{"thresholds": {"t": {"source": "cpu", "above": 1}}}])[0]
    assert not b.validate([{"thresholds": {}}])[0]


def test_whisper_reader_takes_the_newest_fresh_point(tmp_path):
    import struct
    import time

    now = int(time.time())
    header = struct.pack("!2LfL", 0, 600, 0.5, 1) + struct.pack("!3L", 28, 10, 3)
    points = struct.pack("!Ld", now - 20, 1.0) + struct.pack("!Ld", now - 10, 2.0) + struct.pack("!Ld", now - 4000, 9.0)
    path = tmp_path / "m.wsp"
    path.write_bytes(header + points)
    assert whisper.latest(str(path), now) == 2.0
    assert whisper.latest(str(path), now + 10_000) is None



def test_whisper_files_are_where_this_nodes_carbon_conf_puts_them(tmp_path):
    conf = tmp_path / "carbon.conf"
    assert whisper.data_dir(str(conf)) == whisper.WHISPER_DIR  # no carbon here: Debian's place
    conf.write_text(carbon.render_carbon_conf({"settings": {"LOCAL_DATA_DIR": "/srv/whisper/"}}))
    assert whisper.data_dir(str(conf)) == "/srv/whisper"
    assert whisper.data_dir(str(conf)) == carbon.whisper_dir({"settings": {"LOCAL_DATA_DIR": "/srv/whisper/"}})
    conf.write_text(carbon.render_carbon_conf({}))
    assert whisper.data_dir(str(conf)) == whisper.WHISPER_DIR

# ---- the database and broker roles' own metrics (monitoring:collectd:role_metrics) -----------

ROLE_METRICS = {"database": {"user": "collectd"}, "broker": {"user": "collectd"}}
DATABASE = {"users": {"collectd": {"password": "DbMonPw1", "hosts": ["localhost"], "grants": {"*": ["PROCESS"]}}}}
BROKER = {"address": "10.0.0.5", "management_port": 15673, "plugins": ["rabbitmq_management"],
          "users": {"collectd": {"password": "MqMonPw1", "tags": ["monitoring"], "permissions": {}}}}


def test_role_metrics_read_each_role_as_its_own_declared_account():
    plugins = collectd.role_plugins(ROLE_METRICS, ["all-in-one"], DATABASE, BROKER)
    assert plugins["mysql"] == {"Database mariadb": {"Socket": "/run/mysqld/mysqld.sock", "User": "collectd",
                                                     "Password": "DbMonPw1", "InnodbStats": True}}
    (url, block), = plugins["curl_json"].items()
    assert url == "URL http://10.0.0.5:15673/api/overview"
    assert block["User"] == "collectd" and block["Password"] == "MqMonPw1"
    assert block["Key queue_totals/messages"] == {"Type": "gauge"}
    text = collectd.render_collectd_conf({"plugins": {"load": {}, **plugins}})
    assert '<URL "http://10.0.0.5:15673/api/overview">' in text and '<Key "object_totals/queues">' in text
    assert collectd.has_secret({"plugins": plugins}) and not collectd.has_secret({"plugins": {"load": {}}})


@pytest.mark.parametrize("roles, expected", [
    (["devstack"], set()), (["database"], {"mysql"}), (["broker", "monitoring"], {"curl_json"}),
    ("all-in-one", {"mysql", "curl_json"}),
])
def test_role_metrics_only_for_the_roles_this_node_carries(roles, expected):
    assert set(collectd.role_plugins(ROLE_METRICS, roles, DATABASE, BROKER)) == expected


def test_a_wildcard_broker_address_is_read_on_loopback_and_ipv6_is_bracketed():
    for address, url in (("0.0.0.0", "http://127.0.0.1:15673/"), ("fd00::5", "http://[fd00::5]:15673/")):
        plugins = collectd.role_plugins({"broker": {"user": "collectd"}}, ["broker"], {}, {**BROKER, "address": address})
        assert next(iter(plugins["curl_json"])).startswith(f"URL {url}")


@pytest.mark.parametrize("database, broker, key", [
    ({"users": {}}, BROKER, "monitoring:collectd:role_metrics:database:user: 'collectd' is not declared under database:users"),
    ({"users": {"collectd": {"hosts": ["localhost"]}}}, BROKER, "database:users:collectd:password is not set"),
    # a password the database role accepts: its own validation runs first (contract)
    ({"users": {"collectd": {"password": "DbMonPw22", "hosts": ["10.0.0.9"]}}}, BROKER, "database:users:collectd:hosts must include localhost"),
    (DATABASE, {**BROKER, "plugins": []}, "broker:plugins must include rabbitmq_management"),
    (DATABASE, {**BROKER, "users": {"collectd": {"password": "x1", "tags": []}}}, "broker:users:collectd:tags must include monitoring"),
])
def test_role_metrics_errors_name_the_pillar_key_to_fix(database, broker, key):
    with pytest.raises(MonitoringError) as info:
        collectd.role_plugins(ROLE_METRICS, ["all-in-one"], database, broker)
    assert key in str(info.value)
    assert "DbMonPw1" not in str(info.value) and "MqMonPw1" not in str(info.value)


def test_plugins_bring_the_libraries_collectd_core_only_suggests():
    config = {"plugins": {"load": {}, "mysql": {}, "curl_json": {}}, "packages": ["libfoo1"]}
    assert collectd.plugin_packages(config) == ["libcurl3-gnutls", "libfoo1", "libmariadb3", "libyajl2"]
    assert collectd.plugin_packages({}) == []
    with pytest.raises(MonitoringError, match="monitoring:collectd:packages"):
        collectd.plugin_packages({"packages": "libfoo1"})


def test_a_plugin_collectd_does_not_have_is_an_error_naming_it(tmp_path):
    (tmp_path / "load.so").write_text("")
    (tmp_path / "write_graphite.so").write_text("")
    assert "LoadPlugin load" in collectd.render_collectd_conf({"plugins": {"load": {}}}, plugin_dir=str(tmp_path))
    with pytest.raises(MonitoringError, match=r"monitoring:collectd:plugins:lod: collectd has no plugin lod"):
        collectd.render_collectd_conf({"plugins": {"lod": {}}}, plugin_dir=str(tmp_path))
    # Before collectd is installed (a first test=True) there is nothing to check against.
    assert "LoadPlugin lod" in collectd.render_collectd_conf({"plugins": {"lod": {}}}, plugin_dir=str(tmp_path / "none"))


# ---- reactions (devstack_salt.reactions: the reactor's calls without Salt) --------------------

def test_a_stopped_service_is_started_once_per_min_interval(tmp_path):
    from devstack_salt import reactions

    started = []
    config = reactions.settings({"enabled": True, "min_interval": 60, "services": ["collectd"]})
    react = lambda now: reactions.react_service(  # noqa: E731
        "t", {"service_name": "collectd"}, config, lambda name: bool(started), started.append, lambda: False, now,
        str(tmp_path / "stamps"), str(tmp_path / "log.jsonl"))
    assert react(1000.0)["running_after"] is True and started == ["collectd"]
    started.clear()
    assert react(1030.0)["skipped"].startswith("reacted 30 s ago") and started == []
    assert [entry["action"] for entry in reactions.recent(5, str(tmp_path / "log.jsonl"))] == ["service.start collectd"] * 2
    off = reactions.settings({})
    assert reactions.react_service("t", {"service_name": "collectd"}, off, bool, started.append, bool, 0)["action"] is None


@pytest.mark.parametrize("data", ["a string", ["service_name"], 3])
def test_a_reaction_to_an_event_that_is_not_a_mapping_is_an_error_before_anything_happens(tmp_path, data):
    from devstack_salt import reactions
    from devstack_salt.errors import ArgumentError

    config = reactions.settings({"enabled": True, "min_interval": 0, "services": ["collectd"]})
    never = lambda *args: pytest.fail("a reaction acted on a malformed event")  # noqa: E731
    with pytest.raises(ArgumentError, match="data must be the event that a beacon sent"):
        reactions.react_service("t", data, config, never, never, lambda: False, 0, str(tmp_path / "s"), str(tmp_path / "l"))
    with pytest.raises(ArgumentError, match="data must be the event that a beacon sent"):
        reactions.react_threshold("t", data, config, {"action": {"function": "f"}}, {"f": never}, lambda: False, 0,
                                  str(tmp_path / "s"), str(tmp_path / "l"))
    assert not (tmp_path / "l").exists()
    # A service's status in the event that is not a mapping: the service is looked at again.
    started = []
    reactions.react_service("t", {"service_name": "collectd", "collectd": "down"}, config, lambda name: bool(started),
                            started.append, lambda: False, 0, str(tmp_path / "s"), str(tmp_path / "l"))
    assert started == ["collectd"]


def test_the_last_reactions_are_as_many_as_asked(tmp_path):
    from devstack_salt import reactions

    log = str(tmp_path / "log.jsonl")
    for number in range(3):
        reactions.record({"n": number}, log)
    assert [reactions.recent(last, log) for last in (0, 2, 5)] == [[], [{"n": 1}, {"n": 2}], [{"n": 0}, {"n": 1}, {"n": 2}]]


def test_a_threshold_action_runs_once_per_crossing(tmp_path):
    from devstack_salt import reactions

    calls = []
    config = reactions.settings({"enabled": True, "min_interval": 0})
    spec = {"action": {"function": "monitoring.alert", "args": ["full"]}}
    functions = {"monitoring.alert": lambda message: calls.append(message) or True}
    react = lambda crossing, now: reactions.react_threshold(  # noqa: E731
        "t", {"threshold": "disk", "crossing": crossing}, config, spec, functions, lambda: False, now,
        str(tmp_path / "stamps"), str(tmp_path / "log.jsonl"))
    assert react(1, 10.0)["result"] is True
    assert react(1, 20.0) == {"action": None, "reason": "already acted on this crossing"}
    assert react(2, 30.0)["result"] is True and calls == ["full", "full"]
    assert (tmp_path / "stamps" / "threshold-disk.crossing").stat().st_mode & 0o777 == 0o600


def test_prometheus_defaults_and_the_node_exporter_on_the_mine_address():
    model = prometheus.settings({}, "192.0.2.7")
    assert model["node_exporter"] == {"address": "192.0.2.7", "port": 9100} and model["server"] is False
    textfile = " --collector.textfile.directory=/var/lib/prometheus/node-exporter"
    assert prometheus.exporter_args(model) == "--web.listen-address=192.0.2.7:9100" + textfile
    assert "--web.listen-address=127.0.0.1:9090" in prometheus.server_args(model)
    v6 = prometheus.settings({"address": "::1", "node_exporter": {"address": "2001:db8::7"}}, "192.0.2.7")
    assert prometheus.exporter_args(v6) == "--web.listen-address=[2001:db8::7]:9100" + textfile
    assert prometheus.server_url(v6) == "http://[::1]:9090"


def test_prometheus_scrapes_itself_and_every_monitoring_node_from_the_mine():
    model = prometheus.settings({"server": True, "node_exporter": {"address": "0.0.0.0"}}, "192.0.2.7")
    groups = prometheus.node_targets(model, "db1", {"mq1": "192.0.2.8", "devstack1": "192.0.2.9"})
    assert json.loads(prometheus.render_targets(groups)) == [
        {"targets": ["127.0.0.1:9100"], "labels": {"node": "db1"}},  # its own, where a client here reaches it
        {"targets": ["192.0.2.9:9100"], "labels": {"node": "devstack1"}},
        {"targets": ["192.0.2.8:9100"], "labels": {"node": "mq1"}}]
    config = yaml.safe_load(prometheus.render_config(model))
    assert config["scrape_configs"][1]["file_sd_configs"] == [{"files": [f"{prometheus.TARGETS_DIR}/node.json"]}]
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:9090"]}]


@pytest.mark.parametrize("monitoring, key", [
    ({"backend": "nagios"}, "monitoring:backend must be one of"),
    ({"backend": "prometheus"}, "monitoring:backend: prometheus alone"),
    ({"prometheus": {"server": "yes"}}, "monitoring:prometheus:server must be true or false"),
    ({"prometheus": {"port": 0}}, "monitoring:prometheus:port must be a port number"),
    ({"prometheus": {"server": True, "port": [9090]}}, "monitoring:prometheus:port must be a port number"),
    ({"prometheus": {"scrape_interval": 15}}, "monitoring:prometheus:scrape_interval must be a Prometheus duration"),
    ({"prometheus": {"node_exporter": {"listen": 1}}}, "monitoring:prometheus:node_exporter has no key listen"),
    ({"prometheus": {"node_exporter": []}}, "monitoring:prometheus:node_exporter must be a mapping"),
    ({"prometheus": {"server": True, "port": 9100, "address": "0.0.0.0", "node_exporter": {"address": "192.0.2.7"}}},
     "are both 9100 on one address"),
])
def test_a_bad_prometheus_pillar_names_the_key(monitoring, key):
    with pytest.raises(MonitoringError) as info:
        prometheus.backend(monitoring)
        prometheus.settings(monitoring.get("prometheus"), "192.0.2.7", {9090: "another role's port"})
    assert any(key in error for error in info.value.errors), info.value.errors


def test_the_server_and_the_exporter_on_other_addresses_may_share_a_port():
    model = prometheus.settings({"server": True, "port": 9100, "node_exporter": {"address": "192.0.2.7"}}, "x")
    assert (model["address"], model["port"], model["node_exporter"]["port"]) == ("127.0.0.1", 9100, 9100)


def test_the_exporter_and_the_server_leave_the_other_roles_ports_free():
    with pytest.raises(MonitoringError) as info:
        prometheus.settings({"server": True, "port": 5672, "node_exporter": {"port": 3306}}, "192.0.2.7",
                            {5672: "the broker role's port (broker:port)", 3306: "the database role's port"})
    assert info.value.errors == [
        "monitoring:prometheus:node_exporter:port 3306 collides with the database role's port; choose another",
        "monitoring:prometheus:port 5672 collides with the broker role's port (broker:port); choose another"]
    prometheus.settings({"server": False, "port": 5672}, "192.0.2.7", {5672: "the broker's"})  # no server here


def test_brokers_are_scraped_where_their_plugin_serves_metrics():
    broker = {"address": "0.0.0.0", "prometheus_port": 15699, "plugins": ["rabbitmq_management", "rabbitmq_prometheus"]}
    assert prometheus.rabbitmq_targets(broker, "aio", {}) == [{"targets": ["127.0.0.1:15699"], "labels": {"node": "aio"}}]
    assert prometheus.rabbitmq_targets({**broker, "plugins": ["rabbitmq_management"]}, "aio", {}) == []
    # A monitoring node without the broker role scrapes the broker nodes of the mine on the plugin's port.
    assert prometheus.rabbitmq_targets(None, "db1", {"mq1": "192.0.2.8"}) == [
        {"targets": ["192.0.2.8:15692"], "labels": {"node": "mq1"}}]
    jobs = [job["job_name"] for job in yaml.safe_load(prometheus.render_config(prometheus.settings({}, "192.0.2.7")))["scrape_configs"]]
    assert jobs == ["prometheus", "node", "rabbitmq", "mysqld", "process"]


def test_the_mysqld_exporter_logs_in_through_the_socket_with_no_secret_in_its_file():
    model = prometheus.settings({"node_exporter": {"address": "192.0.2.7"}, "mysqld_exporter": {"port": 9199}}, "x")
    text = prometheus.mysqld_exporter_defaults(model)
    assert 'ARGS="--web.listen-address=192.0.2.7:9199"\n' in text
    assert 'DATA_SOURCE_NAME="prometheus@unix(/run/mysqld/mysqld.sock)/"\n' in text
    assert prometheus.mysqld_targets(model, True, "db1", {"db2": "192.0.2.9"}) == [
        {"targets": ["192.0.2.7:9199"], "labels": {"node": "db1"}},
        {"targets": ["192.0.2.9:9199"], "labels": {"node": "db2"}}]
    assert prometheus.mysqld_targets(model, False, "mon", {}) == []


def test_the_mysqld_exporter_needs_the_unix_socket_account_of_its_system_user():
    socket = {"users": {"prometheus": {"auth": "unix_socket", "password": None, "hosts": ["localhost"], "grants": {}}}}
    assert prometheus.mysqld_account(socket) == []
    for users in ({}, {"prometheus": {"auth": "password", "password": "x", "hosts": ["localhost"], "grants": {}}}):
        assert prometheus.mysqld_account({"users": users})[0].startswith(
            "database:users:prometheus must be declared with auth: unix_socket")


def test_the_mysqld_exporter_may_not_share_the_node_exporters_port():
    with pytest.raises(MonitoringError) as info:
        prometheus.settings({"mysqld_exporter": {"port": 9100}}, "192.0.2.7")
    assert info.value.errors == ["monitoring:prometheus:node_exporter:port and monitoring:prometheus:mysqld_exporter:port "
                                 "are both 9100 on one address: choose another"]


def test_thresholds_become_alert_rules_that_hold_until_the_rearm_line():
    text, skipped = prometheus.render_rules({
        "root_disk_full": {"source": "disk:/", "above": 95, "rearm_below": 90},
        "busy": {"source": "load1", "above": 4},
        "state_run_failed": {"source": "carbon:salt.x.state_apply.failed", "above": 0.5}})
    groups = {group["name"]: group["rules"] for group in yaml.safe_load(text)["groups"]}
    assert [rule["alert"] for rule in groups["devstack-salt-defaults"]] == ["TargetDown", "DiskWillFill", "HighstateFailing"]
    rules = {rule["alert"]: rule for rule in groups["devstack-salt-thresholds"]}
    assert rules["busy"]["expr"] == "node_load1 > 4"
    disk = rules["root_disk_full"]["expr"]
    assert disk.startswith('(100 * (1 - node_filesystem_free_bytes{mountpoint="/"}') and "> 95) or (" in disk
    assert 'ALERTS{alertname="root_disk_full", alertstate="firing"}' in disk and "> 90 and on(instance)" in disk
    assert rules["root_disk_full"]["labels"] == {"severity": "warning", "threshold": "root_disk_full"}
    assert skipped == {"state_run_failed": "carbon:salt.x.state_apply.failed: a Graphite metric, watched by the "
                                           "Graphite beacon only"}
    assert 'mountpoint="/srv/a \\"b\\""' in prometheus.threshold_expr('disk:/srv/a "b"')
    assert yaml.safe_load(prometheus.render_config(prometheus.settings({}, "192.0.2.7")))["rule_files"] == [
        "/etc/prometheus/rules/*.yml"]


def test_alertmanager_sends_every_firing_alert_to_salts_webhook_with_a_token_from_a_file():
    config = yaml.safe_load(prometheus.render_alertmanager("http://127.0.0.1:9095/alertmanager"))
    hook = config["receivers"][0]["webhook_configs"][0]
    assert config["route"]["receiver"] == "salt" and config["route"]["group_by"] == ["alertname", "node"]
    assert config["route"]["repeat_interval"] == "1m"  # a held-back reaction happens on a later notification
    assert hook["url"] == "http://127.0.0.1:9095/alertmanager" and hook["send_resolved"] is False
    assert hook["http_config"] == {"authorization": {"type": "Bearer", "credentials_file": prometheus.HOOK_TOKEN_FILE}}


def test_the_process_exporter_counts_the_watched_services_processes_by_their_names():
    model = prometheus.settings({"node_exporter": {"address": "192.0.2.7"}, "process_exporter": {"port": 9299}}, "x")
    assert prometheus.process_exporter_args(model) == (
        "-web.listen-address=192.0.2.7:9299 -config.path=/etc/prometheus/process-exporter.yml "
        "-threads=false -gather-smaps=false")  # no daemon's name in its command line (pkill -f)
    config = yaml.safe_load(prometheus.process_exporter_config(["rabbitmq-server", "carbon-cache", "mariadb", "mysql"]))
    assert config == {"process_names": [{"name": "{{.Comm}}", "comm": ["beam.smp", "carbon-cache", "mariadbd"]}]}
    assert yaml.safe_load(prometheus.process_exporter_config([])) == {"process_names": []}
    assert prometheus.service_process("a-service-with-a-long-name") == "a-service-with-"  # comm's 15 characters
    assert prometheus.process_targets(model, "mon", {"db1": "192.0.2.9"}) == [
        {"targets": ["192.0.2.7:9299"], "labels": {"node": "mon"}},
        {"targets": ["192.0.2.9:9299"], "labels": {"node": "db1"}}]


def test_each_watched_service_of_the_node_has_a_service_down_rule_also_when_its_count_is_absent():
    text, _ = prometheus.render_rules({}, ["carbon-cache", "mariadb"], "aio")
    rules = {rule["labels"]["service"]: rule for rule in
             {group["name"]: group["rules"] for group in yaml.safe_load(text)["groups"]}["devstack-salt-services"]}
    assert set(rules) == {"carbon-cache", "mariadb"}
    assert rules["mariadb"]["alert"] == "ServiceDown"
    assert rules["mariadb"]["expr"] == ('up{job="process", node="aio"} == 1 unless on(instance) '
                                        'namedprocess_namegroup_num_procs{groupname="mariadbd"} > 0')
    text, _ = prometheus.render_rules({}, ["carbon-cache"], None)  # no node: no service rules
    assert {group["name"]: group["rules"] for group in yaml.safe_load(text)["groups"]}["devstack-salt-services"] == []


def test_alertmanager_listens_on_the_servers_address_with_no_cluster_and_its_hook_beside_it():
    model = prometheus.settings({"server": True, "address": "192.0.2.7",
                                 "alertmanager": {"port": 9193, "hook_port": 9197, "hook_token": "x" * 32}}, "192.0.2.7")
    args = prometheus.alertmanager_args(model)
    assert "--web.listen-address=192.0.2.7:9193" in args and args.endswith("--cluster.listen-address=")
    assert prometheus.hook_url(model) == "http://192.0.2.7:9197/alerts"
    assert prometheus.hook_url(prometheus.settings({"server": True, "address": "0.0.0.0"}, "192.0.2.7")) == \
        "http://127.0.0.1:9097/alerts"
    alerting = yaml.safe_load(prometheus.render_config(model, alertmanager=True))["alerting"]
    assert alerting == {"alertmanagers": [{"static_configs": [{"targets": ["192.0.2.7:9193"]}]}]}
    assert "alerting" not in yaml.safe_load(prometheus.render_config(model))


@pytest.mark.parametrize("config, error", [
    ({"alertmanager": {"hook_token": "short"}}, "monitoring:prometheus:alertmanager:hook_token must be a secret of 16"),
    ({"alertmanager": {"hook_token": "a token with spaces"}}, "monitoring:prometheus:alertmanager:hook_token must"),
    ({"alertmanager": {"hook_port": 9090}}, "monitoring:prometheus:port and monitoring:prometheus:alertmanager:hook_port"),
    ({"alertmanager": {"listen": 1}}, "monitoring:prometheus:alertmanager has no key listen"),
    ({"process_exporter": {"port": 9100}}, "monitoring:prometheus:node_exporter:port and "
                                           "monitoring:prometheus:process_exporter:port"),
])
def test_the_alerting_keys_are_checked_with_the_rest(config, error):
    with pytest.raises(MonitoringError) as info:
        prometheus.settings({"server": True, **config}, "192.0.2.7")
    assert info.value.errors[0].startswith(error), info.value.errors


def test_thresholds_prometheus_measures_must_make_valid_rules_and_leave_the_beacon():
    assert prometheus.rule_problems({"ok": {"source": "load1", "above": 4, "rearm_below": 2},
                                     "carbon-ok": {"source": "carbon:a.b", "above": 1}}) == []
    assert prometheus.rule_problems({"disk-full": {"source": "disk:/", "above": 95},
                                     "busy": {"source": "load1", "above": 4, "rearm_below": "2"},
                                     "odd": {"source": "load1", "above": 4, "rearm_below": 5}}) == [
        "monitoring:thresholds:busy:rearm_below must be a number at or under above (4), got '2'",
        "monitoring:thresholds:disk-full: the name becomes a Prometheus alert's: use letters, digits and _ only",
        "monitoring:thresholds:odd:rearm_below must be a number at or under above (4), got 5"]
    beacons = {"service": [{"services": {"carbon-cache": {}}}],
               "metric_threshold": [{"thresholds": {"root_disk_full": {}, "selftest": {}}}, {"interval": 5}]}
    assert prometheus.beacons_without(beacons, ["root_disk_full"]) == {
        "service": [{"services": {"carbon-cache": {}}}],
        "metric_threshold": [{"thresholds": {"selftest": {}}}, {"interval": 5}]}
    assert prometheus.beacons_without(beacons, ["root_disk_full", "selftest"]) == {
        "service": [{"services": {"carbon-cache": {}}}]}
    assert beacons["metric_threshold"][0]["thresholds"] == {"root_disk_full": {}, "selftest": {}}  # untouched
    assert prometheus.beacons_without(None, ["x"]) == {}


def test_salt_runs_go_to_the_textfile_collector_a_file_per_state_without_comments():
    options = yaml.safe_load(prometheus.salt_runs_config())
    assert options == {"prometheus_textfile.filename": "/var/lib/prometheus/node-exporter/salt.prom",
                       "prometheus_textfile.add_state_name": True, "prometheus_textfile.mode": "0644",
                       "prometheus_textfile.show_failed_states": False}
    assert prometheus.TEXTFILE_DIR in prometheus.exporter_args(prometheus.settings({}, "192.0.2.7"))
