"""
Graphite dashboards generated from what the project already knows: the nodes carbon holds
metrics of (and this node, from its own collectd configuration), the roles they carry, Salt's
run metrics and the pillar's thresholds; what graphite-web holds of them, read from its database;
and its dashboard API to save them.

Nobody edits these dashboards by hand: a new node or role shows up on the next apply. Which
graphs a dashboard has follows from which collectd plugins a node runs (for this node: its
configuration; for another: the metrics carbon holds of it), so a graph never waits on a metric
that cannot come, and two applies in a row build the same dashboards.
"""

from __future__ import annotations

import contextlib
import fnmatch
import http.client
import http.cookiejar
import json
import os
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Iterable

from .errors import GraphiteWebDown, GraphiteWebError

#: The metrics each host graph is drawn from, by the collectd plugin that sends them.
HOST_PLUGINS = ("load", "cpu", "memory", "df", "interface")
DATABASE_DIR = "mysql-mariadb"       # collectd's mysql plugin, <Database mariadb> (collectd.role_plugins)
BROKER_DIR = "curl_json-rabbitmq"    # collectd's curl_json plugin, Instance rabbitmq

#: A name graphite-web accepts in /dashboard/<name> and Salt can say in a URL.
NAME_RE = re.compile(r"[A-Za-z0-9_-]+\Z")


def metric_name(text: str) -> str:
    """A host name or minion id as collectd's write_graphite and the run-metrics returner write
    it: every character other than letters, digits, '_' and '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", text)


def _children(whisper_dir: str, prefix: str) -> list[str]:
    """The folders below ``prefix`` (dotted) in carbon's whisper storage: the hosts or ids it
    holds metrics of."""
    root = os.path.join(whisper_dir, *prefix.split("."))
    try:
        return sorted(name for name in os.listdir(root) if os.path.isdir(os.path.join(root, name)))
    except OSError:
        return []


def inventory(whisper_dir: str, collectd_prefix: str, salt_prefix: str | None, this_host: str,
              this_plugins: dict, this_id: str, minion_ids: Iterable[str] = ()) -> dict:
    """The nodes and what they send: ``{"hosts": {host: set of plugin folders}, "salt_ids": [...]}``.

    This node counts from its own collectd configuration (``this_plugins``: plugin name ->
    options), so its dashboards exist from the first apply; other nodes count once carbon holds
    metrics of them. Salt's runs count for this minion and every minion of the cloud
    (``minion_ids``, from the mine) from the start: a minion's first run may reach carbon only
    after the dashboards were saved (the carbon server comes up in the same orchestration)."""
    hosts: dict[str, set[str]] = {}
    for host in _children(whisper_dir, collectd_prefix):
        hosts[host] = set(_children(whisper_dir, f"{collectd_prefix}.{host}"))
    mine = set(hosts.get(this_host, set()))
    for plugin, options in (this_plugins or {}).items():
        if plugin == "mysql":
            mine.add(DATABASE_DIR)
        elif plugin == "curl_json" and any(isinstance(block, dict) and block.get("Instance") == "rabbitmq"
                                           for block in (options or {}).values()):
            mine.add(BROKER_DIR)
        elif plugin == "df":
            if _watches_root(options or {}):
                mine.add("df-root")
        else:
            mine.add(plugin)
    hosts[this_host] = mine
    salt_ids = set(_children(whisper_dir, salt_prefix)) if salt_prefix else set()
    if salt_prefix:
        salt_ids |= {this_id, *(metric_name(minion) for minion in minion_ids)}
    return {"hosts": hosts, "salt_ids": sorted(salt_ids)}


def _watches_root(options: dict) -> bool:
    """Whether collectd's df plugin with these options reports the root file system (df-root)."""
    mounts = options.get("MountPoint")
    mounts = [] if mounts is None else mounts if isinstance(mounts, list) else [mounts]
    selected = "/" in mounts
    ignore = options.get("IgnoreSelected") is True
    return not mounts or selected != ignore


def _has(plugins: set[str], plugin: str) -> bool:
    return any(name == plugin or name.startswith(plugin + "-") for name in plugins)


def _threshold_lines(thresholds: dict, source_of: Any) -> list[str]:
    """``threshold(value, "name", "red")`` targets for the pillar's thresholds ``source_of``
    accepts (it gets a threshold's source)."""
    lines = []
    for name in sorted(thresholds or {}, key=str):
        spec = thresholds[name]
        if isinstance(spec, dict) and isinstance(spec.get("above"), (int, float)) and source_of(str(spec.get("source", ""))):
            lines.append(f'threshold({float(spec["above"])},"{metric_name(name)} above {spec["above"]}","red")')
    return lines


