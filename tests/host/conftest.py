"""Host tier: testinfra checks of this host after the project's own states were applied to it
with the project's own configuration (bin/salt-call), as root. These tests change the host.

Every module must leave the host as the main job (this host's own pillar, bin/setup's
highstate) made it, so that no test depends on which ran before it: after each module a
highstate with test=True must predict no change. A module that left something changed fails
at its teardown, naming what it left, and the host is put back for the next one."""

from __future__ import annotations

import os

import pytest

from host_salt import main_job_drift, restore_main_job, salt_call
from salt_node import failed


def pytest_collection_modifyitems(config, items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="host tests need root: they apply states to this host")
        for item in items:
            if "tests/host/" in str(item.fspath):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def applied():
    """The default pillar applied to this host (idempotent: a no-op after bin/setup)."""
    salt_call("saltutil.sync_all")
    result = salt_call("state.apply", "--retcode-passthrough")
    assert not failed(result), failed(result)
    return result


@pytest.fixture(scope="session")
def node(applied):
    """The devstack pillar of this host, unmasked (it holds the generated passwords)."""
    return salt_call("pillar.get", "devstack", "unmask=True")


@pytest.fixture(scope="module", autouse=True)
def host_left_as_the_main_job_made_it(request):
    """After the module (its own fixtures torn down first): nothing for the highstate to do."""
    yield
    if os.geteuid() != 0:  # skipped: nothing ran
        return
    if (request.module.__name__.endswith("test_node_roles") and os.environ.get("DEVSTACK_NODE_HOSTS")
            and "local://" not in os.environ["DEVSTACK_NODE_HOSTS"]):
        return  # the read-only node checks of other hosts: nothing here was changed
    left = main_job_drift()
    if left:
        restore_main_job()
        pytest.fail(f"{request.module.__name__} left this host other than its own pillar says (put back "
                    f"now): {sorted(left)}", pytrace=False)
