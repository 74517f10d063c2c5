"""The README's two commands on a fresh systemd host: ``bin/setup`` with the default pillar,
then ``bin/test``, the whole suite (unit, functional, host tiers) inside a booted machine, where
every service state runs through systemd as on users' hosts. (Inside, the machine tier skips:
machines do not nest.) The checkout is root's own, under /root (0700), as a user who clones into
their home has it: Salt's commands as the stack user must work from there too."""

from __future__ import annotations

import re

import pytest

from machine_node import ROOT_CHECKOUT, Node, install_project


@pytest.fixture(scope="module")
def fresh(fleet):
    machine = fleet.machine("fresh")
    install_project(machine, checkout=ROOT_CHECKOUT)
    machine.boot()
    node = Node(machine, ROOT_CHECKOUT)
    setup = node.setup()
    if setup["rc"] != 0:
        return setup, None, ""
    proc = node.run(f"cd {ROOT_CHECKOUT} && bin/test -p no:cacheprovider > /root/bin-test.log 2>&1", timeout=4500,
                    check=False)
    log = node.run("cat /root/bin-test.log", check=False).stdout
    return setup, proc.returncode, log


def test_bin_setup_succeeds_on_a_fresh_systemd_host(fresh):
    setup, _, _ = fresh
    assert setup["rc"] == 0, f"bin/setup exited {setup['rc']}:\n{setup['tail']}"
    print(f"bin/setup on a fresh machine: {setup['seconds']} s")


def test_bin_setup_from_a_checkout_under_root_reports_no_error(fresh):
    """A success prints no [ERROR] line (a real failure would: tests/host/test_setup_output.py)."""
    setup, _, _ = fresh
    assert setup["rc"] == 0 and setup["errors"] == [], setup["errors"][:20]


def test_bin_test_passes_on_a_fresh_systemd_host(fresh):
    setup, rc, log = fresh
    assert setup["rc"] == 0, "bin/setup failed: no test ran"
    summary = [line for line in log.splitlines() if re.search(r"=+ .*(passed|failed|error).* in [\d.]+s", line)]
    assert rc == 0, "bin/test failed inside the machine:\n" + "\n".join(
        line for line in log.splitlines() if line.startswith(("FAILED", "ERROR"))) + "\n" + log[-6000:]
    assert summary and " passed" in summary[-1] and "failed" not in summary[-1], log[-3000:]
    print(f"bin/test in the machine: {summary[-1]}")
