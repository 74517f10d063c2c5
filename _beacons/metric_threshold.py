"""
Beacon: a measured value crossed a threshold from pillar.

Sources: ``load1`` (1-minute load average), ``disk:/mount`` (percent used), and
``carbon:<metric.path>`` (the newest point of a metric in carbon's whisper storage, so anything
collectd or Salt reports can trigger a reaction). A threshold trips when the value rises above
``above`` and stays tripped until it falls below ``rearm_below`` (default: ``above``). While
tripped the beacon reports it on every interval with the same ``crossing`` id (when it tripped),
so the reaction (monitoring.react_threshold) acts once per crossing, and a reaction that had to
wait (a state run under way) still happens when the wait is over. The tripped thresholds are kept
in the minion's cachedir (``metric_threshold.json``): the minion reloads its beacon modules on
every pillar or module refresh (each highstate's sync), and a crossing must outlive that.

.. code-block:: yaml

    beacons:
      metric_threshold:
        - thresholds:
            high_load: {source: load1, above: 8, rearm_below: 4}
            root_disk: {source: "disk:/", above: 90}
        - interval: 5

Event tag ``salt/beacon/<id>/metric_threshold/<name>`` with data
``{threshold, source, value, above, crossing}``.
"""

from __future__ import annotations

import json
import os
import struct
import time

__virtualname__ = "metric_threshold"

WHISPER_DIR = "/var/lib/graphite/whisper"
STALE_AFTER = 300  # seconds: an older carbon point is not a measurement of now
STATE_FILE = "metric_threshold.json"  # in the minion's cachedir: threshold name -> when it tripped


def __virtual__():
    """Always available."""
    return __virtualname__


def _config(config) -> dict:
    merged = {}
    for item in config if isinstance(config, list) else [config]:
        if isinstance(item, dict):
            merged.update(item)
    return merged


def validate(config):
    """Check that every threshold names a known source and a numeric limit."""
    thresholds = _config(config).get("thresholds")
    if not isinstance(thresholds, dict) or not thresholds:
        return False, "metric_threshold needs thresholds: {name: {source, above}}"
    for name, spec in thresholds.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("above"), (int, float)):
            return False, f"metric_threshold:{name} needs a numeric 'above'"
        source = str(spec.get("source", ""))
        if not (source == "load1" or source.startswith("disk:/") or source.startswith("carbon:")):
            return False, f"metric_threshold:{name}:source must be load1, disk:/mount or carbon:metric.path"
    return True, "valid"


def whisper_latest(path: str, now: float) -> float | None:
    """The newest non-stale point of a whisper file (archive 0 holds the finest points)."""
    try:
        with open(path, "rb") as handle:
            _, _, _, archives = struct.unpack("!2LfL", handle.read(16))
            if archives < 1:
                return None
            offset, _, points = struct.unpack("!3L", handle.read(12))
            handle.seek(offset)
            data = handle.read(points * 12)
    except (OSError, struct.error):
        return None
    best = None
    for i in range(0, len(data) - 11, 12):
        stamp, value = struct.unpack("!Ld", data[i:i + 12])
        if stamp and now - stamp <= STALE_AFTER and (best is None or stamp > best[0]):
            best = (stamp, value)
    return best[1] if best else None


def measure(source: str, whisper_dir: str = WHISPER_DIR, now: float | None = None) -> float | None:
    """The current value of a source, or None when it cannot be measured now."""
    now = time.time() if now is None else now
    if source == "load1":
        return os.getloadavg()[0]
    if source.startswith("disk:"):
        stat = os.statvfs(source[5:])
        total = stat.f_blocks * stat.f_frsize
        return 100.0 * (total - stat.f_bfree * stat.f_frsize) / total if total else None
    if source.startswith("carbon:"):
        return whisper_latest(os.path.join(whisper_dir, *source[7:].split(".")) + ".wsp", now)
    return None


def read_tripped(path: str) -> dict[str, float]:
    """The tripped thresholds and when each tripped ({} when none are recorded)."""
    try:
        with open(path, encoding="utf-8") as handle:
            tripped = json.load(handle)
    except (OSError, ValueError):
        return {}
    return tripped if isinstance(tripped, dict) else {}


def write_tripped(path: str, tripped: dict[str, float]) -> None:
    """Record the tripped thresholds atomically (root only)."""
    tmp = f"{path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(tripped, handle)
    os.replace(tmp, path)


def beacon(config):
    """Report every tripped threshold, with the id of its crossing."""
    conf = _config(config)
    events = []
    now = time.time()
    path = os.path.join(__opts__["cachedir"], STATE_FILE)  # noqa: F821
    thresholds = conf.get("thresholds", {})
    before = read_tripped(path)
    # A threshold no longer configured is forgotten; one configured again trips anew.
    tripped = {name: when for name, when in before.items() if name in thresholds}
    for name, spec in sorted(thresholds.items()):
        value = measure(str(spec["source"]), conf.get("whisper_dir", WHISPER_DIR), now)
        if value is None:
            continue
        above = float(spec["above"])
        if value > above and name not in tripped:
            tripped[name] = now
        elif value < float(spec.get("rearm_below", above)):
            tripped.pop(name, None)
        if name in tripped:
            events.append({"tag": name, "threshold": name, "source": spec["source"], "value": value,
                           "above": above, "crossing": tripped[name]})
    if tripped != before:
        write_tripped(path, tripped)
    return events
