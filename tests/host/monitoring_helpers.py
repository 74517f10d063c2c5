"""Helpers for the monitoring host tests: points read back from carbon's whisper files, the
reaction records of this host, and processes found by their command line."""

from __future__ import annotations

import glob
import json
import subprocess
import time
from typing import Callable

from common import command_lines, wait_until

WHISPER = "/var/lib/graphite/whisper"
#: Every reaction of this host (the masterless reactor's and a master's), one JSON line each.
REACTIONS_LOG = "/var/lib/devstack-salt/reactions.jsonl"


def clock(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp))


def whisper_points(path: str, seconds: int = 600) -> tuple[int, list[tuple[int, float]]]:
    """The step of a whisper file's archive over the last ``seconds`` and its non-empty points
    there, (timestamp, value), oldest first (Debian's whisper-fetch). A point's timestamp is the
    start of its interval of ``step`` seconds."""
    out = subprocess.run(["whisper-fetch", f"--from={int(time.time()) - seconds}", path],
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()]
    step = int(rows[1][0]) - int(rows[0][0]) if len(rows) > 1 else 1
    return step, [(int(stamp), float(value)) for stamp, value in rows if value != "None"]


def whisper_values(path: str, seconds: int = 600) -> list[float]:
    """The non-empty values of a whisper file over the last ``seconds``, oldest first."""
    return [value for _, value in whisper_points(path, seconds)[1]]


def wait_for_points(pattern: str, since: float, timeout: float = 90,
                    accept: Callable[[float], bool] = lambda value: True) -> tuple[str, list[float]]:
    """The first whisper file matching ``pattern`` whose points taken after ``since`` (a
    time.time(): what the test itself caused, never an older point) include one, the newest,
    that ``accept`` takes; returns the path and those points' values. Only whole intervals that
    start at or after ``since`` count (whisper stamps a point with its interval's start): a test
    that causes a single point waits for a fresh interval first (:func:`fresh_interval`). When the
    time is up, the error says what was there: each file's newest point and when."""
    seen: dict[str, tuple[int, float] | None] = {}

    def points() -> tuple[str, list[float]] | None:
        seen.clear()
        for path in sorted(glob.glob(pattern)):
            _, found = whisper_points(path, seconds=int(time.time() - since) + 120)
            seen[path] = found[-1] if found else None
            newer = [value for stamp, value in found if stamp >= since]
            if newer and accept(newer[-1]):
                return path, newer
        return None

    def saw() -> str:
        after = f"an acceptable point of {pattern} taken from {clock(since)}"
        if not seen:
            return f"{after} (no file matches)"
        return after + " (" + "; ".join(f"{path}: newest point {point[1]} at {clock(point[0])}" if point
                                        else f"{path}: no point lately" for path, point in seen.items()) + ")"

    return wait_until(points, timeout + STEP, 2, saw)


#: The finest interval of every whisper file the project's schemas make (10 s).
STEP = 10


def fresh_interval(step: int = STEP) -> float:
    """Sleep to the start of the next whisper interval and return it: a single point written
    after this falls in an interval no earlier point shares."""
    now = time.time()
    start = (int(now) // step + 1) * step
    time.sleep(start - now)
    return float(start)


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
