"""
The collectd agent's configuration: collectd.conf rendered from ``monitoring:collectd`` (any
plugin with any options, blocks included), the plugins the database and broker roles add on the
nodes that carry them, and the Debian packages those plugins need.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable

from .carbon import ADDRESS_RE, METRIC_PART_RE, section
from . import contract
from .errors import MonitoringError, PillarError
from .localconf import MASK
from .roles import carries, local_address

PLUGIN_RE = re.compile(r"[a-z][a-z0-9_]*\Z")
KEY_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
SECRET_KEY_RE = re.compile(r"password|secret|token|passwd", re.I)

#: Plugins every node reports when the pillar does not name its own list.
DEFAULT_PLUGINS = {
    "cpu": {},
    "memory": {},
    "load": {},
    "df": {"MountPoint": "/", "IgnoreSelected": False},
    "interface": {"Interface": "lo", "IgnoreSelected": True},
    "processes": {},
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


def resolve_carbon_host(collectd: dict, carbon: dict, monitoring_nodes: Callable[[], list[str]]) -> Any:
    """Where a node's metrics go (collectd's, and Salt's runs'): ``monitoring:collectd:carbon_host``
    when the pillar names it; else this node's own carbon, where it is the carbon server, at the
    address carbon listens on; else the first other monitoring node's address
    (``monitoring_nodes()``, from the mine); else loopback."""
    if collectd.get("carbon_host"):
        return collectd["carbon_host"]
    if carbon.get("server") is True:
        return local_address(carbon.get("address"))
    others = monitoring_nodes()
    return others[0] if others else "127.0.0.1"


def _carbon_target(config: dict, root: str, errors: list[str]) -> tuple[Any, Any]:
    """(host, port) of the carbon collectd writes to; a problem with either is added to ``errors``."""
    host = config.get("carbon_host", "127.0.0.1")
    port = config.get("carbon_port", 2003)
    if not isinstance(host, str) or not ADDRESS_RE.match(host):
        errors.append(f"{root}:carbon_host must be a host name or address")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        errors.append(f"{root}:carbon_port must be a port number")
    return host, port


def carbon_target(config: dict, root: str = "monitoring:collectd") -> tuple[str, int]:
    """(host, port) of the carbon collectd writes to; MonitoringError naming the key otherwise."""
    errors: list[str] = []
    target = _carbon_target(section(config, root), root, errors)
    if errors:
        raise MonitoringError(errors)
    return target


def render_collectd_conf(config: dict, root: str = "monitoring:collectd", plugin_dir: str | None = None) -> str:
    """collectd.conf for a node: globals, LoadPlugin lines and a block per configured plugin.

    write_graphite is always added, pointing at the carbon host of the pillar. With
    ``plugin_dir`` (collectd's plugin directory, when collectd is installed) every plugin must
    exist there: collectd itself would only log the failure and run without it.
    """
    errors: list[str] = []
    config = section(config, root)
    interval = config.get("interval", 10)
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or interval <= 0:
        errors.append(f"{root}:interval must be a number of seconds greater than 0")
        interval = 10
    # collectd doubles the wait after each failed read of a plugin (a broker or database down
    # for a minute or two) up to MaxReadInterval, a day by default: its metrics then stayed away
    # for minutes after the server was back (seen on CI after the broker tests).
    max_read = config.get("max_read_interval", 3 * interval)
    if isinstance(max_read, bool) or not isinstance(max_read, (int, float)) or max_read < interval:
        errors.append(f"{root}:max_read_interval must be a number of seconds not below "
                      f"{root}:interval ({interval}): the longest wait before a failed read is retried")
    host, port = _carbon_target(config, root, errors)
    prefix = config.get("prefix", "collectd")
    if not isinstance(prefix, str) or not METRIC_PART_RE.match(prefix):
        errors.append(f"{root}:prefix must be dotted words (letters, digits, '_', '-')")
    plugins = config.get("plugins", DEFAULT_PLUGINS)
    if not isinstance(plugins, dict):
        errors.append(f"{root}:plugins must be a mapping of plugin name to its options")
        plugins = {}
    plugins = {**plugins, "write_graphite": {"Node carbon": {
        "Host": host, "Port": str(port), "Protocol": "tcp", "Prefix": f"{prefix}.",
        "StoreRates": True, "AlwaysAppendDS": False, "EscapeCharacter": "_", "LogSendErrors": True,
    }}}
    lines = [
        "# collectd.conf, written by Salt from the monitoring pillar (salt/monitoring).",
        "# Edits here are overwritten on the next apply: change the pillar instead.",
        f"Interval {interval}",
        f"MaxReadInterval {max_read}",
        "FQDNLookup false",
        "",
        "LoadPlugin logfile",
        "<Plugin logfile>",
        '  LogLevel "info"',
        '  File "/var/log/collectd.log"',
        "</Plugin>",
    ]
    for name in sorted(plugins, key=str):  # a YAML key may be a number
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


def mask_secrets(config: Any) -> Any:
    """``config`` with the value of every option whose name looks like a secret shown as
    ``<hidden>``, at any depth (what ``monitoring.collectd_conf`` renders unless ``reveal=True``)."""
    if isinstance(config, dict):
        return {k: MASK if SECRET_KEY_RE.search(str(k)) and not isinstance(v, dict) else mask_secrets(v)
                for k, v in config.items()}
    if isinstance(config, list):
        return [mask_secrets(v) for v in config]
    return config


def has_secret(config: Any) -> bool:
    """True when any option name in the (nested) config looks like a secret."""
    if isinstance(config, dict):
        return any(SECRET_KEY_RE.search(str(k)) or has_secret(v) for k, v in config.items())
    if isinstance(config, list):
        return any(has_secret(v) for v in config)
    return False


def _role_model(role: str, pillar: Any, errors: list[str]) -> dict | None:
    """The role's own validated model of its pillar (``contract.role_model``: the same validation
    the role converges with); None when the role rejects the pillar, whose errors are added."""
    try:
        return contract.role_model(role, pillar)
    except PillarError as exc:
        errors.extend(exc.errors)
        return None


def _role_account(settings: Any, role: str, model: dict, root: str, errors: list[str]) -> tuple:
    """(user, account) for ``role_metrics:<role>:user``, declared under ``<role>:users``."""
    where = f"{root}:{role}"
    if not isinstance(settings, dict) or set(settings) - {"user", "socket"} or not settings.get("user"):
        errors.append(f"{where} must be a mapping with user (one of {role}:users)")
        return None, None
    user = settings["user"]
    account = model["users"].get(user) if isinstance(user, str) else None
    if account is None:
        errors.append(f"{where}:user: {user!r} is not declared under {role}:users; declare it there "
                      f"(see pillar/{role}.sls) or remove {where}")
        return None, None
    return user, account


def role_plugins(settings: Any, roles: Any, database: Any, broker: Any,
                 root: str = "monitoring:collectd:role_metrics") -> dict:
    """collectd plugin blocks for the metrics of the roles this node carries: MariaDB through
    the mysql plugin on the server's socket, RabbitMQ through curl_json on the management API.
    Each reads as an account declared in its own role's pillar, the password in its one place
    (``database:users:<user>:password``, ``broker:users:<user>:password``), from the role's own
    validated model: a pillar the role rejects is rejected here with the role's message."""
    errors: list[str] = []
    settings = settings or {}
    if not isinstance(settings, dict) or set(settings) - {"database", "broker"}:
        raise MonitoringError([f"{root} must be a mapping with database and/or broker"])
    plugins: dict = {}
    if settings.get("database") and carries(roles, "database"):
        model = _role_model("database", database, errors)
        user, account = _role_account(settings["database"], "database", model, root, errors) if model else (None, None)
        if user and "localhost" not in account["hosts"]:
            errors.append(f"database:users:{user}:hosts must include localhost: collectd connects through "
                          "the server's socket")
        elif user:
            plugins["mysql"] = {"Database mariadb": {
                "Socket": settings["database"].get("socket", MYSQL_SOCKET), "User": user,
                "Password": account["password"], "InnodbStats": True,
            }}
    if settings.get("broker") and carries(roles, "broker"):
        model = _role_model("broker", broker, errors)
        user, account = _role_account(settings["broker"], "broker", model, root, errors) if model else (None, None)
        if user and not {"monitoring", "administrator"} & set(account["tags"]):
            errors.append(f"broker:users:{user}:tags must include monitoring: the management API shows "
                          "the whole broker's statistics to monitoring users only")
        if model and "rabbitmq_management" not in (model["plugins"] or []):
            errors.append("broker:plugins must include rabbitmq_management: collectd reads RabbitMQ's "
                          f"statistics from the management API (or remove {root}:broker)")
        elif user and not errors:
            address = local_address(model["address"])
            host = f"[{address}]" if ":" in address else address
            url = f"http://{host}:{model['management_port']}/api/overview"
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
    config = section(config, root)
    extra = config.get("packages", [])
    if not isinstance(extra, list) or not all(isinstance(p, str) and re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p)
                                              for p in extra):
        raise MonitoringError([f"{root}:packages must be a list of Debian package names"])
    plugins = config.get("plugins", DEFAULT_PLUGINS)
    if not isinstance(plugins, dict):  # as render_collectd_conf says
        raise MonitoringError([f"{root}:plugins must be a mapping of plugin name to its options"])
    needed = set(extra)
    for name in plugins:
        needed.update(PLUGIN_PACKAGES.get(str(name), []))
    return sorted(needed)


