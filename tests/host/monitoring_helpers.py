"""Helpers for the monitoring host tests: points read back from carbon's whisper files, the
reaction records of this host, and processes found by their command line."""

from __future__ import annotations

import glob
import json
import subprocess
import time

from common import command_lines, wait_until

WHISPER = "/var/lib/graphite/whisper"
#: Every reaction of this host (the masterless reactor's and a master's), one JSON line each.
REACTIONS_LOG = "/var/lib/devstack-salt/reactions.jsonl"


def whisper_values(path: str, seconds: int = 600) -> list[float]:
    """The non-empty points of a whisper file over the last ``seconds`` (Debian's whisper-fetch)."""
    out = subprocess.run(["whisper-fetch", f"--from={int(time.time()) - seconds}", path],
                         capture_output=True, text=True, check=True).stdout
    return [float(value) for _, value in (line.split() for line in out.splitlines()) if value != "None"]


def wait_for_points(pattern: str, timeout: float = 90) -> tuple[str, list[float]]:
    """The first whisper file matching ``pattern`` that has points, and its points."""
    def points() -> tuple[str, list[float]] | None:
        for path in glob.glob(pattern):
            values = whisper_values(path)
            if values:
                return path, values
        return None

    return wait_until(points, timeout, 2, f"a data point for {pattern}")


def reactions_since(start: float) -> list[dict]:
    """The reactions recorded at or after ``start`` (a time.time())."""
    try:
        with open(REACTIONS_LOG) as handle:
            entries = [json.loads(line) for line in handle]
    except FileNotFoundError:
        return []
    return [e for e in entries if e["time"] >= start]


def pid_of(name: str) -> int | None:
    """The PID of a process whose command line contains ``name``."""
    for pid, argv in command_lines():
        if name.encode() in b" ".join(argv):
            return pid
    return None


def process_running(name: str) -> bool:
    return pid_of(name) is not None
