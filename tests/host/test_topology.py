"""A decoupled cloud from one master: a real salt-master and four real salt-minions on this
machine (own root dirs, loopback ports), brought up by the orch.deploy orchestration.

db1 carries the database role, mq1 the broker, mon1 the carbon server, ds1 a DevStack node
whose local.conf must point at db1 and mq1 through the mine. All four run on this one host, so
db1, mq1 and mon1 converge the host's own MariaDB, RabbitMQ and carbon with the default pillar
(no change when the main job already did); ds1 has its own user and DEST and does not stack.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import pytest
import testinfra
import yaml

import node_checks
from host_salt import restore_main_job
from project import PROJECT
from salt_cloud import SaltCloud

ADDRESSES = {"db1": "127.0.0.11", "mq1": "127.0.0.12", "mon1": "127.0.0.13", "ds1": "127.0.0.14"}
DS_USER = "dstopo"


def write(path: str, data) -> None:
    with open(path, "w") as handle:
        handle.write(data if isinstance(data, str) else yaml.safe_dump(data))


@pytest.fixture(scope="module")
def cloud():
    base = f"/var/tmp/devstack-salt-topology-{uuid.uuid4().hex[:8]}"
    os.makedirs(base, mode=0o755)
    cloud = SaltCloud(base)
    pillar = cloud.pillar_dir
    for name in ("database", "broker", "monitoring"):
        os.symlink(os.path.join(PROJECT, "pillar", f"{name}.sls"), os.path.join(pillar, f"{name}.sls"))
    os.symlink(os.path.join(PROJECT, ".salt", "pillar", "secrets.sls"), os.path.join(pillar, "secrets.sls"))
    common = {"mine_functions": {"node_address": {"mine_function": "topology.address"}},
              # One host, four minions: only the test master's nodes, no reactor daemon per minion.
              # All four share this host's /etc/collectd/collectd.conf: role metrics would make
              # db1's and mq1's differ from the others' and every orchestration rewrite it.
              "monitoring": {"reactions": {"enabled": False}, "carbon": {"server": False},
                             "collectd": {"role_metrics": {"database": None, "broker": None}}}}
    write(f"{pillar}/common.sls", common)
    write(f"{pillar}/role_db1.sls", {"roles": ["database"]})
    write(f"{pillar}/role_mq1.sls", {"roles": ["broker"]})
    write(f"{pillar}/role_mon1.sls", {"roles": ["monitoring"], "monitoring": {"carbon": {"server": True}}})
    write(f"{pillar}/role_ds1.sls", {"roles": ["devstack"], "devstack": {
        "user": DS_USER, "dest": f"{base}/stack", "stack": False, "disable_all_services": True,
        "services": {"keystone": True, "swift": True}, "database": True, "broker": True,
        "localrc": {"ADMIN_PASSWORD": "TopoPw123", "SERVICE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
                    "SWIFT_HASH": "TopoHash1"}}})
    cloud.top = {"base": {
        "*": ["monitoring", "secrets", "common"],
        "db1": ["database", "role_db1"], "mq1": ["broker", "role_mq1"], "mon1": ["role_mon1"],
        "ds1": ["database", "broker", "role_ds1"],
    }}
    write(f"{pillar}/top.sls", cloud.top)
    try:
        cloud.start_master()
        for minion_id, address in ADDRESSES.items():
            cloud.add_minion(minion_id, address)
        cloud.start_minions()
        cloud.salt("*", "saltutil.sync_all", "--timeout=120", timeout=120)
        # The four minions share this host's collectd.conf, which differs from the main job's
        # (no role metrics, above): left to the orchestration, all four would rewrite it and
        # restart collectd at the same moment through its init script, a race two separate nodes
        # never run (seen on CI: a start lost, the step failed). One minion converges it first.
        first = cloud.salt("mon1", "state.apply", "monitoring.agent", "--timeout=600")["mon1"]
        assert isinstance(first, dict) and all(v["result"] for v in first.values()), first
        yield cloud
    finally:
        cloud.cleanup()
        subprocess.run(["pkill", "-KILL", "-u", DS_USER], capture_output=True)
        subprocess.run(["userdel", DS_USER], capture_output=True)
        subprocess.run(["groupdel", DS_USER], capture_output=True)
        if os.path.exists(f"/etc/sudoers.d/devstack-{DS_USER}"):
            os.unlink(f"/etc/sudoers.d/devstack-{DS_USER}")
        # The minions wrote this host's collectd.conf without the role metrics (above): the
        # host's own pillar puts them back for the tests that read them.
        restore_main_job()


def orchestrate(cloud) -> tuple[int, dict]:
    code, out = cloud.run("state.orchestrate", "orch.deploy")
    (steps,) = out["data"].values()
    return code, steps


@pytest.fixture(scope="module")
def deployed(cloud):
    """The first orchestration of the four fresh minions (every test that needs the cloud up asks
    for it, so any order of tests sees it first)."""
    return orchestrate(cloud)


def step(steps: dict, name: str) -> dict:
    (found,) = [v for k, v in steps.items() if f"_|-{name}_|-" in k]
    return found


def test_the_orchestration_brings_every_role_up_in_order(deployed):
    code, steps = deployed
    failed = {k: v["comment"] for k, v in steps.items() if v["result"] is not True}
    assert code == 0 and not failed, failed
    order = sorted(steps.values(), key=lambda v: v["__run_num__"])
    names = [v["__id__"] for v in order]
    assert names == ["publish-addresses", "database-nodes", "broker-nodes", "monitoring-nodes", "devstack-nodes"]


def test_every_minion_is_what_its_roles_say(cloud, deployed):
    os.environ["SALT_MASTER_CONFIG"] = cloud.master_config
    db1, mq1, mon1, ds1 = (testinfra.get_host(f"salt://{m}") for m in ("db1", "mq1", "mon1", "ds1"))
    # The same role checks as any node's (test_node_roles.py), through the master.
    checked = {m: node_checks.check_node(node_checks.Node(h)) for m, h in
               (("db1", db1), ("mq1", mq1), ("mon1", mon1), ("ds1", ds1))}
    assert checked == {"db1": ["database", "monitoring"], "mq1": ["broker", "monitoring"],
                       "mon1": ["monitoring"], "ds1": ["monitoring", "devstack"]}
    pillar = lambda minion, key: cloud.salt(minion, "pillar.get", key, "unmask=True")[minion]  # noqa: E731
    database, broker, carbon = pillar("db1", "database:server"), pillar("mq1", "broker"), pillar("mon1", "monitoring:carbon")
    assert db1.socket(f"tcp://{database['bind_address']}:{database['port']}").is_listening
    assert mq1.socket(f"tcp://{broker['address']}:{broker['port']}").is_listening
    assert mon1.socket(f"tcp://{carbon['address']}:{carbon['port']}").is_listening
    assert ds1.user(DS_USER).exists
    conf = ds1.file(f"{cloud.base}/stack/devstack/local.conf")
    assert conf.user == DS_USER and conf.mode == 0o600
    text = conf.content_string
    # Addresses from the mine: the nodes that carry the roles, never typed in ds1's pillar.
    assert f"DATABASE_HOST={ADDRESSES['db1']}\n" in text
    assert f"RABBIT_HOST={ADDRESSES['mq1']}\n" in text
    assert "DATABASE_USER=devstack\n" in text and "RABBIT_USERID=devstack\n" in text
    assert "disable_service mysql rabbit\n" in text


def test_a_second_orchestration_changes_nothing(cloud, deployed):
    code, steps = orchestrate(cloud)
    assert code == 0
    changed = {v["__id__"]: v["changes"] for v in steps.values()
               if v["changes"] and v["__id__"] != "publish-addresses"}  # mine.update reports its return
    assert changed == {}


def test_a_failing_early_role_stops_before_the_devstack_nodes(cloud, deployed):
    local_conf = f"{cloud.base}/stack/devstack/local.conf"
    os.unlink(local_conf)
    broken = {**cloud.top["base"], "db1": ["database", "role_db1", "broken_db1"]}
    write(f"{cloud.pillar_dir}/broken_db1.sls", {"database": {"not_a_key": 1}})
    write(f"{cloud.pillar_dir}/top.sls", {"base": broken})
    try:
        cloud.salt("*", "saltutil.refresh_pillar", "--timeout=60", timeout=60)
        code, steps = orchestrate(cloud)
        assert code != 0
        database = step(steps, "database-nodes")
        assert database["result"] is False and "db1" in database["comment"]
        assert "database:not_a_key" in str(database["changes"]) + database["comment"]
        assert database["comment"] == "Run failed on minions: db1"
        # failhard ends the orchestration there: no later step ran (or, had it been reached, it
        # would fail on its requisite).
        later = [v for v in steps.values() if v["__id__"] in ("broker-nodes", "monitoring-nodes", "devstack-nodes")]
        assert all(v["result"] is False and "requisite" in v["comment"].lower() for v in later), later
        assert not os.path.exists(local_conf)
    finally:
        write(f"{cloud.pillar_dir}/top.sls", cloud.top)
        cloud.salt("*", "saltutil.refresh_pillar", "--timeout=60", timeout=60)
        orchestrate(cloud)
    assert os.path.exists(local_conf)
