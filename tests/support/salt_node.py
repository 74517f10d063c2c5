"""A throwaway Salt node: salt-call with this project's minion configuration (bin/configure's)
rooted in a directory of its own, so its cache, logs and keys never clash with bin/salt-call
runs or with another node, and with a pillar of its own; or, given a master, a salt-minion of it
(salt_cloud.SaltCloud). Plus the two readings of a state.apply return every tier makes."""

from __future__ import annotations

import json
import os
import subprocess

import yaml

from common import read_pid
from project import PROJECT, configure

VENV_BIN = os.path.join(PROJECT, ".venv", "bin")
SALT_CALL = os.path.join(VENV_BIN, "salt-call")
#: The masterless parts of the project's minion configuration, dropped for a minion of a master.
MASTERLESS = ("file_client", "master_type", "engines", "reactor", "return", "file_roots", "pillar_roots")


class SaltNode:
    """The project's minion configuration at ``root/minion``, with pillar from ``root/pillar``
    (or ``pillar_roots``) and the project's state tree (or ``file_roots``); ``options`` are set
    over it (e.g. a log level). With ``master`` (options such as ``master``, ``master_port``) it
    is a minion of that master instead: no local file or pillar roots, no masterless reactor."""

    def __init__(self, root, minion_id: str, *, file_roots: list[str] | None = None,
                 pillar_roots: list[str] | None = None, options: dict | None = None, master: dict | None = None):
        self.root = str(root)
        self.id = minion_id
        self.pillar_dir = os.path.join(self.root, "pillar")
        os.makedirs(self.pillar_dir, exist_ok=True)
        config = configure.minion_config(self.root, minion_id, file_roots=file_roots or [os.path.join(PROJECT, "salt")],
                                         pillar_roots=pillar_roots or [self.pillar_dir])
        if master is not None:
            for key in MASTERLESS:
                config.pop(key, None)
            config.update(master)
        config.update(options or {})
        with open(os.path.join(self.root, "minion"), "w") as handle:
            json.dump(config, handle)

    @property
    def log_file(self) -> str:
        return os.path.join(self.root, "log", "minion")

    def write_pillar(self, name: str, data) -> str:
        """``pillar/<name>.sls`` (YAML of ``data``, or ``data`` itself when it is text), mode 0600:
        test pillars hold passwords."""
        path = os.path.join(self.pillar_dir, f"{name}.sls")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(data if isinstance(data, str) else yaml.safe_dump(data))
        return path

    def set_top(self, *names: str) -> None:
        """The pillar top file: every minion gets ``names``, in this order."""
        self.write_pillar("top", {"base": {"*": list(names)}})

    def link_pillar(self, name: str, target: str) -> None:
        """``pillar/<name>.sls`` as a link to a pillar file of the project (e.g. pillar/database.sls)."""
        os.symlink(target, os.path.join(self.pillar_dir, f"{name}.sls"))

    def command(self, *args: str) -> list[str]:
        """The salt-call command line of this node, JSON out, for ``args``."""
        return [SALT_CALL, "-c", self.root, "--out=json", *args]

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        """salt-call quietly; with ``check`` a non-zero exit fails."""
        proc = subprocess.run(self.command("--log-level=quiet", *args), capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"salt-call {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
        return proc

    def call(self, *args: str, timeout: float = 600):
        """salt-call's answer (the 'local' part of its JSON), whatever its exit code."""
        proc = self.run(*args, check=False, timeout=timeout)
        try:
            return json.loads(proc.stdout)["local"]
        except (ValueError, KeyError):
            raise AssertionError(f"salt-call {' '.join(args)} exited {proc.returncode} without an answer: "
                                 f"{proc.stdout[-1000:]} {proc.stderr[-2000:]}") from None

    def sync(self) -> None:
        """saltutil.sync_all: the project's modules, states, beacon and returner into this node."""
        self.call("saltutil.sync_all")

    def state_apply(self, *args: str) -> dict:
        """state.apply with ``args``; its return by state key (a dict, or it fails)."""
        result = self.call("state.apply", *args)
        assert isinstance(result, dict), result
        return result

    def start(self) -> None:
        """The salt-minion daemon of this node (a minion of its master)."""
        subprocess.run([os.path.join(VENV_BIN, "salt-minion"), "-c", self.root, "-d", "--log-level=quiet"], check=True)

    def pid(self) -> int | None:
        return read_pid(os.path.join(self.root, "run", "salt-minion.pid"))


def failed(result: dict) -> dict:
    """The states of a state.apply return that did not succeed: {state key: comment}."""
    return {key: value["comment"] for key, value in result.items() if value["result"] is not True}


def changes(result: dict, module: str) -> dict:
    """The changes of one state module's states (e.g. database_server), by state ID."""
    return {key.split("_|-")[1]: value["changes"] for key, value in result.items()
            if key.startswith(module + "_|-") and value["changes"]}
