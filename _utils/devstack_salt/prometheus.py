"""
Prometheus beside Graphite: which monitoring backend a cloud runs (``monitoring:backend``), and
from ``monitoring:prometheus`` the node exporter's and the Prometheus server's command lines, the
server's prometheus.yml and its file-based service discovery (the nodes to scrape, from the mine).

Debian 12's packages run them (prometheus 2.42, prometheus-node-exporter 1.5); their init scripts
and units read ``ARGS`` from /etc/default/<package>, which is where the states put the flags.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import yaml

from .carbon import section
from .errors import MonitoringError
from .roles import local_address

#: graphite: collectd, carbon and its web application (the default); prometheus: exporters and
#: the Prometheus server; both: the two side by side.
BACKENDS = ("graphite", "prometheus", "both")
#: A Prometheus duration as its flags and prometheus.yml take it (15s, 1m, 15d, 1h30m).
DURATION_RE = re.compile(r"(\d+(ms|[smhdwy]))+\Z")

CONFIG_FILE = "/etc/prometheus/prometheus.yml"
#: The alert rules written from the pillar (prometheus.yml loads every file there).
RULES_DIR = "/etc/prometheus/rules"
RULES_FILE = f"{RULES_DIR}/devstack-salt.yml"
#: The file-based service discovery's folder: one JSON file per job, rewritten from the mine.
TARGETS_DIR = "/etc/prometheus/targets"
SERVER_DEFAULTS_FILE = "/etc/default/prometheus"
EXPORTER_DEFAULTS_FILE = "/etc/default/prometheus-node-exporter"
SERVER_SERVICE = "prometheus"
EXPORTER_SERVICE = "prometheus-node-exporter"
MYSQLD_SERVICE = "prometheus-mysqld-exporter"
MYSQLD_DEFAULTS_FILE = "/etc/default/prometheus-mysqld-exporter"
#: The system user Debian runs every exporter as: the database account of the same name logs in
#: through the server's socket with no password (auth: unix_socket).
EXPORTER_USER = "prometheus"
#: The database server's socket (Debian's MariaDB), where mysqld_exporter connects.
MYSQL_SOCKET = "/run/mysqld/mysqld.sock"

DEFAULTS = {
    "server": False,
    "address": "127.0.0.1",
    "port": 9090,
    "scrape_interval": "15s",
    "retention": "15d",
    "node_exporter": {"address": None, "port": 9100},
    "mysqld_exporter": {"port": 9104},
}


def backend(monitoring: Any) -> str:
    """``monitoring:backend`` (graphite when unset); MonitoringError naming the key otherwise."""
    value = section(monitoring, "monitoring").get("backend", "graphite")
    if value not in BACKENDS:
        raise MonitoringError([f"monitoring:backend must be one of {', '.join(BACKENDS)} (got {value!r})"])
    if value == "prometheus":
        # Graphite's beacon is still what turns thresholds into reactions: without it a node would
        # lose them. Alone, Prometheus comes with its alert rules and Alertmanager's reactions.
        raise MonitoringError(["monitoring:backend: prometheus alone is not available yet (the pillar's thresholds "
                               "and reactions still run on Graphite): use both, or graphite"])
    return value


def _address(value: Any, where: str, errors: list[str]) -> None:
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        errors.append(f"{where} must be an IP address (got {value!r})")


def _port(value: Any, where: str, errors: list[str]) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        errors.append(f"{where} must be a port number (got {value!r})")


def settings(config: Any, node_address: str, ports: dict[int, str] | None = None,
             root: str = "monitoring:prometheus") -> dict:
    """``monitoring:prometheus`` checked whole, with its defaults; every problem in one
    MonitoringError, each naming its key. The node exporter listens on
    ``node_exporter:address``, else on ``node_address`` (the address this node publishes to the
    mine, where the Prometheus server scrapes it). ``ports``: the ports the node's other roles
    listen on, each with what holds it (graphite_web.node_ports), which neither may take."""
    config = section(config, root)
    errors: list[str] = []
    unknown = sorted(set(config) - set(DEFAULTS), key=str)
    if unknown:
        errors.append(f"{root} has no key {', '.join(map(str, unknown))} (known: {', '.join(DEFAULTS)})")
    parts = {}
    for part in ("node_exporter", "mysqld_exporter"):
        parts[part] = section(config.get(part), f"{root}:{part}")
        unknown = sorted(set(parts[part]) - set(DEFAULTS[part]), key=str)
        if unknown:
            errors.append(f"{root}:{part} has no key {', '.join(map(str, unknown))} "
                          f"(known: {', '.join(DEFAULTS[part])})")
    model = {**DEFAULTS, **config, **{part: {**DEFAULTS[part], **given} for part, given in parts.items()}}
    if model["node_exporter"]["address"] is None:
        model["node_exporter"]["address"] = node_address
    if not isinstance(model["server"], bool):
        errors.append(f"{root}:server must be true or false")
    _address(model["address"], f"{root}:address", errors)
    _port(model["port"], f"{root}:port", errors)
    _address(model["node_exporter"]["address"], f"{root}:node_exporter:address", errors)
    _port(model["node_exporter"]["port"], f"{root}:node_exporter:port", errors)
    _port(model["mysqld_exporter"]["port"], f"{root}:mysqld_exporter:port", errors)
    for key in ("scrape_interval", "retention"):
        if not isinstance(model[key], str) or not DURATION_RE.match(model[key]):
            errors.append(f"{root}:{key} must be a Prometheus duration such as 15s, 1m or 15d (got {model[key]!r})")
    taken = ports or {}
    # (key, port, address) of each listener of ours; the mysqld exporter shares the node exporter's address.
    mine = [("node_exporter:port", model["node_exporter"]["port"], model["node_exporter"]["address"]),
            ("mysqld_exporter:port", model["mysqld_exporter"]["port"], model["node_exporter"]["address"])]
    if model["server"]:
        mine.append(("port", model["port"], model["address"]))
    for key, port, _ in mine:
        if isinstance(port, int) and port in taken:
            errors.append(f"{root}:{key} {port} collides with {taken[port]}; choose another")
    for index, (key, port, address) in enumerate(mine):
        for other, other_port, other_address in mine[index + 1:]:
            addresses = {str(address), str(other_address)}
            if not errors and port == other_port and (len(addresses) == 1 or addresses & {"0.0.0.0", "::"}):
                errors.append(f"{root}:{key} and {root}:{other} are both {port} on one address: choose another")
    if errors:
        raise MonitoringError(errors)
    return model


def _listen(address: str, port: int) -> str:
    host = str(address)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def exporter_args(model: dict) -> str:
    """The node exporter's ARGS (/etc/default/prometheus-node-exporter)."""
    exporter = model["node_exporter"]
    return f"--web.listen-address={_listen(exporter['address'], exporter['port'])}"


