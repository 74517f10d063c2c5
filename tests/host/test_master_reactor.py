"""Reactions through a master: a real salt-master with the reactor ``bin/configure --master``
writes, and one real salt-minion connected to it whose pillar holds the beacons.

The watched daemon is the test's own throwaway init.d service (a ``sleep`` with a pidfile under
the test's directory), never one of the host's shared daemons. The threshold's source is a
whisper file the test writes itself (``carbon:<metric>`` read from the beacon's ``whisper_dir``),
so the test decides when the threshold is crossed and no carbon daemon is involved. Reactions
are recorded in the host-wide /var/lib/devstack-salt/reactions.jsonl: every check filters by
this run's unique service and threshold names.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import struct
import subprocess
import time
import uuid

import pytest
import yaml

from common import read_pid, wait_until
from devstack_salt import saltconfig
from monitoring_helpers import reactions_since
from project import configure
from salt_cloud import SaltCloud

RUN = uuid.uuid4().hex[:8]
MINION = f"reactortest-{RUN}"
SERVICE = f"devstack-salt-reactortest-{RUN}"
THRESHOLD = f"reactortest_{RUN}"
METRIC = f"reactortest.{RUN}.value"
INTERVAL = 2  # beacon interval, seconds
MIN_INTERVAL = 8  # monitoring:reactions:min_interval
RESTART_WITHIN = 30  # monitoring:reactions:restart_within: the promise the test holds the reactor to
INIT_SCRIPT = f"/etc/init.d/{SERVICE}"
SHARED_INIT_SCRIPT = "/etc/init.d/devstack-salt-minion"  # the host's masterless reactor daemon
REACTIONS_DIR = "/var/lib/devstack-salt/reactions"

SERVICE_SCRIPT = """#!/bin/sh
# Throwaway daemon of tests/host/test_master_reactor.py (run {run}); removed by the test.
# pidfile: {pidfile}
# (systemd's sysv generator tracks the daemon by it; without it the unit stays "active" after
# the daemon dies, RemainAfterExit, and no beacon sees it down.)
PIDFILE={pidfile}
running() {{
    pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
    state=$(ps -o stat= -p "$pid" 2>/dev/null) || return 1
    case "$state" in Z*) return 1 ;; esac
}}
case "$1" in
    start)
        running && exit 0
        start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$PIDFILE" \\
            --exec /usr/bin/sleep -- 3600
        ;;
    stop)
        running && kill "$(cat "$PIDFILE")"
        rm -f "$PIDFILE"
        ;;
    status)
        running && exit 0
        exit 3
        ;;
    *) exit 2 ;;
esac
"""


def pillar(base: str, metric_interval: int = INTERVAL) -> dict:
    return {
        "monitoring": {
            "reactions": {"enabled": True, "interval": INTERVAL, "min_interval": MIN_INTERVAL,
                          "restart_within": RESTART_WITHIN, "services": [SERVICE]},
            "thresholds": {THRESHOLD: {
                "source": f"carbon:{METRIC}", "above": 0.5, "rearm_below": 0.5,
                "action": {"function": "monitoring.alert", "args": [f"reactortest {RUN}"]}}},
        },
        "beacons": {
            "service": [{"services": {SERVICE: {"is_running_state": False, "onchangeonly": False}}},
                        {"interval": INTERVAL}],
            "metric_threshold": [
                {"thresholds": {THRESHOLD: {"source": f"carbon:{METRIC}", "above": 0.5, "rearm_below": 0.5}}},
                {"whisper_dir": f"{base}/whisper"},
                {"interval": metric_interval}],
        },
    }


def write_pillar(cloud: SaltCloud, **kwargs) -> None:
    with open(f"{cloud.pillar_dir}/reactions.sls", "w") as handle:
        yaml.safe_dump(pillar(cloud.base, **kwargs), handle)


def write_point(base: str, value: float) -> None:
    """Make ``value`` the metric's newest point, stamped now (one whisper archive, 60 points)."""
    path = os.path.join(base, "whisper", *METRIC.split(".")) + ".wsp"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    header = struct.pack("!2LfL", 1, 600, 0.5, 1) + struct.pack("!3L", 28, 10, 60)
    points = struct.pack("!Ld", int(time.time()), value) + bytes(12 * 59)
    with open(path + ".tmp", "wb") as handle:
        handle.write(header + points)
    os.replace(path + ".tmp", path)


