"""
The systemd units of a stacked node that read the config files DevStack merges late: which they
are, restarting them, and waiting until each is active again and the node's services answer
(``node_health``); when they do not, each unit's journal tail, secrets masked.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from . import node_health, reconfigure
from .devstack_facts import RESTART_PHASES
from .errors import CommandFailed
from .localconf import scrub_text
from .saltconfig import systemd_running  # no systemd (a container): no units to restart


def config_units(model: dict, extra: dict[str, list[str]] | None = None,
                 paths: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(unit patterns to restart once stack.sh merged the model's config, header files of
    those phases whose units this role does not know). ``extra``: ``devstack:config_units``;
    ``paths``: the node's path variables (``reconfigure.file_paths``)."""
    units: list[str] = []
    unknown: list[str] = []
    for phase in RESTART_PHASES:
        for filename in sorted(model["config"].get(phase, {})):
            patterns = reconfigure.units_of(filename, extra, paths or {})
            if patterns is None:
                unknown.append(filename)
            units.extend(p for p in patterns or () if p not in units)
    return units, unknown


#: How long the services may take to answer again after a restart (seconds).
RESTART_WAIT = 120.0


def active_units(patterns: list[str]) -> list[str] | None:
    """The active units matching ``patterns`` (globs, as systemctl takes them); None when
    systemd does not run this host."""
    if not systemd_running():
        return None
    if not patterns:
        return []
    listed = subprocess.run(["systemctl", "list-units", "--state=active", "--plain", "--no-legend", "--full",
                             *patterns], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if listed.returncode != 0:
        raise CommandFailed(f"systemctl list-units {' '.join(patterns)} failed: {listed.stderr.strip()}")
    return sorted({line.split()[0] for line in listed.stdout.splitlines() if line.strip()})


def unmatched_readers(readers: list[dict]) -> list[dict]:
    """The ``readers`` (``reconfigure.plan``) whose unit patterns match no active unit: their
    options would change with no service reading them. [] without systemd."""
    found = []
    for reader in readers:
        units = active_units(reader["units"])
        if units is not None and not units:
            found.append(reader)
    return found


def restart_config_units(cfg: dict, model: dict, wait: float | None = None) -> dict:
    """Restart the active units that read the model's post-config files, then wait until every
    probed service answers. Returns {"restarted": [...], "unknown": [...], "unmatched": [...],
    "failing": {...}}; "unmatched": the ``devstack:config_units`` entries that match no active
    unit (a misspelt unit, or a service not running)."""
    paths = reconfigure.file_paths(model["localrc"], cfg["dest"])
    paths = paths if isinstance(paths, dict) else {}
    patterns, unknown = config_units(model, cfg.get("config_units"), paths)
    readers = []
    for phase in RESTART_PHASES:
        for header in sorted(model["config"].get(phase, {})):
            units, key = reconfigure.unit_source(header, cfg.get("config_units"), paths)
            if units and key is not None:
                readers.append({"header": header, "units": units, "key": f"devstack:config_units:{key}"})
    unmatched = [f"{reader['key']} ({', '.join(reader['units'])})" for reader in unmatched_readers(readers)]
    return {**restart_units(cfg, model, patterns, wait), "unknown": unknown, "unmatched": unmatched}


def restart_units(cfg: dict, model: dict, patterns: list[str], wait: float | None = None,
                  any_state: bool = False) -> dict:
    """Restart the active units matching ``patterns`` (``any_state``: the units named, whatever
    their state: those put back after a failed restart), then wait (``RESTART_WAIT``) until each
    of them is active and every probed service answers. Returns {"restarted": [...], "failing":
    {what: why}}; when they do not, the journal's tail of every restarted unit comes with it,
    secrets masked (a unit may stay active while the service behind it fails)."""
    result: dict[str, Any] = {"restarted": [], "failing": {}}
    if any_state:
        units = sorted(set(patterns)) if systemd_running() else []
    else:
        units = active_units(patterns)
    if not units:
        return result
    restart = subprocess.run(["systemctl", "restart", *units], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL)
    result["restarted"] = units
    if restart.returncode != 0:
        result["failing"] = {"systemctl restart": scrub_text(model, restart.stderr.strip())}
        result["failing"].update(_journal_tails(model, units))
        return result
    deadline = time.time() + (RESTART_WAIT if wait is None else wait)
    while True:
        failing = {k: v for k, v in node_health.service_health(cfg, model).items() if not v.startswith("ok")}
        failing.update((unit, f"{state} after its restart") for unit, state in _unit_states(units).items()
                       if state != "active")
        if not failing or time.time() > deadline:
            result["failing"] = failing
            if failing:
                result["failing"].update(_journal_tails(model, units))
            return result
        time.sleep(1)


def _unit_states(units: list[str]) -> dict[str, str]:
    """Each unit's ``systemctl is-active`` answer (active, activating, failed, ...)."""
    states = {}
    for unit in units:
        states[unit] = subprocess.run(["systemctl", "is-active", unit], capture_output=True, text=True,
                                      stdin=subprocess.DEVNULL).stdout.strip() or "unknown"
    return states


def _journal_tails(model: dict, units: list[str], lines: int = 20) -> dict[str, str]:
    """Each unit's state and the last lines of its journal, secrets masked."""
    tails = {}
    for unit, state in _unit_states(units).items():
        journal = subprocess.run(["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "cat"],
                                 capture_output=True, text=True, stdin=subprocess.DEVNULL)
        tails[unit] = f"{state}; journal:\n" + scrub_text(model, journal.stdout.strip())
    return tails
