"""
The message broker (RabbitMQ) as a model: validate the broker pillar, render the broker's
configuration files, read the whole broker once, compare, write only what differs.

Not named ``rabbitmq``: core Salt has a module of that name, which a synced module would replace.

The pillar under ``broker:`` (README.md, "Broker role") is normalised into a *definition*::

    {"address": str, "port": int, "dist_port": int, "management_port": int, "prometheus_port": int,
     "vhosts": [name, ...],
     "users": {name: {"password": str, "tags": [tag, ...], "permissions": {vhost: {configure, write, read}}}},
     "policies": {name: {"vhost", "pattern", "definition": {...}, "priority": int, "apply_to"}},
     "plugins": [name, ...] | None (None: plugins are not managed),
     "prune": bool}

Reading costs one Erlang VM (``rabbitmqctl export_definitions``, JSON) plus the plugins file;
writing costs one more (``rabbitmqctl import_definitions`` on stdin, with password *hashes*
computed here) and one call per removal. Passwords never reach a command line, a log, a return
value or the broker in plain text: a changed password is detected by checking the salted hash the
broker exports against the pillar password, locally.

The CLI tools address the node named in rabbitmq-env.conf (the role writes ``rabbit@localhost``);
the minion config option ``message_broker.node`` (read with ``config.get``) names another.

Everything below the public functions is plain Python with no Salt dunders, so the unit tests
import this file directly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Any

from devstack_salt import files as devstack_salt_files

from salt.exceptions import CommandExecutionError


__virtualname__ = "message_broker"

#: Where Debian puts the real CLI scripts (/usr/sbin/rabbitmqctl is a wrapper that rebuilds the
#: arguments into a shell string for ``su``); we run them as the rabbitmq user ourselves.
CLI_DIRS = ("/usr/lib/rabbitmq/bin", "/usr/sbin", "/usr/bin")
RABBITMQ_HOME = "/var/lib/rabbitmq"
ENABLED_PLUGINS_FILE = "/etc/rabbitmq/enabled_plugins"
NODE_NAME = "rabbit@localhost"  # a single node; localhost resolves everywhere
#: Debian's init script stops the node with ``rabbitmqctl stop <this file>``, which waits for
#: the file forever when it is missing (two starts that raced: the failed one removes the file
#: the other wrote). The role keeps it naming the running node (``message_broker.pid_file``).
PID_FILE = "/var/run/rabbitmq/pid"
HIDDEN = "<hidden>"

TOP_KEYS = ("address", "port", "dist_port", "management_port", "prometheus_port", "erlang_cookie",
            "devstack_user", "vhosts", "users", "policies", "plugins", "prune")
USER_KEYS = ("password", "tags", "permissions")
PERMISSION_KEYS = ("configure", "write", "read")
POLICY_KEYS = ("vhost", "pattern", "definition", "priority", "apply_to")
#: apply-to values RabbitMQ 3.10 accepts (classic_queues/quorum_queues/streams came in 3.12).
APPLY_TO = ("queues", "exchanges", "all")
#: Policy definition keys RabbitMQ 3.10.8 validates (rabbit_registry policy_validator, read from
#: a running 3.10.8 node), plus the federation plugin's. Unknown keys make import_definitions
#: fail half-way, so they are rejected here, before anything is written.
POLICY_DEFINITION_KEYS = frozenset({
    "alternate-exchange", "dead-letter-exchange", "dead-letter-routing-key", "dead-letter-strategy",
    "delivery-limit", "expires", "ha-mode", "ha-params", "ha-promote-on-failure",
    "ha-promote-on-shutdown", "ha-sync-batch-size", "ha-sync-mode", "initial-cluster-size",
    "max-age", "max-in-memory-bytes", "max-in-memory-length", "max-length", "max-length-bytes",
    "message-ttl", "overflow", "queue-leader-locator", "queue-master-locator", "queue-mode",
    "queue-version", "stream-max-segment-size-bytes", "federation-upstream", "federation-upstream-set",
})
#: Plugins with a listener of their own, bound to broker:address on the port of this key.
PLUGIN_LISTENERS = {"rabbitmq_management": ("management", "management_port", 15672),
                    "rabbitmq_prometheus": ("prometheus", "prometheus_port", 15692)}
HASHES = {"rabbit_password_hashing_sha256": hashlib.sha256,
          "rabbit_password_hashing_sha512": hashlib.sha512,
          "rabbit_password_hashing_md5": hashlib.md5}
NAME_RE = re.compile(r"^[A-Za-z0-9_.@/:-]{1,255}$")
PLUGIN_RE = re.compile(r"^[a-z0-9_]+$")


def __virtual__():
    """Always loadable: validation and rendering need only Python; functions that talk to the
    broker say so when RabbitMQ is not installed."""
    return __virtualname__


class BrokerError(CommandExecutionError):
    """Invalid broker pillar: every problem, each naming its pillar path."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("invalid broker pillar (nothing was changed):\n- " + "\n- ".join(errors))


