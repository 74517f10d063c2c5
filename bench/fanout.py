"""
Wall time and memory of ``salt '*' state.apply devstack`` from one master to 1, 5 and 20 minions.

For every fleet size a fresh SaltCloud (tests/support/salt_cloud.py: a real salt-master on loopback
ports and real salt-minions, each with its own root_dir) comes up under
/var/tmp/devstack-salt-fanout-<random>. Every minion gets a DevStack node of its own from one
Jinja pillar SLS: user fanNN, DEST under the base dir, ``stack: false`` (nothing is cloned or
stacked), keystone and swift only. The bench times a first apply (it creates the users, sudoers
files and directories) and ``--runs`` no-change applies, checking in the ``--out=json`` return
that every minion answered, nothing failed and, for the no-change applies, nothing changed
(exit 1 if not). Right after the last no-change apply it sums the PSS (/proc/<pid>/smaps_rollup)
of the master's process tree and of each minion's tree (children found through /proc/*/stat).

Next to the wall time it reports what explains it: the CPU seconds the master's tree, the
minions' trees and the salt CLI spent during the no-change applies (utime + stime of the live
processes plus cutime + cstime of the children they reaped), and how far the minions' state
runs overlapped in time (from each state's ``start_time`` and ``duration``): a concurrency near
1 would mean something serialises the minions, CPU seconds near wall time x cores mean the
machine is simply busy. Timings are only reported, never asserted.

On one small host all minions share the master's cores, so the fleet's own CPU sets the wall
time. ``--cpu-per-minion F`` emulates a fleet of separate machines instead: before the no-change
applies, each minion's process tree goes into a cgroup of its own capped at F of a core (CFS
quota, cgroup v1 ``cpu`` controller), and the master with the salt CLI into one capped at
``--master-cpus``. Every minion then runs at the same (slow) speed whatever the fleet size, as on
identical machines, and the ratio shows how the master copes with serving them in parallel. The
caps are for the measurement only (startup, sync and the first apply run uncapped), and the
groups are removed afterwards.

Needs root (users, /etc/sudoers.d). Afterwards every daemon is stopped by its PID, the base dir
removed, and the fanNN users, groups and sudoers files deleted, also when a step fails.

Usage::

    .venv/bin/python bench/fanout.py [--sizes 1,5,20] [--runs 3] [--worker-threads N] [--timeout 600]
                                     [--cpu-per-minion 0.05 --master-cpus 1]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pwd
import resource
import statistics
import subprocess
import sys
import time
import uuid

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The master and minions of tests/support, the ones the host tier's topology tests use.
sys.path[:0] = [os.path.join(PROJECT, "tests", "support")]
from common import password  # noqa: E402
from salt_cloud import SaltCloud  # noqa: E402
from salt_node import VENV_BIN  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def minion_ids(size: int) -> list[str]:
    width = max(2, len(str(size)))
    return [f"m{i:0{width}d}" for i in range(1, size + 1)]


def user_of(minion_id: str) -> str:
    return f"fan{minion_id[1:]}"


def pillar_sls(base: str) -> str:
    """One pillar SLS for every minion; the minion id picks the user and DEST."""
    return (
        "{%- set id = grains['id'] %}\n"
        "devstack:\n"
        "  user: fan{{ id[1:] }}\n"
        f"  dest: {base}/stack/{{{{ id }}}}\n"
        "  stack: false\n"
        "  disable_all_services: true\n"
        "  services:\n"
        "    keystone: true\n"
        "    swift: true\n"
        "  localrc:\n"
        f"    ADMIN_PASSWORD: {password(20)}\n"
        "    SERVICE_PASSWORD: {ref: ADMIN_PASSWORD}\n"
        f"    SWIFT_HASH: {password(32)}\n"
    )


# --- processes -------------------------------------------------------------------------------

def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, CPU seconds: utime + stime + cutime + cstime) for every process."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # the command name may hold spaces
        ppid = int(fields[1])
        ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        table[int(entry)] = (ppid, ticks / CLOCK_TICKS)
    return table


def tree(root: int, table: dict[int, tuple[int, float]]) -> list[int]:
    """root and all its descendants."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            found.append(pid)
            todo.extend(children.get(pid, []))
    return found


