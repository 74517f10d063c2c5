"""Functional tier: this project's modules loaded by Salt's own loader (Salt Factories' Loaders),
with a minion configuration from bin/configure's devstack_salt.saltconfig rooted in a temporary
directory."""

from __future__ import annotations

import grp
import json
import os
import pwd

import pytest
import salt.config
from saltfactories.utils.functional import Loaders

from devstack_salt import saltconfig

from project import PROJECT


@pytest.fixture(scope="session", autouse=True)
def _salt_deferred_logging():
    """Salt buffers early log records in a handler bound to the stderr of import time and
    flushes it at exit, when pytest has closed that stream ("--- Logging error ---"): drop it."""
    yield
    import salt._logging.impl

    salt._logging.impl.shutdown_temp_handler()


@pytest.fixture(scope="session")
def salt_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("salt-root")
    (root / "pillar").mkdir()
    (root / "states").mkdir()
    # One SLS for every functional state test: target and owner come from pillar overrides.
    (root / "states" / "local_conf_under_test.sls").write_text(
        "{% set t = pillar['under_test'] %}\n"
        "local-conf-under-test:\n"
        "  devstack.local_conf:\n"
        "    - name: {{ t.path }}\n"
        "    - user: {{ t.user }}\n"
        "{% if t.group %}    - group: {{ t.group }}\n{% endif %}"
    )
    return root


@pytest.fixture(scope="session")
def minion_opts(salt_root):
    config = saltconfig.minion_config(
        str(salt_root), "functional-minion",
        file_roots=[os.path.join(PROJECT, "salt"), str(salt_root / "states")], pillar_roots=[str(salt_root / "pillar")],
    )
    path = salt_root / "minion"
    path.write_text(json.dumps(config))
    return salt.config.minion_config(str(path))


@pytest.fixture(scope="session")
def loaders(minion_opts):
    return Loaders(minion_opts)


@pytest.fixture
def owner():
    """The user running the tests and its primary group (local.conf's owner in these tests)."""
    entry = pwd.getpwuid(os.getuid())
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name
