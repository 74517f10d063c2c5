"""
The database server (MariaDB from the distribution) as a model: validate pillar, write the server
options, secure the server, and converge databases, users and grants.

The pillar under ``database:`` (see README.md, "Database role") is validated into a *model*::

    {"server": {"bind_address": str, "port": int, "options": {name: str}},   # every [mysqld] option
     "root": {"auth": "unix_socket" | "password", "password": str | None},
     "databases": {name: {"character_set": str | None, "collation": str | None}},
     "users": {name: {"password": str, "hosts": [str], "grants": {db or "*": frozenset}}},
     "devstack": {"user": str, "host": str, "nodes": [str]} | None}

Data flows one way: pillar -> validate (every error names its pillar path, nothing is changed
when there is one) -> model -> read the server -> plan (a list of changes, secrets masked, and
the SQL to run) -> apply -> read again. ``test=True`` shows the plan, a real run applies it.

Secrets: passwords are hashed here (mysql_native_password: ``*`` + SHA1(SHA1(password))) and
only the hash is ever sent to the server, as a query parameter. No statement, argument or
password is logged, returned or put on a command line; the server is reached through its unix
socket with PyMySQL, never through the ``mysql`` client.

Why not saltext.mysql: its ``_execute`` logs every query *with its arguments* at debug level
(``Doing query: ... args: {'password': ...}``), and ``mysql_user.present`` sends the clear
password to the server to compare it. Both put passwords into logs.

Everything below the Salt functions is plain Python, so the unit tests import this file directly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
import subprocess
import sys
from typing import Any

from devstack_salt import files as devstack_salt_files

try:
    import pymysql

    HAS_PYMYSQL = True
except ImportError:  # pragma: no cover - __virtual__ says so
    HAS_PYMYSQL = False

from salt.exceptions import CommandExecutionError


log = logging.getLogger(__name__)

__virtualname__ = "database_server"


def __virtual__():
    """Available when PyMySQL (the driver, in requirements.lock) can be imported."""
    if HAS_PYMYSQL:
        return __virtualname__
    return (False, "database_server needs PyMySQL: install requirements.lock into Salt's Python")


# --------------------------------------------------------------------------------------------
# Fixed facts of Debian's and Ubuntu's MariaDB packages
# --------------------------------------------------------------------------------------------

SOCKET = "/run/mysqld/mysqld.sock"
#: Our drop-in: read after Debian's 50-server.cnf, so its options win.
CONFIG_FILE = "/etc/mysql/mariadb.conf.d/99-salt.cnf"
SERVER_BINARY = "/usr/sbin/mariadbd"
MASK = "<hidden>"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
#: Grants on the test database and on test_* (old installs granted these to everyone), whether
#: written as the wildcard test\_% or as a name; LIKE patterns, passed as parameters.
TEST_GRANTS_WHERE = "Db = 'test' OR Db LIKE %s OR Db LIKE %s"
TEST_GRANTS_PATTERNS = ("test\\_%", "test\\\\\\_%")

HEADER = (
    "# MariaDB server options, written by Salt from the database pillar (database:server).\n"
    "# Edits here are overwritten on the next apply: change the pillar instead.\n"
)

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
    "REPLICATION SLAVE", "BINLOG MONITOR", "CREATE USER", "CREATE TABLESPACE",
})
#: What DevStack's database user needs: create databases, grant on them, drop them; from any
#: DevStack node. This is what DevStack itself grants the user when it installs MySQL.
DEVSTACK_GRANTS = frozenset({"ALL PRIVILEGES", "GRANT OPTION"})

DATABASE_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,80}\Z")
HOST_NAME = re.compile(r"[A-Za-z0-9_.:%/-]{1,255}\Z")
OPTION_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
CHARSET_NAME = re.compile(r"[A-Za-z0-9_]{1,64}\Z")


# --------------------------------------------------------------------------------------------
# Pillar -> model (validation; every error names its pillar path)
# --------------------------------------------------------------------------------------------


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
        name = "ALL PRIVILEGES" if name == "ALL" else name
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


class DatabasePillarError(CommandExecutionError):
    """An invalid database pillar; ``errors`` lists every problem, each naming its pillar path."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("invalid database pillar:\n  " + "\n  ".join(self.errors))


