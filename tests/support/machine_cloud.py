"""The decoupled cloud of the Vagrantfile's multi-node layout on booted machines: a master, db1
(database and the monitoring server), mq1 (broker) and devstack1 (a DevStack node), each a fresh
Debian 12 with systemd, on one private network, each with its own clean clone of the project.

They are provisioned with the Vagrantfile's own commands: ``bin/cluster keys`` where the
operator keeps the cluster's secrets (here the test host), each node's key folder copied in (the
Vagrantfile's file provisioner), ``bin/cluster master`` on the master and ``bin/cluster minion``
on each node; then the cloud comes up as the README says, ``state.orchestrate orch.deploy`` on
the master. The master's own pillar (``.salt/pillar/site.sls``) stacks DevStack from the local
OpenStack git mirrors. Used by tests/machines/test_cloud.py and bench/cloud.py.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shlex
import subprocess
import time

import harness
from common import wait_until
from machine_node import CHECKOUT, SITE, Node, install_project
from project import PROJECT

#: The minions of the layout, in the Vagrantfile's order, and the roles pillar/examples/multi-node gives them.
MINIONS = ("db1", "mq1", "devstack1")
PILLAR_ROOT = "pillar/examples/multi-node"
#: Where a node's key folder is put (the Vagrantfile's file provisioner puts it in /tmp).
KEYS_IN_MACHINE = "/root/devstack-salt-keys"


class MachineCloud:
    """Four machines on one network; ``provision()`` runs bin/cluster on each, ``deploy()`` the
    orchestration. Times of each step are kept in ``times`` (seconds)."""

    def __init__(self, fleet: harness.Fleet, keys_dir: str):
        self.fleet = fleet
        self.keys_dir = keys_dir
        self.network = fleet.network()
        self.nodes: dict[str, Node] = {}
        self.times: dict[str, float] = {}
        self.master_address = ""

    # ---- machines
    def boot(self) -> None:
        """The master and every minion: a fresh disk with a clean clone, booted."""
        started = time.time()
        self.run_host(["bin/cluster", "keys", self.keys_dir, *MINIONS])
        for name in ("master", *MINIONS):
            self.nodes[name] = self.new_node(name)
        self.master_address = self.nodes["master"].machine.address
        self.times["machines"] = round(time.time() - started, 1)

    def new_node(self, name: str) -> Node:
        """A fresh machine for ``name`` with its key folder; a machine that fails on the way is
        torn down at once (never left running outside ``nodes``)."""
        machine = self.fleet.machine(name, network=self.network)
        try:
            install_project(machine)
            machine.boot()
            # The Vagrantfile's file provisioner: the node's own key folder, nothing of the others'.
            source = os.path.join(self.keys_dir, "master" if name == "master" else name)
            for folder, _, names in os.walk(source):
                for file_name in sorted(names):
                    with open(os.path.join(folder, file_name)) as handle:
                        relative = os.path.relpath(os.path.join(folder, file_name), source)
                        machine.put(f"{KEYS_IN_MACHINE}/{relative}", handle.read(), "0600")
        except BaseException:
            self.fleet.discard(machine)
            raise
        return Node(machine)

    @staticmethod
    def run_host(command: list[str]) -> str:
        return subprocess.run(command, cwd=PROJECT, check=True, capture_output=True, text=True).stdout

    # ---- bin/cluster, as the Vagrantfile runs it
    def cluster_command(self, name: str) -> str:
        node = self.nodes[name]
        if name == "master":
            args = ["bin/cluster", "master", PILLAR_ROOT, KEYS_IN_MACHINE, self.master_address]
        else:
            args = ["bin/cluster", "minion", self.master_address, name, KEYS_IN_MACHINE, node.machine.address]
        return f"cd {CHECKOUT} && {shlex.join(args)} > /root/bin-cluster.log 2>&1"

    def provision(self, names: tuple[str, ...] | None = None, site: str = SITE) -> dict[str, dict]:
        """bin/cluster on each node at once (the master's own pillar, ``site``, written first);
        then wait until the master sees every minion. Returns {node: {rc, seconds, tail}}."""
        names = names or ("master", *MINIONS)
        if "master" in names:
            self.nodes["master"].put_site_pillar(site)
        started = time.time()

        def one(name: str) -> dict:
            begun = time.time()
            proc = self.nodes[name].run(self.cluster_command(name), timeout=2700, check=False)
            tail = self.nodes[name].run("tail -n 40 /root/bin-cluster.log", check=False).stdout
            return {"rc": proc.returncode, "seconds": round(time.time() - begun, 1), "tail": tail}

        with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
            results = dict(zip(names, pool.map(one, names)))
        failed = {name: result for name, result in results.items() if result["rc"] != 0}
        if failed:
            raise AssertionError(f"bin/cluster failed: {json.dumps(failed, indent=1)[-6000:]}")
        minions = [name for name in names if name != "master"] or list(MINIONS)
        wait_until(lambda: set(self.ping()) >= set(minions), 180, 2,
                   lambda: f"the master to see {minions} (it sees {sorted(self.ping())})")
        self.times.setdefault("bin/cluster", round(time.time() - started, 1))  # the first: every node at once
        return results

    # ---- the master, as an operator uses it
    def master(self, command: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return self.nodes["master"].run(f"cd {CHECKOUT} && {command}", timeout=timeout, check=check)

    def salt(self, *args: str, timeout: int = 600):
        """``salt`` on the master, JSON out: {minion: answer}."""
        proc = self.master(shlex.join([".venv/bin/salt", "-c", ".salt", "--out=json", "--static", "--log-level=quiet",
                                       f"--timeout={timeout}", *args]), timeout=timeout + 60, check=False)
        try:
            return json.loads(proc.stdout) if proc.stdout.strip() else {}
        except ValueError:
            raise AssertionError(f"salt {args} exited {proc.returncode}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def ping(self) -> dict:
        try:
            return {k: v for k, v in self.salt("*", "test.ping", timeout=10).items() if v is True}
        except (AssertionError, subprocess.TimeoutExpired):
            return {}

    def orchestrate(self, timeout: int = 3600) -> tuple[int, dict]:
        """``salt-run state.orchestrate orch.deploy`` on the master: (exit code, steps by key)."""
        started = time.time()
        proc = self.master(".venv/bin/salt-run -c .salt --out=json --log-level=quiet state.orchestrate orch.deploy",
                           timeout=timeout, check=False)
        self.times.setdefault("orch.deploy", round(time.time() - started, 1))
        try:
            (steps,) = json.loads(proc.stdout)["data"].values()
        except (ValueError, KeyError):
            raise AssertionError(f"orch.deploy exited {proc.returncode}: {proc.stdout[-3000:]}{proc.stderr[-3000:]}")
        return proc.returncode, steps

    def recreate(self, name: str) -> Node:
        """``name`` destroyed (its disk and all) and a fresh machine with the same id made and
        provisioned with the same command and the same keys (cattle)."""
        self.fleet.discard(self.nodes.pop(name).machine)
        self.nodes[name] = self.new_node(name)
        self.provision((name,))
        return self.nodes[name]


    def each(self, action, names=None) -> list:
        """``action(node)`` on every node (or ``names``) at once; the results in order."""
        nodes = [self.nodes[name] for name in (names or list(self.nodes))]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(nodes))) as pool:
            return list(pool.map(action, nodes))

    def reboot(self) -> None:
        """Every machine powered off, all at once, then booted again (the master first)."""
        self.each(lambda node: node.machine.poweroff())
        for node in self.nodes.values():
            node.machine.boot()

    def close(self) -> None:
        """Every machine of the cloud powered off (at once) and removed, then its network."""
        def off(node: Node) -> None:
            try:
                node.machine.poweroff(timeout=60)
            except Exception as exc:  # noqa: BLE001 - discard below stops it by its PID
                harness.log(f"{node.machine.name}: power-off failed ({exc})")

        self.each(off)
        for node in list(self.nodes.values()):
            self.fleet.discard(node.machine)
        self.nodes.clear()
        if self.network in self.fleet.networks:
            self.fleet.networks.remove(self.network)
            for line in self.network.destroy():
                harness.log(f"{self.network.record['name']}: {line}")


def step_seconds(steps: dict) -> dict[str, float]:
    """Each orchestration step's duration (its own report, ms), by step id."""
    return {value["__id__"]: round(value.get("duration", 0) / 1000, 1) for value in steps.values()}
