"""
Where the roles of a deployment run, and how this node runs their services: this node's address
for the Salt mine, the compound target and the addresses of the nodes carrying a role (so a
DevStack node's DATABASE_HOST, RABBIT_HOST and the monitoring agents' carbon host come from the
nodes that actually carry those roles), and whether services go through systemd here.

Roles are assigned in pillar: ``roles: [database, broker, monitoring, devstack]`` or
``roles: [all-in-one]``; who carries a role is ``devstack_salt.roles``. Each node publishes
``node_address`` to the mine (pillar ``mine_functions``, see pillar/node.sls).
"""

from __future__ import annotations

import socket

from devstack_salt import roles as _roles
from devstack_salt import saltconfig as _saltconfig
from devstack_salt.errors import DevstackSaltError as _DevstackSaltError

__virtualname__ = "topology"


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


def target(role):
    """
    Salt's compound target of the nodes carrying ``role`` (its own or all-in-one).

    CLI Example:

    .. code-block:: bash

        salt-call topology.target database
    """
    try:
        return _roles.target(str(role))
    except ValueError as exc:
        raise _DevstackSaltError(str(exc)) from None


def role_addresses(role):
    """
    ``{minion_id: address}`` of the nodes carrying ``role`` (or all-in-one), from the mine.

    CLI Example:

    .. code-block:: bash

        salt-call topology.role_addresses database
    """
    found = __salt__["mine.get"](target(role), "node_address", tgt_type="compound")  # noqa: F821
    return {minion: str(addr) for minion, addr in sorted((found or {}).items()) if addr}


def systemd():
    """
    True when Salt starts and enables this node's services through systemd. bin/configure
    disables Salt's systemd module where systemd is not running (it would report success without
    starting anything); services then go through the init.d scripts, and are not enabled at boot.

    CLI Example:

    .. code-block:: bash

        salt-call topology.systemd
    """
    return _saltconfig.services_through_systemd(__salt__["config.get"]("disable_modules", []))  # noqa: F821
