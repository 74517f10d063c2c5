"""
Every file this project writes: whole or not at all, owner and mode set before the first byte;
and a file a caller names, read without ever waiting.

Standard library only (``bin/configure`` uses it with the system's python3 before Salt exists).
"""

from __future__ import annotations

import errno
import grp
import json
import os
import pwd
import stat
import tempfile


def atomic_write(path: str, data: bytes, uid: int, gid: int, mode: int) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory and a rename.

    The temporary file is created 0600, then gets its owner and mode before any byte is written,
    so no reader ever sees a partial file or one readable by the wrong user; its content is
    synced to disk before the rename. On any failure the temporary file is removed and ``path``
    is left as it was.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def user_name(uid: int) -> str:
    """A file owner's user name, its number when no user has it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def group_name(gid: int) -> str:
    """A file's group name, its number when no group has it."""
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def write_text(path: str, text: str, mode: int = 0o600, uid: int | None = None, gid: int | None = None) -> None:
    """``atomic_write`` of UTF-8 text; owner defaults to the running user (mode 0600 unless told)."""
    atomic_write(path, text.encode("utf-8"), os.getuid() if uid is None else uid,
                 os.getgid() if gid is None else gid, mode)


def read_json(path: str) -> dict | None:
    """The JSON object in ``path``; None when the file is missing or not a JSON object."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_regular(path: str, limit: int) -> bytes:
    """The content of the regular file at ``path``, of at most ``limit`` bytes. OSError (its
    ``strerror`` says why) for anything else: a FIFO opens at once (O_NONBLOCK) and is refused
    like a device or a folder, so a read never waits for a writer or reads without end."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        why = f"larger than {limit} bytes" if stat.S_ISREG(info.st_mode) else "not a regular file"
        raise OSError(errno.EINVAL, why, path)
    with os.fdopen(fd, "rb") as handle:
        return handle.read(limit)


def write_json(path: str, data: dict, mode: int = 0o600) -> None:
    """``data`` as JSON in ``path`` (0600, the running user), atomically; its folder is made 0700."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode)


def append_line(path: str, line: str, mode: int) -> None:
    """Append one line to a log as ONE ``write()`` with ``O_APPEND`` (created with ``mode``):
    concurrent writers never interleave or lose a line, which a whole-file rewrite could."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def open_log(path: str, uid: int, gid: int, mode: int = 0o600):
    """A log written as output arrives (a run's output cannot be written whole): truncated, its
    owner and mode set before the first byte. Returns a binary file object."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchown(fd, uid, gid)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")
