"""A real salt-master with real salt-minions on this machine, for tests and benchmarks.

Every daemon gets its own root_dir, the master listens on 127.0.0.1 on two free ports, and
everything is stopped by its PID. The minions are salt_node.SaltNode minions of the master, told
apart by the ``devstack_salt_address`` grain (127.0.0.N), which is what they publish to the mine
as their address.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess

from common import free_port, port_answers, read_pid, wait_until
from project import PROJECT
from salt_node import VENV_BIN, SaltNode


class SaltCloud:
    """A master and minions under ``base``, with pillar from ``base/pillar``."""

    def __init__(self, base: str, pillar_roots: list[str] | None = None, master_options: dict | None = None):
        """``master_options`` are added to the master's configuration (e.g. a ``reactor``)."""
        self.base = base
        self.master_dir = os.path.join(base, "master")
        self.pillar_dir = os.path.join(base, "pillar")
        os.makedirs(self.master_dir, exist_ok=True)
        os.makedirs(self.pillar_dir, exist_ok=True)
        self.publish_port, self.ret_port = free_port(), free_port()
        self.minions: dict[str, SaltNode] = {}
        config = {
            "id": "devstack-salt-test-master",
            "root_dir": self.master_dir,
            "interface": "127.0.0.1",
            "publish_port": self.publish_port,
            "ret_port": self.ret_port,
            "cachedir": os.path.join(self.master_dir, "cache"),
            "pki_dir": os.path.join(self.master_dir, "pki"),
            "sock_dir": os.path.join(self.master_dir, "run"),
            "pidfile": os.path.join(self.master_dir, "run", "salt-master.pid"),
            "log_file": os.path.join(self.master_dir, "log", "master"),
            "file_roots": {"base": [os.path.join(PROJECT, "salt")]},
            "pillar_roots": {"base": pillar_roots or [self.pillar_dir]},
            # Loopback only, and the test owns every minion: accepting keys unseen is safe here.
            "auto_accept": True,
            "worker_threads": 4,
            "enable_fqdns_grains": False,
            "user": "root",
            **(master_options or {}),
        }
        with open(os.path.join(self.master_dir, "master"), "w") as handle:
            json.dump(config, handle)
        self.master_config = os.path.join(self.master_dir, "master")

    def start_master(self) -> None:
        subprocess.run([f"{VENV_BIN}/salt-master", "-c", self.master_dir, "-d", "--log-level=quiet"], check=True)
        wait_until(lambda: port_answers("127.0.0.1", self.ret_port) and port_answers("127.0.0.1", self.publish_port), 60, 0.5,
                   "salt-master")

    def add_minion(self, minion_id: str, address: str) -> SaltNode:
        self.minions[minion_id] = SaltNode(os.path.join(self.base, minion_id), minion_id, master={
            "master": "127.0.0.1", "master_port": self.ret_port, "publish_port": self.publish_port,
            "acceptance_wait_time": 1, "random_reauth_delay": 0, "auth_timeout": 10,
            "grains": {"devstack_salt_address": address},
        })
        return self.minions[minion_id]

    def start_minions(self, timeout: float = 120) -> None:
        for minion in self.minions.values():
            minion.start()
        wait_until(lambda: set(self.ping()) >= set(self.minions), timeout, 0.5, "the minions to answer")

    def salt(self, *args: str, timeout: int = 600) -> dict:
        out = subprocess.run([f"{VENV_BIN}/salt", "-c", self.master_dir, "--out=json", "--static",
                              "--log-level=quiet", *args], capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=timeout + 30).stdout
        return json.loads(out) if out.strip() else {}

    def ping(self) -> dict:
        try:
            return {k: v for k, v in self.salt("*", "test.ping", "--timeout=5", timeout=10).items() if v is True}
        except (ValueError, subprocess.TimeoutExpired):
            return {}

    def run(self, *args: str, timeout: int = 900) -> tuple[int, dict]:
        proc = subprocess.run([f"{VENV_BIN}/salt-run", "-c", self.master_dir, "--out=json", "--log-level=quiet", *args],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout)
        try:
            return proc.returncode, json.loads(proc.stdout)
        except ValueError:
            raise AssertionError(f"salt-run {args}: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")

    def pids(self) -> dict[str, int]:
        """The daemons' main PIDs (master and each minion)."""
        found = {"master": read_pid(os.path.join(self.master_dir, "run", "salt-master.pid"))}
        for minion_id, minion in self.minions.items():
            found[minion_id] = minion.pid()
        return {name: pid for name, pid in found.items() if pid}

    def stop(self) -> None:
        """SIGTERM every daemon by its PID, then SIGKILL what is left (children included)."""
        pids = self.pids()
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        with contextlib.suppress(AssertionError):  # what is still there gets SIGKILL below
            wait_until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in pids.values()), 20, 0.2,
                       "the daemons to exit")
        for pid in pids.values():
            subprocess.run(["pkill", "-KILL", "-P", str(pid)], capture_output=True)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)
