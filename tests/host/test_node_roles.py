"""This host is what its pillar says, role by role (node_checks.py). Point the same checks at
other nodes with DEVSTACK_NODE_HOSTS, a comma-separated list of testinfra hosts, e.g.

    DEVSTACK_NODE_HOSTS=ssh://vagrant@127.0.0.1:2222 DEVSTACK_NODE_SALT_CALL=/vagrant/bin/salt-call \\
        .venv/bin/python -m pytest tests/host/test_node_roles.py
    DEVSTACK_NODE_HOSTS=salt://db1,salt://mq1 SALT_MASTER_CONFIG=.salt/master \\
        .venv/bin/python -m pytest tests/host/test_node_roles.py

(ssh: with the options of `vagrant ssh-config`; salt: on the master). Read-only: nothing is
changed on the nodes; on this host the default pillar is applied first (other host tests may
have left it with a pillar of their own).
"""

from __future__ import annotations

import os

import pytest
import testinfra

import node_checks
from host_salt import salt_call

SPECS = [spec.strip() for spec in os.environ.get("DEVSTACK_NODE_HOSTS", "local://").split(",") if spec.strip()]


@pytest.fixture(scope="module", params=SPECS)
def checked_node(request):
    if request.param == "local://":
        result = salt_call("state.apply", "--retcode-passthrough")
        assert all(state["result"] is True for state in result.values())
    return node_checks.Node(testinfra.get_host(request.param, sudo=request.param.startswith("ssh://")))


@pytest.mark.parametrize("role", sorted(node_checks.CHECKS))
def test_the_node_is_what_its_roles_say(checked_node, role):
    if role != "monitoring" and not checked_node.carries(role):
        pytest.skip(f"the node does not carry the {role} role")
    node_checks.CHECKS[role](checked_node)