def mysqld_exporter_defaults(model: dict) -> str:
    """/etc/default/prometheus-mysqld-exporter: where it listens (the node exporter's address)
    and how it reaches MariaDB: as the database account ``prometheus`` through the server's
    socket, which needs no password (the account is unix_socket's: only the system user
    ``prometheus`` may use it). No secret is in the file."""
    listen = _listen(model["node_exporter"]["address"], model["mysqld_exporter"]["port"])
    return defaults_file(f"--web.listen-address={listen}", MYSQLD_SERVICE) + \
        f'DATA_SOURCE_NAME="{EXPORTER_USER}@unix({MYSQL_SOCKET})/"\n'


def mysqld_account(database: dict, root: str = "database:users") -> list[str]:
    """What is wrong with the database account the mysqld exporter logs in as (``database``:
    the database role's model): it must exist as ``prometheus``, unix_socket, on localhost."""
    account = database["users"].get(EXPORTER_USER)
    if account is None or account.get("auth") != "unix_socket":
        return [f"{root}:{EXPORTER_USER} must be declared with auth: unix_socket (and grants {{'*': [PROCESS, "
                "SLAVE MONITOR]}): the mysqld exporter runs as the system user prometheus and logs in as it "
                "through the server's socket, with no password"]
    return []


def server_args(model: dict) -> str:
    """The Prometheus server's ARGS (/etc/default/prometheus)."""
    return " ".join([
        f"--config.file={CONFIG_FILE}",
        f"--web.listen-address={_listen(model['address'], model['port'])}",
        f"--storage.tsdb.retention.time={model['retention']}",
    ])


