"""The monitoring role on this host: carbon and collectd really running (process and port, not
the init scripts' word: carbon's lies), a real metric of this host and Salt's own run figures
readable back from whisper storage."""

from __future__ import annotations

import glob
import os
import subprocess
import time

import pytest

from conftest import salt_call

WHISPER = "/var/lib/graphite/whisper"


def process_running(name: str) -> bool:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if name.encode() in handle.read().replace(b"\0", b" "):
                    return True
        except OSError:
            pass
    return False


def whisper_values(path: str, seconds: int = 600) -> list[float]:
    """The non-empty points of a whisper file over the last ``seconds`` (Debian's whisper-fetch)."""
    out = subprocess.run(["whisper-fetch", f"--from={int(time.time()) - seconds}", path],
                         capture_output=True, text=True, check=True).stdout
    return [float(value) for _, value in (line.split() for line in out.splitlines()) if value != "None"]


def wait_for_points(pattern: str, timeout: float = 90) -> tuple[str, list[float]]:
    deadline = time.monotonic() + timeout
    while True:
        for path in glob.glob(pattern):
            values = whisper_values(path)
            if values:
                return path, values
        if time.monotonic() > deadline:
            raise AssertionError(f"no data point for {pattern} within {timeout} s")
        time.sleep(2)


@pytest.fixture(scope="module")
def monitoring(applied):
    return salt_call("pillar.get", "monitoring", "unmask=True")


def test_carbon_listens_on_the_configured_address_and_ports(host, monitoring):
    carbon = monitoring["carbon"]
    assert process_running("carbon-cache")
    for port in (carbon["port"], carbon["pickle_port"], carbon["query_port"]):
        assert host.socket(f"tcp://{carbon['address']}:{port}").is_listening
        assert not host.socket(f"tcp://0.0.0.0:{port}").is_listening


def test_collectd_runs_with_its_rendered_configuration(host):
    assert process_running("collectd -C /etc/collectd/collectd.conf")
    conf = host.file("/etc/collectd/collectd.conf")
    assert conf.mode == 0o600 and conf.user == "root"
    assert host.run("collectd -t -C /etc/collectd/collectd.conf").rc == 0


def test_this_hosts_load_reaches_whisper_with_plausible_values(applied):
    path, values = wait_for_points(f"{WHISPER}/collectd/*/load/load/shortterm.wsp")
    assert all(0 <= value < 1000 for value in values), (path, values)


def test_salt_runs_are_measured(applied):
    salt_call("state.apply", "monitoring", "--retcode-passthrough")
    _, states = wait_for_points(f"{WHISPER}/salt/*/state_apply/states.wsp", timeout=30)
    _, duration = wait_for_points(f"{WHISPER}/salt/*/state_apply/duration_ms.wsp", timeout=30)
    _, failed = wait_for_points(f"{WHISPER}/salt/*/state_apply/failed.wsp", timeout=30)
    assert states[-1] >= 1 and 0 < duration[-1] < 600_000 and failed[-1] == 0
