"""Checks of a host where DevStack really stacked (stacked_checks.py): Keystone issues a token,
Swift stores and returns an object, DevStack's database and broker accept connections (this
project's roles where they serve DevStack).

The machine tier (tests/machines) runs these against a machine it stacked itself. Here they run
against a host you name: DEVSTACK_STACKED_HOST=local:// (this host) or ssh://vagrant@192.0.2.10
(see `vagrant ssh-config`), with testinfra's host syntax and DEVSTACK_NODE_SALT_CALL as in
node_checks.py.
"""

from __future__ import annotations

import os

import pytest
import testinfra

import node_checks
import stacked_checks

SPEC = os.environ.get("DEVSTACK_STACKED_HOST")
pytestmark = pytest.mark.skipif(
    not SPEC, reason="no stacked DevStack host given: set DEVSTACK_STACKED_HOST=local:// (or ssh://user@host); "
                     "the machine tier stacks one of its own")


@pytest.fixture(scope="module")
def stacked():
    return node_checks.Node(testinfra.get_host(SPEC, sudo=SPEC.startswith("ssh://")))


@pytest.mark.parametrize("check", sorted(stacked_checks.CHECKS))
def test_the_stacked_node_does_what_devstack_promises(stacked, check):
    stacked_checks.CHECKS[check](stacked)
