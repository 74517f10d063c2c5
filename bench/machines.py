"""The booted systemd machines the machine benches time things on: the machine tier's own
harness (tests/support), a fleet over the local OpenStack mirrors unpacked afresh, and the root
fs build timed, with an empty package cache when asked (a fresh CI machine)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from typing import Iterator

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPPORT = os.path.join(PROJECT, "tests", "support")
if SUPPORT not in sys.path:
    sys.path[:0] = [SUPPORT]
import harness  # noqa: E402
from figures import timed  # noqa: E402
from machine_node import MIRRORS, MIRRORS_TAR  # noqa: E402


def ready() -> bool:
    """The host tools installed, or why machines cannot boot here (on stderr)."""
    reason = harness.unavailable_reason()
    if reason:
        print(f"cannot boot machines here: {reason}", file=sys.stderr)
        return False
    harness.install_host_tools()
    return True


@contextlib.contextmanager
def fleet(prefix: str, fresh_cache: bool) -> Iterator[tuple[harness.Fleet, str, float]]:
    """(the fleet, a temporary folder of the bench's own, the root fs's seconds); every machine is
    gone afterwards. ``fresh_cache``: the package cache and root fs start empty."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        os.chmod(tmp, 0o755)
        if fresh_cache:
            harness.CACHE_DIR = os.path.join(tmp, "cache")
        mirrors = os.path.join(tmp, "mirrors")
        os.makedirs(mirrors)
        harness.run(["tar", "-xf", MIRRORS_TAR, "-C", mirrors])
        seconds, _ = timed(harness.build_rootfs)
        with harness.fleet({MIRRORS: mirrors}) as machines:
            yield machines, tmp, seconds
