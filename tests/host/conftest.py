"""Host tier: testinfra checks of this host after the project's own states were applied to it
with the project's own configuration (bin/salt-call), as root. These tests change the host."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from project import PROJECT

SALT_CALL = os.path.join(PROJECT, "bin", "salt-call")


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="host tests need root: they apply states to this host")
        for item in items:
            if "tests/host/" in str(item.fspath):
                item.add_marker(skip)


def salt_call(*args: str, check: bool = True) -> dict:
    """Run bin/salt-call with JSON output; return the 'local' part of the result."""
    proc = subprocess.run([SALT_CALL, "--out=json", "--log-level=quiet", *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"salt-call {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)["local"]


def run_watching_argv(command: list[str], tmp_path) -> tuple[int, str, str, str]:
    """Run a command while recording every process's command line on this host until it ends.

    Returns (returncode, stdout, stderr, all command lines seen). Output goes to files, not pipes:
    debug output outgrows a pipe that nobody reads while this loop polls /proc.
    """
    with open(tmp_path / "watched.out", "w+") as out, open(tmp_path / "watched.err", "w+") as err:
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True)
        seen = []
        while proc.poll() is None:
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as handle:
                        seen.append(handle.read().decode(errors="replace"))
                except OSError:
                    pass
            time.sleep(0.05)
    assert seen, "no process was seen while the command ran"
    return proc.returncode, (tmp_path / "watched.out").read_text(), (tmp_path / "watched.err").read_text(), "\n".join(seen)


@pytest.fixture(scope="session")
def applied():
    """The default pillar applied to this host (idempotent: a no-op after bin/setup)."""
    salt_call("saltutil.sync_all")
    result = salt_call("state.apply", "--retcode-passthrough")
    failed = {k: v["comment"] for k, v in result.items() if v["result"] is not True}
    assert not failed, failed
    return result


@pytest.fixture(scope="session")
def node(applied):
    """The devstack pillar of this host, unmasked (it holds the generated passwords)."""
    return salt_call("pillar.get", "devstack", "unmask=True")
