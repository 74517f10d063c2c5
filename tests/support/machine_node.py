"""A machine of the machine tier with this project on it: a clean clone of the committed tree,
``bin/setup`` as the README says, ``bin/salt-call`` with JSON answers."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time

import harness
from project import PROJECT

MIRRORS_TAR = os.environ.get("DEVSTACK_MIRRORS_TAR",
                             os.path.join(os.path.dirname(PROJECT), "shared", "mirrors", "openstack-git.tar"))
#: What a stacked node does, found out inside it (its token, a Swift object, DevStack's database and broker).
PROBE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "probe_stacked.py")
#: Where the project is cloned in a machine (as on the multi-node Vagrant boxes).
CHECKOUT = "/srv/devstack-salt"
#: A checkout in root's home (0700), where other users cannot enter: the whole-suite machine's.
ROOT_CHECKOUT = "/root/devstack-salt"
#: Where the OpenStack git mirrors are shown (read-only) in a machine: DevStack's GIT_BASE.
MIRRORS = "/srv/mirrors"

#: The operator's own pillar on the machine: stack, from the local mirrors (these machines cannot
#: reach OpenStack's git hosts), with the settings of DevStack's own small-node CI jobs. It is the
#: documented example, the same file (it shows the mirrors at MIRRORS).
with open(os.path.join(PROJECT, "pillar", "examples", "local-mirrors.sls")) as _handle:
    SITE = _handle.read()
#: SITE with two post-config options tuned: Keystone's token lifetime (7200 in the default
#: pillar, merged by stack.sh) and a Swift proxy option no stack merged (the methods a temporary
#: URL allows, shown by the proxy's /info). Made in place, without stack.sh.
SITE_TUNED = SITE + """\
  config:
    post-config:
      $KEYSTONE_CONF:
        token:
          expiration: 5400
      $SWIFT_CONFIG_PROXY_SERVER:
        filter:tempurl:
          methods: GET HEAD
"""


def committed_tree() -> str:
    """The commit to test: HEAD, or with DEVSTACK_MACHINE_TREE=worktree a commit of the work tree
    as it is (untracked files too, through a temporary index: neither the index nor any branch
    changes), for a developer's unfinished work."""
    def git(*args: str, env=None) -> str:
        return subprocess.run(["git", "-C", PROJECT, *args], capture_output=True, text=True, check=True,
                              env=env).stdout.strip()

    head = git("rev-parse", "HEAD")
    if os.environ.get("DEVSTACK_MACHINE_TREE") != "worktree":
        return head
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, GIT_INDEX_FILE=os.path.join(tmp, "index"))
        git("read-tree", head, env=env)
        git("add", "-A", env=env)
        tree = git("write-tree", env=env)
    return git("commit-tree", tree, "-p", head, "-m", "work tree under test")


def install_project(machine: harness.Machine, site_pillar: str | None = None, checkout: str = CHECKOUT) -> str:
    """A clean clone of the committed project at ``checkout`` on the machine's disk (before
    boot), with ``.salt/pillar/site.sls`` (the operator's own pillar) when given."""
    commit = committed_tree()
    target = machine.root + checkout
    subprocess.run(["git", "init", "-q", target], check=True)
    subprocess.run(["git", "-C", target, "fetch", "-q", "--no-tags", PROJECT, commit], check=True)
    subprocess.run(["git", "-C", target, "checkout", "-q", "--detach", "FETCH_HEAD"], check=True)
    if site_pillar is not None:
        os.makedirs(f"{target}/.salt/pillar", exist_ok=True)
        path = f"{target}/.salt/pillar/site.sls"
        with open(path, "w") as handle:
            handle.write(site_pillar)
        os.chmod(path, 0o600)
    return commit


class Node:
    """A machine with the project checked out (at ``checkout``): bin/setup, bin/salt-call, files."""

    def __init__(self, machine: harness.Machine, checkout: str = CHECKOUT):
        self.machine = machine
        self.checkout = checkout

    def run(self, command: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        return self.machine.ssh(command, check=check, timeout=timeout)

    def setup(self, log: str = "/root/bin-setup.log", timeout: float = 2700) -> dict:
        """``bin/setup`` exactly as the README says, its output kept in ``log`` on the machine:
        its exit code, time, last lines and every line that reports an error (``[ERROR``)."""
        started = time.time()
        proc = self.run(f"cd {self.checkout} && bin/setup > {log} 2>&1", timeout=timeout, check=False)
        tail = self.run(f"tail -n 60 {log}", check=False).stdout
        errors = self.run(f"grep -F '[ERROR' {log}", check=False).stdout.splitlines()
        return {"rc": proc.returncode, "seconds": round(time.time() - started, 1), "tail": tail, "errors": errors}

    def salt(self, *args: str, timeout: float = 2700) -> tuple[int, dict]:
        """bin/salt-call with JSON output: (exit code, the 'local' part)."""
        command = " ".join(shlex.quote(a) for a in [f"{self.checkout}/bin/salt-call", "--out=json", "--log-level=quiet",
                                                    "--retcode-passthrough", *args])
        proc = self.run(command, timeout=timeout, check=False)
        try:
            return proc.returncode, json.loads(proc.stdout)["local"]
        except (ValueError, KeyError):
            raise AssertionError(f"salt-call {args} exited {proc.returncode}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")

    def pillar(self, key: str):
        """One pillar value as the node has it (unmasked: Salt 3008 masks pillar.get)."""
        return self.salt("pillar.get", key, "unmask=True")[1]

    def apply(self, *args: str) -> dict:
        """A highstate; returns {"rc", "states", "changed": {id: changes}, "failed": {id: comment}}."""
        started = time.time()
        rc, states = self.salt("state.apply", *args)
        if not isinstance(states, dict):
            raise AssertionError(f"state.apply {args} did not return states: {states}")
        return {"rc": rc, "seconds": round(time.time() - started, 1), "states": states,
                "changed": {k: v["changes"] for k, v in states.items() if v.get("changes")},
                "failed": {k: v["comment"] for k, v in states.items() if v.get("result") is False}}

    def probe(self, *args: str, timeout: float = 180) -> dict:
        """What the stacked node does (probe_stacked.py, run inside with the project's Python), or
        one timed operator action of it (``args``: see probe_stacked.py)."""
        with open(PROBE) as handle:
            self.machine.put("/root/probe_stacked.py", handle.read())
        out = self.run(shlex.join([f"{self.checkout}/.venv/bin/python", "/root/probe_stacked.py", *args]),
                       timeout=timeout, check=False)
        assert out.returncode == 0, f"the probe failed on {self.machine.name}: {out.stdout[-2000:]}{out.stderr[-3000:]}"
        return json.loads(out.stdout)

    def put_site_pillar(self, text: str) -> None:
        self.machine.put(f"{self.checkout}/.salt/pillar/site.sls", text, mode="0600")

    def stamp(self) -> dict:
        """What devstack.stacked recorded of the last stack.sh run."""
        text = self.run("cat /var/lib/devstack-salt/stack-*.json 2>/dev/null || true").stdout
        return json.loads(text) if text.strip() else {}