def alive(pid: int | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, TypeError):
        return False


def digest(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def reload_systemd() -> None:
    if saltconfig.systemd_running():
        subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=60)


@pytest.fixture(scope="module")
def cloud():
    base = f"/var/tmp/devstack-salt-reactortest-{RUN}"
    os.makedirs(base, mode=0o755)
    pidfile = f"{base}/service.pid"
    cloud = None
    try:
        # The master's reactor is the one bin/configure --master writes (the same list, not a copy).
        reactor = configure.master_config(base, base)["reactor"]
        cloud = SaltCloud(base, master_options={"reactor": reactor})
        cloud.service_pidfile = pidfile
        with open(INIT_SCRIPT, "w") as handle:
            handle.write(SERVICE_SCRIPT.format(run=RUN, pidfile=pidfile))
        os.chmod(INIT_SCRIPT, 0o755)
        reload_systemd()  # systemd sees a new init script only after a reload
        # Running before the minion's beacons start, so no reaction happens before the test's.
        # Through `service`: systemctl under systemd (which must track it), the script elsewhere.
        subprocess.run(["service", SERVICE, "start"], check=True, timeout=30)
        write_point(base, 0.0)
        write_pillar(cloud)
        with open(f"{cloud.pillar_dir}/top.sls", "w") as handle:
            yaml.safe_dump({"base": {"*": ["reactions"]}}, handle)
        cloud.start_master()
        cloud.add_minion(MINION, "127.0.0.21")
        cloud.start_minions()
        # The project's modules, states and the metric_threshold beacon; the module refresh
        # this triggers reloads the minion's beacons with them.
        synced = cloud.salt(MINION, "saltutil.sync_all", "--timeout=120", timeout=120)
        assert "beacons.metric_threshold" in synced[MINION]["beacons"], synced
        yield cloud
    finally:
        if cloud:
            cloud.stop()  # first: no reactor may start the service again after it is stopped
        pid = read_pid(pidfile)
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)
        for path in (INIT_SCRIPT, f"{REACTIONS_DIR}/service-{SERVICE}", f"{REACTIONS_DIR}/threshold-{THRESHOLD}",
                     f"{REACTIONS_DIR}/threshold-{THRESHOLD}.crossing"):
            if os.path.exists(path):
                os.unlink(path)
        reload_systemd()
        shutil.rmtree(base, ignore_errors=True)


def apply_reactor(cloud: SaltCloud, *args: str) -> dict:
    out = cloud.salt(MINION, "state.apply", "monitoring.reactor", *args, "--timeout=120", timeout=120)
    assert isinstance(out.get(MINION), dict), out
    return out[MINION]


def loaded_beacons(cloud: SaltCloud) -> dict:
    return cloud.salt(MINION, "beacons.list", "return_yaml=False", "include_opts=False")[MINION]


def test_with_a_master_the_reactor_state_starts_no_second_minion_and_loads_the_pillar_beacons(cloud):
    shared = digest(SHARED_INIT_SCRIPT)
    states = apply_reactor(cloud, "test=True")
    # No masterless daemon (init script, service) for a minion that has a master: only the
    # check that this minion's daemon runs the pillar's beacons, already true since its start.
    assert [v["__id__"] for v in states.values()] == ["monitoring-reactor-beacons"], states
    (state,) = states.values()
    assert state["result"] is True and state["changes"] == {}, state

    write_pillar(cloud, metric_interval=INTERVAL + 1)
    try:
        (predicted,) = apply_reactor(cloud, "test=True").values()
        assert predicted["result"] is None and predicted["changes"] == {"reloaded": ["metric_threshold"]}, predicted
        assert {"interval": INTERVAL} in loaded_beacons(cloud)["metric_threshold"]  # test=True changed nothing
        (applied,) = apply_reactor(cloud).values()
        assert applied["result"] is True and applied["changes"] == predicted["changes"], applied
        assert {"interval": INTERVAL + 1} in loaded_beacons(cloud)["metric_threshold"]
        (again,) = apply_reactor(cloud).values()
        assert again["result"] is True and again["changes"] == {}, again
    finally:
        write_pillar(cloud)
        apply_reactor(cloud)
    assert {"interval": INTERVAL} in loaded_beacons(cloud)["metric_threshold"]
    assert digest(SHARED_INIT_SCRIPT) == shared


