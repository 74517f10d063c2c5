"""
States for the message broker (RabbitMQ). ``message_broker.defined`` converges a whole broker
definition from pillar; ``message_broker.valid`` is the gate every broker state requires.

The model, the reading, the comparison and the writing live in the ``message_broker`` execution
module; these states only call it, so ``salt-call message_broker.diff`` and the state agree.
"""

from devstack_salt.errors import BrokerDown, BrokerError
from devstack_salt.faces import state_virtual
from devstack_salt.rabbitmq_server import PID_FILE
from salt.exceptions import CommandExecutionError

__virtualname__ = "message_broker"


def __virtual__():
    """Available when the message_broker execution module (this project's _modules) is synced."""
    return state_virtual(__salt__, "message_broker.apply", __virtualname__)  # noqa: F821 - Salt dunder


def valid(name, pillar_key="broker"):
    """
    Fail, naming every problem by its pillar path, when the broker pillar is invalid. Other broker
    states require this one, so an invalid pillar changes nothing.

    .. code-block:: yaml

        broker-pillar:
          message_broker.valid:
            - pillar_key: broker
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": f"pillar {pillar_key} is valid"}
    check = __salt__["message_broker.validate"](pillar_key=pillar_key)
    if not check["valid"]:
        ret["result"] = False
        ret["comment"] = str(BrokerError(check["errors"]))
    return ret


def defined(name, pillar_key="broker"):
    """
    Make the running broker match the definition under ``pillar_key``: virtual hosts, users with
    tags and passwords, permissions per virtual host, policies, plugins; with ``prune`` (the
    default) everything undeclared is removed, the default ``guest`` user included.

    The broker is read once; only what differs is written (one definitions import, with password
    hashes computed locally, and one call per removal). ``changes`` names each vhost, user,
    permission, policy and plugin added, removed or altered; passwords appear only as
    ``<hidden>``. ``test=True`` predicts exactly that. A broker that is not running makes the
    state fail with a comment saying so; nothing is changed and the next apply converges. Under
    ``test=True`` it is unpredictable instead (result None): a real run of the role would install
    and start it first.

    .. code-block:: yaml

        broker-definition:
          message_broker.defined:
            - pillar_key: broker
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    test = bool(__opts__["test"])
    try:
        result = __salt__["message_broker.apply"](pillar_key=pillar_key, test=test)
    except BrokerDown as exc:
        # Under test=True on a fresh host the role has not installed or started RabbitMQ yet:
        # what a real run would change cannot be predicted, which is not a failure (as for the
        # database).
        if test:
            ret["result"] = None
            ret["comment"] = f"the broker's definition cannot be predicted before the broker runs ({exc})"
            return ret
        ret["comment"] = str(exc)
        return ret
    except CommandExecutionError as exc:
        ret["comment"] = str(exc)
        return ret
    changes = result["changes"]
    if not changes:
        ret["result"] = True
        ret["comment"] = "the broker matches its definition"
        return ret
    ret["changes"] = changes
    if test:
        ret["result"] = None
        ret["comment"] = f"{len(changes)} broker change(s) would be made"
        return ret
    if result["remaining"]:
        ret["comment"] = f"the broker still differs after writing: {sorted(result['remaining'])}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{len(changes)} broker change(s) made"
    return ret


def pid_file(name):
    """
    Keep Debian's pid file naming the running RabbitMQ node, so that the init script's stop and
    restart (which wait on that file, forever when it is missing) cannot hang. Nothing to do when
    no node runs (a start writes it). ``test=True`` predicts the repair.

    .. code-block:: yaml

        broker-pid-file:
          message_broker.pid_file:
            - name: /var/run/rabbitmq/pid
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": "the pid file names the running node"}
    if str(name) != PID_FILE:
        ret["result"] = False
        ret["comment"] = f"name must be Debian's pid file of RabbitMQ, {PID_FILE}, not {name!r}"
        return ret
    try:
        change = __salt__["message_broker.pid_file"](test=bool(__opts__["test"]))
    except CommandExecutionError as exc:
        ret["result"] = False
        ret["comment"] = str(exc)
        return ret
    if not change:
        return ret
    ret["changes"] = {"pid": change}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"the pid file would name the running node ({change['new']})"
    else:
        ret["comment"] = f"the pid file now names the running node ({change['new']})"
    return ret
