"""
DevStack ``local.conf`` as a model: validate pillar, render, parse, import, explain and write.

The pillar under ``devstack:`` (see README.md) is normalised into a *model*, a plain dict that is
also valid pillar::

    {"disable_all_services": bool,
     "services": {devstack_service_name: bool},
     "localrc": {NAME: "literal" | {"ref": NAME} | {"expand": "text ${NAME} text"}},
     "plugins": {name: {"url": str, "ref": str (optional), "requires": [names] (optional)}},
     "config": {phase: {file: {section: {option: str | [str, ...]}}}}}

Data flows one way: pillar -> normalise and validate (every error names its pillar path) -> model
-> rendered text -> compared with the file on disk -> atomic write. ``parse`` reads any local.conf
(hand-written ones included) back into the same model, so ``parse(render(m)) == m``.

Everything below the public functions is plain Python with no Salt dunders, so the unit tests
import this file directly.
"""

from __future__ import annotations

import functools
import grp
import hashlib
import json
import os
import pwd
import re
import select
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from typing import Any, Iterable

import yaml

from devstack_salt import files as devstack_salt_files

from salt.exceptions import CommandExecutionError


__virtualname__ = "devstack"
__func_alias__ = {"import_": "import"}


def __virtual__():
    """Always available: the model needs nothing beyond the Python standard library and PyYAML."""
    return __virtualname__


# --------------------------------------------------------------------------------------------
# What DevStack itself defines (checked against DevStack master, see ../shared/devstack-localconf.md)
# --------------------------------------------------------------------------------------------

#: Meta-section groups that stack.sh merges, in the order it merges them.
PHASES = ("post-config", "extra", "post-extra", "test-config")

#: DevStack's default ENABLED_SERVICES (stackrc), used when disable_all_services is false.
DEFAULT_SERVICES = (
    "key", "n-api", "n-cpu", "n-cond", "n-sch", "n-novnc", "n-api-meta", "placement-api",
    "placement-client", "g-api", "c-sch", "c-api", "c-vol", "ovn-controller", "ovn-northd",
    "ovs-vswitchd", "ovsdb-server", "q-svc", "q-ovn-agent", "horizon", "rabbit", "tempest",
    "mysql", "etcd3", "dstat",
)

#: Friendly names accepted under devstack:services, mapped to DevStack's own service names.
SERVICE_ALIASES = {
    "keystone": ("key",),
    "swift": ("s-proxy", "s-object", "s-container", "s-account"),
    "rabbitmq": ("rabbit",),
    "mariadb": ("mysql",),
    "glance": ("g-api",),
    "cinder": ("c-api", "c-sch", "c-vol"),
    "placement": ("placement-api",),
}

#: Names DevStack's is_service_enabled reads as "any service with this prefix" (functions-common).
CATCH_ALL_SERVICES = {"nova": ("n-", "n-api, n-cpu"), "neutron": ("q-", "q-svc"), "trove": ("tr-", "tr-api")}

#: Variables that exist when DevStack sources the localrc section (stack.sh and stackrc set them
#: first), so a reference may use them. HOST_IP, SERVICE_HOST and every lib/* variable come later.
EARLY_VARIABLES = frozenset({
    "TOP_DIR", "FILES", "RC_DIR", "DEST", "DATA_DIR", "SERVICE_DIR", "SUBUNIT_OUTPUT",
    "STACK_USER", "REGION_NAME", "KEYSTONE_REGION_NAME", "ENABLED_SERVICES", "TARGET_BRANCH",
    "TRAILING_TARGET_BRANCH", "BRANCHLESS_TARGET_BRANCH", "ENABLE_HTTPD_MOD_WSGI_SERVICES",
    "NOVA_ENABLED_APIS", "DISTRO", "HOME", "USER", "PATH",
})

#: Config-file variables DevStack defines (lib/*), each with its definition there (the default of
#: a ``${NAME:-default}``), so that a meta-section header such as ``[[post-config|$KEYSTONE_CONF]]``
#: resolves to the file DevStack writes. tests/unit/test_devstack_judge.py checks every entry
#: against DevStack's lib/. The helpers are not headers themselves. Plugins define more: list
#: those in devstack:known_variables.
DEVSTACK_PATHS = {
    "CINDER_CONF_DIR": "/etc/cinder",
    "CINDER_CONF": "$CINDER_CONF_DIR/cinder.conf",
    "CINDER_API_PASTE_INI": "$CINDER_CONF_DIR/api-paste.ini",
    "CINDER_UWSGI_CONF": "$CINDER_CONF_DIR/cinder-api-uwsgi.ini",
    "GLANCE_CONF_DIR": "/etc/glance",
    "GLANCE_API_CONF": "$GLANCE_CONF_DIR/glance-api.conf",
    "GLANCE_API_PASTE_INI": "$GLANCE_CONF_DIR/glance-api-paste.ini",
    "GLANCE_CACHE_CONF": "$GLANCE_CONF_DIR/glance-cache.conf",
    "GLANCE_IMAGE_IMPORT_CONF": "$GLANCE_CONF_DIR/glance-image-import.conf",
    "GLANCE_SWIFT_STORE_CONF": "$GLANCE_CONF_DIR/glance-swift-store.conf",
    "GLANCE_UWSGI_CONF": "$GLANCE_CONF_DIR/glance-uwsgi.ini",
    "KEYSTONE_CONF_DIR": "/etc/keystone",
    "KEYSTONE_CONF": "$KEYSTONE_CONF_DIR/keystone.conf",
    "KEYSTONE_LDAP_DOMAIN_FILE": "$KEYSTONE_CONF_DIR/domains/keystone.Users.conf",
    "KEYSTONE_PUBLIC_UWSGI_CONF": "$KEYSTONE_CONF_DIR/keystone-uwsgi-public.ini",
    "METERING_AGENT_CONF_PATH": "/etc/neutron/services/metering",
    "METERING_AGENT_CONF_FILENAME": "$METERING_AGENT_CONF_PATH/metering_agent.ini",
    "NEUTRON_CONF_DIR": "/etc/neutron",
    "NEUTRON_CONF": "$NEUTRON_CONF_DIR/neutron.conf",
    "NEUTRON_CORE_PLUGIN_CONF": "$Q_PLUGIN_CONF_FILE",
    "NEUTRON_DHCP_CONF": "$Q_DHCP_CONF_FILE",
    "NEUTRON_L3_CONF": "$Q_L3_CONF_FILE",
    "NEUTRON_TEST_CONFIG_FILE": "$NEUTRON_CONF_DIR/debug.ini",
    "NEUTRON_UWSGI_CONF": "$NEUTRON_CONF_DIR/neutron-api-uwsgi.ini",
    "NOVA_CONF_DIR": "/etc/nova",
    "NOVA_CONF": "$NOVA_CONF_DIR/nova.conf",
    "NOVA_API_PASTE_INI": "$NOVA_CONF_DIR/api-paste.ini",
    "NOVA_COND_CONF": "$NOVA_CONF_DIR/nova.conf",
    "NOVA_CPU_CONF": "$NOVA_CONF_DIR/nova-cpu.conf",
    "NOVA_FAKE_CONF": "$NOVA_CONF_DIR/nova-fake.conf",
    "NOVA_METADATA_UWSGI_CONF": "$NOVA_CONF_DIR/nova-metadata-uwsgi.ini",
    "NOVA_UWSGI_CONF": "$NOVA_CONF_DIR/nova-api-uwsgi.ini",
    "OVN_AGENT_CONF": "$NEUTRON_CONF_DIR/plugins/ml2/ovn_agent.ini",
    "OVN_META_CONF": "$NEUTRON_CONF_DIR/neutron_ovn_metadata_agent.ini",
    "PLACEMENT_CONF_DIR": "/etc/placement",
    "PLACEMENT_CONF": "$PLACEMENT_CONF_DIR/placement.conf",
    "PLACEMENT_UWSGI_CONF": "$PLACEMENT_CONF_DIR/placement-uwsgi.ini",
    "QEMU_CONF": "/etc/libvirt/qemu.conf",
    "Q_API_PASTE_FILE": "$NEUTRON_CONF_DIR/api-paste.ini",
    "Q_DHCP_CONF_FILE": "$NEUTRON_CONF_DIR/dhcp_agent.ini",
    "Q_L3_CONF_FILE": "$NEUTRON_CONF_DIR/l3_agent.ini",
    "Q_META_CONF_FILE": "$NEUTRON_CONF_DIR/metadata_agent.ini",
    "Q_PLUGIN_CONF_PATH": "etc/neutron/plugins/ml2",
    "Q_PLUGIN_CONF_FILENAME": "ml2_conf.ini",
    "Q_PLUGIN_CONF_FILE": "$Q_PLUGIN_CONF_PATH/$Q_PLUGIN_CONF_FILENAME",
    "Q_RR_CONF_FILE": "$NEUTRON_CONF_DIR/rootwrap.conf",
    "SWIFT_CONF_DIR": "/etc/swift",
    "SWIFT_CONFIG_PROXY_SERVER": "$SWIFT_CONF_DIR/proxy-server.conf",
    "TEMPEST_DIR": "$DEST/tempest",
    "TEMPEST_CONFIG_DIR": "$TEMPEST_DIR/etc",
    "TEMPEST_CONFIG": "$TEMPEST_CONFIG_DIR/tempest.conf",
}
_PATH_HELPERS = frozenset({"METERING_AGENT_CONF_PATH", "Q_PLUGIN_CONF_PATH", "Q_PLUGIN_CONF_FILENAME", "TEMPEST_DIR"})
#: The variables a header may start with. The *_DIR ones name directories: a header needs a
#: /file after them. Q_PLUGIN_CONF_FILE and NEUTRON_CORE_PLUGIN_CONF are relative to /: a
#: header writes them /$Q_PLUGIN_CONF_FILE.
KNOWN_FILE_VARIABLES = frozenset(DEVSTACK_PATHS) - _PATH_HELPERS
DIRECTORY_VARIABLES = frozenset(name for name in KNOWN_FILE_VARIABLES if name.endswith("_DIR"))

#: Passwords stack.sh prompts for (read_password), and when. A prompt hangs an unattended run.
PROMPTED_PASSWORDS = (
    ("DATABASE_PASSWORD", ("mysql", "postgresql")),  # MYSQL_PASSWORD, if set, is copied into it
    ("RABBIT_PASSWORD", ("rabbit",)),
    ("SERVICE_PASSWORD", ("key",)),
    ("ADMIN_PASSWORD", ("key",)),
    ("SWIFT_HASH", ("s-proxy",)),
)

#: Names localrc cannot set: bash's own variables (read-only, or special to the shell: sourcing
#: localrc fails or every later line of DevStack reads differently), and what DevStack computes
#: before localrc and relies on (where it finds itself and local.conf, the service lists).
RESERVED_VARIABLES = frozenset({
    "BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0", "BASH_CMDS",
    "BASH_COMMAND", "BASH_ENV", "BASH_LINENO", "BASH_REMATCH", "BASH_SOURCE", "BASH_SUBSHELL",
    "BASH_VERSINFO", "BASH_VERSION", "BASH_XTRACEFD", "COMP_CWORD", "COMP_LINE", "COMP_POINT", "COMP_WORDS",
    "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "EUID", "FUNCNAME", "GLOBIGNORE", "GROUPS", "HISTCMD",
    "IFS", "LINENO", "OLDPWD", "OPTARG", "OPTIND", "PIPESTATUS", "POSIXLY_CORRECT", "PPID", "PWD", "RANDOM",
    "REPLY", "SECONDS", "SHELLOPTS", "SHLVL", "SRANDOM", "UID",
    "TOP_DIR", "RC_DIR", "FUNC_DIR", "DISABLED_SERVICES", "DEVSTACK_PLUGINS",
})
MODEL_KEYS = ("disable_all_services", "services", "localrc", "plugins", "config")
#: Keys under devstack: that belong to the role rather than to the local.conf model.
ROLE_KEYS = frozenset({
    "user", "group", "dest", "local_conf", "known_variables", "repo", "ref", "stack", "checkout",
    "stack_timeout", "unstack_before_restack", "database", "broker",
})
#: localrc variables that come from the database and broker pillars when a node uses them.
WIRED_VARIABLES = {
    "database": ("DATABASE_TYPE", "DATABASE_HOST", "DATABASE_USER", "DATABASE_PASSWORD"),
    "broker": ("RABBIT_HOST", "RABBIT_USERID", "RABBIT_PASSWORD"),
}
#: The role's defaults (README: "The DevStack node role").
NODE_DEFAULTS = {
    "user": "stack",
    "dest": "/opt/stack",
    "repo": "https://opendev.org/openstack/devstack",
    "ref": "stable/2026.1",
    "stack": False,
    "stack_timeout": 3600,
    "unstack_before_restack": False,
}
#: Where the role records what was stacked (root-owned, 0600).
STATE_DIR = "/var/lib/devstack-salt"
#: Console output that means stack.sh (or sudo) is waiting for an answer that never comes.
PROMPT_RE = re.compile(rb"Enter a password now:|\[sudo\] password for|Password:\s*$", re.M)