def build(pillar: Any, root: str = "database", known_options: frozenset | None = None) -> dict:
    """Validate the pillar under ``root`` into the model; raise CommandExecutionError listing every
    problem by its pillar path. ``known_options``: the server's own option names, when known."""
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
        model["devstack"] = _devstack(pillar["devstack"], f"{root}:devstack", model, errors)
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
            if key not in ("password", "hosts", "grants"):
                errors.append(f"{where}:{key}: unknown key; use password, hosts and grants")
        grants = {}
        for target, privileges in _mapping(spec.get("grants"), f"{where}:grants", errors).items():
            if target != "*" and target not in databases:
                errors.append(f"{where}:grants:{target}: database {target!r} is not declared under "
                              f"{path.rsplit(':', 1)[0]}:databases; declare it there (an existing one is "
                              "adopted) or fix the name ('*' means every database)")
                continue
            grants[target] = normalize_privileges(privileges, f"{where}:grants:{target}", errors)
        users[name] = {
            "password": _password(spec.get("password"), f"{where}:password", errors),
            "hosts": _hosts(spec.get("hosts", ["localhost"]), f"{where}:hosts", errors),
            "grants": grants,
        }
    return users


def _devstack(raw: Any, path: str, model: dict, errors: list[str]) -> dict | None:
    """DevStack's DATABASE_USER: a user with the rights DevStack needs, from its nodes only."""
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
    host = raw.get("host", "127.0.0.1" if bind in ("0.0.0.0", "::", "*") else bind)
    if not isinstance(host, str) or not HOST_NAME.match(host) or "%" in host:
        errors.append(f"{path}:host: {host!r}: the address DevStack nodes connect to (DATABASE_HOST)")
    nodes = _hosts(raw.get("nodes", ["127.0.0.1", "localhost"]), f"{path}:nodes", errors)
    model["users"][user] = {
        "password": _password(raw.get("password"), f"{path}:password", errors),
        "hosts": nodes,
        "grants": {"*": DEVSTACK_GRANTS},
    }
    return {"user": user, "host": host, "nodes": nodes}


def devstack_localrc(model: dict, reveal: bool = False) -> dict:
    """What a DevStack node using this database puts in its local.conf: the DATABASE_* variables
    and the local mysql service disabled (the database role owns the server)."""
    ds = model["devstack"]
    if ds is None:
        raise CommandExecutionError("database:devstack is not set: there is no DevStack database user")
    password = model["users"][ds["user"]]["password"]
    return {
        "localrc": {"DATABASE_TYPE": "mysql", "DATABASE_HOST": ds["host"], "DATABASE_USER": ds["user"],
                    "DATABASE_PASSWORD": password if reveal else MASK},
        "services": {"mysql": False},
    }


# --------------------------------------------------------------------------------------------
# Server options: the drop-in option file
# --------------------------------------------------------------------------------------------


