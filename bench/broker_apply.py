#!/usr/bin/env python3
"""No-change apply of a large broker definition: this project's message_broker.defined next to
core Salt's rabbitmq_vhost/user/policy states, on the same definition, in one run.

As root after bin/setup, with the host's RabbitMQ (it is reconfigured and left with the bench
definition; apply the highstate afterwards to restore the default broker):

    .venv/bin/python bench/broker_apply.py [--vhosts 50 --users 200 --policies 50] [--runs 3] [--skip-core]

Each variant applies once to converge, then times ``--runs`` no-change applies (wall time of
salt-call) and counts states reporting changes and rabbitmqctl processes started (sampled from
/proc, so a lower bound). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# A Salt node of the bench's own: tests/support's, the one the host tier's broker tests use.
sys.path[:0] = [os.path.join(PROJECT, "tests", "support")]
from common import command_lines, password, sampling  # noqa: E402
from salt_node import SaltNode  # noqa: E402


def definition(n_vhosts: int, n_users: int, n_policies: int, port: int, cookie: str) -> dict:
    vhosts = [f"bench{i:02d}" for i in range(n_vhosts)]
    users = {f"user{i:03d}": {"password": password(), "tags": ["monitoring"] if i % 10 == 0 else [],
                              "permissions": {vhosts[i % n_vhosts]: {"configure": ".*", "write": ".*", "read": ".*"}}}
             for i in range(n_users)}
    policies = {f"pol{i:02d}": {"vhost": vhosts[i % n_vhosts], "pattern": f"^q{i}\\.", "priority": 1,
                                "apply_to": "queues" if i % 2 else "all",
                                "definition": {"delivery-limit": 5} if i % 2 else {"max-length": 1000}}
                for i in range(n_policies)}
    return {"address": "127.0.0.1", "port": port, "erlang_cookie": cookie, "vhosts": vhosts, "users": users,
            "policies": policies, "plugins": []}


def core_sls(broker: dict) -> str:
    """The same definition through core Salt's rabbitmq_* states (passwords from pillar)."""
    out = []
    for vhost in broker["vhosts"]:
        out.append(f"vhost-{vhost}:\n  rabbitmq_vhost.present:\n    - name: {vhost}\n")
    for name, user in broker["users"].items():
        perms = [{v: [p["configure"], p["write"], p["read"]]} for v, p in user["permissions"].items()]
        out.append(f"user-{name}:\n  rabbitmq_user.present:\n    - name: {name}\n"
                   f"    - password: {{{{ pillar['broker']['users']['{name}']['password'] }}}}\n"
                   f"    - tags: {json.dumps(user['tags'])}\n    - perms: {json.dumps(perms)}\n")
    for name, pol in broker["policies"].items():
        out.append(f"policy-{name}:\n  rabbitmq_policy.present:\n    - name: {name}\n    - vhost: {pol['vhost']}\n"
                   f"    - pattern: {json.dumps(pol['pattern'])}\n    - definition: {json.dumps(json.dumps(pol['definition']))}\n"
                   f"    - priority: {pol['priority']}\n    - apply_to: {pol['apply_to']}\n")
    return "\n".join(out)


class Env(SaltNode):
    """A Salt node with the broker definition as its pillar and the core variant's SLS in a
    state directory of its own, next to the project's state tree."""

    def __init__(self, base: str, broker: dict):
        states = os.path.join(base, "states")
        os.makedirs(states)
        super().__init__(base, "broker-bench", file_roots=[os.path.join(PROJECT, "salt"), states])
        self.set_top("broker")
        self.write_pillar("broker", {"broker": broker})
        with open(os.path.join(states, "bench_core.sls"), "w") as h:
            h.write(core_sls(broker))

    def apply(self, sls: str) -> tuple[float, int, int, int]:
        """(seconds, states, states with changes, rabbitmqctl processes seen)."""
        seen: set[int] = set()
        with sampling(lambda: seen.update(pid for pid, argv in command_lines() if b"rabbitmqctl" in b" ".join(argv)),
                      0.05):
            start = time.monotonic()
            proc = subprocess.run(self.command("--log-level=quiet", "state.apply", sls),
                                  capture_output=True, text=True, stdin=subprocess.DEVNULL)
            seconds = time.monotonic() - start
        result = json.loads(proc.stdout)["local"]
        if not isinstance(result, dict):
            raise SystemExit(f"{sls}: {result}")
        failed = [v["comment"][:300] for v in result.values() if v["result"] is False]
        if failed:
            raise SystemExit(f"{sls} failed: {failed[:3]}")
        return seconds, len(result), sum(1 for v in result.values() if v["changes"]), len(seen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--vhosts", type=int, default=50)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--policies", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--port", type=int, default=5672)
    parser.add_argument("--skip-core", action="store_true", help="only this project's state (core takes ~20 min)")
    args = parser.parse_args()
    # The host's cookie: another one would lock the default highstate's CLI calls out of the node.
    cookie = json.loads(subprocess.run([os.path.join(PROJECT, "bin", "salt-call"), "--out=json", "--log-level=quiet",
                                        "pillar.get", "broker:erlang_cookie", "unmask=True"],
                                       capture_output=True, text=True).stdout)["local"]
    broker = definition(args.vhosts, args.users, args.policies, args.port, cookie or password())
    env = Env(tempfile.mkdtemp(prefix="broker-bench-"), broker)
    env.sync()
    print(f"definition: {args.vhosts} vhosts, {args.users} users, {args.policies} policies")
    variants = [("message_broker.defined (broker)", "broker")]
    if not args.skip_core:
        variants.append(("core rabbitmq_* states", "bench_core"))
    for label, sls in variants:
        first = env.apply(sls)
        print(f"{label}: first apply {first[0]:.1f} s, {first[2]}/{first[1]} states changed, "
              f">= {first[3]} rabbitmqctl processes")
        times = []
        for _ in range(args.runs):
            seconds, states, changed, calls = env.apply(sls)
            times.append(seconds)
            print(f"{label}: no-change apply {seconds:.1f} s, {changed}/{states} states reported changes, "
                  f">= {calls} rabbitmqctl processes")
        print(f"{label}: best no-change apply {min(times):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