def test_a_killed_service_runs_again_within_the_promise_through_the_masters_reactor(cloud):
    pid = read_pid(cloud.service_pidfile)
    assert alive(pid)
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)

    def restarted() -> int | None:
        new = read_pid(cloud.service_pidfile)
        return new if new != pid and alive(new) else None

    wait_until(restarted, RESTART_WITHIN, 0.5, lambda: f"{SERVICE} to run again: {reactions_since(killed_at)}")
    restarted_after = time.time() - killed_at
    time.sleep(INTERVAL * 2)  # later beacon reports must not restart it again
    restarts = [e for e in reactions_since(killed_at) if e.get("action") == f"service.start {SERVICE}"
                and "skipped" not in e]
    assert len(restarts) == 1, reactions_since(killed_at)
    (entry,) = restarts
    # The master's tag and the minion id: the event went minion -> master -> reactor -> minion.
    assert entry["tag"] == f"salt/beacon/{MINION}/service/{SERVICE}"
    assert entry["event"]["id"] == MINION and entry["event"][SERVICE]["running"] is False
    assert entry["running_after"] is True and entry["time"] - killed_at < restarted_after
    # The master published the reaction as a job to this minion (master_service_down.sls) and
    # this very record came back as its return.
    _, jobs = cloud.run("jobs.list_jobs", "search_function=monitoring.react_service", f"search_target={MINION}")
    returns = [cloud.run("jobs.lookup_jid", jid)[1].get(MINION) for jid in jobs]
    assert entry in returns, (entry, returns)


def test_a_crossed_threshold_acts_once_per_crossing_not_in_a_loop(cloud):
    # monitoring.alert writes the one alerts log of the host: this run's lines carry its RUN id.
    alerts = "/var/log/devstack-salt-alerts.log"
    lines = lambda: [line for line in (open(alerts).read().splitlines() if os.path.exists(alerts) else [])  # noqa: E731
                     if line.endswith(f"reactortest {RUN}")]
    start = time.time()
    time.sleep(2 * INTERVAL + 1)
    assert lines() == [], "the action ran while the value was below the threshold"

    write_point(cloud.base, 1.0)
    wait_until(lines, 6 * INTERVAL + 10, 0.5, lambda: f"an action: {reactions_since(start)}")
    acted = time.monotonic()
    # The beacon keeps reporting the tripped threshold every interval. Past min_interval only
    # the crossing id keeps the action from repeating, also across a pillar refresh (which
    # reloads the beacon modules, as the module refresh of every highstate's sync does).
    time.sleep(max(0.0, acted + MIN_INTERVAL + 1 - time.monotonic()))
    cloud.salt(MINION, "saltutil.refresh_pillar", "wait=True", "--timeout=60", timeout=60)
    time.sleep(3 * INTERVAL + 1)
    assert len(lines()) == 1, lines()
    mine = lambda: [e for e in reactions_since(start) if e.get("event", {}).get("threshold") == THRESHOLD  # noqa: E731
                    and "skipped" not in e]
    (entry,) = mine()
    assert entry["tag"] == f"salt/beacon/{MINION}/metric_threshold/{THRESHOLD}"
    assert entry["event"]["id"] == MINION and entry["event"]["value"] == 1.0
    assert entry["action"] == "monitoring.alert" and entry["result"] is True
    assert lines()[0].endswith(f" reactortest {RUN}")

    # Below rearm_below, then above again: a new crossing, acted on once more.
    write_point(cloud.base, 0.0)
    time.sleep(2 * INTERVAL + 1)
    write_point(cloud.base, 1.0)
    wait_until(lambda: len(lines()) >= 2, 6 * INTERVAL + 10, 0.5,
               lambda: f"the second crossing to be acted on: {reactions_since(start)}")
    time.sleep(2 * INTERVAL + 1)
    assert len(lines()) == 2 and len(mine()) == 2, mine()
    write_point(cloud.base, 0.0)
