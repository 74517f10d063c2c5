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

import contextlib
import hmac
import http.server
import json
import logging
import socket
import sys
import threading
from typing import Any, Callable

#: The event tags the reactor maps to monitoring.react_threshold and monitoring.react_service.
THRESHOLD_TAG = "devstack_salt/alert/threshold"
SERVICE_TAG = "devstack_salt/alert/service"
#: A notification larger than this is refused unread (Alertmanager's are a few kB).
MAX_BODY = 1 << 20
#: The alert rule that names a watched service (prometheus.service_rules).
SERVICE_ALERT = "ServiceDown"
#: Seconds a caller has to send its whole request: one that stalls holds only its own thread.
REQUEST_SECONDS = 10


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
        elif name == SERVICE_ALERT and labels.get("service") in services:
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
    (``fire(tag, data)``, one at a time); anything else is answered with an error and fires
    nothing. Each call has its own thread and REQUEST_SECONDS to arrive whole, so a caller that
    stalls holds no one else. The log names the caller and the outcome, never a header or the
    body. An IPv6 wildcard ``address`` takes IPv4 too (Alertmanager is given 127.0.0.1)."""
    firing = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        timeout = REQUEST_SECONDS  # each read (and the whole request, setup)

        def setup(self) -> None:
            super().setup()
            # The whole request's deadline: past it the connection is shut, whatever is read.
            self._deadline = threading.Timer(REQUEST_SECONDS, self._cut)
            self._deadline.daemon = True
            self._deadline.start()

        def _cut(self) -> None:
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def finish(self) -> None:
            self._deadline.cancel()
            with contextlib.suppress(OSError):  # the caller may be gone
                super().finish()

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
            try:
                body = self.rfile.read(length)
            except OSError:  # timed out or gone: nothing was heard, no one to answer
                return None
            if len(body) != length:  # cut at the deadline, or the caller stopped sending
                return None
            found = [(tag, data) for tag, data in reactions(body, thresholds, services) if data["node"] == node]
            with firing:
                for tag, data in found:
                    fire(tag, data)
            log.info("alert_hook: %d reaction(s) from a notification of %s", len(found), self.client_address[0])
            return self._answer(200, f"{len(found)} reaction(s)")

        def do_GET(self) -> None:  # noqa: N802
            self._answer(405, "POST only")

        def log_message(self, *args: Any) -> None:  # the outcome is logged above, nothing else
            pass

    class Server(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        daemon_threads = True

        def server_bind(self) -> None:
            if self.address_family == socket.AF_INET6 and address in ("::", "[::]"):
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

        def handle_error(self, request: Any, client_address: Any) -> None:  # one line, no traceback
            log.warning("alert_hook: a call from %s ended early: %s", client_address[0], sys.exc_info()[1])

    return Server((address, port), Handler)
