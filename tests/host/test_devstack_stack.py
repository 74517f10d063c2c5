"""The DevStack node role with stacking on, applied for real with salt-call as root.

DevStack itself is replaced by a TEST FIXTURE: a local git repository whose stack.sh, unstack.sh
and clean.sh only record how they were invoked (user, working directory, environment, the
local.conf they saw, the commit) and can be told to fail or to prompt. No network is used.
The node gets its own user, DEST and Salt configuration, so the host's main node is untouched.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import time
import uuid

import pytest
import yaml

from common import wait_until
from salt_node import SaltNode, failed

USER = "dsfixture"
PASSWORD = "FixturePw123"
FIXTURE_SCRIPT = r"""#!/bin/bash
# TEST FIXTURE standing in for DevStack's {name} (tests/host/test_devstack_stack.py).
# It records how it was invoked; it installs nothing.
rec=@RECORD@
n=$(ls "$rec/calls" | wc -l)
d="$rec/calls/$(printf %03d $((n + 1)))-{name}"
mkdir -p "$d"
id -un > "$d/user"; pwd > "$d/cwd"; env | sort > "$d/env"; git rev-parse HEAD > "$d/commit"
cp local.conf "$d/local.conf" 2>/dev/null
echo "fixture {name} running"
if [ "{name}" = stack.sh ] && [ -e "$rec/prompt" ]; then
    echo "Enter a password now:"
    sleep 600
fi
if [ "{name}" = stack.sh ] && [ -e "$rec/slow" ]; then
    echo "fixture stack.sh is taking its time"
    sleep 5
fi
if [ "{name}" = stack.sh ] && [ -e "$rec/fail" ]; then
    echo "ERROR: fixture failure; local.conf says $(grep ^ADMIN_PASSWORD= local.conf)"
    exit 1
