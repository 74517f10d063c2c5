"""Helpers for the broker host tests: a Salt configuration of their own (pillar, logs at debug
level) that applies this project's broker role to the host's RabbitMQ, on free ports, and an
AMQP client (pika) that publishes with confirms and consumes by message id."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import urllib.request

import pika

from common import command_lines
from salt_node import SaltNode


def beam_pids() -> list[int]:
    """PIDs of the RabbitMQ server VM (beam.smp running the rabbit application)."""
    pids = []
    for pid, args in command_lines():
        if args and args[0].endswith(b"beam.smp") and b"rabbit" in b" ".join(args) and b"rabbitmqcli" not in b" ".join(args):
            pids.append(pid)
    return pids


def listening(pids: list[int]) -> set[str]:
    """The TCP endpoints the given processes listen on (ss -ltnp), as 'address:port'."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            found.add(line.split()[3])
    return found


def management_overview(broker: dict, user: str, timeout: float = 10) -> dict:
    """RabbitMQ's /api/overview (what collectd reads) as ``user`` of the ``broker`` pillar;
    OSError or ValueError when the management API does not answer with JSON."""
    request = urllib.request.Request(f"http://{broker['address']}:{broker['management_port']}/api/overview")
    token = base64.b64encode(f"{user}:{broker['users'][user]['password']}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


class BrokerNode(SaltNode):
    """The host's RabbitMQ under a Salt node of this test's own: its pillar (0600) holds the
    broker definition; logs at debug level so the secret checks see everything."""

    def __init__(self, base: str, broker: dict):
        super().__init__(base, "broker-test-node", options={"log_level_logfile": "debug"})
        self.set_top("broker")
        self.set_pillar(broker)
        self.sync()

    def set_pillar(self, broker: dict) -> None:
        self.broker = broker
        self.write_pillar("broker", {"broker": broker})

    def apply(self, sls: str = "broker", test: bool = False, ok: bool = True) -> dict:
        """state.apply; returns {state id: result}. With ok, every state must have succeeded."""
        result = self.state_apply(sls, *(["test=True"] if test else []))
        if ok:
            failed = {k: v["comment"] for k, v in result.items() if v["result"] is False}
            assert not failed, failed
        return {v["__id__"]: v for v in result.values()}

    def definition_changes(self, sls: str = "broker", test: bool = False) -> dict:
        return self.apply(sls, test=test)["broker-definition"]["changes"]

    def credentials(self, user: str) -> pika.PlainCredentials:
        return pika.PlainCredentials(user, self.broker["users"][user]["password"])

    def params(self, user: str, vhost: str = "/", secret: str | None = None) -> pika.ConnectionParameters:
        creds = pika.PlainCredentials(user, secret) if secret is not None else self.credentials(user)
        return pika.ConnectionParameters(self.broker["address"], self.broker["port"], vhost, creds,
                                         connection_attempts=1, socket_timeout=10, blocked_connection_timeout=60)


def confirmed_channel(connection: pika.BlockingConnection, queue: str):
    """A channel with publisher confirms on, ``queue`` declared on it (durable)."""
    channel = connection.channel()
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    return channel


def publish_confirmed(params: pika.ConnectionParameters, queue: str, count: int, persistent: bool,
                      prefix: str, timeout: float = 180) -> int:
    """Publish ``count`` messages (ids prefix-0 ... prefix-N) to ``queue`` through the default
    exchange with publisher confirms, asynchronously (a window of unconfirmed messages), and
    return how many the broker confirmed. Any nack or return fails."""
    state = {"next": 0, "acked": 0, "outstanding": set(), "error": None}
    window = 500
    props = [pika.BasicProperties(message_id=f"{prefix}-{i}", delivery_mode=2 if persistent else 1)
             for i in range(count)]

    def on_open(conn):
        conn.channel(on_open_callback=on_channel)

    def on_channel(channel):
        state["channel"] = channel
        channel.add_on_return_callback(lambda *a: fail("message returned unroutable"))
        channel.confirm_delivery(on_confirm)
        pump()

    def fail(message):
        state["error"] = message
        connection.close()

    def pump():
        channel = state["channel"]
        while state["next"] < count and len(state["outstanding"]) < window:
            i = state["next"]
            channel.basic_publish("", queue, f"message {i}".encode(), props[i], mandatory=True)
            state["next"] += 1
            state["outstanding"].add(state["next"])  # delivery tags start at 1
        if state["acked"] == count:
            connection.close()

    def on_confirm(frame):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            return fail(f"broker nacked delivery tag {method.delivery_tag}")
        tags = [t for t in state["outstanding"] if t <= method.delivery_tag] if method.multiple else [method.delivery_tag]
        for tag in tags:
            state["outstanding"].discard(tag)
        state["acked"] += len(tags)
        pump()

    connection = pika.SelectConnection(params, on_open_callback=on_open,
                                       on_open_error_callback=lambda c, e: fail(f"cannot connect: {e}"),
                                       on_close_callback=lambda c, r: c.ioloop.stop())
    timer = threading.Timer(timeout, lambda: connection.ioloop.add_callback_threadsafe(lambda: fail("timeout")))
    timer.start()
    try:
        connection.ioloop.start()
    finally:
        timer.cancel()
    assert state["error"] is None, state["error"]
    return state["acked"]


def consume_all(params: pika.ConnectionParameters, queue: str, idle: float = 3.0) -> tuple[int, set[str]]:
    """Consume everything in ``queue`` (manual acks) until it stays idle for ``idle`` s; return
    (messages received, distinct message ids)."""
    received = 0
    ids: set[str] = set()
    with pika.BlockingConnection(params) as connection:
        channel = connection.channel()
        channel.basic_qos(prefetch_count=1000)
        last_tag = acked_tag = None
        for method, props, _body in channel.consume(queue, inactivity_timeout=idle):
            if method is None:
                break
            received += 1
            ids.add(props.message_id)
            last_tag = method.delivery_tag
            if received % 500 == 0:
                channel.basic_ack(last_tag, multiple=True)
                acked_tag = last_tag
        if last_tag is not None and last_tag != acked_tag:  # acking a tag twice closes the channel
            channel.basic_ack(last_tag, multiple=True)
        channel.cancel()
    return received, ids


def process_args_containing(needles: list[str]) -> list[str]:
    """Command lines of running processes that contain any of ``needles``."""
    hits = []
    for pid, argv in command_lines():
        args = b" ".join(argv).decode(errors="replace")
        if any(n in args for n in needles):
            hits.append(f"{pid}: {args[:200]}")
    return hits
