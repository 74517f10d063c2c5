"""
Salt measures itself: send each state run's duration, number of states, changes and failures
to Graphite carbon (core Salt's carbon returner was removed in 3008).

Enabled by pillar (``monitoring:salt_runs:enabled``) and by naming the returner, which
bin/configure does in the project's minion config (``return: salt_run_metrics``), so every
``salt-call`` state run reports. Metrics, with ``<id>`` the minion id (dots become '_'):

    <prefix>.<id>.<function>.duration_ms   wall time of the job
    <prefix>.<id>.<function>.states        states run
    <prefix>.<id>.<function>.changed       states that changed something
    <prefix>.<id>.<function>.failed        states whose result was False
    <prefix>.<id>.<function>.retcode       the job's exit code

Only state functions (state.apply, state.highstate, state.sls, ...) are measured; a failure to
reach carbon is logged, never raised: measuring must not break the run it measures.
"""

from __future__ import annotations

import datetime
import logging
import re
import socket
import time

log = logging.getLogger(__name__)

__virtualname__ = "salt_run_metrics"

STATE_FUNCTIONS = frozenset({
    "state.apply", "state.highstate", "state.sls", "state.single", "state.sls_id", "state.top",
    "state.template_str", "state.orchestrate",
})


def __virtual__():
    """Always available (plain TCP to carbon)."""
    return __virtualname__


def _settings() -> dict:
    pillar = (__opts__.get("pillar") or {}).get("monitoring") or {}  # noqa: F821 - Salt dunder
    runs = pillar.get("salt_runs") or {}
    collectd = pillar.get("collectd") or {}
    return {
        "enabled": runs.get("enabled", False) is True,
        "host": runs.get("carbon_host", collectd.get("carbon_host", "127.0.0.1")),
        "port": int(runs.get("carbon_port", collectd.get("carbon_port", 2003))),
        "prefix": runs.get("prefix", "salt"),
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


def metric_prefix(prefix: str, minion_id: str, fun: str) -> str:
    """``salt.node1_example_org.state_apply``: dots in names would split the Graphite path."""
    clean = lambda text: re.sub(r"[^A-Za-z0-9_-]", "_", text)  # noqa: E731
    return f"{prefix}.{clean(minion_id)}.{clean(fun)}"


def returner(ret):
    """Send the run's metrics to carbon when monitoring:salt_runs:enabled is true."""
    settings = _settings()
    if not settings["enabled"]:
        return
    now = time.time()
    metrics = run_metrics(ret, now)
    if not metrics:
        return
    base = metric_prefix(settings["prefix"], str(ret.get("id", __opts__.get("id"))), ret["fun"])  # noqa: F821
    lines = "".join(f"{base}.{name} {float(value)} {int(now)}\n" for name, value in sorted(metrics.items()))
    try:
        with socket.create_connection((settings["host"], settings["port"]), timeout=5) as conn:
            conn.sendall(lines.encode())
    except OSError as exc:
        log.warning("salt_run_metrics: cannot send to carbon at %s:%s: %s", settings["host"], settings["port"], exc)