fi
echo "fixture {name} done"
"""


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)


class Node(SaltNode):
    """A throw-away DevStack node: fixture repository, user and a Salt node of its own."""

    def __init__(self, base: str):
        super().__init__(f"{base}/salt", "devstack-fixture-node")
        self.base = base
        self.record = f"{base}/record"
        self.dest = f"{base}/stack"
        self.devstack = f"{self.dest}/devstack"
        self.repo = f"{base}/devstack.git"
        os.makedirs(self.record + "/calls")
        os.chmod(self.record, 0o777)
        os.chmod(self.record + "/calls", 0o777)
        # root's, as a shared mirror is: the role makes the node's user trust it (safe.directory).
        self.commits = self._make_repo()
        self.sync()

    def _make_repo(self) -> dict[str, str]:
        work = f"{self.base}/work"
        os.makedirs(work)
        git = ["git", "-C", work, "-c", "user.name=fixture", "-c", "user.email=fixture@localhost"]
        run(*git, "init", "-q", "-b", "master")
        for name in ("stack.sh", "unstack.sh", "clean.sh"):
            path = f"{work}/{name}"
            with open(path, "w") as handle:
                handle.write(FIXTURE_SCRIPT.replace("{name}", name).replace("@RECORD@", self.record))
            os.chmod(path, 0o755)
        run(*git, "add", ".")
        run(*git, "commit", "-q", "-m", "fixture devstack")
        commits = {"master": run(*git, "rev-parse", "HEAD").stdout.strip()}
        run(*git, "checkout", "-q", "-b", "next")
        with open(f"{work}/NEXT", "w") as handle:
            handle.write("next\n")
        run(*git, "add", ".")
        run(*git, "commit", "-q", "-m", "next")
        commits["next"] = run(*git, "rev-parse", "HEAD").stdout.strip()
        run("git", "clone", "-q", "--bare", work, self.repo)
        return commits

    def pillar(self, **extra_localrc) -> dict:
        localrc = {"ADMIN_PASSWORD": PASSWORD, "SERVICE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
                   "DATABASE_PASSWORD": {"ref": "ADMIN_PASSWORD"}, "SWIFT_HASH": "FixtureHash1", **extra_localrc}
        return {"devstack": {
            "user": USER, "dest": self.dest, "repo": f"file://{self.repo}", "ref": "master",
            "stack": True, "stack_timeout": 120, "disable_all_services": True,
            "services": {"keystone": True, "mysql": True, "swift": True}, "localrc": localrc,
        }}

    def set_pillar(self, pillar: dict, text: str | None = None) -> None:
        self.set_top("node")
        self.write_pillar("node", text if text is not None else pillar)

    def apply(self, pillar: dict | None = None, test: bool = False) -> dict:
        if pillar is not None:
            self.set_pillar(pillar)
        return self.call("state.apply", "devstack", *(["test=True"] if test else []))

    def calls(self) -> list[str]:
        return sorted(os.listdir(self.record + "/calls"))

    def stacks(self) -> list[str]:
        return [c for c in self.calls() if c.endswith("-stack.sh")]

    def converge(self, pillar: dict | None = None) -> None:
        """Apply until nothing changes (at most 3 times), so each test starts from a stacked node."""
        for name in ("fail", "prompt", "slow"):
            if os.path.exists(f"{self.record}/{name}"):
                os.unlink(f"{self.record}/{name}")
        for _ in range(3):
            result = self.apply(pillar or self.pillar())
            if not any(state["changes"] for state in result.values()):
                assert not failed(result)
                return
        raise AssertionError(f"the node did not converge: {result}")


def stack_state(result: dict) -> dict:
    (state,) = [v for k, v in result.items() if k.startswith("devstack_|-devstack-stacked")]
    return state


@pytest.fixture(scope="module")
def node():
    base = f"/var/tmp/devstack-salt-test-{uuid.uuid4().hex[:8]}"
    os.makedirs(base, mode=0o755)
    fixture = Node(base)
    try:
        yield fixture
    finally:
        subprocess.run(["pkill", "-KILL", "-u", USER], capture_output=True)
        stamp_glob = subprocess.run(["grep", "-l", fixture.dest, "-r", "/var/lib/devstack-salt"],
                                    capture_output=True, text=True).stdout.split()
        for path in stamp_glob:
            os.unlink(path)
        subprocess.run(["userdel", USER], capture_output=True)
        subprocess.run(["groupdel", USER], capture_output=True)
        for path in (f"/etc/sudoers.d/devstack-{USER}",):
            if os.path.exists(path):
                os.unlink(path)
        shutil.rmtree(base, ignore_errors=True)


def test_first_apply_stacks_once_and_a_second_apply_changes_nothing(node):
    before = len(node.stacks())
    result = node.apply(node.pillar())
    assert not failed(result)
    if before == 0:
        assert len(node.stacks()) == 1
        assert "never stacked by this role" in stack_state(result)["changes"]["stack.sh"]["ran_because"]
    node.converge()
    count = len(node.stacks())
    again = node.apply(node.pillar())
    assert {k: v["changes"] for k, v in again.items() if v["changes"]} == {}
    assert len(node.stacks()) == count
    assert stack_state(again)["comment"] == "DevStack is stacked and up to date with local.conf and the checkout"


def test_stack_sh_ran_as_the_stack_user_in_the_checkout_with_a_clean_environment(node):
    node.converge()
    last = f"{node.record}/calls/{node.stacks()[-1]}"
    read = lambda name: open(f"{last}/{name}").read()  # noqa: E731
    assert read("user").strip() == USER
    assert read("cwd").strip() == node.devstack
    assert read("commit").strip() == node.commits["master"]
    env = dict(line.split("=", 1) for line in read("env").splitlines() if "=" in line)
    assert env["HOME"] == node.dest and env["USER"] == USER
    assert PASSWORD not in read("env")
    assert read("local.conf") == open(f"{node.devstack}/local.conf").read()


def test_reordered_pillar_and_comments_do_not_restack(node):
    node.converge()
    count = len(node.stacks())
    pillar = node.pillar()
    ds = pillar["devstack"]
    reordered = {"devstack": {k: (dict(reversed(list(v.items()))) if isinstance(v, dict) else v)
                              for k, v in reversed(list(ds.items()))}}
    node.set_pillar(None, "# reordered, with comments\n" + yaml.safe_dump(reordered, sort_keys=False).replace(
        "localrc:", "localrc:  # the variables"))
    result = node.call("state.apply", "devstack")
    assert {k: v["changes"] for k, v in result.items() if v["changes"]} == {}
    assert len(node.stacks()) == count


def test_test_mode_says_it_would_stack_and_why_and_changes_nothing(node):
    node.converge()
    count = len(node.stacks())
    conf = open(f"{node.devstack}/local.conf").read()
    state = stack_state(node.apply(node.pillar(DEBUG=True), test=True))
    assert state["result"] is None
    assert "the meaning of local.conf changed since the last stack" in state["comment"]
    assert len(node.stacks()) == count and open(f"{node.devstack}/local.conf").read() == conf


def test_a_change_of_meaning_stacks_exactly_once(node):
    node.converge()
    count = len(node.stacks())
    result = node.apply(node.pillar(SWIFT_REPLICAS=1))
    assert stack_state(result)["changes"]["stack.sh"]["ran_because"] == [
        "the meaning of local.conf changed since the last stack"]
    assert len(node.stacks()) == count + 1
    node.apply(node.pillar(SWIFT_REPLICAS=1))
    assert len(node.stacks()) == count + 1


def test_a_failing_stack_reports_the_log_tail_masked_and_the_next_apply_retries(node):
    node.converge()
    open(f"{node.record}/fail", "w").close()
    state = stack_state(node.apply(node.pillar(VERBOSE=True)))
    assert state["result"] is False
    assert "stack.sh failed (the next apply retries)" in state["comment"]
    assert "ERROR: fixture failure; local.conf says ADMIN_PASSWORD=<hidden>" in state["comment"]
    assert PASSWORD not in json.dumps(state)
    # The run log gets what stack.sh printed with every secret masked (DevStack traces them all).
    with open(f"{node.dest}/logs/salt-stack-run.log") as handle:
        run_log = handle.read()
    assert "local.conf says ADMIN_PASSWORD=<hidden>" in run_log and PASSWORD not in run_log
    os.unlink(f"{node.record}/fail")
    count = len(node.stacks())
    retry = stack_state(node.apply(node.pillar(VERBOSE=True)))
    assert retry["result"] is True
    assert retry["changes"]["stack.sh"]["ran_because"] == ["the last run did not succeed (failed)"]
    assert len(node.stacks()) == count + 1


def test_a_prompting_stack_is_stopped_and_reported_not_left_hanging(node):
    node.converge()
    open(f"{node.record}/prompt", "w").close()
    started = time.monotonic()
    state = stack_state(node.apply(node.pillar(PROMPTED=1)))
    assert time.monotonic() - started < 60
    assert state["result"] is False and "stack.sh stopped: it prompted for input" in state["comment"]
    assert "Enter a password now:" in state["comment"]
    leftover = subprocess.run(["pgrep", "-u", USER], capture_output=True, text=True).stdout
    assert leftover == ""
    node.converge(node.pillar(PROMPTED=1))


def test_a_ref_change_moves_the_checkout_and_stacks(node):
    node.converge()
    pillar = node.pillar()
    pillar["devstack"]["ref"] = "next"
    try:
        state = stack_state(node.apply(pillar))
        assert state["result"] is True
        assert any(r.startswith("the DevStack checkout moved from") for r in state["changes"]["stack.sh"]["ran_because"])
        last = f"{node.record}/calls/{node.stacks()[-1]}"
        assert open(f"{last}/commit").read().strip() == node.commits["next"]
    finally:
        node.converge()
    assert open(f"{node.record}/calls/{node.stacks()[-1]}/commit").read().strip() == node.commits["master"]


def test_status_and_unstack_for_operators(node):
    node.converge()
    status = node.call("devstack.status")
    assert status["last_stack"]["result"] == "success"
    assert status["checkout"]["commit"] == node.commits["master"]
    assert status["restack_needed_because"] == []
    unstacked = node.call("devstack.unstack")
    assert unstacked["result"] is True and node.calls()[-1].endswith("-unstack.sh")
    assert node.call("devstack.stack_plan")["reasons"] == ["the last run did not succeed (unstacked)"]
    node.converge()


def test_the_host_is_what_the_pillar_says(host, node):
    node.converge()
    user = host.user(USER)
    assert user.exists and user.home == node.dest
    sudoers = host.file(f"/etc/sudoers.d/devstack-{USER}")
    assert sudoers.mode == 0o440 and sudoers.user == "root"
    assert host.run(f"visudo -c -f /etc/sudoers.d/devstack-{USER}").rc == 0
    assert host.run(f"sudo -n -u {USER} sudo -n true").rc == 0
    assert host.check_output(f"git -c safe.directory={node.devstack} -C {node.devstack} rev-parse HEAD") == node.commits["master"]
    conf = host.file(f"{node.devstack}/local.conf")
    assert conf.user == USER and conf.mode == 0o600
    assert f"ADMIN_PASSWORD={PASSWORD}\n" in conf.content_string
    assert f"DEST={node.dest}\n" in conf.content_string
    assert pwd.getpwnam(USER).pw_dir == node.dest


def test_unstack_before_restack_when_the_pillar_asks(node):
    node.converge()
    pillar = node.pillar(RESTACK_MARK=1)
    pillar["devstack"]["unstack_before_restack"] = True
    count = len(node.calls())
    node.apply(pillar)
    assert [c.split("-", 1)[1] for c in node.calls()[count:]] == ["unstack.sh", "stack.sh"]
    node.converge()


def test_status_shows_a_run_in_progress_with_its_latest_log_line(node):
    node.converge()
    open(f"{node.record}/slow", "w").close()
    node.set_pillar(node.pillar(SLOW_MARK=1))
    run = subprocess.Popen(node.command("--log-level=quiet", "devstack.stack"), stdout=subprocess.PIPE,
                           stdin=subprocess.DEVNULL)
    try:
        def running() -> dict | None:
            # Seen running, and past the instant before stack.sh printed its first line.
            status = node.call("devstack.status")
            return status if status.get("running", {}).get("latest") else None

        status = wait_until(running, 30, 0.5, "devstack.status to show the run in progress and its latest line")
        assert status["running"]["script"] == "stack.sh" and status["running"]["alive"] is True
        assert status["running"]["latest"] in ("fixture stack.sh running", "fixture stack.sh is taking its time")
    finally:
        out, _ = run.communicate(timeout=120)
    assert json.loads(out)["local"]["result"] is True
    assert "running" not in node.call("devstack.status")
    node.converge()


def test_a_mirror_another_user_owns_is_trusted_by_the_stack_user_and_nothing_else(node):
    """git refuses to clone a repository another user owns; the role trusts exactly the one the
    pillar names (the stacks above cloned it), in the stack user's own git configuration."""
    node.converge()
    assert os.stat(node.repo).st_uid == 0 != pwd.getpwnam(USER).pw_uid
    assert trusted(node) == [node.repo]


