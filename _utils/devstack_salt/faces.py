"""
What the Salt faces (``_modules``, ``_states``) share: reading a pillar with its real secrets,
the answer of a ``validate``, and a state module's ``__virtual__``. The faces pass in their Salt
dunders' values; nothing here reaches Salt itself.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import PillarError


def pillar_value(pillar_get: Callable, pillar_key: str, error: type[PillarError] | None = None,
                 example: str = "pillar/") -> Any:
    """The pillar under ``pillar_key`` with its real values: Salt 3008's ``pillar.get`` masks
    secrets outside template rendering, and the modules need them (to hash, compare or render),
    while keeping them out of everything they return. With ``error``, a missing key raises it."""
    value = pillar_get(pillar_key, None, unmask=True)
    if value is None and error is not None:
        raise error([f"pillar key {pillar_key} is not set; see {example} in this project for an example"])
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