def _graph(title: str, targets: list[str], **params: Any) -> dict:
    return {"title": title, "target": targets, **params}


def host_graphs(prefix: str, host: str, plugins: set[str], thresholds: dict) -> list[dict]:
    """A node's host graphs: load, CPU, memory, root disk, network (those its collectd sends)."""
    base = f"{prefix}.{host}"
    depth = len(base.split("."))  # the index of the plugin folder in a metric path
    graphs = []
    if _has(plugins, "load"):
        graphs.append(_graph("Load average", [f"aliasByNode({base}.load.load.*,{depth + 2})"]
                             + _threshold_lines(thresholds, lambda s: s == "load1"), vtitle="load"))
    if _has(plugins, "cpu"):
        graphs.append(_graph("CPU, all cores (jiffies per second)", [
            f"aliasByNode(sumSeriesWithWildcards({base}.cpu-*.cpu-{{user,system,wait,steal}},{depth}),{depth})"],
            areaMode="stacked"))
    if _has(plugins, "memory"):
        graphs.append(_graph("Memory (bytes)", [
            f"aliasByNode({base}.memory.memory-{{used,buffered,cached,free}},{depth + 1})"], areaMode="stacked"))
    if "df-root" in plugins:
        graphs.append(_graph("Root file system (% used)", [
            f'alias(asPercent({base}.df-root.df_complex-used,sumSeries({base}.df-root.df_complex-*)),"used")']
            + _threshold_lines(thresholds, lambda s: s == "disk:/"), yMin=0, yMax=100))
    if _has(plugins, "interface"):
        graphs.append(_graph("Network (bytes per second)", [
            f"aliasByNode({base}.interface-*.if_octets.{{rx,tx}},{depth},{depth + 2})"]))
    return graphs


def database_graphs(prefix: str, hosts: list[str]) -> list[dict]:
    """The database role's graphs, a line per database node: connections, commands, InnoDB."""
    graphs = [
        ("Connections (threads connected and running)", "threads-{connected,running}", "aliasByNode"),
        ("Commands per second", "mysql_commands-*", "sum"),
        ("InnoDB buffer pool (pages)", "mysql_bpool_pages-{data,dirty,free}", "aliasByNode"),
        ("InnoDB data reads and writes per second", "mysql_innodb_data-{reads,writes}", "aliasByNode"),
    ]
    return [_role_graph(title, prefix, hosts, DATABASE_DIR, leaf, how) for title, leaf, how in graphs]


def broker_graphs(prefix: str, hosts: list[str]) -> list[dict]:
    """The broker role's graphs, a line per broker node: queued messages, rates, connections."""
    graphs = [
        ("Messages ready and unacknowledged", "gauge-queue_totals-{messages_ready,messages_unacknowledged}"),
        ("Messages published and delivered per second", "derive-message_stats-{publish,deliver_get}"),
        ("Connections, channels, consumers, queues", "gauge-object_totals-{connections,channels,consumers,queues}"),
    ]
    return [_role_graph(title, prefix, hosts, BROKER_DIR, leaf, "aliasByNode") for title, leaf in graphs]


def _role_graph(title: str, prefix: str, hosts: list[str], folder: str, leaf: str, how: str) -> dict:
    depth = len(prefix.split("."))  # the host's index in a metric path
    targets = []
    for host in hosts:
        path = f"{prefix}.{host}.{folder}.{leaf}"
        if how == "sum":
            targets.append(f'alias(sumSeries({path}),"{host}")')
        else:
            targets.append(f"aliasByNode({path},{depth},{depth + 2})")
    return _graph(title, targets)


def salt_graphs(prefix: str, salt_ids: list[str], thresholds: dict) -> list[dict]:
    """Salt's runs, a line per minion and function: duration, states, changes, failures. One
    point per run: the lines join the runs."""
    depth = len(prefix.split("."))
    graphs = []
    for field, title in (("duration_ms", "Run duration (ms)"), ("states", "States per run"),
                         ("changed", "Changes per run"), ("failed", "Failed states per run")):
        patterns = [f"{prefix}.{minion}.*.{field}" for minion in salt_ids]
        targets = [f"aliasByNode({pattern},{depth},{depth + 1})" for pattern in patterns]

        def matches(source: str, patterns: list[str] = patterns) -> bool:
            return source.startswith("carbon:") and any(fnmatch.fnmatchcase(source[7:], p) for p in patterns)

        graphs.append(_graph(title, targets + _threshold_lines(thresholds, matches), lineMode="connected"))
    return graphs


