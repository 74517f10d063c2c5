"""
The message broker (RabbitMQ), Salt's face: validate the ``broker`` pillar, render the broker's
configuration files, show and converge its definition (vhosts, users, permissions, policies,
plugins), DevStack's settings for a node using it, and Debian's pid file.

Not named ``rabbitmq``: core Salt has a module of that name, which a synced module would replace.

The logic is plain Python in ``_utils/devstack_salt``: ``rabbitmq_model`` (pillar ->
definition), ``rabbitmq_config`` (the configuration files), ``rabbitmq_plan`` (what differs and
what to write), ``rabbitmq_server`` (the CLI tools, reading and writing the node, the pid file).
This module only reads the pillar and the minion config and calls them.

The CLI tools address the node named in rabbitmq-env.conf (the role writes ``rabbit@localhost``);
the minion config option ``message_broker.node`` (read with ``config.get``) names another.
Passwords never reach a command line, a log, a return value or the broker in plain text.
"""

from __future__ import annotations

from typing import Any

from devstack_salt import contract
from devstack_salt.errors import ArgumentError, BrokerError
from devstack_salt.faces import flag, pillar_key as checked_key, pillar_value, shown, verdict
from devstack_salt.rabbitmq_config import RENDERERS
from devstack_salt.rabbitmq_model import HIDDEN, normalize
from devstack_salt.rabbitmq_plan import plan
from devstack_salt.rabbitmq_server import PID_FILE, converge, pid_file_plan, read_current, write_pid_file

__virtualname__ = "message_broker"


def __virtual__():
    """Always loadable: validation and rendering need only Python; functions that talk to the
    broker say so when RabbitMQ is not installed."""
    return __virtualname__


def _pillar(pillar_key: str) -> Any:
    return pillar_value(__salt__["pillar.get"], pillar_key, BrokerError, "pillar/broker.sls")  # noqa: F821


def _model(config: Any, pillar_key: str) -> dict:
    return normalize(_pillar(pillar_key) if config is None else config, checked_key(pillar_key))


def _node() -> str | None:
    # The node the CLI tools address: minion config (or pillar) ``message_broker.node``; unset,
    # rabbitmq-env.conf's NODENAME (the role writes rabbit@localhost).
    return __salt__["config.get"]("message_broker.node", None) or None  # noqa: F821 - Salt dunder


def validate(config=None, pillar_key="broker"):
    """
    Check the broker pillar (or ``config``) without touching the broker.

    Returns ``{"valid": bool, "errors": [...]}``; each error names its pillar path.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.validate
    """
    return verdict(_model, config, pillar_key)


def render(name="rabbitmq.conf", config=None, pillar_key="broker"):
    """
    The text of a broker configuration file from pillar: ``rabbitmq.conf``, ``rabbitmq-env.conf``
    or ``epmd.socket`` (the systemd drop-in that keeps epmd on loopback).

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.render rabbitmq.conf
    """
    if not isinstance(name, str) or name not in RENDERERS:
        raise ArgumentError(f"name must be one of {', '.join(RENDERERS)}, not {shown(name)}")
    return RENDERERS[name](_model(config, pillar_key))


def diff(config=None, pillar_key="broker"):
    """
    What applying the broker definition would change (passwords masked), reading the broker once.
    With ``config`` (a definition to preview), existing users' passwords are not compared: the
    answer never tells whether a given password is an account's.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.diff
    """
    model = _model(config, pillar_key)
    return plan(model, read_current(model, _node()), passwords=config is None)["changes"]


def apply(pillar_key="broker", test=False):  # noqa: A001 - Salt function name
    """
    Converge the broker to its definition: vhosts, users (tags, passwords), permissions,
    policies, plugins, and the removal of everything undeclared (``prune``, default true;
    the default ``guest`` user goes this way). Returns ``{"changes", "remaining"}``. Only the
    pillar's definition: a remote caller cannot hand in another one.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.apply test=True
    """
    return converge(_model(None, pillar_key), test=flag(test, "test"), node=_node())


def current(config=None, pillar_key="broker"):
    """
    The managed parts of the broker as they are (no password hashes).

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.current
    """
    state = read_current(_model(config, pillar_key), _node())
    return {"vhosts": state["vhosts"], "users": {u: {"tags": v["tags"]} for u, v in state["users"].items()},
            "permissions": {f"{u}@{v}": p for (u, v), p in state["permissions"].items()},
            "policies": {f"{v}:{n}": p for (v, n), p in state["policies"].items()}, "plugins": state["plugins"]}


def devstack_settings(pillar_key="broker", node_key="devstack:broker", reveal=False):
    """
    RABBIT_HOST, RABBIT_USERID and RABBIT_PASSWORD for a DevStack node using this broker, from
    the broker pillar (the password is shown as <hidden> unless ``reveal=True``).

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.devstack_settings
    """
    reveal = flag(reveal, "reveal")
    node = pillar_value(__salt__["pillar.get"], node_key, argument="node_key")  # noqa: F821 - Salt dunder
    host = node.get("host") if isinstance(node, dict) else None
    settings = contract.devstack_broker(_pillar(pillar_key), host, pillar_key)
    if not reveal:
        settings["RABBIT_PASSWORD"] = HIDDEN
    return settings


def pid_file(test=False):
    """
    Make Debian's pid file (``/var/run/rabbitmq/pid``) name the running RabbitMQ node (owner rabbitmq, 0644, written
    atomically), so that ``/etc/init.d/rabbitmq-server stop`` and ``restart`` cannot hang on a
    missing file. Returns the change made (or, with ``test=True``, the one that would be), ``{}``
    when nothing was needed.

    CLI Example:

    .. code-block:: bash

        salt-call message_broker.pid_file
    """
    test = flag(test, "test")
    change = pid_file_plan(PID_FILE)
    if change and not test:
        write_pid_file(PID_FILE, change["new"])
    return change