class BrokerDown(CommandExecutionError):
    """The broker cannot be reached: RabbitMQ is not installed, or its node is not running."""


# --------------------------------------------------------------------------------------------
# Pillar -> definition (every error names its pillar path)
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return None if any(c in text for c in "\n\r\0") else text


def _port(raw: dict, key: str, default: int, root: str, errors: list[str]) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        errors.append(f"{root}:{key} must be a TCP port number (1-65535), not {value!r}")
        return default
    return value


def normalize(pillar: Any, root: str = "broker") -> dict:
    """Validate the broker pillar and return the definition; raise BrokerError listing every
    problem by pillar path."""
    errors: list[str] = []
    if not isinstance(pillar, dict):
        raise BrokerError([f"{root} must be a mapping (see pillar/broker.sls), not {type(pillar).__name__}"])
    for key in pillar:
        if key not in TOP_KEYS:
            errors.append(f"{root}:{key} is not a broker setting; known: {', '.join(TOP_KEYS)}")
    address = _text(pillar.get("address", "127.0.0.1"))
    if not address or not re.fullmatch(r"[0-9A-Fa-f.:]+", address):
        errors.append(f"{root}:address must be an IP address to listen on (e.g. 127.0.0.1), not {pillar.get('address')!r}")
        address = "127.0.0.1"
    model: dict[str, Any] = {
        "address": address,
        "port": _port(pillar, "port", 5672, root, errors),
        "dist_port": _port(pillar, "dist_port", 25672, root, errors),
        "management_port": _port(pillar, "management_port", 15672, root, errors),
        "prometheus_port": _port(pillar, "prometheus_port", 15692, root, errors),
        "prune": pillar.get("prune", True),
    }
    if not isinstance(model["prune"], bool):
        errors.append(f"{root}:prune must be true or false")
    vhosts_raw = pillar.get("vhosts", ["/"])
    if not isinstance(vhosts_raw, list):
        errors.append(f"{root}:vhosts must be a list of virtual host names, e.g. ['/']")
        vhosts_raw = []
    vhosts: list[str] = []
    for index, name in enumerate(vhosts_raw):
        text = _text(name)
        if not text or not NAME_RE.match(text):
            errors.append(f"{root}:vhosts:{index} is not a valid virtual host name: {name!r}")
        elif text in vhosts:
            errors.append(f"{root}:vhosts:{index} repeats {text!r}")
        else:
            vhosts.append(text)
    model["vhosts"] = sorted(vhosts)
    model["users"] = _users(pillar.get("users", {}), f"{root}:users", set(vhosts), errors)
    model["policies"] = _policies(pillar.get("policies", {}), f"{root}:policies", set(vhosts), errors)
    plugins = pillar.get("plugins")
    if plugins is not None:
        if not isinstance(plugins, list) or not all(isinstance(p, str) and PLUGIN_RE.match(p) for p in plugins):
            errors.append(f"{root}:plugins must be a list of plugin names such as rabbitmq_management")
            plugins = []
        plugins = sorted(set(plugins))
    model["plugins"] = plugins
    devstack_user = pillar.get("devstack_user")
    if devstack_user is not None:
        if not isinstance(devstack_user, str) or devstack_user not in model["users"]:
            errors.append(f"{root}:devstack_user names {devstack_user!r}, which is not under {root}:users")
        elif not model["users"][devstack_user]["password"].isalnum():
            errors.append(f"{root}:users:{devstack_user}:password must be alphanumeric: DevStack puts it in URLs")
    model["devstack_user"] = devstack_user
    if errors:
        raise BrokerError(errors)
    return model


