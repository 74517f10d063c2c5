#!/usr/bin/env python3
"""Vagrant with its LXC provider on this host: the project's Vagrantfile booted as a user boots it.

A vagrant-lxc box made from the machine tier's Debian 12 root fs (harness.build_rootfs) plus what
a Vagrant box has (a ``vagrant`` user with Vagrant's insecure key, passwordless sudo, DHCP on
``eth0``), and an environment that runs ``vagrant`` in a clean clone of the committed project:

    sudo python3 tests/support/vagrant_lxc.py box [FILE]   # build the box and `vagrant box add` it

An ``Environment`` starts lxc-net (the ``lxcbr0`` bridge, dnsmasq, NAT) when it is not running,
gives Vagrant a home of its own (the box added there, and a Vagrantfile that sends the machines'
apt through the run's package cache and keeps wheels in its pip cache: Vagrant merges it before
the project's), and on ``close()`` destroys every container of the clone (``vagrant destroy -f``,
then by name whatever is left), stops lxc-net if it started it, restores ``ip_forward`` and
removes its folders: also when a test fails, on SIGTERM, at exit, and through ``harness.py
cleanup`` for a run that was killed outright.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import glob
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

#: The box's name, as the Vagrantfile expects it (DEVSTACK_LXC_BOX).
BOX_NAME = "devstack-salt/bookworm64-lxc"
#: The Debian packages Vagrant under LXC needs on the host (vagrant-lxc drives the lxc tools;
#: rsync copies the project to the multi-node machines).
HOST_TOOLS = {"vagrant": "vagrant", "lxc-start": "lxc", "rsync": "rsync",
              "/usr/share/lxc/templates/lxc-download": "lxc-templates",
              "/usr/share/rubygems-integration/all/gems/vagrant-lxc-1.4.3": "vagrant-lxc"}
LXC_NET = "/usr/libexec/lxc/lxc-net"
#: Bump when the box recipe (build_box) changes: part of the cached box's name.
BOX_RECIPE = 1
#: Where the Vagrantfile puts the project: shared as /vagrant with the all-in-one machine and the
#: master, an rsync copy of its own on every node of the multi-node layout.
VAGRANT_CHECKOUT = "/vagrant"
NODE_CHECKOUT = "/srv/devstack-salt"
#: The prefix of the clone folders, hence of the containers (vagrant-lxc names them FOLDER_MACHINE_TIME).
PREFIX = "dsvagrant-"


def install_host_tools() -> None:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if not (shutil.which(tool) or os.path.exists(tool))})
    if missing:
        harness.log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        harness.run(["apt-get", "update", "-qq"], env=env)
        harness.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], env=env, timeout=600)


def insecure_key() -> str:
    """Vagrant's well-known public key (shipped with Vagrant): it replaces it on the first boot."""
    keys = sorted(glob.glob("/usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub"))
    if not keys:
        raise harness.MachineError("Vagrant's insecure key (keys/vagrant.pub) is not installed: install vagrant")
    return keys[-1]


