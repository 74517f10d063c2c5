"""
What the Salt faces (``_modules``, ``_states``) share: the checks of the arguments a caller gives
a published function, reading a pillar with its real secrets, the answer of a ``validate``, and
a state module's ``__virtual__``. The faces pass in their Salt dunders' values; nothing here
reaches Salt itself.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from . import localconf
from .errors import ArgumentError, LocalConfError, PillarError

#: A pillar key a caller names: names joined by ``:`` (``devstack``, ``devstack:node``).
PILLAR_KEY_RE = re.compile(r"[^:\x00-\x1f\x7f]+(:[^:\x00-\x1f\x7f]+)*\Z")


def shown(value: Any) -> str:
    """A caller's argument as an error message shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def pillar_key(value: Any, argument: str = "pillar_key") -> str:
    """``value`` when it is a pillar key (``pillar.get`` splits it at ``:``), else ArgumentError."""
    if not isinstance(value, str) or not PILLAR_KEY_RE.match(value):
        raise ArgumentError(f"{argument} must be a pillar key such as devstack or devstack:node (names joined "
                            f"by ':'), not {shown(value)}")
    return value


def flag(value: Any, argument: str) -> bool:
    """``value`` when it is true or false, else ArgumentError: a flag such as ``reveal`` or
    ``force`` is never guessed from another value (``reveal='no'`` would show the secrets)."""
    if not isinstance(value, bool):
        raise ArgumentError(f"{argument} must be true or false, not {shown(value)}")
    return value


def number(value: Any, argument: str, low: float, high: float, integer: bool = False) -> float | int:
    """``value`` when it is a number (an integer with ``integer``) from ``low`` to ``high``,
    else ArgumentError."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or math.isnan(value) or not low <= value <= high:
        what = "a whole number" if integer else "a number"
        raise ArgumentError(f"{argument} must be {what} from {low:g} to {high:g}, not {shown(value)}")
    return value


def pillar_value(pillar_get: Callable, key: str, error: type[PillarError] | None = None,
                 example: str = "pillar/", argument: str = "pillar_key") -> Any:
    """The pillar under ``key`` (the caller's ``argument``, checked) with its real values:
    Salt 3008's ``pillar.get`` masks secrets outside template rendering, and the modules need
    them (to hash, compare or render), while keeping them out of everything they return. With
    ``error``, a missing key raises it."""
    value = pillar_get(pillar_key(key, argument), None, unmask=True)
    if value is None and error is not None:
        raise error([f"pillar key {key} is not set; see {example} in this project for an example"])
    return value


def verdict(check: Callable, *args, **kwargs) -> dict:
    """``{"valid": bool, "errors": [...]}`` of calling ``check``: the errors of the PillarError
    it raises (each naming its pillar path), or none. What every ``*.validate`` returns."""
    try:
        check(*args, **kwargs)
    except PillarError as exc:
        return {"valid": False, "errors": exc.errors}
    return {"valid": True, "errors": []}


def state_virtual(functions: Any, needs: str, virtualname: str, hint: str = "run saltutil.sync_all"):
    """A state module's ``__virtual__``: loaded when its execution module is (``needs`` is one of
    its functions), else False with what to do."""
    if needs in functions:
        return virtualname
    return (False, f"the {needs.split('.')[0]} execution module is not loaded; {hint}")


def role_addresses_elsewhere(functions: Any, minion_id: str | None, role: str,
                             strict: bool = False) -> dict[str, str]:
    """``{minion: address}`` of the other nodes carrying ``role``, from the mine
    (``topology.role_addresses``); empty when the topology module or the mine is not there yet
    (``strict``: a mine that cannot be read raises)."""
    if "topology.role_addresses" not in functions:
        return {}
    try:
        found = functions["topology.role_addresses"](role)
    except Exception:  # no mine (yet)  # noqa: BLE001
        if strict:
            raise
        return {}
    return {minion: address for minion, address in found.items() if minion != minion_id}


def devstack_lookup(functions: Any, minion_id: str | None) -> Callable[[str], Any]:
    """The ``lookup`` the devstack model needs (``localconf.build``): another pillar key,
    unmasked (the database and broker pillars of the wiring), or with ``mine:<role>`` the
    addresses of the nodes carrying that role (``topology.role_addresses``), this node left out:
    it reaches a role it carries at the role's own (often loopback) address from pillar."""
    def lookup(key: str) -> Any:
        if key.startswith("mine:"):  # none (yet): the pillar's address
            return role_addresses_elsewhere(functions, minion_id, key[5:]) or None
        return pillar_value(functions["pillar.get"], key)
    return lookup


def devstack_node(functions: Any, minion_id: str | None, config: Any = None,
                  key: str = "devstack") -> tuple[dict, dict]:
    """(settings, model) of the DevStack node the pillar under ``key`` describes (or ``config``,
    its errors named under ``key``), validated: what the devstack execution and state modules
    both work on."""
    key = pillar_key(key)
    raw = pillar_value(functions["pillar.get"], key, LocalConfError) if config is None else config
    model = localconf.build(raw, key, devstack_lookup(functions, minion_id))
    settings = localconf.node_settings(raw, key, None, dict(model, localrc=dict(model["localrc"])))
    return settings, model


def devstack_model(functions: Any, minion_id: str | None, config: Any = None, key: str = "devstack") -> dict:
    """The validated local.conf model of ``config``, or of the node the pillar describes (its
    settings validated too): what ``devstack.*`` and the ``devstack.local_conf`` state write."""
    if config is not None:
        return localconf.build(config, pillar_key(key), devstack_lookup(functions, minion_id))
    return devstack_node(functions, minion_id, None, key)[1]
