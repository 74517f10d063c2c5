"""
Who listens on a TCP port of this host: the sockets in /proc/net/tcp{,6} and the processes
holding them, so that a role can refuse a port another program has, naming it.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
from typing import Any


def is_port(value: Any) -> bool:
    """Whether a pillar value is a TCP port number: an integer from 1 to 65535 (YAML's true is
    no port)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _proc_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address as /proc/net/tcp{,6} writes it: hex, in 32-bit words of host byte order."""
    raw = bytes.fromhex(text)
    return ipaddress.ip_address(b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)))


def _listeners(port: int) -> dict[str, Any]:
    """The TCP sockets listening on ``port`` in this network namespace: inode -> local address."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    address, hex_port = fields[1].rsplit(":", 1)
                    if fields[3] == "0A" and int(hex_port, 16) == port:
                        found[fields[9]] = _proc_address(address)
        except OSError:
            continue
    return found


def _overlaps(address: str, listener: Any) -> bool:
    """Whether binding ``address`` (the pillar's) collides with a socket listening on ``listener``
    on the same port: the same address, or a wildcard on either side (a host name: assume so)."""
    try:
        mine = ipaddress.ip_address(address)
    except ValueError:
        return True
    if mine.is_unspecified or listener.is_unspecified:
        return True
    if isinstance(listener, ipaddress.IPv6Address) and listener.ipv4_mapped:
        listener = listener.ipv4_mapped
    return mine == listener


def port_users(port: int, address: str = "0.0.0.0") -> list[tuple[int | None, str]]:
    """(PID, command line) of this host's processes listening on ``port`` where binding
    ``address`` would collide; (None, why) for such a socket whose owner is not visible here."""
    listeners = {f"socket:[{inode}]": where for inode, where in _listeners(port).items()
                 if _overlaps(address, where)}
    users: list[tuple[int | None, str]] = []
    if not listeners:
        return users
    owned = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        held = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):  # closed meanwhile
                    held.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
            held &= set(listeners)
            if not held:
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
        except OSError:  # the process is gone, or not ours to read
            continue
        owned |= held
        users.append((int(pid), " ".join(arg.decode(errors="replace") for arg in argv if arg)))
    for inode in sorted(set(listeners) - owned):
        users.append((None, f"a socket on {listeners[inode]} whose program is not visible from here"))
    return sorted(users, key=lambda user: (user[0] is None, user[0] or 0))
