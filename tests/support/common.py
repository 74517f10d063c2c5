"""Small helpers every tier and bench script shares: a free loopback port, waiting for a
condition, sampling while something runs, a throwaway password, PID files and the command lines
of this host's processes.
Standard library only (the machine harness, a CLI of its own, imports it too)."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import string
import threading
import time
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.5,
               what: str | Callable[[], str] = "the condition", error: type[Exception] = AssertionError) -> T:
    """Call ``predicate`` every ``interval`` s until it returns something true, and return that.

    Every call starts within ``timeout`` s; after that ``error`` (AssertionError: a test failure)
    is raised, naming ``what``: a string, or a callable that says what was last seen when the
    time is up. An exception of the predicate ends the wait at once (e.g. the daemon died).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise error(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")


@contextlib.contextmanager
def sampling(sample: Callable[[], object], interval: float) -> Iterator[None]:
    """Call ``sample`` every ``interval`` s in a thread for as long as the ``with`` block runs
    (once at least, and once more as it ends), e.g. to record the command lines of whatever the
    block starts. The thread is stopped and joined however the block ends."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            sample()
            stop.wait(interval)
        sample()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def port_answers(host: str, port: int, timeout: float = 1) -> bool:
    """True when something accepts a TCP connection on ``host``:``port`` now."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(host: str, port: int, timeout: float = 60) -> None:
    """Wait until something accepts connections on ``host``:``port`` (AssertionError after
    ``timeout`` s)."""
    wait_until(lambda: port_answers(host, port), timeout, 0.2, f"something to listen on {host}:{port}")


def password(length: int = 24) -> str:
    """A random alphanumeric password (DevStack embeds passwords in URLs: no symbols)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def read_pid(path: str) -> int | None:
    """The PID in a pid file, or None when there is none."""
    try:
        with open(path) as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def command_lines() -> Iterator[tuple[int, list[bytes]]]:
    """(PID, argv) of every process of this host that can still be read: of this PID namespace
    only (a booted machine's processes, in a namespace of their own, show in /proc too)."""
    own = os.readlink("/proc/self/ns/pid")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") != own:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                yield int(pid), handle.read().split(b"\0")
        except OSError:
            continue