HEADER_COMMENT = (
    "# DevStack local.conf, written by Salt from the devstack pillar.\n"
    "# Edits here are overwritten on the next apply: change the pillar instead.\n"
)
MASK = "<hidden>"

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
NAME_RE = re.compile(_NAME + r"\Z")
# No '.' in service names: DevStack compares them as regular expressions (an unquoted ``=~``),
# where '.' matches any character (enable_service a.b does nothing after a-b).
SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
PLUGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
# No '/': DevStack's iniset puts section and option names into sed addresses delimited by '/'.
SECTION_RE = re.compile(r"[A-Za-z0-9_.:-]+\Z")
OPTION_RE = re.compile(r"[A-Za-z0-9_.:-]+\Z")
URL_RE = re.compile(r"[^\s'\"\\`$;|&<>(){}]+\Z")
REF_RE = re.compile(r"[^\s'\"\\`$;|&<>(){}#]+\Z")
PATH_HEADER_RE = re.compile(r"/[A-Za-z0-9_.@+/-]*\Z")
VAR_HEADER_RE = re.compile(
    r"(?P<slash>/?)\$(?:(?P<bare>" + _NAME + r")|\{(?P<braced>" + _NAME + r")\})(?P<rest>(?:/[A-Za-z0-9_.@+-]+)*)\Z"
)
SAFE_BARE_RE = re.compile(r"[A-Za-z0-9_./,:+@%=-]+\Z")
ALNUM_RE = re.compile(r"[A-Za-z0-9]+\Z")
SECRET_NAME_RE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY\Z|\AKEY\Z|SWIFT_HASH", re.I)
URL_CREDENTIALS_RE = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
URL_CREDENTIALS_RE_BYTES = re.compile(rb"(://[^:/@\s]*:)[^@\s]*@")
_TEMPLATE_TOKEN_RE = re.compile(r"\$\$|\$\{(" + _NAME + r")\}|\$(" + _NAME + r")|\$")
_HEADER_RE = re.compile(r"\[\[.+\|.*\]\]")
_DQ_SPECIAL_RE = re.compile(r'([\\"$`])')


class LocalConfError(CommandExecutionError):
    """Invalid local.conf input. ``errors`` lists every problem, each naming its pillar path."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(["invalid local.conf input:"] + ["- " + e for e in self.errors]))


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def is_secret_name(name: str) -> bool:
    """True for a variable or option name whose value is a secret (passwords, keys, tokens)."""
    return bool(SECRET_NAME_RE.search(name))


def is_password_variable(name: str) -> bool:
    """Variables DevStack embeds in URLs and config, and so must be alphanumeric."""
    return name.endswith("PASSWORD") or name in ("SWIFT_HASH", "SWIFT_TEMPURL_KEY")


def _has_bad_char(text: str) -> str | None:
    for char, label in (("\n", "a newline"), ("\r", "a carriage return"), ("\0", "a NUL byte")):
        if char in text:
            return label
    return None


def _scalar_text(value: Any) -> str | None:
    """Render a YAML scalar the way DevStack expects it; None when it is not a scalar."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    return None


@functools.lru_cache(maxsize=65536)
def template_parts(text: str) -> tuple[tuple[str, str], ...]:
    """Split an ``expand`` template into ("lit", text) and ("ref", NAME) parts.

    Cached: templates are immutable strings, and rendering needs their parts twice (ordering
    and quoting) on every apply.

    ``${NAME}`` and ``$NAME`` are references, ``$$`` is a literal dollar; any other ``$`` is a
    ValueError (it would be shell syntax such as ``$(...)``).
    """
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _TEMPLATE_TOKEN_RE.finditer(text):
        if match.start() > pos:
            parts.append(("lit", text[pos:match.start()]))
        token = match.group(0)
        if token == "$$":
            parts.append(("lit", "$"))
        elif token == "$":
            raise ValueError(
                f"has a '$' at position {match.start()} that is not ${{NAME}}; write $$ for a literal dollar"
            )
        else:
            parts.append(("ref", match.group(1) or match.group(2)))
        pos = match.end()
    if pos < len(text):
        parts.append(("lit", text[pos:]))
    merged: list[tuple[str, str]] = []
    for kind, value in parts:
        if merged and kind == "lit" and merged[-1][0] == "lit":
            merged[-1] = ("lit", merged[-1][1] + value)
        else:
            merged.append((kind, value))
    return tuple(merged)


def _value_from_parts(parts) -> Any:
    """The canonical model value for template parts: a literal, a ref, or an expand template."""
    if all(kind == "lit" for kind, _ in parts):
        return "".join(value for _, value in parts)
    if len(parts) == 1:
        return {"ref": parts[0][1]}
    text = "".join(value.replace("$", "$$") if kind == "lit" else "${" + value + "}" for kind, value in parts)
    return {"expand": text}


def value_refs(value: Any) -> list[str]:
    """Names a localrc model value refers to, in order of appearance."""
    if isinstance(value, dict):
        if "ref" in value:
            return [value["ref"]]
        return [v for k, v in template_parts(value["expand"]) if k == "ref"]
    return []


def display_value(value: Any) -> str:
    """A localrc model value as a person reads it: literal text, $NAME or the template."""
    if isinstance(value, dict):
        return "${" + value["ref"] + "}" if "ref" in value else value["expand"]
    return value


