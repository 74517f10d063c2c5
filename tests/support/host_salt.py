"""This project's Salt on this host for the host tier: bin/salt-call with JSON answers, the main
job (this host's own pillar, as bin/setup applies it) put back after a test that changed the host,
and a run that records every process's command line. A module of its own, not conftest.py: test
modules import it by name, and pytest has several conftest modules (one per tier)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from typing import Iterator

from common import command_lines, sampling
from project import PROJECT
from salt_node import failed

SALT_CALL = os.path.join(PROJECT, "bin", "salt-call")


def salt_call(*args: str, check: bool = True) -> dict:
    """Run bin/salt-call with JSON output; return the 'local' part of the result."""
    proc = subprocess.run([SALT_CALL, "--out=json", "--log-level=quiet", *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"salt-call {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)["local"]


def changed(result: dict) -> dict:
    """The states of a state.apply return that changed (or, under test=True, would change)
    something: {state key: changes}."""
    return {key: value["changes"] for key, value in result.items() if value["changes"]}


def would_change(result: dict) -> set[str]:
    """The states a test=True run marks as those a real run would change or run (result None):
    a state that watches a changing one (a service's restart) included, unlike :func:`changed`."""
    return {key for key, value in result.items() if value["result"] is None}


def main_job_drift() -> dict:
    """What applying this host's own pillar (the highstate) would change now, changing nothing:
    {state key: changes, or the comment of a state that would not simply succeed (a stopped
    daemon's service.running says "set to start" with no changes)}; empty when the host is as
    the main job made it."""
    result = salt_call("state.apply", "test=True", check=False)
    if not isinstance(result, dict):
        raise AssertionError(f"the highstate with test=True gave no states: {result}")
    return {key: value["changes"] or value["comment"] for key, value in result.items()
            if value["changes"] or value["result"] is not True}


def restore_main_job() -> dict:
    """Apply this host's own pillar again (the highstate, as bin/setup does) and check that the
    host then is what it says: the states it changed back. For a test that applied another
    pillar, stopped a daemon or edited a managed file."""
    salt_call("saltutil.sync_all")
    result = salt_call("state.apply", check=False)
    if not isinstance(result, dict) or failed(result):
        raise AssertionError(f"the highstate could not put this host back: {failed(result) if isinstance(result, dict) else result}")
    return changed(result)


@contextlib.contextmanager
def main_job_restored() -> Iterator[None]:
    """The host as the main job made it when the block ends, however it ends: around a test
    or fixture that applies a pillar of its own to this host's daemons and files."""
    try:
        yield
    finally:
        restore_main_job()


def run_watching_argv(command: list[str], tmp_path) -> tuple[int, str, str, str]:
    """Run a command while recording every process's command line on this host until it ends.

    Returns (returncode, stdout, stderr, all command lines seen). Output goes to files, not pipes:
    debug output outgrows a pipe that nobody reads while /proc is sampled.
    """
    seen: list[str] = []
    with open(tmp_path / "watched.out", "w+") as out, open(tmp_path / "watched.err", "w+") as err:
        with sampling(lambda: seen.extend(b"\0".join(argv).decode(errors="replace") for _, argv in command_lines()),
                      0.05):
            proc = subprocess.run(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True)
    assert seen, "no process was seen while the command ran"
    return proc.returncode, (tmp_path / "watched.out").read_text(), (tmp_path / "watched.err").read_text(), "\n".join(seen)
