"""What a node must look like, by the roles its pillar gives it, checked through any testinfra
host: this host (``local://``), a Vagrant box or any machine over SSH (``ssh://vagrant@...``,
with ``vagrant ssh-config``), or a minion through its master (``salt://<id>``).

Read-only: nothing here changes the node. The node's own Salt answers what its pillar says
(``pillar.get ... unmask=True`` for just the keys checked, never the whole pillar: no secret
reaches a test report); the checks look at processes, listening sockets, users and files.
Used by test_node_roles.py (hosts from DEVSTACK_NODE_HOSTS, this host by default) and by
the machine tier's cloud (tests/machines/test_cloud.py: each minion through its master's ``salt://``).
"""

from __future__ import annotations

import json
import os
import shlex

from project import PROJECT

from devstack_salt import roles  # the one rule for who carries a role (project puts _utils on sys.path)

#: How to reach a node's own Salt over local:// or ssh://: the checkout's bin/salt-call there
#: (this checkout by default; /vagrant/bin/salt-call on the all-in-one Vagrant box,
#: /srv/devstack-salt/bin/salt-call on the multi-node boxes).
SALT_CALL = os.environ.get("DEVSTACK_NODE_SALT_CALL", os.path.join(PROJECT, "bin", "salt-call"))


class Node:
    """A testinfra host and the answers of its own Salt."""

    def __init__(self, host, salt_call: str = SALT_CALL):
        self.host = host
        self.salt_call = salt_call

    def salt(self, function: str, *args: str):
        if self.host.backend.HAS_RUN_SALT:  # salt://: through the master
            return self.host.salt(function, list(args))
        command = " ".join(shlex.quote(part) for part in
                           [self.salt_call, "--out=json", "--log-level=quiet", function, *args])
        return json.loads(self.host.check_output(command))["local"]

    def pillar(self, key: str, default=None):
        value = self.salt("pillar.get", key, "unmask=True")
        return default if value in (None, "") else value

    def carries(self, role: str) -> bool:
        return roles.carries(self.pillar("roles", []), role)

    def running(self, command: str) -> bool:
        """A process whose command name is ``command`` (not the init script's word: carbon's and
        rabbitmq's lie on hosts without systemd)."""
        return bool(self.host.process.filter(comm=command))

    def listening(self, address: str, port: int) -> bool:
        return self.host.socket(f"tcp://{address}:{port}").is_listening


def check_database(node: Node) -> None:
    server = node.pillar("database:server", {})
    bind = server.get("bind_address", "127.0.0.1")
    address, port = roles.local_address(bind), server.get("port", 3306)
    assert node.running("mariadbd"), "MariaDB (mariadbd) is not running"
    assert node.listening(address, port), f"MariaDB does not listen on {address}:{port} (database:server)"
    if str(bind) not in roles.WILDCARDS:  # a wildcard bind listens on every address, as asked
        assert not node.listening("0.0.0.0", port), f"MariaDB listens on every address, not only {address}"


def check_broker(node: Node) -> None:
    broker = {key: node.pillar(f"broker:{key}", default) for key, default in
              (("address", "127.0.0.1"), ("port", 5672), ("management_port", 15672), ("prometheus_port", 15692),
               ("plugins", []))}
    address = roles.local_address(broker["address"])
    assert node.running("beam.smp"), "RabbitMQ (beam.smp) is not running"
    assert node.listening(address, broker["port"]), f"RabbitMQ does not listen on {address}:{broker['port']}"
    if "rabbitmq_management" in broker["plugins"]:
        assert node.listening(address, broker["management_port"]), \
            f"the management API does not listen on {address}:{broker['management_port']}"
    if "rabbitmq_prometheus" in broker["plugins"]:
        assert node.listening(address, broker["prometheus_port"]), \
            f"RabbitMQ's Prometheus endpoint does not listen on {address}:{broker['prometheus_port']}"
    if str(broker["address"]) not in roles.WILDCARDS:
        assert not node.listening("0.0.0.0", broker["port"]), f"RabbitMQ listens on every address, not only {address}"


