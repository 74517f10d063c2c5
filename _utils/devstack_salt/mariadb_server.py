"""
The MariaDB server on this host, reached as root through its unix socket with PyMySQL: read
what the plan compares, and apply a part's plan. No statement, argument or password is logged,
returned or put on a command line (never the ``mysql`` client).

Why not saltext.mysql: its ``_execute`` logs every query *with its arguments* at debug level
(``Doing query: ... args: {'password': ...}``), and ``mysql_user.present`` sends the clear
password to the server to compare it. Both put passwords into logs.
"""

from __future__ import annotations

import re
from typing import Any

try:
    import pymysql
    # Bound now, from sys.modules["pymysql.err"], the module whose classes PyMySQL raises: Salt's
    # core mysql module (loaded by sys.doc, sys.list_functions, the mysql_* states' __virtual__)
    # calls pymysql.install_as_MySQLdb() and imports MySQLdb.cursors, which executes
    # pymysql/err.py again as MySQLdb.err and rebinds the attribute pymysql.err to it: an
    # ``except pymysql.err.MySQLError`` then no longer catches what PyMySQL raises.
    from pymysql.err import MySQLError
except ImportError:  # pragma: no cover - the Salt module's __virtual__ says so
    pymysql = None

from .errors import CommandFailed, DatabaseDown
from .mariadb_plan import PLANNERS, TEST_GRANTS_PATTERNS, TEST_GRANTS_WHERE, parse_grants

#: Whether the driver (requirements.lock) can be imported.
HAS_PYMYSQL = pymysql is not None
SOCKET = "/run/mysqld/mysqld.sock"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


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
        except MySQLError as exc:
            last = exc
    raise DatabaseDown(
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
                except MySQLError as exc:
                    raise CommandFailed(
                        f"the server refused a change of {part} ({', '.join(sorted(changes))}): "
                        f"{server_error(exc)}") from None
        return changes
    finally:
        conn.close()
