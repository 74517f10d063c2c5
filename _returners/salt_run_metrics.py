"""
Salt measures itself: send each state run's duration, number of states, changes and failures
to Graphite carbon (core Salt's carbon returner was removed in 3008).

Enabled by pillar (``monitoring:salt_runs:enabled``) and by naming the returner, which
bin/configure does in the project's minion config (``return: salt_run_metrics``), so every
``salt-call`` state run reports. The metrics are listed in ``devstack_salt.run_metrics``.

Only state functions (state.apply, state.highstate, state.sls, ...) are measured; a failure to
reach carbon is logged, never raised: measuring must not break the run it measures.
"""

from __future__ import annotations

import logging
import os
import sys
import time

# No utils folder on sys.path for returners either (see _beacons/metric_threshold.py).
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path += [d for d in (f"{_HERE}/utils", f"{_HERE}/_utils") if os.path.isdir(f"{d}/devstack_salt") and d not in sys.path]

from devstack_salt import run_metrics as _run_metrics  # noqa: E402 - after the path above
from devstack_salt.carbon import send_plaintext as _send_plaintext
from devstack_salt.errors import DevstackSaltError as _DevstackSaltError
from devstack_salt.faces import role_addresses_elsewhere as _role_addresses_elsewhere

log = logging.getLogger(__name__)

__virtualname__ = "salt_run_metrics"


def __virtual__():
    """Always available (plain TCP to carbon)."""
    return __virtualname__


def _monitoring_nodes() -> list:
    """The other monitoring nodes' addresses from the mine (where a node that is not the carbon
    server sends its runs)."""
    return list(_role_addresses_elsewhere(globals().get("__salt__") or {}, __opts__.get("id"), "monitoring").values())  # noqa: F821


def returner(ret):
    """Send the run's metrics to carbon when monitoring:salt_runs:enabled is true."""
    try:
        settings = _run_metrics.settings((__opts__.get("pillar") or {}).get("monitoring"), _monitoring_nodes)  # noqa: F821
    except _DevstackSaltError as exc:
        log.warning("salt_run_metrics: nothing sent: %s", exc)
        return
    if not settings["enabled"]:
        return
    now = time.time()
    metrics = _run_metrics.paths(ret, str(ret.get("id", __opts__.get("id"))), settings["prefix"], now)  # noqa: F821
    if not metrics:
        return
    try:
        _send_plaintext(metrics, settings["host"], settings["port"], 5, now)
    except (OSError, _DevstackSaltError) as exc:
        log.warning("salt_run_metrics: cannot send to carbon at %s:%s: %s", settings["host"], settings["port"], exc)
