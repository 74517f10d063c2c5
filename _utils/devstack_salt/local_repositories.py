"""
The local git repositories a DevStack node's pillar names, which its stack user must trust.

A mirror on the node's own disk (``devstack:repo: file:///srv/mirrors/...``, ``GIT_BASE:
file:///srv/mirrors``, a plugin's ``file://`` URL) usually belongs to root or another user. git
refuses to clone from a repository another user owns ("detected dubious ownership") unless the
cloning user's ``safe.directory`` names it; DevStack's checkout and every clone stack.sh makes
run as the stack user. The role trusts exactly the repositories the pillar names: the checkout's
repository, each plugin's, a project's own (``localrc: KEYSTONE_REPO: file://...``), and the
repositories below ``GIT_BASE`` (DevStack clones ``$GIT_BASE/<org>/<name>.git``). Never ``*``,
which would trust every directory on the host.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from .localconf import resolve_literal

#: How deep below GIT_BASE a repository sits: ``<org>/<name>.git``.
GIT_BASE_DEPTH = 2


def local_path(url: str) -> str | None:
    """The path of a repository on this host that ``url`` names (``file:///path`` or an
    absolute path), or None for a remote URL (https, git, ssh, ``host:path``)."""
    if url.startswith("/"):
        return os.path.normpath(url)
    parts = urlsplit(url)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return os.path.normpath(unquote(parts.path))
    return None


def is_repository(path: str) -> bool:
    """True when ``path`` is a git repository: bare (HEAD and objects/) or with a .git."""
    return (os.path.isfile(os.path.join(path, "HEAD")) and os.path.isdir(os.path.join(path, "objects"))) \
        or os.path.exists(os.path.join(path, ".git"))


def repositories_below(base: str, depth: int = GIT_BASE_DEPTH) -> list[str]:
    """Every repository at most ``depth`` levels below ``base`` (not inside another one)."""
    found: list[str] = []
    level = [base]
    for _ in range(depth):
        below = []
        for folder in level:
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                path = os.path.join(folder, name)
                if not os.path.isdir(path):
                    continue
                (found if is_repository(path) else below).append(path)
        level = below
    return sorted(found)


def trusted(settings: dict, model: dict) -> list[str]:
    """The paths the stack user's ``safe.directory`` must list for this node: the local
    repositories its pillar names (the checkout's when it checks out, its plugins', those below
    a local GIT_BASE), each also by its real path where a symlink leads there. Sorted."""
    localrc = model.get("localrc", {})
    named = [settings["repo"]] if settings.get("checkout") else []
    named += [spec["url"] for spec in model.get("plugins", {}).values()]
    # A project's own repository (KEYSTONE_REPO, SWIFT_REPO, ...: stackrc's <PROJECT>_REPO).
    named += [value for value in (resolve_literal(localrc, name, {}) for name in localrc if name.endswith("_REPO"))
              if value]
    paths = [path for path in map(local_path, named) if path]
    base = resolve_literal(localrc, "GIT_BASE", {})
    base_path = local_path(base) if base else None
    if base_path:
        paths += repositories_below(base_path)
    return sorted({form for path in paths for form in (path, os.path.realpath(path))})
