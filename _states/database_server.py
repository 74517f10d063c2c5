"""
States for the database server (MariaDB): its option file, its security, databases, users and
grants, all from the ``database`` pillar.

The states for the server's security, databases and users only call the ``database_server``
execution module (``plan`` then ``apply``), so ``salt-call database_server.plan users`` and the
state can never disagree. The option file's state writes the file the SLS names, with the options
``database_server.options`` gives (the published functions never take a path to write). Passwords
are read by the module from pillar, never passed through SLS data (rendered SLS is logged at debug
level). Errors are caught by class: this project's, and Salt's CommandExecutionError they derive
from (a Salt function the module calls may raise it), so a failure is a result, not a traceback.
"""

from devstack_salt.errors import DatabaseDown
from devstack_salt.faces import state_virtual
from devstack_salt.mariadb_options import apply_options, plan_options
from salt.exceptions import CommandExecutionError

__virtualname__ = "database_server"

PARTS = {
    "config": "server options",
    "secure": "server security (root, anonymous users, test database)",
    "databases": "databases",
    "users": "users and grants",
}


def __virtual__():
    """Available when the database_server execution module (this project's _modules) is loaded."""
    return state_virtual(__salt__, "database_server.plan", __virtualname__,  # noqa: F821 - Salt dunder
                         "run saltutil.sync_all and install PyMySQL (requirements.lock)")


def _option_file(name, pillar_key):
    """(plan, apply) of the option file ``name`` (the SLS's path) with the pillar's options."""
    options = __salt__["database_server.options"](pillar_key=pillar_key)  # noqa: F821 - Salt dunder
    return (lambda: plan_options(name, options)[0]), (lambda: apply_options(name, options))


def _converge(name, part, pillar_key):
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    what = PARTS[part]
    try:
        if part == "config":
            plan, apply = _option_file(name, pillar_key)
        else:
            def plan():
                return __salt__["database_server.plan"](part, pillar_key=pillar_key)  # noqa: F821

            def apply():
                return __salt__["database_server.apply"](part, pillar_key=pillar_key)  # noqa: F821
        changes = plan()
    except DatabaseDown as exc:
        if __opts__["test"]:
            # A fresh host under test=True: the server is not installed or started yet.
            ret["result"] = None
            ret["comment"] = f"{what}: cannot be predicted before the server runs ({exc})"
            return ret
        ret["comment"] = f"{what}: {exc}"
        return ret
    except (CommandExecutionError, OSError) as exc:
        ret["comment"] = f"{what}: {exc}"
        return ret
    if not changes:
        ret["result"] = True
        ret["comment"] = f"{what} as the pillar says"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = changes
        ret["comment"] = f"{what} would change: {', '.join(sorted(changes))}"
        return ret
    try:
        ret["changes"] = apply()
        after = plan()
    except (CommandExecutionError, OSError) as exc:
        ret["comment"] = f"{what}: {exc}"
        return ret
    if after:
        ret["comment"] = f"{what} still differ after applying: {', '.join(sorted(after))}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{what} changed: {', '.join(sorted(ret['changes']))}"
    return ret


def valid(name, pillar_key="database"):
    """
    Check the database pillar and change nothing; states that require this one do not run when
    it fails, so an invalid pillar changes nothing. Errors name their pillar paths.

    .. code-block:: yaml

        database-pillar:
          database_server.valid:
            - pillar_key: database
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        checked = __salt__["database_server.validate"](pillar_key=pillar_key)
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    ret["result"] = True
    ret["comment"] = f"{pillar_key} pillar is valid" + (
        "" if checked["options_checked"] else " (server options are checked once the server is installed)")
    return ret


def config(name, pillar_key="database"):
    """
    Write the [mysqld] options of ``database:server`` to the option file ``name`` (root, 0644),
    atomically and only when they change. ``changes`` lists ``mysqld:OPTION`` old and new values.
    Watch it from ``service.running`` to restart the server.

    .. code-block:: yaml

        /etc/mysql/mariadb.conf.d/99-salt.cnf:
          database_server.config: []
    """
    return _converge(name, "config", pillar_key)


def secured(name, pillar_key="database"):
    """
    Secure the server as mysql_secure_installation does: root@localhost authenticated as
    ``database:root:auth`` says (unix_socket or password), no anonymous users, no root account for
    other hosts, no test database and no grants on test or test_*.

    .. code-block:: yaml

        database-secured:
          database_server.secured: []
    """
    return _converge(name, "secure", pillar_key)


def databases(name, pillar_key="database"):
    """
    Create the databases of ``database:databases`` with their character set and collation.
    Databases the pillar does not list are left alone (DevStack creates its own).

    .. code-block:: yaml

        database-databases:
          database_server.databases: []
    """
    return _converge(name, "databases", pillar_key)


def users(name, pillar_key="database"):
    """
    Users of ``database:users`` and DevStack's user (``database:devstack``): each exists on its
    declared hosts only, with its password (compared and set as a hash, never shown) and exactly its
    declared grants on databases and on ``*``.

    .. code-block:: yaml

        database-users:
          database_server.users: []
    """
    return _converge(name, "users", pillar_key)
