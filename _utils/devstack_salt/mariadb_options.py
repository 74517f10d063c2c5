"""
The MariaDB server's option file: the role's drop-in rendered from the model's [mysqld]
options, read back, compared with what is on disk and written (root, 0644); and the option names
the installed server accepts, which the model is validated against.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess

from . import files
from .mariadb_model import SERVER_KEYS, option_name

#: Our drop-in: read after Debian's 50-server.cnf, so its options win.
CONFIG_FILE = "/etc/mysql/mariadb.conf.d/99-salt.cnf"
SERVER_BINARY = "/usr/sbin/mariadbd"

HEADER = (
    "# MariaDB server options, written by Salt from the database pillar (database:server).\n"
    "# Edits here are overwritten on the next apply: change the pillar instead.\n"
)


def known_options(binary: str = SERVER_BINARY) -> frozenset | None:
    """Every option name the installed server accepts (from ``mariadbd --verbose --help``), or
    None when the server is not installed yet."""
    if not os.path.exists(binary):
        return None
    proc = subprocess.run([binary, "--no-defaults", "--verbose", "--help"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)
    names = set(re.findall(r"^\s+--([a-z0-9][a-z0-9_-]*)", proc.stdout, re.M))
    table = proc.stdout.split("\n-------", 1)[-1]
    names.update(re.findall(r"^([a-z0-9][a-z0-9_-]*)\s", table.split("\n", 1)[-1], re.M))
    names = {option_name(n) for n in names}
    return frozenset(names) if len(names) > 100 else None


def render_options(options: dict[str, str]) -> str:
    """The option file for ``options``: the owned keys first, then the rest by name."""
    first = [name for name in SERVER_KEYS.values() if name in options]
    lines = [HEADER, "[mysqld]\n"]
    for name in first + sorted(set(options) - set(first)):
        lines.append(f"{name} = {options[name]}\n")
    return "".join(lines)


def parse_options(text: str) -> dict[str, str]:
    """The [mysqld] options of an option file (the parts MariaDB reads: name = value, flags)."""
    options: dict[str, str] = {}
    section = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        if section in ("mysqld", "server", "mariadb"):
            name, _, value = line.partition("=")
            options[option_name(name)] = value.split("#", 1)[0].strip().strip("'\"") if _ else "ON"
    return options


def plan_options(path: str, options: dict[str, str]) -> tuple[dict, bytes | None]:
    """Changes (``mysqld:NAME`` old/new, ``mode``/``owner``) needed to bring ``path`` to the
    options, and the bytes to write (None when the content is right)."""
    wanted = render_options(options).encode()
    try:
        with open(path, "rb") as handle:
            current = handle.read()
        info = os.stat(path)
    except FileNotFoundError:
        current, info = None, None
    changes: dict[str, dict] = {}
    if current != wanted:
        old = parse_options(current.decode(errors="replace")) if current is not None else {}
        for name in sorted(set(old) | set(options)):
            if old.get(name) != options.get(name):
                changes[f"mysqld:{name}"] = {"old": old.get(name), "new": options.get(name)}
        if not changes:
            changes["text"] = {"old": "same options, other text", "new": "rewritten"}
    if info is not None:
        if stat.S_IMODE(info.st_mode) != 0o644:
            changes["mode"] = {"old": f"{stat.S_IMODE(info.st_mode):04o}", "new": "0644"}
        if (info.st_uid, info.st_gid) != (0, 0):
            changes["owner"] = {"old": f"{info.st_uid}:{info.st_gid}", "new": "0:0"}
    return changes, (wanted if current != wanted else None)


def apply_options(path: str, options: dict[str, str]) -> dict:
    """Bring ``path`` to the options (content written atomically, then owner root and mode 0644)
    and return the changes ``plan_options`` named."""
    changes, data = plan_options(path, options)
    if data is not None:
        files.atomic_write(path, data, 0, 0, 0o644)
    os.chown(path, 0, 0)
    os.chmod(path, 0o644)
    return changes