def pss_mb(pids: list[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            pass
    return total_kb / 1024.0


def host_busy() -> float:
    """CPU seconds this host has been busy (all cores, every process), from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def cpu_of_trees(cloud: SaltCloud) -> tuple[float, float]:
    """CPU seconds so far of the master's tree and of all the minions' trees together."""
    table = process_table()
    pids = cloud.pids()
    master = sum(table[pid][1] for pid in tree(pids.pop("master", -1), table))
    minions = sum(table[pid][1] for root in pids.values() for pid in tree(root, table))
    return master, minions


CGROUP_CPU = "/sys/fs/cgroup/cpu"  # cgroup v1's cpu controller (CFS bandwidth)
CFS_PERIOD_US = 100_000


class CpuCaps:
    """CPU caps for process trees, one cgroup each under CGROUP_CPU/devstack-salt-fanout-<id>."""

    def __init__(self) -> None:
        if not os.path.exists(os.path.join(CGROUP_CPU, "cpu.cfs_quota_us")):
            raise RuntimeError(f"no cgroup v1 cpu controller at {CGROUP_CPU}: --cpu-per-minion needs it")
        self.base = os.path.join(CGROUP_CPU, f"devstack-salt-fanout-{uuid.uuid4().hex[:8]}")
        os.mkdir(self.base)
        self.groups: dict[str, str] = {}

    def cap(self, name: str, cpus: float) -> str:
        path = os.path.join(self.base, name)
        os.mkdir(path)
        with open(os.path.join(path, "cpu.cfs_period_us"), "w") as handle:
            handle.write(str(CFS_PERIOD_US))
        with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as handle:
            handle.write(str(max(1000, int(cpus * CFS_PERIOD_US))))
        self.groups[name] = path
        return path

    def move(self, name: str, pids: list[int]) -> None:
        for pid in pids:
            try:
                with open(os.path.join(self.groups[name], "cgroup.procs"), "w") as handle:
                    handle.write(str(pid))
            except ProcessLookupError:
                pass

    def remove(self) -> None:
        """Every process back to the root group, then the groups removed."""
        for path in list(self.groups.values()):
            try:
                with open(os.path.join(path, "cgroup.procs")) as handle:
                    pids = handle.read().split()
            except OSError:
                pids = []
            for pid in pids:
                try:
                    with open(os.path.join(CGROUP_CPU, "cgroup.procs"), "w") as handle:
                        handle.write(pid)
                except OSError:
                    pass
            try:
                os.rmdir(path)
            except OSError:
                pass
        try:
            os.rmdir(self.base)
        except OSError:
            pass


# --- the applies -----------------------------------------------------------------------------

def run_salt(cloud: SaltCloud, timeout: int, *args: str, cgroup: str | None = None) -> tuple[float, float, dict]:
    """``salt`` with JSON output (in ``cgroup`` when given); return (wall s, CLI CPU s, parsed output)."""

    def enter_cgroup() -> None:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as handle:
            handle.write(str(os.getpid()))

    command = [f"{VENV_BIN}/salt", "-c", cloud.master_dir, "--out=json", "--static", "--log-level=quiet",
               f"--timeout={timeout}", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout + 60,
                          preexec_fn=enter_cgroup if cgroup else None)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cli_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        return wall, cli_cpu, json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError(f"salt {' '.join(args)} exited {proc.returncode}: "
                           f"{proc.stdout[-2000:]} {proc.stderr[-2000:]}") from None


def check_return(out: dict, ids: list[str], no_change: bool) -> list[str]:
    """Problems with a state.apply return: minions missing, states failed or (no_change) changed."""
    problems = [f"{m}: no return" for m in ids if m not in out]
    for minion, states in out.items():
        if not isinstance(states, dict) or not states:
            problems.append(f"{minion}: {str(states)[:300]}")
            continue
        failed = [sid for sid, state in states.items() if state.get("result") is not True]
        changed = [sid for sid, state in states.items() if state.get("changes")]
        if failed:
            problems.append(f"{minion}: failed {failed}")
        if no_change and changed:
            problems.append(f"{minion}: changed {changed}")
    return problems


def overlap(out: dict) -> tuple[float, float, float]:
    """(mean state-run window per minion s, span of all windows s, mean concurrency).

    A minion's window runs from its first state's start_time to the end of its last state;
    concurrency = sum of the windows / the span from the first start to the last end.
    """
    windows = []
    for states in out.values():
        starts, ends = [], []
        for state in states.values():
            start = datetime.datetime.strptime(state["start_time"], "%H:%M:%S.%f")
            starts.append(start)
            ends.append(start + datetime.timedelta(milliseconds=float(state.get("duration") or 0)))
        windows.append((min(starts), max(ends)))
    lengths = [(end - start).total_seconds() for start, end in windows]
    span = (max(end for _, end in windows) - min(start for start, _ in windows)).total_seconds()
    return statistics.mean(lengths), span, (sum(lengths) / span if span > 0 else 1.0)


def per_state_ms(out: dict) -> dict[str, float]:
    """Mean duration in ms of each state ID across the minions."""
    durations: dict[str, list[float]] = {}
    for states in out.values():
        for state in states.values():
            durations.setdefault(state["__id__"], []).append(float(state.get("duration") or 0))
    return {sid: statistics.mean(values) for sid, values in durations.items()}


# --- one fleet size --------------------------------------------------------------------------

def cleanup_users(users: list[str]) -> None:
    for user in users:
        subprocess.run(["pkill", "-KILL", "-u", user], capture_output=True)
        subprocess.run(["userdel", user], capture_output=True)
        subprocess.run(["groupdel", user], capture_output=True)
        sudoers = f"/etc/sudoers.d/devstack-{user}"
        if os.path.exists(sudoers):
            os.unlink(sudoers)


def measure(size: int, args: argparse.Namespace) -> dict:
    ids = minion_ids(size)
    users = [user_of(m) for m in ids]
    base = f"/var/tmp/devstack-salt-fanout-{uuid.uuid4().hex[:8]}"
    os.makedirs(base)
    os.chmod(base, 0o755)  # the fanNN users reach their DEST below it
    cloud = SaltCloud(base)
    caps = None
    try:
        if args.worker_threads:
            with open(cloud.master_config) as handle:
                config = json.load(handle)
            config["worker_threads"] = args.worker_threads
            with open(cloud.master_config, "w") as handle:
                json.dump(config, handle)
        with open(os.path.join(cloud.pillar_dir, "fanout.sls"), "w") as handle:
            handle.write(pillar_sls(base))
        with open(os.path.join(cloud.pillar_dir, "top.sls"), "w") as handle:
            handle.write("base:\n  '*':\n    - fanout\n")
        cloud.start_master()
        for i, minion_id in enumerate(ids, start=1):
            cloud.add_minion(minion_id, f"127.0.1.{i}")
        cloud.start_minions(timeout=120 + 10 * size)
        _, _, synced = run_salt(cloud, args.timeout, "*", "saltutil.sync_all")
        if set(synced) != set(ids):
            raise RuntimeError(f"saltutil.sync_all answered by {sorted(synced)}, expected {ids}")

        first_wall, _, out = run_salt(cloud, args.timeout, "*", "state.apply", "devstack")
        problems = check_return(out, ids, no_change=False)
        if problems:
            raise RuntimeError("first apply: " + "; ".join(problems[:10]))

        cli_group = None
        if args.cpu_per_minion:
            caps = CpuCaps()
            table = process_table()
            pids = cloud.pids()
            cli_group = caps.cap("master", args.master_cpus)
            caps.move("master", tree(pids.pop("master"), table))
            for minion_id, pid in pids.items():
                caps.cap(minion_id, args.cpu_per_minion)
                caps.move(minion_id, tree(pid, table))

        walls, cpu_master, cpu_minions, cpu_cli, cpu_host, overlaps = [], [], [], [], [], []
        for _ in range(args.runs):
            master_before, minions_before = cpu_of_trees(cloud)
            host_before = host_busy()
            wall, cli, out = run_salt(cloud, args.timeout, "*", "state.apply", "devstack", cgroup=cli_group)
            host_after = host_busy()
            master_after, minions_after = cpu_of_trees(cloud)
            problems = check_return(out, ids, no_change=True)
            if problems:
                raise RuntimeError("no-change apply: " + "; ".join(problems[:10]))
            walls.append(wall)
            cpu_master.append(master_after - master_before)
            cpu_minions.append(minions_after - minions_before)
            cpu_cli.append(cli)
            cpu_host.append(host_after - host_before)
            overlaps.append(overlap(out))
            applied = out

        # The dispatch alone: every minion answers test.ping (no state run), for comparison.
        pings = []
        for _ in range(args.runs):
            wall, _, out = run_salt(cloud, args.timeout, "*", "test.ping", cgroup=cli_group)
            if sorted(m for m, ok in out.items() if ok is True) != ids:
                raise RuntimeError(f"test.ping answered by {sorted(out)}, expected {ids}")
            pings.append(wall)

        table = process_table()
        pids = cloud.pids()
        master_pss = pss_mb(tree(pids.pop("master"), table))
        minion_pss = [pss_mb(tree(pid, table)) for pid in pids.values()]
        pick = walls.index(sorted(walls)[len(walls) // 2])  # the median run's details
        return {
            "size": size, "first": first_wall, "noop": statistics.median(walls), "noop_all": walls,
            "master_pss": master_pss, "minion_pss": statistics.mean(minion_pss),
            "cpu_master": cpu_master[pick], "cpu_minions": cpu_minions[pick], "cpu_cli": cpu_cli[pick],
            "cpu_other": max(0.0, cpu_host[pick] - cpu_master[pick] - cpu_minions[pick] - cpu_cli[pick]),
            "window": overlaps[pick][0], "span": overlaps[pick][1], "concurrency": overlaps[pick][2],
            "states": per_state_ms(applied), "ping": statistics.median(pings),
        }
    finally:
        if caps:
            caps.remove()
        cloud.cleanup()
        cleanup_users(users)


# --- report ----------------------------------------------------------------------------------

def report(rows: list[dict], cores: int, args: argparse.Namespace) -> str:
    one = next((row["noop"] for row in rows if row["size"] == 1), None)
    ping_one = next((row["ping"] for row in rows if row["size"] == 1), None)
    lines = [f"{'minions':>7} | {'first apply s':>13} | {'no-change apply s':>17} | {'ratio to 1 minion':>17} | "
             f"{'test.ping s':>11} | {'ping ratio':>10} | {'master PSS MB':>13} | {'mean minion PSS MB':>18}"]
    for row in rows:
        ratio = f"{row['noop'] / one:.2f}" if one else "-"
        ping_ratio = f"{row['ping'] / ping_one:.2f}" if ping_one else "-"
        lines.append(f"{row['size']:>7} | {row['first']:>13.2f} | {row['noop']:>17.2f} | {ratio:>17} | "
                     f"{row['ping']:>11.2f} | {ping_ratio:>10} | "
                     f"{row['master_pss']:>13.1f} | {row['minion_pss']:>18.1f}")
    if args.cpu_per_minion:
        lines.append(f"emulated separate machines: each minion capped at {args.cpu_per_minion} of a core, "
                     f"master + salt CLI at {args.master_cpus} (cgroup CPU quota), during the no-change applies and test.ping")
    lines.append("")
    lines.append(f"no-change apply, median run ({cores} cores): CPU seconds spent and how the minions' state runs overlapped")
    lines.append(f"{'minions':>7} | {'runs s':>20} | {'CPU master':>10} | {'CPU minions':>11} | {'CPU cli':>7} | "
                 f"{'CPU others':>10} | {'floor s':>7} | {'state run s/minion':>18} | {'states span s':>13} | "
                 f"{'concurrency':>11}")
    for row in rows:
        ours = row["cpu_master"] + row["cpu_minions"] + row["cpu_cli"]
        runs = " ".join(f"{wall:.1f}" for wall in row["noop_all"])
        lines.append(f"{row['size']:>7} | {runs:>20} | {row['cpu_master']:>10.1f} | {row['cpu_minions']:>11.1f} | "
                     f"{row['cpu_cli']:>7.1f} | {row['cpu_other']:>10.1f} | {ours / cores:>7.2f} | "
                     f"{row['window']:>18.2f} | {row['span']:>13.2f} | {row['concurrency']:>11.2f}")
    lines.append("floor s: our CPU seconds (master + minions + cli) / cores, the least wall time this host needs for them;"
                 " CPU others: the rest of the host's busy time meanwhile")
    lines.append("")
    lines.append("mean duration per state (ms) in the median no-change run")
    sids = list(rows[0]["states"])
    width = max(len(sid) for sid in sids)
    lines.append(f"{'state':<{width}} | " + " | ".join(f"{row['size']:>4} min" for row in rows))
    for sid in sids:
        lines.append(f"{sid:<{width}} | " + " | ".join(f"{row['states'].get(sid, 0):>8.0f}" for row in rows))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--sizes", default="1,5,20", help="fleet sizes, comma-separated (default 1,5,20)")
    parser.add_argument("--runs", type=int, default=3, help="no-change applies per size; the median is reported (default 3)")
    parser.add_argument("--worker-threads", type=int, default=0,
                        help="the master's worker_threads (default: SaltCloud's, 4)")
    parser.add_argument("--timeout", type=int, default=600, help="salt --timeout of every call, in s (default 600)")
    parser.add_argument("--cpu-per-minion", type=float, default=0.0, metavar="F",
                        help="emulate separate machines: cap each minion at F of a core during the measurement")
    parser.add_argument("--master-cpus", type=float, default=1.0, metavar="N",
                        help="with --cpu-per-minion: the cap of the master and the salt CLI (default 1)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if os.geteuid() != 0:
        print("fanout.py: run as root (the devstack role manages users and /etc/sudoers.d)", file=sys.stderr)
        return 2
    existing = []
    for user in {user_of(m) for size in sizes for m in minion_ids(size)}:
        try:
            pwd.getpwnam(user)
            existing.append(user)
        except KeyError:
            pass
    if existing:
        print(f"fanout.py: users {sorted(existing)} exist already (another run, or a crashed one?): "
              "remove them first (userdel, /etc/sudoers.d/devstack-<user>)", file=sys.stderr)
        return 2

    rows = []
    for size in sizes:
        try:
            rows.append(measure(size, args))
        except (RuntimeError, AssertionError, subprocess.TimeoutExpired) as error:
            print(f"fanout.py: {size} minions: {error}", file=sys.stderr)
            return 1
        print(f"{size} minions: first apply {rows[-1]['first']:.2f} s, no-change "
              + ", ".join(f"{wall:.2f}" for wall in rows[-1]["noop_all"]) + " s", flush=True)
    print(report(rows, os.cpu_count() or 1, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
