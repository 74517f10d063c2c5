"""The database and broker roles' own metrics on a node that carries them (all-in-one here):
collectd's mysql plugin and RabbitMQ's management API (curl_json), read back from whisper and
checked against what the test itself did to the servers; their monitoring passwords nowhere but
in their 0600 files."""

from __future__ import annotations

import glob
import json
import os
import re
import time
import uuid

import pika
import pymysql
import pytest

from broker_helpers import management_overview
from common import wait_until
from host_salt import SALT_CALL, changed, restore_main_job, run_watching_argv, salt_call
from monitoring_helpers import WHISPER, wait_for_points, whisper_values
from salt_node import failed

SOCKET = "/run/mysqld/mysqld.sock"
COLLECTD_CONF = "/etc/collectd/collectd.conf"
COLLECTD_LOG = "/var/log/collectd.log"
#: collectd's line for a failed read of the broker's overview and how long it now waits.
BROKER_READ_SUSPENDED = re.compile(
    r"read-function of plugin `curl_json-rabbitmq[^']*' failed\. Will suspend it for ([0-9.]+) seconds")


@pytest.fixture(scope="module")
def roles():
    """The database, broker and monitoring roles applied together (other host tests may have
    left the servers with a pillar of their own), twice: the second run changes nothing."""
    salt_call("saltutil.sync_all")
    first = salt_call("state.apply", "database,broker,monitoring", "--retcode-passthrough")
    assert not failed(first), failed(first)
    again = salt_call("state.apply", "database,broker,monitoring", "--retcode-passthrough")
    assert not failed(again) and not changed(again), changed(again)
    return {part: salt_call("pillar.get", part, "unmask=True") for part in ("database", "broker", "monitoring")}


def metric(plugin: str, name: str) -> str:
    """The whisper file pattern of a collectd metric of this host."""
    return f"{WHISPER}/collectd/*/{plugin}/{name}.wsp"


def wait_for_value(pattern: str, accept, since: float, timeout: float = 90) -> float:
    """The newest point of the metric taken after ``since`` (what the test did), once ``accept``
    holds for it."""
    _, values = wait_for_points(pattern, since, timeout, accept)
    return values[-1]


def test_open_mariadb_connections_show_in_its_metrics(roles):
    path = metric("mysql-mariadb", "threads-connected")
    wait_for_value(path, lambda value: value >= 1, time.time())  # collectd's own connection, read now
    # The baseline: the lowest point of the last minute. The newest alone may be one taken while
    # something else held a connection for a moment: a full run read 2 there (1 before and after),
    # then saw 1 + 6 = 7 for 90 s while waiting for 8.
    before = min(value for found in glob.glob(path) for value in whisper_values(found, seconds=60))
    held = [pymysql.connect(unix_socket=SOCKET, user="root") for _ in range(6)]
    opened = time.time()
    try:
        assert wait_for_value(path, lambda value: value >= before + 6, opened) >= before + 6
    finally:
        for conn in held:
            conn.close()
    closed = time.time()
    assert wait_for_value(path, lambda value: value < before + 6, closed) < before + 6


def test_messages_waiting_in_rabbitmq_show_in_its_metrics(roles):
    broker = roles["broker"]
    user = broker["devstack_user"]
    params = pika.ConnectionParameters(broker["address"], broker["port"], "/",
                                       pika.PlainCredentials(user, broker["users"][user]["password"]),
                                       connection_attempts=3, retry_delay=2, socket_timeout=10)
    messages = metric("curl_json-rabbitmq", "gauge-queue_totals-messages")
    queues = metric("curl_json-rabbitmq", "gauge-object_totals-queues")
    queue = f"role-metrics-{uuid.uuid4().hex[:8]}"
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        # RabbitMQ drops queue_totals from the overview when no queue is left: an empty queue
        # held to the end keeps the total there, so its fall back below 37 can be read.
        channel.queue_declare(f"{queue}-empty", auto_delete=False)
        channel.queue_declare(queue, auto_delete=False)
        channel.confirm_delivery()
        for i in range(37):
            channel.basic_publish("", queue, f"message {i}".encode(), mandatory=True)
        published = time.time()
        # Nothing else holds messages on this broker between tests; other queues may exist.
        assert wait_for_value(messages, lambda value: value >= 37, published) >= 37
        assert wait_for_value(queues, lambda value: value >= 2, published) >= 2  # this test's two
        channel.queue_delete(queue)
        deleted = time.time()
        assert wait_for_value(messages, lambda value: value < 37, deleted) < 37
    finally:
        for name in (queue, f"{queue}-empty"):
            connection.channel().queue_delete(name)
        connection.close()


