"""Helpers for the database role's host tests: Salt runs with a pillar override on top of the
default pillar, from a Salt configuration of their own (their own cache and logs, so they never
clash with bin/salt-call runs), and root's connection to the real server."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import string
import subprocess
import time

import pymysql
import yaml

from project import PROJECT, configure

SALT_CALL = os.path.join(PROJECT, ".venv", "bin", "salt-call")
SOCKET = "/run/mysqld/mysqld.sock"
PIDFILE = "/run/mysqld/mysqld.pid"
CONFIG_FILE = "/etc/mysql/mariadb.conf.d/99-salt.cnf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def password() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(20))


class Salt:
    """salt-call with the project's states and default pillar plus an override pillar."""

    def __init__(self, root) -> None:
        self.root = root
        pillar = root / "pillar"
        pillar.mkdir(parents=True, exist_ok=True)
        (pillar / "database.sls").symlink_to(os.path.join(PROJECT, "pillar", "database.sls"))
        (pillar / "secrets.sls").symlink_to(os.path.join(PROJECT, ".salt", "pillar", "secrets.sls"))
        (pillar / "top.sls").write_text("base:\n  '*':\n    - database\n    - secrets\n    - override\n")
        self.set_override({})
        config = configure.minion_config(str(root), "database-host-test", pillar_roots=[str(pillar)])
        (root / "minion").write_text(json.dumps(config))
        self.call("saltutil.sync_all")

    def set_override(self, data: dict) -> None:
        path = self.root / "pillar" / "override.sls"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(yaml.safe_dump(data))

    def command(self, *args: str) -> list[str]:
        return [SALT_CALL, "-c", str(self.root), "--out=json", *args]

    def call(self, *args: str) -> dict | str:
        proc = subprocess.run(self.command("--log-level=quiet", *args), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
        try:
            return json.loads(proc.stdout)["local"]
        except (ValueError, KeyError):
            raise AssertionError(f"salt-call {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")

    def apply(self, sls: str = "database", *args: str) -> dict:
        result = self.call("state.apply", sls, *args)
        assert isinstance(result, dict), result
        return result


def failed(result: dict) -> dict:
    return {key: value["comment"] for key, value in result.items() if value["result"] is not True}


def changes(result: dict, module: str = "database_server") -> dict:
    """The changes of this project's database states, by state ID."""
    return {key.split("_|-")[1]: value["changes"] for key, value in result.items()
            if key.startswith(module + "_|-") and value["changes"]}


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
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    raise AssertionError(f"mariadbd {pid} did not stop within 60 s")
