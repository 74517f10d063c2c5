"""
The broker's configuration files rendered from the definition: rabbitmq.conf (the listeners),
rabbitmq-env.conf (node name, Erlang distribution on loopback) and the epmd.socket drop-in.
``salt/broker`` writes them with file.managed (``message_broker.render``).
"""

from __future__ import annotations

NODE_NAME = "rabbit@localhost"  # a single node; localhost resolves everywhere
#: Plugins with a listener of their own, bound to broker:address on the port of this key.
PLUGIN_LISTENERS = {"rabbitmq_management": ("management", "management_port", 15672),
                    "rabbitmq_prometheus": ("prometheus", "prometheus_port", 15692)}


def _endpoint(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def render_rabbitmq_conf(model: dict) -> str:
    """/etc/rabbitmq/rabbitmq.conf: the AMQP listener and the plugins' HTTP listeners, all on
    broker:address only (the plugins listen on 0.0.0.0 unless told otherwise)."""
    lines = ["# Written by Salt (salt/broker, message_broker module) from the broker pillar.",
             "listeners.tcp.1 = " + _endpoint(model["address"], model["port"]),
             "listeners.ssl = none"]
    for plugin, (prefix, key, _default) in sorted(PLUGIN_LISTENERS.items()):
        lines += [f"{prefix}.tcp.ip = {model['address']}", f"{prefix}.tcp.port = {model[key]}"]
    return "\n".join(lines) + "\n"


def render_env_conf(model: dict) -> str:
    """/etc/rabbitmq/rabbitmq-env.conf: node name, and the Erlang distribution (epmd and the
    inter-node port) on loopback only: this is a single-node broker."""
    return (
        "# Written by Salt (salt/broker, message_broker module) from the broker pillar.\n"
        "# A single node: Erlang distribution (epmd, the inter-node port) on loopback only.\n"
        f"NODENAME={NODE_NAME}\n"
        "ERL_EPMD_ADDRESS=127.0.0.1\n"
        f"DIST_PORT={model['dist_port']}\n"
        'SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"\n'
    )


def render_epmd_socket(model: dict) -> str:
    """A drop-in for Debian's epmd.socket: on systemd hosts systemd, not epmd, opens epmd's port
    (socket activation, every address by default) and ERL_EPMD_ADDRESS has no effect there."""
    return (
        "# Written by Salt (salt/broker, message_broker module): epmd on loopback only.\n"
        "[Socket]\n"
        "ListenStream=\n"
        "ListenStream=127.0.0.1:4369\n"
    )


#: The files ``message_broker.render`` knows, by name.
RENDERERS = {"rabbitmq.conf": render_rabbitmq_conf, "rabbitmq-env.conf": render_env_conf,
             "epmd.socket": render_epmd_socket}
