"""The broker role applied for real to this host's RabbitMQ, on free ports, with a pillar of this
test's own (a Salt node of its own: tests/host/broker_helpers.py). At the end, also when it fails,
the host's own pillar is applied again (the highstate, through bin/salt-call).

What it shows: the service runs and listens on the configured address and ports only; users,
vhosts, permissions and policies are exactly as declared, guest is gone; the declared
credentials log in and wrong ones (and guest) are refused; a confirmed publish/consume round
trip; idempotency and exact test=True predictions; no secret in output, logs or process
arguments; clear failures for a stopped broker and for unknown pillar keys."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pika
import pytest

from broker_helpers import (BrokerNode, beam_pids, confirmed_channel, consume_all, listening,
                            process_args_containing, publish_confirmed)
from common import free_port, password, sampling, wait_port
from devstack_salt import saltconfig
from host_salt import main_job_restored, salt_call

FULL = {"configure": ".*", "write": ".*", "read": ".*"}


def definition() -> dict:
    return {
        "address": "127.0.0.1",
        "port": free_port(),
        "dist_port": free_port(),
        "management_port": free_port(),
        "prometheus_port": free_port(),
        # The host's own cookie: a different one would lock the default highstate's CLI calls
        # out of the node this test started (and this test's out of one a highstate started).
        "erlang_cookie": salt_call("pillar.get", "broker:erlang_cookie", "unmask=True") or password(32).upper(),
        "devstack_user": "devstack",
        "vhosts": ["/", "work"],
        "users": {
            "devstack": {"password": password(), "tags": [], "permissions": {"/": dict(FULL)}},
            "worker": {"password": password(), "tags": ["monitoring"],
                       "permissions": {"work": {"configure": "^work\\.", "write": ".*", "read": ".*"}}},
            "admin": {"password": password(), "tags": ["administrator"],
                      "permissions": {"/": dict(FULL), "work": dict(FULL)}},
        },
        "policies": {
            "quorum-limits": {"vhost": "work", "pattern": "^work\\.qq\\.", "apply_to": "queues", "priority": 2,
                              "definition": {"delivery-limit": 10, "max-length": 100000}},
            "expire-idle": {"vhost": "/", "pattern": "^reply_", "apply_to": "queues",
                            "definition": {"expires": 3600000}},
            "ae": {"vhost": "work", "pattern": "^work\\.ex\\.", "apply_to": "exchanges",
                   "definition": {"alternate-exchange": "work.unrouted"}},
        },
        "plugins": ["rabbitmq_management"],
    }


def secrets_of(broker: dict) -> list[str]:
    return [u["password"] for u in broker["users"].values()] + [broker["erlang_cookie"]]


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    # Afterwards, also when this fails half-way, the host as its own pillar has it: the broker's
    # users, ports and plugins, and the account the monitoring role reads the broker with.
    with main_job_restored():
        node = BrokerNode(str(tmp_path_factory.mktemp("broker-node")), definition())
        node.first = node.apply()
        yield node


def export() -> dict:
    proc = subprocess.run(["runuser", "-u", "rabbitmq", "--", "env", "HOME=/var/lib/rabbitmq",
                           "/usr/lib/rabbitmq/bin/rabbitmqctl", "export_definitions", "-", "--format", "json",
                           "--silent"], capture_output=True, text=True, check=True, cwd="/var/lib/rabbitmq")
    return json.loads(proc.stdout)


def export_has_user(name: str) -> bool:
    return any(u["name"] == name for u in export()["users"])


def test_first_apply_reports_each_change_without_secrets(node):
    changes = node.first["broker-definition"]["changes"]
    for key in ("vhost:work", "user:worker", "user:admin", "permissions:worker@work",
                "policy:work:quorum-limits"):
        assert key in changes, sorted(changes)
    # The host's default broker (bin/setup) may already hold devstack and the management plugin
    # (the monitoring role reads it), and no longer guest.
    with open("/etc/rabbitmq/enabled_plugins") as handle:
        assert "plugin:rabbitmq_management" in changes or "rabbitmq_management" in handle.read(), sorted(changes)
    assert any(k == "user:devstack" or k.startswith("user:devstack:") for k in changes) or \
        export_has_user("devstack"), sorted(changes)
    assert changes.get("user:guest", {"new": "absent"})["new"] == "absent"
    assert not export_has_user("guest")
    text = json.dumps(node.first)
    for secret in secrets_of(node.broker):
        assert secret not in text


def test_service_is_running_and_listens_on_the_configured_endpoints_only(node):
    pids = beam_pids()
    assert len(pids) == 1
    b = node.broker
    assert listening(pids) == {f"127.0.0.1:{b['port']}", f"127.0.0.1:{b['dist_port']}", f"127.0.0.1:{b['management_port']}"}


def test_erlang_cookie_is_the_pillar_one_mode_0400(node):
    path = "/var/lib/rabbitmq/.erlang.cookie"
    st = os.stat(path)
    assert oct(st.st_mode & 0o777) == "0o400"
    with open(path) as handle:
        assert handle.read() == node.broker["erlang_cookie"]


def test_users_vhosts_permissions_and_policies_are_exactly_as_declared(node):
    defs = export()
    b = node.broker
    assert sorted(v["name"] for v in defs["vhosts"]) == sorted(b["vhosts"])
    assert {u["name"]: sorted(u["tags"]) for u in defs["users"]} == {n: sorted(u["tags"]) for n, u in b["users"].items()}
    declared = {(n, v): p for n, u in b["users"].items() for v, p in u["permissions"].items()}
    assert {(p["user"], p["vhost"]): {k: p[k] for k in FULL} for p in defs["permissions"]} == declared
    assert {(p["vhost"], p["name"]): (p["pattern"], p["apply-to"], p["definition"], p["priority"]) for p in defs["policies"]} == {
        (p["vhost"], n): (p["pattern"], p["apply_to"], p["definition"], p.get("priority", 0)) for n, p in b["policies"].items()}


def test_declared_credentials_log_in_wrong_ones_and_guest_are_refused(node):
    with pika.BlockingConnection(node.params("worker", "work")):
        pass
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(node.params("worker", "work", secret="Wrong" + password(8)))
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        pika.BlockingConnection(node.params("guest", "/", secret="guest"))


def test_publish_consume_round_trip_with_confirms(node):
    params = node.params("worker", "work")
    queue = f"work.roundtrip.{uuid.uuid4().hex[:8]}"
    with pika.BlockingConnection(params) as connection:
        channel = confirmed_channel(connection, queue)
        channel.basic_publish("", queue, b"hello", pika.BasicProperties(message_id="m1", delivery_mode=2), mandatory=True)
        method, props, body = channel.basic_get(queue, auto_ack=True)
        assert (props.message_id, body) == ("m1", b"hello")
        channel.queue_delete(queue)


def test_second_apply_reports_zero_changes(node):
    result = node.apply()
    assert {k: v["changes"] for k, v in result.items() if v["changes"]} == {}


def test_test_mode_predicts_exactly_the_changes_and_no_secret_is_exposed(node):
    b = json.loads(json.dumps(node.broker))
    b["users"]["worker"]["password"] = password()          # a changed password
    b["users"]["worker"]["tags"] = ["management"]            # changed tags
    b["users"]["extra"] = {"password": password(), "tags": [], "permissions": {"work": dict(FULL)}}
    del b["users"]["admin"]                                   # a removed user
    b["vhosts"].append("more")                                # an added vhost
    b["policies"]["quorum-limits"]["definition"]["delivery-limit"] = 20   # an altered policy
    del b["policies"]["ae"]                                   # a removed policy
    secrets = secrets_of(b) + secrets_of(node.broker)  # the new passwords and the old ones
    node.set_pillar(b)
    before = export()
    seen: list[str] = []
    # every process's arguments, sampled throughout both runs
    with sampling(lambda: seen.extend(process_args_containing(secrets)), 0.02):
        predicted = node.definition_changes(test=True)
        assert export()["users"] == before["users"]  # test=True wrote nothing
        made = node.definition_changes()
    assert predicted == made
    assert set(made) == {"user:worker:password", "user:worker:tags", "user:extra", "permissions:extra@work",
                         "user:admin", "vhost:more", "policy:work:quorum-limits", "policy:work:ae"}
    assert node.definition_changes() == {}
    assert not seen, seen
    with open(node.log_file, errors="replace") as handle:
        log = handle.read()
    with open("/var/log/rabbitmq/rabbit@localhost.log", errors="replace") as handle:
        broker_log = handle.read()
    for secret in secrets:
        assert secret not in json.dumps(made)
        assert secret not in log
        assert secret not in broker_log
    with pika.BlockingConnection(node.params("worker", "work")):  # the new password works
        pass


@pytest.mark.parametrize("where, bad", [
    ("broker:users:worker:permissions:work:writ", lambda b: b["users"]["worker"]["permissions"]["work"].update(writ=".*")),
    ("broker:policies:expire-idle:apply-to", lambda b: b["policies"]["expire-idle"].update({"apply-to": "queues"})),
    ("broker:policies:expire-idle:definition:bogus-key",
     lambda b: b["policies"]["expire-idle"]["definition"].update({"bogus-key": 1})),
])
def test_unknown_permission_or_policy_key_is_named_and_nothing_changes(node, where, bad):
    good = node.broker
    b = json.loads(json.dumps(good))
    bad(b)
    b["users"]["newcomer"] = {"password": password(), "tags": []}
    before = export()
    node.set_pillar(b)
    try:
        result = node.apply(ok=False)
    finally:
        node.set_pillar(good)
    assert where in result["broker-pillar"]["comment"]
    assert result["broker-definition"]["result"] is False
    assert "Traceback" not in json.dumps(result)
    after = export()
    assert (after["users"], after["policies"], after["permissions"]) == (before["users"], before["policies"], before["permissions"])


def test_stopped_broker_fails_clearly_and_next_apply_converges(node):
    b = json.loads(json.dumps(node.broker))
    b["vhosts"].append("after-outage")
    node.set_pillar(b)
    node.run("service.stop", "rabbitmq-server")
    result = node.apply("broker.definition", ok=False)["broker-definition"]
    assert result["result"] is False
    assert "not running" in result["comment"] and "Traceback" not in result["comment"]
    node.run("service.start", "rabbitmq-server")
    wait_port("127.0.0.1", b["port"])
    assert node.definition_changes("broker.definition") == {"vhost:after-outage": {"old": "absent", "new": "present"}}
    assert node.definition_changes("broker.definition") == {}


COUNT = 10_000


@pytest.mark.parametrize("kind", ["classic", "quorum"])
def test_durable_queue_keeps_every_confirmed_message_through_a_broker_restart(node, kind):
    """With no consumer, 10,000 persistent messages confirmed into a durable queue survive a
    restart of the broker through Salt: all delivered afterwards, none twice."""
    params = node.params("worker", "work")
    queue = f"work.{'qq' if kind == 'quorum' else 'durable'}.{uuid.uuid4().hex[:8]}"
    with pika.BlockingConnection(params) as connection:
        args = {"x-queue-type": "quorum"} if kind == "quorum" else None
        connection.channel().queue_declare(queue, durable=True, arguments=args)
    assert publish_confirmed(params, queue, COUNT, persistent=True, prefix=kind) == COUNT
    restart_through_salt(node)
    received, ids = consume_all(params, queue)
    with pika.BlockingConnection(params) as connection:
        connection.channel().queue_delete(queue)
    assert received == COUNT and ids == {f"{kind}-{i}" for i in range(COUNT)}


def test_negative_control_transient_queue_loses_its_messages_in_a_restart(node):
    """The same run with a transient queue and transient messages: the restart loses them all.
    This is what the durable setup prevents, and shows the outage check can fail."""
    params = node.params("worker", "work")
    queue = f"work.transient.{uuid.uuid4().hex[:8]}"
    with pika.BlockingConnection(params) as connection:
        connection.channel().queue_declare(queue, durable=False)
    assert publish_confirmed(params, queue, COUNT, persistent=False, prefix="transient") == COUNT
    restart_through_salt(node)
    with pika.BlockingConnection(params) as connection:
        with pytest.raises(pika.exceptions.ChannelClosedByBroker, match="NOT_FOUND"):
            connection.channel().queue_declare(queue, passive=True)


def restart_through_salt(node):
    node.run("service.restart", "rabbitmq-server")
    wait_port("127.0.0.1", node.broker["port"])


SYSTEMD = saltconfig.systemd_running()


@pytest.mark.skipif(SYSTEMD, reason="under systemd the unit tracks the node: the role manages no pid file")
def test_a_lost_pid_file_is_repaired_so_a_restart_cannot_hang(node):
    """Debian's init script stops the node with `rabbitmqctl stop <pid file>`, which waits forever
    when the file is gone (seen after two starts raced). The role writes it back before any stop."""
    pid_file = "/var/run/rabbitmq/pid"
    running = open(pid_file).read().strip()
    os.unlink(pid_file)
    predicted = node.apply(test=True)["broker-pid-file"]
    assert predicted["result"] is None and predicted["changes"] == {"pid": {"old": None, "new": int(running)}}
    assert not os.path.exists(pid_file)
    repaired = node.apply()["broker-pid-file"]
    assert repaired["changes"] == {"pid": {"old": None, "new": int(running)}}
    assert open(pid_file).read() == f"{running}\n" and (os.stat(pid_file).st_mode & 0o777) == 0o644
    assert node.apply()["broker-pid-file"]["changes"] == {}
    proc = node.run("service.restart", "rabbitmq-server")  # hung for good without the file
    assert json.loads(proc.stdout)["local"] is True
    wait_port("127.0.0.1", node.broker["port"])


@pytest.mark.skipif(not SYSTEMD, reason="epmd's socket activation exists under systemd only")
def test_under_systemd_epmd_listens_on_loopback_only(node):
    """Debian's epmd.socket listens on every address, where ERL_EPMD_ADDRESS has no effect; the
    role's drop-in moves it to loopback."""
    listeners = subprocess.run(["ss", "-Hltn", "sport = :4369"], capture_output=True, text=True, check=True).stdout
    addresses = {line.split()[3].rsplit(":", 1)[0] for line in listeners.splitlines()}
    assert addresses == {"127.0.0.1"}, listeners
    assert subprocess.run(["systemctl", "is-enabled", "epmd.socket"], capture_output=True, text=True).stdout.strip() == "enabled"


