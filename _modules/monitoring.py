"""
Monitoring configuration from pillar: the collectd agent and the Graphite carbon server.

One generic renderer writes collectd's configuration for any plugin with any options, blocks
included; carbon's ``carbon.conf`` and ``storage-schemas.conf`` are rendered from the same pillar.
The SLS files in ``salt/monitoring/`` hand the rendered text to ``file.managed`` (atomic writes,
test=True, mode) and hide the diff when the text holds a secret.

Pillar (see README.md, "Monitoring role")::

    monitoring:
      carbon: {address: 127.0.0.1, port: 2003, pickle_port: 2004, query_port: 7002,
               max_creates_per_minute: 1000, schemas: [{name, pattern, retentions}], settings: {}}
      collectd: {interval: 10, prefix: collectd, carbon_host: 127.0.0.1, carbon_port: 2003,
                 plugins: {cpu: {}, df: {MountPoint: /, IgnoreSelected: false}, ...},
                 role_metrics: {database: {user: collectd}, broker: {user: collectd}},
                 packages: [extra Debian packages for plugins]}
      salt_runs: {enabled: true, prefix: salt}
"""

from __future__ import annotations

import json
import os
import re
import socket
from typing import Any

from salt.exceptions import CommandExecutionError


__virtualname__ = "monitoring"

PLUGIN_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
SECRET_KEY_RE = re.compile(r"password|secret|token|passwd", re.I)
ADDRESS_RE = re.compile(r"[A-Za-z0-9_.:-]+\Z")
METRIC_PART_RE = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")
RETENTION_RE = re.compile(r"\d+[smhdwy]?:\d+[smhdwy]?(,\d+[smhdwy]?:\d+[smhdwy]?)*\Z")

#: Plugins every node reports when the pillar does not name its own list.
DEFAULT_PLUGINS = {
    "cpu": {},
    "memory": {},
    "load": {},
    "df": {"MountPoint": "/", "IgnoreSelected": False},
    "interface": {"Interface": "lo", "IgnoreSelected": True},
    "processes": {},
}

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

#: Debian's collectd-core only suggests the libraries its plugins link against: the ones the
#: plugins of a rendered configuration need are installed with it (salt/monitoring/agent.sls).
PLUGIN_PACKAGES = {
    "mysql": ["libmariadb3"],
    "curl": ["libcurl3-gnutls"],
    "curl_json": ["libcurl3-gnutls", "libyajl2"],
    "curl_xml": ["libcurl3-gnutls", "libxml2"],
    "postgresql": ["libpq5"],
    "memcachec": ["libmemcached11"],
    "ping": ["liboping0"],
    "rrdtool": ["librrd8"],
}

#: Where Debian's collectd-core keeps its plugins.
PLUGIN_DIR = "/usr/lib/collectd"

#: The database server's socket (Debian's MariaDB), where collectd's mysql plugin connects.
MYSQL_SOCKET = "/run/mysqld/mysqld.sock"

#: What collectd reads from RabbitMQ's management API (/api/overview): message and object
#: totals of the whole broker (gauges) and the publish/deliver counters (rates in Graphite).
RABBITMQ_OVERVIEW_KEYS = {
    "queue_totals/messages": "gauge",
    "queue_totals/messages_ready": "gauge",
    "queue_totals/messages_unacknowledged": "gauge",
    "object_totals/connections": "gauge",
    "object_totals/channels": "gauge",
    "object_totals/queues": "gauge",
    "object_totals/consumers": "gauge",
    "object_totals/exchanges": "gauge",
    "message_stats/publish": "derive",
    "message_stats/deliver_get": "derive",
}

DEFAULT_SCHEMAS = [
    {"name": "carbon", "pattern": r"^carbon\.", "retentions": "60:90d"},
    {"name": "salt", "pattern": r"^salt\.", "retentions": "10s:1d,1m:30d,1h:1y"},
    {"name": "default", "pattern": ".*", "retentions": "10s:1d,1m:30d,1h:1y"},
]