def test_monitoring_passwords_stay_out_of_output_logs_and_process_arguments(roles, tmp_path):
    secrets = [roles["database"]["users"]["collectd"]["password"],
               roles["broker"]["users"]["collectd"]["password"]]
    conf = open(COLLECTD_CONF).read()
    assert all(secret in conf for secret in secrets)  # the file does hold them: 0600, root's
    assert (os.stat(COLLECTD_CONF).st_mode & 0o777) == 0o600
    with open(COLLECTD_CONF, "a") as handle:
        handle.write("# a local edit, to be replaced\n")
    try:
        rc, out, err, argv = run_watching_argv(
            [SALT_CALL, "--out=json", "--log-level=debug", "state.apply", "monitoring"], tmp_path)
    finally:
        if open(COLLECTD_CONF).read() != conf:  # the apply failed: the next tests need the real file
            restore_main_job()
    assert rc == 0, err[-2000:]
    result = json.loads(out)["local"]
    conf_state = next(value for key, value in result.items() if COLLECTD_CONF in key)
    assert conf_state["changes"] == {"diff": "<show_changes=False>"}
    assert open(COLLECTD_CONF).read() == conf
    logs = open("/var/log/collectd.log", errors="replace").read()
    for secret in secrets:
        for where, text in (("output", out), ("debug log", err), ("process arguments", argv),
                            ("collectd's log", logs)):
            assert secret not in text, f"a monitoring password is in the {where}"


@pytest.mark.parametrize("override, key", [
    # An account without settings: the database role's own validation (the contract) names what is missing.
    ({"database": {"users": {"collectd": None}}}, "database:users:collectd:password is not set"),
    ({"broker": {"plugins": []}}, "broker:plugins must include rabbitmq_management"),
])
def test_a_broken_role_account_is_a_clear_error_and_collectd_is_untouched(roles, override, key):
    before = os.stat(COLLECTD_CONF)
    result = salt_call("state.apply", "monitoring", f"pillar={json.dumps(override)}", check=False)
    text = json.dumps(result)
    assert key in text, text[-2000:]
    after = os.stat(COLLECTD_CONF)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_after_a_broker_outage_its_metrics_are_back_within_max_read_interval(roles):
    """collectd doubles its wait after each failed read of a plugin, by default up to a day: a
    broker down for two minutes kept its metrics away for 160 s after it was back (CI, after the
    broker tests). collectd.conf's MaxReadInterval caps the wait, and the points come back within it."""
    conf = open(COLLECTD_CONF).read()
    interval = float(re.search(r"^Interval (\S+)$", conf, re.M).group(1))
    longest = float(re.search(r"^MaxReadInterval (\S+)$", conf, re.M).group(1))
    broker = roles["broker"]
    reader = roles["monitoring"]["collectd"]["role_metrics"]["broker"]["user"]
    offset = os.path.getsize(COLLECTD_LOG)

    def waits() -> list[float]:
        with open(COLLECTD_LOG, errors="replace") as log:
            log.seek(offset)
            return [float(wait) for wait in BROKER_READ_SUSPENDED.findall(log.read())]

    def capped_twice() -> list[float] | None:
        """The waits once two reached the cap (a third doubling would pass it), or one passed it."""
        found = waits()
        return found if sum(wait >= longest for wait in found) >= 2 or any(wait > longest for wait in found) else None

    def management_answers() -> bool:
        try:
            return bool(management_overview(broker, reader, timeout=5))
        except (OSError, ValueError):
            return False

    salt_call("service.stop", "rabbitmq-server")
    try:
        suspended = wait_until(capped_twice, 3 * longest + 2 * interval, 2,
                               lambda: f"two failed reads of the stopped broker waiting {longest} s (saw {waits()})")
        assert max(suspended) <= longest, f"collectd waited {suspended} s between reads, past MaxReadInterval {longest}"
    finally:
        salt_call("service.start", "rabbitmq-server")
    wait_until(management_answers, 120, 2, "RabbitMQ's management API after the start")
    back = time.time()
    # The read after the last (capped) wait takes a point: within MaxReadInterval and an interval.
    wait_for_points(metric("curl_json-rabbitmq", "gauge-object_totals-queues"), back, timeout=longest + interval)