def _users(raw: Any, path: str, vhosts: set[str], errors: list[str]) -> dict:
    if not isinstance(raw, dict):
        errors.append(f"{path} must be a mapping of user name to settings")
        return {}
    users = {}
    for name, settings in raw.items():
        where = f"{path}:{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(f"{where}: not a valid user name")
            continue
        if not isinstance(settings, dict):
            errors.append(f"{where} must be a mapping with password, tags and permissions")
            continue
        for key in settings:
            if key not in USER_KEYS:
                errors.append(f"{where}:{key} is not a user setting; known: {', '.join(USER_KEYS)}")
        password = settings.get("password")
        if not isinstance(password, (str, int)) or isinstance(password, bool) or not _text(password):
            errors.append(f"{where}:password is not set (a non-empty string on one line); keep it in a "
                          "secret pillar file such as .salt/pillar/secrets.sls (bin/configure generates one)")
            password = ""
        tags = settings.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and PLUGIN_RE.match(t) for t in tags):
            errors.append(f"{where}:tags must be a list of tags such as [administrator] or [monitoring]")
            tags = []
        permissions = {}
        raw_perms = settings.get("permissions", {})
        if not isinstance(raw_perms, dict):
            errors.append(f"{where}:permissions must map a virtual host to {{configure, write, read}}")
            raw_perms = {}
        for vhost, perm in raw_perms.items():
            pwhere = f"{where}:permissions:{vhost}"
            if vhost not in vhosts:
                errors.append(f"{pwhere}: virtual host {vhost!r} is not declared in broker:vhosts")
            if not isinstance(perm, dict):
                errors.append(f"{pwhere} must be a mapping with configure, write and read (regular expressions)")
                continue
            for key in perm:
                if key not in PERMISSION_KEYS:
                    errors.append(f"{pwhere}:{key} is not a permission; use configure, write and read")
            entry = {}
            for key in PERMISSION_KEYS:
                value = _text(perm.get(key, ""))
                if value is None:
                    errors.append(f"{pwhere}:{key} must be a regular expression string ('' grants nothing)")
                    value = ""
                else:
                    try:
                        re.compile(value)
                    except (re.error, OverflowError, RecursionError) as exc:
                        errors.append(f"{pwhere}:{key} is not a valid regular expression: {exc}")
                entry[key] = value
            permissions[str(vhost)] = entry
        users[name] = {"password": str(password), "tags": sorted(set(tags)), "permissions": permissions}
    return users


def _policies(raw: Any, path: str, vhosts: set[str], errors: list[str]) -> dict:
    if not isinstance(raw, dict):
        errors.append(f"{path} must be a mapping of policy name to settings")
        return {}
    policies = {}
    for name, settings in raw.items():
        where = f"{path}:{name}"
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(f"{where}: not a valid policy name")
            continue
        if not isinstance(settings, dict):
            errors.append(f"{where} must be a mapping with vhost, pattern, definition, priority, apply_to")
            continue
        for key in settings:
            if key not in POLICY_KEYS:
                hint = " (write apply_to, with an underscore)" if key == "apply-to" else ""
                errors.append(f"{where}:{key} is not a policy setting{hint}; known: {', '.join(POLICY_KEYS)}")
        vhost = _text(settings.get("vhost", "/"))
        if vhost not in vhosts:
            errors.append(f"{where}:vhost: virtual host {vhost!r} is not declared in broker:vhosts")
        pattern = _text(settings.get("pattern"))
        if not pattern:
            errors.append(f"{where}:pattern is required: a regular expression on queue/exchange names")
        else:
            try:  # RabbitMQ rejects it too, but only half-way through import_definitions
                re.compile(pattern)
            except (re.error, OverflowError, RecursionError) as exc:
                errors.append(f"{where}:pattern is not a valid regular expression: {exc}")
        definition = settings.get("definition")
        if not isinstance(definition, dict) or not definition:
            errors.append(f"{where}:definition must be a non-empty mapping, e.g. {{delivery-limit: 5}}")
            definition = {}
        for key in definition:
            if key not in POLICY_DEFINITION_KEYS:
                errors.append(f"{where}:definition:{key} is not a policy key RabbitMQ knows; "
                              f"known: {', '.join(sorted(POLICY_DEFINITION_KEYS))}")
        priority = settings.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int):
            errors.append(f"{where}:priority must be an integer")
            priority = 0
        apply_to = settings.get("apply_to", "all")
        if apply_to not in APPLY_TO:
            errors.append(f"{where}:apply_to must be one of {', '.join(APPLY_TO)}, not {apply_to!r}")
        policies[name] = {"vhost": vhost, "pattern": pattern, "definition": dict(definition),
                          "priority": priority, "apply_to": apply_to}
    return policies


