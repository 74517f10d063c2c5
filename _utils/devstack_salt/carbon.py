"""
Graphite's carbon server: carbon.conf and storage-schemas.conf from ``monitoring:carbon``, the
metric names and addresses it accepts, and its plaintext protocol (``path value timestamp``).

The collectd agent and Salt's run metrics both write to carbon, so what they share about it
(metric names, addresses, the monitoring pillar's sections) is defined here once.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Any

from .errors import DevstackSaltError, MonitoringError
from .listeners import is_port

#: A host name or address (IPv4, IPv6) in the pillar.
ADDRESS_RE = re.compile(r"[A-Za-z0-9_.:-]+\Z")
#: A Graphite metric path or prefix: dotted words.
METRIC_PART_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")
RETENTION_RE = re.compile(r"\d+[smhdwy]?:\d+[smhdwy]?(,\d+[smhdwy]?:\d+[smhdwy]?)*\Z")

#: carbon.conf [cache] as Debian ships it, minus what the role sets from pillar.
CARBON_CACHE_DEFAULTS = {
    "STORAGE_DIR": "/var/lib/graphite/",
    "LOCAL_DATA_DIR": "/var/lib/graphite/whisper/",
    "CONF_DIR": "/etc/carbon/",
    "LOG_DIR": "/var/log/carbon/",
    "PID_DIR": "/var/run/",
    "DATABASE": "whisper",
    "ENABLE_LOGROTATION": "False",
    "USER": "_graphite",
    "MAX_CACHE_SIZE": "inf",
    "MAX_UPDATES_PER_SECOND": "500",
    "MIN_TIMESTAMP_RESOLUTION": "1",
    "ENABLE_UDP_LISTENER": "False",
    "USE_INSECURE_UNPICKLER": "False",
    "USE_FLOW_CONTROL": "True",
    "LOG_UPDATES": "False",
    "LOG_CREATES": "False",
    "CACHE_WRITE_STRATEGY": "sorted",
    "WHISPER_AUTOFLUSH": "False",
    "WHISPER_FALLOCATE_CREATE": "True",
}

DEFAULT_SCHEMAS = [
    {"name": "carbon", "pattern": r"^carbon\.", "retentions": "60:90d"},
    {"name": "salt", "pattern": r"^salt\.", "retentions": "10s:1d,1m:30d,1h:1y"},
    {"name": "default", "pattern": ".*", "retentions": "10s:1d,1m:30d,1h:1y"},
]


def section(value: Any, root: str) -> dict:
    """The section of the monitoring pillar at ``root`` (or what a caller hands in as ``config``
    for it) as a mapping ({} when unset); MonitoringError naming ``root`` when it is not one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MonitoringError([f"{root} must be a mapping (got {type(value).__name__}); see README.md, "
                               "Monitoring role"])
    return value


def pillar_section(value: Any, name: str) -> dict:
    """``monitoring:<name>`` as a mapping ({} when unset); MonitoringError when it is not one."""
    return section(value, f"monitoring:{name}")


def carbon_settings(config: dict, root: str = "monitoring:carbon") -> dict[str, dict[str, str]]:
    """The carbon.conf sections for the pillar, Debian's defaults underneath."""
    errors: list[str] = []
    config = section(config, root)
    address = config.get("address", "127.0.0.1")
    if not isinstance(address, str) or not ADDRESS_RE.match(address):
        errors.append(f"{root}:address must be an address to listen on")
    ports = {}
    for key, default in (("port", 2003), ("pickle_port", 2004), ("query_port", 7002)):
        value = config.get(key, default)
        if not is_port(value):
            errors.append(f"{root}:{key} must be a port number")
        ports[key] = value
    creates = config.get("max_creates_per_minute", 1000)
    if isinstance(creates, bool) or not isinstance(creates, int) or creates <= 0:
        errors.append(f"{root}:max_creates_per_minute must be a positive number (new metrics per minute)")
    cache = dict(CARBON_CACHE_DEFAULTS)
    cache.update({
        "LINE_RECEIVER_INTERFACE": address, "LINE_RECEIVER_PORT": str(ports["port"]),
        "PICKLE_RECEIVER_INTERFACE": address, "PICKLE_RECEIVER_PORT": str(ports["pickle_port"]),
        "CACHE_QUERY_INTERFACE": address, "CACHE_QUERY_PORT": str(ports["query_port"]),
        # A new host brings hundreds of metrics at once; Debian's 50 a minute drops most of them.
        "MAX_CREATES_PER_MINUTE": str(creates),
    })
    extra = config.get("settings") or {}
    if not isinstance(extra, dict):
        errors.append(f"{root}:settings must be a mapping of carbon.conf [cache] keys to values")
        extra = {}
    for key, value in extra.items():
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", str(key)):
            errors.append(f"{root}:settings:{key} is not a carbon.conf key (UPPER_CASE)")
        elif not isinstance(value, (str, int, float, bool)) or "\n" in str(value):
            errors.append(f"{root}:settings:{key} must be a single-line value")
        elif key == "LOCAL_DATA_DIR" and not str(value).startswith("/"):
            errors.append(f"{root}:settings:{key} must be an absolute path (the web application and the "
                          "dashboards read carbon's whisper files there too)")
        else:
            cache[str(key)] = str(value)
    if errors:
        raise MonitoringError(errors)
    return {"cache": cache}


