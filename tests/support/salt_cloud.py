"""A real salt-master with real salt-minions on this machine, for tests and benchmarks.

Every daemon gets its own root_dir, the master listens on 127.0.0.1 on two free ports, and
everything is stopped by its PID. Minions are told apart by the ``devstack_salt_address``
grain (127.0.0.N), which is what they publish to the mine as their address.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time

from project import PROJECT, configure

VENV_BIN = os.path.join(PROJECT, ".venv", "bin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_pid(path: str) -> int | None:
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


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
        self.minions: dict[str, str] = {}
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
        self._wait(lambda: self._listening(self.ret_port) and self._listening(self.publish_port), 60, "salt-master")

    def add_minion(self, minion_id: str, address: str) -> None:
        root = os.path.join(self.base, minion_id)
        os.makedirs(root, exist_ok=True)
        config = configure.minion_config(root, minion_id)
        for masterless in ("file_client", "master_type", "engines", "reactor", "return", "file_roots", "pillar_roots"):
            config.pop(masterless, None)
        config.update({
            "master": "127.0.0.1", "master_port": self.ret_port, "publish_port": self.publish_port,
            "acceptance_wait_time": 1, "random_reauth_delay": 0, "auth_timeout": 10,
            "grains": {"devstack_salt_address": address},
        })
        with open(os.path.join(root, "minion"), "w") as handle:
            json.dump(config, handle)
        self.minions[minion_id] = root

    def start_minions(self, timeout: float = 120) -> None:
        for root in self.minions.values():
            subprocess.run([f"{VENV_BIN}/salt-minion", "-c", root, "-d", "--log-level=quiet"], check=True)
        self._wait(lambda: set(self.ping()) >= set(self.minions), timeout, "the minions to answer")

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
        for minion_id, root in self.minions.items():
            found[minion_id] = read_pid(os.path.join(root, "run", "salt-minion.pid"))
        return {name: pid for name, pid in found.items() if pid}

    def stop(self) -> None:
        """SIGTERM every daemon by its PID, then SIGKILL what is left (children included)."""
        pids = self.pids()
        for pid in pids.values():
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in pids.values()):
            time.sleep(0.2)
        for pid in pids.values():
            subprocess.run(["pkill", "-KILL", "-P", str(pid)], capture_output=True)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)

    @staticmethod
    def _listening(port: int) -> bool:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            return sock.connect_ex(("127.0.0.1", port)) == 0

    @staticmethod
    def _wait(check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.5)
