"""What each monitoring stack costs the node it runs on, over the same minutes: the resident
memory (PSS, so shared pages are split fairly) and the CPU time of Graphite's processes
(collectd, carbon-cache, graphite-web's gunicorn) and of Prometheus's (the server, the node,
mysqld and process exporters, Alertmanager where it runs), sampled side by side on an all-in-one node with
monitoring:backend both (the default pillar, after bin/setup).

    .venv/bin/python bench/monitoring_stacks.py [--minutes 5] [--interval 5]

Not counted: RabbitMQ's own rabbitmq_prometheus plugin and collectd's reader of the management
API live in the broker's Erlang VM; the masterless minion daemon runs the reactions of both.
Exits non-zero when a stack has no process running (the figures would mean nothing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

#: Each stack's processes: (what, test on (comm, command line)).
STACKS = {
    "graphite": [
        ("collectd", lambda comm, args: comm == "collectd"),
        ("carbon-cache", lambda comm, args: "carbon-cache" in args),
        ("graphite-web (gunicorn)", lambda comm, args: "devstack_salt_graphite:application" in args),
    ],
    "prometheus": [
        ("prometheus", lambda comm, args: comm == "prometheus"),
        ("node exporter", lambda comm, args: args.startswith("/usr/bin/prometheus-node-exporter")),
        ("mysqld exporter", lambda comm, args: args.startswith("/usr/bin/prometheus-mysqld-exporter")),
        ("process exporter", lambda comm, args: args.startswith("/usr/bin/prometheus-process-exporter")),
        ("alertmanager", lambda comm, args: args.startswith("/usr/bin/prometheus-alertmanager")),
    ],
}
TICKS = os.sysconf("SC_CLK_TCK")


def processes() -> dict[int, tuple[str, str]]:
    """Every process's (comm, command line), by PID; zombies have no command line and are left out."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                comm = handle.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                args = handle.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if args:
            found[int(entry)] = (comm, args)
    return found


def cpu_seconds(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def pss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def classify() -> dict[tuple[str, str], list[int]]:
    """{(stack, what): [PID, ...]} of the processes running now."""
    found: dict[tuple[str, str], list[int]] = {}
    for pid, (comm, args) in processes().items():
        for stack, parts in STACKS.items():
            for what, test in parts:
                if test(comm, args):
                    found.setdefault((stack, what), []).append(pid)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--interval", type=float, default=5)
    options = parser.parse_args()
    first_cpu: dict[int, float] = {}
    last_cpu: dict[int, float] = {}
    memory: dict[tuple[str, str], list[float]] = {}
    owner: dict[int, tuple[str, str]] = {}
    started = time.monotonic()
    samples = 0
    while samples == 0 or time.monotonic() - started < options.minutes * 60:
        for key, pids in classify().items():
            total = 0.0
            for pid in pids:
                owner[pid] = key
                seconds = cpu_seconds(pid)
                if seconds is not None:
                    first_cpu.setdefault(pid, seconds)
                    last_cpu[pid] = seconds
                total += pss_mb(pid) or 0.0
            memory.setdefault(key, []).append(total)
        samples += 1
        time.sleep(options.interval)
    window = time.monotonic() - started
    missing = [stack for stack in STACKS if not any(key[0] == stack for key in memory)]
    print(f"{samples} samples over {window:.0f} s, every {options.interval:g} s")
    print(f"{'stack':<11} {'process':<26} {'PSS MB mean':>11} {'max':>7} {'CPU s':>7} {'CPU % of a core':>16}")
    totals: dict[str, tuple[float, float]] = {}
    for (stack, what), values in sorted(memory.items()):
        cpu = sum(last_cpu[pid] - first_cpu[pid] for pid, key in owner.items() if key == (stack, what) and pid in last_cpu)
        mean = statistics.mean(values)
        print(f"{stack:<11} {what:<26} {mean:>11.1f} {max(values):>7.1f} {cpu:>7.2f} {100 * cpu / window:>16.2f}")
        memory_total, cpu_total = totals.get(stack, (0.0, 0.0))
        totals[stack] = (memory_total + mean, cpu_total + cpu)
    for stack, (mb, cpu) in sorted(totals.items()):
        print(f"{stack:<11} {'(all)':<26} {mb:>11.1f} {'':>7} {cpu:>7.2f} {100 * cpu / window:>16.2f}")
    if len(totals) == 2:
        (g_mb, g_cpu), (p_mb, p_cpu) = totals["graphite"], totals["prometheus"]
        print(f"prometheus / graphite: memory {p_mb / g_mb:.2f}, CPU {p_cpu / g_cpu:.2f}" if g_mb and g_cpu else "")
    if missing:
        print(f"no process of {', '.join(missing)} running: is monitoring:backend both applied?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
