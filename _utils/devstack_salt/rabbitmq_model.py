"""
The broker role's pillar as a definition: ``broker:`` validated (every error names its pillar
path) into the definition the broker is converged to. DevStack's view of it is
``contract.devstack_broker``.

The definition::

    {"address": str, "port": int, "dist_port": int, "management_port": int, "prometheus_port": int,
     "vhosts": [name, ...],
     "users": {name: {"password": str, "tags": [tag, ...], "permissions": {vhost: {configure, write, read}}}},
     "policies": {name: {"vhost", "pattern", "definition": {...}, "priority": int, "apply_to"}},
     "plugins": [name, ...] | None (None: plugins are not managed),
     "prune": bool, "devstack_user": str | None}

Pure Python: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import BrokerError
from .listeners import is_port

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
NAME_RE = re.compile(r"^[A-Za-z0-9_.@/:-]{1,255}$")
PLUGIN_RE = re.compile(r"^[a-z0-9_]+$")


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list)):
        return None
    text = str(value)
    return None if any(c in text for c in "\n\r\0") else text


def _port(raw: dict, key: str, default: int, root: str, errors: list[str]) -> int:
    value = raw.get(key, default)
    if not is_port(value):
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
