"""Host tier: testinfra checks of this host after the project's own states were applied to it
with the project's own configuration (bin/salt-call), as root. These tests change the host."""

from __future__ import annotations

import os

import pytest

from host_salt import salt_call
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