def shell_quote(text: str) -> str:
    """Quote text so that bash reads it back as exactly that literal text."""
    if text and SAFE_BARE_RE.match(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def shell_value(value: Any) -> str:
    """A localrc model value as the right-hand side of a bash assignment."""
    if not isinstance(value, dict):
        return shell_quote(value)
    if "ref" in value:
        return '"${' + value["ref"] + '}"'
    return _shell_template(value["expand"])


@functools.lru_cache(maxsize=65536)
def _shell_template(template: str) -> str:
    """An expand template as a double-quoted bash word: literals escaped, references kept."""
    out = []
    for kind, text in template_parts(template):
        if kind == "ref":
            out.append("${" + text + "}")
        else:
            out.append(_DQ_SPECIAL_RE.sub(r"\\\1", text))
    return '"' + "".join(out) + '"'


def topo_order(nodes: Iterable[str], deps: dict[str, Iterable[str]]) -> list[str]:
    """Order nodes so each comes after its dependencies (deterministic: names are visited sorted).

    A depth-first post-order walk: taking nodes in name order, each node's dependencies are
    placed (recursively, also in name order) just before it. Unlike a pre-order walk (DevStack's
    Ansible module), a chain A -> B -> C comes out C, B, A. The result depends only on the graph,
    never on dict or hash order. Raises ValueError naming the cycle ("a -> b -> a").
    """
    ordered = sorted(nodes)
    node_set = set(ordered)
    done: set[str] = set()
    order: list[str] = []
    for root in ordered:
        if root in done:
            continue
        if not deps.get(root):
            done.add(root)
            order.append(root)
            continue
        path = [root]
        pending = [iter(sorted(deps[root]))]
        on_path = {root}
        while path:
            for dep in pending[-1]:
                if dep == path[-1] or dep in done or dep not in node_set:
                    continue
                if dep in on_path:
                    raise ValueError(" -> ".join(path[path.index(dep):] + [dep]))
                path.append(dep)
                on_path.add(dep)
                pending.append(iter(sorted(deps.get(dep, ()))))
                break
            else:
                node = path.pop()
                pending.pop()
                on_path.discard(node)
                done.add(node)
                order.append(node)
    return order


# --------------------------------------------------------------------------------------------
# Pillar -> model (structural normalisation; every error names its pillar path)
# --------------------------------------------------------------------------------------------


def normalize(pillar: Any, root: str = "devstack") -> dict:
    """Turn the devstack pillar into the canonical model, or raise LocalConfError.

    Structural checks happen here; cross-checks (references, plugin requirements, prompted
    passwords, headers) happen in :func:`check`. Use :func:`build` for both.
    """
    errors: list[str] = []
    model = _normalize(pillar, root, errors)
    if errors:
        raise LocalConfError(errors)
    return model


def _normalize(pillar: Any, root: str, errors: list[str]) -> dict:
    """normalize() that appends to ``errors`` and returns the model of the valid parts."""
    if not isinstance(pillar, dict):
        raise LocalConfError([f"{root} must be a mapping (got {type(pillar).__name__}); see README.md"])
    unknown = sorted(set(map(str, pillar)) - set(MODEL_KEYS) - ROLE_KEYS)
    for key in unknown:
        errors.append(
            f"{root}:{key} is not a known key; use one of {', '.join(MODEL_KEYS + tuple(sorted(ROLE_KEYS)))}"
        )
    disable_all = pillar.get("disable_all_services", False)
    if not isinstance(disable_all, bool):
        errors.append(f"{root}:disable_all_services must be true or false")
        disable_all = False
    return {
        "disable_all_services": disable_all,
        "services": _normalize_services(pillar.get("services"), f"{root}:services", errors),
        "localrc": _normalize_localrc(pillar.get("localrc"), f"{root}:localrc", errors),
        "plugins": _normalize_plugins(pillar.get("plugins"), f"{root}:plugins", errors),
        "config": _normalize_config(pillar.get("config"), f"{root}:config", errors),
    }


def _mapping(raw: Any, path: str, errors: list[str], example: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(f"{path} must be a mapping, e.g. {example}")
        return {}
    return raw


def _normalize_services(raw: Any, path: str, errors: list[str]) -> dict[str, bool]:
    raw = _mapping(raw, path, errors, "{keystone: true, tempest: false}")
    result: dict[str, bool] = {}
    source: dict[str, str] = {}
    for name in sorted(raw, key=str):
        value = raw[name]
        name = str(name)
        if not SERVICE_RE.match(name):
            errors.append(f"{path}:{name} is not a valid service name (letters, digits, '_' and '-'; DevStack "
                          "matches names as regular expressions, so no '.')")
            continue
        if name in CATCH_ALL_SERVICES:
            errors.append(
                f"{path}:{name}: DevStack reads {name} as 'any {CATCH_ALL_SERVICES[name][0]}* service': enable_service "
                f"{name} does nothing when one runs and disable_service {name} disables none of them; name the "
                f"services themselves (e.g. {CATCH_ALL_SERVICES[name][1]})"
            )
            continue
        if not isinstance(value, bool):
            errors.append(f"{path}:{name} must be true (enable) or false (disable)")
            continue
        for target in SERVICE_ALIASES.get(name, (name,)):
            if target in result and result[target] != value:
                errors.append(
                    f"{path}:{name} sets service {target} to {str(value).lower()} but "
                    f"{path}:{source[target]} sets it to {str(result[target]).lower()}; keep one"
                )
                continue
            result[target] = value
            source[target] = name
    return dict(sorted(result.items()))


def _normalize_localrc(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    raw = _mapping(raw, path, errors, "{ADMIN_PASSWORD: secret}")
    result: dict[str, Any] = {}
    for name in sorted(raw, key=str):
        value = raw[name]
        name = str(name)
        where = f"{path}:{name}"
        if not NAME_RE.match(name):
            errors.append(f"{where}: a variable name must be letters, digits and '_', not starting with a digit")
            continue
        if name in RESERVED_VARIABLES:
            errors.append(f"{where}: {name} is set by bash or by DevStack itself before localrc (sourcing localrc "
                          "would fail, or change how DevStack's own scripts run); use another name")
            continue
        if name == "ENABLED_SERVICES":
            errors.append(f"{where}: set services under {path.rsplit(':', 1)[0]}:services and disable_all_services instead")
            continue
        normalized = _localrc_value(value, where, errors)
        if normalized is not None:
            result[name] = normalized
    return result


def _localrc_value(value: Any, where: str, errors: list[str]) -> Any:
    if value is None:
        errors.append(f"{where} is empty (null); give it a value (\"\" for an empty string) or remove it")
        return None
    text = _scalar_text(value)
    if text is not None:
        bad = _has_bad_char(text)
        if bad:
            errors.append(f"{where} contains {bad}; local.conf values must be a single line")
            return None
        return text
    if isinstance(value, dict) and len(value) == 1 and ("ref" in value or "expand" in value):
        if "ref" in value:
            ref = value["ref"]
            if not isinstance(ref, str) or not NAME_RE.match(ref):
                errors.append(f"{where}:ref must be a variable name, e.g. {{ref: ADMIN_PASSWORD}}")
                return None
            return {"ref": ref}
        template = value["expand"]
        if not isinstance(template, str):
            errors.append(f"{where}:expand must be a string such as \"${{DEST}}/logs/stack.sh.log\"")
            return None
        bad = _has_bad_char(template)
        if bad:
            errors.append(f"{where}:expand contains {bad}; local.conf values must be a single line")
            return None
        try:
            return _value_from_parts(template_parts(template))
        except ValueError as exc:
            errors.append(f"{where}:expand {exc}")
            return None
    if isinstance(value, list):
        errors.append(f"{where} is a list; localrc values are single strings (join them yourself, e.g. \"a,b\")")
    elif isinstance(value, dict):
        errors.append(
            f"{where} is a mapping; a value is a string, a number, true/false, "
            "{ref: NAME} (the value of another variable) or {expand: \"text ${NAME}\"}"
        )
    else:
        errors.append(f"{where} has an unsupported type {type(value).__name__}")
    return None


def _normalize_plugins(raw: Any, path: str, errors: list[str]) -> dict[str, dict]:
    raw = _mapping(raw, path, errors, "{heat: {url: https://opendev.org/openstack/heat, ref: master}}")
    result: dict[str, dict] = {}
    for name in sorted(raw, key=str):
        spec = raw[name]
        name = str(name)
        where = f"{path}:{name}"
        if not PLUGIN_RE.match(name):
            errors.append(f"{where}: a plugin name is letters, digits, '_', '.' and '-'")
            continue
        if isinstance(spec, str):
            spec = {"url": spec}
        if not isinstance(spec, dict):
            errors.append(f"{where} must be a git URL or a mapping with url, ref and requires")
            continue
        for key in sorted(set(map(str, spec)) - {"url", "ref", "requires"}):
            errors.append(f"{where}:{key} is not a plugin key; use url, ref or requires")
        url = spec.get("url")
        if not isinstance(url, str) or not url:
            errors.append(f"{where}:url is missing; give the plugin's git repository URL")
            continue
        if not URL_RE.match(url):
            errors.append(f"{where}:url must not contain spaces, quotes or shell characters")
            continue
        plugin: dict[str, Any] = {"url": url}
        if spec.get("ref") is not None:
            ref = _scalar_text(spec["ref"])
            if ref is None or not ref or not REF_RE.match(ref):
                errors.append(f"{where}:ref must be a branch, tag or commit without spaces or shell characters")
                continue
            plugin["ref"] = ref
        requires = spec.get("requires")
        if requires is not None:
            if isinstance(requires, str):
                requires = [requires]
            if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
                errors.append(f"{where}:requires must be a list of plugin names")
                continue
            if requires:
                plugin["requires"] = sorted(set(requires))
        result[name] = plugin
    return result


def _normalize_config(raw: Any, path: str, errors: list[str]) -> dict:
    raw = _mapping(raw, path, errors, "{post-config: {$KEYSTONE_CONF: {DEFAULT: {debug: true}}}}")
    result: dict[str, dict] = {}
    for phase in sorted(raw, key=str):
        files = raw[phase]
        phase = str(phase)
        where = f"{path}:{phase}"
        if phase not in PHASES:
            hint = " (the local phase is devstack:localrc)" if phase in ("local", "localrc") else ""
            errors.append(f"{where} is not a phase DevStack merges{hint}; use one of {', '.join(PHASES)}")
            continue
        files = _mapping(files, where, errors, "{$NOVA_CONF: {DEFAULT: {debug: true}}}")
        phase_out: dict[str, dict] = {}
        canonical_source: dict[str, str] = {}
        for filename in sorted(files, key=str):
            sections = files[filename]
            filename = str(filename)
            fwhere = f"{where}:{filename}"
            canonical = canonical_header_file(filename)
            if canonical is None:
                errors.append(
                    f"{fwhere}: a config file is an absolute path (/etc/foo/foo.conf) or a DevStack "
                    "variable such as $NOVA_CONF or /$Q_PLUGIN_CONF_FILE, optionally followed by /more/path"
                )
                continue
            identity = header_identity(canonical)
            if identity in canonical_source:
                errors.append(
                    f"{fwhere} and {where}:{canonical_source[identity]} name the same file ({identity}); "
                    "DevStack would merge both into it, the later one winning, so keep one"
                )
                continue
            canonical_source[identity] = filename
            sections = _mapping(sections, fwhere, errors, "{DEFAULT: {debug: true}}")
            file_out: dict[str, dict] = {}
            for section in sorted(sections, key=str):
                options = sections[section]
                section = str(section)
                swhere = f"{fwhere}:{section}"
                if not SECTION_RE.match(section):
                    errors.append(
                        f"{swhere}: DevStack's merge would mangle this section name; use letters, "
                        "digits and _ . : - only (no spaces, brackets or '/')"
                    )
                    continue
                options = _mapping(options, swhere, errors, "{debug: true}")
                section_out: dict[str, Any] = {}
                for option in sorted(options, key=str):
                    value = _config_value(options[option], f"{swhere}:{option}", str(option), errors)
                    if value is not None:
                        section_out[str(option)] = value
                if section_out:
                    file_out[section] = section_out
            if file_out:
                phase_out[canonical] = file_out
        if phase_out:
            result[phase] = dict(sorted(phase_out.items()))
    return {phase: result[phase] for phase in PHASES if phase in result}


def canonical_header_file(filename: str) -> str | None:
    """``$NAME``/``${NAME}`` (plus an optional /path) or an absolute path, canonicalised; else None."""
    if PATH_HEADER_RE.match(filename):
        return filename
    match = VAR_HEADER_RE.match(filename)
    if match:
        return match.group("slash") + "$" + (match.group("bare") or match.group("braced")) + match.group("rest")
    return None


def header_variable(filename: str) -> str | None:
    """The variable a canonical header file starts with, if any."""
    match = VAR_HEADER_RE.match(filename)
    return (match.group("bare") or match.group("braced")) if match else None


_PATH_REF_RE = re.compile(r"\$\{(" + _NAME + r")\}|\$(" + _NAME + r")")


def resolve_file_variable(name: str, extra: dict[str, str] | None = None) -> str:
    """DevStack's value of a config-file variable, from :data:`DEVSTACK_PATHS` (and ``extra``).

    Variables neither table defines stay as ``$NAME`` (e.g. ``$DEST`` unless ``extra`` has it).
    """
    table = {**DEVSTACK_PATHS, **(extra or {})}

    def expand(text: str, seen: frozenset) -> str:
        def one(match: re.Match) -> str:
            ref = match.group(1) or match.group(2)
            if ref in seen or ref not in table:
                return "$" + ref
            return expand(table[ref], seen | {ref})
        return _PATH_REF_RE.sub(one, text)

    return expand("$" + name, frozenset())


def header_identity(filename: str, extra: dict[str, str] | None = None) -> str:
    """The file a (canonical) header names, as far as DevStack's definitions tell: two headers
    with one identity are one file to DevStack (``$NEUTRON_DHCP_CONF`` and ``$Q_DHCP_CONF_FILE``)."""
    match = VAR_HEADER_RE.match(filename)
    if not match:
        return re.sub("/+", "/", filename)
    variable = match.group("bare") or match.group("braced")
    text = match.group("slash") + resolve_file_variable(variable, extra) + match.group("rest")
    return re.sub("/+", "/", text)


def header_problem(filename: str, known: Iterable[str]) -> str | None:
    """Why DevStack would not write the header's file where the header seems to say, or None."""
    if any(part in (".", "..") for part in filename.split("/")):
        return "has a '.' or '..' component; write the plain absolute path"
    variable = header_variable(filename)
    if variable is None:
        return None
    if variable not in set(known) | KNOWN_FILE_VARIABLES:
        return (f"${variable} is not a variable DevStack defines, and an unknown one makes DevStack skip every "
                "later file of the phase")
    if variable not in KNOWN_FILE_VARIABLES:
        return None
    match = VAR_HEADER_RE.match(filename)
    rest, slash = match.group("rest"), match.group("slash")
    if variable in DIRECTORY_VARIABLES and not rest:
        return (f"${variable} is a directory, not a file: DevStack would fail to merge into it; name a file "
                f"below it, e.g. ${variable}/foo.conf")
    if variable not in DIRECTORY_VARIABLES and rest:
        return f"${variable} is a file, not a directory; use ${variable} alone or an absolute path"
    if not slash and not resolve_file_variable(variable).startswith(("/", "$")):
        return (f"${variable} is a path relative to / ({resolve_file_variable(variable)}): DevStack would write it "
                f"relative to its working directory; write /${variable}")
    return None


_ECHO_OPTION_RE = re.compile(r"-[neE]+( |\Z)")
_CONFIG_TOKEN_RE = re.compile(r"\$\$|\$\{(" + _NAME + r")\}|\$(" + _NAME + r")|\$")


def config_value_parts(text: str) -> list[tuple[str, str]]:
    """A post-config value as ("lit", text) and ("ref", NAME) parts: ``$NAME``/``${NAME}`` are
    DevStack's expansion at merge time, ``$$`` is a literal dollar. ValueError on another '$'."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _CONFIG_TOKEN_RE.finditer(text):
        parts.append(("lit", text[pos:match.start()]))
        token = match.group(0)
        if token == "$":
            raise ValueError(token)
        parts.append(("lit", "$") if token == "$$" else ("ref", match.group(1) or match.group(2)))
        pos = match.end()
    parts.append(("lit", text[pos:]))
    return [(kind, value) for kind, value in parts if kind == "ref" or value]


def config_value_text(value: str) -> str:
    """A post-config model value as written in local.conf: ``$$`` becomes ``\\\\$``, which
    DevStack's merge (``read`` without -r, then ``eval`` inside double quotes) turns into ``$``."""
    return _CONFIG_TOKEN_RE.sub(lambda m: "\\\\$" if m.group(0) == "$$" else m.group(0), value)


def _config_value(value: Any, where: str, option: str, errors: list[str]) -> Any:
    if not OPTION_RE.match(option):
        errors.append(
            f"{where}: DevStack's merge would mangle or execute this option name; use letters, "
            "digits and _ . : - only (no spaces, quotes, '/' or a leading ';')"
        )
        return None
    if isinstance(value, list):
        if not value:
            errors.append(f"{where} is an empty list; give at least one value or remove the option")
            return None
        texts = [_config_scalar(v, f"{where}[{i}]", errors) for i, v in enumerate(value)]
        if any(t is None for t in texts):
            return None
        return texts[0] if len(texts) == 1 else texts
    return _config_scalar(value, where, errors)


def _config_scalar(value: Any, where: str, errors: list[str]) -> str | None:
    if value is None:
        errors.append(f"{where} is empty (null); write \"\" for an empty value or remove the option")
        return None
    text = _scalar_text(value)
    if text is None:
        errors.append(f"{where} must be a string, number or true/false (a list gives a multi-valued option)")
        return None
    problem = config_value_problem(text)
    if problem:
        errors.append(f"{where} {problem}")
        return None
    return text


def config_value_problem(text: str) -> str | None:
    """Why DevStack's post-config merge would not write ``text`` unchanged, or None.

    The merge reads each line with ``read`` (backslashes vanish), evaluates the value inside
    double quotes (``$(...)`` and backticks run, quotes vanish) and echoes it unquoted (runs of
    spaces collapse, ``*``/``?``/``[`` glob against the current directory). ``$NAME`` and
    ``${NAME}`` are DevStack's way to refer to its variables and stay allowed.
    """
    bad = _has_bad_char(text)
    if bad:
        return f"contains {bad}; values must be a single line"
    for char, label in (('"', "a double quote"), ("\\", "a backslash"), ("`", "a backtick"),
                        ("*", "a '*'"), ("?", "a '?'"), ("[", "a '['"), ("\t", "a tab")):
        if char in text:
            return f"contains {label}, which DevStack's merge would drop, run or expand; it cannot be written safely"
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "contains a control character; DevStack's merge cannot write it safely"
    try:
        config_value_parts(text)
    except ValueError:
        return ("contains a '$' that is not a $NAME or ${NAME} reference (e.g. $(...)); DevStack would run or "
                "mangle it; write $$ for a literal dollar")
    if _ECHO_OPTION_RE.match(text):
        return (f"starts with {text.split(' ')[0]!r}, which DevStack's iniset passes to an unquoted echo as an "
                "option (-n and -e vanish); it cannot be written")
    if text != text.strip(" "):
        return "has leading or trailing spaces, which DevStack's merge strips"
    if "  " in text:
        return "has a run of spaces, which DevStack's merge collapses into one"
    return None


# --------------------------------------------------------------------------------------------
# Cross-checks on a model
# --------------------------------------------------------------------------------------------


def effective_services(model: dict) -> list[str]:
    """The services DevStack will run, in the order ENABLED_SERVICES will list them."""
    base = [] if model["disable_all_services"] else list(DEFAULT_SERVICES)
    for name, enabled in model["services"].items():
        if enabled and name not in base:
            base.append(name)
    return [name for name in base if model["services"].get(name, True)]


def variable_order(localrc: dict) -> list[str]:
    """Variables in an order where each is assigned after every variable it references."""
    deps = {name: value_refs(value) for name, value in localrc.items() if isinstance(value, dict)}
    return topo_order(localrc, deps)


def plugin_order(plugins: dict) -> list[str]:
    """Plugins in an order where each is enabled after every plugin it requires."""
    deps = {name: spec.get("requires", ()) for name, spec in plugins.items()}
    return topo_order(plugins, deps)


def _resolves_empty(localrc: dict, name: str, seen: frozenset = frozenset()) -> bool:
    value = localrc.get(name)
    if value is None:
        return name not in EARLY_VARIABLES
    if not isinstance(value, dict):
        return value == ""
    if name in seen:
        return False
    return all(_resolves_empty(localrc, ref, seen | {name}) for ref in value_refs(value)) and not (
        "expand" in value and any(k == "lit" and v for k, v in template_parts(value["expand"]))
    )


def missing_passwords(model: dict) -> list[dict]:
    """Passwords stack.sh would prompt for, each with the reason it asks."""
    enabled = set(effective_services(model))
    localrc = model["localrc"]
    missing = []
    wanted = list(PROMPTED_PASSWORDS)
    if str(display_value(localrc.get("SWIFT_ENABLE_TEMPURLS", ""))).lower() == "true":
        wanted.append(("SWIFT_TEMPURL_KEY", None))
    if "key" in enabled and "ldap" in enabled:
        wanted.append(("LDAP_PASSWORD", ("ldap",)))
    for name, services in wanted:
        if services is not None and not enabled & set(services):
            continue
        if name == "DATABASE_PASSWORD" and not _resolves_empty(localrc, "MYSQL_PASSWORD"):
            continue
        if _resolves_empty(localrc, name):
            reason = (
                "SWIFT_ENABLE_TEMPURLS is True" if services is None
                else f"service {' or '.join(s for s in services if s in enabled)} is enabled"
            )
            missing.append({"variable": name, "because": reason})
    return missing


def check(model: dict, root: str = "devstack", known_variables: Iterable[str] = ()) -> list[str]:
    """Cross-checks of a model; returns error strings naming pillar paths (empty when valid)."""
    errors: list[str] = []
    localrc = model["localrc"]
    for name in sorted(localrc):
        for ref in value_refs(localrc[name]):
            if ref == name and ref not in EARLY_VARIABLES:
                errors.append(f"{root}:localrc:{name} refers to itself")
            elif ref not in localrc and ref not in EARLY_VARIABLES:
                errors.append(
                    f"{root}:localrc:{name} refers to ${ref}, which is not set in {root}:localrc and is "
                    f"not defined before DevStack reads localrc ({', '.join(sorted(EARLY_VARIABLES))}); set it"
                )
    try:
        variable_order(localrc)
    except ValueError as exc:
        errors.append(f"{root}:localrc has a reference cycle {exc}; break it with a literal value")
    try:
        variable_order(localrc)
        acyclic = True
    except ValueError:
        acyclic = False
    for name in sorted(localrc):
        value = localrc[name]
        if not is_password_variable(name) or not acyclic:
            continue
        # {ref: X} and {expand: ...} are checked for what bash will make of them.
        resolved = resolve_literal(localrc, name, {})
        refs = value_refs(value)
        if resolved is None:
            if all(ref in localrc or ref in EARLY_VARIABLES for ref in refs):
                errors.append(
                    f"{root}:localrc:{name} refers to a variable DevStack sets ({', '.join(sorted(set(refs) - set(localrc)))}), "
                    "so its value cannot be checked to be alphanumeric; give a literal or refer to a localrc variable"
                )
        elif resolved and not ALNUM_RE.match(resolved):
            errors.append(
                f"{root}:localrc:{name} must be alphanumeric (letters and digits only)"
                + (" once its references are resolved" if refs else "")
                + ": DevStack embeds passwords in URLs and config files"
            )
    for item in missing_passwords(model):
        errors.append(
            f"{root}:localrc:{item['variable']} is missing or empty, and stack.sh would prompt for it "
            f"(hanging an unattended run) because {item['because']}; set it to an alphanumeric value"
        )
    plugins = model["plugins"]
    for name in sorted(plugins):
        for required in plugins[name].get("requires", ()):
            if required not in plugins:
                errors.append(
                    f"{root}:plugins:{name}:requires names {required}, which is not in {root}:plugins; add it"
                )
    try:
        plugin_order(plugins)
    except ValueError as exc:
        errors.append(f"{root}:plugins have a requirement cycle {exc}; remove one of these requires")
    known = set(localrc) | set(known_variables)
    for phase, files in model["config"].items():
        for filename in files:
            problem = header_problem(filename, known)
            if problem is not None:
                hint = f"; use an absolute path, or list it in {root}:known_variables if a plugin defines it" \
                    if "not a variable DevStack defines" in problem else ""
                errors.append(f"{root}:config:{phase}:{filename}: {problem}{hint}")
    return errors


def _get(mapping: Any, key: Any) -> Any:
    """``mapping[key]`` when mapping is a mapping holding it; None otherwise (any YAML value)."""
    try:
        return mapping.get(key) if isinstance(mapping, dict) else None
    except TypeError:  # an unhashable key (a list where a name belongs)
        return None


def wire_backends(pillar: dict, model: dict, root: str, lookup, errors: list[str]) -> None:
    """Fill the localrc of a node that uses this project's database or broker role.

    ``devstack:database`` (true, or ``{host: ...}``) takes DATABASE_TYPE/HOST/USER/PASSWORD from
    the ``database`` pillar (``database:devstack``); ``devstack:broker`` takes RABBIT_HOST/USERID/
    PASSWORD from the ``broker`` pillar (``broker:devstack_user`` and ``broker:users``). Each
    password lives only there. With ``true`` the host is the mine's address of the node that
    carries the role (``lookup("mine:<role>")``, first by minion id), else the pillar's.
    DevStack's own ``mysql`` / ``rabbit`` service is disabled: the role runs that server.
    ``lookup(key)`` returns another pillar key (or None).
    """
    for backend, variables in WIRED_VARIABLES.items():
        use = pillar.get(backend)
        if use is None or use is False:
            continue
        where = f"{root}:{backend}"
        if use is not True and not (isinstance(use, dict) and set(use) <= {"host"}):
            errors.append(f"{where} must be true or {{host: ADDRESS}} (the address DevStack reaches it at)")
            continue
        for name in variables:
            if isinstance(pillar.get("localrc"), dict) and name in pillar["localrc"]:
                errors.append(f"{root}:localrc:{name} comes from the {backend} pillar when {where} is set; remove it")
        source = lookup(backend)
        if not isinstance(source, dict):
            errors.append(f"{where} is set but the {backend} pillar is missing; apply the {backend} role's pillar")
            continue
        host = use.get("host") if isinstance(use, dict) else None
        if host is None:
            carriers = lookup(f"mine:{backend}") or {}
            host = next(iter(carriers.values()), None) if isinstance(carriers, dict) else None
        if backend == "database":
            account = _get(source, "devstack")
            values = {"DATABASE_TYPE": "mysql", "DATABASE_HOST": host or _get(account, "host"),
                      "DATABASE_USER": _get(account, "user"), "DATABASE_PASSWORD": _get(account, "password")}
            keys = {"DATABASE_HOST": "database:devstack:host", "DATABASE_USER": "database:devstack:user",
                    "DATABASE_PASSWORD": "database:devstack:password"}
            service = "mysql"
        else:
            user = source.get("devstack_user")
            values = {"RABBIT_HOST": host or source.get("address"), "RABBIT_USERID": user,
                      "RABBIT_PASSWORD": _get(_get(_get(source, "users"), user), "password")}
            keys = {"RABBIT_HOST": "broker:address", "RABBIT_USERID": "broker:devstack_user",
                    "RABBIT_PASSWORD": f"broker:users:{user}:password"}
            service = "rabbit"
        missing = [keys[name] for name, value in values.items() if value in (None, "")]
        if missing:
            errors.append(f"{where} is set but {', '.join(missing)} is missing; set it in the {backend} pillar")
            continue
        for name, value in values.items():
            text = _scalar_text(value)
            if text is None or _has_bad_char(text):
                errors.append(f"{keys.get(name, where)} must be a single-line string")
                continue
            model["localrc"][name] = text
        # The role manages that server, even on this host: DevStack's own service would reset
        # its root password, rewrite its config and restart it behind the role's back.
        if model["services"].get(service) is True:
            errors.append(f"{root}:services enables {service}, but {where} says the {backend} role provides "
                          f"it: DevStack would take over that server; remove {service} from {root}:services")
        model["services"] = dict(sorted({**model["services"], service: False}.items()))


def build(pillar: Any, root: str = "devstack", lookup=None) -> dict:
    """Normalise and fully validate pillar; return the model or raise LocalConfError.

    Every problem is reported at once. Cross-checks that would only echo a structural error
    (a reference to, or a prompt for, a variable whose value was itself rejected) are left out.
    """
    errors: list[str] = []
    model = _normalize(pillar, root, errors)
    if isinstance(pillar, dict):
        node_settings(pillar, root, errors, model)
        wire_backends(pillar, model, root, lookup or (lambda key: None), errors)
    known = pillar.get("known_variables") or []
    if not isinstance(known, list) or not all(isinstance(k, str) and NAME_RE.match(k) for k in known):
        errors.append(f"{root}:known_variables must be a list of variable names")
        known = []
    rejected = {str(name) for name in (pillar.get("localrc") or {}) if str(name) not in model["localrc"]} \
        if isinstance(pillar.get("localrc"), dict) else set()
    errors += [e for e in check(model, root, known)
               if not any(f"${name}," in e or f":localrc:{name} is missing" in e for name in rejected)]
    if errors:
        raise LocalConfError(errors)
    return model


# --------------------------------------------------------------------------------------------
# Model -> text
# --------------------------------------------------------------------------------------------


def render_model(model: dict) -> str:
    """Render a model as local.conf text (deterministic; the model must be acyclic)."""
    lines = [HEADER_COMMENT.rstrip("\n"), "[[local|localrc]]"]
    if model["disable_all_services"]:
        lines.append("disable_all_services")
    enabled = [name for name, on in model["services"].items() if on]
    disabled = [name for name, on in model["services"].items() if not on]
    if enabled:
        lines.append("enable_service " + " ".join(enabled))
    if disabled:
        lines.append("disable_service " + " ".join(disabled))
    localrc = model["localrc"]
    for name in variable_order(localrc):
        lines.append(f"{name}={shell_value(localrc[name])}")
    plugins = model["plugins"]
    for name in plugin_order(plugins):
        spec = plugins[name]
        line = f"enable_plugin {name} {shell_quote(spec['url'])}"
        if "ref" in spec:
            line += " " + shell_quote(spec["ref"])
        if spec.get("requires"):
            line += " # requires: " + ", ".join(spec["requires"])
        lines.append(line)
    for phase in PHASES:
        for filename, sections in sorted(model["config"].get(phase, {}).items()):
            lines.append("")
            lines.append(f"[[{phase}|{filename}]]")
            for section, options in sorted(sections.items()):
                lines.append(f"[{section}]")
                for option, value in sorted(options.items()):
                    for item in value if isinstance(value, list) else [value]:
                        lines.append(f"{option} = {config_value_text(item)}" if item else f"{option} =")
    return "\n".join(lines) + "\n"


def mask_model(model: dict) -> dict:
    """A copy of the model with every secret value replaced by <hidden>."""
    secrets = secret_values(model)

    def scrub(text: str) -> str:
        text = URL_CREDENTIALS_RE.sub(r"\1" + MASK + "@", text)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    localrc = {}
    for name, value in model["localrc"].items():
        if is_secret_name(name) and not isinstance(value, dict):
            localrc[name] = MASK
        elif isinstance(value, dict) and "expand" in value:
            localrc[name] = {"expand": scrub(value["expand"])}
        else:
            localrc[name] = scrub(value) if isinstance(value, str) else value
    config = {
        phase: {
            f: {
                s: {
                    o: (MASK if is_secret_name(o) else
                        [scrub(x) for x in v] if isinstance(v, list) else scrub(v))
                    for o, v in opts.items()
                }
                for s, opts in sections.items()
            }
            for f, sections in files.items()
        }
        for phase, files in model["config"].items()
    }
    return {**model, "localrc": localrc, "config": config}


def secret_values(model: dict) -> list[str]:
    """Literal secret values of a model, longest first (to scrub them from any other text)."""
    found = {v for n, v in model["localrc"].items() if is_secret_name(n) and isinstance(v, str) and v}
    for files in model["config"].values():
        for sections in files.values():
            for options in sections.values():
                for option, value in options.items():
                    if is_secret_name(option):
                        found.update(x for x in (value if isinstance(value, list) else [value]) if x)
    return sorted(found, key=lambda s: (-len(s), s))


# --------------------------------------------------------------------------------------------
# Text -> model (any local.conf, hand-written ones included)
# --------------------------------------------------------------------------------------------


class ParseError(LocalConfError):
    """A local.conf that the model cannot represent; the message names the line."""


def parse_text(text: str) -> tuple[dict, list[str]]:
    """Parse local.conf text the way DevStack reads it; return (model, warnings).

    Raises ParseError for content the model cannot represent (e.g. arbitrary shell code).
    """
    if "\r" in text:
        raise ParseError([
            "the file has CR (Windows) line endings: DevStack would not recognise its [[local|localrc]] "
            "header; convert it with dos2unix first"
        ])
    warnings: list[str] = []
    blocks: list[tuple[str, str, list[tuple[int, str]]]] = []
    current: list[tuple[int, str]] | None = None
    for lineno, line in enumerate(text.split("\n"), start=1):
        if _HEADER_RE.match(line):
            field = line.split()[0] if line.split() else ""
            group, _, filename = field.replace("[", "").replace("]", "").partition("|")
            if not group:
                warnings.append(f"line {lineno}: header {line.strip()!r} has spaces inside; DevStack drops this block")
                current = None
                continue
            current = []
            blocks.append((group, filename, current))
            continue
        if current is not None:
            current.append((lineno, line))
        elif line.strip() and not line.lstrip().startswith("#"):
            warnings.append(f"line {lineno}: text before the first [[...]] header is ignored by DevStack")
    model = {"disable_all_services": False, "services": {}, "localrc": {}, "plugins": {}, "config": {}}
    localrc_lines: list[tuple[int, str]] = []
    for group, filename, lines in blocks:
        if group == "local":
            if filename == "localrc":
                localrc_lines.extend(lines)
            else:
                warnings.append(f"[[local|{filename}]] is ignored by DevStack (only localrc is read)")
        elif group in PHASES:
            _parse_config_block(model, group, filename, lines, warnings)
        else:
            warnings.append(f"[[{group}|{filename}]]: DevStack ignores the group {group!r}")
    _parse_localrc(model, localrc_lines, warnings)
    model["services"] = dict(sorted(model["services"].items()))
    model["localrc"] = dict(sorted(model["localrc"].items()))
    model["plugins"] = dict(sorted(model["plugins"].items()))
    config = {}
    for phase in PHASES:  # canonical order; empty sections, files and phases are dropped
        files = {}
        for filename, sections in sorted(model["config"].get(phase, {}).items()):
            kept = {s: dict(sorted(o.items())) for s, o in sorted(sections.items()) if o}
            if kept:
                files[filename] = kept
        if files:
            config[phase] = files
    model["config"] = config
    return model, warnings


def _parse_config_block(model: dict, phase: str, filename: str, lines, warnings: list[str]) -> None:
    """One meta-section body, read the way DevStack's merge_config_file reads it.

    Its awk program groups lines by (section, text before the first '='), and prints for each
    group ``iniset FILE SECTION NAME "VALUE"`` (several lines: a multi-valued option), which is
    then ``eval``ed: the unquoted section and name are split into words, so an empty section
    (``[ x ]``) or a line without '=' shifts the words: ``novalue_line`` in ``[DEFAULT]`` is
    ``iniset FILE DEFAULT novalue_line`` (an option with an empty value), and after ``[ x ]``,
    ``a = 1`` is ``iniset FILE a 1`` (section ``a``, option ``1``). What the model cannot hold
    the same way is a ParseError naming the line.
    """
    where = f"[[{phase}|{filename}]]"
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    dropped: set[tuple[str, str]] = set()
    section = last_section = ""
    registered = 0
    for lineno, line in lines:
        if re.match(r"\[.+\]", line):
            section = line.split()[0].replace("[", "").replace("]", "")
            continue
        if re.match(r" *#", line):
            continue
        if not re.match(r"[^ \t]", line):
            if line.strip():
                warnings.append(f"line {lineno}: indented line in {where} is dropped by DevStack")
            continue
        name, sep, value = line.partition("=")
        if not sep:
            name, value = "", line
        key = (section, name.rstrip(" \t"))
        if key not in groups:
            # The awk program files a new option under the section it last saw change; before
            # the first change from "" (an option before any named section) it files none.
            if section != last_section:
                registered, last_section = registered + 1, section
            if not registered:
                dropped.add(key)
        groups.setdefault(key, []).append((lineno, value.strip(" \t")))
    sections = model["config"].setdefault(phase, {}).setdefault(filename, {})
    if not [key for key in groups if key not in dropped]:
        warnings.append(f"{where} sets no option: DevStack would only create the file, empty; the model drops it")
    origin: dict[tuple[str, str], int] = {}
    for (section, name), items in groups.items():
        first = items[0][0]
        if (section, name) in dropped:
            for lineno, _ in items:
                warnings.append(f"line {lineno}: DevStack's merge drops this line of {where}: it comes before any "
                                "[section] that has options")
            continue
        words = section.split() + name.split()
        if len(words) == 2:
            values = [_imported_value(value, lineno, where) for lineno, value in items]
        elif len(words) == 1 and len(items) == 1 and items[0][1]:
            # iniset FILE WORD "VALUE": the value is the option name, its value is empty.
            words.append(items[0][1])
            values = [""]
            shifted = "a line without '='" if not name else "an option after a section header without a name"
            warnings.append(f"line {first}: {shifted} in {where}: DevStack writes it as option "
                            f"{words[1]!r} with an empty value in section [{words[0]}]")
        elif not words and len(items) == 1 or len(words) == 1 and not items[0][1]:
            warnings.append(f"line {first}: DevStack's merge writes nothing for this line of {where} (no option name)")
            continue
        else:
            raise ParseError([f"line {first}: in {where}, DevStack would split this line's section and option name "
                              "into other words than 'section', 'option'; the model cannot represent it"])
        target_section, option = words[0], words[1]
        if not SECTION_RE.match(target_section) or not OPTION_RE.match(option):
            raise ParseError([f"line {first}: in {where}, the section or option name would be expanded or mangled by "
                              "DevStack's merge; use letters, digits and _ . : - only"])
        if (target_section, option) in origin:
            raise ParseError([f"line {first}: in {where}, DevStack would write option {option} of [{target_section}] "
                              f"that line {origin[target_section, option]} writes too; keep one"])
        origin[target_section, option] = first
        sections.setdefault(target_section, {})[option] = values[0] if len(values) == 1 else values


def _imported_value(raw: str, lineno: int, where: str) -> str:
    """A post-config value of a hand-written file as the model holds it; ParseError if DevStack's
    merge would not write it literally (``\\\\$`` is DevStack's literal dollar: ``$$``)."""
    escaped = raw.replace("\\\\$", "\0") if "\0" not in raw else raw
    if "$$" in escaped:
        raise ParseError([f"line {lineno}: the value in {where} contains '$$', which DevStack's merge expands to "
                          "its process id; write \\\\$ for a literal dollar"])
    value = escaped.replace("\0", "$$")
    problem = config_value_problem(value)
    if problem:
        raise ParseError([f"line {lineno}: the value in {where} {problem}"])
    return value


_ASSIGN_RE = re.compile(r"(?:export\s+)?(" + _NAME + r")(\+?=)(.*)\Z")


def _parse_localrc(model: dict, lines, warnings: list[str]) -> None:
    negated: set[str] = set()
    services = model["services"]
    for lineno, raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {lineno}"
        match = _ASSIGN_RE.match(line)
        if match:
            name, op, rest = match.groups()
            words, _ = shell_words(rest, where) if rest and not rest[0].isspace() else ([[]], None)
            if rest and rest[0].isspace():
                extra, _ = shell_words(rest, where)
                if extra:
                    raise ParseError([f"{where}: assigning {name} before a command (NAME=value command) is not supported"])
            if len(words) != 1:
                raise ParseError([f"{where}: the value of {name} is more than one word; quote it"])
            value = _value_from_parts(words[0])
            if name == "ENABLED_SERVICES":
                _parse_enabled_services(model, value, op, where, negated)
            elif op == "+=":
                raise ParseError([f"{where}: appending with += is only supported for ENABLED_SERVICES"])
            else:
                if name in model["localrc"]:
                    warnings.append(f"{where}: {name} is assigned again; the last value wins")
                model["localrc"][name] = value
            continue
        words, comment = shell_words(line, where)
        command = _literal_words(words, where)
        if command[0] == "disable_all_services" and len(command) == 1:
            model["disable_all_services"] = True
            for name in [n for n, on in services.items() if on]:
                del services[name]
        elif command[0] == "enable_service":
            for name in command[1:]:
                if services.get(name) is False:
                    # DevStack's enable_service skips a name already in DISABLED_SERVICES.
                    warnings.append(f"{where}: enable_service {name} has no effect after disable_service {name}")
                    continue
                services[name] = True
        elif command[0] == "disable_service":
            for name in command[1:]:
                services[name] = False
        elif command[0] == "enable_plugin" and len(command) in (3, 4):
            plugin = {"url": command[2]}
            if len(command) == 4:
                plugin["ref"] = command[3]
            if comment and comment.strip().startswith("requires:"):
                requires = [r.strip() for r in comment.strip()[len("requires:"):].split(",") if r.strip()]
                if requires:
                    plugin["requires"] = sorted(set(requires))
            model["plugins"][command[1]] = plugin
        else:
            raise ParseError([
                f"{where}: a command the model cannot represent (only NAME=value, "
                "enable_service, disable_service, disable_all_services and enable_plugin are)"
            ])
    for name in negated:
        services[name] = False


def _parse_enabled_services(model: dict, value: Any, op: str, where: str, negated: set[str]) -> None:
    if isinstance(value, dict):
        parts = template_parts(value["expand"]) if "expand" in value else [("ref", value["ref"])]
        if parts[0] == ("ref", "ENABLED_SERVICES") and all(k == "lit" for k, _ in parts[1:]):
            value, op = "".join(v for _, v in parts[1:]), "+="
        else:
            raise ParseError([f"{where}: ENABLED_SERVICES may only be a list or extend itself"])
    if op == "=":
        model["disable_all_services"] = True
        for name in [n for n, on in model["services"].items() if on]:
            del model["services"][name]
    for name in filter(None, value.split(",")):
        if name.startswith("-"):
            negated.add(name[1:])
        else:
            model["services"][name] = True


def _literal_words(words: list[list[tuple[str, str]]], where: str) -> list[str]:
    out = []
    for word in words:
        if any(kind != "lit" for kind, _ in word):
            raise ParseError([f"{where}: variable references are only supported in NAME=value lines"])
        out.append("".join(v for _, v in word))
    return out


def shell_words(text: str, where: str = "value") -> tuple[list[list[tuple[str, str]]], str | None]:
    """Split one line of simple bash into words of ("lit", s)/("ref", NAME) parts, plus the comment.

    Supports what local.conf needs: bare words, single and double quotes, backslash escapes and
    $NAME/${NAME}. Anything that would run code or expand otherwise raises ParseError. Errors name
    the line and the construct, never the line's text: it may hold a password.
    """
    words: list[list[tuple[str, str]]] = []
    word: list[tuple[str, str]] | None = None
    i, n = 0, len(text)

    def add(kind: str, value: str) -> None:
        nonlocal word
        if word is None:
            word = []
        word.append((kind, value))

    def unsupported(what: str) -> ParseError:
        return ParseError([f"{where}: {what} is not supported in local.conf (the model cannot represent it)"])

    def dollar(pos: int) -> tuple[int, tuple[str, str]]:
        match = re.compile(r"\$\{(" + _NAME + r")\}|\$(" + _NAME + ")").match(text, pos)
        if match:
            return match.end(), ("ref", match.group(1) or match.group(2))
        nxt = text[pos + 1:pos + 2]
        if nxt in ("(", "{") or nxt.isdigit() or nxt in "@*#?$!-":
            raise unsupported(f"shell expansion {text[pos:pos + 2]!r}")
        return pos + 1, ("lit", "$")

    while i < n:
        c = text[i]
        if c in " \t":
            if word is not None:
                words.append(word)
                word = None
            i += 1
        elif c == "#" and word is None:
            break
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise unsupported("an unterminated single quote")
            add("lit", text[i + 1:end])
            i = end + 1
        elif c == '"':
            i += 1
            add("lit", "")
            while True:
                if i >= n:
                    raise unsupported("an unterminated double quote")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and text[i + 1] in '$`"\\':
                    add("lit", text[i + 1])
                    i += 2
                elif c == "`":
                    raise unsupported("a backtick command substitution")
                elif c == "$":
                    i, part = dollar(i)
                    add(*part)
                else:
                    add("lit", c)
                    i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise unsupported("a line continuation")
            add("lit", text[i + 1])
            i += 2
        elif c == "$":
            i, part = dollar(i)
            add(*part)
        elif c in "`;|&<>()~{}":
            raise unsupported(f"the shell character {c!r} unquoted")
        else:
            add("lit", c)
            i += 1
    comment = text[i + 1:] if i < n else None
    if word is not None:
        words.append(word)
    merged = []
    for word in words:
        parts: list[tuple[str, str]] = []
        for kind, value in word:
            if parts and kind == "lit" and parts[-1][0] == "lit":
                parts[-1] = ("lit", parts[-1][1] + value)
            elif not (kind == "lit" and value == "" and parts):
                parts.append((kind, value))
        if len(parts) > 1 and parts[0] == ("lit", ""):
            parts = parts[1:]
        merged.append(parts or [("lit", "")])
    return merged, comment


# --------------------------------------------------------------------------------------------
# Meaning: semantic diff and explanation
# --------------------------------------------------------------------------------------------


def flatten(model: dict) -> dict[str, Any]:
    """The model as {readable path: value}, the unit a semantic diff compares."""
    flat: dict[str, Any] = {"disable_all_services": model["disable_all_services"]}
    for name, on in model["services"].items():
        flat[f"services:{name}"] = "enabled" if on else "disabled"
    for name, value in model["localrc"].items():
        flat[f"localrc:{name}"] = display_value(value)
    for name, spec in model["plugins"].items():
        flat[f"plugins:{name}"] = " ".join([spec["url"]] + ([spec["ref"]] if "ref" in spec else []))
        if spec.get("requires"):
            flat[f"plugins:{name}:requires"] = ", ".join(spec["requires"])
    for phase, files in model["config"].items():
        for filename, sections in files.items():
            for section, options in sections.items():
                for option, value in options.items():
                    flat[f"{phase}:{filename}:{section}:{option}"] = value
    return flat


def semantic_diff(old: dict | None, new: dict) -> dict[str, dict]:
    """{path: {"old": ..., "new": ...}} for every meaningful difference, secrets masked."""
    old_flat = flatten(mask_model(old)) if old is not None else {}
    new_flat = flatten(mask_model(new))
    raw_old = flatten(old) if old is not None else {}
    raw_new = flatten(new)
    diff = {}
    for key in sorted(set(raw_old) | set(raw_new)):
        if raw_old.get(key) != raw_new.get(key):
            diff[key] = {"old": old_flat.get(key), "new": new_flat.get(key)}
    return diff


def explain_model(model: dict) -> dict:
    """What DevStack will do with a model: services, plugins in order, prompts, problems."""
    try:
        plugins = [{"name": n, **model["plugins"][n]} for n in plugin_order(model["plugins"])]
    except ValueError as exc:
        plugins = f"cycle: {exc}"
    try:
        variables = variable_order(model["localrc"])
    except ValueError as exc:
        variables = f"cycle: {exc}"
    return {
        "base_services": "none (disable_all_services)" if model["disable_all_services"] else "DevStack default list",
        "enabled_services": effective_services(model),
        "plugins_in_order": plugins,
        "variables_in_order": variables,
        "prompted_passwords": missing_passwords(model),
        "config_files": {phase: sorted(files) for phase, files in model["config"].items()},
    }


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def parse_mode(mode: Any, where: str = "mode") -> int:
    """'0600', '600' or 600 (octal digits) -> 0o600."""
    text = str(mode)
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise LocalConfError([f"{where} must be an octal file mode in quotes, e.g. '0600'"])
    return int(text, 8)


def owner_ids(user: str, group: str | None) -> tuple[int, int]:
    """uid and gid for user (and group, default the user's primary group)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LocalConfError([
            f"user {user!r} does not exist; the devstack role creates it, or set devstack:user"
        ]) from None
    if group is None:
        return entry.pw_uid, entry.pw_gid
    try:
        return entry.pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        raise LocalConfError([f"group {group!r} does not exist; create it or set devstack:group"]) from None


def plan_file(path: str, model: dict, uid: int, gid: int, mode: int) -> tuple[dict, bool]:
    """Compare the file at path with the model; return (masked changes, content must be written)."""
    text = render_model(model).encode()
    changes: dict[str, Any] = {}
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise LocalConfError([
                f"directory {directory} does not exist; the devstack role creates it (or fix devstack:local_conf)"
            ]) from None
        changes["file"] = {"old": None, "new": path}
        changes["diff"] = semantic_diff(None, model)
        return changes, True
    if not stat.S_ISREG(st.st_mode):
        raise LocalConfError([f"{path} exists and is not a regular file; remove it or choose another devstack:local_conf"])
    with open(path, "rb") as handle:
        current = handle.read()
    rewrite = current != text
    if rewrite:
        try:
            old_model, _ = parse_text(current.decode("utf-8", errors="replace"))
        except LocalConfError as exc:
            changes["diff"] = {"content": {"old": f"not parseable ({exc.errors[0]})", "new": "written from pillar"}}
        else:
            diff = semantic_diff(old_model, model)
            changes["diff"] = diff or {"content": {"old": "same meaning, other text", "new": "canonical text"}}
    if stat.S_IMODE(st.st_mode) != mode:
        changes["mode"] = {"old": f"{stat.S_IMODE(st.st_mode):04o}", "new": f"{mode:04o}"}
    if st.st_uid != uid:
        changes["user"] = {"old": _user_name(st.st_uid), "new": _user_name(uid)}
    if st.st_gid != gid:
        changes["group"] = {"old": _group_name(st.st_gid), "new": _group_name(gid)}
    return changes, rewrite


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def import_yaml(model: dict, root: str = "devstack") -> str:
    """Pillar YAML for a model, ready to paste into a pillar file."""
    pillar: dict[str, Any] = {}
    if model["disable_all_services"]:
        pillar["disable_all_services"] = True
    for key in ("services", "localrc", "plugins", "config"):
        if model[key]:
            pillar[key] = model[key]
    return yaml.safe_dump({root: pillar}, default_flow_style=False, sort_keys=False, width=1000)


# --------------------------------------------------------------------------------------------
# The node: role settings, the stack.sh runner and its stamp
# --------------------------------------------------------------------------------------------


def node_settings(pillar: dict, root: str = "devstack", errors: list[str] | None = None,
                  model: dict | None = None) -> dict:
    """The role's settings from pillar, defaults applied, plus derived paths.

    Appends problems to ``errors`` (raises LocalConfError when it is None). With ``model``, keeps
    localrc DEST and devstack:dest in agreement: DEST is added when dest is not DevStack's default.
    """
    own = errors is None
    errors = [] if own else errors
    cfg = {**NODE_DEFAULTS, **{k: pillar[k] for k in NODE_DEFAULTS if pillar.get(k) is not None}}
    if not isinstance(cfg["user"], str) or not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", cfg["user"]):
        errors.append(f"{root}:user must be a user name (lower case letters, digits, '_' and '-')")
        cfg["user"] = None
    elif cfg["user"] == "root":
        errors.append(f"{root}:user cannot be root: stack.sh refuses to run as root; use an ordinary user "
                      "such as stack (the role creates it with passwordless sudo)")
    bad_local_conf = False
    for key in ("dest", "local_conf"):
        problem = _path_problem(pillar.get(key), key)
        if problem:
            errors.append(f"{root}:{key} {problem}")
            cfg[key] = None
            bad_local_conf = bad_local_conf or key == "local_conf"
    if not isinstance(cfg["repo"], str) or not URL_RE.match(cfg["repo"]):
        errors.append(f"{root}:repo must be a git URL without spaces or shell characters")
    ref = _scalar_text(cfg["ref"])
    if ref is None or not ref or not REF_RE.match(ref):
        errors.append(f"{root}:ref must be a branch, tag or commit")
    cfg["ref"] = ref
    for key in ("stack", "unstack_before_restack"):
        if not isinstance(cfg[key], bool):
            errors.append(f"{root}:{key} must be true or false")
    cfg["checkout"] = pillar.get("checkout", cfg["stack"])
    if not isinstance(cfg["checkout"], bool):
        errors.append(f"{root}:checkout must be true or false")
    elif cfg["stack"] is True and not cfg["checkout"]:
        errors.append(f"{root}:checkout cannot be false while {root}:stack is true (stack.sh comes from the checkout)")
    timeout = cfg["stack_timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        errors.append(f"{root}:stack_timeout must be a number of seconds greater than 0")
    if model is not None and isinstance(cfg["dest"], str):
        dest_var = model["localrc"].get("DEST")
        if dest_var is None and cfg["dest"] != NODE_DEFAULTS["dest"]:
            model["localrc"]["DEST"] = cfg["dest"]
        elif dest_var is not None and dest_var != cfg["dest"] and "dest" in pillar:
            errors.append(f"{root}:localrc:DEST differs from {root}:dest; set only {root}:dest")
        elif isinstance(dest_var, str) and "dest" not in pillar:
            problem = _path_problem(dest_var, "dest")
            if problem:
                errors.append(f"{root}:localrc:DEST {problem}")
            cfg["dest"] = None if problem else dest_var
    if isinstance(cfg["dest"], str) and not bad_local_conf:
        cfg["devstack_dir"] = cfg["dest"].rstrip("/") + "/devstack"
        cfg["local_conf"] = pillar.get("local_conf") or cfg["devstack_dir"] + "/local.conf"
        cfg["run_log"] = cfg["dest"].rstrip("/") + "/logs/salt-stack-run.log"
        key = hashlib.sha256(cfg["devstack_dir"].encode()).hexdigest()[:16]
        cfg["stamp"] = f"{STATE_DIR}/stack-{key}.json"
        cfg["running"] = f"{STATE_DIR}/running-{key}.json"
    if own and errors:
        raise LocalConfError(errors)
    return cfg


def _path_problem(value: Any, key: str) -> str | None:
    """Why ``value`` cannot be the node's ``dest`` or ``local_conf`` (None: it can, or is unset)."""
    if value is None:
        return None
    if not isinstance(value, str) or not PATH_HEADER_RE.match(value) or value.rstrip("/") == "":
        return "must be an absolute path (starting with /, not / itself) without spaces or shell characters"
    if any(part in (".", "..") for part in value.split("/")) or "//" in value:
        return "must be a plain absolute path: no '.' or '..' components and no '//'"
    if key == "local_conf" and value.endswith("/"):
        return "must name a file, not a directory (no trailing '/')"
    return None


def meaning_digest(model: dict) -> str:
    """A digest of what local.conf means (the model), blind to order, quoting and comments."""
    return hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()


def checkout_commit(directory: str) -> str | None:
    """The commit checked out in a git work tree, or None."""
    try:
        proc = subprocess.run(
            ["git", "-c", f"safe.directory={directory}", "-C", directory, "rev-parse", "HEAD"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def read_json(path: str) -> dict | None:
    """A JSON file's content, or None when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def write_json(path: str, data: dict) -> None:
    """Write JSON atomically, root-owned 0600 (a stamp holds no secret, but a digest of them)."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    devstack_salt_files.atomic_write(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode(), 0, 0, 0o600)


def stack_reasons(cfg: dict, model: dict, force: bool = False) -> list[str]:
    """Why stack.sh must run now (empty: it need not). Reads the stamp and the checkout."""
    stamp = read_json(cfg["stamp"])
    reasons = []
    if force:
        reasons.append("asked explicitly (force)")
    if stamp is None:
        reasons.append("never stacked by this role")
        return reasons
    if stamp.get("result") != "success":
        reasons.append(f"the last run did not succeed ({stamp.get('result')})")
    if stamp.get("meaning") != meaning_digest(model):
        reasons.append("the meaning of local.conf changed since the last stack")
    commit = checkout_commit(cfg["devstack_dir"])
    if stamp.get("commit") != commit:
        reasons.append(f"the DevStack checkout moved from {str(stamp.get('commit'))[:12]} to {str(commit)[:12]}")
    return reasons


def _user_env(entry: pwd.struct_passwd) -> dict[str, str]:
    """A clean environment for the stack user: nothing of Salt's (and no secret) leaks in."""
    return {
        "HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name, "SHELL": "/bin/bash",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb",
    }


def run_script(cfg: dict, script: str, timeout: int, log_path: str, progress: str | None = None,
               secrets: Iterable[str] = ()) -> dict:
    """Run a DevStack script (stack.sh, unstack.sh, clean.sh) as the stack user, never hanging.

    stdin is /dev/null, the environment is clean, and the whole process group is stopped when it
    prompts (a password or sudo prompt) or runs past ``timeout``. Output reaches ``log_path``
    (0600) line by line with every one of ``secrets`` masked: DevStack traces each command
    (``set -o xtrace``), passwords included.
    Returns {"returncode", "outcome" (success, failed, prompted, timeout), "seconds"}.
    """
    entry = pwd.getpwnam(cfg["user"])
    groups = [g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem]
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    os.chown(os.path.dirname(log_path), entry.pw_uid, entry.pw_gid)
    masks = [(secret.encode(), MASK.encode()) for secret in secrets if secret]
    started = time.time()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchown(fd, entry.pw_uid, entry.pw_gid)
    log = os.fdopen(fd, "wb")

    def write(data: bytes) -> None:
        data = URL_CREDENTIALS_RE_BYTES.sub(rb"\1" + MASK.encode() + b"@", data)
        for secret, mask in masks:
            data = data.replace(secret, mask)
        log.write(data)
        log.flush()

    try:
        proc = subprocess.Popen(
            ["/bin/bash", f"./{script}"], cwd=cfg["devstack_dir"], env=_user_env(entry),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            user=entry.pw_uid, group=entry.pw_gid, extra_groups=groups,
        )
    except BaseException:
        log.close()
        raise
    if progress:
        write_json(progress, {"pid": proc.pid, "script": script, "started": started, "log": log_path})
    out = proc.stdout.fileno()
    os.set_blocking(out, False)
    outcome, tail, pending, closed_at = None, b"", b"", None
    try:
        while True:
            ready, _, _ = select.select([out], [], [], 0.2)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(out, 65536)
                except BlockingIOError:
                    chunk = b""
                else:
                    if not chunk:
                        break  # every writer closed the pipe
            tail = (tail + chunk)[-4096:]
            pending += chunk
            if b"\n" in pending:
                complete, pending = pending.rsplit(b"\n", 1)
                write(complete + b"\n")
            if PROMPT_RE.search(tail):
                outcome = "prompted"
            elif time.time() - started > timeout:
                outcome = "timeout"
            if outcome:
                _stop_group(proc)
                break
            if proc.poll() is not None:  # a daemon the script left may hold the pipe open
                closed_at = closed_at or time.time()
                if time.time() - closed_at > 5:
                    break
    finally:
        if pending:
            write(pending)
        log.close()
        proc.stdout.close()
        if progress:
            try:
                os.unlink(progress)
            except FileNotFoundError:
                pass
    proc.wait()
    if outcome is None:
        outcome = "success" if proc.returncode == 0 else "failed"
    return {"returncode": proc.returncode, "outcome": outcome, "seconds": round(time.time() - started, 1)}


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is left after 5 s."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + grace
        while time.time() < deadline:
            if proc.poll() is not None:
                try:
                    os.killpg(proc.pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.1)


def log_tail(cfg: dict, model: dict, lines: int = 20, since: float = 0.0) -> str:
    """The last lines of DevStack's LOGFILE (when set and written since ``since``) or of the
    runner's own log, with every secret of the model masked."""
    candidates = []
    logfile = resolve_literal(model["localrc"], "LOGFILE", {"DEST": cfg["dest"]})
    if logfile:
        candidates.append(logfile)
    candidates.append(cfg["run_log"])
    for path in candidates:
        try:
            if os.path.getmtime(path) >= since:
                with open(path, "rb") as handle:
                    handle.seek(max(0, os.path.getsize(path) - 65536))
                    text = handle.read().decode("utf-8", errors="replace")
                return scrub_text(model, "\n".join(text.splitlines()[-lines:]))
        except OSError:
            continue
    return ""


def scrub_text(model: dict, text: str) -> str:
    """Text with the model's secret values and URL credentials replaced by <hidden>."""
    text = URL_CREDENTIALS_RE.sub(r"\1" + MASK + "@", text)
    for secret in secret_values(model):
        text = text.replace(secret, MASK)
    return text


def resolve_literal(localrc: dict, name: str, early: dict[str, str]) -> str | None:
    """The value bash would give a localrc variable, when it is built from literals only."""
    value = localrc.get(name)
    if value is None:
        return early.get(name)
    if not isinstance(value, dict):
        return value
    parts = [("ref", value["ref"])] if "ref" in value else template_parts(value["expand"])
    out = []
    for kind, text in parts:
        if kind == "lit":
            out.append(text)
        else:
            resolved = resolve_literal(localrc, text, early) if text != name else None
            if resolved is None:
                return None
            out.append(resolved)
    return "".join(out)


#: The systemd units of DevStack's services that read each config file (patterns systemctl
#: accepts). stack.sh starts Keystone before it merges post-config, and merges post-extra and
#: test-config after every service started: a merged option is in effect only once the units
#: reading the file restart.
CONFIG_FILE_UNITS = {
    "KEYSTONE_CONF": ("devstack@keystone.service",),
    "KEYSTONE_PUBLIC_UWSGI_CONF": ("devstack@keystone.service",),
    "SWIFT_CONFIG_PROXY_SERVER": ("devstack@s-proxy.service",),
    "NOVA_CONF": ("devstack@n-*.service",),
    "NOVA_CPU_CONF": ("devstack@n-cpu.service",),
    "NOVA_COND_CONF": ("devstack@n-cond*.service", "devstack@n-super-cond.service"),
    "GLANCE_API_CONF": ("devstack@g-api.service",),
    "CINDER_CONF": ("devstack@c-*.service",),
    "NEUTRON_CONF": ("devstack@q-*.service", "devstack@neutron-*.service"),
    "PLACEMENT_CONF": ("devstack@placement-api.service",),
}
#: Phases whose files DevStack merges after the services reading them may have started.
RESTART_PHASES = ("post-config", "post-extra")


def config_units(model: dict) -> tuple[list[str], list[str]]:
    """(unit patterns to restart once stack.sh merged the model's config, header files of
    those phases whose units this role does not know)."""
    units: list[str] = []
    unknown: list[str] = []
    for phase in RESTART_PHASES:
        for filename in sorted(model["config"].get(phase, {})):
            patterns = CONFIG_FILE_UNITS.get(header_variable(filename) or "")
            if patterns is None:
                unknown.append(filename)
            units.extend(p for p in patterns or () if p not in units)
    return units, unknown


def systemd_running() -> bool:
    return os.path.isdir("/run/systemd/system")


def restart_config_units(cfg: dict, model: dict, wait: float = 120.0) -> dict:
    """Restart the active units that read the model's post-config files, then wait until every
    probed service answers. Returns {"restarted": [...], "unknown": [...], "failing": {...}}."""
    patterns, unknown = config_units(model)
    result: dict[str, Any] = {"restarted": [], "unknown": unknown, "failing": {}}
    if not patterns or not systemd_running():
        return result
    listed = subprocess.run(["systemctl", "list-units", "--state=active", "--plain", "--no-legend", "--full",
                             *patterns], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    units = sorted({line.split()[0] for line in listed.stdout.splitlines() if line.strip()})
    if units:
        restart = subprocess.run(["systemctl", "restart", *units], capture_output=True, text=True,
                                 stdin=subprocess.DEVNULL)
        result["restarted"] = units
        if restart.returncode != 0:
            result["failing"] = {"systemctl restart": scrub_text(model, restart.stderr.strip())}
            return result
    deadline = time.time() + wait
    while True:
        failing = {k: v for k, v in service_health(cfg, model).items() if not v.startswith("ok")}
        if not failing or time.time() > deadline:
            result["failing"] = failing
            return result
        time.sleep(1)


def stack_node(cfg: dict, model: dict, force: bool = False) -> dict:
    """Run stack.sh when :func:`stack_reasons` says so; restart the units whose post-config files
    stack.sh merged after they started; record the outcome in the stamp.

    Returns {"ran": bool, "result": bool, "reasons", "outcome", "seconds", "log", "tail", "commit",
    "restarted"}.
    """
    reasons = stack_reasons(cfg, model, force)
    commit = checkout_commit(cfg["devstack_dir"])
    if not reasons:
        return {"ran": False, "result": True, "reasons": [], "commit": commit}
    if not os.path.isfile(os.path.join(cfg["devstack_dir"], "stack.sh")):
        raise LocalConfError([f"{cfg['devstack_dir']}/stack.sh does not exist: check out DevStack first "
                              "(the devstack role does when devstack:stack is true)"])
    secrets = secret_values(model)
    previous = read_json(cfg["stamp"]) or {}
    if cfg["unstack_before_restack"] and previous.get("result") == "success":
        run_script(cfg, "unstack.sh", int(cfg["stack_timeout"]), cfg["run_log"] + ".unstack", cfg["running"], secrets)
    started = time.time()
    write_json(cfg["stamp"], {**previous, "result": "running", "started": started})
    run = run_script(cfg, "stack.sh", int(cfg["stack_timeout"]), cfg["run_log"], cfg["running"], secrets)
    outcome = run["outcome"]
    restarted: dict[str, Any] = {"restarted": [], "unknown": [], "failing": {}}
    if outcome == "success":
        restarted = restart_config_units(cfg, model)
        if restarted["failing"]:
            outcome = "restart-failed"
    stamp = {"result": "success" if outcome == "success" else outcome, "meaning": meaning_digest(model),
             "commit": commit, "started": started, "finished": time.time(), "seconds": run["seconds"],
             "returncode": run["returncode"], "log": cfg["run_log"], "restarted": restarted["restarted"]}
    write_json(cfg["stamp"], stamp)
    result = {"ran": True, "result": outcome == "success", "reasons": reasons, "outcome": outcome,
              "seconds": run["seconds"], "log": cfg["run_log"], "commit": commit,
              "restarted": restarted["restarted"], "not_restarted": restarted["unknown"]}
    if outcome == "restart-failed":
        result["tail"] = "\n".join(f"{k}: {v}" for k, v in sorted(restarted["failing"].items()))
    elif not result["result"]:
        result["tail"] = log_tail(cfg, model, since=started - 1)
    return result


def unstack_node(cfg: dict, model: dict, clean: bool = False) -> dict:
    """Run unstack.sh (or clean.sh) and mark the stamp so that the next apply stacks again."""
    script = "clean.sh" if clean else "unstack.sh"
    if not os.path.isfile(os.path.join(cfg["devstack_dir"], script)):
        raise LocalConfError([f"{cfg['devstack_dir']}/{script} does not exist"])
    run = run_script(cfg, script, int(cfg["stack_timeout"]), cfg["run_log"] + "." + script, cfg["running"],
                     secret_values(model))
    stamp = read_json(cfg["stamp"]) or {}
    write_json(cfg["stamp"], {**stamp, "result": "cleaned" if clean else "unstacked", "finished": time.time()})
    return {"result": run["outcome"] == "success", "outcome": run["outcome"], "seconds": run["seconds"],
            "tail": "" if run["outcome"] == "success" else log_tail(cfg, model, since=0)}


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
        checks["rabbitmq"] = _tcp_check(resolve_literal(localrc, "RABBIT_HOST", early) or host, 5672)
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


# --------------------------------------------------------------------------------------------
# Salt execution functions
# --------------------------------------------------------------------------------------------


def _pillar(pillar_key: str) -> Any:
    # Salt 3008 masks pillar.get results as '**********' outside template rendering; this module
    # needs the real values (and keeps them out of everything it returns).
    value = __salt__["pillar.get"](pillar_key, None, unmask=True)  # noqa: F821 - Salt dunder
    if value is None:
        raise LocalConfError([f"pillar key {pillar_key} is not set; see pillar/ in this project for an example"])
    return value


def _lookup(key: str) -> Any:
    """Another pillar key, unmasked (the database and broker pillars for the wiring), or with
    ``mine:<role>`` the addresses of the nodes carrying that role (topology module)."""
    if key.startswith("mine:"):
        if "topology.role_addresses" not in __salt__:  # noqa: F821
            return None
        try:
            found = __salt__["topology.role_addresses"](key[5:])  # noqa: F821
        except Exception:  # no mine (yet): fall back to the pillar's address
            return None
        # This node carrying the role itself reaches it at the role's own (often loopback)
        # address from pillar, not at the address it publishes to others.
        return {minion: addr for minion, addr in found.items() if minion != __opts__.get("id")}  # noqa: F821
    return __salt__["pillar.get"](key, None, unmask=True)  # noqa: F821 - Salt dunder


def _model(config: Any, pillar_key: str) -> dict:
    return build(_pillar(pillar_key) if config is None else config, pillar_key, _lookup)


def _node(config: Any, pillar_key: str) -> tuple[dict, dict]:
    """(settings, model) of the node described in pillar (or ``config``), validated."""
    raw = _pillar(pillar_key) if config is None else config
    model = build(raw, pillar_key, _lookup)
    return node_settings(raw, pillar_key, None, dict(model, localrc=dict(model["localrc"]))), model


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError as exc:
        raise CommandExecutionError(f"cannot read {path}: {exc.strerror}") from None


def validate(config=None, pillar_key="devstack"):
    """
    Check the devstack pillar (or ``config``) without writing anything.

    Returns ``{"valid": bool, "errors": [...]}``; each error names its pillar path and the fix.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.validate
    """
    try:
        _model(config, pillar_key)
    except LocalConfError as exc:
        return {"valid": False, "errors": exc.errors}
    return {"valid": True, "errors": []}


def render(config=None, pillar_key="devstack", reveal=False):
    """
    Render local.conf from the devstack pillar (or ``config``). Secrets show as ``<hidden>``
    unless ``reveal=True``.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.render --out=newline_values_only
    """
    model = _model(config, pillar_key)
    return render_model(model if reveal else mask_model(model))


def parse(path=None, text=None, reveal=False):
    """
    Parse an existing local.conf (``path``) or local.conf ``text`` into the model, with
    DevStack's own reading rules. Secrets show as ``<hidden>`` unless ``reveal=True``.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.parse /opt/stack/devstack/local.conf
    """
    if (path is None) == (text is None):
        raise CommandExecutionError("give exactly one of path or text")
    model, warnings = parse_text(_read(path) if path is not None else text)
    return {"model": model if reveal else mask_model(model), "warnings": warnings}


def import_(path, dest=None, pillar_key="devstack", reveal=False):
    """
    Turn an existing local.conf into pillar YAML you can paste under your pillar tree.

    With ``dest``, the full YAML (secrets included) is written there with mode 0600 and a masked
    copy is returned; without it, secrets show as ``<hidden>`` unless ``reveal=True``.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.import /opt/stack/devstack/local.conf dest=/srv/pillar/devstack.sls
    """
    model, warnings = parse_text(_read(path))
    if dest is not None:
        devstack_salt_files.atomic_write(dest, import_yaml(model, pillar_key).encode(), os.getuid(), os.getgid(), 0o600)
    text = import_yaml(model if reveal else mask_model(model), pillar_key)
    if warnings:
        text = "".join(f"# warning: {w}\n" for w in warnings) + text
    return text


def explain(config=None, pillar_key="devstack", path=None):
    """
    Tell what DevStack will do with the pillar (or with the local.conf at ``path``): the
    effective enabled services, plugins in the order they are enabled, variables in assignment
    order, passwords stack.sh would prompt for, and any problems.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.explain
        salt-call devstack.explain path=/opt/stack/devstack/local.conf
    """
    if path is not None:
        model, warnings = parse_text(_read(path))
        problems = check(model, path)
    else:
        raw = _pillar(pillar_key) if config is None else config
        warnings = []
        try:
            model, problems = build(raw, pillar_key, _lookup), []
        except LocalConfError as exc:
            problems = exc.errors
            try:
                model = normalize(raw, pillar_key)
            except LocalConfError:
                return {"problems": problems, "warnings": warnings}
    result = explain_model(mask_model(model))
    result["problems"] = problems
    result["warnings"] = warnings
    return result


def diff(path, config=None, pillar_key="devstack"):
    """
    The semantic difference between the local.conf at ``path`` and the pillar: variables,
    services, plugins and options added, removed or changed, secrets masked. Empty when the
    meaning is the same (comments and order do not count).

    CLI Example:

    .. code-block:: bash

        salt-call devstack.diff /opt/stack/devstack/local.conf
    """
    model = _model(config, pillar_key)
    old = parse_text(_read(path))[0] if os.path.exists(path) else None
    return semantic_diff(old, model)


def plan(path, user="stack", group=None, mode="0600", config=None, pillar_key="devstack"):
    """
    What writing local.conf to ``path`` would change: ``{"changes": {...}, "rewrite": bool}``,
    secrets masked. Changes nothing. The ``devstack.local_conf`` state uses this for test=True.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.plan /opt/stack/devstack/local.conf
    """
    model = _model(config, pillar_key)
    uid, gid = owner_ids(user, group)
    changes, rewrite = plan_file(path, model, uid, gid, parse_mode(mode))
    return {"changes": changes, "rewrite": rewrite}


def stack_plan(force=False, config=None, pillar_key="devstack"):
    """
    Whether the next apply would run stack.sh, and why:
    ``{"enabled": bool (devstack:stack), "needed": bool, "reasons": [...]}``.
    Reasons: never stacked, the last run did not succeed, the meaning of local.conf changed
    (not its bytes or comments), the checkout moved, or ``force``. Changes nothing.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.stack_plan
    """
    cfg, model = _node(config, pillar_key)
    if not cfg["stack"]:
        return {"enabled": False, "needed": False, "reasons": []}
    reasons = stack_reasons(cfg, model, bool(force))
    return {"enabled": True, "needed": bool(reasons), "reasons": reasons}


def stack(force=False, config=None, pillar_key="devstack"):
    """
    Run stack.sh as the stack user if the node needs it (see ``stack_plan``), or always with
    ``force=True``. Never hangs: stdin is closed, a prompt stops the run, and
    ``devstack:stack_timeout`` bounds it. Output goes to ``<dest>/logs/salt-stack-run.log``
    (DevStack writes its own ``LOGFILE`` too); follow it there or with ``devstack.status``.
    Returns the outcome, the reasons and, on failure, the last log lines with secrets masked.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.stack
        salt-call devstack.stack force=True
    """
    cfg, model = _node(config, pillar_key)
    return stack_node(cfg, model, bool(force))


def unstack(clean=False, config=None, pillar_key="devstack"):
    """
    Run unstack.sh (``clean=True``: clean.sh) as the stack user; the next apply stacks again.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.unstack
        salt-call devstack.unstack clean=True
    """
    cfg, model = _node(config, pillar_key)
    return unstack_node(cfg, model, bool(clean))


def status(config=None, pillar_key="devstack"):
    """
    The node at a glance: the stack user and local.conf, the checkout (commit), the last stack
    run (time, result, log), whether local.conf's meaning or the checkout changed since, a run
    in progress (with its latest log line), and on a stacked node the health of Keystone, the
    Swift proxy, the database and RabbitMQ.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.status
    """
    cfg, model = _node(config, pillar_key)
    stamp = read_json(cfg["stamp"])
    result = {
        "stacking": "on" if cfg["stack"] else "off (devstack:stack is false)",
        "user": cfg["user"],
        "local_conf": cfg["local_conf"],
        "checkout": {"path": cfg["devstack_dir"], "ref": cfg["ref"], "commit": checkout_commit(cfg["devstack_dir"])},
        "last_stack": None,
        "restack_needed_because": stack_reasons(cfg, model),
    }
    if stamp:
        result["last_stack"] = {k: stamp.get(k) for k in ("result", "commit", "seconds", "log")}
        if stamp.get("finished"):
            result["last_stack"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(stamp["finished"]))
    running = read_json(cfg["running"])
    if running:
        alive = os.path.exists(f"/proc/{running.get('pid')}")
        result["running"] = {
            "script": running.get("script"), "pid": running.get("pid"), "alive": alive,
            "for_seconds": round(time.time() - running.get("started", time.time())),
            "latest": log_tail(cfg, model, lines=1, since=0),
        }
    if stamp and stamp.get("result") == "success":
        result["health"] = service_health(cfg, model)
    return result


def write(path, user="stack", group=None, mode="0600", config=None, pillar_key="devstack"):
    """
    Write local.conf from the pillar to ``path`` if its content, owner or mode differ:
    atomically (temp file and rename), owned by ``user``, mode ``mode``. Returns the masked
    changes (empty when nothing was done).

    CLI Example:

    .. code-block:: bash

        salt-call devstack.write /opt/stack/devstack/local.conf user=stack
    """
    model = _model(config, pillar_key)
    uid, gid = owner_ids(user, group)
    file_mode = parse_mode(mode)
    changes, rewrite = plan_file(path, model, uid, gid, file_mode)
    if rewrite:
        devstack_salt_files.atomic_write(path, render_model(model).encode(), uid, gid, file_mode)
    elif changes:
        os.chown(path, uid, gid)
        os.chmod(path, file_mode)
    return changes
