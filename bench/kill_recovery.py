"""From a killed daemon to the daemon answering again, through each monitoring stack's path to
the same reaction: Graphite's (the service beacon of the masterless reactions' daemon, every
``reactions:interval`` s) and Prometheus's (the process exporter scraped, ServiceDown evaluated,
Alertmanager's webhook, the reactor). As root on an all-in-one node after bin/setup with the
default pillar (monitoring:backend both, Alertmanager on).

    .venv/bin/python bench/kill_recovery.py [--rounds 3] [--service carbon-cache --port 2003]

Each round kills the daemon (SIGKILL) once per path, alternating: for the Prometheus path the
service beacon is held (beacons.disable_beacon) so that only the alert can start it. The
service's reaction brake (min_interval) is cleared before each kill, as a first failure finds
it. Prints each path's seconds (kill to the port answering) and their medians' ratio. Exits
non-zero when a path does not bring the daemon back within --timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAMP = "/var/lib/devstack-salt/reactions/service-{}"


def salt_call(*args: str) -> dict:
    out = subprocess.run([f"{ROOT}/bin/salt-call", "--out=json", "--log-level=quiet", *args],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["local"]


def pid_by_comm(comm: str) -> int | None:
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() == comm:
                    return int(entry)
        except OSError:
            continue
    return None


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def round_trip(service: str, comm: str, port: int, timeout: float) -> float | None:
    """Kill the daemon; seconds until a new one answers on ``port`` (None: not within timeout)."""
    pid = pid_by_comm(comm)
    if pid is None or not answers(port):
        sys.exit(f"{service} is not running and answering before the kill")
    try:
        os.unlink(STAMP.format(service))
    except FileNotFoundError:
        pass
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while time.monotonic() - killed < timeout:
        new = pid_by_comm(comm)
        if new and new != pid and answers(port):
            return time.monotonic() - killed
        time.sleep(0.2)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--service", default="carbon-cache")
    parser.add_argument("--comm", default=None, help="the daemon's process name (default: the service's)")
    parser.add_argument("--port", type=int, default=2003)
    parser.add_argument("--timeout", type=float, default=240)
    args = parser.parse_args()
    comm = args.comm or args.service
    if not salt_call("monitoring.prometheus_config")["alertmanager"]:
        sys.exit("Alertmanager does not run here: apply the default pillar (monitoring:backend both) first")
    times: dict[str, list[float]] = {"graphite beacon": [], "prometheus alert": []}
    for number in range(args.rounds):
        for path in times:
            held = path == "prometheus alert"
            if held and not salt_call("beacons.disable_beacon", "service")["result"]:
                sys.exit("the service beacon could not be held")
            try:
                seconds = round_trip(args.service, comm, args.port, args.timeout)
            finally:
                if held:
                    salt_call("beacons.enable_beacon", "service")
            if seconds is None:
                salt_call("service.start", args.service)
                print(f"{path}: {args.service} not back within {args.timeout:.0f} s", file=sys.stderr)
                return 1
            times[path].append(seconds)
            print(f"round {number + 1} {path:17} {seconds:6.1f} s", flush=True)
            time.sleep(45)  # the alert resolved and its Alertmanager group gone before the next kill
    graphite, prom = (statistics.median(values) for values in times.values())
    print(f"\nkill to {args.service} answering again, median of {args.rounds}: graphite beacon {graphite:.1f} s, "
          f"prometheus alert {prom:.1f} s, ratio prometheus/graphite {prom / graphite:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
