"""
Files as this project's modules write them: whole or not at all, owner and mode set before the
first byte.

A Salt utils module. ``saltutil.sync_all`` (or ``sync_utils``, or a highstate) copies
``salt://_utils`` (``salt/_utils`` links to this folder) into ``<extension_modules>/utils``.
Salt puts that folder on ``sys.path`` while it loads custom execution and state modules (the
loaders' ``extra_module_dirs``, and ``utils_dirs`` when the minion starts), so they import this
file as plain Python: ``import devstack_salt_files``. Other Salt code reaches it as
``__utils__["devstack_salt_files.atomic_write"]``. It is not ``salt.utils.<name>``: that package
holds Salt's own utils only.

Plain Python with no Salt dunders: the modules fall back to this folder of the repository when
they are imported without Salt's loader (unit tests, bench scripts).
"""

from __future__ import annotations

import os
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
