"""
Wall time of a no-change ``state.apply devstack`` next to a bare ``test.ping``.

Both go through bin/salt-call (this project's own Salt configuration), so the difference is what
the devstack role costs on a converged node: rendering the SLS, building and rendering local.conf
from the pillar, comparing it with the file, and the user and directory states. First one apply
converges the node and a second, with ``--out=json``, must report zero changes (exit 1 if not);
then the two commands run alternately, so drift in the machine's load hits both alike. Timings
are only reported, never asserted.

Needs root after bin/setup (``.salt/minion`` exists, modules synced with saltutil.sync_all).

Usage::

    .venv/bin/python bench/apply_noop.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from figures import table

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SALT_CALL = os.path.join(PROJECT, "bin", "salt-call")
APPLY = ("state.apply", "devstack")
PING = ("test.ping",)


def salt_call(args: tuple[str, ...], out: str = "json", capture: bool = False) -> subprocess.CompletedProcess:
    """Run bin/salt-call quietly with the given function and outputter; raise on failure."""
    command = [SALT_CALL, "--log-level=quiet", f"--out={out}", *args]
    result = subprocess.run(
        command,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()}")
    return result


def timed(args: tuple[str, ...], out: str) -> float:
    """Wall time of one salt-call run in milliseconds."""
    start = time.perf_counter()
    salt_call(args, out)
    return (time.perf_counter() - start) * 1000.0


def converged_report() -> tuple[int, int, list[str]]:
    """Apply once with --out=json; return (states, states with changes, states that failed)."""
    result = salt_call(APPLY, out="json", capture=True)
    states = json.loads(result.stdout)["local"]
    if not isinstance(states, dict):
        raise RuntimeError(f"state.apply devstack did not return states: {states!r}")
    changed = [sid for sid, state in states.items() if state.get("changes")]
    failed = [sid for sid, state in states.items() if state.get("result") is not True]
    return len(states), len(changed), failed



def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--runs", type=int, default=7, help="timed runs of each command, interleaved (default 7)")
    parser.add_argument(
        "--out", default="json",
        help="outputter for the timed runs (default json; stdout is discarded either way)",
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("apply_noop.py: run as root (the devstack role manages a user and /opt/stack)", file=sys.stderr)
        return 2
    if not os.path.exists(os.path.join(PROJECT, ".salt", "minion")):
        print("apply_noop.py: no .salt/minion; run bin/setup first", file=sys.stderr)
        return 2

    salt_call(APPLY)  # converge, whatever the state of the node was
    states, changed, failed = converged_report()
    print(f"no-change check: state.apply devstack --out=json reported {states} states, {changed} with changes, "
          f"{len(failed)} not successful")
    if changed or failed:
        print("the node does not converge: a second apply still changes or fails something", file=sys.stderr)
        return 1

    apply_times: list[float] = []
    ping_times: list[float] = []
    for _ in range(args.runs):
        apply_times.append(timed(APPLY, args.out))
        ping_times.append(timed(PING, args.out))
    apply_label = f"salt-call --out={args.out} state.apply devstack"
    ping_label = f"salt-call --out={args.out} test.ping"
    print(table([(apply_label, apply_times), (ping_label, ping_times)]))
    ratio = statistics.median(apply_times) / statistics.median(ping_times)
    extra = statistics.median(apply_times) - statistics.median(ping_times)
    print(f"ratio median(apply) / median(ping): {ratio:.2f} (apply costs {extra:.0f} ms more)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
