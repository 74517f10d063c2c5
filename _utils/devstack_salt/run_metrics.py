"""
Salt measuring itself: the metrics of one state run (duration, states, changes, failures, exit
code) as Graphite paths, for the ``salt_run_metrics`` returner.

Metrics, with ``<id>`` the minion id (dots become '_')::

    <prefix>.<id>.<function>.duration_ms   wall time of the job
    <prefix>.<id>.<function>.states        states run
    <prefix>.<id>.<function>.changed       states that changed something
    <prefix>.<id>.<function>.failed        states whose result was False
    <prefix>.<id>.<function>.retcode       the job's exit code
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Callable

from .carbon import METRIC_PART_RE, pillar_section
from .collectd import resolve_carbon_host
from .errors import MonitoringError

#: Only these functions are measured: they return a state run.
STATE_FUNCTIONS = frozenset({
    "state.apply", "state.highstate", "state.sls", "state.single", "state.sls_id", "state.top",
    "state.template_str", "state.orchestrate",
})


def settings(monitoring: Any, monitoring_nodes: Callable[[], list[str]] = list) -> dict:
    """``monitoring:salt_runs`` with its defaults: off, prefix ``salt``, and the carbon collectd
    writes to (the same rule, ``collectd.resolve_carbon_host``, with ``monitoring_nodes`` the
    other monitoring nodes' addresses from the mine) unless it names its own. The one place that
    decides whether Salt's runs are measured and under which prefix: the returner sends them, the
    salt-runs dashboard shows them. MonitoringError names a key that is wrong."""
    monitoring = monitoring if isinstance(monitoring, dict) else {}
    runs = pillar_section(monitoring.get("salt_runs"), "salt_runs")
    collectd = pillar_section(monitoring.get("collectd"), "collectd")
    carbon = pillar_section(monitoring.get("carbon"), "carbon")
    errors = []
    where = "monitoring:salt_runs:carbon_port" if "carbon_port" in runs else "monitoring:collectd:carbon_port"
    port = runs.get("carbon_port", collectd.get("carbon_port", 2003))
    try:
        port = int(port)
    except (TypeError, ValueError):
        errors.append(f"{where} must be a port number")
    prefix = runs.get("prefix", "salt")
    if not isinstance(prefix, str) or not METRIC_PART_RE.match(prefix):
        errors.append("monitoring:salt_runs:prefix must be a metric path: dotted words (letters, digits, _ and -)")
    if errors:
        raise MonitoringError(errors)
    enabled = runs.get("enabled", False) is True
    # Off (the default), the returner sends nothing: no mine lookup on each job to learn where.
    return {
        "enabled": enabled,
        "host": runs.get("carbon_host") or resolve_carbon_host(collectd, carbon, monitoring_nodes if enabled else list),
        "port": port,
        "prefix": prefix,
    }


def job_seconds(jid: str, now: float) -> float | None:
    """Seconds since the job started, from its jid (a local timestamp, YYYYmmddHHMMSSffffff)."""
    try:
        started = datetime.datetime.strptime(str(jid)[:20], "%Y%m%d%H%M%S%f")
    except ValueError:
        return None
    return max(0.0, now - started.timestamp())


def run_metrics(ret: dict, now: float) -> dict[str, float]:
    """The metrics of one job return (empty for a non-state function or a non-dict return)."""
    fun = ret.get("fun")
    states = ret.get("return")
    if fun not in STATE_FUNCTIONS or not isinstance(states, dict):
        return {}
    results = [s for s in states.values() if isinstance(s, dict) and "result" in s]
    metrics = {
        "states": len(results),
        "changed": sum(1 for s in results if s.get("changes")),
        "failed": sum(1 for s in results if s.get("result") is False),
        "retcode": ret.get("retcode", 0) or 0,
    }
    seconds = job_seconds(ret.get("jid", ""), now)
    if seconds is not None:
        metrics["duration_ms"] = round(seconds * 1000, 1)
    return metrics


def _clean(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def metric_prefix(prefix: str, minion_id: str, fun: str) -> str:
    """``salt.node1_example_org.state_apply``: dots in names would split the Graphite path."""
    return f"{prefix}.{_clean(minion_id)}.{_clean(fun)}"


def paths(ret: dict, minion_id: str, prefix: str, now: float) -> dict[str, float]:
    """``{graphite path: value}`` of one job return, sorted by path ({} when nothing is measured)."""
    metrics = run_metrics(ret, now)
    if not metrics:
        return {}
    base = metric_prefix(prefix, minion_id, ret["fun"])
    return {f"{base}.{name}": value for name, value in sorted(metrics.items())}
