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
from .listeners import is_port
from .roles import local_address

#: graphite: collectd, carbon and its web application (the default); prometheus: exporters and
#: the Prometheus server; both: the two side by side.
BACKENDS = ("graphite", "prometheus", "both")
#: A Prometheus duration as its flags and prometheus.yml take it (15s, 1m, 15d, 1h30m).
DURATION_RE = re.compile(r"(\d+(ms|[smhdwy]))+\Z")

CONFIG_FILE = "/etc/prometheus/prometheus.yml"
ALERTMANAGER_CONFIG_FILE = "/etc/prometheus/alertmanager.yml"
#: Alertmanager's bearer token for the webhook, the prometheus user's only (0600).
HOOK_TOKEN_FILE = "/etc/prometheus/alert-hook.token"
#: The alert rules written from the pillar (prometheus.yml loads every file there).
RULES_DIR = "/etc/prometheus/rules"
RULES_FILE = f"{RULES_DIR}/devstack-salt.yml"
#: The console templates and their library (the server's defaults in Debian's build): our pages,
#: served at /consoles/index.html, beside the package's README.
CONSOLES_DIR = "/etc/prometheus/consoles"
CONSOLE_LIBRARIES_DIR = "/etc/prometheus/console_libraries"
#: The file-based service discovery's folder: one JSON file per job, rewritten from the mine.
TARGETS_DIR = "/etc/prometheus/targets"
SERVER_DEFAULTS_FILE = "/etc/default/prometheus"
EXPORTER_DEFAULTS_FILE = "/etc/default/prometheus-node-exporter"
SERVER_SERVICE = "prometheus"
EXPORTER_SERVICE = "prometheus-node-exporter"
MYSQLD_SERVICE = "prometheus-mysqld-exporter"
MYSQLD_DEFAULTS_FILE = "/etc/default/prometheus-mysqld-exporter"
PROCESS_SERVICE = "prometheus-process-exporter"
PROCESS_DEFAULTS_FILE = "/etc/default/prometheus-process-exporter"
#: The process exporter's groups (in a file, not its arguments: a daemon's name in another
#: process's command line would make ``pkill -f`` and the like find the exporter as well).
PROCESS_CONFIG_FILE = "/etc/prometheus/process-exporter.yml"
ALERTMANAGER_SERVICE = "prometheus-alertmanager"
ALERTMANAGER_DEFAULTS_FILE = "/etc/default/prometheus-alertmanager"
#: The process name (comm, as ps and /proc show it) of each service whose package names its
#: daemon otherwise; any other watched service's process is named as the service.
SERVICE_PROCESSES = {"mariadb": "mariadbd", "mysql": "mariadbd", "rabbitmq-server": "beam.smp",
                     "apache2": "apache2", "memcached": "memcached"}
#: The system user Debian runs every exporter as: the database account of the same name logs in
#: through the server's socket with no password (auth: unix_socket).
EXPORTER_USER = "prometheus"
#: The database server's socket (Debian's MariaDB), where mysqld_exporter connects.
MYSQL_SOCKET = "/run/mysqld/mysqld.sock"
#: The node exporter's textfile collector reads every *.prom file here (Debian's folder).
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
#: Salt's runs for it: saltext-prometheus's prometheus_textfile returner, named in the project's
#: minion config (saltconfig.minion_config), writes salt-<state>.prom here ("highstate" for
#: state.apply of the top file) where this file of its options is in minion.d.
SALT_RUNS_FILE = f"{TEXTFILE_DIR}/salt.prom"
SALT_RUNS_CONFIG = "prometheus-textfile.conf"

