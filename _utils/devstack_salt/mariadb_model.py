"""
The database role's pillar as a model: ``database:`` validated (every error names its pillar
path) into the model the server is converged to. DevStack's view of it is ``contract.devstack_database``.

The model::

    {"server": {"bind_address": str, "port": int, "options": {name: str}},   # every [mysqld] option
     "root": {"auth": "unix_socket" | "password", "password": str | None},
     "databases": {name: {"character_set": str | None, "collation": str | None}},
     "users": {name: {"auth": "password" | "unix_socket", "password": str | None, "hosts": [str],
                      "grants": {db or "*": frozenset}}},   # unix_socket: no password, localhost only
     "devstack": {"user": str, "host": str, "nodes": [str]} | None}

Pure Python: no I/O. The option names the installed server knows are passed in
(``mariadb_options.known_options``) when they are known.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from .errors import DatabasePillarError
from .roles import local_address

MASK = "<hidden>"

#: database:server keys with their [mysqld] option names.
SERVER_KEYS = {
    "bind_address": "bind-address",
    "port": "port",
    "character_set": "character-set-server",
    "collation": "collation-server",
    "max_connections": "max-connections",
}
DEFAULT_SERVER = {"bind_address": "127.0.0.1", "port": 3306}
TOP_KEYS = ("server", "root", "databases", "users", "devstack")

#: Privileges GRANT accepts on a database or on *.* (MariaDB 10.11), upper case.
PRIVILEGES = frozenset({
    "ALL PRIVILEGES", "GRANT OPTION", "SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP",
    "REFERENCES", "INDEX", "ALTER", "CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE",
    "CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "EVENT", "TRIGGER",
    "DELETE HISTORY", "RELOAD", "SHUTDOWN", "PROCESS", "FILE", "SHOW DATABASES", "SUPER",
    "REPLICATION SLAVE", "BINLOG MONITOR", "SLAVE MONITOR", "CREATE USER", "CREATE TABLESPACE",
})
#: Other names GRANT accepts for a privilege, as SHOW GRANTS prints it (MariaDB 10.11): a pillar
#: may use either and still converge.
PRIVILEGE_ALIASES = {"ALL": "ALL PRIVILEGES", "REPLICATION CLIENT": "BINLOG MONITOR", "REPLICA MONITOR": "SLAVE MONITOR"}
#: What DevStack's database user needs: create databases, grant on them, drop them; from any
#: DevStack node. This is what DevStack itself grants the user when it installs MySQL.
DEVSTACK_GRANTS = frozenset({"ALL PRIVILEGES", "GRANT OPTION"})

DATABASE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}\Z")
HOST_NAME = re.compile(r"[A-Za-z0-9_.:%/-]{1,255}\Z")
OPTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
CHARSET_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\Z")


def option_name(name: str) -> str:
    """The canonical spelling of a [mysqld] option: lower case, dashes (port, bind-address)."""
    return name.strip().lower().replace("_", "-")


def option_value(value: Any, where: str, errors: list[str]) -> str | None:
    """A pillar value as option-file text; booleans become ON/OFF."""
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{where}: give a number, a word or true/false, not {type(value).__name__} {value!r}")
        return None
    bad = next((c for c in value if c in "\n\r\0#'\"\\;" or (c.isspace() and c != " ")), None)
    if bad is not None or value != value.strip():
        errors.append(f"{where}: {bad or 'leading or trailing space'!r} cannot be written safely in an option "
                      "file (# and ; start comments there); remove it")
        return None
    return value


def _mapping(raw: Any, path: str, errors: list[str]) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(f"{path}: expected a mapping, got {type(raw).__name__}")
        return {}
    return raw


def _password(raw: Any, path: str, errors: list[str]) -> str | None:
    if raw is None or raw == "":
        errors.append(f"{path} is not set: put it in the secrets pillar (bin/configure generates "
                      ".salt/pillar/secrets.sls once; delete that file and rerun bin/configure to add new keys)")
        return None
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z0-9]{8,128}", raw):
        # DevStack puts DATABASE_PASSWORD into URLs: keep every password URL- and shell-safe.
        errors.append(f"{path}: use 8 to 128 letters and digits (DevStack puts it in URLs); the value is not shown")
        return None
    return raw


def _is_address(text: Any) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _hosts(raw: Any, path: str, errors: list[str]) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        errors.append(f"{path}: give a list of host names, addresses or patterns, e.g. [localhost, 192.0.2.%]")
        return []
    hosts = []
    for index, host in enumerate(raw):
        if not isinstance(host, str) or not HOST_NAME.match(host):
            errors.append(f"{path}:{index}: {host!r} is not a host name, address or pattern")
        elif host not in hosts:
            hosts.append(host)
    return hosts


def normalize_privileges(raw: Any, path: str, errors: list[str]) -> frozenset:
    """A grant's privileges as a set of upper-case names; ALL means ALL PRIVILEGES and absorbs
    every other privilege except GRANT OPTION."""
    if isinstance(raw, str):
        raw = [part for part in raw.split(",")]
    if not isinstance(raw, list) or not raw:
        errors.append(f"{path}: give a list of privileges, e.g. [ALL PRIVILEGES] or [SELECT, INSERT]")
        return frozenset()
    privileges = set()
    for item in raw:
        name = " ".join(str(item).upper().split()) if isinstance(item, str) else None
        name = PRIVILEGE_ALIASES.get(name, name)
        if name == "USAGE":
            continue
        if name not in PRIVILEGES:
            errors.append(f"{path}: unknown privilege {item!r}; use ALL PRIVILEGES or names such as SELECT, "
                          "INSERT, CREATE, GRANT OPTION")
            continue
        privileges.add(name)
    if "ALL PRIVILEGES" in privileges:
        privileges &= {"ALL PRIVILEGES", "GRANT OPTION"}
    return frozenset(privileges)


#: Where DevStack's account exists when neither ``database:devstack:nodes`` nor the caller says.
LOOPBACK_NODES = ("127.0.0.1", "localhost")


def build(pillar: Any, root: str = "database", known_options: frozenset | None = None,
          devstack_nodes: list[str] | None = None) -> dict:
    """Validate the pillar under ``root`` into the model; raise DatabasePillarError listing every
    problem by its pillar path. ``known_options``: the server's own option names, when known.
    ``devstack_nodes``: the DevStack nodes' addresses when ``database:devstack:nodes`` is not set
    (the face finds them: :func:`contract.devstack_nodes`); else loopback."""
    errors: list[str] = []
    pillar = _mapping(pillar, root, errors)
    for key in pillar:
        if key not in TOP_KEYS:
            errors.append(f"{root}:{key}: unknown key; the database pillar has {', '.join(TOP_KEYS)}")
    model = {
        "server": _server(pillar.get("server"), f"{root}:server", errors, known_options),
        "root": _root(pillar.get("root"), f"{root}:root", errors),
        "databases": _databases(pillar.get("databases"), f"{root}:databases", errors),
        "users": {},
        "devstack": None,
    }
    model["users"] = _users(pillar.get("users"), f"{root}:users", model["databases"], errors)
    if pillar.get("devstack") is not None:
        model["devstack"] = _devstack(pillar["devstack"], f"{root}:devstack", model, errors, devstack_nodes)
    if errors:
        raise DatabasePillarError(errors)
    return model


def _server(raw: Any, path: str, errors: list[str], known: frozenset | None) -> dict:
    raw = _mapping(raw, path, errors)
    options: dict[str, str] = {}
    for key, value in raw.items():
        if key == "options":
            continue
        if key not in SERVER_KEYS:
            errors.append(f"{path}:{key}: unknown key; use {', '.join(SERVER_KEYS)}, or options: for any other "
                          "[mysqld] option")
            continue
        text = option_value(value, f"{path}:{key}", errors)
        if text is not None:
            options[SERVER_KEYS[key]] = text
    for key, value in DEFAULT_SERVER.items():
        options.setdefault(SERVER_KEYS[key], str(value))
    port = options.get("port", "")
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        errors.append(f"{path}:port: {port!r} is not a TCP port (1-65535)")
    owned = {v: k for k, v in SERVER_KEYS.items()}
    for key, value in _mapping(raw.get("options"), f"{path}:options", errors).items():
        where = f"{path}:options:{key}"
        name = option_name(str(key))
        if not OPTION_NAME.match(name):
            errors.append(f"{where}: not an option name")
            continue
        if name in owned:
            errors.append(f"{where}: set it as {path}:{owned[name]} instead (one place for each option)")
            continue
        if known is not None and not is_known_option(name, known):
            errors.append(f"{where}: the installed MariaDB server has no option {name!r} "
                          "(see mariadbd --verbose --help); fix the name or remove it")
            continue
        if name in options:
            errors.append(f"{where}: {name} is given twice (spelled with _ and -)")
            continue
        text = option_value(value, where, errors)
        if text is not None:
            options[name] = text
    return {"bind_address": options.get("bind-address"), "port": int(port) if port.isdigit() else None,
            "options": options}


def is_known_option(name: str, known: frozenset) -> bool:
    """Whether the server accepts ``name`` in an option file, with the prefixes it allows."""
    if name in known:
        return True
    for prefix in ("loose-", "skip-", "enable-", "disable-", "maximum-"):
        if name.startswith(prefix) and name[len(prefix):] in known:
            return True
    return False


def _root(raw: Any, path: str, errors: list[str]) -> dict:
    raw = _mapping(raw, path, errors)
    for key in raw:
        if key not in ("auth", "password"):
            errors.append(f"{path}:{key}: unknown key; use auth (unix_socket or password) and password")
    auth = raw.get("auth", "unix_socket")
    if auth not in ("unix_socket", "password"):
        errors.append(f"{path}:auth: {auth!r}: use unix_socket (the local root user only) or password")
        return {"auth": "unix_socket", "password": None}
    # With unix_socket a password is optional: kept for one run, it lets the role log in to take
    # root from a password back to the socket.
    wanted = auth == "password" or raw.get("password") is not None
    password = _password(raw.get("password"), f"{path}:password", errors) if wanted else None
    return {"auth": auth, "password": password}


def _databases(raw: Any, path: str, errors: list[str]) -> dict:
    databases = {}
    for name, spec in _mapping(raw, path, errors).items():
        where = f"{path}:{name}"
        if not isinstance(name, str) or not DATABASE_NAME.match(name):
            errors.append(f"{where}: use 1 to 64 letters, digits and _ for a database name")
            continue
        if name.lower() in ("mysql", "information_schema", "performance_schema", "sys", "test"):
            errors.append(f"{where}: {name} belongs to the server (test is removed when securing it)")
            continue
        spec = _mapping(spec, where, errors)
        entry = {"character_set": None, "collation": None}
        for key, value in spec.items():
            if key not in entry:
                errors.append(f"{where}:{key}: unknown key; use character_set and collation")
            elif not isinstance(value, str) or not CHARSET_NAME.match(value):
                errors.append(f"{where}:{key}: {value!r} is not a character set or collation name")
            else:
                entry[key] = value.lower()
        databases[name] = entry
    return databases


def _users(raw: Any, path: str, databases: dict, errors: list[str]) -> dict:
    users = {}
    for name, spec in _mapping(raw, path, errors).items():
        where = f"{path}:{name}"
        if not isinstance(name, str) or not USER_NAME.match(name):
            errors.append(f"{where}: use letters, digits, _ . - for a user name")
            continue
        if name in ("root", "mysql", "mariadb.sys", ""):
            errors.append(f"{where}: {name or 'the anonymous user'} is managed by the server or database:root")
            continue
        spec = _mapping(spec, where, errors)
        for key in spec:
            if key not in ("auth", "password", "hosts", "grants"):
                errors.append(f"{where}:{key}: unknown key; use auth, password, hosts and grants")
        auth = spec.get("auth", "password")
        if auth not in ("password", "unix_socket"):
            errors.append(f"{where}:auth: {auth!r}: use password (the default) or unix_socket (the system user of "
                          "the same name, through the server's socket)")
            auth = "password"
        grants = {}
        for target, privileges in _mapping(spec.get("grants"), f"{where}:grants", errors).items():
            if target != "*" and target not in databases:
                errors.append(f"{where}:grants:{target}: database {target!r} is not declared under "
                              f"{path.rsplit(':', 1)[0]}:databases; declare it there (an existing one is "
                              "adopted) or fix the name ('*' means every database)")
                continue
            grants[target] = normalize_privileges(privileges, f"{where}:grants:{target}", errors)
        hosts = _hosts(spec.get("hosts", ["localhost"]), f"{where}:hosts", errors)
        if auth == "unix_socket":
            # The server asks the kernel who is on the other end of its socket: only localhost has one.
            if spec.get("password") not in (None, ""):
                errors.append(f"{where}:password: a unix_socket account has none; remove it (or use auth: password)")
            if hosts and hosts != ["localhost"]:
                errors.append(f"{where}:hosts: a unix_socket account exists for localhost only; use [localhost]")
            password = None
        else:
            password = _password(spec.get("password"), f"{where}:password", errors)
        users[name] = {"auth": auth, "password": password, "hosts": hosts, "grants": grants}
    return users


def _devstack(raw: Any, path: str, model: dict, errors: list[str], default_nodes: list[str] | None = None) -> dict | None:
    """DevStack's DATABASE_USER: a user with the rights DevStack needs, from its nodes only (the
    pillar's ``nodes``, else ``default_nodes``, else loopback; none at all: no account yet)."""
    raw = _mapping(raw, path, errors)
    for key in raw:
        if key not in ("user", "password", "host", "nodes"):
            errors.append(f"{path}:{key}: unknown key; use user, password, host and nodes")
    user = raw.get("user", "devstack")
    if not isinstance(user, str) or not USER_NAME.match(user) or user in ("root", "mysql", "mariadb.sys"):
        errors.append(f"{path}:user: {user!r}: give a user name other than root")
        return None
    if user in model["users"]:
        errors.append(f"{path}:user: {user} is also declared under {path.rsplit(':', 1)[0]}:users; declare it once")
        return None
    bind = model["server"]["bind_address"] or "127.0.0.1"
    host = raw.get("host", local_address(bind))
    if not isinstance(host, str) or not HOST_NAME.match(host) or "%" in host:
        errors.append(f"{path}:host: {host!r}: the address DevStack nodes connect to (DATABASE_HOST)")
    if "nodes" in raw:
        nodes = _hosts(raw["nodes"], f"{path}:nodes", errors)
    else:
        nodes = list(LOOPBACK_NODES if default_nodes is None else dict.fromkeys(default_nodes))
        for node in nodes:  # the mine's addresses: literal addresses only, never a pattern
            if node not in LOOPBACK_NODES and not _is_address(node):
                errors.append(f"{path}:nodes: unset, so the DevStack nodes' mine addresses count, and {node!r} is "
                              "not an IP address; set database:devstack:nodes to their addresses")
    model["users"][user] = {
        "password": _password(raw.get("password"), f"{path}:password", errors),
        "hosts": nodes,
        "grants": {"*": DEVSTACK_GRANTS},
    }
    return {"user": user, "host": host, "nodes": nodes}
