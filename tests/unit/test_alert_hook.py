"""Alertmanager's webhook as the reactions hear it: the token check, and a notification's
alerts turned into events for the pillar's declared reactions only."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devstack_salt import alert_hook
from common import free_port

THRESHOLDS = {"root_disk_full": {"source": "disk:/", "above": 95}}
SERVICES = ["carbon-cache"]


def notification(*alerts: dict) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "receiver": "salt", "alerts": list(alerts)}).encode()


def alert(status: str = "firing", **labels: str) -> dict:
    return {"status": status, "labels": labels, "startsAt": "2026-12-07T16:00:00.000Z"}


def test_only_the_token_opens_the_hook():
    assert alert_hook.authorized("Bearer s3cret", "s3cret")
    for header in ("Bearer s3cre", "bearer s3cret", "s3cret", "", None, 5, "Bearer s3cret "):
        assert not alert_hook.authorized(header, "s3cret")
    assert not alert_hook.authorized("Bearer ", "")


def test_firing_alerts_of_declared_reactions_become_events_with_their_crossing():
    body = notification(alert(alertname="root_disk_full", node="db1"),
                        alert(alertname="ServiceDown", service="carbon-cache", node="db1"))
    assert alert_hook.reactions(body, THRESHOLDS, SERVICES) == [
        (alert_hook.THRESHOLD_TAG, {"threshold": "root_disk_full", "crossing": "2026-12-07T16:00:00.000Z", "node": "db1"}),
        (alert_hook.SERVICE_TAG, {"service_name": "carbon-cache", "node": "db1"})]


def test_what_the_pillar_does_not_declare_or_what_is_resolved_gives_nothing():
    body = notification(alert("resolved", alertname="root_disk_full", node="db1"),
                        alert(alertname="TargetDown", node="db1"),
                        alert(alertname="ServiceDown", service="sshd", node="db1"),
                        alert(alertname="TargetDown", service="carbon-cache", node="db1"),  # not ServiceDown
                        alert(alertname="root_disk_full"),  # no node: nowhere to react
                        {"status": "firing", "labels": {"alertname": "root_disk_full", "node": "db1"}})  # no start
    assert alert_hook.reactions(body, THRESHOLDS, SERVICES) == []
    for body in (b"", b"\xff", b"[]", b'{"alerts": 5}', b"null"):
        assert alert_hook.reactions(body, THRESHOLDS, SERVICES) == []


#: Labels from a small set that holds the declared names, so that firing alerts do come up.
LABELS = st.dictionaries(st.sampled_from(["alertname", "node", "service", "threshold"]),
                         st.sampled_from(["root_disk_full", "ServiceDown", "TargetDown", "carbon-cache", "sshd",
                                          "aio", ""]) | st.integers(), max_size=4)
ALERTS = st.lists(st.fixed_dictionaries({"status": st.sampled_from(["firing", "resolved", "x"]), "labels": LABELS},
                                        optional={"startsAt": st.text(max_size=5) | st.none()}), max_size=5)


@settings(max_examples=300, deadline=None)
@given(ALERTS)
def test_only_declared_reactions_come_out_of_any_notification(alerts):
    out = alert_hook.reactions(notification(*alerts), THRESHOLDS, SERVICES)
    expected = []
    for a in alerts:
        labels = a["labels"]
        if a["status"] != "firing" or not isinstance(labels.get("node"), str):
            continue
        if labels.get("alertname") in THRESHOLDS and isinstance(a.get("startsAt"), str):
            expected.append((alert_hook.THRESHOLD_TAG, {"threshold": labels["alertname"], "crossing": a["startsAt"],
                                                        "node": labels["node"]}))
        elif labels.get("alertname") == "ServiceDown" and labels.get("service") in SERVICES:
            expected.append((alert_hook.SERVICE_TAG, {"service_name": labels["service"], "node": labels["node"]}))
    assert out == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20).map(lambda value: json.dumps({"alerts": value}).encode()))
def test_no_body_raises(body):
    for tag, data in alert_hook.reactions(body, THRESHOLDS, SERVICES):
        assert data.get("threshold") in THRESHOLDS or data.get("service_name") in SERVICES, (tag, data)


@pytest.fixture
def hook(tmp_path):
    """The webhook's HTTP server on a free loopback port, its token in a file, collecting what it fires."""
    token_file = tmp_path / "token"
    token_file.write_text("t0ken-of-the-test-1234\n")
    fired: list[tuple[str, dict]] = []
    log = logging.getLogger("test_alert_hook")
    log.propagate = False  # Salt's own handlers, where the suite has them, have no part here
    log.addHandler(logging.NullHandler())
    server = alert_hook.server("127.0.0.1", free_port(), str(token_file), "aio", THRESHOLDS, SERVICES,
                               lambda tag, data: fired.append((tag, data)), log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"port": server.server_address[1], "fired": fired, "token_file": token_file}
    server.shutdown()
    server.server_close()


def call(hook: dict, body: bytes, token: str | None, method: str = "POST", path: str = "/alerts") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", hook["port"], timeout=10)
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read().decode().strip()


def test_the_server_fires_this_nodes_declared_reactions_for_the_token_only(hook):
    body = notification(alert(alertname="ServiceDown", service="carbon-cache", node="aio"),
                        alert(alertname="ServiceDown", service="carbon-cache", node="other"),
                        alert(alertname="root_disk_full", node="aio"))
    assert call(hook, body, None) == (401, "unauthorized")
    assert call(hook, body, "t0ken-of-the-test-123") == (401, "unauthorized")
    assert call(hook, body, "t0ken-of-the-test-1234", path="/") == (404, "not found")
    assert call(hook, b"", "t0ken-of-the-test-1234", method="GET") == (405, "POST only")
    assert hook["fired"] == []
    assert call(hook, body, "t0ken-of-the-test-1234") == (200, "2 reaction(s)")
    assert [tag for tag, _ in hook["fired"]] == [alert_hook.SERVICE_TAG, alert_hook.THRESHOLD_TAG]
    assert all(data["node"] == "aio" for _, data in hook["fired"])


def test_a_new_token_counts_at_once_and_no_token_file_refuses_every_call(hook):
    body = notification(alert(alertname="root_disk_full", node="aio"))
    hook["token_file"].write_text("a-new-t0ken-of-the-test")
    assert call(hook, body, "t0ken-of-the-test-1234")[0] == 401
    assert call(hook, body, "a-new-t0ken-of-the-test")[0] == 200
    hook["token_file"].unlink()
    assert call(hook, body, "a-new-t0ken-of-the-test")[0] == 401
    assert call(hook, body, "")[0] == 401


def test_a_caller_that_stalls_holds_no_one_else_and_fires_nothing(hook):
    body = notification(alert(alertname="root_disk_full", node="aio"))
    stalled = socket.create_connection(("127.0.0.1", hook["port"]), timeout=30)
    try:  # the token and a length, and then never the body
        stalled.sendall(b"POST /alerts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t0ken-of-the-test-1234\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(body))
        started = time.monotonic()
        assert call(hook, body, "t0ken-of-the-test-1234") == (200, "1 reaction(s)")
        assert time.monotonic() - started < 5  # not behind the stalled caller
        assert stalled.recv(100) == b""  # cut at the request's deadline, unanswered
        assert time.monotonic() - started < alert_hook.REQUEST_SECONDS + 5
    finally:
        stalled.close()
    assert len(hook["fired"]) == 1  # the stalled call fired nothing
