"""
Engine: Alertmanager's webhook, for the masterless reactions' daemon (devstack-salt-minion).

Where the monitoring states run Alertmanager on this node (salt/monitoring/prometheus.sls), they
write in the daemon's minion.d ``devstack_salt_reactions:alert_hook`` (address, port, token
file, node). This engine serves ``POST /alerts`` there: a notification with the bearer token of
the token file becomes one event per firing alert that names a reaction the pillar declares
(``devstack_salt/alert/threshold`` or ``devstack_salt/alert/service``, for this node only), and
the reactor (salt/reactor/alerts.sls) runs the same reactions as the Graphite beacon's events.
Anything else fires nothing. Without that setting the engine waits and serves nothing. The logic
lives in ``devstack_salt.alert_hook``.

.. code-block:: yaml

    engines:
      - alert_hook: {}
"""

from __future__ import annotations

import logging
import os
import sys
import time

import salt.utils.event

# Salt's engine loader puts no utils folder on sys.path (see _beacons/metric_threshold.py).
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path += [d for d in (f"{_HERE}/utils", f"{_HERE}/_utils") if os.path.isdir(f"{d}/devstack_salt") and d not in sys.path]

from devstack_salt import alert_hook as _alert_hook  # noqa: E402 - after the path above

log = logging.getLogger(__name__)

__virtualname__ = "alert_hook"


def __virtual__():
    """Always available."""
    return __virtualname__


def start():
    """Serve the webhook where ``devstack_salt_reactions:alert_hook`` says; idle without it."""
    settings = __opts__.get("devstack_salt_reactions") or {}  # noqa: F821 - Salt dunder
    hook = settings.get("alert_hook")
    if not isinstance(hook, dict):
        while True:  # an engine that returns is started again: nothing to serve until a restart
            time.sleep(3600)
    thresholds = settings.get("thresholds") or {}
    services = (settings.get("reactions") or {}).get("services") or []
    with salt.utils.event.get_event("minion", opts=__opts__, listen=False) as bus:  # noqa: F821
        def fire(tag: str, data: dict) -> None:
            bus.fire_event(data, tag)

        wait = 5
        while True:  # a port held by another program: said once, tried again less and less often
            try:
                httpd = _alert_hook.server(hook["address"], int(hook["port"]), hook["token_file"], hook["node"],
                                           thresholds, services, fire, log)
                break
            except OSError as error:
                if wait == 5:
                    log.error("alert_hook: cannot serve Alertmanager's webhook on %s port %s: %s (trying again)",
                              hook["address"], hook["port"], error)
                time.sleep(wait)
                wait = min(wait * 2, 60)
        log.info("alert_hook: serving Alertmanager's webhook on %s port %s", hook["address"], hook["port"])
        httpd.serve_forever()
