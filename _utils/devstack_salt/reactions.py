"""
The monitoring role's reactions: what happens when a beacon reports a stopped service or a
tripped threshold, the brakes that keep a reaction from looping or fighting a state run, and the
log of every reaction (and alert) taken.

The Salt face (``_modules/monitoring.py``) passes in the pillar's settings and the Salt functions
a reaction calls (service status and start, the threshold's action), so this runs without Salt.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Callable, Mapping

from . import files
from .errors import ArgumentError

REACTIONS_DIR = "/var/lib/devstack-salt/reactions"
REACTIONS_LOG = "/var/lib/devstack-salt/reactions.jsonl"
#: Where ``monitoring.alert`` (the thresholds' default action in pillar/monitoring.sls) writes.
ALERTS_LOG = "/var/log/devstack-salt-alerts.log"


def settings(value: Any) -> dict:
    """``monitoring:reactions`` with its defaults: off, 60 s between reactions, no service."""
    value = value or {}
    return {"enabled": bool(value.get("enabled", False)), "min_interval": float(value.get("min_interval", 60)),
            "services": list(value.get("services", []))}


def _stamp(directory: str, key: str) -> str:
    return os.path.join(directory, re.sub(r"[^A-Za-z0-9_.-]", "_", key))


def brake(key: str, min_interval: float, state_running: bool, now: float, directory: str = REACTIONS_DIR) -> str | None:
    """Why a reaction must not happen now (None: go ahead), and arm the interval when it goes.

    No reaction while a state run is under way (the run itself may be restarting the daemon:
    reacting would fight it), and at most one reaction per ``key`` every ``min_interval`` s,
    so an event flood or a reaction that triggers its own event cannot loop.
    """
    if state_running:
        return "a state run is under way"
    os.makedirs(directory, mode=0o700, exist_ok=True)
    stamp = _stamp(directory, key)
    try:
        since = now - os.path.getmtime(stamp)
    except OSError:
        since = None
    if since is not None and since < min_interval:
        return f"reacted {since:.0f} s ago (min_interval {min_interval:.0f} s)"
    files.write_text(stamp, "")
    os.utime(stamp, (now, now))
    return None


def record(entry: dict, path: str = REACTIONS_LOG) -> dict:
    """Append a reaction to the reactions log (JSON lines, root only) and return it."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    files.append_line(path, json.dumps(entry, sort_keys=True, default=str) + "\n", 0o600)
    return entry


def recent(last: int = 20, path: str = REACTIONS_LOG) -> list[dict]:
    """The ``last`` reactions of the log, oldest first ([] before the first)."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines[-last:]] if last > 0 else []


def alert(message: str, path: str = ALERTS_LOG) -> bool:
    """Append a timestamped alert line to ``path`` (created 0640 when missing)."""
    files.append_line(path, f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {message}\n", 0o640)
    return True


def event_data(data: Any) -> dict:
    """The event a reaction answers (``data``, as the reactor passes it: a mapping; None is an
    empty one); ArgumentError when a caller gives anything else."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ArgumentError(f"data must be the event that a beacon sent (a mapping), not a {type(data).__name__}")
    return data


def react_service(tag: str, data: Any, config: dict, is_running: Callable[[str], Any],
                  start: Callable[[str], Any], state_running: Callable[[], bool], now: float,
                  directory: str = REACTIONS_DIR, log: str = REACTIONS_LOG) -> dict:
    """Start the service a beacon reported as not running, through the brakes; ``config`` is
    :func:`settings`. Returns why nothing was done, or the recorded reaction."""
    data = event_data(data)
    service = data.get("service_name")
    # With a master, pillar beacons run whatever reactions:enabled says: the switch is kept here.
    if not config["enabled"]:
        return {"action": None, "reason": "monitoring:reactions:enabled is false"}
    if service not in config["services"]:
        return {"action": None, "reason": f"{service} is not in monitoring:reactions:services"}
    status = data.get(service)
    if isinstance(status, dict) and status.get("running"):
        return {"action": None, "reason": f"{service} is running"}
    # The event may predate a restart (the beacon repeats it while the daemon is down, a master
    # relays it): look again before acting.
    if is_running(service):
        return {"action": None, "reason": f"{service} is running now"}
    why_not = brake(f"service-{service}", config["min_interval"], state_running(), now, directory)
    entry = {"time": now, "tag": tag, "event": data, "action": f"service.start {service}"}
    if why_not:
        return record({**entry, "skipped": why_not}, log)
    start(service)
    return record({**entry, "running_after": bool(is_running(service))}, log)


def react_threshold(tag: str, data: Any, config: dict, spec: Any, functions: Mapping[str, Callable],
                    state_running: Callable[[], bool], now: float,
                    directory: str = REACTIONS_DIR, log: str = REACTIONS_LOG) -> dict:
    """Run a tripped threshold's action (``spec`` is ``monitoring:thresholds:<name>``, its action
    a function of ``functions``) once per crossing, through the brakes. Returns why nothing was
    done, or the recorded reaction (an action that fails is recorded, never retried in a loop)."""
    data = event_data(data)
    name = data.get("threshold")
    if not config["enabled"]:
        return {"action": None, "reason": "monitoring:reactions:enabled is false"}
    if not isinstance(spec, dict) or not isinstance(spec.get("action"), dict):
        return {"action": None, "reason": f"monitoring:thresholds:{name}:action is not set"}
    done = _stamp(directory, f"threshold-{name}.crossing")
    crossing = str(data.get("crossing"))
    try:
        with open(done, encoding="utf-8") as handle:
            if handle.read() == crossing:
                return {"action": None, "reason": "already acted on this crossing"}
    except FileNotFoundError:
        pass
    action = spec["action"]
    function = action.get("function")
    entry = {"time": now, "tag": tag, "event": data, "action": function}
    if function not in functions:
        return record({**entry, "error": f"monitoring:thresholds:{name}:action:function is not available"}, log)
    why_not = brake(f"threshold-{name}", config["min_interval"], state_running(), now, directory)
    if why_not:
        return record({**entry, "skipped": why_not}, log)
    files.write_text(done, crossing)
    try:
        result = functions[function](*action.get("args", []), **action.get("kwargs", {}))
    except Exception as exc:  # an action that fails is recorded, never retried in a loop
        return record({**entry, "error": f"{type(exc).__name__}: {exc}"}, log)
    return record({**entry, "result": result if isinstance(result, (bool, int, float, str)) else "done"}, log)