def defaults_file(args: str, service: str) -> str:
    """/etc/default/<service>: the ARGS line the package's init script and unit read."""
    return (f"# /etc/default/{service}, written by Salt from the monitoring pillar (salt/monitoring).\n"
            "# Edits here are overwritten on the next apply: change monitoring:prometheus instead.\n"
            f'ARGS="{args}"\n')


def server_url(model: dict) -> str:
    """Where a client on this node reaches the server's HTTP API."""
    host = local_address(model["address"])
    return f"http://{_listen(host, model['port'])}"


#: The jobs whose targets come from file-based service discovery (TARGETS_DIR/<job>.json): every
#: monitoring node's exporter, RabbitMQ's own rabbitmq_prometheus plugin on broker nodes, and the
#: mysqld exporter on database nodes.
FILE_SD_JOBS = ("node", "rabbitmq", "mysqld")
#: rabbitmq_prometheus's port where a broker node's pillar is not at hand (the plugin's default).
RABBITMQ_PORT = 15692


def targets(local: str | None, minion: str, others: dict[str, str], port: int) -> list[dict]:
    """A job's file-SD groups: this node's (``minion``) endpoint ``local`` (where a client here
    reaches it; None: it has none), and every other node of the role at the address it publishes
    to the mine (``others``: {minion: address}) on ``port``, each labelled with its minion id."""
    groups = [{"targets": [local], "labels": {"node": minion}}] if local else []
    for other, address in sorted(others.items()):
        groups.append({"targets": [_listen(address, port)], "labels": {"node": other}})
    return groups


def node_targets(model: dict, minion: str, others: dict[str, str]) -> list[dict]:
    """The node job's groups: this node's exporter and every other monitoring node's."""
    exporter = model["node_exporter"]
    return targets(_listen(local_address(exporter["address"]), exporter["port"]), minion, others, exporter["port"])


def rabbitmq_targets(broker: dict | None, minion: str, others: dict[str, str]) -> list[dict]:
    """The rabbitmq job's groups: this node's broker where it carries the role with the
    rabbitmq_prometheus plugin (``broker``: the role's model, None elsewhere), and every other
    broker node on the port this node's broker uses (the plugin's default without one)."""
    local = None
    port = broker["prometheus_port"] if broker else RABBITMQ_PORT
    if broker and "rabbitmq_prometheus" in (broker.get("plugins") or []):
        local = _listen(local_address(broker["address"]), port)
    return targets(local, minion, others, port)


def mysqld_targets(model: dict, carries_database: bool, minion: str, others: dict[str, str]) -> list[dict]:
    """The mysqld job's groups: this node's mysqld exporter where it carries the database role,
    and every other database node's at its mine address."""
    port = model["mysqld_exporter"]["port"]
    local = _listen(local_address(model["node_exporter"]["address"]), port) if carries_database else None
    return targets(local, minion, others, port)


def render_targets(groups: list[dict]) -> str:
    return json.dumps(groups, indent=2, sort_keys=True) + "\n"


#: Alerts an operator expects whatever the pillar says: a target that does not answer, a file
#: system that fills up within four hours at the last hour's pace.
DEFAULT_RULES = [
    {"alert": "TargetDown", "expr": "up == 0", "for": "1m", "labels": {"severity": "critical"},
     "annotations": {"summary": "{{ $labels.job }} on {{ $labels.instance }} does not answer Prometheus's scrape"}},
    {"alert": "DiskWillFill",
     "expr": 'predict_linear(node_filesystem_free_bytes{fstype!~"tmpfs|ramfs|overlay|squashfs"}[1h], 4 * 3600) < 0',
     "for": "15m", "labels": {"severity": "warning"},
     "annotations": {"summary": "{{ $labels.mountpoint }} on {{ $labels.node }} fills up within 4 hours"}},
]


def threshold_expr(source: str) -> str | None:
    """The PromQL of a threshold's ``source`` as the node exporter measures it (what the Graphite
    beacon measures on the node itself), or None when Prometheus has no such figure (``carbon:``
    metrics live in Graphite only)."""
    if source == "load1":
        return "node_load1"
    if source.startswith("disk:/"):
        mount = json.dumps(source[5:])  # a PromQL string: JSON's escapes are Go's
        # Percent used as the beacon counts it: blocks not free, root's reserve included.
        return (f"100 * (1 - node_filesystem_free_bytes{{mountpoint={mount}}}"
                f" / node_filesystem_size_bytes{{mountpoint={mount}}})")
    return None


