"""What a node where DevStack really stacked must do, checked through any testinfra host (see
node_checks.py): Keystone issues a token, Swift stores and returns an object, and DevStack's
database and broker accept connections where DevStack's own localrc says they are: DevStack's
own mysql/rabbit, or this project's database and broker roles (DevStack's services off).

Used by test_stacked_node.py (a host you name) and by the machine tier (a machine it stacked).
Each check returns what it checked; none changes the node beyond a throwaway Swift object.
"""

from __future__ import annotations

import shlex
import uuid

DEVSTACK = "/opt/stack/devstack"


def devstack_variable(node, name: str, devstack: str = DEVSTACK) -> str:
    """A localrc variable as DevStack sourced it (its extracted .localrc.auto); not for secrets."""
    script = f"source {devstack}/.localrc.auto >/dev/null 2>&1; printf %s \"${name}\""
    return node.host.check_output("sudo -u stack bash -c %s", script)


def openstack(node, command: str, devstack: str = DEVSTACK) -> str:
    """The openstack CLI as the stack user with the admin credentials of DevStack's openrc."""
    script = f"source {devstack}/openrc admin admin >/dev/null && openstack {command}"
    return node.host.check_output("sudo -u stack -H bash -c %s", script)


def enabled_services(node) -> set[str]:
    return set(node.salt("devstack.explain")["enabled_services"])


def check_keystone(node) -> str:
    assert "key" in enabled_services(node), "keystone is not enabled on this node"
    assert len(openstack(node, "token issue -f value -c id")) > 20
    return "a token for admin"


def check_swift(node) -> str:
    assert "s-proxy" in enabled_services(node), "swift is not enabled on this node"
    name = f"salt-check-{uuid.uuid4().hex[:8]}"
    body = f"round trip {name}"
    node.host.check_output(f"printf %s {shlex.quote(body)} > /tmp/{name} && chmod 0644 /tmp/{name}")
    openstack(node, f"container create {name}")
    try:
        openstack(node, f"object create --name {name} {name} /tmp/{name}")
        assert openstack(node, f"object save --file - {name} {name}") == body
    finally:
        openstack(node, f"object delete {name} {name}")
        openstack(node, f"container delete {name}")
        node.host.run(f"rm -f /tmp/{name}")
    return "an object stored and read back"


def check_database(node) -> str:
    """DevStack's DATABASE_HOST accepts connections; where this node serves it (the database
    role), Keystone's database is in that server."""
    host = devstack_variable(node, "DATABASE_HOST") or "127.0.0.1"
    assert node.host.socket(f"tcp://{host}:3306").is_listening or node.host.run(
        f"timeout 5 bash -c '</dev/tcp/{host}/3306'").rc == 0, f"nothing accepts connections at {host}:3306"
    if node.carries("database"):
        found = node.host.check_output("mysql -N -e \"SHOW DATABASES LIKE 'keystone'\"")
        assert found == "keystone", "Keystone's database is not in this node's MariaDB"
        return f"{host}:3306, Keystone's database in the database role's MariaDB"
    return f"{host}:3306"


def check_broker(node) -> str:
    host = devstack_variable(node, "RABBIT_HOST") or "127.0.0.1"
    assert node.host.run(f"timeout 5 bash -c '</dev/tcp/{host}/5672'").rc == 0, \
        f"nothing accepts AMQP connections at {host}:5672"
    if node.carries("broker"):
        user = devstack_variable(node, "RABBIT_USERID")
        users = node.host.check_output("rabbitmqctl --quiet list_users")
        assert user in users.split(), f"DevStack's RABBIT_USERID {user} is not a user of this node's RabbitMQ"
        return f"{host}:5672, DevStack's user {user} in the broker role's RabbitMQ"
    return f"{host}:5672"


CHECKS = {"keystone": check_keystone, "swift": check_swift, "database": check_database, "broker": check_broker}
