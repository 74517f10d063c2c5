#!/usr/bin/env python3
"""Booted test machines: a Debian 12 root fs with systemd as PID 1 in systemd-nspawn, each on a
veth network of its own with NAT to the package registries, reached over SSH like a Vagrant box.

The harness of the machine tier (tests/machines) and of bench/stacked_node.py, and a small CLI for
developers:

    .venv/bin/python tests/support/harness.py shell          # boot a machine, ssh into it, tear down
    .venv/bin/python tests/support/harness.py run -- CMD...  # boot, run CMD over ssh, tear down
    .venv/bin/python tests/support/harness.py rootfs         # build (or show) the cached root fs
    .venv/bin/python tests/support/harness.py cleanup        # tear down what dead runs left behind

A machine has a network of its own (a veth pair and a /24), or shares one with others: a
``Network`` (a bridge and a /24), as the nodes of a multi-node cloud do. Every machine of a run
fetches Debian packages through one caching proxy (Debian's squid, started by the run on an
address of its own) and keeps Python wheels in one pip cache bound in: each package and wheel
is downloaded once per run, whatever the number of machines.

Everything a machine adds to the host (the nspawn process, its veth, the NAT rules, ip_forward,
the loop device lent to it, its root fs copy), a network (its bridge and NAT rules) and the cache
(the proxy's PID and address) is recorded in a file under STATE_DIR before it is made, and torn
down from that record by PID: by the test's finaliser, on SIGTERM/SIGINT, at exit, and by
``cleanup`` for a run that was killed outright (its owner PID is gone).
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Iterator

from common import port_answers, wait_until

STATE_DIR = "/run/devstack-salt-machines"
CACHE_DIR = os.environ.get("DEVSTACK_MACHINE_CACHE", "/var/cache/devstack-salt-machines")
WORK_DIR = os.environ.get("DEVSTACK_MACHINE_WORK", "/var/tmp/devstack-salt-machines")
SUITE = "bookworm"
#: What a fresh cloud image or Vagrant box has, plus sshd (how testinfra gets in), locales
#: (DevStack forces LC_ALL=en_US.utf8) and rsync (Vagrant copies the project to the cluster's boxes).
PACKAGES = ("systemd", "systemd-sysv", "dbus", "sudo", "git", "python3", "ca-certificates", "iproute2",
            "curl", "lsb-release", "procps", "locales", "openssh-server", "libpam-systemd", "rsync")
#: Bump when the root fs recipe changes: the cache key.
RECIPE = 1
SUBNET_BASE = "10.77"
HOST_TOOLS = {"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container", "iptables": "iptables",
              "ssh": "openssh-client", "ssh-keygen": "openssh-client", "squid": "squid"}
#: Where the machines find the pip cache (bound read-write from CACHE_DIR/pip).
PIP_CACHE = "/var/cache/devstack-salt-pip"


class MachineError(RuntimeError):
    """A machine could not be built, booted, reached or torn down."""


def log(message: str) -> None:
    print(f"[machines] {message}", file=sys.stderr, flush=True)


def run(command: list[str], check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kwargs)
    if check and proc.returncode != 0:
        raise MachineError(f"{shlex.join(command)} exited {proc.returncode}: {(proc.stderr or proc.stdout)[-2000:]}")
    return proc


# --------------------------------------------------------------------------------------------
# Can this host boot machines at all?
# --------------------------------------------------------------------------------------------


def unavailable_reason() -> str | None:
    """Why machines cannot boot here (None: they can, once the host tools are installed)."""
    if os.geteuid() != 0:
        return "machine tests need root (they boot systemd-nspawn machines and add veths and NAT rules)"
    if os.path.exists("/run/systemd/container") or os.path.exists("/run/.containerenv"):
        return "this host is itself a container (a machine of this tier): machines do not nest here"
    if not os.path.exists("/dev/loop-control"):
        return "no /dev/loop-control: Swift's loop disk needs loop devices"
    if not os.path.isdir("/sys/fs/cgroup"):
        return "no cgroup file system: systemd-nspawn cannot boot a machine"
    return None


def install_host_tools() -> None:
    """The Debian packages of the harness (the host tier installs its own daemons likewise)."""
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if not shutil.which(tool)})
    if not missing:
        return
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env)
    if "squid" in missing and os.path.isdir("/run/systemd/system"):
        # Its package starts a system-wide proxy on every address: the runs start their own.
        run(["systemctl", "disable", "--now", "squid"], check=False)


# --------------------------------------------------------------------------------------------
# The root fs: built once, copied for every machine
# --------------------------------------------------------------------------------------------


def host_apt_mirror() -> str:
    """The Debian mirror this host's apt uses (the machine reaches the same registry)."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as handle:
            stanzas = handle.read().split("\n\n")
        for stanza in stanzas:
            fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line.startswith("#"))
            if "security" not in fields.get("Suites", "") and SUITE in fields.get("Suites", ""):
                return fields["URIs"].split()[0].strip()
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        with contextlib.suppress(OSError), open(path) as handle:
            for line in handle:
                words = [w for w in line.split() if not w.startswith("[")]
                if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                    return words[1]
    raise MachineError("no Debian bookworm source found in this host's apt configuration")


