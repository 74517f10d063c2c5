"""Small helpers every tier and bench script shares: a free loopback port, waiting for a
condition, a throwaway password, PID files and the command lines of this host's processes.
Standard library only (the machine harness, a CLI of its own, imports it too)."""

from __future__ import annotations

import os
import secrets
import socket
import string
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
    """(PID, argv) of every process of this host that can still be read."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                yield int(pid), handle.read().split(b"\0")
        except OSError:
            continue
