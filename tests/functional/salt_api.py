"""What this project's Salt modules publish, as README.md's "Salt API" table documents it and as
Salt's loader finds it: for the tests of the published API (test_public_api.py) and its fuzz
(test_api_fuzz.py)."""

from __future__ import annotations

import os
import re

from project import PROJECT

EXECUTION_MODULES = ("devstack", "database_server", "message_broker", "monitoring", "topology")
STATE_MODULES = ("devstack", "database_server", "message_broker", "monitoring")


def documented(kind: str) -> dict[str, set[str]]:
    """README.md's "Salt API" table: ``| kind | `module` | `fun`, `fun` ... |`` rows."""
    with open(os.path.join(PROJECT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    section = text.split("\n## Salt API\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for row in section.splitlines():
        cells = [cell.strip() for cell in row.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] == kind:
            table[cells[1].strip("`")] = set(re.findall(r"`([a-z_]+)`", cells[2]))
    return table


def published(loader, module: str, known: str) -> dict[str, object]:
    """The functions Salt's loader publishes for ``module``, found by loading that module only
    (through one of its functions, ``known``): loading every module would load Salt's mysql
    module, which re-imports PyMySQL's error classes for the whole test process."""
    assert loader._load(f"{module}.{known}")  # noqa: SLF001 - load one module, not all
    return {name.split(".", 1)[1]: loader[name] for name in list(loader._dict)  # noqa: SLF001
            if name.split(".", 1)[0] == module}