def _site_apt_conf() -> list[str]:
    """apt.conf.d files no package owns: this site's own apt settings, which the machine needs
    to reach the same registry (e.g. validity checks of a snapshot mirror)."""
    files = []
    for path in sorted(glob.glob("/etc/apt/apt.conf.d/*")):
        if run(["dpkg", "-S", path], check=False).returncode != 0:
            files.append(path)
    return files


def rootfs_key() -> str:
    return hashlib.sha256(json.dumps([RECIPE, SUITE, PACKAGES]).encode()).hexdigest()[:12]


def build_rootfs() -> str:
    """The cached root fs (CACHE_DIR/rootfs-KEY), built with debootstrap when missing. Built in a
    temporary folder and renamed, under a lock: an interrupted build leaves no half root fs."""
    target = os.path.join(CACHE_DIR, f"rootfs-{rootfs_key()}")
    os.makedirs(CACHE_DIR, exist_ok=True)
    with open(os.path.join(CACHE_DIR, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isfile(os.path.join(target, ".complete")):
            return target
        staging = target + ".building"
        shutil.rmtree(staging, ignore_errors=True)
        started = time.time()
        log(f"building the Debian {SUITE} root fs in {target} (debootstrap, about a minute)")
        run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, staging,
             host_apt_mirror()], timeout=1200)
        _configure_rootfs(staging)
        with open(os.path.join(staging, ".complete"), "w") as handle:
            handle.write(f"built in {time.time() - started:.0f} s\n")
        shutil.rmtree(target, ignore_errors=True)
        os.rename(staging, target)
        log(f"root fs built in {time.time() - started:.0f} s")
        return target


def _write(path: str, text: str, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)


