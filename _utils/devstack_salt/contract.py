"""
What one role offers another: each role's own validated model (``role_model``), and from it
DevStack's view of the database and broker roles (DATABASE_*, RABBIT_*) and the monitoring
agent's (``collectd.role_plugins`` reads its accounts from ``role_model``).

The database role validates its pillar with ``mariadb_model.build`` and the broker role with
``rabbitmq_model.normalize``; the functions here start from exactly those, so a pillar the role
rejects is rejected for DevStack too, with the role's own message naming the role's key, and the
defaults the role applies (DevStack's database user ``devstack``, its host from the bind address)
are the defaults DevStack sees. Values are returned with their secrets: the caller masks them.
"""

from __future__ import annotations

from typing import Any

from . import mariadb_model, rabbitmq_model, roles
from .errors import BrokerError, DatabasePillarError

#: The localrc variables each role gives a DevStack node that uses it.
DEVSTACK_VARIABLES = {
    # MYSQL_HOST: where stack.sh creates the databases (lib/databases/mysql runs `mysql -h$MYSQL_HOST`;
    # lib/database defaults it to 127.0.0.1 and derives DATABASE_HOST from it only when unset).
    "database": ("DATABASE_TYPE", "DATABASE_HOST", "MYSQL_HOST", "DATABASE_USER", "DATABASE_PASSWORD"),
    "broker": ("RABBIT_HOST", "RABBIT_USERID", "RABBIT_PASSWORD"),
}

#: DevStack's own service that the role replaces (it stays off on a node that uses the role).
DEVSTACK_SERVICES = {"database": "mysql", "broker": "rabbit"}

#: Where DevStack's lib/rpc_backend always connects (it has no RABBIT_PORT).
DEVSTACK_RABBIT_PORT = 5672

#: role -> the function the role validates its pillar with (``pillar, root`` -> model).
ROLE_MODELS = {"database": mariadb_model.build, "broker": rabbitmq_model.normalize}


def role_model(role: str, pillar: Any, root: str | None = None) -> dict:
    """The model ``role`` converges to from ``pillar`` (None: the role's defaults), validated as
    the role itself validates it; raises the role's PillarError, naming keys under ``root``
    (default: the role's name)."""
    return ROLE_MODELS[role]({} if pillar is None else pillar, root or role)


def devstack_database(database: Any, host: str | None = None, root: str = "database") -> dict[str, str]:
    """DATABASE_* (and MYSQL_HOST, the same host without IPv6 brackets: the mysql client's form)
    for a DevStack node using the database role whose pillar is ``database``; ``host`` (the
    node's own ``devstack:database:host``, or the mine's) overrides the role's
    ``database:devstack:host``. Raises DatabasePillarError."""
    model = role_model("database", database, root)
    account = model["devstack"]
    if account is None:
        raise DatabasePillarError([f"{root}:devstack is not set: declare DevStack's account there (user, password "
                                   "and host; see pillar/database.sls)"])
    host = str(host or account["host"])
    return {"DATABASE_TYPE": "mysql", "DATABASE_HOST": host, "MYSQL_HOST": host.strip("[]"),
            "DATABASE_USER": account["user"], "DATABASE_PASSWORD": model["users"][account["user"]]["password"]}


def devstack_broker(broker: Any, host: str | None = None, root: str = "broker") -> dict[str, str]:
    """RABBIT_* for a DevStack node using the broker role whose pillar is ``broker``; ``host``
    overrides ``broker:address``. Raises BrokerError."""
    model = role_model("broker", broker, root)
    user = model["devstack_user"]
    if not user:
        raise BrokerError([f"{root}:devstack_user is not set: name the user under {root}:users that DevStack uses"])
    errors = []
    if model["port"] != DEVSTACK_RABBIT_PORT:
        errors.append(f"{root}:port is {model['port']}, but DevStack's lib/rpc_backend always connects to port "
                      f"{DEVSTACK_RABBIT_PORT}")
    perm = model["users"][user]["permissions"].get("/")
    if not perm or any(perm[key] != ".*" for key in rabbitmq_model.PERMISSION_KEYS):
        errors.append(f"{root}:users:{user}:permissions:/ must grant configure, write and read '.*' (DevStack's services "
                      "declare their own queues and exchanges in the default virtual host)")
    if host is None:
        host = model["address"]
        if host in roles.WILDCARDS:
            errors.append(f"{root}:address listens on every address: set devstack:broker:host to the one nodes use")
    if errors:
        raise BrokerError(errors)
    return {"RABBIT_HOST": str(host), "RABBIT_USERID": user, "RABBIT_PASSWORD": model["users"][user]["password"]}


def devstack_nodes(roles_of_this_node: Any, other_devstack_nodes: dict[str, str]) -> list[str]:
    """Where DevStack nodes reach the database from, when ``database:devstack:nodes`` does not
    say: loopback when this node carries DevStack itself (all-in-one), and the address of every
    other node that carries it (the mine's ``{minion: address}``, this node left out)."""
    own = list(mariadb_model.LOOPBACK_NODES) if roles.carries(roles_of_this_node, "devstack") else []
    return own + sorted(set(other_devstack_nodes.values()) - set(own))


#: role -> its DevStack view.
DEVSTACK_VIEWS = {"database": devstack_database, "broker": devstack_broker}
