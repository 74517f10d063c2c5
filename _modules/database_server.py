"""
The database server (MariaDB from the distribution), Salt's face: validate the ``database``
pillar, plan and apply each part (the option file, the server's security, databases, users and
grants), and DevStack's settings for a node using this database.

The logic is plain Python in ``_utils/devstack_salt``: ``mariadb_model`` (pillar -> model),
``mariadb_options`` (the option file), ``mariadb_plan`` (changes and SQL), ``mariadb_server``
(PyMySQL through the unix socket). This module only reads the pillar (and, for DevStack's
account, the mine's DevStack nodes) and calls them.

Data flows one way: pillar -> validate (every error names its pillar path, nothing is changed
when there is one) -> model -> read the server -> plan (a list of changes, secrets masked, and
the SQL to run) -> apply -> read again. ``test=True`` shows the plan, a real run applies it.
No statement, argument or password is logged, returned or put on a command line.
"""

from __future__ import annotations

from typing import Any

from devstack_salt.errors import ArgumentError, DatabasePillarError
from devstack_salt import contract
from devstack_salt.faces import flag, pillar_value, role_addresses_elsewhere, shown
from devstack_salt.mariadb_model import MASK, build
from devstack_salt.mariadb_options import CONFIG_FILE, apply_options, known_options, plan_options
from devstack_salt.mariadb_plan import PLANNERS
from devstack_salt.mariadb_server import HAS_PYMYSQL, SOCKET, apply_part, plan_part

__virtualname__ = "database_server"
PARTS = ("config", *PLANNERS)


def __virtual__():
    """Available when PyMySQL (the driver, in requirements.lock) can be imported."""
    if HAS_PYMYSQL:
        return __virtualname__
    return (False, "database_server needs PyMySQL: install requirements.lock into Salt's Python")


def _pillar(pillar_key: str) -> Any:
    return pillar_value(__salt__["pillar.get"], pillar_key)  # noqa: F821 - Salt dunder


def _devstack_nodes(pillar_key: str) -> list[str]:
    """The DevStack nodes' addresses (``database:devstack:nodes`` unset): this node's loopback when
    it carries DevStack, and every other DevStack node's mine address. A mine that cannot be read
    is an error, never "no nodes" (that would drop DevStack's account from every node)."""
    try:
        others = role_addresses_elsewhere(__salt__, __opts__.get("id"), "devstack", strict=True)  # noqa: F821
    except Exception as exc:  # the master away, the mine not readable  # noqa: BLE001
        raise DatabasePillarError([f"{pillar_key}:devstack:nodes: unset, and the Salt mine that names the DevStack "
                                   f"nodes could not be read ({type(exc).__name__}); apply again when the master "
                                   f"answers, or set {pillar_key}:devstack:nodes"]) from None
    return contract.devstack_nodes(__salt__["pillar.get"]("roles", [], unmask=True), others)  # noqa: F821


def _model(pillar_key: str, check_options: bool = True) -> dict:
    pillar = _pillar(pillar_key)
    known = known_options() if check_options else None
    devstack = pillar.get("devstack") if isinstance(pillar, dict) else None
    nodes = None if not isinstance(devstack, dict) or "nodes" in devstack else _devstack_nodes(pillar_key)
    return build({} if pillar is None else pillar, pillar_key, known, nodes)


def _check_part(part: Any) -> None:
    if not isinstance(part, str) or part not in PARTS:
        raise ArgumentError(f"part must be config, secure, databases or users, not {shown(part)}")


def validate(pillar_key="database"):
    """
    Validate the database pillar: every problem by its pillar path. Server options are checked
    against the installed server (``mariadbd --verbose --help``) once it is installed.

    CLI Example:

    .. code-block:: bash

        salt-call database_server.validate
    """
    model = _model(pillar_key)
    return {"valid": True, "options_checked": known_options() is not None,
            "databases": sorted(model["databases"]), "users": sorted(model["users"])}


def options(pillar_key="database"):
    """
    The [mysqld] options the pillar gives (every option the role writes to its drop-in file).

    CLI Example:

    .. code-block:: bash

        salt-call database_server.options
    """
    return _model(pillar_key, check_options=False)["server"]["options"]


def _socket() -> str:
    # The server's socket is the minion's to say (``database_server.socket``), never a caller's:
    # root's credentials go to whatever listens there.
    return __opts__.get("database_server.socket", SOCKET)  # noqa: F821 - Salt dunder


def _part(part, pillar_key, apply):
    _check_part(part)
    model = _model(pillar_key)
    if part == "config":
        options = model["server"]["options"]
        return apply_options(CONFIG_FILE, options) if apply else plan_options(CONFIG_FILE, options)[0]
    return apply_part(part, model, _socket()) if apply else plan_part(part, model, _socket())[0]


def plan(part, pillar_key="database"):
    """
    The changes one part would make, without making them (secrets shown as <hidden>): ``config``
    (the option file, /etc/mysql/mariadb.conf.d/99-salt.cnf), ``secure``, ``databases`` or
    ``users`` (through the server's socket, the minion option ``database_server.socket``).

    CLI Example:

    .. code-block:: bash

        salt-call database_server.plan users
    """
    return _part(part, pillar_key, apply=False)


def apply(part, pillar_key="database"):
    """
    Make one part match the pillar and return its changes (secrets shown as <hidden>).

    CLI Example:

    .. code-block:: bash

        salt-call database_server.apply secure
    """
    return _part(part, pillar_key, apply=True)


def devstack_settings(pillar_key="database", reveal=False):
    """
    What a DevStack node using this database gets in local.conf: DATABASE_TYPE, DATABASE_HOST,
    DATABASE_USER, DATABASE_PASSWORD (``<hidden>`` unless ``reveal=True``), and the local mysql
    service disabled. The password is read from ``database:devstack:password``, its one place.

    CLI Example:

    .. code-block:: bash

        salt-call database_server.devstack_settings
    """
    reveal = flag(reveal, "reveal")
    localrc = contract.devstack_database(_pillar(pillar_key), root=pillar_key)
    if not reveal:
        localrc["DATABASE_PASSWORD"] = MASK
    return {"localrc": localrc, "services": {contract.DEVSTACK_SERVICES["database"]: False}}
