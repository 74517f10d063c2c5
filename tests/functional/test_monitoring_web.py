"""The web application's Salt face through Salt's loader, on a minion of its own whose pillar runs
the web application on a port nothing listens on: the dashboards state plans from graphite-web's
database (a file in a temporary folder here), never from the web application, so test=True is
exact whether it runs or not. Nothing here reads or changes this host's graphite-web."""

from __future__ import annotations

import json
import sqlite3

import pytest
import salt.config
from salt.exceptions import CommandExecutionError
from saltfactories.utils.functional import Loaders

from common import free_port
from devstack_salt import graphite_web
from project import configure

SECRETS = {"secret_key": "k" * 40, "admin_password": "FuncWebPassw0rd-xyz"}
DASHBOARDS = "graphite-web dashboards"


def pillar(port: int) -> dict:
    return {"monitoring": {
        "carbon": {"server": True},
        "collectd": {"carbon_host": "127.0.0.1", "prefix": "collectd", "plugins": {"load": {}, "memory": {}}},
        "salt_runs": {"enabled": True, "prefix": "salt"},
        "web": {"address": "127.0.0.1", "port": port, **SECRETS},
    }}


def minion(root, pillar: dict) -> Loaders:
    """Salt's loaders for a minion of its own in ``root`` with ``pillar``."""
    (root / "pillar").mkdir(parents=True)
    (root / "pillar" / "top.sls").write_text("base:\n  '*':\n    - monitoring\n")
    (root / "pillar" / "monitoring.sls").write_text(json.dumps(pillar))
    config = configure.minion_config(str(root), "monitoring-functional", pillar_roots=[str(root / "pillar")])
    (root / "minion").write_text(json.dumps(config))
    return Loaders(salt.config.minion_config(str(root / "minion")))


@pytest.fixture(scope="module")
def loaders(tmp_path_factory):
    return minion(tmp_path_factory.mktemp("monitoring-salt"), pillar(free_port()))


@pytest.fixture
def database(tmp_path, monkeypatch):
    """graphite-web's database, here: a file with its dashboard table as Django made it."""
    path = tmp_path / "graphite.db"
    monkeypatch.setattr(graphite_web, "DATABASE_FILE", str(path))
    return path


def saved(path, states: dict) -> None:
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE IF NOT EXISTS "dashboard_dashboard" '
                   '("name" varchar(128) NOT NULL PRIMARY KEY, "state" text NOT NULL)')
        db.executemany("INSERT OR REPLACE INTO dashboard_dashboard VALUES (?, ?)",
                       [(name, json.dumps(state)) for name, state in states.items()])
    db.close()


def wanted(loaders) -> dict:
    return {name: value["state"] for name, value in loaders.modules.monitoring.dashboards(states=True).items()}


def dashboards_state(loaders, **kwargs):
    return loaders.modules.state.single("monitoring.dashboards", DASHBOARDS, **kwargs)


def test_with_the_web_application_down_test_mode_predicts_from_its_database(loaders, database):
    states = wanted(loaders)
    assert {"salt-runs"} < set(states) and any(name.startswith("host-") for name in states), sorted(states)
    # No database yet: every dashboard would be created.
    predicted = dashboards_state(loaders, test=True)
    assert predicted.result is None and predicted.changes == {name: "created" for name in states}
    # All saved: nothing to do, though nothing answers on the web application's port.
    saved(database, states)
    predicted = dashboards_state(loaders, test=True)
    assert predicted.result is True and predicted.changes == {}, predicted.comment
    assert dashboards_state(loaders).result is True  # a real run agrees, without the web application
    # One missing, one different: exactly those.
    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM dashboard_dashboard WHERE name = 'salt-runs'")
        db.execute("UPDATE dashboard_dashboard SET state = '{}' WHERE name LIKE 'host-%'")
    db.close()
    before = (database.read_bytes(), database.stat().st_mtime_ns)
    predicted = dashboards_state(loaders, test=True)
    host = next(name for name in states if name.startswith("host-"))
    assert predicted.result is None and predicted.changes == {"salt-runs": "created", host: "updated"}
    # Read only: the database as it was, and no journal left beside it.
    assert (database.read_bytes(), database.stat().st_mtime_ns) == before
    assert sorted(p.name for p in database.parent.iterdir()) == ["graphite.db"]


def test_a_real_run_that_must_save_while_the_web_application_is_down_fails_cleanly(loaders, database):
    saved(database, {})
    result = dashboards_state(loaders, timeout=1)
    assert result.result is False and result.changes == {}
    assert "did not answer" in result.comment and "gunicorn.log" in result.comment, result.comment
    assert "Traceback" not in result.comment and SECRETS["admin_password"] not in result.comment


def test_no_salt_runs_dashboard_where_the_returner_sends_no_run_metrics(tmp_path):
    settings = pillar(free_port())
    del settings["monitoring"]["salt_runs"]["enabled"]  # the returner's default: off
    shown = minion(tmp_path, settings).modules.monitoring.dashboards()
    assert "salt-runs" not in shown and any(name.startswith("host-") for name in shown), shown


def test_the_dashboards_show_the_nodes_of_the_whisper_files_where_carbons_settings_put_them(tmp_path):
    whisper = tmp_path / "whisper"
    (whisper / "collectd" / "node9" / "load" / "load").mkdir(parents=True)
    settings = pillar(free_port())
    settings["monitoring"]["carbon"]["settings"] = {"LOCAL_DATA_DIR": f"{whisper}/"}
    shown = minion(tmp_path / "minion", settings).modules.monitoring.dashboards(states=True)
    assert "host-node9" in shown and "collectd.node9.load" in json.dumps(shown["host-node9"]), sorted(shown)


@pytest.mark.parametrize("web, expected", [
    ({"port": 5672}, "monitoring:web:port 5672 collides with the broker role's port (broker:port)"),
    ({"port": 8080}, "monitoring:web:port 8080 collides with Swift's proxy, a DevStack service of this node"),
    ({"address": "192.0.2.1"}, "monitoring:web:address 192.0.2.1 is not an address of this host"),
])
def test_the_web_configuration_the_sls_renders_from_refuses_what_this_node_cannot_serve(tmp_path, web, expected):
    settings = pillar(free_port())
    settings["monitoring"]["web"].update(web)
    settings["roles"] = ["all-in-one"]
    with pytest.raises(CommandExecutionError) as raised:
        minion(tmp_path, settings).modules.monitoring.web_config()
    assert expected in str(raised.value) and SECRETS["admin_password"] not in str(raised.value), str(raised.value)


def test_the_service_restarts_on_a_package_upgrade_and_the_logs_drop_in_is_managed(loaders):
    high = loaders.modules.state.show_sls("monitoring.web")
    service = next(args for args in high["monitoring-web-service"]["service"] if isinstance(args, dict) and "watch" in args)
    assert {"pkg": "monitoring-web-packages"} in service["watch"], service  # an upgrade restarts gunicorn
    drop_in = {key: value for args in high["monitoring-web-logrotate"]["file"] if isinstance(args, dict)
               for key, value in args.items()}
    assert drop_in["name"] == graphite_web.LOGROTATE_FILE and drop_in["contents"] == graphite_web.render_logrotate()
