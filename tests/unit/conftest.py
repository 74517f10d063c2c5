"""Unit-tier fixtures: DevStack's own code, cloned from the local mirror, as the judge."""

from __future__ import annotations

import shutil

import pytest

from devstack_judge import MIRROR, Judge, clone_devstack


@pytest.fixture(scope="session")
def devstack_tree(tmp_path_factory):
    """A DevStack work tree cloned from ../shared/mirrors/openstack-git.tar (DEVSTACK_MIRROR_TAR)."""
    if not MIRROR.is_file():
        pytest.skip(f"DevStack mirror {MIRROR} is missing; set DEVSTACK_MIRROR_TAR to openstack-git.tar")
    if shutil.which("gawk") is None:
        pytest.fail("gawk is missing: DevStack's merge awk program needs it (mawk fails); install gawk")
    return clone_devstack(tmp_path_factory.mktemp("devstack-mirror"))


@pytest.fixture(scope="session")
def judge(devstack_tree, tmp_path_factory):
    """DevStack's parser and merge, run on local.conf text (see devstack_judge.py)."""
    return Judge(devstack_tree, tmp_path_factory.mktemp("judge"))