def __virtual__():
    """Always available: rendering needs only the standard library."""
    return __virtualname__


class MonitoringError(CommandExecutionError):
    """Invalid monitoring pillar; ``errors`` lists every problem by its pillar path."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(["invalid monitoring pillar:"] + ["- " + e for e in self.errors]))


# --------------------------------------------------------------------------------------------
# collectd
# --------------------------------------------------------------------------------------------


def collectd_value(value: Any, where: str, errors: list[str]) -> str | None:
    """One collectd argument: strings quoted and escaped, numbers and booleans bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        if "\n" in value or "\r" in value or "\0" in value:
            errors.append(f"{where} must be a single line")
            return None
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    errors.append(f"{where} must be a string, number or true/false")
    return None


def render_block(options: dict, where: str, errors: list[str], indent: int = 1) -> list[str]:
    """Lines for the options of a plugin or block.

    ``Key: value`` -> ``Key value``; ``Key: [a, b]`` -> one line each; ``Key: [[a, b]]`` -> one
    line with several arguments; ``"Key label": {...}`` -> ``<Key "label"> ... </Key>``;
    ``Key: {...}`` -> ``<Key> ... </Key>``.
    """
    pad = "  " * indent
    lines: list[str] = []
    for key in options:
        value = options[key]
        name, _, label = str(key).partition(" ")
        path = f"{where}:{key}"
        if not KEY_RE.match(name):
            errors.append(f"{path}: an option name is letters, digits and '_' (a block is 'Name label')")
            continue
        if isinstance(value, dict):
            quoted = collectd_value(label, f"{path} (its label)", errors) if label else ""
            if quoted is None:
                continue
            opening = f"<{name}" + (" " + quoted if label else "") + ">"
            lines.append(pad + opening)
            lines.extend(render_block(value, path, errors, indent + 1))
            lines.append(f"{pad}</{name}>")
            continue
        if label:
            errors.append(f"{path}: only a block (a mapping) takes a label after its name")
            continue
        for item in value if isinstance(value, list) else [value]:
            args = item if isinstance(item, list) else [item]
            rendered = [collectd_value(arg, path, errors) for arg in args]
            if None not in rendered:
                lines.append(f"{pad}{name} " + " ".join(rendered))
    return lines


def render_collectd_conf(config: dict, root: str = "monitoring:collectd", plugin_dir: str | None = None) -> str:
    """collectd.conf for a node: globals, LoadPlugin lines and a block per configured plugin.

    write_graphite is always added, pointing at the carbon host of the pillar. With
    ``plugin_dir`` (collectd's plugin directory, when collectd is installed) every plugin must
    exist there: collectd itself would only log the failure and run without it.
    """
    errors: list[str] = []
    config = config or {}
    interval = config.get("interval", 10)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        errors.append(f"{root}:interval must be a number of seconds greater than 0")
    host = config.get("carbon_host", "127.0.0.1")
    port = config.get("carbon_port", 2003)
    prefix = config.get("prefix", "collectd")
    if not isinstance(host, str) or not ADDRESS_RE.match(host):
        errors.append(f"{root}:carbon_host must be a host name or address")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        errors.append(f"{root}:carbon_port must be a port number")
    if not isinstance(prefix, str) or not METRIC_PART_RE.match(prefix):
        errors.append(f"{root}:prefix must be dotted words (letters, digits, '_', '-')")
    plugins = config.get("plugins", DEFAULT_PLUGINS)
    if not isinstance(plugins, dict):
        errors.append(f"{root}:plugins must be a mapping of plugin name to its options")
        plugins = {}
    plugins = {**plugins, "write_graphite": {f"Node carbon": {
        "Host": host, "Port": str(port), "Protocol": "tcp", "Prefix": f"{prefix}.",
        "StoreRates": True, "AlwaysAppendDS": False, "EscapeCharacter": "_", "LogSendErrors": True,
    }}}
    lines = [
        "# collectd.conf, written by Salt from the monitoring pillar (salt/monitoring).",
        "# Edits here are overwritten on the next apply: change the pillar instead.",
        f"Interval {interval}",
        "FQDNLookup false",
        "",
        "LoadPlugin logfile",
        "<Plugin logfile>",
        '  LogLevel "info"',
        '  File "/var/log/collectd.log"',
        "</Plugin>",
    ]
    for name in sorted(plugins):
        options = plugins[name]
        where = f"{root}:plugins:{name}"
        if not PLUGIN_RE.match(str(name)):
            errors.append(f"{where}: a plugin name is lower-case letters, digits and '_'")
            continue
        if options is None:
            options = {}
        if not isinstance(options, dict):
            errors.append(f"{where} must be a mapping of options ({{}} for none)")
            continue
        if plugin_dir and os.path.isdir(plugin_dir) and not os.path.exists(os.path.join(plugin_dir, f"{name}.so")):
            errors.append(f"{where}: collectd has no plugin {name} ({plugin_dir}/{name}.so); check the name")
            continue
        lines.append("")
        lines.append(f"LoadPlugin {name}")
        body = render_block(options, where, errors)
        if body:
            lines.append(f"<Plugin {name}>")
            lines.extend(body)
            lines.append("</Plugin>")
    if errors:
        raise MonitoringError(errors)
    return "\n".join(lines) + "\n"


