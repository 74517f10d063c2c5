"""Helpers for the database role's host tests: Salt runs with a pillar override on top of the
default pillar, from a Salt configuration of their own (their own cache and logs, so they never
clash with bin/salt-call runs), and root's connection to the real server."""

from __future__ import annotations

import os
import signal

import pymysql

from common import wait_until
from project import PROJECT
from salt_node import SaltNode, changes as module_changes

SOCKET = "/run/mysqld/mysqld.sock"
PIDFILE = "/run/mysqld/mysqld.pid"
CONFIG_FILE = "/etc/mysql/mariadb.conf.d/99-salt.cnf"


class DatabaseNode(SaltNode):
    """A Salt node on the host's roles (node.sls: all-in-one, so DevStack's account is the
    loopback one, as on the host), the default database pillar and the generated secrets, plus an
    override pillar of the test's own (``set_override``), listed last so it wins."""

    def __init__(self, root) -> None:
        super().__init__(root, "database-host-test")
        for name in ("node", "database"):
            self.link_pillar(name, os.path.join(PROJECT, "pillar", f"{name}.sls"))
        self.link_pillar("secrets", os.path.join(PROJECT, ".salt", "pillar", "secrets.sls"))
        self.set_top("node", "database", "secrets", "override")
        self.set_override({})
        self.sync()

    def set_override(self, data: dict) -> None:
        self.write_pillar("override", data)

    def apply(self, sls: str = "database", *args: str) -> dict:
        return self.state_apply(sls, *args)


def changes(result: dict, module: str = "database_server") -> dict:
    """The changes of this project's database states, by state ID."""
    return module_changes(result, module)

def root_connection():
    return pymysql.connect(unix_socket=SOCKET, user="root", autocommit=True, connect_timeout=5)


def sql(statement: str, params=None) -> list[tuple]:
    conn = root_connection()
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())
    finally:
        conn.close()


def server_pid() -> int | None:
    try:
        with open(PIDFILE) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def stop_server() -> None:
    """Stop the server by its PID (from its pid file) and wait until it is gone."""
    pid = server_pid()
    assert pid, "the server is not running"
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 60, 0.1, f"mariadbd {pid} to stop")