def check_prometheus(node: Node) -> None:
    """Where monitoring:backend includes prometheus: the node and process exporters on this node,
    the mysqld exporter on a database node, the Prometheus server where
    monitoring:prometheus:server says and Alertmanager with the reactions' webhook beside it, each
    listening where the pillar says (processes by command name: the kernel cuts it to 15
    characters)."""
    prom = node.salt("monitoring.prometheus_config")
    if not prom["prometheus"]:
        return
    manager = prom["alertmanager"]
    # (what, its process's command name, address, port) of each part this node runs
    parts = [("the node exporter", "prometheus-node", prom["exporter"]["address"], prom["exporter"]["port"]),
             ("the process exporter", "prometheus-proc", prom["process"]["address"], prom["process"]["port"])]
    if prom["mysqld"]:
        parts.append(("the mysqld exporter", "prometheus-mysq", prom["mysqld"]["address"], prom["mysqld"]["port"]))
    if prom["server"]:
        parts.append(("the Prometheus server", "prometheus", prom["address"], prom["port"]))
    if manager:
        parts += [("Alertmanager", "prometheus-aler", manager["address"], manager["port"]),
                  ("the reactions' webhook", None, manager["hook"]["address"], manager["hook"]["port"])]
    for what, command, address, port in parts:
        assert command is None or node.running(command), f"{what} is not running"
        assert node.listening(address, port), f"{what} does not listen on {address}:{port} (monitoring:prometheus)"


def check_monitoring(node: Node) -> None:
    """Every node runs the collectd agent; the node with carbon:server runs carbon-cache, and
    Graphite's web application where monitoring:web enables it; Prometheus's parts where the
    backend includes it."""
    check_prometheus(node)
    assert node.running("collectd"), "collectd is not running"
    conf = node.host.file("/etc/collectd/collectd.conf")
    assert conf.exists and conf.user == "root" and conf.mode == 0o600, "collectd.conf must be root's, mode 0600"
    carbon = node.pillar("monitoring:carbon", {})
    if carbon.get("server"):
        address, port = roles.local_address(carbon.get("address", "127.0.0.1")), carbon.get("port", 2003)
        assert node.running("carbon-cache"), "carbon-cache is not running"
        assert node.listening(address, port), f"carbon does not listen on {address}:{port} (monitoring:carbon)"
    web = node.salt("monitoring.web_config")
    if web["enabled"]:
        gunicorn = [p for p in node.host.process.filter(comm="python3") if "devstack_salt_graphite:application" in p.args]
        assert gunicorn, "the web application (gunicorn, run by python3) is not running"
        assert node.listening(web["host"], web["port"]), \
            f"the web application does not listen on {web['host']}:{web['port']} (monitoring:web)"
        key = node.host.file("/etc/graphite/secret_key")
        assert key.exists and key.user == "root" and key.group == web["user"] and key.mode == 0o640, \
            "the web application's secret key must be root's, group _graphite, mode 0640"


def check_devstack(node: Node) -> None:
    """The stack user, its sudoers drop-in and local.conf (0600, the user's): what the devstack
    role promises whether or not the node stacks."""
    status = node.salt("devstack.status")
    user, local_conf = status["user"], status["local_conf"]
    assert node.host.user(user).exists, f"the stack user {user} does not exist"
    conf = node.host.file(local_conf)
    assert conf.exists, f"{local_conf} does not exist"
    assert conf.user == user and conf.mode == 0o600, f"{local_conf} must be {user}'s, mode 0600"
    assert node.host.file(f"/etc/sudoers.d/devstack-{user}").exists, f"no sudoers drop-in for {user}"


CHECKS = {"database": check_database, "broker": check_broker, "monitoring": check_monitoring,
          "devstack": check_devstack}


def check_node(node: Node) -> list[str]:
    """Check every role the node carries (monitoring: every node has the agent); return the
    roles checked."""
    checked = []
    for role, check in CHECKS.items():
        if role == "monitoring" or node.carries(role):
            check(node)
            checked.append(role)
    return checked