def dashboards(settings: dict, inventory_: dict, collectd_prefix: str, salt_prefix: str | None,
               thresholds: dict) -> dict[str, dict]:
    """Every dashboard's graphite-web state, by name: ``host-<node>`` per node, ``database``,
    ``broker`` and ``salt-runs`` where there is something to show."""
    graphs: dict[str, list[dict]] = {}
    hosts = inventory_["hosts"]
    if settings["hosts"]:
        for host in sorted(hosts):
            found = host_graphs(collectd_prefix, host, hosts[host], thresholds)
            if found:
                graphs[f"host-{host}"] = found
    database = sorted(host for host, plugins in hosts.items() if DATABASE_DIR in plugins)
    if settings["database"] and database:
        graphs["database"] = database_graphs(collectd_prefix, database)
    broker = sorted(host for host, plugins in hosts.items() if BROKER_DIR in plugins)
    if settings["broker"] and broker:
        graphs["broker"] = broker_graphs(collectd_prefix, broker)
    if settings["salt_runs"] and salt_prefix and inventory_["salt_ids"]:
        graphs["salt-runs"] = salt_graphs(salt_prefix, inventory_["salt_ids"], thresholds)
    return {name: dashboard_state(name, found, settings) for name, found in graphs.items()
            if NAME_RE.match(name)}


def dashboard_state(name: str, graphs: list[dict], settings: dict) -> dict:
    """graphite-web's dashboard state (what its own UI saves): time range, refresh, graph size,
    and ``[id, params, url]`` per graph."""
    quantity, units = re.match(r"-(\d+)(\w+)", settings["time_range"]).groups()
    size = {"width": settings["graph_width"], "height": settings["graph_height"]}
    defaults = {"from": settings["time_range"], "until": "now", **size}
    entries = []
    for i, params in enumerate(graphs):
        url = "/render?" + urllib.parse.urlencode({**defaults, **params}, doseq=True)
        entries.append([f"{name}-{i + 1}", params, url])
    return {
        "name": name,
        "timeConfig": {"type": "relative", "relativeStartQuantity": quantity, "relativeStartUnits": units,
                       "relativeUntilQuantity": "", "relativeUntilUnits": "now",
                       "startDate": "", "startTime": "", "endDate": "", "endTime": ""},
        "refreshConfig": {"enabled": True, "interval": settings["refresh"] * 1000},
        "graphSize": size,
        "defaultGraphParams": defaults,
        "graphs": entries,
    }


def targets_of(state: dict) -> list[list[str]]:
    """The targets of each graph of a dashboard state (what a check renders)."""
    return [list(entry[1].get("target", [])) for entry in state.get("graphs", [])]


# --------------------------------------------------------------------------------------------
# graphite-web's dashboard API (saving), and its database (what is saved)
# --------------------------------------------------------------------------------------------


