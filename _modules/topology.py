"""
Where the roles of a deployment run: this node's address for the Salt mine, and the addresses
of the nodes carrying a role, so a DevStack node's DATABASE_HOST, RABBIT_HOST (and the
monitoring agents' carbon host) come from the nodes that actually carry those roles.

Roles are assigned in pillar: ``roles: [database, broker, monitoring, devstack]`` or
``roles: [all-in-one]``. Each node publishes ``node_address`` to the mine (pillar
``mine_functions``, see pillar/node.sls).
"""

from __future__ import annotations

import socket

__virtualname__ = "topology"
ROLES = ("database", "broker", "monitoring", "devstack")


def __virtual__():
    """Always available."""
    return __virtualname__


def address():
    """
    The address other nodes reach this node at: the ``devstack_salt_address`` grain when set
    (a host with several interfaces, or several minions on one test host), else the address
    of the interface that holds the default route.

    CLI Example:

    .. code-block:: bash

        salt-call topology.address
    """
    chosen = __grains__.get("devstack_salt_address")  # noqa: F821 - Salt dunder
    if chosen:
        return str(chosen)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def role_addresses(role):
    """
    ``{minion_id: address}`` of the nodes carrying ``role`` (or all-in-one), from the mine.

    CLI Example:

    .. code-block:: bash

        salt-call topology.role_addresses database
    """
    target = f"I@roles:{role} or I@roles:all-in-one"
    found = __salt__["mine.get"](target, "node_address", tgt_type="compound")  # noqa: F821
    return {minion: str(addr) for minion, addr in sorted((found or {}).items()) if addr}