def known_options(binary: str = SERVER_BINARY) -> frozenset | None:
    """Every option name the installed server accepts (from ``mariadbd --verbose --help``), or
    None when the server is not installed yet."""
    if not os.path.exists(binary):
        return None
    proc = subprocess.run([binary, "--no-defaults", "--verbose", "--help"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)
    names = set(re.findall(r"^\s+--([a-z0-9][a-z0-9_-]*)", proc.stdout, re.M))
    table = proc.stdout.split("\n-------", 1)[-1]
    names.update(re.findall(r"^([a-z0-9][a-z0-9_-]*)\s", table.split("\n", 1)[-1], re.M))
    names = {option_name(n) for n in names}
    return frozenset(names) if len(names) > 100 else None


def render_options(options: dict[str, str]) -> str:
    """The option file for ``options``: the owned keys first, then the rest by name."""
    first = [name for name in SERVER_KEYS.values() if name in options]
    lines = [HEADER, "[mysqld]\n"]
    for name in first + sorted(set(options) - set(first)):
        lines.append(f"{name} = {options[name]}\n")
    return "".join(lines)


def parse_options(text: str) -> dict[str, str]:
    """The [mysqld] options of an option file (the parts MariaDB reads: name = value, flags)."""
    options: dict[str, str] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section in ("mysqld", "server", "mariadb"):
            name, _, value = line.partition("=")
            options[option_name(name)] = value.split("#", 1)[0].strip().strip("'\"") if _ else "ON"
    return options


def plan_options(path: str, options: dict[str, str]) -> tuple[dict, bytes | None]:
    """Changes (``mysqld:NAME`` old/new, ``mode``/``owner``) needed to bring ``path`` to the
    options, and the bytes to write (None when the content is right)."""
    wanted = render_options(options).encode()
    try:
        with open(path, "rb") as handle:
            current = handle.read()
        info = os.stat(path)
    except FileNotFoundError:
        current, info = None, None
    changes: dict[str, dict] = {}
    if current != wanted:
        old = parse_options(current.decode(errors="replace")) if current is not None else {}
        for name in sorted(set(old) | set(options)):
            if old.get(name) != options.get(name):
                changes[f"mysqld:{name}"] = {"old": old.get(name), "new": options.get(name)}
        if not changes:
            changes["text"] = {"old": "same options, other text", "new": "rewritten"}
    if info is not None:
        if stat.S_IMODE(info.st_mode) != 0o644:
            changes["mode"] = {"old": f"{stat.S_IMODE(info.st_mode):04o}", "new": "0644"}
        if (info.st_uid, info.st_gid) != (0, 0):
            changes["owner"] = {"old": f"{info.st_uid}:{info.st_gid}", "new": "0:0"}
    return changes, (wanted if current != wanted else None)


# --------------------------------------------------------------------------------------------
# Reading the server, planning, applying (SQL through PyMySQL)
# --------------------------------------------------------------------------------------------


def password_hash(password: str) -> str:
    """MariaDB's mysql_native_password hash: the only form of a password sent to the server."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def account(user: str, host: str) -> str:
    """A readable account name for changes and errors: user@host."""
    return f"{user}@{host}"


def db_target(name: str) -> str:
    """A grant target: *.* or `db`.* with _ escaped (unescaped, _ would match any character)."""
    return "*.*" if name == "*" else "`" + name.replace("_", "\\_") + "`.*"


GRANT_LINE = re.compile(r"GRANT (?P<privs>.+?) ON (?P<target>\*\.\*|`(?:[^`]|``)+`\.\*) TO "
                        r"(?P<account>\S+?)(?: IDENTIFIED .*?)?(?P<option> WITH GRANT OPTION)?\s*\Z")


def parse_grants(lines: list[str]) -> dict[str, frozenset]:
    """Database-level and global grants of SHOW GRANTS output, by target as written (``*.*``,
    ```db\\_name`.*``: a grant on ```db_name`.*`` is a pattern, another target). Table, column,
    role and proxy grants are not managed and left out."""
    grants: dict[str, frozenset] = {}
    for line in lines:
        match = GRANT_LINE.match(line)
        if not match:
            continue
        privileges = {p.strip() for p in match["privs"].split(",")} - {"USAGE"}
        if match["option"]:
            privileges.add("GRANT OPTION")
        if privileges:
            grants[match["target"]] = frozenset(privileges)
    return grants


def root_auth_of(create_user: str) -> str:
    """``unix_socket``, ``password`` or ``other`` from SHOW CREATE USER root@localhost. Debian's
    default (a native password of 'invalid', which nothing matches, OR unix_socket) is unix_socket."""
    text = create_user.split(" IDENTIFIED ", 1)[1] if " IDENTIFIED " in create_user else ""
    if text.startswith("BY PASSWORD "):
        return "password"
    methods = [m.strip() for m in text.removeprefix("VIA ").split(" OR ")] if text.startswith("VIA ") else []
    if methods and all(m == "unix_socket" or m == "mysql_native_password USING 'invalid'" for m in methods) \
            and "unix_socket" in methods:
        return "unix_socket"
    if methods == [] and not text:
        return "none"
    return "other"


def root_hash_of(create_user: str) -> str | None:
    match = re.search(r"BY PASSWORD '(\*[0-9A-F]{40})'|mysql_native_password USING '(\*[0-9A-F]{40})'", create_user)
    return (match[1] or match[2]) if match else None


def server_error(exc: Exception) -> str:
    """A server error without any part of the statement (a syntax error quotes it, and a
    statement may hold a password hash)."""
    code = exc.args[0] if exc.args else "?"
    message = str(exc.args[1]) if len(exc.args) > 1 else ""
    message = re.split(r" near '|'\*[0-9A-F]{40}'", message, maxsplit=1)[0]
    return f"error {code}: {message}"


def connect(model: dict, socket_path: str = SOCKET):
    """An administrative connection as root through the unix socket. Root's password (when the
    pillar says auth: password) is tried first, then socket authentication (the state before the
    password is set). Errors name the socket and never the password."""
    attempts = []
    if model["root"]["password"]:
        attempts.append(model["root"]["password"])
    attempts.append(None)
    last = None
    for password in attempts:
        try:
            kwargs = {"password": password} if password else {}
            return pymysql.connect(unix_socket=socket_path, user="root", connect_timeout=5, autocommit=True,
                                   charset="utf8mb4", **kwargs)
        except pymysql.err.MySQLError as exc:
            last = exc
    raise CommandExecutionError(
        f"cannot reach the database server as root through {socket_path} (database:server; database:root:auth): "
        f"{server_error(last)}. Is the server running (service mariadb status)? Taking root from a password to "
        "unix_socket needs the current one in database:root:password for that run.")


def read_server(cur, model: dict) -> dict:
    """What the plan needs from the server, read-only."""
    state: dict[str, Any] = {}
    cur.execute("SHOW CREATE USER 'root'@'localhost'")
    state["root"] = cur.fetchone()[0]
    cur.execute("SELECT User, Host FROM mysql.user WHERE User = '' OR (User = 'root' AND Host NOT IN %s)",
                (LOCAL_HOSTS,))
    rows = cur.fetchall()
    state["anonymous"] = sorted(host for user, host in rows if user == "")
    state["remote_root"] = sorted(host for user, host in rows if user == "root")
    cur.execute("SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA")
    state["databases"] = {name: (charset, collation) for name, charset, collation in cur.fetchall()}
    cur.execute("SELECT DISTINCT Db FROM mysql.db WHERE " + TEST_GRANTS_WHERE, TEST_GRANTS_PATTERNS)
    state["test_grants"] = sorted(row[0] for row in cur.fetchall())
    state["users"] = {}
    if model["users"]:
        cur.execute("SELECT User, Host, plugin, authentication_string FROM mysql.user WHERE User IN %s",
                    (tuple(model["users"]),))
        for user, host, plugin, auth in cur.fetchall():
            cur2 = cur.connection.cursor()
            cur2.execute("SHOW GRANTS FOR %s@%s", (user, host))
            grants = parse_grants([row[0] for row in cur2.fetchall()])
            state["users"][(user, host)] = {"plugin": plugin, "hash": auth, "grants": grants}
    return state


def plan_secure(model: dict, state: dict) -> tuple[dict, list]:
    """mysql_secure_installation, declaratively: root's authentication, no anonymous users, no
    test database (nor its wildcard grants), no root from other hosts."""
    changes: dict[str, dict] = {}
    sql: list[tuple[str, tuple]] = []
    root = model["root"]
    current = root_auth_of(state["root"])
    if root["auth"] == "unix_socket" and current != "unix_socket":
        changes["root@localhost:auth"] = {"old": current, "new": "unix_socket"}
        sql.append(("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket", ()))
    elif root["auth"] == "password":
        wanted = password_hash(root["password"])
        if current != "password" or root_hash_of(state["root"]) != wanted:
            changes["root@localhost:auth"] = {"old": current if current != "password" else f"password {MASK}",
                                              "new": f"password {MASK}"}
            sql.append(("ALTER USER 'root'@'localhost' IDENTIFIED BY PASSWORD %s", (wanted,)))
    for host in state["anonymous"]:
        changes[f"anonymous@{host}"] = {"old": "present", "new": "absent"}
        sql.append(("DROP USER ''@%s", (host,)))
    for host in state["remote_root"]:
        changes[f"root@{host}"] = {"old": "present", "new": "absent"}
        sql.append(("DROP USER 'root'@%s", (host,)))
    if "test" in state["databases"]:
        changes["database:test"] = {"old": "present", "new": "absent"}
        sql.append(("DROP DATABASE `test`", ()))
    if state["test_grants"]:
        changes["grants:test"] = {"old": state["test_grants"], "new": []}
        sql.append(("DELETE FROM mysql.db WHERE " + TEST_GRANTS_WHERE, TEST_GRANTS_PATTERNS))
        sql.append(("FLUSH PRIVILEGES", ()))
    return changes, sql


def plan_databases(model: dict, state: dict) -> tuple[dict, list]:
    """Create the declared databases; give them the declared character set and collation."""
    changes: dict[str, dict] = {}
    sql: list[tuple[str, tuple]] = []
    for name, spec in sorted(model["databases"].items()):
        clause = "".join(f" {word} {spec[key]}" for key, word in (("character_set", "CHARACTER SET"),
                                                                  ("collation", "COLLATE")) if spec[key])
        wanted = {k: v for k, v in spec.items() if v}
        if name not in state["databases"]:
            changes[f"database:{name}"] = {"old": None, "new": wanted or "present"}
            sql.append((f"CREATE DATABASE `{name}`{clause}", ()))
            continue
        charset, collation = state["databases"][name]
        have = {"character_set": charset, "collation": collation}
        differ = {k: v for k, v in wanted.items() if have[k] != v}
        if differ:
            changes[f"database:{name}"] = {"old": {k: have[k] for k in differ}, "new": differ}
            sql.append((f"ALTER DATABASE `{name}`{clause}", ()))
    return changes, sql


def grant_statements(old: frozenset, new: frozenset, target: str) -> list[str]:
    """GRANT and REVOKE statements (with %s@%s for the account) taking ``target`` (as SHOW GRANTS
    writes it: ``*.*`` or ```db`.*``) from the privileges ``old`` to ``new``. ALL PRIVILEGES is
    revoked whole; GRANT OPTION on its own."""
    statements = []
    old_p, new_p = old - {"GRANT OPTION"}, new - {"GRANT OPTION"}
    revoke = {"ALL PRIVILEGES"} if "ALL PRIVILEGES" in old_p and new_p != old_p else old_p - new_p
    grant = new_p if "ALL PRIVILEGES" in revoke else new_p - old_p
    if revoke:
        statements.append(f"REVOKE {', '.join(sorted(revoke))} ON {target} FROM %s@%s")
    if "GRANT OPTION" in old and "GRANT OPTION" not in new:
        statements.append(f"REVOKE GRANT OPTION ON {target} FROM %s@%s")
    option = "GRANT OPTION" in new and "GRANT OPTION" not in old
    if grant or option:
        names = ", ".join(sorted(grant)) if grant else "USAGE"
        statements.append(f"GRANT {names} ON {target} TO %s@%s" + (" WITH GRANT OPTION" if option else ""))
    return statements


def plan_users(model: dict, state: dict) -> tuple[dict, list]:
    """Users with their password (compared as hashes), only on their declared hosts, with exactly
    their declared database and global grants."""
    changes: dict[str, dict] = {}
    sql: list[tuple[str, tuple]] = []
    existing = state["users"]
    for user, spec in sorted(model["users"].items()):
        wanted_hash = password_hash(spec["password"])
        for host in sorted(h for (u, h) in existing if u == user and h not in spec["hosts"]):
            changes[f"user:{account(user, host)}"] = {"old": "present", "new": "absent (host not declared)"}
            sql.append(("DROP USER %s@%s", (user, host)))
        for host in spec["hosts"]:
            name = account(user, host)
            have = existing.get((user, host))
            if have is None:
                changes[f"user:{name}"] = {"old": None, "new": f"present, password {MASK}"}
                sql.append(("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", (user, host, wanted_hash)))
                have = {"grants": {}}
            elif have["plugin"] != "mysql_native_password" or have["hash"] != wanted_hash:
                changes[f"password:{name}"] = {"old": MASK, "new": f"{MASK} (changed)"}
                sql.append(("ALTER USER %s@%s IDENTIFIED BY PASSWORD %s", (user, host, wanted_hash)))
            wanted = {db_target(target): privileges for target, privileges in spec["grants"].items()}
            for target in sorted(set(have["grants"]) | set(wanted)):
                old = have["grants"].get(target, frozenset())
                new = wanted.get(target, frozenset())
                if old == new:
                    continue
                changes[f"grants:{name}:{target}"] = {"old": sorted(old), "new": sorted(new)}
                sql.extend((statement, (user, host)) for statement in grant_statements(old, new, target))
    return changes, sql


PLANNERS = {"secure": plan_secure, "databases": plan_databases, "users": plan_users}


def plan_part(part: str, model: dict, socket_path: str = SOCKET) -> tuple[dict, list]:
    """The changes and statements for one part (secure, databases or users), read-only."""
    conn = connect(model, socket_path)
    try:
        with conn.cursor() as cur:
            return PLANNERS[part](model, read_server(cur, model))
    finally:
        conn.close()


def apply_part(part: str, model: dict, socket_path: str = SOCKET) -> dict:
    """Apply one part's plan and return its changes. Statements are never logged (their
    parameters may hold password hashes); a failure names the change, not the statement."""
    conn = connect(model, socket_path)
    try:
        with conn.cursor() as cur:
            changes, sql = PLANNERS[part](model, read_server(cur, model))
            for statement, params in sql:
                try:
                    cur.execute(statement, params or None)
                except pymysql.err.MySQLError as exc:
                    raise CommandExecutionError(
                        f"the server refused a change of {part} ({', '.join(sorted(changes))}): "
                        f"{server_error(exc)}") from None
        return changes
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# Salt execution functions
# --------------------------------------------------------------------------------------------


def _pillar(pillar_key: str) -> Any:
    # Salt 3008 masks pillar.get outside template rendering; ask for the real values.
    return __salt__["pillar.get"](pillar_key, None, unmask=True)  # noqa: F821 - Salt dunder


def _model(pillar_key: str, check_options: bool = True) -> dict:
    known = known_options() if check_options else None
    return build(_pillar(pillar_key) or {}, pillar_key, known)


def validate(pillar_key="database"):
    """
    Validate the database pillar: every problem by its pillar path. Server options are checked
    against the installed server (``mariadbd --verbose --help``) once it is installed.

    CLI Example:

    .. code-block:: bash

        salt-call database_server.validate
    """
    model = _model(pillar_key)
    return {"valid": True, "options_checked": known_options() is not None,
            "databases": sorted(model["databases"]), "users": sorted(model["users"])}


def options(pillar_key="database"):
    """
    The [mysqld] options the pillar gives (every option the role writes to its drop-in file).

    CLI Example:

    .. code-block:: bash

        salt-call database_server.options
    """
    return _model(pillar_key, check_options=False)["server"]["options"]


def plan(part, pillar_key="database", socket_path=SOCKET, path=CONFIG_FILE):
    """
    The changes one part would make, without making them (secrets shown as <hidden>): ``config``
    (the option file), ``secure``, ``databases`` or ``users``.

    CLI Example:

    .. code-block:: bash

        salt-call database_server.plan users
    """
    model = _model(pillar_key)
    if part == "config":
        return plan_options(path, model["server"]["options"])[0]
    if part not in PLANNERS:
        raise CommandExecutionError(f"unknown part {part!r}: use config, secure, databases or users")
    return plan_part(part, model, socket_path)[0]


def apply(part, pillar_key="database", socket_path=SOCKET, path=CONFIG_FILE):
    """
    Make one part match the pillar and return its changes (secrets shown as <hidden>).

    CLI Example:

    .. code-block:: bash

        salt-call database_server.apply secure
    """
    model = _model(pillar_key)
    if part == "config":
        changes, data = plan_options(path, model["server"]["options"])
        if data is not None:
            devstack_salt_files.atomic_write(path, data, 0, 0, 0o644)
        os.chown(path, 0, 0)
        os.chmod(path, 0o644)
        return changes
    if part not in PLANNERS:
        raise CommandExecutionError(f"unknown part {part!r}: use config, secure, databases or users")
    return apply_part(part, model, socket_path)


def devstack_settings(pillar_key="database", reveal=False):
    """
    What a DevStack node using this database gets in local.conf: DATABASE_TYPE, DATABASE_HOST,
    DATABASE_USER, DATABASE_PASSWORD (``<hidden>`` unless ``reveal=True``), and the local mysql
    service disabled. The password is read from ``database:devstack:password``, its one place.

    CLI Example:

    .. code-block:: bash

        salt-call database_server.devstack_settings
    """
    return devstack_localrc(_model(pillar_key, check_options=False), reveal=bool(reveal))