def build_box(path: str) -> str:
    """A vagrant-lxc box at ``path`` (kept when it is newer than the root fs): metadata.json, the
    container config to append and rootfs.tar.gz holding ./rootfs. Written to a temporary file
    and renamed: an interrupted build leaves no half box."""
    rootfs = harness.build_rootfs()
    if os.path.isfile(path) and os.path.getmtime(path) > os.path.getmtime(os.path.join(rootfs, ".complete")):
        return path
    started = time.time()
    os.makedirs(harness.WORK_DIR, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=harness.WORK_DIR, prefix="box-") as tmp:
        root = os.path.join(tmp, "rootfs")
        harness.run(["cp", "-aT", "--reflink=auto", rootfs, root])
        os.unlink(os.path.join(root, ".complete"))
        chroot = ["chroot", root]
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        harness.run([*chroot, "useradd", "--create-home", "--shell", "/bin/bash", "vagrant"], env=env)
        with open(insecure_key()) as handle:
            harness._write(f"{root}/home/vagrant/.ssh/authorized_keys", handle.read(), 0o600)
        os.chmod(f"{root}/home/vagrant/.ssh", 0o700)
        harness.run([*chroot, "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh"], env=env)
        # What a box has and the machine tier's root fs leaves to each machine: a hostname (Vagrant
        # sets the machine's own) and localhost in /etc/hosts (Vagrant adds the hostname's line).
        harness._write(f"{root}/etc/hostname", "bookworm\n")
        harness._write(f"{root}/etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
        harness._write(f"{root}/etc/sudoers.d/vagrant", "vagrant ALL=(ALL) NOPASSWD:ALL\n", 0o440)
        harness._write(f"{root}/etc/systemd/network/10-eth0.network",
                       "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n")
        harness._write(f"{tmp}/metadata.json", json.dumps({"provider": "lxc", "version": "1.0.0"}) + "\n")
        harness._write(f"{tmp}/lxc-config", "lxc.include = /usr/share/lxc/config/debian.common.conf\nlxc.arch = amd64\n")
        harness.run(["tar", "--numeric-owner", "-czf", f"{tmp}/rootfs.tar.gz", "-C", tmp, "./rootfs"], timeout=900)
        staging = f"{path}.building"
        harness.run(["tar", "-cf", staging, "-C", tmp, "metadata.json", "lxc-config", "rootfs.tar.gz"])
        os.replace(staging, path)
    harness.log(f"vagrant-lxc box {path} built in {time.time() - started:.0f} s")
    return path


def cached_box() -> str:
    """The box of the current root fs, kept in the machine cache between runs."""
    return build_box(os.path.join(harness.CACHE_DIR, f"bookworm64-lxc-{harness.rootfs_key()}-{BOX_RECIPE}.box"))


def _containers() -> list[str]:
    proc = harness.run(["lxc-ls", "-1"], check=False)
    return [name for name in proc.stdout.split() if name.startswith(PREFIX)]


def _destroy_container(name: str) -> str:
    harness.run(["lxc-stop", "-k", "-n", name], check=False, timeout=60)
    harness.run(["lxc-destroy", "-f", "-n", name], check=False, timeout=120)
    return f"destroyed container {name}"


#: In an environment's folder: lxc-net was started by it, and the address it has put on the
#: bridge for a while. (The host's ip_forward is the harness's to put back: hold_forwarding.)
LXC_NET_NOTE = "lxc-net-started"
HOST_ADDRESS_NOTE = "host-address"


def cleanup_stale() -> list[str]:
    """Containers and folders of runs whose owner PID is gone (``PREFIX<pid>-...``), with the
    host address such a run put on the bridge, and lxc-net when it had started it."""
    done = []
    for name in _containers():
        owner = name[len(PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not harness._alive(int(owner)):
            done.append(_destroy_container(name))
    for folder in glob.glob(os.path.join(harness.WORK_DIR, PREFIX + "*")):
        owner = os.path.basename(folder)[len(PREFIX):].split("-", 1)[0]
        if owner.isdigit() and not harness._alive(int(owner)):
            with contextlib.suppress(OSError, ValueError):
                address, bridge = open(os.path.join(folder, HOST_ADDRESS_NOTE)).read().split()
                harness.run(["ip", "addr", "del", address, "dev", bridge], check=False)
                done.append(f"removed {address} from {bridge}")
            if os.path.exists(os.path.join(folder, LXC_NET_NOTE)):
                if not harness.run(["lxc-ls", "--running", "-1"], check=False).stdout.split():  # nobody's
                    harness.run([LXC_NET, "stop"], check=False)
                    done.append("stopped lxc-net")
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"removed {folder}")
    return done


def _lxc_net_running() -> bool:
    return harness.run(["ip", "link", "show", "lxcbr0"], check=False).returncode == 0


#: Merged before the project's Vagrantfile: the run's package cache in every machine.
HOME_VAGRANTFILE = """\
# The test run's own settings (tests/support/vagrant_lxc.py): apt through the run's caching
# proxy, Python wheels in its pip cache.
Vagrant.configure("2") do |config|
  config.vm.synced_folder {pip_dir!r}, {pip_cache!r}, mount_options: %w[bind create=dir]
  config.vm.provision "shell", name: "package cache", inline: <<~SHELL
    echo 'Acquire::http::Proxy "{proxy}";' > /etc/apt/apt.conf.d/01devstack-salt-machines-proxy
    grep -q '^cache-dir' /etc/pip.conf || echo 'cache-dir = {pip_cache}' >> /etc/pip.conf
  SHELL
end
"""


class VagrantMachine:
    """One machine of the environment, as the machine tier's Node expects one: commands as root
    (through the vagrant user's sudo), files, a reboot, testinfra."""

    def __init__(self, env: "Environment", name: str):
        self.env = env
        self.name = name
        self.ssh_config = os.path.join(env.dir, f"ssh_config-{name}")

    def refresh_ssh_config(self) -> None:
        config = self.env.vagrant("ssh-config", self.name).stdout
        harness._write(self.ssh_config, config + "  LogLevel ERROR\n  ServerAliveInterval 15\n", 0o600)

    def ssh(self, command: str, check: bool = True, timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run(["ssh", "-F", self.ssh_config, "-T", self.name, "sudo -H bash -c " + shlex.quote(command)],
                              capture_output=True, text=True, timeout=timeout, input=input,
                              stdin=None if input is not None else subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise harness.MachineError(f"{self.name}: `{command}` exited {proc.returncode}:\n"
                                       f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def put(self, path: str, text: str, mode: str = "0644") -> None:
        self.ssh(f"install -D -m {mode} /dev/stdin {shlex.quote(path)}", input=text)

    @functools.cached_property
    def address(self) -> str:
        """The machine's private address, as the Vagrantfile gave it (eth1 under LXC)."""
        out = self.ssh("ip -4 -o addr show dev eth1").stdout.split()
        return out[out.index("inet") + 1].split("/")[0]

    def reboot(self, timeout: float = 300) -> None:
        """``vagrant reload``: the container shut down and started again (no provisioning)."""
        self.env.vagrant("reload", self.name, timeout=timeout)
        self.refresh_ssh_config()

    def testinfra_host(self):
        import testinfra

        return testinfra.get_host(f"ssh://{self.name}", ssh_config=self.ssh_config, sudo=True)


class Environment:
    """A clean clone of the committed project with the Vagrantfile, run by Vagrant under LXC."""

    def __init__(self, cache: harness.PackageCache, mirrors: str | None = None, site_pillar: str | None = None):
        from machine_node import committed_tree
        from project import PROJECT

        install_host_tools()
        harness.cleanup_stale()
        cleanup_stale()
        self.started_lxc_net = False
        self.dir = os.path.join(harness.WORK_DIR, f"{PREFIX}{os.getpid()}-{int(time.time())}")
        # Forwarding (lxc-net's NAT) under a harness record: a harness machine up beside this
        # environment keeps it, and the host's own value comes back after the last of them.
        self.forwarding = harness.hold_forwarding(os.path.basename(self.dir))
        # The clone's folder name starts the containers' names (FOLDER_MACHINE_...): PREFIX<pid>.
        self.project = os.path.join(self.dir, os.path.basename(self.dir))
        self.home = os.path.join(self.dir, "vagrant.d")
        self.machines: dict[str, VagrantMachine] = {}
        self.closed = False
        os.makedirs(self.home, exist_ok=True)
        atexit.register(self.close)
        try:
            commit = committed_tree()
            harness.run(["git", "init", "-q", self.project])
            harness.run(["git", "-C", self.project, "fetch", "-q", "--no-tags", PROJECT, commit])
            harness.run(["git", "-C", self.project, "checkout", "-q", "--detach", "FETCH_HEAD"])
            self.commit = commit
            if site_pillar is not None:
                harness._write(os.path.join(self.project, ".salt/pillar/site.sls"), site_pillar, 0o600)
            self.env = dict(os.environ, VAGRANT_HOME=self.home, VAGRANT_DEFAULT_PROVIDER="lxc",
                            VAGRANT_CHECKPOINT_DISABLE="1", DEVSTACK_SALT_KEYS=os.path.join(self.dir, "keys"))
            if mirrors:
                self.env["DEVSTACK_MIRRORS"] = mirrors
            harness._write(os.path.join(self.home, "Vagrantfile"), HOME_VAGRANTFILE.format(
                pip_dir=cache.pip_dir, pip_cache=harness.PIP_CACHE, proxy=f"http://{cache.address}:{cache.port}/"))
            if not _lxc_net_running():
                # Noted first, so that a run killed outright still has lxc-net stopped (cleanup_stale).
                harness._write(os.path.join(self.dir, LXC_NET_NOTE), "started\n")
                harness.run([LXC_NET, "start"])
                self.started_lxc_net = True
            started = time.time()
            self.vagrant("box", "add", "--name", BOX_NAME, cached_box(), timeout=300)
            harness.log(f"vagrant: box added in {time.time() - started:.1f} s")
        except BaseException:
            self.close()
            raise

    def vagrant(self, *args: str, timeout: float = 600, check: bool = True, log: str | None = None) -> subprocess.CompletedProcess:
        """``vagrant ARGS`` in the clone; with ``log``, its output goes to that file (and is returned)."""
        if log is None:
            proc = subprocess.run(["vagrant", *args], cwd=self.project, env=self.env, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        else:
            with open(log, "w") as out:
                proc = subprocess.run(["vagrant", *args], cwd=self.project, env=self.env, stdout=out,
                                      stderr=subprocess.STDOUT, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
            with open(log) as handle:
                proc.stdout = handle.read()
        if check and proc.returncode != 0:
            raise harness.MachineError(f"vagrant {' '.join(args)} exited {proc.returncode}:\n"
                                       f"{(proc.stdout or '')[-3000:]}\n{(proc.stderr or '')[-2000:]}")
        return proc

    def up(self, *names: str, timeout: float = 2700) -> dict:
        """``vagrant up NAMES``: its exit code, time, output (also kept in the environment's folder),
        and every line that reports an error (``[ERROR``). A new machine is provisioned; one that
        runs is left as it is (vagrant-lxc's up stops there, ``--provision`` or not)."""
        result = self._logged("up", *names, timeout=timeout)
        for name in names:
            self.machines.pop(name, None)  # its SSH address and key are asked again
        return result

    def provision(self, *names: str, timeout: float = 2700) -> dict:
        """``vagrant provision NAMES``: the provisioners of running machines again, as ``up``."""
        return self._logged("provision", *names, timeout=timeout)

    def _logged(self, verb: str, *names: str, timeout: float) -> dict:
        started = time.time()
        log = os.path.join(self.dir, f"{verb}-{'-'.join(names) or 'default'}-{int(started)}.log")
        proc = self.vagrant(verb, *names, timeout=timeout, check=False, log=log)
        lines = proc.stdout.splitlines()
        # Each failed state's block of the highstate's output (its ID a few lines above), then the tail.
        failed = ["\n".join(lines[max(0, i - 6):i + 12]) for i, line in enumerate(lines) if "Result: False" in line]
        return {"rc": proc.returncode, "seconds": round(time.time() - started, 1), "log": log, "output": proc.stdout,
                "tail": "\n...\n".join([*failed, "\n".join(lines[-40:])]),
                "errors": [line for line in lines if "[ERROR" in line]}

    def machine(self, name: str) -> VagrantMachine:
        """A machine that is up (its SSH settings from ``vagrant ssh-config``)."""
        if name not in self.machines:
            machine = VagrantMachine(self, name)
            machine.refresh_ssh_config()
            self.machines[name] = machine
        return self.machines[name]

    @contextlib.contextmanager
    def host_address(self, address: str, bridge: str = "lxcbr0"):
        """This host on the machines' private network for a while (``address``/24 on the bridge
        their private interfaces are on), as a laptop has one on VirtualBox's host-only network;
        removed afterwards. An address of that network already on this host is an error."""
        network = address.rsplit(".", 1)[0] + "."
        taken = [line for line in harness.run(["ip", "-4", "-o", "addr", "show"]).stdout.splitlines()
                 if f"inet {network}" in line]
        if taken:
            raise harness.MachineError(f"this host has an address on {network}0/24 already: {taken}")
        note = os.path.join(self.dir, HOST_ADDRESS_NOTE)
        harness._write(note, f"{address}/24 {bridge}\n")
        harness.run(["ip", "addr", "add", f"{address}/24", "dev", bridge])
        try:
            yield address
        finally:
            harness.run(["ip", "addr", "del", f"{address}/24", "dev", bridge], check=False)
            os.unlink(note)

    def close(self) -> list[str]:
        """Destroy every container of the clone and put the host back; returns what was done."""
        if self.closed:
            return []
        self.closed = True
        done = []
        if os.path.isdir(self.project):
            with contextlib.suppress(Exception):
                self.vagrant("destroy", "-f", timeout=300, check=False)
        for name in _containers():
            if name.startswith(os.path.basename(self.dir) + "_"):
                done.append(_destroy_container(name))
        if self.started_lxc_net:
            harness.run([LXC_NET, "stop"], check=False)
            done.append("stopped lxc-net")
        harness.teardown(self.forwarding)
        shutil.rmtree(self.dir, ignore_errors=True)
        return done


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if not args or args[0] != "box" or len(args) > 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    reason = harness.unavailable_reason()  # LXC runs where the harness's machines do
    if reason:
        print(f"vagrant_lxc: {reason}", file=sys.stderr)
        return 2
    harness.install_host_tools()
    install_host_tools()
    path = os.path.abspath(args[1]) if len(args) == 2 else os.path.abspath("bookworm64-lxc.box")
    build_box(path)
    subprocess.run(["vagrant", "box", "add", "--force", "--name", BOX_NAME, path], check=True)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