DEFAULTS = {
    "server": False,
    "address": "127.0.0.1",
    "port": 9090,
    "scrape_interval": "15s",
    "retention": "15d",
    "node_exporter": {"address": None, "port": 9100},
    "mysqld_exporter": {"port": 9104},
    "process_exporter": {"port": 9256},
    # On the server's node, where its reactions run masterless: Alertmanager, and the webhook
    # the reactions' daemon serves to it (bearer token hook_token, a generated secret).
    "alertmanager": {"port": 9093, "hook_port": 9097, "hook_token": None},
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
    if not is_port(value):
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
    for part in ("node_exporter", "mysqld_exporter", "process_exporter", "alertmanager"):
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
    _port(model["process_exporter"]["port"], f"{root}:process_exporter:port", errors)
    _port(model["alertmanager"]["port"], f"{root}:alertmanager:port", errors)
    _port(model["alertmanager"]["hook_port"], f"{root}:alertmanager:hook_port", errors)
    token = model["alertmanager"]["hook_token"]
    if token is not None and (not isinstance(token, str) or len(token) < 16 or not token.isprintable()
                              or any(c.isspace() for c in token)):
        errors.append(f"{root}:alertmanager:hook_token must be a secret of 16 or more printable characters "
                      "without spaces (bin/configure generates one in .salt/pillar/secrets.sls)")
    for key in ("scrape_interval", "retention"):
        if not isinstance(model[key], str) or not DURATION_RE.match(model[key]):
            errors.append(f"{root}:{key} must be a Prometheus duration such as 15s, 1m or 15d (got {model[key]!r})")
    taken = ports or {}
    # (key, port, address) of each listener of ours; the mysqld exporter shares the node exporter's address.
    mine = [("node_exporter:port", model["node_exporter"]["port"], model["node_exporter"]["address"]),
            ("mysqld_exporter:port", model["mysqld_exporter"]["port"], model["node_exporter"]["address"]),
            ("process_exporter:port", model["process_exporter"]["port"], model["node_exporter"]["address"])]
    if model["server"]:
        mine += [("port", model["port"], model["address"]),
                 ("alertmanager:port", model["alertmanager"]["port"], model["address"]),
                 ("alertmanager:hook_port", model["alertmanager"]["hook_port"], model["address"])]
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
    return (f"--web.listen-address={_listen(exporter['address'], exporter['port'])}"
            f" --collector.textfile.directory={TEXTFILE_DIR}")


def salt_runs_config() -> str:
    """minion.d/prometheus-textfile.conf: where saltext-prometheus's returner writes each state
    run (SALT_RUNS_FILE, a file per state name: a single SLS run never overwrites the highstate's),
    readable by the node exporter (user prometheus). No state's comment goes in (it may quote a
    value of the pillar): the figures only."""
    return ("# Salt's state runs for the node exporter's textfile collector (salt/monitoring/exporter.sls).\n"
            + yaml.safe_dump({"prometheus_textfile.filename": SALT_RUNS_FILE,
                              "prometheus_textfile.add_state_name": True,
                              "prometheus_textfile.mode": "0644",
                              "prometheus_textfile.show_failed_states": False}, default_flow_style=False))


def service_process(service: str) -> str:
    """The process name a watched service's daemon runs as (SERVICE_PROCESSES, else its own)."""
    return SERVICE_PROCESSES.get(service, service)[:15]  # comm holds 15 characters


def process_exporter_args(model: dict) -> str:
    """The process exporter's ARGS: on the node exporter's address, its groups from
    PROCESS_CONFIG_FILE, nothing per thread or from smaps (the counts are what the alerts need)."""
    listen = _listen(model["node_exporter"]["address"], model["process_exporter"]["port"])
    return f"-web.listen-address={listen} -config.path={PROCESS_CONFIG_FILE} -threads=false -gather-smaps=false"


def process_exporter_config(services: list[str]) -> str:
    """PROCESS_CONFIG_FILE: one group per process name of the watched ``services``
    (monitoring:reactions:services), named as the process (``groupname`` in its metrics)."""
    names = sorted({service_process(service) for service in services})
    groups = [{"name": "{{.Comm}}", "comm": names}] if names else []
    return ("# The process exporter's groups, written by Salt from monitoring:reactions:services.\n"
            + yaml.safe_dump({"process_names": groups}, default_flow_style=False, sort_keys=False))


def alertmanager_args(model: dict) -> str:
    """Alertmanager's ARGS: its API on the server's address, no cluster (its gossip would listen
    on every address), its config and data where Debian keeps them."""
    return " ".join([
        f"--config.file={ALERTMANAGER_CONFIG_FILE}",
        "--storage.path=/var/lib/prometheus/alertmanager",
        f"--web.listen-address={_listen(model['address'], model['alertmanager']['port'])}",
        "--cluster.listen-address=",
    ])


def hook_url(model: dict) -> str:
    """Where Alertmanager posts its notifications: the reactions' webhook on the server's address."""
    return f"http://{_listen(local_address(model['address']), model['alertmanager']['hook_port'])}/alerts"


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
#: monitoring node's exporter, RabbitMQ's own rabbitmq_prometheus plugin on broker nodes, the
#: mysqld exporter on database nodes, and every monitoring node's process exporter.
FILE_SD_JOBS = ("node", "rabbitmq", "mysqld", "process")
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


def _beside_node_exporter(model: dict, port: int, minion: str, others: dict[str, str]) -> list[dict]:
    """A job's groups for an exporter on the node exporter's address (every monitoring node's)."""
    return targets(_listen(local_address(model["node_exporter"]["address"]), port), minion, others, port)


def node_targets(model: dict, minion: str, others: dict[str, str]) -> list[dict]:
    """The node job's groups: this node's exporter and every other monitoring node's."""
    return _beside_node_exporter(model, model["node_exporter"]["port"], minion, others)


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


def process_targets(model: dict, minion: str, others: dict[str, str]) -> list[dict]:
    """The process job's groups: this node's process exporter and every other monitoring node's."""
    return _beside_node_exporter(model, model["process_exporter"]["port"], minion, others)


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
    # The last highstate's figures (salt_runs_config): a run with a failed state, until a run
    # without one.
    {"alert": "HighstateFailing", "expr": 'salt_states_failed{state="highstate"} > 0', "labels": {"severity": "warning"},
     "annotations": {"summary": "the last highstate on {{ $labels.node }} had {{ $value }} failed state(s)"}},
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


def service_rules(services: list[str], node: str) -> list[dict]:
    """ServiceDown for each watched service of ``node`` (the server's own
    ``monitoring:reactions:services``): its process exporter answers and counts no process of the
    service's name (also when it never saw one: the count is absent then). The ``service`` label
    is what the reactions' webhook hears."""
    rules = []
    for service in sorted(set(services)):
        process = json.dumps(service_process(service))
        rules.append({
            "alert": "ServiceDown",
            "expr": (f'up{{job="process", node={json.dumps(node)}}} == 1 unless on(instance) '
                     f"namedprocess_namegroup_num_procs{{groupname={process}}} > 0"),
            "labels": {"severity": "critical", "service": service},
            "annotations": {"summary": f"{service} has no running process on {{{{ $labels.node }}}}"},
        })
    return rules


#: What Prometheus takes as an alert's name (a metric name's characters).
ALERT_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")


def beacons_without(beacons: Any, names: list[str]) -> dict:
    """``beacons`` (the pillar's) with the thresholds ``names`` taken out of the metric_threshold
    beacon (and the beacon out when none is left): where Alertmanager's alerts drive those
    thresholds' reactions, the beacon watching them too would give each crossing two ids."""
    beacons = dict(beacons) if isinstance(beacons, dict) else {}
    config = beacons.get("metric_threshold")
    if not isinstance(config, list):
        return beacons
    kept = []
    for item in config:
        if isinstance(item, dict) and isinstance(item.get("thresholds"), dict):
            left = {name: spec for name, spec in item["thresholds"].items() if name not in names}
            if not left:
                beacons.pop("metric_threshold")
                return beacons
            item = {**item, "thresholds": left}
        kept.append(item)
    beacons["metric_threshold"] = kept
    return beacons


def rule_problems(thresholds: Any, root: str = "monitoring:thresholds") -> list[str]:
    """What keeps the thresholds Prometheus measures from becoming alert rules (the beacon's own
    check has passed): a name Prometheus would not take, a ``rearm_below`` that is not a number
    at or under ``above``. Each names its key."""
    errors = []
    for name, spec in sorted((thresholds or {}).items(), key=lambda item: str(item[0])):
        if threshold_expr(str(spec.get("source", ""))) is None:
            continue
        if not ALERT_NAME_RE.match(str(name)):
            errors.append(f"{root}:{name}: the name becomes a Prometheus alert's: use letters, digits and _ only")
        rearm = spec.get("rearm_below", spec["above"])
        if isinstance(rearm, bool) or not isinstance(rearm, (int, float)) or rearm > spec["above"]:
            errors.append(f"{root}:{name}:rearm_below must be a number at or under above ({spec['above']}), "
                          f"got {rearm!r}")
    return errors


def render_rules(thresholds: Any, services: list[str] | None = None, node: str | None = None) -> tuple[str, dict[str, str]]:
    """The alert rules file from ``monitoring:thresholds`` (each threshold on every node the
    server scrapes), ServiceDown for each of ``services`` on ``node`` (service_rules) and the
    default rules, and the thresholds left out with why. A threshold fires above ``above`` and
    stays firing until it falls below ``rearm_below``, as the beacon does: the rule keeps an alert
    that is already firing while the value stays above the rearm line (Prometheus's ALERTS
    series)."""
    rules, skipped = [], {}
    for name, spec in sorted((thresholds or {}).items()):
        expr = threshold_expr(str(spec.get("source", "")))
        if expr is None:
            skipped[name] = f"{spec.get('source')}: a Graphite metric, watched by the Graphite beacon only"
            continue
        above = spec["above"]
        rearm = spec.get("rearm_below", above)
        held = f'({expr} > {rearm} and on(instance) ALERTS{{alertname={json.dumps(name)}, alertstate="firing"}})'
        rules.append({"alert": name, "expr": f"({expr} > {above}) or {held}" if rearm < above else f"{expr} > {above}",
                      "labels": {"severity": "warning", "threshold": name},
                      "annotations": {"summary": f"{spec.get('source')} above {above} on {{{{ $labels.node }}}}"}})
    text = yaml.safe_dump({"groups": [
        {"name": "devstack-salt-defaults", "rules": DEFAULT_RULES},
        {"name": "devstack-salt-thresholds", "rules": rules},
        {"name": "devstack-salt-services", "rules": service_rules(services or [], node) if node else []},
    ]}, default_flow_style=False, sort_keys=False)
    return ("# Alert rules, written by Salt from monitoring:thresholds (salt/monitoring).\n"
            "# Edits here are overwritten on the next apply: change the pillar instead.\n" + text), skipped




def render_alertmanager(hook_url: str) -> str:
    """alertmanager.yml: every alert to Salt's webhook (``hook_url``) with the bearer token read
    from HOOK_TOKEN_FILE (never in this file), grouped by alert and node; firing alerts only (a
    resolved alert needs no reaction). Sent again every minute while one lasts, as the beacon
    repeats itself: a reaction the brakes held back (a state run under way) happens on a later
    notification, and the reactions act once per crossing and service interval whatever comes."""
    config = {
        "route": {"receiver": "salt", "group_by": ["alertname", "node"], "group_wait": "5s",
                  "group_interval": "30s", "repeat_interval": "1m"},
        "receivers": [{"name": "salt", "webhook_configs": [{
            "url": hook_url, "send_resolved": False,
            "http_config": {"authorization": {"type": "Bearer", "credentials_file": HOOK_TOKEN_FILE}},
        }]}],
    }
    return ("# alertmanager.yml, written by Salt from the monitoring pillar (salt/monitoring).\n"
            "# Edits here are overwritten on the next apply: change monitoring:prometheus instead.\n"
            + yaml.safe_dump(config, default_flow_style=False, sort_keys=False))


def render_config(model: dict, alertmanager: bool = False) -> str:
    """prometheus.yml: the server scrapes itself and, through file-based service discovery, every
    node's exporter and every broker (TARGETS_DIR/<job>.json, re-read when it changes: a new node
    needs no restart); with ``alertmanager``, its alerts go to this node's Alertmanager."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": model["scrape_interval"], "evaluation_interval": model["scrape_interval"]},
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "scrape_configs": [
            {"job_name": "prometheus",
             "static_configs": [{"targets": [_listen(local_address(model["address"]), model["port"])]}]},
        ] + [{"job_name": job, "file_sd_configs": [{"files": [f"{TARGETS_DIR}/{job}.json"]}]} for job in FILE_SD_JOBS],
    }
    if alertmanager:
        where = _listen(local_address(model["address"]), model["alertmanager"]["port"])
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [where]}]}]}
    return ("# prometheus.yml, written by Salt from the monitoring pillar (salt/monitoring).\n"
            "# Edits here are overwritten on the next apply: change monitoring:prometheus instead.\n"
            + yaml.safe_dump(config, default_flow_style=False, sort_keys=False))