def _configure_rootfs(root: str) -> None:
    """What a cloud image has beyond debootstrap: this site's CA certificates and apt settings,
    a network configured by systemd-networkd, sshd, and the en_US.UTF-8 locale."""
    for cert in glob.glob("/usr/local/share/ca-certificates/*.crt"):
        shutil.copy(cert, os.path.join(root, "usr/local/share/ca-certificates"))
    for conf in _site_apt_conf():
        shutil.copy(conf, os.path.join(root, "etc/apt/apt.conf.d"))
    # pip inside verifies the registry with the system store (which holds the site's CA).
    _write(os.path.join(root, "etc/pip.conf"), "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
    with open(os.path.join(root, "etc/locale.gen"), "a") as handle:
        handle.write("en_US.UTF-8 UTF-8\n")
    for command in (["update-ca-certificates"], ["locale-gen"], ["systemctl", "enable", "systemd-networkd"],
                    ["systemctl", "enable", "ssh"]):
        run(["chroot", root, *command], env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"})
    _write(os.path.join(root, "etc/ssh/sshd_config.d/10-machines.conf"),
           "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n")
    # Every machine gets its own id at first boot.
    _write(os.path.join(root, "etc/machine-id"), "")


# --------------------------------------------------------------------------------------------
# Records of what a machine added to the host
# --------------------------------------------------------------------------------------------


def _records() -> list[dict]:
    out = []
    for path in sorted(glob.glob(os.path.join(STATE_DIR, "*.json"))):
        with contextlib.suppress(OSError, ValueError), open(path) as handle:
            out.append(json.load(handle))
    return out


def _save(record: dict) -> None:
    os.makedirs(STATE_DIR, exist_ok=True)
    tmp = os.path.join(STATE_DIR, f".{record['name']}.tmp")
    with open(tmp, "w") as handle:
        json.dump(record, handle)
    os.rename(tmp, os.path.join(STATE_DIR, f"{record['name']}.json"))


def _alive(pid: int | None) -> bool:
    """True while process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    if not pid:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _claim_slot() -> int:
    """A free subnet number: not used by a live record nor by any route of this host."""
    routes = run(["ip", "-4", "route", "show"]).stdout
    taken = {r.get("slot") for r in _records()}
    os.makedirs(STATE_DIR, exist_ok=True)
    for slot in range(10, 250):
        if slot in taken or f"{SUBNET_BASE}.{slot}." in routes:
            continue
        try:  # the claim itself is atomic, against a parallel run
            fd = os.open(os.path.join(STATE_DIR, f".slot-{slot}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return slot
    raise MachineError("no free 10.77.X.0/24 subnet for a machine")


def lxc_subnet() -> str:
    """lxc-net's subnet (its LXC_NETWORK, 10.0.3.0/24 by default): Vagrant's LXC machines use the
    package cache too (tests/support/vagrant_lxc.py)."""
    with contextlib.suppress(OSError), open("/etc/default/lxc-net") as handle:
        for line in handle:
            if line.strip().startswith("LXC_NETWORK="):
                return line.split("=", 1)[1].strip().strip("\"'")
    return "10.0.3.0/24"


def _free_loop_device() -> str:
    return run(["losetup", "-f"]).stdout.strip()


# --------------------------------------------------------------------------------------------
# A machine
# --------------------------------------------------------------------------------------------


class Machine:
    """One booted machine. ``boot()`` starts it, ``poweroff()`` stops it (a later ``boot()`` is a
    reboot of the same disk), ``destroy()`` removes everything it added to the host."""

    def __init__(self, name: str, rootfs: str, key_file: str, binds_ro: dict[str, str] | None = None,
                 network: "Network | None" = None, cache: "PackageCache | None" = None):
        """``binds_ro``: {path in the machine: host folder shown there read-only}. ``network``:
        a network shared with other machines (default: one of its own). ``cache``: where it gets
        Debian packages and keeps Python wheels."""
        self.name = name
        self.rootfs = rootfs
        self.key_file = key_file
        self.binds_ro = binds_ro or {}
        self.network = network
        self.cache = cache
        if network is None:
            self.slot = _claim_slot()
            self.address = f"{SUBNET_BASE}.{self.slot}.2"
            self.gateway = f"{SUBNET_BASE}.{self.slot}.1"
            self.subnet = f"{SUBNET_BASE}.{self.slot}.0/24"
            self.machine = f"dsm{self.slot}-{name}"[:11]  # nspawn derives the veth name (ve-...) from it
            self.veth = f"ve-{self.machine}"[:15]
        else:
            self.slot = network.slot
            self.address = network.new_address()
            self.gateway, self.subnet = network.gateway, network.subnet
            self.machine = f"ds{self.slot}n{self.address.rsplit('.', 1)[1]}-{name}"[:11]
            self.veth = f"vb-{self.machine}"[:15]
        self.dir = os.path.join(WORK_DIR, self.machine)
        self.root = os.path.join(self.dir, "root")
        self.console_log = os.path.join(self.dir, "console.log")
        self.loop = None
        self.pid = None
        self.ssh_config = os.path.join(self.dir, "ssh_config")
        self.record = {"name": self.machine, "owner": os.getpid(), "slot": self.slot, "dir": self.dir,
                       "veth": self.veth, "nat": [], "loop": None, "pid": None}
        _save(self.record)
        if network is None:
            os.unlink(os.path.join(STATE_DIR, f".slot-{self.slot}"))

    # ---- the disk
    def prepare(self) -> None:
        """A copy of the root fs with this machine's address, hostname and SSH key."""
        os.makedirs(self.dir, exist_ok=True)
        started = time.time()
        if os.path.lexists(self.root):  # left by a run whose teardown could not remove it all
            shutil.rmtree(self.root)
        run(["cp", "-aT", "--reflink=auto", self.rootfs, self.root])
        root = self.root
        _write(f"{root}/etc/hostname", f"{self.name}\n")
        _write(f"{root}/etc/hosts", f"127.0.0.1 localhost\n{self.address} {self.name}\n::1 localhost\n")
        _write(f"{root}/etc/systemd/network/10-host0.network",
               f"[Match]\nName=host0\n\n[Network]\nAddress={self.address}/24\nGateway={self.gateway}\n"
               "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
        shutil.copy("/etc/resolv.conf", f"{root}/etc/resolv.conf.machines")
        os.replace(f"{root}/etc/resolv.conf.machines", f"{root}/etc/resolv.conf")
        with open(self.key_file + ".pub") as handle:
            _write(f"{root}/root/.ssh/authorized_keys", handle.read(), 0o600)
        os.chmod(f"{root}/root/.ssh", 0o700)
        if self.cache is not None:
            self.cache.configure(root)
        _write(self.ssh_config, "\n".join([
            f"Host {self.name}", f"  HostName {self.address}", "  User root", f"  IdentityFile {self.key_file}",
            "  IdentitiesOnly yes", "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null",
            "  LogLevel ERROR", "  ConnectTimeout 5", "  ServerAliveInterval 15", "  ServerAliveCountMax 8", ""]))
        log(f"{self.name}: disk ready in {time.time() - started:.1f} s ({self.root})")

    # ---- boot and power off
    def boot(self, timeout: float = 120) -> None:
        if self.loop is None:
            self.loop = _free_loop_device()
            self.record["loop"] = self.loop
            _save(self.record)
        binds = ["--bind=/dev/loop-control", f"--bind={self.loop}"]
        binds += [f"--bind-ro={src}:{dst}" for dst, src in self.binds_ro.items()]
        if self.cache is not None:
            binds.append(f"--bind={self.cache.pip_dir}:{PIP_CACHE}")
        network = [f"--network-bridge={self.network.bridge}"] if self.network else ["--network-veth"]
        command = ["systemd-nspawn", "--quiet", "-D", self.root, "-M", self.machine, "--boot",
                   "--register=no", "--keep-unit", *network, "--resolv-conf=off",
                   "--console=read-only", *binds]
        started = time.time()
        with open(self.console_log, "ab") as console:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                                    start_new_session=True)
        self.pid = proc.pid
        self._proc = proc
        self.record["pid"] = proc.pid
        _save(self.record)
        self._network()
        self.wait_ssh(timeout)
        state = self.ssh("systemctl is-system-running --wait", check=False, timeout=timeout).stdout.strip()
        log(f"{self.name}: booted in {time.time() - started:.1f} s (systemd: {state}), ssh root@{self.address}")

    def _network(self) -> None:
        def veth() -> bool:
            if self._proc.poll() is not None:
                raise MachineError(f"{self.name}: nspawn exited before {self.veth} appeared; console: {self.console_tail()}")
            return run(["ip", "link", "show", self.veth], check=False).returncode == 0

        wait_until(veth, 30, 0.2, lambda: f"{self.veth} of {self.name}; console: {self.console_tail()}", error=MachineError)
        if self.network is not None:  # nspawn put it on the network's bridge; the network has the NAT
            run(["ip", "link", "set", self.veth, "up"])
            return
        run(["ip", "addr", "replace", f"{self.gateway}/24", "dev", self.veth])
        run(["ip", "link", "set", self.veth, "up"])
        if not self.record["nat"]:
            _nat(self.record, self.subnet)

    def console_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError), open(self.console_log, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
        return ""

    def wait_ssh(self, timeout: float) -> None:
        def answers() -> bool:
            if self._proc.poll() is not None:
                raise MachineError(f"{self.name}: nspawn exited {self._proc.returncode}; console: {self.console_tail()}")
            return self.ssh("true", check=False, timeout=10).returncode == 0

        wait_until(answers, timeout, 0.5, lambda: f"SSH on {self.name}; console: {self.console_tail()}", error=MachineError)

    def poweroff(self, timeout: float = 120) -> None:
        """``systemctl poweroff`` inside, then wait for nspawn to exit (SIGTERM/SIGKILL if it will not)."""
        if not _alive(self.pid):
            return
        # A machine too busy to answer (or whose sshd is already gone) is stopped by signals below.
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.ssh("systemctl --no-block poweroff", check=False, timeout=15)
        _wait_exit(self.pid, timeout, getattr(self, "_proc", None))
        self.pid = None
        self.record["pid"] = None
        _save(self.record)

    def reboot(self, timeout: float = 180) -> None:
        self.poweroff()
        self.boot(timeout)

    # ---- commands
    def ssh_args(self, tty: bool = False) -> list[str]:
        return ["ssh", "-F", self.ssh_config, *(["-t"] if tty else ["-T"]), self.name]

    def ssh(self, command: str, check: bool = True, timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command in the machine as root over SSH."""
        proc = subprocess.run([*self.ssh_args(), command], capture_output=True, text=True, timeout=timeout,
                              input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise MachineError(f"{self.name}: `{command}` exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def put(self, path: str, text: str, mode: str = "0644") -> None:
        """Write a file in the machine (content on stdin, never on a command line)."""
        self.ssh(f"install -D -m {mode} /dev/stdin {shlex.quote(path)}", input=text)

    def testinfra_host(self):
        import testinfra

        return testinfra.get_host(f"ssh://{self.name}", ssh_config=self.ssh_config)

    def destroy(self) -> list[str]:
        return teardown(self.record)


def _wait_exit(pid: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    def gone() -> bool:
        if proc is not None:
            return proc.poll() is not None
        return not _alive(pid)

    for sig, grace in ((None, timeout), (signal.SIGTERM, 30), (signal.SIGKILL, 15)):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        with contextlib.suppress(MachineError):  # not gone yet: the next, harder signal
            wait_until(gone, grace, 0.2, f"nspawn process {pid} to exit", error=MachineError)
            return
    raise MachineError(f"nspawn process {pid} did not exit")


def _nat(record: dict, subnet: str) -> None:
    """Forwarding on, and NAT for ``subnet`` to the registries, each rule recorded before it is
    added (tagged with the record's name)."""
    _forwarding_on()
    rules = [["-t", "nat", "POSTROUTING", "-s", subnet, "!", "-d", subnet, "-j", "MASQUERADE"],
             ["-t", "filter", "FORWARD", "-s", subnet, "-j", "ACCEPT"],
             ["-t", "filter", "FORWARD", "-d", subnet, "-j", "ACCEPT"]]
    for rule in rules:
        table, chain, spec = rule[:2], rule[2], rule[3:]
        spec = [*spec, "-m", "comment", "--comment", f"devstack-salt-machine {record['name']}"]
        record["nat"] = [*record["nat"], [*table, chain, *spec]]
        _save(record)
        run(["iptables", *table, "-I", chain, *spec])


#: Machines are brought up from more than one thread (tests/machines/conftest.py's background
#: jobs): the host's forwarding is read, saved and put back by one of them at a time.
_FORWARDING = threading.Lock()


def _forwarding_on() -> None:
    saved = os.path.join(STATE_DIR, "ip_forward.orig")
    with _FORWARDING:
        with open("/proc/sys/net/ipv4/ip_forward") as handle:
            current = handle.read().strip()
        if not os.path.exists(saved):
            _write(saved, current)
        if current != "1":
            with open("/proc/sys/net/ipv4/ip_forward", "w") as handle:
                handle.write("1")


def _forwarding_restore() -> None:
    saved = os.path.join(STATE_DIR, "ip_forward.orig")
    with _FORWARDING:
        if _records() or not os.path.exists(saved):
            return
        with open(saved) as handle:
            original = handle.read().strip()
        with open("/proc/sys/net/ipv4/ip_forward", "w") as handle:
            handle.write(original)
        os.unlink(saved)


def hold_forwarding(name: str) -> dict:
    """Forwarding on for machines that are not the harness's (Vagrant's LXC containers), under a
    record of their own: the host's own value comes back when the last record goes, whichever
    of them turned forwarding on first. ``teardown(record)`` lets go."""
    record = {"name": name, "owner": os.getpid(), "slot": None, "dir": None, "veth": None, "nat": [],
              "loop": None, "pid": None}
    _save(record)
    _forwarding_on()
    return record


def teardown(record: dict) -> list[str]:
    """Remove everything a machine's record names, in order; return what was done."""
    done = []
    pid = record.get("pid")
    if _alive(pid):
        with contextlib.suppress(MachineError):
            _wait_exit(pid, 0.1)
        done.append(f"stopped {pid}")
    for rule in record.get("nat", []):
        table, chain, spec = rule[:2], rule[2], rule[3:]
        while run(["iptables", *table, "-D", chain, *spec], check=False).returncode == 0:
            done.append(f"removed iptables {' '.join(rule[:3])} rule")
    if record.get("veth") and run(["ip", "link", "show", record["veth"]], check=False).returncode == 0:
        run(["ip", "link", "del", record["veth"]], check=False)
        done.append(f"removed {record['veth']}")
    loop = record.get("loop")
    if loop and os.path.exists(f"/sys/block/{os.path.basename(loop)}/loop/backing_file"):
        run(["losetup", "-d", loop], check=False)
        done.append(f"detached {loop}")
    directory = record.get("dir")
    if directory and os.path.isdir(directory):
        with open("/proc/self/mountinfo") as handle:
            mounted = [line.split()[4] for line in handle if line.split()[4].startswith(directory + "/")]
        for point in sorted(mounted, reverse=True):
            run(["umount", "-l", point], check=False)
        def gone() -> bool:
            shutil.rmtree(directory, ignore_errors=True)
            return not os.path.lexists(directory)

        with contextlib.suppress(AssertionError):  # said below; a file the machine's last processes held
            wait_until(gone, 5, 1, f"{directory} to go")  # may need a moment
        done.append(f"removed {directory}" if not os.path.lexists(directory) else f"could not remove {directory}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(STATE_DIR, f"{record['name']}.json"))
    _forwarding_restore()
    return done


def cleanup_stale() -> list[str]:
    """Tear down the machines of runs that are gone (their owner PID is dead)."""
    done = []
    for record in _records():
        if not _alive(record.get("owner")):
            done += teardown(record)
    for claim in glob.glob(os.path.join(STATE_DIR, ".slot-*")):
        with contextlib.suppress(OSError, ValueError), open(claim) as handle:
            if not _alive(int(handle.read() or 0)):
                os.unlink(claim)
    for keys in glob.glob(os.path.join(WORK_DIR, "keys-*")):  # a dead run's SSH key (Fleet's key_dir)
        owner = os.path.basename(keys)[len("keys-"):]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(keys, ignore_errors=True)
            done.append(f"removed {keys}")
    _forwarding_restore()
    return done


class Network:
    """A private network several machines share (as a multi-node cloud's nodes do): a bridge
    with the gateway's address, a /24 of its own and NAT to the registries. Its machines reach
    each other directly, by their own addresses."""

    def __init__(self):
        self.slot = _claim_slot()
        self.gateway = f"{SUBNET_BASE}.{self.slot}.1"
        self.subnet = f"{SUBNET_BASE}.{self.slot}.0/24"
        self.bridge = f"dsb{self.slot}"
        self.hosts = 1
        self.record = {"name": f"dsnet{self.slot}", "owner": os.getpid(), "slot": self.slot, "dir": None,
                       "veth": self.bridge, "nat": [], "loop": None, "pid": None}
        _save(self.record)
        os.unlink(os.path.join(STATE_DIR, f".slot-{self.slot}"))
        try:
            run(["ip", "link", "add", self.bridge, "type", "bridge"])
            run(["ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge])
            run(["ip", "link", "set", self.bridge, "up"])
            _nat(self.record, self.subnet)
        except BaseException:
            teardown(self.record)
            raise

    def new_address(self) -> str:
        """The next free address of the network (never reused within a run: a re-created
        machine is a new machine)."""
        self.hosts += 1
        return f"{SUBNET_BASE}.{self.slot}.{self.hosts}"

    def destroy(self) -> list[str]:
        return teardown(self.record)


class PackageCache:
    """One download of every Debian package and Python wheel per run, for every machine: Debian's
    squid as a caching proxy for apt (started by PID, on an address of its own: a link of the
    host that no machine's subnet holds), and a pip cache folder bound into each machine. Both
    live in CACHE_DIR. (Debian's apt-cacher-ng was the first choice; on these hosts it fails to
    bind any address: "Error resolving address for binding".)"""

    SQUID_CONF = """\
http_port {address}:{port}
acl machines src {subnets}
http_access allow machines
http_access deny all
cache_dir ufs {dir}/cache 20000 16 256
maximum_object_size 1024 MB
cache_mem 64 MB
pid_filename {run}/squid.pid
cache_log {run}/cache.log
access_log {run}/access.log
coredump_dir {run}
shutdown_lifetime 1 seconds
# Machines installing side by side ask for the same package at once: one fetch for all of them.
collapsed_forwarding on
# Packages and wheels never change under one name; indexes are checked again.
refresh_pattern \\.(deb|udeb|whl)$ 525600 100% 525600
refresh_pattern . 0 20% 4320
"""

    def __init__(self):
        self.slot = _claim_slot()
        self.address = f"{SUBNET_BASE}.{self.slot}.1"
        self.link = f"dsc{self.slot}"
        self.dir = os.path.join(CACHE_DIR, "squid")
        self.pip_dir = os.path.join(CACHE_DIR, "pip")
        self.run_dir = os.path.join(WORK_DIR, f"squid-{os.getpid()}")
        self.proc: subprocess.Popen | None = None
        self.lock = None
        self.record = {"name": f"dscache{self.slot}", "owner": os.getpid(), "slot": self.slot, "dir": self.run_dir,
                       "veth": self.link, "nat": [], "loop": None, "pid": None}
        _save(self.record)
        os.unlink(os.path.join(STATE_DIR, f".slot-{self.slot}"))
        try:
            self._start()
        except BaseException:
            teardown(self.record)
            raise

    def _start(self) -> None:
        # One squid at a time uses the cache kept between runs; a run beside it gets its own.
        os.makedirs(CACHE_DIR, exist_ok=True)
        self.lock = open(os.path.join(CACHE_DIR, ".squid.lock"), "w")
        try:
            fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.dir = os.path.join(self.run_dir, "cache")
        os.makedirs(os.path.join(self.dir, "cache"), exist_ok=True)
        os.makedirs(self.run_dir, exist_ok=True)
        os.makedirs(self.pip_dir, exist_ok=True)
        run(["chown", "-R", "proxy:proxy", self.dir, self.run_dir])
        run(["ip", "link", "add", self.link, "type", "bridge"])  # a link of its own for the address
        run(["ip", "addr", "add", f"{self.address}/32", "dev", self.link])
        run(["ip", "link", "set", self.link, "up"])
        with socket.socket() as probe:  # a free port on the cache's own address
            probe.bind((self.address, 0))
            self.port = probe.getsockname()[1]
        conf = os.path.join(self.run_dir, "squid.conf")
        _write(conf, self.SQUID_CONF.format(address=self.address, port=self.port, subnets=f"{SUBNET_BASE}.0.0/16 {lxc_subnet()}",
                                            dir=self.dir, run=self.run_dir))
        run(["squid", "-z", "-N", "-f", conf], timeout=120)  # the cache's folders, when missing
        with open(os.path.join(self.run_dir, "run.log"), "ab") as out:
            self.proc = subprocess.Popen(["squid", "-N", "-f", conf], stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)
        self.record["pid"] = self.proc.pid
        _save(self.record)

        def log_tail() -> str:
            with contextlib.suppress(OSError), open(os.path.join(self.run_dir, "cache.log")) as handle:
                return handle.read()[-1000:]
            return ""

        wait_until(lambda: port_answers(self.address, self.port), 30, 0.2,
                   lambda: f"squid on {self.address}:{self.port}: {log_tail()}", error=MachineError)
        log(f"package cache: squid on {self.address}:{self.port} ({self.dir}), pip cache {self.pip_dir}")

    def configure(self, root: str) -> None:
        """A machine's apt through the proxy and its pip (root's and every user's) on the shared cache."""
        _write(f"{root}/etc/apt/apt.conf.d/01devstack-salt-machines-proxy",
               f'Acquire::http::Proxy "http://{self.address}:{self.port}/";\n')
        with open(f"{root}/etc/pip.conf", "a") as handle:
            handle.write(f"cache-dir = {PIP_CACHE}\n")

    def destroy(self) -> list[str]:
        if self.proc is not None and self.proc.poll() is None:  # this run's own: reaped here
            with contextlib.suppress(MachineError):
                _wait_exit(self.proc.pid, 0.1, self.proc)
        done = teardown(self.record)
        if self.lock is not None:
            self.lock.close()
        return done


class Fleet:
    """The machines of one run: one SSH key, one root fs, every machine torn down at the end,
    also on SIGTERM/SIGINT and at interpreter exit."""

    def __init__(self, binds_ro: dict[str, str] | None = None):
        self.binds_ro = binds_ro or {}
        self.machines: list[Machine] = []
        self.networks: list[Network] = []
        self.cache: PackageCache | None = None
        os.makedirs(WORK_DIR, exist_ok=True)
        self.key_dir = os.path.join(WORK_DIR, f"keys-{os.getpid()}")
        os.makedirs(self.key_dir, mode=0o700, exist_ok=True)
        self.key_file = os.path.join(self.key_dir, "id_ed25519")
        if not os.path.exists(self.key_file):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "devstack-salt-machines", "-f", self.key_file])
        self.rootfs = build_rootfs()
        atexit.register(self.close)
        self.cache = PackageCache()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.getsignal(sig)
            signal.signal(sig, self._on_signal(previous))

    def _on_signal(self, previous):
        def handler(signum, frame):
            self.close()
            if callable(previous):
                previous(signum, frame)
            raise SystemExit(128 + signum)
        return handler

    def network(self) -> Network:
        """A private network for machines that must reach each other (``machine(network=...)``)."""
        network = Network()
        self.networks.append(network)
        return network

    def machine(self, name: str, network: Network | None = None) -> Machine:
        machine = Machine(name, self.rootfs, self.key_file, self.binds_ro, network, self.cache)
        self.machines.append(machine)
        machine.prepare()
        return machine

    def discard(self, machine: Machine) -> None:
        """Power a machine off and remove everything it added (its disk too): a destroyed node.
        Whatever the power-off does, the teardown runs (it stops the machine by its PID)."""
        try:
            machine.poweroff(timeout=60)
        except Exception as exc:  # noqa: BLE001 - the teardown below must run in any case
            log(f"{machine.name}: power-off failed ({exc}); tearing it down")
        for line in machine.destroy():
            log(f"{machine.name}: {line}")
        with contextlib.suppress(ValueError):  # close() in another thread may have taken it
            self.machines.remove(machine)

    def close(self) -> None:
        while self.machines:
            self.discard(self.machines[-1])
        for owner in [*reversed(self.networks), *([self.cache] if self.cache else [])]:
            for line in owner.destroy():
                log(f"{owner.record['name']}: {line}")
        self.networks, self.cache = [], None
        shutil.rmtree(self.key_dir, ignore_errors=True)


@contextlib.contextmanager
def fleet(binds_ro: dict[str, str] | None = None) -> Iterator[Fleet]:
    cleanup_stale()
    handle = Fleet(binds_ro)
    try:
        yield handle
    finally:
        handle.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("rootfs", help="build the cached root fs if missing and print its path")
    sub.add_parser("cleanup", help="tear down what dead runs left behind")
    shell = sub.add_parser("shell", help="boot a machine and open a shell in it; tear down on exit")
    shell.add_argument("--name", default="dev")
    runner = sub.add_parser("run", help="boot a machine, run a command in it over ssh, tear down")
    runner.add_argument("--name", default="dev")
    runner.add_argument("command", nargs=argparse.REMAINDER)
    for each in (shell, runner):
        each.add_argument("--bind-ro", action="append", default=[], metavar="SRC:DST",
                          help="a host folder to show read-only in the machine")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"harness: {reason}", file=sys.stderr)
        return 2
    install_host_tools()
    if args.verb == "rootfs":
        print(build_rootfs())
        return 0
    if args.verb == "cleanup":
        import vagrant_lxc

        for line in cleanup_stale() + vagrant_lxc.cleanup_stale():
            print(line)
        return 0
    binds = {dst: src for src, dst in (item.split(":", 1) for item in args.bind_ro)}
    with fleet(binds) as machines:
        machine = machines.machine(args.name)
        machine.boot()
        if args.verb == "shell":
            return subprocess.call(machine.ssh_args(tty=True))
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        return subprocess.call([*machine.ssh_args(), shlex.join(command) if command else "true"])


if __name__ == "__main__":
    sys.exit(main())
