"""The monitoring role on this host: carbon and collectd really running (process and port, not
the init scripts' word: carbon's lies), a real metric of this host and Salt's own run figures
readable back from whisper storage."""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import time

import pytest

from common import command_lines, wait_until
from devstack_salt import saltconfig
from host_salt import restore_main_job, salt_call
from monitoring_helpers import WHISPER, fresh_interval, pid_of, process_running, reactions_since, wait_for_points
from salt_node import failed


@pytest.fixture(scope="module")
def monitoring():
    """The monitoring role applied on its own (it does not need the other roles)."""
    salt_call("saltutil.sync_all")
    result = salt_call("state.apply", "monitoring", "--retcode-passthrough")
    assert not failed(result), failed(result)
    return salt_call("pillar.get", "monitoring", "unmask=True")


def test_carbon_listens_on_the_configured_address_and_ports(host, monitoring):
    carbon = monitoring["carbon"]
    assert process_running("carbon-cache")
    for port in (carbon["port"], carbon["pickle_port"], carbon["query_port"]):
        assert host.socket(f"tcp://{carbon['address']}:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def process_started_at(pid: int) -> float:
    """When process ``pid`` started, as a time.time(): its start in clock ticks after boot
    (/proc/PID/stat, field 22) plus the boot time (/proc/stat's btime)."""
    with open(f"/proc/{pid}/stat") as handle:
        ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as handle:
        boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def latest_collectd_start(timeout: float = 30) -> list[str]:
    """The running collectd's log lines of its start: from the second it started up to
    "Initialization complete". Bounded by the process's own start time, not by the previous
    run's last words: a collectd that was killed says none, and its last complaints are not this
    start's. Debian 12's `collectd -t` checks nothing, so the log it is."""
    pids = [pid for pid, argv in command_lines() if os.path.basename(argv[0].decode(errors="replace")) == "collectd"]
    assert len(pids) == 1, pids
    since = time.strftime("[%Y-%m-%d %H:%M:%S]", time.localtime(int(process_started_at(pids[0]))))

    def start() -> list[str] | None:
        with open("/var/log/collectd.log", errors="replace") as handle:
            lines = [line for line in handle.read().splitlines() if line[:21] >= since]
        # A restart stops the old process and starts the new one within the same second: the old
        # one's last words (a write to a carbon restarting beside it failed) share the stamp. The
        # new process's first line is its first plugin_load: logfile comes first in our
        # collectd.conf and logs nothing of itself, and a plugin that fails to load has no
        # "successfully loaded" line, which the caller requires of every LoadPlugin.
        loads = [i for i, line in enumerate(lines) if "] plugin_load: " in line]
        lines = lines[loads[0]:] if loads else []
        done = [i for i, line in enumerate(lines) if "Initialization complete" in line]
        return lines[:done[0] + 1] if done else None

    return wait_until(start, timeout, 1, "a complete start in collectd's log")


def collectd_configs() -> list[str]:
    """The configuration file of every running collectd: its -C argument, or the built-in default
    (``collectd -h`` names it) when started without one, as Debian's systemd unit does."""
    default = re.search(r"Config file\s+(\S+)", subprocess.run(["collectd", "-h"], capture_output=True,
                                                                text=True).stdout).group(1)
    found = []
    for _, raw in command_lines():
        argv = [arg.decode(errors="replace") for arg in raw]
        if os.path.basename(argv[0]) == "collectd":
            found.append(argv[argv.index("-C") + 1] if "-C" in argv else default)
    return found


def test_collectd_runs_with_its_rendered_configuration_and_every_plugin_loaded(host, monitoring):
    assert collectd_configs() == ["/etc/collectd/collectd.conf"]
    conf = host.file("/etc/collectd/collectd.conf")
    assert conf.mode == 0o600 and conf.user == "root"
    with open("/etc/collectd/collectd.conf") as handle:  # not host.file: its debug log would show passwords
        plugins = [line.split()[1] for line in handle if line.startswith("LoadPlugin ")]
    assert "write_graphite" in plugins and "load" in plugins
    start = latest_collectd_start()
    for plugin in set(plugins) - {"logfile"}:  # logged before the log file is open
        assert f'plugin_load: plugin "{plugin}" successfully loaded.' in "\n".join(start), (plugin, start)
    # carbon may be restarting in the same state run (the server comes after the agent): writes
    # failing until it listens again are not this configuration's fault, and the whisper test
    # below proves the write path.
    carbon_restarting = ("write_graphite plugin: Connecting to", "Dispatching value to all write plugins failed")
    complaints = [line for line in start if any(word in line for word in ("not allowed", "Could not", "rror", "failed"))
                  and not any(benign in line for benign in carbon_restarting)]
    assert not complaints, complaints


def test_this_hosts_load_reaches_whisper_with_plausible_values(monitoring):
    path, values = wait_for_points(f"{WHISPER}/collectd/*/load/load/shortterm.wsp", since=time.time())
    assert all(0 <= value < 1000 for value in values), (path, values)


def test_salt_runs_are_measured(monitoring):
    started = fresh_interval()  # one point per run: in an interval of its own
    salt_call("state.apply", "monitoring", "--retcode-passthrough")
    _, states = wait_for_points(f"{WHISPER}/salt/*/state_apply/states.wsp", since=started, timeout=30)
    _, duration = wait_for_points(f"{WHISPER}/salt/*/state_apply/duration_ms.wsp", since=started, timeout=30)
    _, failed = wait_for_points(f"{WHISPER}/salt/*/state_apply/failed.wsp", since=started, timeout=30)
    assert states[-1] >= 1 and 0 < duration[-1] < 600_000 and failed[-1] == 0


# ---- reactions: beacons on the masterless minion daemon, the reactor, the brakes -------------

def test_the_reactor_daemon_runs(host, monitoring):
    # systemctl on a systemd host, the init script's status elsewhere (ours tells the truth).
    assert host.service("devstack-salt-minion").is_running
    assert pid_of("salt-minion")
    if saltconfig.systemd_running():
        assert host.service("devstack-salt-minion").is_enabled


def test_a_killed_daemon_runs_again_within_the_promised_time_by_the_reactor(host, monitoring):
    promise = monitoring["reactions"]["restart_within"]
    # Start from a node that has not reacted within min_interval (an earlier test may have).
    for stale in glob.glob("/var/lib/devstack-salt/reactions/service-carbon-cache"):
        os.unlink(stale)
    pid = pid_of("carbon-cache")
    assert pid
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)

    def restarted() -> bool:
        new = pid_of("carbon-cache")
        return bool(new and new != pid and host.socket(f"tcp://127.0.0.1:{monitoring['carbon']['port']}").is_listening)

    try:
        wait_until(restarted, promise, 1, "carbon-cache to run again")
    finally:
        if not restarted():  # the reactor failed: the next tests need carbon
            restore_main_job()
    restart = [e for e in reactions_since(killed_at) if e.get("action") == "service.start carbon-cache"
               and "skipped" not in e]
    assert len(restart) == 1, reactions_since(killed_at)
    assert restart[0]["tag"].endswith("/service/carbon-cache")
    assert restart[0]["event"]["carbon-cache"]["running"] is False
    assert restart[0]["running_after"] is True


def test_a_crossed_threshold_acts_once_not_in_a_loop(monitoring):
    """Push the self-test metric above its threshold in carbon and keep it there for 30 s, six
    beacon intervals in which the beacon reports the tripped threshold each time: exactly one
    action for the crossing. (The self-test metric is written by nothing else, unlike the
    state-run figures that real runs write.)"""
    source = monitoring["thresholds"]["selftest"]["source"]
    metric = source.split(":", 1)[1]
    # To the carbon this host's collectd writes to: the one whose whisper files the beacon reads.
    send = lambda value: salt_call("monitoring.send_metrics", json.dumps({metric: value}))  # noqa: E731
    send(0)
    time.sleep(12)
    start = time.time()
    try:
        for _ in range(15):
            send(1)
            time.sleep(2)
        entries = [e for e in reactions_since(start) if e.get("event", {}).get("threshold") == "selftest"
                   and "skipped" not in e]
        assert len(entries) == 1, reactions_since(start)
        assert entries[0]["action"] == "monitoring.alert" and entries[0].get("result") is True
        assert entries[0]["event"]["value"] == 1.0
    finally:
        send(0)
