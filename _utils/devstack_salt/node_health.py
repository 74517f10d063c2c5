"""
The health of a stacked node: probes of the services it enables (Keystone, Swift's proxy, the
database, RabbitMQ), each answering "ok (...)" or "failing: ..." and never raising.
"""

from __future__ import annotations

import socket
import urllib.request

from .contract import DEVSTACK_RABBIT_PORT
from .localconf import effective_services, resolve_literal


def service_health(cfg: dict, model: dict) -> dict[str, str]:
    """Probe the enabled services of a stacked node: Keystone, Swift proxy, MySQL, RabbitMQ."""
    enabled = set(effective_services(model))
    early = {"DEST": cfg["dest"]}
    localrc = model["localrc"]
    host = resolve_literal(localrc, "SERVICE_HOST", early) or resolve_literal(localrc, "HOST_IP", early) or "127.0.0.1"
    checks: dict[str, str] = {}
    if "key" in enabled:
        checks["keystone"] = _http_check(f"http://{host}/identity/v3")
    if "s-proxy" in enabled:
        checks["swift-proxy"] = _http_check(f"http://{host}:8080/healthcheck")
    if enabled & {"mysql", "postgresql"} or "DATABASE_HOST" in localrc:
        db_host = resolve_literal(localrc, "DATABASE_HOST", early) or host
        checks["database"] = _tcp_check(db_host, 5432 if "postgresql" in enabled else 3306)
    if "rabbit" in enabled or "RABBIT_HOST" in localrc:
        checks["rabbitmq"] = _tcp_check(resolve_literal(localrc, "RABBIT_HOST", early) or host, DEVSTACK_RABBIT_PORT)
    return checks


def _http_check(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return f"ok (HTTP {response.status} from {url})"
    except Exception as exc:  # any failure is a health answer, not an error
        return f"failing: {url}: {exc}"


def _tcp_check(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=5):
            return f"ok ({host}:{port} accepts connections)"
    except OSError as exc:
        return f"failing: {host}:{port}: {exc.strerror or exc}"