def _request(opener: urllib.request.OpenerDirector, url: str, form: dict | None = None, timeout: float = 15) -> dict:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    parts = urllib.parse.urlsplit(url)
    where = f"graphite-web at {parts.scheme}://{parts.netloc}"
    try:
        with opener.open(url, data=data, timeout=timeout) as response:
            answer = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:  # an answer, not its API's (before URLError: a subclass)
        raise GraphiteWebError(f"{where} answered {parts.path} with HTTP {exc.code} {exc.reason}") from None
    except ValueError as exc:
        raise GraphiteWebError(f"{where} answered {parts.path} with something that is not JSON: {exc}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise GraphiteWebDown(f"{where} did not answer {parts.path}: {exc}") from None
    except http.client.HTTPException as exc:
        raise GraphiteWebError(f"{where} answered {parts.path} with a broken HTTP answer: {exc!r}") from None
    if not isinstance(answer, dict):
        raise GraphiteWebError(f"{where} answered {parts.path} with {type(answer).__name__}, not an object")
    return answer


def load(base: str, name: str, timeout: float = 15) -> dict | None:
    """A saved dashboard's state, or None when there is no dashboard of that name."""
    return _request(urllib.request.build_opener(), f"{base}/dashboard/load/{name}", timeout=timeout).get("state")


def save(base: str, user: str, password: str, states: dict[str, dict], timeout: float = 15) -> None:
    """Log in as ``user`` (a session cookie), save each dashboard and log out (the session ends
    with the run); GraphiteWebError when the login or a save is refused. The password goes in
    the request body only."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    login = _request(opener, f"{base}/dashboard/login", {"username": user, "password": password}, timeout)
    permissions = login.get("permissions")
    if login.get("success") is not True or not isinstance(permissions, list) or "change" not in permissions:
        errors = login.get("errors")
        reason = errors.get("reason") if isinstance(errors, dict) else None
        raise GraphiteWebError(f"graphite-web refused the login of {user!r}: "
                               f"{reason if isinstance(reason, str) else _shown(login)}")
    try:
        for name, state in states.items():
            answer = _request(opener, f"{base}/dashboard/save/{name}", {"state": json.dumps(state)}, timeout)
            if answer.get("success") is not True:
                error = answer.get("error")
                raise GraphiteWebError(f"graphite-web did not save dashboard {name}: "
                                       f"{error if isinstance(error, str) else _shown(answer)}")
    finally:
        # Logging out only ends the session before the run does: a logout that fails must
        # neither hide the error of a save (raised above) nor fail saves that succeeded.
        with contextlib.suppress(GraphiteWebError):
            _request(opener, f"{base}/dashboard/logout", {}, timeout)


def _shown(answer: dict) -> str:
    """An unexpected answer, short, for a message."""
    text = json.dumps(answer, default=str)
    return f"unexpected answer {text[:200]}{'...' if len(text) > 200 else ''}"


def saved_states(database: str, names: Any) -> dict[str, Any]:
    """The states graphite-web holds for the dashboards ``names``, by name, as its API would
    answer them: read straight from its database (read-only), so what is saved is known whether
    the web application runs or not. {} before the database or its table exists (``graphite-manage
    migrate`` makes them); a state that is not JSON is returned as its text (it differs from any
    wanted one). GraphiteWebError when the database cannot be read."""
    if not os.path.exists(database):
        return {}
    wanted = set(names)
    uri = f"file:{urllib.parse.quote(database)}?mode=ro"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=15)) as db:
            # graphite.dashboard.models.Dashboard: name (primary key) and state (JSON text).
            table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'dashboard_dashboard'"
            if not db.execute(table).fetchone():
                return {}
            rows = db.execute("SELECT name, state FROM dashboard_dashboard").fetchall()
    except sqlite3.Error as exc:
        raise GraphiteWebError(f"cannot read the saved dashboards in {database}: {exc}") from None
    found: dict[str, Any] = {}
    for name, text in rows:
        if name in wanted:
            try:
                found[name] = json.loads(text)
            except (TypeError, ValueError):
                found[name] = text
    return found


def plan(wanted: dict[str, dict], database: str) -> dict[str, str]:
    """What saving ``wanted`` would change: ``{name: "created" | "updated"}`` for the dashboards
    missing from graphite-web's database or different there (:func:`saved_states`); every one is
    "created" while the database does not exist yet."""
    saved = saved_states(database, wanted)
    changes = {}
    for name, state in wanted.items():
        if name not in saved:
            changes[name] = "created"
        elif saved[name] != json.loads(json.dumps(state)):
            changes[name] = "updated"
    return changes


def wait_until_answering(base: str, probe: str, timeout: float, step: float = 1) -> None:
    """Return once graphite-web answers its dashboard API (``/dashboard/load/<probe>``, with a
    state or "does not exist" alike), trying for up to ``timeout`` s: it may have just been
    (re)started. The last GraphiteWebError after that."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            load(base, probe, timeout=max(1.0, min(15.0, timeout)))
            return
        except GraphiteWebError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(step)


def apply(base: str, user: str, password: str, wanted: dict[str, dict], changes: dict[str, str],
          database: str, timeout: float = 60) -> dict[str, str]:
    """Save the dashboards a :func:`plan` named in ``changes`` through graphite-web's API once it
    answers (up to ``timeout`` s), then plan again from its database: what still differs, {}
    when everything was saved as wanted."""
    if not changes:
        return {}
    wait_until_answering(base, sorted(changes)[0], timeout)
    save(base, user, password, {name: wanted[name] for name in changes})
    return plan(wanted, database)
