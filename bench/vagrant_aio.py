#!/usr/bin/env python3
"""The all-in-one node to a verified DevStack two ways, in one run on the same host, the same
package cache and the same pillar (stacking from the local mirrors):

- Vagrant: ``vagrant up`` of the project's Vagrantfile under its LXC provider in a clean clone
  (tests/support/vagrant_lxc.py: the box made from the machine tier's root fs), what a laptop
  user runs; then ``vagrant provision`` (bin/setup once more: zero changes, no stack);
- the machine harness (tests/support/harness.py): a clean clone on a fresh machine's disk, the
  machine booted, ``bin/setup`` inside, what the machine tier did before it used Vagrant.

Each ends with the same verification (a Keystone token and a Swift object round trip, the
machine tier's probe) and is timed from nothing (the shared root fs and box aside, printed on
their own) to a verified node; the ratio is Vagrant's time over the harness's, pair by pair.
``--runs N`` pairs, the first of each pair alternating, so neither always meets the colder cache.

Run as root on a host that can boot machines (as the machine tier):

    .venv/bin/python bench/vagrant_aio.py [--runs 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import machines  # the machine tier's harness (tests/support), on sys.path from here on
import vagrant_lxc
from figures import timed
from machine_node import SITE, Node, install_project


def by_vagrant(fleet, mirrors: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    env_seconds, env = timed(vagrant_lxc.Environment, fleet.cache, mirrors, SITE)
    figures["clean clone, box added"] = env_seconds
    try:
        figures["vagrant up (boot, bin/setup with stack.sh)"], up = timed(env.up)
        if up["rc"] != 0:
            raise SystemExit(f"vagrant up failed:\n{up['tail']}")
        node = Node(env.machine("aio"), checkout=vagrant_lxc.VAGRANT_CHECKOUT)
        stamp = node.stamp()
        figures["stack.sh itself"] = stamp["seconds"]
        figures["verification (token, object)"], _ = timed(node.probe)
        figures["vagrant provision again (no change)"], again = timed(env.provision, "aio")
        if again["rc"] != 0 or node.stamp() != stamp:
            raise SystemExit(f"the second provision failed or stacked:\n{again['tail']}")
    finally:
        figures["vagrant destroy -f"], _ = timed(env.close)
    return figures


def by_harness(fleet) -> dict[str, float]:
    figures: dict[str, float] = {}
    machine = fleet.machine("bench")
    try:
        figures["clean clone on the machine's disk"], _ = timed(install_project, machine, SITE)
        figures["boot"], _ = timed(machine.boot)
        node = Node(machine)
        figures["bin/setup (with stack.sh)"], setup = timed(node.setup)
        if setup["rc"] != 0:
            raise SystemExit(f"bin/setup failed:\n{setup['tail']}")
        figures["stack.sh itself"] = node.stamp()["seconds"]
        figures["verification (token, object)"], _ = timed(node.probe)
    finally:
        figures["machine removed"], _ = timed(fleet.discard, machine)
    return figures


#: What counts to "a verified node" on each side (clean clone to probe).
TOTALS = {"vagrant": ("clean clone, box added", "vagrant up (boot, bin/setup with stack.sh)", "verification (token, object)"),
          "harness": ("clean clone on the machine's disk", "boot", "bin/setup (with stack.sh)", "verification (token, object)")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="pairs (Vagrant, harness), the first of each alternating")
    args = parser.parse_args()
    if not machines.ready():  # LXC runs where the harness's machines do
        return 2
    vagrant_lxc.install_host_tools()
    runs: list[dict[str, dict[str, float]]] = []
    with machines.fleet("bench-vagrant-", fresh_cache=False) as (fleet, tmp, rootfs):
        box, _ = timed(vagrant_lxc.cached_box)
        print(f"root fs {rootfs:.1f} s, LXC box {box:.1f} s (shared, built once, cached between runs)")
        mirrors = f"{tmp}/mirrors"
        for run in range(args.runs):
            order = ("vagrant", "harness") if run % 2 == 0 else ("harness", "vagrant")
            pair = {}
            for way in order:
                pair[way] = by_vagrant(fleet, mirrors) if way == "vagrant" else by_harness(fleet)
            runs.append(pair)
            print(f"pair {run + 1} ({order[0]} first):")
            for way in ("vagrant", "harness"):
                total = sum(pair[way][key] for key in TOTALS[way])
                print(f"  {way}: to a verified node {total:8.1f} s")
                for name, value in pair[way].items():
                    print(f"    {name:46s} {value:8.1f} s")
    ratios = [sum(p["vagrant"][k] for k in TOTALS["vagrant"]) / sum(p["harness"][k] for k in TOTALS["harness"])
              for p in runs]
    print(f"vagrant up / harness, to a verified node, pair by pair: median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}, {len(ratios)} pairs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