def test_a_new_erlang_cookie_stops_the_node_first_and_keeps_the_broker_whole(node):
    """A node started with the old cookie cannot be stopped by CLI tools holding the new one, so
    the role stops it before writing the cookie (prereq), then starts it with the new one."""
    params = node.params("worker", "work")
    queue = f"work.cookie.{uuid.uuid4().hex[:8]}"
    with pika.BlockingConnection(params) as connection:
        channel = confirmed_channel(connection, queue)
        for i in range(5):
            channel.basic_publish("", queue, f"m{i}".encode(), pika.BasicProperties(delivery_mode=2), mandatory=True)
    old = node.broker["erlang_cookie"]
    b = json.loads(json.dumps(node.broker))
    b["erlang_cookie"] = password(32).upper()
    node.set_pillar(b)
    try:
        predicted = node.apply(test=True)
        assert predicted["broker-stop-for-cookie"]["result"] is None
        assert predicted["broker-cookie"]["result"] is None
        result = node.apply()
        assert result["broker-stop-for-cookie"]["changes"], result["broker-stop-for-cookie"]
        assert result["broker-cookie"]["changes"] and result["broker-service"]["result"] is True
        assert b["erlang_cookie"] not in json.dumps(result) and old not in json.dumps(result)
        with open("/var/lib/rabbitmq/.erlang.cookie") as handle:
            assert handle.read() == b["erlang_cookie"]
        wait_port("127.0.0.1", b["port"])
        assert node.definition_changes() == {}  # the CLI tools reach the node with the new cookie
        with pika.BlockingConnection(params) as connection:
            assert connection.channel().queue_declare(queue, passive=True).method.message_count == 5
            connection.channel().queue_delete(queue)
        assert {k: v["changes"] for k, v in node.apply().items() if v["changes"]} == {}
    finally:
        node.set_pillar({**b, "erlang_cookie": old})
        node.apply()
