"""The README's two commands on a fresh systemd host: ``bin/setup`` with the default pillar,
then ``bin/test tests/host``, the host tier inside a booted machine, where every service state
runs through systemd as on users' hosts. (The unit and functional tiers are plain Python and
Salt's loader: they prove the same inside as on the CI host, which runs them; the machine tier
does not nest.) The checkout is root's own, under /root (0700), as a user who clones into their
home has it: Salt's commands as the stack user must work from there too."""

from __future__ import annotations

import os
import re
import shlex

import pytest

from machine_node import ROOT_CHECKOUT, Node, install_project


def background_job(fleet) -> tuple:
    """bin/setup, then bin/test's host tier, then what the main job says of the host the suite
    left (a highstate with test=True and the collectd configuration); the machine is gone
    afterwards. It runs beside the other machine modules (tests/machines/conftest.py): the host
    tier inside mostly waits (on scrapes, restarts, reactions), and the machine is its own."""
    machine = fleet.machine("fresh")
    try:
        install_project(machine, checkout=ROOT_CHECKOUT)
        machine.boot()
        node = Node(machine, ROOT_CHECKOUT)
        setup = node.setup()
        if setup["rc"] != 0:
            return setup, None, "", None
        # DEVSTACK_SALT_REPLAY_SEED replays a failed run's order (the seed its message printed).
        seed = os.environ.get("DEVSTACK_SALT_REPLAY_SEED", "")
        replay = f" --randomly-seed={shlex.quote(seed)}" if seed else ""
        proc = node.run(f"cd {ROOT_CHECKOUT} && bin/test -p no:cacheprovider{replay} tests/host > /root/bin-test.log 2>&1",
                        timeout=4500, check=False)
        log = node.run("cat /root/bin-test.log", check=False).stdout
        after = {"apply": node.apply("test=True"),
                 "collectd": node.run("grep -cE 'LoadPlugin (curl_json|mysql)' /etc/collectd/collectd.conf",
                                      check=False).stdout.strip()}
        return setup, proc.returncode, log, after
    finally:
        fleet.discard(machine)


@pytest.fixture(scope="module")
def fresh(background_jobs):
    return background_jobs[__name__].result()


def test_bin_setup_succeeds_on_a_fresh_systemd_host(fresh):
    setup, _, _, _ = fresh
    assert setup["rc"] == 0, f"bin/setup exited {setup['rc']}:\n{setup['tail']}"
    print(f"bin/setup on a fresh machine: {setup['seconds']} s")


def test_bin_setup_from_a_checkout_under_root_reports_no_error(fresh):
    """A success prints no [ERROR] line (a real failure would: tests/host/test_setup_output.py)."""
    setup, _, _, _ = fresh
    assert setup["rc"] == 0 and setup["errors"] == [], setup["errors"][:20]


def test_bin_test_passes_on_a_fresh_systemd_host(fresh):
    setup, rc, log, _ = fresh
    assert setup["rc"] == 0, "bin/setup failed: no test ran"
    summary = [line for line in log.splitlines() if re.search(r"=+ .*(passed|failed|error).* in [\d.]+s", line)]
    seed = next((line for line in log.splitlines() if "randomly-seed" in line), "no seed printed")
    # The failures' own tracebacks first (the tail of the log is often other tests' log noise).
    failures = log[log.index("= FAILURES ="):][:8000] if "= FAILURES =" in log else log[-6000:]
    assert rc == 0, f"bin/test failed inside the machine ({seed}: replay it with DEVSTACK_SALT_REPLAY_SEED):\n" + "\n".join(
        line for line in log.splitlines() if line.startswith(("FAILED", "ERROR"))) + "\n" + failures
    assert summary and " passed" in summary[-1] and "failed" not in summary[-1], log[-3000:]
    print(f"bin/test in the machine: {summary[-1]}")


def test_after_the_suite_the_host_is_as_the_main_job_made_it(fresh):
    """The suite put back everything it changed: nothing for the highstate to do, and collectd
    reads the database's and the broker's metrics again (the role plugins)."""
    setup, _, _, after = fresh
    assert setup["rc"] == 0 and after is not None, "bin/setup failed: no test ran"
    assert after["apply"]["rc"] == 0 and after["apply"]["failed"] == {}, after["apply"]["failed"]
    would = {key: state["changes"] for key, state in after["apply"]["states"].items() if state["result"] is not True}
    assert would == {}, would
    assert after["collectd"] == "2", "collectd.conf lacks the role metrics (curl_json, mysql)"
