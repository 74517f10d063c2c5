"""Run INSIDE a stacked machine with the project's .venv python: what a stacked node does, as
JSON on stdout. Copied into the machine by the machine tier; it reads every secret from DevStack's
own view of localrc (a file, as root), never from its command line. The same on an all-in-one
node and on a DevStack node of a master, whose secrets are the master's.

    {"keystone": {"issued_at", "expires_at", "lifetime"}, "swift": {"bytes", "identical"},
     "database": {"host", "keystone_tables"}, "broker": {"host", "connected"}}

With an argument, one operator action, timed (``token``, ``create-project NAME``,
``has-project NAME``), or Keystone's notifications read off the broker (``notifications ID...``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid

import pika
import pymysql

DEVSTACK = os.environ.get("DEVSTACK_DIR", "/opt/stack/devstack")


def devstack_view(*names: str) -> dict[str, str]:
    """Variables as DevStack has them: its extracted localrc sourced by bash (values on stdout,
    NUL-separated; nothing secret on a command line)."""
    script = f"source {DEVSTACK}/.localrc.auto >/dev/null 2>&1; printf '%s\\0' " + " ".join(f'"${n}"' for n in names)
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout.decode()
    return dict(zip(names, out.split("\0")))


def request(method: str, url: str, token: str | None = None, body: bytes | None = None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers={**(headers or {})})
    if token:
        req.add_header("X-Auth-Token", token)
    return urllib.request.urlopen(req, timeout=30)


def keystone(password: str) -> tuple[dict, str, str]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    with request("POST", "http://127.0.0.1/identity/v3/auth/tokens", body=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"}) as response:
        token = response.headers["X-Subject-Token"]
        data = json.load(response)["token"]

    def when(text: str) -> datetime.datetime:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))

    lifetime = (when(data["expires_at"]) - when(data["issued_at"])).total_seconds()
    swift = [e["url"] for s in data.get("catalog", []) if s["type"] == "object-store"
             for e in s["endpoints"] if e["interface"] == "public"]
    return ({"issued_at": data["issued_at"], "expires_at": data["expires_at"], "lifetime": lifetime},
            token, swift[0] if swift else "")


def swift_round_trip(token: str, endpoint: str) -> dict:
    name = f"machine-check-{uuid.uuid4().hex[:8]}"
    payload = os.urandom(65536)
    request("PUT", f"{endpoint}/{name}", token).close()
    try:
        request("PUT", f"{endpoint}/{name}/object", token, payload).close()
        with request("GET", f"{endpoint}/{name}/object", token) as response:
            back = response.read()
        request("DELETE", f"{endpoint}/{name}/object", token).close()
    finally:
        request("DELETE", f"{endpoint}/{name}", token).close()
    return {"bytes": len(back), "identical": hashlib.sha256(back).digest() == hashlib.sha256(payload).digest()}


def database() -> dict:
    view = devstack_view("DATABASE_HOST", "DATABASE_USER", "DATABASE_PASSWORD")
    conn = pymysql.connect(host=view["DATABASE_HOST"], user=view["DATABASE_USER"],
                           password=view["DATABASE_PASSWORD"], connect_timeout=10)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'keystone'")
            tables = cur.fetchone()[0]
            cur.execute("SELECT @@pid_file")
            pid_file = cur.fetchone()[0]
    finally:
        conn.close()
    return {"host": view["DATABASE_HOST"], "user": view["DATABASE_USER"], "keystone_tables": tables,
            "pid_file": pid_file}


def broker() -> dict:
    view = devstack_view("RABBIT_HOST", "RABBIT_USERID", "RABBIT_PASSWORD")
    params = pika.ConnectionParameters(host=view["RABBIT_HOST"], port=5672, connection_attempts=3,
                                       credentials=pika.PlainCredentials(view["RABBIT_USERID"], view["RABBIT_PASSWORD"]))
    connection = pika.BlockingConnection(params)
    connected = connection.is_open
    connection.close()
    return {"host": view["RABBIT_HOST"], "user": view["RABBIT_USERID"], "connected": connected}


def timed_token() -> dict:
    """One token for admin, timed: {"ok", "seconds"} (``error`` when Keystone did not issue it)."""
    started = time.monotonic()
    try:
        keystone(devstack_view("ADMIN_PASSWORD")["ADMIN_PASSWORD"])
    except (OSError, ValueError, KeyError) as exc:
        return {"ok": False, "seconds": round(time.monotonic() - started, 3), "error": str(exc)[:300]}
    return {"ok": True, "seconds": round(time.monotonic() - started, 3)}


def project(name: str, create: bool, timeout: float) -> dict:
    """Create project ``name`` (admin's token first, not timed) or look it up, timed:
    {"ok", "seconds", "status"}; a request that took longer than ``timeout`` is not ok, and so
    is one for which Keystone issued no token (``error`` says why)."""
    try:
        _, token, _ = keystone(devstack_view("ADMIN_PASSWORD")["ADMIN_PASSWORD"])
    except (OSError, ValueError, KeyError) as exc:
        return {"ok": False, "seconds": None, "error": f"no token: {str(exc)[:300]}"}
    started = time.monotonic()
    try:
        if create:
            body = json.dumps({"project": {"name": name, "domain_id": "default"}}).encode()
            req = urllib.request.Request("http://127.0.0.1/identity/v3/projects", data=body, method="POST",
                                         headers={"Content-Type": "application/json", "X-Auth-Token": token})
        else:
            req = urllib.request.Request(f"http://127.0.0.1/identity/v3/projects?name={name}",
                                         headers={"X-Auth-Token": token})
        with urllib.request.urlopen(req, timeout=timeout) as response:
            answer = json.load(response)
            status = response.status
    except (OSError, ValueError) as exc:
        return {"ok": False, "seconds": round(time.monotonic() - started, 3), "error": str(exc)[:300]}
    found = answer.get("project") if create else (answer.get("projects") or [None])[0]
    return {"ok": bool(found), "seconds": round(time.monotonic() - started, 3), "status": status,
            "id": (found or {}).get("id")}


def notifications(names: list[str]) -> dict:
    """Keystone's notifications waiting in the broker's ``notifications.info`` queue (taken off
    it): how many there are, and the event types whose payload names each of ``names`` (a
    project's id: Keystone's CADF payload names its target by id)."""
    view = devstack_view("RABBIT_HOST", "RABBIT_USERID", "RABBIT_PASSWORD")
    params = pika.ConnectionParameters(host=view["RABBIT_HOST"], port=5672, connection_attempts=3,
                                       credentials=pika.PlainCredentials(view["RABBIT_USERID"], view["RABBIT_PASSWORD"]))
    connection = pika.BlockingConnection(params)
    seen: dict[str, list[str]] = {name: [] for name in names}
    total = 0
    try:
        channel = connection.channel()
        try:
            channel.queue_declare("notifications.info", passive=True)
        except pika.exceptions.ChannelClosedByBroker:  # nothing was ever sent: no queue yet
            return {"total": 0, "by_name": seen}
        while True:
            method, _, body = channel.basic_get("notifications.info", auto_ack=True)
            if method is None:
                break
            total += 1
            text = body.decode(errors="replace")
            message = json.loads(json.loads(text).get("oslo.message", text)) if "oslo.message" in text else json.loads(text)
            for name in names:
                if name in json.dumps(message.get("payload", {})):
                    seen[name].append(message.get("event_type", ""))
    finally:
        connection.close()
    return {"total": total, "by_name": seen}


def main(argv: list[str]) -> int:
    """No argument: the whole probe. ``token``; ``create-project NAME [TIMEOUT]``;
    ``has-project NAME``; ``notifications NAME...``: one operator action, timed."""
    if argv[:1] == ["token"]:
        out = timed_token()
    elif argv[:1] == ["create-project"]:
        out = project(argv[1], True, float(argv[2]) if len(argv) > 2 else 60)
    elif argv[:1] == ["has-project"]:
        out = project(argv[1], False, 60)
    elif argv[:1] == ["notifications"]:
        out = notifications(argv[1:])
    else:
        token_facts, token, endpoint = keystone(devstack_view("ADMIN_PASSWORD")["ADMIN_PASSWORD"])
        out = {"keystone": token_facts, "swift": swift_round_trip(token, endpoint) if endpoint else None,
               "database": database(), "broker": broker()}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
