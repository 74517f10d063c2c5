"""Helpers for the broker host tests: a Salt configuration of their own (pillar, logs at debug
level) that applies this project's broker role to the host's RabbitMQ, on free ports, and an
AMQP client (pika) that publishes with confirms and consumes by message id."""

from __future__ import annotations

import json
import os
import secrets
import socket
import string
import subprocess
import threading
import time

import pika
import yaml

from project import PROJECT, configure

SALT_CALL = os.path.join(PROJECT, ".venv", "bin", "salt-call")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def password(length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def beam_pids() -> list[int]:
    """PIDs of the RabbitMQ server VM (beam.smp running the rabbit application)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"beam.smp") and b"rabbit" in b" ".join(args) and b"rabbitmqcli" not in b" ".join(args):
            pids.append(int(pid))
    return pids


def listening(pids: list[int]) -> set[str]:
    """The TCP endpoints the given processes listen on (ss -ltnp), as 'address:port'."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        if any(f"pid={pid}," in line for pid in pids):
            found.add(line.split()[3])
    return found


def wait_port(host: str, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout} s")


class BrokerNode:
    """The host's RabbitMQ under a Salt configuration of this test's own: its pillar (0600)
    holds the broker definition; logs at debug level so the secret checks see everything."""

    def __init__(self, base: str, broker: dict):
        self.base = base
        self.salt = os.path.join(base, "salt")
        self.pillar_dir = os.path.join(base, "pillar")
        os.makedirs(self.salt)
        os.makedirs(self.pillar_dir)
        config = configure.minion_config(self.salt, "broker-test-node", file_roots=[os.path.join(PROJECT, "salt")],
                                         pillar_roots=[self.pillar_dir])
        config["log_level_logfile"] = "debug"
        with open(os.path.join(self.salt, "minion"), "w") as handle:
            json.dump(config, handle)
        with open(os.path.join(self.pillar_dir, "top.sls"), "w") as handle:
            handle.write("base:\n  '*':\n    - broker\n")
        self.set_pillar(broker)
        self.salt_call("saltutil.sync_all")

    @property
    def log_file(self) -> str:
        return os.path.join(self.salt, "log", "minion")

    def set_pillar(self, broker: dict) -> None:
        self.broker = broker
        path = os.path.join(self.pillar_dir, "broker.sls")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump({"broker": broker}, handle)

    def salt_call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([SALT_CALL, "-c", self.salt, "--out=json", "--log-level=quiet", *args],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
        if check and proc.returncode != 0:
            raise AssertionError(f"salt-call {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
        return proc

    def apply(self, sls: str = "broker", test: bool = False, ok: bool = True) -> dict:
        """state.apply; returns {state id: result}. With ok, every state must have succeeded."""
        args = ["state.apply", sls] + (["test=True"] if test else [])
        proc = self.salt_call(*args, check=False)
        result = json.loads(proc.stdout)["local"]
        assert isinstance(result, dict), result
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
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                args = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in args for n in needles):
            hits.append(f"{pid}: {args[:200]}")
    return hits
