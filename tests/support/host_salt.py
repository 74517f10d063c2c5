"""This project's Salt on this host for the host tier: bin/salt-call with JSON answers, and a run
that records every process's command line. A module of its own, not conftest.py: test modules
import it by name, and pytest has several conftest modules (one per tier)."""

from __future__ import annotations

import json
import os
import subprocess

from common import command_lines, sampling
from project import PROJECT

SALT_CALL = os.path.join(PROJECT, "bin", "salt-call")


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
    debug output outgrows a pipe that nobody reads while /proc is sampled.
    """
    seen: list[str] = []
    with open(tmp_path / "watched.out", "w+") as out, open(tmp_path / "watched.err", "w+") as err:
        with sampling(lambda: seen.extend(b"\0".join(argv).decode(errors="replace") for _, argv in command_lines()),
                      0.05):
            proc = subprocess.run(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True)
    assert seen, "no process was seen while the command ran"
    return proc.returncode, (tmp_path / "watched.out").read_text(), (tmp_path / "watched.err").read_text(), "\n".join(seen)
