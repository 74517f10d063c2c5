#!/usr/bin/env python3
"""The decoupled cloud of the Vagrantfile's multi-node layout, timed on four booted systemd
machines (tests/support/machine_cloud.py, the machine tier's own):

1. from four fresh machines to a verified cloud, step by step: the machines (keys made, disks
   copied, booted, each node's keys put in), ``bin/cluster`` on every node at once (packages,
   .venv, the daemons, until the master sees every minion), ``orch.deploy`` on the master with
   each of its steps as it reports them (stack.sh on devstack1 inside the last one, shown on its
   own), and the probe of devstack1 (a Keystone token, a Swift object);
2. the cattle re-create: devstack1 destroyed, a fresh machine with the same id provisioned with
   the same command and keys, and the master's ``orch.deploy`` bringing it back to a verified
   node.

The packages come through the run's package cache (harness.PackageCache): with ``--cold`` it
starts empty (its cache folders in a temporary directory), as on a fresh CI machine.

    .venv/bin/python bench/cloud.py [--cold]
"""

from __future__ import annotations

import argparse
import os
import sys

import machines  # the machine tier's harness (tests/support), on sys.path from here on
from figures import timed
from machine_cloud import MachineCloud, step_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="an empty package cache and root fs (a fresh CI machine)")
    args = parser.parse_args()
    if not machines.ready():
        return 2
    figures: dict[str, float] = {}
    with machines.fleet("bench-cloud-", fresh_cache=args.cold) as (fleet, tmp, rootfs):
        figures["root fs"] = rootfs
        cloud = MachineCloud(fleet, os.path.join(tmp, "keys"))
        figures["machines (4, booted)"], _ = timed(cloud.boot)
        figures["bin/cluster (4 at once)"], _ = timed(cloud.provision)
        figures["orch.deploy"], (rc, steps) = timed(cloud.orchestrate)
        if rc != 0:
            print(f"orch.deploy failed: {[v['comment'] for v in steps.values() if v['result'] is not True]}",
                  file=sys.stderr)
            return 1
        stack = cloud.nodes["devstack1"].stamp().get("seconds", 0.0)
        figures["verification (token, object)"], _ = timed(cloud.nodes["devstack1"].probe)
        recreate, _ = timed(cloud.recreate, "devstack1")
        redeploy, (rc2, _) = timed(cloud.orchestrate)
        verify2 = timed(cloud.nodes["devstack1"].probe)[0] if rc2 == 0 else 0.0
    total = sum(figures.values())
    print(f"{'four fresh machines to a verified cloud':45s} {total:8.1f} s")
    for name, value in figures.items():
        print(f"  {name:43s} {value:8.1f} s")
        if name == "orch.deploy":
            for step, seconds in step_seconds(steps).items():
                print(f"    {step:41s} {seconds:8.1f} s")
            print(f"    {'  of it, stack.sh on devstack1':41s} {stack:8.1f} s")
    print(f"{'devstack1 re-created to a verified node':45s} {recreate + redeploy + verify2:8.1f} s"
          f"{'' if rc2 == 0 else ' (orch.deploy failed)'}")
    print(f"  {'fresh machine and bin/cluster minion':43s} {recreate:8.1f} s")
    print(f"  {'orch.deploy':43s} {redeploy:8.1f} s")
    print(f"  {'verification (token, object)':43s} {verify2:8.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
