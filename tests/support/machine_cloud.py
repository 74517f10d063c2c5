"""The decoupled cloud of the Vagrantfile's multi-node layout on booted machines: a master, db1
(database and the monitoring server), mq1 (broker) and devstack1 (a DevStack node), each a fresh
Debian 12 with systemd, on one private network, each with its own copy of the project.

Two ways to the same four machines, one operator's interface over them (``Cloud``: salt and
salt-run on the master, the nodes by name):

- ``VagrantCloud`` (tests/machines/test_cloud.py): ``vagrant up master db1 mq1 devstack1`` of the
  project's Vagrantfile under LXC in a clean clone (vagrant_lxc.Environment), as a user runs it:
  the Vagrantfile makes the cluster's keys on this host, hands each machine its own folder and
  runs ``bin/cluster`` in each; the master's own pillar (the clone's ``.salt/pillar/site.sls``,
  its /vagrant) stacks DevStack from the local OpenStack git mirrors.
- ``MachineCloud`` (bench/cloud.py): the same commands through the machine harness,
  ``bin/cluster keys`` here, each node's key folder copied in, ``bin/cluster master`` and
  ``bin/cluster minion`` run on the machines.

Then the cloud comes up as the README says, ``state.orchestrate orch.deploy`` on the master.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shlex
import subprocess
import time

import harness
import vagrant_lxc
from common import wait_until
from machine_node import CHECKOUT, SITE, Node, install_project
from project import PROJECT

#: The minions of the layout, in the Vagrantfile's order, and the roles pillar/examples/multi-node gives them.
MINIONS = ("db1", "mq1", "devstack1")
PILLAR_ROOT = "pillar/examples/multi-node"
#: Where a node's key folder is put (the Vagrantfile's file provisioner puts it in /tmp).
KEYS_IN_MACHINE = "/root/devstack-salt-keys"


class Cloud:
    """The operator's side of the four machines: ``nodes`` by name (each a Node with its
    checkout), salt and salt-run on the master. Times of each step are kept in ``times`` (s)."""

    nodes: dict[str, Node]
    times: dict[str, float]
    master_address: str

    # ---- the master, as an operator uses it
    def master(self, command: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        node = self.nodes["master"]
        return node.run(f"cd {node.checkout} && {command}", timeout=timeout, check=check)

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

    def wait_for_minions(self, minions) -> None:
        wait_until(lambda: set(self.ping()) >= set(minions), 180, 2,
                   lambda: f"the master to see {sorted(minions)} (it sees {sorted(self.ping())})")

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

    def each(self, action, names=None) -> list:
        """``action(node)`` on every node (or ``names``) at once; the results in order."""
        nodes = [self.nodes[name] for name in (names or list(self.nodes))]
        with concurrent.futures.ThreadPoolExecutor(max(1, len(nodes))) as pool:
            return list(pool.map(action, nodes))


class VagrantCloud(Cloud):
    """The Vagrantfile's multi-node layout brought up by Vagrant under LXC in a clean clone of the
    committed project (``env``); ``close()`` destroys every machine (vagrant_lxc.Environment)."""

    #: Where each machine has the project (the Vagrantfile: the master shares the clone as
    #: /vagrant; every node has its own rsync copy).
    CHECKOUTS = {"master": vagrant_lxc.VAGRANT_CHECKOUT, **{name: vagrant_lxc.NODE_CHECKOUT for name in MINIONS}}

    def __init__(self, env: vagrant_lxc.Environment):
        self.env = env
        self.nodes = {}
        self.times = {}
        self.provisioned: dict[str, bool] = {}
        self.master_address = ""

    def up(self, *names: str) -> dict:
        """``vagrant up NAMES`` (on a new machine its provisioners run: bin/cluster), then each
        machine's SSH settings asked again; raises with the output's tail when it fails. Its
        result has ``provisioned``: whether each machine's shell provisioner ran."""
        result = self.env.up(*names)
        if result["rc"] != 0:
            raise AssertionError(f"vagrant up {' '.join(names)} exited {result['rc']}:\n{result['tail']}")
        result["provisioned"] = {name: f"==> {name}: Running provisioner: shell" in result["output"] for name in names}
        for name in names:
            self.nodes[name] = Node(self.env.machine(name), checkout=self.CHECKOUTS[name])
        return result

    def boot(self) -> None:
        """``vagrant up master db1 mq1 devstack1``, as the README says; until the master sees every minion."""
        result = self.up("master", *MINIONS)
        self.provisioned = result["provisioned"]
        self.times["vagrant up"] = result["seconds"]
        self.master_address = self.nodes["master"].machine.address
        self.wait_for_minions(MINIONS)

    def recreate(self, name: str) -> Node:
        """``vagrant destroy -f NAME`` and ``vagrant up NAME``: a fresh machine with the same id,
        provisioned by the Vagrantfile with the same keys (cattle); until the master sees it."""
        self.nodes.pop(name)
        self.env.vagrant("destroy", "-f", name, timeout=300)
        self.up(name)
        self.wait_for_minions((name,))
        return self.nodes[name]

    def reboot(self) -> None:
        """``vagrant halt`` of every machine, then ``vagrant up`` of them all (their provisioners
        ran already, so none runs again)."""
        names = list(self.nodes)
        self.env.vagrant("halt", *names, timeout=600)
        ran = {name for name, did in self.up(*names)["provisioned"].items() if did}
        assert not ran, f"vagrant up of halted machines provisioned {sorted(ran)} again"

    def close(self) -> list[str]:
        self.nodes.clear()
        return self.env.close()


class MachineCloud(Cloud):
    """Four machines of the machine harness on one network; ``provision()`` runs bin/cluster on
    each, ``orchestrate()`` the deployment."""

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
        self.wait_for_minions([name for name in names if name != "master"] or list(MINIONS))
        self.times.setdefault("bin/cluster", round(time.time() - started, 1))  # the first: every node at once
        return results

    def recreate(self, name: str) -> Node:
        """``name`` destroyed (its disk and all) and a fresh machine with the same id made and
        provisioned with the same command and the same keys (cattle)."""
        self.fleet.discard(self.nodes.pop(name).machine)
        self.nodes[name] = self.new_node(name)
        self.provision((name,))
        return self.nodes[name]

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
