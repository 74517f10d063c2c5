"""Machine tier: booted Debian 12 machines with systemd as PID 1 (harness.py), reached over SSH
like a Vagrant box. The README's promise is checked here on the kind of host users have: a
clean clone of the committed project, ``bin/setup`` as a user runs it, a real stack.sh.

These tests boot machines, add veths and NAT rules and lend loop devices: root on a CI or
development machine. They skip only where a host cannot boot machines at all, saying why.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys

import pytest

import harness
from machine_node import CHECKOUT, MIRRORS, MIRRORS_TAR, ROOT_CHECKOUT


def pytest_collection_modifyitems(config, items):
    reason = harness.unavailable_reason()
    if reason is None and not os.path.isfile(MIRRORS_TAR):
        reason = f"no OpenStack git mirrors at {MIRRORS_TAR} (set DEVSTACK_MIRRORS_TAR)"
    if reason:
        for item in items:
            if "tests/machines/" in str(item.fspath):
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def mirrors(tmp_path_factory):
    """The OpenStack git mirrors, extracted once per run, readable by every user."""
    root = tmp_path_factory.mktemp("openstack-mirrors")
    subprocess.run(["tar", "-xf", MIRRORS_TAR, "-C", str(root)], check=True)
    os.chmod(root, 0o755)
    for parent in root.parents:  # the stack user in the machine reads them through the bind
        if str(parent) in ("/", "/tmp"):
            break
        os.chmod(parent, os.stat(parent).st_mode | 0o005)
    return str(root)


@pytest.fixture(scope="session")
def fleet(mirrors):
    harness.install_host_tools()
    # The tar itself too, where the checkouts look for it (../shared/mirrors): the DevStack
    # judge of the unit tier then runs inside the machines as well.
    tars = os.path.dirname(os.path.abspath(MIRRORS_TAR))
    binds = {MIRRORS: mirrors, **{os.path.join(os.path.dirname(checkout), "shared", "mirrors"): tars
                                  for checkout in (CHECKOUT, ROOT_CHECKOUT)}}
    with harness.fleet(binds) as machines:
        yield machines


@pytest.fixture(scope="session", autouse=True)
def background_jobs(request, fleet):
    """A machine module may name a ``background_job(fleet)``: its whole run (boot, commands,
    discard) starts in a thread when the machine tier starts, beside the other modules' machines,
    and its tests wait for what it returns (``background_jobs[module name].result()``). For work
    that mostly waits on a machine of its own (a whole test tier inside it): the tier's time is
    then the longest module's rather than the sum. The tier's modules run it last (conftest.py),
    and this fixture's teardown waits for every job before the fleet goes."""
    modules = {item.module.__name__: item.module for item in request.session.items
               if "tests/machines/" in str(item.fspath) and hasattr(item.module, "background_job")}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(modules)),
                                               thread_name_prefix="machine-job") as pool:
        jobs = {name: pool.submit(module.background_job, fleet) for name, module in modules.items()}
        yield jobs
        if not all(job.done() for job in jobs.values()):  # its tests did not run (-x, ^C): no waiting
            fleet.close()                                  # for its commands, its machine is gone
        for name, job in jobs.items():
            if job.exception() is not None:  # waits; its tests said the error already
                print(f"[machines] background job of {name} failed: {job.exception()!r}", file=sys.stderr)
