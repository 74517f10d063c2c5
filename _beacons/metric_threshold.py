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
The logic lives in ``devstack_salt.thresholds``.

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

import os
import sys

# Salt's beacon and returner loaders put no utils folder on sys.path (the execution and state
# loaders do): the synced package is in <extension_modules>/utils, beside this file's folder (in a
# checkout, _utils; installed as an extension, devstack_salt is importable already).
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path += [d for d in (f"{_HERE}/utils", f"{_HERE}/_utils") if os.path.isdir(f"{d}/devstack_salt") and d not in sys.path]

from devstack_salt import thresholds as _thresholds  # noqa: E402 - after the path above
from devstack_salt import whisper as _whisper  # noqa: E402

__virtualname__ = "metric_threshold"


def __virtual__():
    """Always available."""
    return __virtualname__


def validate(config):
    """Check that every threshold names a known source and a numeric limit."""
    return _thresholds.validate(_thresholds.merged(config))


def beacon(config):
    """Report every tripped threshold, with the id of its crossing."""
    conf = _thresholds.merged(config)
    record = os.path.join(__opts__["cachedir"], _thresholds.STATE_FILE)  # noqa: F821 - Salt dunder
    # carbon: sources are read where this node's carbon writes (its carbon.conf), unless told.
    return _thresholds.check(conf.get("thresholds", {}), record, conf.get("whisper_dir") or _whisper.data_dir())
