"""All tiers: the order of a run. pytest-randomly shuffles the modules and the tests within each
(its seed printed first); the tiers themselves keep their order, unit, functional, host,
machines, each shuffled within: the machine tier's booted machines run MariaDB, RabbitMQ,
collectd and carbon of their own, whose processes show in this host's /proc, where the host
tier finds (and kills, in its reaction tests) the host's daemons by name. Host tests never run
while a machine is up."""

from __future__ import annotations

import os

TIERS = ("unit", "functional", "host", "machines")


def tier(item) -> int:
    parts = os.path.relpath(str(item.fspath), os.path.dirname(__file__)).split(os.sep)
    return TIERS.index(parts[0]) if parts[0] in TIERS else len(TIERS)


def background(item) -> bool:
    """A machine module whose machine works in a thread beside the others (background_job in
    tests/machines/conftest.py): its tests, which wait for it, come last in the tier."""
    return hasattr(getattr(item, "module", None), "background_job")


def pytest_collection_modifyitems(config, items):
    """After pytest-randomly's shuffle (its hook wraps all others): a stable sort by tier, and
    within the machine tier the modules that wait for a background job last."""
    items.sort(key=lambda item: (tier(item), background(item)))
