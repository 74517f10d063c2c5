"""
The RabbitMQ node on this host: its CLI tools run as the rabbitmq user (secrets only on stdin),
the definitions read (one ``export_definitions``) and written (one ``import_definitions`` plus a
call per removal), the enabled plugins, and Debian's pid file kept naming the running node.

The CLI tools address the node named in rabbitmq-env.conf (the role writes ``rabbit@localhost``)
unless a ``node`` is given.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import time
from typing import Any

from . import files
from .errors import BrokerDown, CommandFailed, DevstackSaltError
from .rabbitmq_config import NODE_NAME
from .rabbitmq_plan import current_from_export, parse_enabled_plugins, plan

#: Where Debian puts the real CLI scripts (/usr/sbin/rabbitmqctl is a wrapper that rebuilds the
#: arguments into a shell string for ``su``); we run them as the rabbitmq user ourselves.
CLI_DIRS = ("/usr/lib/rabbitmq/bin", "/usr/sbin", "/usr/bin")
RABBITMQ_HOME = "/var/lib/rabbitmq"
ENABLED_PLUGINS_FILE = "/etc/rabbitmq/enabled_plugins"
#: Debian's init script stops the node with ``rabbitmqctl stop <this file>``, which waits for
#: the file forever when it is missing (two starts that raced: the failed one removes the file
#: the other wrote). The role keeps it naming the running node (``message_broker.pid_file``).
PID_FILE = "/var/run/rabbitmq/pid"


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
        raise CommandFailed(f"{tool} {args[0]} did not finish within {timeout} s") from None
    if proc.returncode == 69 or "unable to perform an operation on node" in proc.stderr:
        raise BrokerDown(
            f"the broker ({node or NODE_NAME}) is not running or not reachable: {tool} {args[0]} could not reach it "
            f"(exit {proc.returncode}). Nothing was changed. Start it (bin/salt-call state.apply broker, "
            "or service rabbitmq-server start) and apply again.")
    return proc


def _failed(proc: subprocess.CompletedProcess, what: str) -> CommandFailed:
    # rabbitmqctl's own error text (no secret ever reaches it: passwords travel as hashes).
    detail = " ".join((proc.stderr or proc.stdout).split())[:600]
    return CommandFailed(f"{what} failed (exit {proc.returncode}): {detail}")


def read_export(node: str | None = None) -> dict:
    """The whole broker in one call: ``rabbitmqctl export_definitions`` as JSON."""
    proc = run_cli("rabbitmqctl", ["export_definitions", "-", "--format", "json", "--silent"], node=node)
    if proc.returncode != 0:
        raise _failed(proc, "rabbitmqctl export_definitions")
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise CommandFailed("rabbitmqctl export_definitions did not print JSON") from None


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


def _pid_namespace(process: str) -> str | None:
    try:
        return os.readlink(os.path.join(process, "ns", "pid"))
    except OSError:
        return None


def server_pids(proc: str = "/proc") -> list[int]:
    """The OS pids of running RabbitMQ server nodes of this host: ``beam.smp`` started with
    ``-s rabbit`` (the CLI tools run beam.smp too, without it), in this host's pid namespace (a
    container's node, visible in /proc, is not this host's)."""
    found = []
    own_namespace = _pid_namespace(os.path.join(proc, "self"))
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(os.path.join(proc, entry, "cmdline"), "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if own_namespace is not None and _pid_namespace(os.path.join(proc, entry)) not in (own_namespace, None):
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
        raise DevstackSaltError(f"{len(pids)} RabbitMQ server nodes are running (pids {pids}); "
                                    "stop all but one (kill the extra pids), then apply again")
    try:
        with open(path, encoding="utf-8") as handle:
            old = int(handle.read().strip())
    except (OSError, ValueError):
        old = None
    return {} if old == pids[0] else {"old": old, "new": pids[0]}




def write_pid_file(path: str, pid: int) -> None:
    """Write ``pid`` to the pid file (owner rabbitmq, 0644, atomically; its folder made 0755)."""
    owner = pwd.getpwnam("rabbitmq")
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    os.chown(os.path.dirname(path), owner.pw_uid, owner.pw_gid)
    files.atomic_write(path, f"{pid}\n".encode(), owner.pw_uid, owner.pw_gid, 0o644)
