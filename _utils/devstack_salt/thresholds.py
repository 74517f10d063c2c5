"""
Thresholds on measured values (the ``metric_threshold`` beacon's logic): the sources a value is
measured from, the check of a beacon's configuration, and the tripped record that decides when a
threshold trips, stays tripped and rearms.

Sources: ``load1`` (1-minute load average), ``disk:/mount`` (percent used), and
``carbon:<metric.path>`` (the newest point of a metric in carbon's whisper storage). A threshold
trips when the value rises above ``above`` and stays tripped until it falls below
``rearm_below`` (default: ``above``); while tripped it is reported on every check with the same
``crossing`` id (when it tripped). The record is a file, so a crossing outlives the beacon
module being reloaded.
"""

from __future__ import annotations

import os
import time
from typing import Any

from . import files, whisper

#: The tripped record's name in the minion's cachedir: threshold name -> when it tripped.
STATE_FILE = "metric_threshold.json"


def merged(config: Any) -> dict:
    """A beacon's configuration (a list of mappings, Salt's beacon form) as one mapping."""
    result: dict = {}
    for item in config if isinstance(config, list) else [config]:
        if isinstance(item, dict):
            result.update(item)
    return result


def validate(config: dict) -> tuple[bool, str]:
    """(True, "valid") when every threshold names a known source and a numeric limit, else
    (False, what is wrong)."""
    thresholds = config.get("thresholds")
    if not isinstance(thresholds, dict) or not thresholds:
        return False, "metric_threshold needs thresholds: {name: {source, above}}"
    for name, spec in thresholds.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("above"), (int, float)):
            return False, f"metric_threshold:{name} needs a numeric 'above'"
        source = str(spec.get("source", ""))
        if not (source == "load1" or source.startswith("disk:/") or source.startswith("carbon:")):
            return False, f"metric_threshold:{name}:source must be load1, disk:/mount or carbon:metric.path"
    return True, "valid"


def measure(source: str, whisper_dir: str = whisper.WHISPER_DIR, now: float | None = None) -> float | None:
    """The current value of a source, or None when it cannot be measured now."""
    now = time.time() if now is None else now
    if source == "load1":
        return os.getloadavg()[0]
    if source.startswith("disk:"):
        stat = os.statvfs(source[5:])
        total = stat.f_blocks * stat.f_frsize
        return 100.0 * (total - stat.f_bfree * stat.f_frsize) / total if total else None
    if source.startswith("carbon:"):
        return whisper.latest(whisper.metric_file(source[7:], whisper_dir), now)
    return None


def read_tripped(path: str) -> dict[str, float]:
    """The tripped thresholds and when each tripped ({} when none are recorded)."""
    return files.read_json(path) or {}


def check(thresholds: dict, record: str, whisper_dir: str = whisper.WHISPER_DIR,
          now: float | None = None) -> list[dict]:
    """Measure every threshold, update the tripped record (a file, written only when it
    changes) and return an event for every tripped threshold, with the id of its crossing."""
    now = time.time() if now is None else now
    events = []
    before = read_tripped(record)
    # A threshold no longer configured is forgotten; one configured again trips anew.
    tripped = {name: when for name, when in before.items() if name in thresholds}
    for name, spec in sorted(thresholds.items()):
        value = measure(str(spec["source"]), whisper_dir, now)
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
        files.write_json(record, tripped)
    return events