def whisper_dir(config: dict, root: str = "monitoring:carbon") -> str:
    """Where carbon writes its whisper files: LOCAL_DATA_DIR of its effective settings (Debian's,
    or ``monitoring:carbon:settings``), without a trailing slash. MonitoringError as
    :func:`carbon_settings`."""
    return carbon_settings(config, root)["cache"]["LOCAL_DATA_DIR"].rstrip("/") or "/"


def render_carbon_conf(config: dict, root: str = "monitoring:carbon") -> str:
    """carbon.conf with the [cache] section only (the relay and aggregator are not used)."""
    sections = carbon_settings(config, root)
    lines = ["# carbon.conf, written by Salt from the monitoring pillar (salt/monitoring)."]
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {values[key]}" for key in sorted(values))
    return "\n".join(lines) + "\n"


def render_storage_schemas(config: dict, root: str = "monitoring:carbon") -> str:
    """storage-schemas.conf: retention rules in pillar order (carbon uses the first match)."""
    errors: list[str] = []
    schemas = section(config, root).get("schemas", DEFAULT_SCHEMAS)
    if not isinstance(schemas, list) or not schemas:
        raise MonitoringError([f"{root}:schemas must be a non-empty list of {{name, pattern, retentions}}"])
    lines = ["# storage-schemas.conf, written by Salt from the monitoring pillar. First match wins."]
    for i, schema in enumerate(schemas):
        where = f"{root}:schemas[{i}]"
        if not isinstance(schema, dict) or set(schema) != {"name", "pattern", "retentions"}:
            errors.append(f"{where} must have exactly name, pattern and retentions")
            continue
        name, pattern, retentions = (str(schema[k]) for k in ("name", "pattern", "retentions"))
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            errors.append(f"{where}:name must be letters, digits, '_' and '-'")
        try:
            re.compile(pattern)
        except re.error as exc:
            errors.append(f"{where}:pattern is not a regular expression: {exc}")
        if "\n" in pattern:
            errors.append(f"{where}:pattern must be a single line")
        if not RETENTION_RE.match(retentions):
            errors.append(f"{where}:retentions must look like 10s:1d,1m:30d")
        lines += ["", f"[{name}]", f"pattern = {pattern}", f"retentions = {retentions}"]
    if errors:
        raise MonitoringError(errors)
    return "\n".join(lines) + "\n"


def send_plaintext(metrics: dict, host: str, port: int, timeout: float = 5.0, when: float | None = None) -> int:
    """Carbon's line protocol over TCP: ``path value timestamp`` per line, in the order of
    ``metrics``. Returns the number of lines sent; DevstackSaltError names a bad metric path
    before anything is sent, OSError is carbon not answering."""
    stamp = int(when if when is not None else time.time())
    lines = []
    for path, value in metrics.items():
        if not METRIC_PART_RE.match(str(path)):
            raise DevstackSaltError(f"metric path {path!r} must be dotted words")
        lines.append(f"{path} {float(value)} {stamp}\n")
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall("".join(lines).encode())
    return len(lines)