def pillar_section(value: Any, name: str) -> dict:
    """``monitoring:<name>`` as a mapping ({} when unset); MonitoringError when it is not one."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MonitoringError([f"monitoring:{name} must be a mapping (got {type(value).__name__}); see README.md, "
                               "Monitoring role"])
    return value


def merge_role_plugins(config: dict, extra: dict) -> dict:
    """``config`` with the role plugins merged into its plugins (block by block, the pillar's first)."""
    if not extra:
        return config
    plugins = config.get("plugins", DEFAULT_PLUGINS) or {}
    plugins = dict(plugins) if isinstance(plugins, dict) else {}
    for name, blocks in extra.items():
        own = plugins.get(name)
        plugins[name] = {**(own if isinstance(own, dict) else {}), **blocks}
    return {**config, "plugins": plugins}


def has_secret(config: Any) -> bool:
    """True when any option name in the (nested) config looks like a secret."""
    if isinstance(config, dict):
        return any(SECRET_KEY_RE.search(str(k)) or has_secret(v) for k, v in config.items())
    if isinstance(config, list):
        return any(has_secret(v) for v in config)
    return False


def carries(roles: Any, role: str) -> bool:
    """True when the node's ``roles`` pillar gives it ``role`` (all-in-one carries every role)."""
    roles = roles if isinstance(roles, list) else [roles]
    return role in roles or "all-in-one" in roles


def _role_account(settings: Any, role: str, accounts: Any, root: str, errors: list[str]) -> tuple:
    """(user, password) for ``role_metrics:<role>:user``, declared under ``<role>:users``."""
    where = f"{root}:{role}"
    if not isinstance(settings, dict) or set(settings) - {"user", "socket"} or not settings.get("user"):
        errors.append(f"{where} must be a mapping with user (one of {role}:users)")
        return None, None
    user = settings["user"]
    account = accounts.get(user) if isinstance(accounts, dict) and isinstance(user, str) else None
    if not isinstance(account, dict):
        errors.append(f"{where}:user: {user!r} is not declared under {role}:users; declare it there "
                      f"(see pillar/{role}.sls) or remove {where}")
        return None, None
    password = account.get("password")
    if not isinstance(password, str) or not password:
        errors.append(f"{role}:users:{user}:password is not set: bin/configure generates it in "
                      ".salt/pillar/secrets.sls (run it again; existing passwords are kept)")
        return None, None
    return user, account


def role_plugins(settings: Any, roles: Any, database: Any, broker: Any,
                 root: str = "monitoring:collectd:role_metrics") -> dict:
    """collectd plugin blocks for the metrics of the roles this node carries: MariaDB through
    the mysql plugin on the server's socket, RabbitMQ through curl_json on the management API.
    Each reads as an account declared in its own role's pillar, the password in its one place
    (``database:users:<user>:password``, ``broker:users:<user>:password``)."""
    errors: list[str] = []
    settings = settings or {}
    if not isinstance(settings, dict) or set(settings) - {"database", "broker"}:
        raise MonitoringError([f"{root} must be a mapping with database and/or broker"])
    plugins: dict = {}
    if settings.get("database") and carries(roles, "database"):
        database = database if isinstance(database, dict) else {}
        user, account = _role_account(settings["database"], "database", database.get("users"), root, errors)
        hosts = account.get("hosts", ["localhost"]) if user else []
        if user and (not isinstance(hosts, list) or "localhost" not in hosts):
            errors.append(f"database:users:{user}:hosts must include localhost: collectd connects through "
                          "the server's socket")
        elif user:
            plugins["mysql"] = {"Database mariadb": {
                "Socket": settings["database"].get("socket", MYSQL_SOCKET), "User": user,
                "Password": account["password"], "InnodbStats": True,
            }}
    if settings.get("broker") and carries(roles, "broker"):
        broker = broker if isinstance(broker, dict) else {}
        user, account = _role_account(settings["broker"], "broker", broker.get("users"), root, errors)
        tags = account.get("tags", []) if user else []
        tags = [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []
        if user and not {"monitoring", "administrator"} & set(tags):
            errors.append(f"broker:users:{user}:tags must include monitoring: the management API shows "
                          "the whole broker's statistics to monitoring users only")
        broker_plugins = broker.get("plugins")
        if not isinstance(broker_plugins, list) or "rabbitmq_management" not in broker_plugins:
            errors.append("broker:plugins must include rabbitmq_management: collectd reads RabbitMQ's "
                          f"statistics from the management API (or remove {root}:broker)")
        elif user and not errors:
            address = str(broker.get("address") or "127.0.0.1")
            address = "127.0.0.1" if address in ("0.0.0.0", "::", "*") else address
            host = f"[{address}]" if ":" in address else address
            url = f"http://{host}:{broker.get('management_port') or 15672}/api/overview"
            plugins["curl_json"] = {f"URL {url}": {
                "Instance": "rabbitmq", "User": user, "Password": account["password"], "Timeout": 5000,
                **{f"Key {key}": {"Type": kind} for key, kind in RABBITMQ_OVERVIEW_KEYS.items()},
            }}
    if errors:
        raise MonitoringError(errors)
    return plugins


def plugin_packages(config: dict, root: str = "monitoring:collectd") -> list[str]:
    """The Debian packages the configured plugins need beside collectd-core, plus the pillar's
    ``packages`` list, sorted and without repeats."""
    extra = (config or {}).get("packages", [])
    if not isinstance(extra, list) or not all(isinstance(p, str) and re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p)
                                              for p in extra):
        raise MonitoringError([f"{root}:packages must be a list of Debian package names"])
    plugins = (config or {}).get("plugins", DEFAULT_PLUGINS) or {}
    needed = set(extra)
    for name in plugins:
        needed.update(PLUGIN_PACKAGES.get(str(name), []))
    return sorted(needed)


# --------------------------------------------------------------------------------------------
# carbon
# --------------------------------------------------------------------------------------------


def carbon_settings(config: dict, root: str = "monitoring:carbon") -> dict[str, dict[str, str]]:
    """The carbon.conf sections for the pillar, Debian's defaults underneath."""
    errors: list[str] = []
    config = config or {}
    address = config.get("address", "127.0.0.1")
    if not isinstance(address, str) or not ADDRESS_RE.match(address):
        errors.append(f"{root}:address must be an address to listen on")
    ports = {}
    for key, default in (("port", 2003), ("pickle_port", 2004), ("query_port", 7002)):
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
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
        else:
            cache[str(key)] = str(value)
    if errors:
        raise MonitoringError(errors)
    return {"cache": cache}


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
    schemas = (config or {}).get("schemas", DEFAULT_SCHEMAS)
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


# --------------------------------------------------------------------------------------------
# Salt execution functions
# --------------------------------------------------------------------------------------------


def _section(name: str) -> dict:
    return pillar_section(__salt__["pillar.get"](f"monitoring:{name}", {}, unmask=True), name)  # noqa: F821


def _collectd_config() -> dict:
    """``monitoring:collectd`` with the carbon host resolved (the mine, when the pillar leaves it
    out) and the role plugins merged into its plugins (block by block, the pillar's own first)."""
    config = dict(_section("collectd"))
    if not config.get("carbon_host"):
        config["carbon_host"] = _carbon_from_mine()
    pillar_get = __salt__["pillar.get"]  # noqa: F821 - Salt dunder
    extra = role_plugins(config.get("role_metrics"), pillar_get("roles", [], unmask=True),
                         pillar_get("database", {}, unmask=True), pillar_get("broker", {}, unmask=True))
    return merge_role_plugins(config, extra)


def collectd_conf(config=None):
    """
    Render collectd.conf from ``monitoring:collectd`` (or ``config``), with the metrics of the
    database and broker roles when this node carries them (``role_metrics``). The text holds
    their passwords: the SLS writes it 0600 with its diff hidden.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.collectd_conf --out=newline_values_only
    """
    return render_collectd_conf(_collectd_config() if config is None else config, plugin_dir=PLUGIN_DIR)


def _carbon_from_mine() -> str:
    """The address of the node carrying the monitoring role (another node), else loopback."""
    if "topology.role_addresses" not in __salt__:  # noqa: F821
        return "127.0.0.1"
    try:
        found = __salt__["topology.role_addresses"]("monitoring")  # noqa: F821
    except Exception:  # no mine yet
        return "127.0.0.1"
    others = [addr for minion, addr in found.items() if minion != __opts__.get("id")]  # noqa: F821
    return others[0] if others else "127.0.0.1"


def collectd_has_secret(config=None):
    """
    True when the rendered collectd.conf holds a password (the SLS then hides the file's diff).

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.collectd_has_secret
    """
    return has_secret(_collectd_config() if config is None else config)


def collectd_packages(config=None):
    """
    The Debian packages the configured collectd plugins need beside collectd-core.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.collectd_packages
    """
    return plugin_packages(_collectd_config() if config is None else config)


def carbon_conf(config=None):
    """
    Render carbon.conf from ``monitoring:carbon`` (or ``config``).

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.carbon_conf
    """
    return render_carbon_conf(_section("carbon") if config is None else config)


def storage_schemas(config=None):
    """
    Render storage-schemas.conf from ``monitoring:carbon:schemas`` (or ``config``).

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.storage_schemas
    """
    return render_storage_schemas(_section("carbon") if config is None else config)


def send_metrics(metrics, host="127.0.0.1", port=2003, timeout=5):
    """
    Send ``{path: value}`` to carbon's plaintext port now. Returns the number of lines sent.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.send_metrics '{"test.value": 1}' port=2003
    """
    return send_plaintext(metrics, host, int(port), float(timeout))


def send_plaintext(metrics: dict, host: str, port: int, timeout: float = 5.0, when: float | None = None) -> int:
    """Carbon's line protocol over TCP: ``path value timestamp`` per line."""
    import time

    stamp = int(when if when is not None else time.time())
    lines = []
    for path, value in metrics.items():
        if not METRIC_PART_RE.match(str(path)):
            raise CommandExecutionError(f"metric path {path!r} must be dotted words")
        lines.append(f"{path} {float(value)} {stamp}\n")
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall("".join(lines).encode())
    return len(lines)


# --------------------------------------------------------------------------------------------
# Reactions (called by the reactor through the caller client; see salt/reactor/)
# --------------------------------------------------------------------------------------------

REACTIONS_DIR = "/var/lib/devstack-salt/reactions"
REACTIONS_LOG = "/var/lib/devstack-salt/reactions.jsonl"


def _reaction_settings() -> dict:
    value = __salt__["pillar.get"]("monitoring:reactions", {}, unmask=True) or {}  # noqa: F821
    return {"enabled": bool(value.get("enabled", False)), "min_interval": float(value.get("min_interval", 60)),
            "services": list(value.get("services", []))}


def brake(key: str, min_interval: float, state_running: bool, now: float) -> str | None:
    """Why a reaction must not happen now (None: go ahead), and arm the interval when it goes.

    No reaction while a state run is under way (the run itself may be restarting the daemon:
    reacting would fight it), and at most one reaction per ``key`` every ``min_interval`` s,
    so an event flood or a reaction that triggers its own event cannot loop.
    """
    if state_running:
        return "a state run is under way"
    os.makedirs(REACTIONS_DIR, mode=0o700, exist_ok=True)
    stamp = os.path.join(REACTIONS_DIR, re.sub(r"[^A-Za-z0-9_.-]", "_", key))
    try:
        since = now - os.path.getmtime(stamp)
    except OSError:
        since = None
    if since is not None and since < min_interval:
        return f"reacted {since:.0f} s ago (min_interval {min_interval:.0f} s)"
    with open(stamp, "w", encoding="utf-8"):
        pass
    os.utime(stamp, (now, now))
    return None


def record(entry: dict) -> dict:
    """Append a reaction to the reactions log (JSON lines, root only) and return it."""
    os.makedirs(os.path.dirname(REACTIONS_LOG), mode=0o700, exist_ok=True)
    fd = os.open(REACTIONS_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
    return entry


def _state_running() -> bool:
    return bool(__salt__["saltutil.is_running"]("state.*"))  # noqa: F821


def react_service(tag, data):
    """
    Start a watched service that a beacon reported as not running, unless a state run is under
    way or this service was restarted less than ``monitoring:reactions:min_interval`` s ago.
    The reactor calls this (salt/reactor/beacons.sls, or master_service_down.sls on a master);
    every reaction is recorded in /var/lib/devstack-salt/reactions.jsonl with the event that
    caused it.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.react_service tag=manual data='{"service_name": "carbon-cache"}'
    """
    import time

    service = (data or {}).get("service_name")
    settings = _reaction_settings()
    # With a master, pillar beacons run whatever reactions:enabled says: the switch is kept here.
    if not settings["enabled"]:
        return {"action": None, "reason": "monitoring:reactions:enabled is false"}
    if service not in settings["services"]:
        return {"action": None, "reason": f"{service} is not in monitoring:reactions:services"}
    if ((data or {}).get(service) or {}).get("running"):
        return {"action": None, "reason": f"{service} is running"}
    # The event may predate a restart (the beacon repeats it while the daemon is down, a master
    # relays it): look again before acting.
    if __salt__["service.status"](service):  # noqa: F821
        return {"action": None, "reason": f"{service} is running now"}
    now = time.time()
    why_not = brake(f"service-{service}", settings["min_interval"], _state_running(), now)
    entry = {"time": now, "tag": tag, "event": data, "action": f"service.start {service}"}
    if why_not:
        return record({**entry, "skipped": why_not})
    __salt__["service.start"](service)  # noqa: F821
    return record({**entry, "running_after": bool(__salt__["service.status"](service))})  # noqa: F821


def react_threshold(tag, data):
    """
    Run the action that ``monitoring:thresholds:<name>:action`` names (``{function, args,
    kwargs}``) once per crossing of a threshold (the beacon reports a tripped threshold on every
    interval with the same ``crossing`` id), with the same brakes as ``react_service``: a
    reaction that must wait happens on a later report of the same crossing. Recorded in
    /var/lib/devstack-salt/reactions.jsonl.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.react_threshold tag=manual data='{"threshold": "root_disk_full", "crossing": 1}'
    """
    import time

    data = data or {}
    name = data.get("threshold")
    if not _reaction_settings()["enabled"]:
        return {"action": None, "reason": "monitoring:reactions:enabled is false"}
    spec = __salt__["pillar.get"](f"monitoring:thresholds:{name}", None, unmask=True)  # noqa: F821
    if not isinstance(spec, dict) or not isinstance(spec.get("action"), dict):
        return {"action": None, "reason": f"monitoring:thresholds:{name}:action is not set"}
    done = os.path.join(REACTIONS_DIR, re.sub(r"[^A-Za-z0-9_.-]", "_", f"threshold-{name}.crossing"))
    crossing = str(data.get("crossing"))
    try:
        with open(done, encoding="utf-8") as handle:
            if handle.read() == crossing:
                return {"action": None, "reason": "already acted on this crossing"}
    except FileNotFoundError:
        pass
    action = spec["action"]
    function = action.get("function")
    now = time.time()
    entry = {"time": now, "tag": tag, "event": data, "action": function}
    if function not in __salt__:  # noqa: F821
        return record({**entry, "error": f"monitoring:thresholds:{name}:action:function is not available"})
    why_not = brake(f"threshold-{name}", _reaction_settings()["min_interval"], _state_running(), now)
    if why_not:
        return record({**entry, "skipped": why_not})
    with open(done, "w", encoding="utf-8") as handle:
        handle.write(crossing)
    try:
        result = __salt__[function](*action.get("args", []), **action.get("kwargs", {}))  # noqa: F821
    except Exception as exc:  # an action that fails is recorded, never retried in a loop
        return record({**entry, "error": f"{type(exc).__name__}: {exc}"})
    return record({**entry, "result": result if isinstance(result, (bool, int, float, str)) else "done"})


def beacons_loaded(timeout=10):
    """
    Whether the salt-minion daemon runs the beacons of the pillar the master serves now
    (``beacons:``). A minion connected to a master runs the beacons of its in-memory pillar,
    which a state run does not refresh; ``saltutil.refresh_pillar`` reloads them. Returns
    ``{"daemon": bool, "differ": [beacon names]}``; ``daemon`` is False when no salt-minion
    daemon answered within ``timeout`` seconds (nothing runs beacons then).

    CLI Example:

    .. code-block:: bash

        salt node1 monitoring.beacons_loaded
    """
    wanted = __salt__["pillar.items"](unmask=True).get("beacons") or {}  # noqa: F821
    loaded = __salt__["beacons.list"](  # noqa: F821
        return_yaml=False, include_opts=False, include_pillar=True, timeout=timeout)
    if not isinstance(loaded, dict):
        return {"daemon": False, "differ": sorted(wanted)}
    names = sorted(set(wanted) | set(loaded))
    return {"daemon": True, "differ": [name for name in names if wanted.get(name) != loaded.get(name)]}


def alert(message, path="/var/log/devstack-salt-alerts.log"):
    """
    Append a timestamped alert line to ``path`` (created 0640 when missing): the default
    action of the thresholds in pillar/monitoring.sls.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.alert "root file system above 95% full"
    """
    import time

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    with os.fdopen(fd, "a", encoding="utf-8") as handle:
        handle.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} {message}\n")
    return True


def reactions(last=20):
    """
    The most recent reactions (what the reactor did and the event that caused it).

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.reactions last=5
    """
    try:
        with open(REACTIONS_LOG, encoding="utf-8") as handle:
            lines = handle.readlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines[-int(last):]]
