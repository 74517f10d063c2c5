"""
The roles a node can carry and who carries them: the one definition that ``salt/top.sls``, the
orchestration, the mine lookups, monitoring and the node checks all use.

A node's roles come from its pillar, ``roles: [database, broker, monitoring, devstack]`` or
``roles: [all-in-one]`` (every role). Every node carries ``monitoring``'s agent; the monitoring
role proper (carbon, reactions) follows the pillar like the others. Also where a node reaches a
role's server that listens on every address (``local_address``).
"""

from __future__ import annotations

from typing import Any

#: Every role, in the order a node's roles come up (database and broker before DevStack uses them).
ROLES = ("database", "broker", "monitoring", "devstack")

#: The role that carries all others (a single-node cloud).
ALL_IN_ONE = "all-in-one"


def role_list(roles: Any) -> list[str]:
    """The ``roles`` pillar as a list (a single string is one role; None is none)."""
    if roles is None:
        return []
    return [str(role) for role in roles] if isinstance(roles, (list, tuple)) else [str(roles)]


def carries(roles: Any, role: str) -> bool:
    """True when a node whose pillar says ``roles`` carries ``role``."""
    names = role_list(roles)
    return role in names or ALL_IN_ONE in names


def target(role: str) -> str:
    """Salt's compound target of the nodes carrying ``role``."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
    return f"I@roles:{role} or I@roles:{ALL_IN_ONE}"


#: Listen addresses that mean "every address of this node".
WILDCARDS = ("0.0.0.0", "::", "*", "")


def local_address(address: str | None) -> str:
    """Where a client on the same node reaches a server listening on ``address``: loopback for a
    wildcard (or no) address, else the address itself."""
    return "127.0.0.1" if address is None or str(address) in WILDCARDS else str(address)
