"""
Alertmanager's webhook, as Salt's reactions hear it: who may call it (the bearer token
Alertmanager sends from its credentials file) and which of an alert notification's alerts name a
reaction the pillar declares. Only those become events, carrying nothing but the reaction's
name, the node, and the crossing (the alert's start): what runs is still the pillar's action,
through the same brakes as the Graphite beacon's events (``reactions``).

Pure Python: the engine that serves the webhook hands the request in.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

#: The event tags the reactor maps to monitoring.react_threshold and monitoring.react_service.
THRESHOLD_TAG = "devstack_salt/alert/threshold"
SERVICE_TAG = "devstack_salt/alert/service"
#: A notification larger than this is refused unread (Alertmanager's are a few kB).
MAX_BODY = 1 << 20


def authorized(header: Any, token: str) -> bool:
    """Whether an Authorization header carries the token (compared in constant time); never
    true for an empty token."""
    if not token or not isinstance(header, str):
        return False
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def reactions(body: bytes, thresholds: Any, services: Any) -> list[tuple[str, dict]]:
    """(tag, data) for each firing alert of an Alertmanager notification (webhook version 4)
    that names a declared reaction: an alert named after one of ``thresholds`` (the pillar's
    ``monitoring:thresholds``) becomes {"threshold", "crossing", "node"}; one with a ``service``
    label among ``services`` (``monitoring:reactions:services``) becomes {"service_name",
    "node"}. Resolved alerts, other names, other services and anything malformed give nothing."""
    try:
        notification = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    alerts = notification.get("alerts") if isinstance(notification, dict) else None
    if not isinstance(alerts, list):
        return []
    thresholds = thresholds if isinstance(thresholds, dict) else {}
    services = services if isinstance(services, list) else []
    found: list[tuple[str, dict]] = []
    for alert in alerts:
        if not isinstance(alert, dict) or alert.get("status") != "firing":
            continue
        labels = alert.get("labels")
        if not isinstance(labels, dict) or not isinstance(labels.get("node"), str):
            continue
        name, node, started = labels.get("alertname"), labels["node"], alert.get("startsAt")
        if isinstance(name, str) and name in thresholds and isinstance(started, str):
            found.append((THRESHOLD_TAG, {"threshold": name, "crossing": started, "node": node}))
        elif labels.get("service") in services:
            found.append((SERVICE_TAG, {"service_name": labels["service"], "node": node}))
    return found