# --------------------------------------------------------------------------------------------
# Configuration files (rendered from the definition, written by file.managed in salt/broker)
# --------------------------------------------------------------------------------------------


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def render_rabbitmq_conf(model: dict) -> str:
    """/etc/rabbitmq/rabbitmq.conf: the AMQP listener and the plugins' HTTP listeners, all on
    broker:address only (the plugins listen on 0.0.0.0 unless told otherwise)."""
    lines = ["# Written by Salt (salt/broker, message_broker module) from the broker pillar.",
             "listeners.tcp.1 = " + _endpoint(model["address"], model["port"]),
             "listeners.ssl = none"]
    for plugin, (prefix, key, _default) in sorted(PLUGIN_LISTENERS.items()):
        lines += [f"{prefix}.tcp.ip = {model['address']}", f"{prefix}.tcp.port = {model[key]}"]
    return "\n".join(lines) + "\n"


def render_env_conf(model: dict) -> str:
    """/etc/rabbitmq/rabbitmq-env.conf: node name, and the Erlang distribution (epmd and the
    inter-node port) on loopback only: this is a single-node broker."""
    return (
        "# Written by Salt (salt/broker, message_broker module) from the broker pillar.\n"
        "# A single node: Erlang distribution (epmd, the inter-node port) on loopback only.\n"
        f"NODENAME={NODE_NAME}\n"
        "ERL_EPMD_ADDRESS=127.0.0.1\n"
        f"DIST_PORT={model['dist_port']}\n"
        'SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"\n'
    )


def render_epmd_socket(model: dict) -> str:
    """A drop-in for Debian's epmd.socket: on systemd hosts systemd, not epmd, opens epmd's port
    (socket activation, every address by default) and ERL_EPMD_ADDRESS has no effect there."""
    return (
        "# Written by Salt (salt/broker, message_broker module): epmd on loopback only.\n"
        "[Socket]\n"
        "ListenStream=\n"
        "ListenStream=127.0.0.1:4369\n"
    )


