"""
The monitoring role's Salt face: collectd's and carbon's configuration from pillar, metrics sent
to carbon, and the reactions the reactor calls. The logic lives in ``devstack_salt.collectd``,
``devstack_salt.carbon`` and ``devstack_salt.reactions``; this module reads the pillar, the mine
and Salt's functions and hands them over.

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
      backend: graphite | both   (prometheus alone: later)
      prometheus: {server: false, address: 127.0.0.1, port: 9090, scrape_interval: 15s, retention: 15d,
                   node_exporter: {address: <this node's mine address>, port: 9100},
                   mysqld_exporter: {port: 9104}, process_exporter: {port: 9256},
                   alertmanager: {port: 9093, hook_port: 9097, hook_token: <generated secret>}}
      web: {address: 127.0.0.1, port: 8013, workers: 2, time_zone: UTC, admin_user: admin,
            dashboards: {hosts, database, broker, salt_runs, time_range, refresh, graph_width, graph_height}}
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import time

from devstack_salt import contract
from devstack_salt import graphite_dashboards as _dashboards
from devstack_salt import graphite_web as _graphite_web
from devstack_salt import prometheus as _prometheus
from devstack_salt import reactions as _reactions
from devstack_salt import run_metrics as _run_metrics
from devstack_salt import thresholds as _thresholds
from devstack_salt.carbon import pillar_section, render_carbon_conf, render_storage_schemas, send_plaintext
from devstack_salt.collectd import (DEFAULT_PLUGINS, PLUGIN_DIR, carbon_target, has_secret, mask_secrets,
                                    merge_role_plugins, plugin_packages, render_collectd_conf, resolve_carbon_host,
                                    role_plugins)
from devstack_salt.errors import DevstackSaltError, MonitoringError, PillarError
from devstack_salt.faces import flag, number, role_addresses_elsewhere
from devstack_salt.roles import carries

__virtualname__ = "monitoring"


def __virtual__():
    """Always available: rendering needs only the standard library."""
    return __virtualname__


# --------------------------------------------------------------------------------------------
# collectd and carbon
# --------------------------------------------------------------------------------------------


def _section(name: str) -> dict:
    return pillar_section(__salt__["pillar.get"](f"monitoring:{name}", {}, unmask=True), name)  # noqa: F821


def _monitoring_nodes() -> list[str]:
    """The addresses of the other nodes carrying the monitoring role, from the mine."""
    return list(role_addresses_elsewhere(__salt__, __opts__.get("id"), "monitoring").values())  # noqa: F821


def _collectd_settings() -> dict:
    """``monitoring:collectd`` with the carbon host resolved (collectd.resolve_carbon_host)."""
    config = dict(_section("collectd"))
    config["carbon_host"] = resolve_carbon_host(config, _section("carbon"), _monitoring_nodes)
    return config


def _collectd_config() -> dict:
    """:func:`_collectd_settings` with the role plugins merged into its plugins (block by block,
    the pillar's own first)."""
    config = _collectd_settings()
    pillar_get = __salt__["pillar.get"]  # noqa: F821 - Salt dunder
    extra = role_plugins(config.get("role_metrics"), pillar_get("roles", [], unmask=True),
                         pillar_get("database", {}, unmask=True), pillar_get("broker", {}, unmask=True))
    return merge_role_plugins(config, extra)


def collectd_conf(config=None, reveal=False):
    """
    Render collectd.conf from ``monitoring:collectd`` (or ``config``), with the metrics of the
    database and broker roles when this node carries them (``role_metrics``). Their passwords
    show as ``<hidden>`` unless ``reveal=True`` (what the SLS asks for: it writes the text 0600
    with its diff hidden).

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.collectd_conf --out=newline_values_only
    """
    config = _collectd_config() if config is None else config
    return render_collectd_conf(config if flag(reveal, "reveal") else mask_secrets(config), plugin_dir=PLUGIN_DIR)


def collectd_has_secret(config=None):
    """
    True when the rendered collectd.conf holds a password (the SLS then hides the file's diff).

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.collectd_has_secret
    """
    return has_secret(_collectd_config() if config is None else pillar_section(config, "collectd"))


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


def send_metrics(metrics, timeout=5):
    """
    Send ``{path: value}`` now to the carbon this node's collectd writes to
    (``monitoring:collectd:carbon_host`` and ``carbon_port``; the carbon node from the mine when
    the host is not set), waiting at most ``timeout`` seconds (0.1 to 300). Returns the number
    of lines sent.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.send_metrics '{"devstack_salt.selftest": 1}'
    """
    timeout = number(timeout, "timeout", 0.1, 300)
    host, port = carbon_target(_collectd_settings())
    if not isinstance(metrics, dict):
        raise DevstackSaltError("metrics must be a mapping of metric path to number, e.g. '{\"a.b\": 1}'")
    try:
        return send_plaintext(metrics, host, port, float(timeout))
    except (OSError, TypeError, ValueError) as exc:
        raise DevstackSaltError(f"nothing sent to carbon at {host}:{port}: {exc}") from None


# --------------------------------------------------------------------------------------------
# Graphite's web application and its dashboards (the carbon server)
# --------------------------------------------------------------------------------------------


def _web() -> dict:
    """``monitoring:web`` checked whole (secrets included: the caller must not return them)."""
    return _graphite_web.from_pillar(__salt__["pillar.get"])  # noqa: F821 - Salt dunder


def web_config():
    """
    What the web application's SLS writes and runs, from ``monitoring:web`` checked whole (an
    error names each wrong key, and a port another program listens on): ``enabled``, ``url``,
    ``address``, ``port``, ``admin_user``, the settings module and WSGI entry texts, gunicorn's
    command line, the service's name and its logs' logrotate drop-in. Holds no secret.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.web_config
    """
    model = _web()
    if model["enabled"]:
        conflict = _graphite_web.port_conflict(model)
        if conflict:
            raise MonitoringError([conflict])
    return {
        "enabled": model["enabled"], "url": _graphite_web.base_url(model), "address": model["address"],
        "port": model["port"], "host": _graphite_web.local_address(model["address"]), "admin_user": model["admin_user"], "user": _graphite_web.USER,
        "service": _graphite_web.SERVICE, "pid_file": _graphite_web.PID_FILE,
        "settings": _graphite_web.render_local_settings(model), "wsgi": _graphite_web.render_wsgi(),
        "argv": _graphite_web.gunicorn_argv(model),
        "logrotate_file": _graphite_web.LOGROTATE_FILE, "logrotate": _graphite_web.render_logrotate(),
    }


# --------------------------------------------------------------------------------------------
# Prometheus (beside Graphite)
# --------------------------------------------------------------------------------------------


def prometheus_config(targets=False):
    """
    What the monitoring SLS writes and runs for ``monitoring:backend`` and
    ``monitoring:prometheus``, checked whole (an error names each wrong key): ``graphite`` and
    ``prometheus`` (whether each stack runs here), ``server`` (this node runs the Prometheus
    server), where each listens, the files' texts (the exporters', the server's and
    Alertmanager's ARGS, prometheus.yml, the alert rules, alertmanager.yml), the services, and
    ``url``; ``alertmanager`` is None where this node does not run it (no server, or reactions
    not masterless). With ``targets=True`` (the server's SLS) also
    ``targets``: each file-SD job's file, from the mine (a master round trip per role with a
    master: asked for only where it is used). Holds no secret.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.prometheus_config targets=True
    """
    pillar_get = __salt__["pillar.get"]  # noqa: F821 - Salt dunder
    monitoring = pillar_get("monitoring", {}, unmask=True)
    roles, broker = pillar_get("roles", [], unmask=True), pillar_get("broker", None, unmask=True)
    backend = _prometheus.backend(monitoring)
    ports = _graphite_web.node_ports(roles, pillar_get("database", None, unmask=True), broker)
    model = _prometheus.settings(monitoring.get("prometheus"), __salt__["topology.address"](), ports)  # noqa: F821
    prometheus = backend in ("prometheus", "both")
    database = None
    if carries(roles, "database"):
        with contextlib.suppress(PillarError):  # the database role's own states name its errors
            database = contract.role_model("database", pillar_get("database", None, unmask=True))
    mysqld = None
    if prometheus and database is not None:
        problems = _prometheus.mysqld_account(database)
        if problems:
            raise MonitoringError(problems)
        mysqld = {"service": _prometheus.MYSQLD_SERVICE, "defaults_file": _prometheus.MYSQLD_DEFAULTS_FILE,
                  "defaults": _prometheus.mysqld_exporter_defaults(model), "port": model["mysqld_exporter"]["port"],
                  "address": model["node_exporter"]["address"]}
    thresholds = monitoring.get("thresholds") or {}
    if thresholds:
        valid, why = _thresholds.validate({"thresholds": thresholds})
        if not valid:
            raise MonitoringError([why.replace("metric_threshold", "monitoring:thresholds", 1)])  # the beacon's words
        problems = _prometheus.rule_problems(thresholds)
        if problems and prometheus:
            raise MonitoringError(problems)
    minion = __opts__.get("id") or "localhost"  # noqa: F821 - Salt dunder
    reactions = _reactions.settings(monitoring.get("reactions"))
    watched = reactions["services"] if reactions["enabled"] else []
    rules, untranslated = _prometheus.render_rules(thresholds, watched, minion)
    # Alertmanager where the server runs and its node's reactions run masterless (the reactions'
    # daemon serves the webhook); with a master, the Graphite beacon's events reach its reactor.
    alertmanager = None
    if prometheus and model["server"] and reactions["enabled"] \
            and __opts__.get("master_type") == "disable":  # noqa: F821 - Salt dunder
        if model["alertmanager"]["hook_token"] is None:
            raise MonitoringError(["monitoring:prometheus:alertmanager:hook_token is not set: bin/configure generates "
                                   "it in .salt/pillar/secrets.sls (run bin/setup), or set one of 16 or more characters"])
        alertmanager = {
            "service": _prometheus.ALERTMANAGER_SERVICE, "defaults_file": _prometheus.ALERTMANAGER_DEFAULTS_FILE,
            "defaults": _prometheus.defaults_file(_prometheus.alertmanager_args(model), _prometheus.ALERTMANAGER_SERVICE),
            "config_file": _prometheus.ALERTMANAGER_CONFIG_FILE,
            "config": _prometheus.render_alertmanager(_prometheus.hook_url(model)),
            "token_file": _prometheus.HOOK_TOKEN_FILE, "address": model["address"], "port": model["alertmanager"]["port"],
            # What the reactions' daemon reads (its minion.d, salt/monitoring/reactor.sls): no secret.
            "hook": {"address": model["address"], "port": model["alertmanager"]["hook_port"],
                     "token_file": _prometheus.HOOK_TOKEN_FILE, "node": minion},
            # Its beacons: the thresholds Prometheus measures come through Alertmanager instead.
            "beacons": _prometheus.beacons_without(pillar_get("beacons", {}, unmask=True),
                                                   sorted(set(thresholds) - set(untranslated))),
        }
    config = {
        "backend": backend, "graphite": backend in ("graphite", "both"), "prometheus": prometheus,
        "rules_dir": _prometheus.RULES_DIR, "rules_file": _prometheus.RULES_FILE, "rules": rules,
        "untranslated": untranslated,
        "server": model["server"], "url": _prometheus.server_url(model),
        "address": model["address"], "port": model["port"],
        "exporter": {"address": model["node_exporter"]["address"], "port": model["node_exporter"]["port"],
                     "service": _prometheus.EXPORTER_SERVICE, "defaults_file": _prometheus.EXPORTER_DEFAULTS_FILE,
                     "defaults": _prometheus.defaults_file(_prometheus.exporter_args(model), _prometheus.EXPORTER_SERVICE)},
        "mysqld": mysqld,
        # Salt's own runs for the textfile collector (monitoring:salt_runs:enabled), where this
        # minion's config names the returner (masterless: saltconfig.minion_of): its options in
        # minion.d (config_file, beside this minion's own config).
        "salt_runs": {"enabled": prometheus and _run_metrics.settings(monitoring)["enabled"]
                      and "prometheus_textfile" in str(__opts__.get("return", "")).split(","),  # noqa: F821
                      "config_file": os.path.join(os.path.dirname(str(__opts__.get("conf_file", ""))),  # noqa: F821
                                                  "minion.d", _prometheus.SALT_RUNS_CONFIG),
                      "config": _prometheus.salt_runs_config()},
        "process": {"address": model["node_exporter"]["address"], "port": model["process_exporter"]["port"],
                    "service": _prometheus.PROCESS_SERVICE, "defaults_file": _prometheus.PROCESS_DEFAULTS_FILE,
                    "defaults": _prometheus.defaults_file(_prometheus.process_exporter_args(model),
                                                          _prometheus.PROCESS_SERVICE),
                    "config_file": _prometheus.PROCESS_CONFIG_FILE, "config": _prometheus.process_exporter_config(watched)},
        "alertmanager": alertmanager,
        "service": _prometheus.SERVER_SERVICE, "defaults_file": _prometheus.SERVER_DEFAULTS_FILE,
        "defaults": _prometheus.defaults_file(_prometheus.server_args(model), _prometheus.SERVER_SERVICE),
        "config_file": _prometheus.CONFIG_FILE, "config": _prometheus.render_config(model, alertmanager is not None),
        "targets_dir": _prometheus.TARGETS_DIR,
        "consoles_dir": _prometheus.CONSOLES_DIR, "console_libraries_dir": _prometheus.CONSOLE_LIBRARIES_DIR,
        "consoles_url": f"{_prometheus.server_url(model)}/consoles/index.html",
    }
    if not flag(targets, "targets"):
        return config
    broker_model = None
    if carries(roles, "broker"):
        with contextlib.suppress(PillarError):  # the broker role's own states name its errors
            broker_model = contract.role_model("broker", broker)
    monitoring_nodes = role_addresses_elsewhere(__salt__, minion, "monitoring")  # noqa: F821
    groups = {
        "node.json": _prometheus.node_targets(model, minion, monitoring_nodes),
        "process.json": _prometheus.process_targets(model, minion, monitoring_nodes),
        "rabbitmq.json": _prometheus.rabbitmq_targets(broker_model, minion, role_addresses_elsewhere(__salt__, minion, "broker")),  # noqa: F821
        "mysqld.json": _prometheus.mysqld_targets(model, carries(roles, "database"), minion,
                                                  role_addresses_elsewhere(__salt__, minion, "database")),  # noqa: F821
    }
    config["targets"] = {name: _prometheus.render_targets(found) for name, found in groups.items()}
    return config


def _cloud_minions() -> list[str]:
    """Every minion that publishes its address to the mine (the cloud's nodes; this one alone
    when masterless)."""
    try:
        return sorted(__salt__["mine.get"]("*", "node_address") or {})  # noqa: F821
    except Exception:  # no mine (yet)  # noqa: BLE001
        return []


def dashboards(states=False):
    """
    The dashboards the web application shows, by name, and their URLs: ``host-<node>`` for each
    node (this one, and every node carbon holds metrics of), ``database``, ``broker`` (the nodes
    carrying those roles) and ``salt-runs``. Generated, not hand-made: the monitoring state saves
    them on each apply. ``states=True`` gives each dashboard's graphite-web state as well.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.dashboards
    """
    states = flag(states, "states")
    model = _web()
    if not model["enabled"]:
        return {}
    config = _collectd_config()
    prefix = config.get("prefix", "collectd")
    # Salt's runs as the returner measures them (the salt-runs dashboard only when it sends them).
    runs = _run_metrics.settings(__salt__["pillar.get"]("monitoring", {}, unmask=True))  # noqa: F821
    salt_prefix = runs["prefix"] if runs["enabled"] else None
    found = _dashboards.inventory(model["whisper_dir"], prefix, salt_prefix, _dashboards.metric_name(socket.gethostname()),
                                  config.get("plugins", DEFAULT_PLUGINS),
                                  _dashboards.metric_name(__opts__["id"]), _cloud_minions())  # noqa: F821 - Salt dunder
    thresholds = __salt__["pillar.get"]("monitoring:thresholds", {}, unmask=True)  # noqa: F821
    wanted = _dashboards.dashboards(model["dashboards"], found, prefix, salt_prefix,
                                    thresholds if isinstance(thresholds, dict) else {})
    base = _graphite_web.base_url(model)
    if states:
        return {name: {"url": f"{base}/dashboard/{name}", "state": state} for name, state in wanted.items()}
    return {name: f"{base}/dashboard/{name}" for name in wanted}


# --------------------------------------------------------------------------------------------
# Reactions (called by the reactor through the caller client; see salt/reactor/)
# --------------------------------------------------------------------------------------------


def _reaction_settings() -> dict:
    return _reactions.settings(__salt__["pillar.get"]("monitoring:reactions", {}, unmask=True))  # noqa: F821


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
    return _reactions.react_service(tag, data, _reaction_settings(), __salt__["service.status"],  # noqa: F821
                                    __salt__["service.start"], _state_running, time.time())  # noqa: F821


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
    name = _reactions.event_data(data).get("threshold")
    spec = __salt__["pillar.get"](f"monitoring:thresholds:{name}", None, unmask=True)  # noqa: F821
    return _reactions.react_threshold(tag, data, _reaction_settings(), spec, __salt__,  # noqa: F821
                                      _state_running, time.time())


def beacons_loaded(timeout=10):
    """
    Whether the salt-minion daemon runs the beacons of the pillar the master serves now
    (``beacons:``). A minion connected to a master runs the beacons of its in-memory pillar,
    which a state run does not refresh; ``saltutil.refresh_pillar`` reloads them. Returns
    ``{"daemon": bool, "differ": [beacon names]}``; ``daemon`` is False when no salt-minion
    daemon answered within ``timeout`` seconds (0.1 to 300; nothing runs beacons then).

    CLI Example:

    .. code-block:: bash

        salt node1 monitoring.beacons_loaded
    """
    timeout = number(timeout, "timeout", 0.1, 300)
    wanted = __salt__["pillar.items"](unmask=True).get("beacons") or {}  # noqa: F821
    loaded = __salt__["beacons.list"](  # noqa: F821
        return_yaml=False, include_opts=False, include_pillar=True, timeout=timeout)
    if not isinstance(loaded, dict):
        return {"daemon": False, "differ": sorted(wanted)}
    names = sorted(set(wanted) | set(loaded))
    return {"daemon": True, "differ": [name for name in names if wanted.get(name) != loaded.get(name)]}


def alert(message):
    """
    Append a timestamped alert line to ``/var/log/devstack-salt-alerts.log`` (created 0640 when
    missing): the default action of the thresholds in pillar/monitoring.sls. The message is one
    line (control characters become spaces); the file is not the caller's to choose.

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.alert "root file system above 95% full"
    """
    return _reactions.alert(re.sub(r"[\x00-\x1f\x7f]", " ", str(message)))


def reactions(last=20):
    """
    The ``last`` (0 to 10000) most recent reactions (what the reactor did and the event that
    caused it).

    CLI Example:

    .. code-block:: bash

        salt-call monitoring.reactions last=5
    """
    return _reactions.recent(number(last, "last", 0, 10000, integer=True))