def render_rules(thresholds: Any) -> tuple[str, dict[str, str]]:
    """The alert rules file from ``monitoring:thresholds`` (each threshold on every node the
    server scrapes) and the default rules, and the thresholds left out with why. A threshold
    fires above ``above`` and stays firing until it falls below ``rearm_below``, as the beacon
    does: the rule keeps an alert that is already firing while the value stays above the rearm
    line (Prometheus's ALERTS series)."""
    rules, skipped = [], {}
    for name, spec in sorted((thresholds or {}).items()):
        expr = threshold_expr(str(spec.get("source", "")))
        if expr is None:
            skipped[name] = f"{spec.get('source')}: a Graphite metric, watched by the Graphite beacon only"
            continue
        above = spec["above"]
        rearm = spec.get("rearm_below", above)
        held = f'({expr} > {rearm} and on(instance) ALERTS{{alertname="{name}", alertstate="firing"}})'
        rules.append({"alert": name, "expr": f"({expr} > {above}) or {held}" if rearm < above else f"{expr} > {above}",
                      "labels": {"severity": "warning", "threshold": name},
                      "annotations": {"summary": f"{spec.get('source')} above {above} on {{{{ $labels.node }}}}"}})
    text = yaml.safe_dump({"groups": [
        {"name": "devstack-salt-defaults", "rules": DEFAULT_RULES},
        {"name": "devstack-salt-thresholds", "rules": rules},
    ]}, default_flow_style=False, sort_keys=False)
    return ("# Alert rules, written by Salt from monitoring:thresholds (salt/monitoring).\n"
            "# Edits here are overwritten on the next apply: change the pillar instead.\n" + text), skipped


ALERTMANAGER_CONFIG_FILE = "/etc/prometheus/alertmanager.yml"
#: Alertmanager's bearer token for the webhook, the prometheus user's only (0600).
HOOK_TOKEN_FILE = "/etc/prometheus/alert-hook.token"


def render_alertmanager(hook_url: str) -> str:
    """alertmanager.yml: every alert to Salt's webhook (``hook_url``) with the bearer token read
    from HOOK_TOKEN_FILE (never in this file), grouped by alert and node; firing alerts only (a
    resolved alert needs no reaction), again every 4 hours while one lasts."""
    config = {
        "route": {"receiver": "salt", "group_by": ["alertname", "node"], "group_wait": "10s",
                  "group_interval": "1m", "repeat_interval": "4h"},
        "receivers": [{"name": "salt", "webhook_configs": [{
            "url": hook_url, "send_resolved": False,
            "http_config": {"authorization": {"type": "Bearer", "credentials_file": HOOK_TOKEN_FILE}},
        }]}],
    }
    return ("# alertmanager.yml, written by Salt from the monitoring pillar (salt/monitoring).\n"
            "# Edits here are overwritten on the next apply: change monitoring:prometheus instead.\n"
            + yaml.safe_dump(config, default_flow_style=False, sort_keys=False))


def render_config(model: dict) -> str:
    """prometheus.yml: the server scrapes itself and, through file-based service discovery, every
    node's exporter and every broker (TARGETS_DIR/<job>.json, re-read when it changes: a new node
    needs no restart)."""
    config = {
        "global": {"scrape_interval": model["scrape_interval"], "evaluation_interval": model["scrape_interval"]},
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "scrape_configs": [
            {"job_name": "prometheus",
             "static_configs": [{"targets": [_listen(local_address(model["address"]), model["port"])]}]},
        ] + [{"job_name": job, "file_sd_configs": [{"files": [f"{TARGETS_DIR}/{job}.json"]}]} for job in FILE_SD_JOBS],
    }
    return ("# prometheus.yml, written by Salt from the monitoring pillar (salt/monitoring).\n"
            "# Edits here are overwritten on the next apply: change monitoring:prometheus instead.\n"
            + yaml.safe_dump(config, default_flow_style=False, sort_keys=False))
