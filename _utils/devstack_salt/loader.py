"""
Where Salt's loader finds this project's modules when it is installed as a Salt extension.

``pyproject.toml`` names :func:`salt_dirs` as a ``salt.loader`` entry point. An installed wheel
carries ``_modules`` etc. as ``devstack_salt/modules`` etc. beside this file; an editable install
or a checkout still has them at the repository's top level. Salt never loads ``utils`` from
extensions: the modules import this package as plain Python instead.
"""

from __future__ import annotations

import os

#: Salt's loader kind -> the repository folder that holds those modules.
KINDS = {"modules": "_modules", "states": "_states", "beacons": "_beacons", "returners": "_returners",
         "engines": "_engines"}


def salt_dirs() -> dict[str, list[str]]:
    """Salt's loader kind -> the folders of this project's modules of that kind."""
    here = os.path.dirname(os.path.abspath(__file__))
    checkout = os.path.dirname(os.path.dirname(here))
    dirs = {}
    for kind, folder in KINDS.items():
        for candidate in (os.path.join(here, kind), os.path.join(checkout, folder)):
            if os.path.isdir(candidate):
                dirs[kind] = [candidate]
                break
    return dirs
