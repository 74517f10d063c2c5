"""Run INSIDE a stacked machine with the project's .venv python: what a stacked node does, as
JSON on stdout. Copied into the machine by the machine tier; it reads every secret from files
(the generated secrets pillar, DevStack's own view of localrc), never from its command line.

    {"keystone": {"issued_at", "expires_at", "lifetime"}, "swift": {"bytes", "identical"},
     "database": {"host", "keystone_tables"}, "broker": {"host", "connected"}}
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid

import pika
import pymysql

PROJECT = "/srv/devstack-salt"
DEVSTACK = os.environ.get("DEVSTACK_DIR", "/opt/stack/devstack")


def secrets() -> dict:
    with open(f"{PROJECT}/.salt/pillar/secrets.sls") as handle:
        return json.loads("".join(line for line in handle if not line.startswith("#")))


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


def main() -> int:
    token_facts, token, endpoint = keystone(secrets()["devstack"]["localrc"]["ADMIN_PASSWORD"])
    out = {"keystone": token_facts, "swift": swift_round_trip(token, endpoint) if endpoint else None,
           "database": database(), "broker": broker()}
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
