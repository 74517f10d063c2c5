"""Service states must really start and stop daemons on this host, whatever its init system.

Where systemd is not PID 1 (these CI machines), Salt's systemd module would report success
without doing anything; bin/configure disables it there. This starts a real Debian daemon
(memcached, which DevStack's Keystone also uses) through service.running and stops it through
service.dead, on a free loopback port, and checks the process and the socket, not the init
script's word."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from common import command_lines, free_port, wait_until
from host_salt import salt_call
from salt_node import failed

SLS = """
memcached:
  pkg.installed: []
memcached-config:
  file.managed:
    - name: /etc/memcached.conf
    - contents: |
        # Written by this project's host tests (tests/host/test_service_provider.py).
        -m 32
        -p {port}
        -U 0
        -u memcache
        -l 127.0.0.1
        -P /var/run/memcached/memcached.pid
    - require:
      - pkg: memcached
memcached-service:
  service.{state}:
    - name: memcached
    - watch:
      - file: memcached-config
"""


def memcached_pids() -> set[int]:
    """This host's memcached processes (a booted machine's, in their own PID namespace, excluded)."""
    return {pid for pid, argv in command_lines() if os.path.basename(argv[0].decode(errors="replace")) == "memcached"}


def apply(port: int, state: str) -> dict:
    result = salt_call("state.template_str", SLS.format(port=port, state=state), "--retcode-passthrough")
    assert not failed(result), failed(result)
    return result


CONFIG = "/etc/memcached.conf"


def installed() -> bool:
    return subprocess.run(["dpkg-query", "-W", "-f=${db:Status-Status}", "memcached"], capture_output=True,
                          text=True).stdout == "installed"


@pytest.fixture
def port():
    """A free port; afterwards, however the test ended, the host is as before: the memcached
    processes the test started are stopped by PID, the host's own /etc/memcached.conf is back, a
    memcached that ran before runs again, and a package the test installed is purged."""
    before = memcached_pids()
    was_installed = installed()
    saved = open(CONFIG, "rb").read() if os.path.exists(CONFIG) else None
    try:
        yield free_port()
    finally:
        started = memcached_pids() - before
        for pid in started:
            os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not memcached_pids() & started, 10, 0.1,
                   lambda: f"memcached {sorted(memcached_pids() & started)} to exit")
        if not was_installed:
            subprocess.run(["apt-get", "purge", "-y", "-q", "memcached"], check=True, capture_output=True,
                           env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        else:
            restore_config(saved)
            if before and not memcached_pids():  # the host's own memcached, restarted by the test's watch
                subprocess.run(["service", "memcached", "start"], check=True, capture_output=True)


def restore_config(saved: bytes | None) -> None:
    if saved is None:
        if os.path.exists(CONFIG):
            os.unlink(CONFIG)
    else:
        with open(CONFIG, "wb") as handle:
            handle.write(saved)


def test_service_running_and_dead_really_start_and_stop_the_daemon(host, port):
    before = memcached_pids()
    apply(port, "running")
    assert host.socket(f"tcp://127.0.0.1:{port}").is_listening
    started = memcached_pids() - before
    assert started
    apply(port, "dead")
    assert not host.socket(f"tcp://127.0.0.1:{port}").is_listening
    # The init script returns once SIGTERM is sent.
    wait_until(lambda: not memcached_pids() & started, 10, 0.1, "memcached to exit")
    assert not memcached_pids() & started
