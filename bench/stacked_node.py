#!/usr/bin/env python3
"""A stacked DevStack node, timed on a booted systemd machine (tests/support/harness.py):

1. from nothing to a verified node: the root fs (debootstrap, in a fresh cache), the machine's
   boot, ``bin/setup`` with stacking on (packages, .venv, the highstate with a real stack.sh),
   and the probe that gets a Keystone token and round-trips a Swift object;
2. the no-change ``state.apply`` of the stacked node next to ``test.ping``, in turns, with the
   ratio taken pair by pair;
3. a post-config-only change (Keystone's token lifetime, a Swift proxy option), made and undone
   in place ``--changes`` times each way: through the highstate (``state.apply``, what an
   operator runs) and through ``devstack.stacked`` alone (``state.single``, its local.conf
   written first); against a re-stack for the same change through the same state with
   ``force=True`` (stack.sh), with the ratio of the re-stack to the median of each;
4. the ``state.apply`` that re-stacks after a change of meaning (a localrc variable).

Run as root on a host that can boot machines (as the machine tier):

    .venv/bin/python bench/stacked_node.py [--runs 5] [--changes 3] [--reuse-rootfs]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import machines  # the machine tier's harness (tests/support), on sys.path from here on
from figures import timed
from machine_node import SITE, SITE_TUNED, Node, install_project


#: devstack.stacked alone, as the DevStack role's SLS declares it (salt/devstack/init.sls).
STACKED = ("devstack.stacked", "name=/opt/stack/devstack")


def in_place(states: dict) -> dict | None:
    """The in-place change devstack.stacked made in a state run ({"merged", "restarted",
    "seconds"}), None when it made none."""
    for key, state in states.items():
        if key.startswith("devstack_|-") and key.endswith("_|-stacked") and "in place" in state["changes"]:
            assert state["comment"].startswith("changed in place"), state["comment"]
            return state["changes"]["in place"]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="pairs of no-change apply and test.ping")
    parser.add_argument("--changes", type=int, default=3,
                        help="times the post-config change is made and undone in place, each way")
    parser.add_argument("--reuse-rootfs", action="store_true", help="time the root fs from the cache, not afresh")
    args = parser.parse_args()
    if not machines.ready():
        return 2
    figures: dict[str, float] = {}
    with machines.fleet("bench-stacked-", fresh_cache=not args.reuse_rootfs) as (fleet, _tmp, rootfs):
        figures["root fs"] = rootfs
        machine = fleet.machine("bench")
        install_project(machine, SITE)
        figures["boot"], _ = timed(machine.boot)
        node = Node(machine)
        figures["bin/setup (with stack.sh)"], setup = timed(node.setup)
        if setup["rc"] != 0:
            print(f"bin/setup failed:\n{setup['tail']}", file=sys.stderr)
            return 1
        figures["stack.sh itself"] = node.stamp()["seconds"]
        figures["verification (token, object)"], _ = timed(node.probe)
        applies, pings, ratios = [], [], []
        for _ in range(args.runs):
            apply_s, result = timed(node.apply)
            assert result["changed"] == {}, result["changed"]
            ping_s, _ = timed(node.salt, "test.ping")
            applies.append(apply_s)
            pings.append(ping_s)
            ratios.append(apply_s / ping_s)
        # The post-config change, made in place and undone in place, --changes times each way:
        # through the highstate (what an operator runs), and through the DevStack role's
        # devstack.stacked alone (state.single, local.conf written first by its own state),
        # the state the re-stack below goes through too (force=True).
        in_place_apply, in_place_state, state_seconds = [], [], []
        for _ in range(args.changes):
            for pillar in (SITE_TUNED, SITE):
                node.put_site_pillar(pillar)
                seconds, tuned = timed(node.apply)
                assert tuned["rc"] == 0 and in_place(tuned["states"]), tuned["changed"]
                in_place_apply.append(seconds)
        for _ in range(args.changes):
            for pillar in (SITE_TUNED, SITE):
                node.put_site_pillar(pillar)
                node.salt("state.sls_id", "devstack-local-conf", "devstack")
                seconds, (rc, states) = timed(node.salt, "state.single", *STACKED)
                made = in_place(states)
                assert rc == 0 and made, states
                in_place_state.append(seconds)
                state_seconds.append(made["seconds"])
        node.put_site_pillar(SITE_TUNED)
        node.salt("state.sls_id", "devstack-local-conf", "devstack")
        figures["the same change by re-stack (devstack.stacked force=True)"], (rc, states) = timed(
            node.salt, "state.single", *STACKED, "force=True")
        ran = [v["changes"].get("stack.sh", {}) for v in states.values()]
        assert rc == 0 and ran and ran[0].get("outcome") == "success", states
        node.put_site_pillar(SITE + "    LOG_COLOR: false\n")
        figures["re-stack after a change of meaning (apply)"], restack = timed(node.apply)
        assert any("stack.sh" in c for c in restack["changed"].values()), restack["changed"]
    total = sum(figures[k] for k in ("root fs", "boot", "bin/setup (with stack.sh)", "verification (token, object)"))
    print(f"{'from nothing to a verified node':45s} {total:8.1f} s")
    for name, value in figures.items():
        print(f"  {name:43s} {value:8.1f} s")
    print(f"no-change state.apply of the stacked node: median {statistics.median(applies):.2f} s "
          f"(min {min(applies):.2f}, max {max(applies):.2f}, {args.runs} runs)")
    print(f"test.ping on the same node:                median {statistics.median(pings):.2f} s "
          f"(min {min(pings):.2f}, max {max(pings):.2f})")
    print(f"apply / ping, pair by pair:                median {statistics.median(ratios):.2f} "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
    by_restack = figures["the same change by re-stack (devstack.stacked force=True)"]
    for name, values in (("post-config change in place, highstate", in_place_apply),
                         ("post-config change in place, devstack.stacked", in_place_state),
                         ("  of it, merge + restart + wait (state's own)", state_seconds)):
        print(f"{name:45s} median {statistics.median(values):.2f} s (min {min(values):.2f}, max {max(values):.2f}, "
              f"{len(values)} changes)")
    for name, values in (("highstate", in_place_apply), ("devstack.stacked", in_place_state)):
        print(f"post-config change: re-stack / in place ({name}): {by_restack / statistics.median(values):.1f} "
              f"({by_restack:.1f} s against the median {statistics.median(values):.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
