"""
Alertmanager's webhook, as Salt's reactions hear it: who may call it (the bearer token
Alertmanager sends from its credentials file) and which of an alert notification's alerts name a
reaction the pillar declares. Only those become events, carrying nothing but the reaction's
name, the node, and the crossing (the alert's start): what runs is still the pillar's action,
through the same brakes as the Graphite beacon's events (``reactions``).

Pure Python: the engine (``_engines/alert_hook.py``) runs :func:`server` and fires its events
on the minion's event bus, where the reactor (``salt/reactor/alerts.sls``) hears them.
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import socket
from typing import Any, Callable

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


def read_token(path: str) -> str:
    """The bearer token in ``path`` (Alertmanager's credentials file), or "" when unreadable:
    then every call is refused. Read on each call, so a new token needs no restart."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def server(address: str, port: int, token_file: str, node: str, thresholds: Any, services: Any,
           fire: Callable[[str, dict], None], log: logging.Logger) -> http.server.HTTPServer:
    """An HTTP server (not yet serving) for Alertmanager's webhook at ``/alerts``: a POST with
    the token of ``token_file`` gets each declared reaction of this ``node`` fired as an event
    (``fire(tag, data)``); anything else is answered with an error and fires nothing. The log
    names the caller and the outcome, never a header or the body."""

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = 10  # a caller that stalls does not hold the hook

        def _answer(self, code: int, text: str) -> None:
            body = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            if self.path != "/alerts":
                return self._answer(404, "not found")
            if not authorized(self.headers.get("Authorization"), read_token(token_file)):
                log.warning("alert_hook: refused a call from %s without the token", self.client_address[0])
                return self._answer(401, "unauthorized")
            try:
                length = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._answer(411, "length required")
            if not 0 <= length <= MAX_BODY:
                return self._answer(413, "too large")
            found = [(tag, data) for tag, data in reactions(self.rfile.read(length), thresholds, services)
                     if data["node"] == node]
            for tag, data in found:
                fire(tag, data)
            log.info("alert_hook: %d reaction(s) from a notification of %s", len(found), self.client_address[0])
            return self._answer(200, f"{len(found)} reaction(s)")

        def do_GET(self) -> None:  # noqa: N802
            self._answer(405, "POST only")

        def log_message(self, *args: Any) -> None:  # the outcome is logged above, nothing else
            pass

    class Server(http.server.HTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET

    return Server((address, port), Handler)