def trusted(node) -> list[str]:
    return run("git", "config", "--file", f"{node.dest}/.gitconfig", "--get-all", "safe.directory").stdout.splitlines()


def trusted_state(result: dict) -> dict:
    (state,) = [v for k, v in result.items() if k.startswith("devstack_|-devstack-trusted-repositories")]
    return state


def test_the_trusted_repositories_follow_the_pillar_and_test_mode_predicts_them(node):
    """A plugin from another local repository of root's: test=True names exactly the new list
    and changes nothing; the apply trusts it too (its clone then works); taking the plugin out
    of the pillar takes it out of the list."""
    node.converge()
    plugin = f"{node.base}/plugin.git"
    if not os.path.exists(plugin):
        run("git", "clone", "-q", "--bare", node.repo, plugin)
    pillar = node.pillar()
    pillar["devstack"]["plugins"] = {"fixture": f"file://{plugin}"}
    predicted = trusted_state(node.apply(pillar, test=True))
    assert predicted["result"] is None and predicted["changes"] == {
        "safe.directory": {"old": [node.repo], "new": sorted([node.repo, plugin])}}, predicted
    assert trusted(node) == [node.repo]
    applied = trusted_state(node.apply(pillar))
    assert applied["result"] is True and applied["changes"] == predicted["changes"], applied
    assert trusted(node) == sorted([node.repo, plugin])
    node.converge()
    assert trusted(node) == [node.repo]