# --------------------------------------------------------------------------------------------
# Passwords: RabbitMQ's salted hashes, made and checked locally
# --------------------------------------------------------------------------------------------


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256 hash: base64(salt(4) + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def password_matches(password: str, encoded: str, algorithm: str) -> bool:
    """Whether a hash exported by RabbitMQ is the hash of ``password`` (constant-time compare)."""
    digest = HASHES.get(algorithm or "rabbit_password_hashing_md5")
    try:
        raw = base64.b64decode(encoded or "", validate=True)
    except ValueError:
        return False
    if digest is None or len(raw) <= 4:
        return False
    return hmac.compare_digest(raw[4:], digest(raw[:4] + password.encode()).digest())


# --------------------------------------------------------------------------------------------
# The broker as it is, and the plan from it to the definition
# --------------------------------------------------------------------------------------------


def current_from_export(export: dict, plugins: list[str] | None) -> dict:
    """The parts of ``export_definitions`` output this module manages, keyed for comparison."""
    users = {}
    for user in export.get("users", []):
        tags = user.get("tags", [])
        if isinstance(tags, str):  # before 3.9: "a,b"
            tags = [t for t in tags.split(",") if t]
        users[user["name"]] = {"tags": sorted(tags), "password_hash": user.get("password_hash", ""),
                               "hashing_algorithm": user.get("hashing_algorithm", "")}
    permissions = {(p["user"], p["vhost"]): {k: p.get(k, "") for k in PERMISSION_KEYS}
                   for p in export.get("permissions", [])}
    policies = {}
    for pol in export.get("policies", []):
        definition = pol.get("definition", {})
        if isinstance(definition, str):
            definition = json.loads(definition)
        policies[(pol["vhost"], pol["name"])] = {
            "vhost": pol["vhost"], "pattern": pol.get("pattern"), "definition": definition,
            "priority": pol.get("priority", 0), "apply_to": pol.get("apply-to", "all")}
    return {"vhosts": sorted(v["name"] for v in export.get("vhosts", [])), "users": users,
            "permissions": permissions, "policies": policies, "plugins": plugins}


def _policy_doc(policy: dict, name: str) -> dict:
    return {"vhost": policy["vhost"], "name": name, "pattern": policy["pattern"], "apply-to": policy["apply_to"],
            "definition": policy["definition"], "priority": policy["priority"]}


def plan(model: dict, current: dict) -> dict:
    """Compare the definition with the broker. Returns ``{"changes": {...}, "import": {...},
    "remove": [...], "plugins": [...] | None}``: changes masked (no password, no hash), what to
    import in one call, what to remove one by one, the plugin list to set (None: leave)."""
    changes: dict[str, dict] = {}
    doc: dict[str, list] = {"users": [], "vhosts": [], "permissions": [], "policies": []}
    remove: list[tuple[str, ...]] = []
    prune = model["prune"]
    for vhost in model["vhosts"]:
        if vhost not in current["vhosts"]:
            changes[f"vhost:{vhost}"] = {"old": "absent", "new": "present"}
            doc["vhosts"].append({"name": vhost})
    removed_vhosts = [v for v in current["vhosts"] if v not in model["vhosts"]] if prune else []
    for vhost in removed_vhosts:
        changes[f"vhost:{vhost}"] = {"old": "present", "new": "absent (deleted with its queues)"}
        remove.append(("delete_vhost", vhost))
    for name, user in sorted(model["users"].items()):
        have = current["users"].get(name)
        if have is None:
            changes[f"user:{name}"] = {"old": "absent", "new": {"tags": user["tags"], "password": HIDDEN}}
            doc["users"].append({"name": name, "password_hash": password_hash(user["password"]),
                                 "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": user["tags"], "limits": {}})
        else:
            entry = {"name": name, "password_hash": have["password_hash"],
                     "hashing_algorithm": have["hashing_algorithm"], "tags": user["tags"], "limits": {}}
            differs = False
            if have["tags"] != user["tags"]:
                changes[f"user:{name}:tags"] = {"old": have["tags"], "new": user["tags"]}
                differs = True
            if not password_matches(user["password"], have["password_hash"], have["hashing_algorithm"]):
                changes[f"user:{name}:password"] = {"old": HIDDEN, "new": HIDDEN + " (changed)"}
                entry.update(password_hash=password_hash(user["password"]),
                             hashing_algorithm="rabbit_password_hashing_sha256")
                differs = True
            if differs:
                doc["users"].append(entry)
    removed_users = [u for u in sorted(current["users"]) if u not in model["users"]] if prune else []
    for name in removed_users:
        changes[f"user:{name}"] = {"old": {"tags": current["users"][name]["tags"]}, "new": "absent"}
        remove.append(("delete_user", name))
    wanted_perms = {(u, v): p for u, user in model["users"].items() for v, p in user["permissions"].items()}
    for (user, vhost), perm in sorted(wanted_perms.items()):
        have = current["permissions"].get((user, vhost))
        if have != perm:
            changes[f"permissions:{user}@{vhost}"] = {"old": have or "absent", "new": perm}
            doc["permissions"].append({"user": user, "vhost": vhost, **perm})
    if prune:
        for (user, vhost), perm in sorted(current["permissions"].items()):
            if (user, vhost) not in wanted_perms and user not in removed_users and vhost not in removed_vhosts:
                changes[f"permissions:{user}@{vhost}"] = {"old": perm, "new": "absent"}
                remove.append(("clear_permissions", "-p", vhost, user))
    wanted_pols = {(p["vhost"], name): p for name, p in model["policies"].items()}
    for (vhost, name), pol in sorted(wanted_pols.items()):
        have = current["policies"].get((vhost, name))
        if have != pol:
            changes[f"policy:{vhost}:{name}"] = {"old": have or "absent", "new": pol}
            doc["policies"].append(_policy_doc(pol, name))
    if prune:
        for (vhost, name), pol in sorted(current["policies"].items()):
            if (vhost, name) not in wanted_pols and vhost not in removed_vhosts:
                changes[f"policy:{vhost}:{name}"] = {"old": pol, "new": "absent"}
                remove.append(("clear_policy", "-p", vhost, name))
    set_plugins = None
    if model["plugins"] is not None and model["plugins"] != current["plugins"]:
        have = set(current["plugins"] or [])
        for plugin in sorted(have | set(model["plugins"])):
            if (plugin in have) != (plugin in model["plugins"]):
                changes[f"plugin:{plugin}"] = ({"old": "enabled", "new": "disabled"} if plugin in have
                                              else {"old": "disabled", "new": "enabled"})
        set_plugins = model["plugins"]
    # Removals: policies and permissions first, then users, then virtual hosts.
    order = {"clear_policy": 0, "clear_permissions": 1, "delete_user": 2, "delete_vhost": 3}
    remove.sort(key=lambda step: order[step[0]])
    return {"changes": changes, "import": {k: v for k, v in doc.items() if v}, "remove": remove,
            "plugins": set_plugins}


def parse_enabled_plugins(text: str) -> list[str] | None:
    """The plugin list of /etc/rabbitmq/enabled_plugins (an Erlang list of atoms such as
    ``[rabbitmq_management].``), or None when it is not in that simple form (then it is set)."""
    match = re.fullmatch(r"\s*\[\s*([a-z0-9_]+(?:\s*,\s*[a-z0-9_]+)*)?\s*\]\s*\.\s*", text)
    if not match:
        return None
    return sorted({p.strip() for p in (match.group(1) or "").split(",") if p.strip()})


# --------------------------------------------------------------------------------------------
# Talking to the broker: rabbitmqctl as the rabbitmq user, secrets only on stdin
# --------------------------------------------------------------------------------------------


def _cli(name: str) -> str:
    for directory in CLI_DIRS:
        path = os.path.join(directory, name)
        if os.access(path, os.X_OK):
            return path
    found = shutil.which(name)
    if not found:
        raise BrokerDown(f"{name} is not installed: install the rabbitmq-server package "
                         "(bin/salt-call state.apply broker)")
    return found


def run_cli(tool: str, args: list[str], stdin: str | None = None, timeout: int = 120,
            node: str | None = None) -> subprocess.CompletedProcess:
    """Run a RabbitMQ CLI tool as the rabbitmq user (its Erlang cookie), never with a secret in
    ``args``, against ``node`` (default: the node of rabbitmq-env.conf). Raises BrokerDown when
    the node cannot be reached."""
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:
        kwargs = {"user": "rabbitmq", "group": "rabbitmq", "extra_groups": []}
    env = {"HOME": RABBITMQ_HOME, "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    command = [_cli(tool), *(["-n", node] if node else []), *args]
    try:
        proc = subprocess.run(command, input=stdin if stdin is not None else "", capture_output=True,
                              text=True, env=env, cwd=RABBITMQ_HOME, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired:
        raise CommandExecutionError(f"{tool} {args[0]} did not finish within {timeout} s") from None
    if proc.returncode == 69 or "unable to perform an operation on node" in proc.stderr:
        raise BrokerDown(
            f"the broker ({node or NODE_NAME}) is not running or not reachable: {tool} {args[0]} could not reach it "
            f"(exit {proc.returncode}). Nothing was changed. Start it (bin/salt-call state.apply broker, "
            "or service rabbitmq-server start) and apply again.")
    return proc


def _failed(proc: subprocess.CompletedProcess, what: str) -> CommandExecutionError:
    # rabbitmqctl's own error text (no secret ever reaches it: passwords travel as hashes).
    detail = " ".join((proc.stderr or proc.stdout).split())[:600]
    return CommandExecutionError(f"{what} failed (exit {proc.returncode}): {detail}")


def read_export(node: str | None = None) -> dict:
    """The whole broker in one call: ``rabbitmqctl export_definitions`` as JSON."""
    proc = run_cli("rabbitmqctl", ["export_definitions", "-", "--format", "json", "--silent"], node=node)
    if proc.returncode != 0:
        raise _failed(proc, "rabbitmqctl export_definitions")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise CommandExecutionError("rabbitmqctl export_definitions did not print JSON") from None


def read_plugins(path: str = ENABLED_PLUGINS_FILE) -> list[str] | None:
    """Explicitly enabled plugins (the file rabbitmq-plugins maintains); [] when absent."""
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_enabled_plugins(handle.read())
    except FileNotFoundError:
        return []


def read_current(model: dict, node: str | None = None) -> dict:
    """The broker as it is, in the shape ``plan`` compares."""
    plugins = read_plugins() if model["plugins"] is not None else None
    return current_from_export(read_export(node), plugins)


def apply_plan(steps: dict, node: str | None = None) -> None:
    """Write what ``plan`` found different: one import (hashes, never passwords), then each
    removal, then the plugin list."""
    if steps["import"]:
        proc = run_cli("rabbitmqctl", ["import_definitions", "--format", "json"], stdin=json.dumps(steps["import"]),
                       node=node)
        if proc.returncode != 0:
            raise _failed(proc, "rabbitmqctl import_definitions")
    for step in steps["remove"]:
        proc = run_cli("rabbitmqctl", list(step), node=node)
        if proc.returncode != 0:
            raise _failed(proc, "rabbitmqctl " + " ".join(step))
    if steps["plugins"] is not None:
        proc = run_cli("rabbitmq-plugins", ["set", *steps["plugins"]], timeout=300, node=node)
        if proc.returncode != 0:
            raise _failed(proc, "rabbitmq-plugins set")


def converge(model: dict, test: bool = False, settle: float = 15.0, node: str | None = None) -> dict:
    """Make the broker match the definition. Returns ``{"changes", "remaining"}``: what was (or,
    with test, would be) changed, and what still differs after writing (empty when converged).
    Definition import is asynchronous in RabbitMQ, so the re-read waits up to ``settle`` s."""
    steps = plan(model, read_current(model, node))
    if test or not steps["changes"]:
        return {"changes": steps["changes"], "remaining": {}}
    apply_plan(steps, node)
    deadline = time.monotonic() + settle
    while True:
        after = plan(model, read_current(model, node))["changes"]
        if not after or time.monotonic() > deadline:
            return {"changes": steps["changes"], "remaining": after}
        time.sleep(0.5)


def devstack_localrc(pillar: Any, node: Any = None, root: str = "broker") -> dict:
    """DevStack's localrc variables for a node that uses this broker (the broker pillar is the
    single source of truth; the password lives only under broker:users). ``node`` is the node's
    ``devstack:broker`` mapping (``host`` overrides broker:address). Secrets are returned: the
    caller masks them."""
    model = normalize(pillar, root)
    user = model["devstack_user"]
    if not user:
        raise BrokerError([f"{root}:devstack_user is not set: name the user under {root}:users that DevStack uses"])
    errors = []
    if model["port"] != 5672:
        errors.append(f"{root}:port is {model['port']}, but DevStack's lib/rpc_backend always connects to port 5672")
    perm = model["users"][user]["permissions"].get("/")
    if not perm or any(perm[k] != ".*" for k in PERMISSION_KEYS):
        errors.append(f"{root}:users:{user}:permissions:/ must grant configure, write and read '.*' (DevStack's services "
                      "declare their own queues and exchanges in the default virtual host)")
    host = (node or {}).get("host") if isinstance(node, dict) else None
    if host is None:
        host = model["address"]
        if host in ("0.0.0.0", "::"):
            errors.append(f"{root}:address listens on every address: set devstack:broker:host to the one nodes use")
    if errors:
        raise BrokerError(errors)
    return {"RABBIT_HOST": str(host), "RABBIT_USERID": user, "RABBIT_PASSWORD": model["users"][user]["password"]}


# --------------------------------------------------------------------------------------------
# Salt execution functions
# --------------------------------------------------------------------------------------------


def _pillar(pillar_key: str) -> Any:
    # Salt 3008 masks pillar.get results outside template rendering; the passwords are needed
    # (to hash and compare them) and are kept out of everything this module returns.
    value = __salt__["pillar.get"](pillar_key, None, unmask=True)  # noqa: F821 - Salt dunder
    if value is None:
        raise BrokerError([f"pillar key {pillar_key} is not set; see pillar/broker.sls for an example"])
    return value


def _model(config: Any, pillar_key: str) -> dict:
    return normalize(_pillar(pillar_key) if config is None else config, pillar_key)


def _node() -> str | None:
    # The node the CLI tools address: minion config (or pillar) ``message_broker.node``; unset,
    # rabbitmq-env.conf's NODENAME (the role writes rabbit@localhost).
    return __salt__["config.get"]("message_broker.node", None) or None  # noqa: F821 - Salt dunder


def validate(config=None, pillar_key="broker"):
    """
    Check the broker pillar (or ``config``) without touching the broker.

    Returns ``{"valid": bool, "errors": [...]}``; each error names its pillar path.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.validate
    """
    try:
        _model(config, pillar_key)
    except BrokerError as exc:
        return {"valid": False, "errors": exc.errors}
    return {"valid": True, "errors": []}


def render(name="rabbitmq.conf", config=None, pillar_key="broker"):
    """
    The text of a broker configuration file from pillar: ``rabbitmq.conf``, ``rabbitmq-env.conf``
    or ``epmd.socket`` (the systemd drop-in that keeps epmd on loopback).

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.render rabbitmq.conf
    """
    model = _model(config, pillar_key)
    renderers = {"rabbitmq.conf": render_rabbitmq_conf, "rabbitmq-env.conf": render_env_conf,
                 "epmd.socket": render_epmd_socket}
    if name not in renderers:
        raise CommandExecutionError(f"unknown file {name!r}; known: {', '.join(renderers)}")
    return renderers[name](model)


def diff(config=None, pillar_key="broker"):
    """
    What applying the broker definition would change (passwords masked), reading the broker once.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.diff
    """
    model = _model(config, pillar_key)
    return plan(model, read_current(model, _node()))["changes"]


def apply(config=None, pillar_key="broker", test=False):  # noqa: A001 - Salt function name
    """
    Converge the broker to its definition: vhosts, users (tags, passwords), permissions,
    policies, plugins, and the removal of everything undeclared (``prune``, default true;
    the default ``guest`` user goes this way). Returns ``{"changes", "remaining"}``.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.apply test=True
    """
    return converge(_model(config, pillar_key), test=bool(test), node=_node())


def current(config=None, pillar_key="broker"):
    """
    The managed parts of the broker as they are (no password hashes).

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.current
    """
    state = read_current(_model(config, pillar_key), _node())
    return {"vhosts": state["vhosts"], "users": {u: {"tags": v["tags"]} for u, v in state["users"].items()},
            "permissions": {f"{u}@{v}": p for (u, v), p in state["permissions"].items()},
            "policies": {f"{v}:{n}": p for (v, n), p in state["policies"].items()}, "plugins": state["plugins"]}


def devstack_settings(pillar_key="broker", node_key="devstack:broker", reveal=False):
    """
    RABBIT_HOST, RABBIT_USERID and RABBIT_PASSWORD for a DevStack node using this broker, from
    the broker pillar (the password is shown as <hidden> unless ``reveal=True``).

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.devstack_settings
    """
    node = __salt__["pillar.get"](node_key, None, unmask=True)  # noqa: F821 - Salt dunder
    settings = devstack_localrc(_pillar(pillar_key), node, pillar_key)
    if not reveal:
        settings["RABBIT_PASSWORD"] = HIDDEN
    return settings


# --------------------------------------------------------------------------------------------
# The init script's pid file
# --------------------------------------------------------------------------------------------


def server_pids(proc: str = "/proc") -> list[int]:
    """The OS pids of running RabbitMQ server nodes: ``beam.smp`` started with ``-s rabbit``
    (the CLI tools run beam.smp too, without it)."""
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]) == b"beam.smp" and any(
                args[i] == b"-s" and args[i + 1] == b"rabbit" for i in range(len(args) - 1)):
            found.append(int(entry))
    return sorted(found)


def pid_file_plan(path: str = PID_FILE, proc: str = "/proc") -> dict:
    """What the pid file needs: ``{"old": pid or None, "new": pid}`` when it must name the running
    node, ``{}`` when it does or no node runs (a start writes it then). Several server nodes at
    once is an error naming their pids."""
    pids = server_pids(proc)
    if not pids:
        return {}
    if len(pids) > 1:
        raise CommandExecutionError(f"{len(pids)} RabbitMQ server nodes are running (pids {pids}); "
                                    "stop all but one (kill the extra pids), then apply again")
    try:
        with open(path, encoding="utf-8") as handle:
            old = int(handle.read().strip())
    except (OSError, ValueError):
        old = None
    return {} if old == pids[0] else {"old": old, "new": pids[0]}


def pid_file(path=PID_FILE, test=False):
    """
    Make Debian's pid file name the running RabbitMQ node (owner rabbitmq, 0644, written
    atomically), so that ``/etc/init.d/rabbitmq-server stop`` and ``restart`` cannot hang on a
    missing file. Returns the change made (or, with ``test=True``, the one that would be), ``{}``
    when nothing was needed.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.pid_file
    """
    import pwd

    change = pid_file_plan(path)
    if change and not test:
        owner = pwd.getpwnam("rabbitmq")
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        os.chown(os.path.dirname(path), owner.pw_uid, owner.pw_gid)
        devstack_salt_files.atomic_write(path, f"{change['new']}\n".encode(), owner.pw_uid, owner.pw_gid, 0o644)
    return change
