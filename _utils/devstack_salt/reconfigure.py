"""
Changing a stacked node in place: when the only difference between the model last stacked and
the model now is in the options of ``post-config``, ``post-extra`` or ``test-config`` files that
exist on the node (whether or not the last stack merged options into them), merge exactly those options into the files the way DevStack's merge would,
restart only the units reading those files, and wait until the services answer. Anything else
(services, plugins, localrc, the ``extra`` phase, a file not on the node, a file without a known unit, a file
a service reads only through a copy DevStack makes when it starts it, a value only DevStack can expand, the
removal of an option stack.sh merged itself) is a re-stack.

What this needs to know lives in the stamp (``stack_runner``): ``base``, the digest of the model
without those phases; ``config``, those phases as last applied; ``origins``, for every option
first written in place, the lines the file had before (None: absent; :data:`NO_SECTION`: its
section absent too), so that removing the
option from the pillar puts back what stack.sh wrote. An option stack.sh merged itself has no
origin: what stack.sh writes without it is known only by running stack.sh.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any

from . import ini_file
from .devstack_facts import (CONFIG_FILE_UNITS, COPIED_CONFIG_FILES, DEVSTACK_PATHS, PHASES, header_identity,
                             header_variable)
from .localconf import effective_services, resolve_literal
from .shell import config_value_parts

#: The phases whose options can change in place (``extra`` runs code before services start).
IN_PLACE_PHASES = ("post-config", "post-extra", "test-config")

#: Why a change cannot be made in place when more than options changed.
BEYOND_OPTIONS = ("the meaning of local.conf changed beyond the options of post-config, post-extra and "
                  "test-config (services, plugins, localrc or the extra phase)")

#: The origin of an option whose section the file did not have either (the stamp's JSON): taking
#: the option back takes the section's header too, if nothing else is left under it.
NO_SECTION = {"section": False}

#: Files read at run time by a tool, not by a service: nothing to restart.
NO_UNIT_VARIABLES = frozenset({"TEMPEST_CONFIG"})


def base_digest(model: dict) -> str:
    """A digest of the model without the in-place phases: equal digests mean that only those
    phases' options differ."""
    rest = {**model, "config": {phase: files for phase, files in model["config"].items()
                                if phase not in IN_PLACE_PHASES}}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()


def value_digest(value: Any) -> str:
    """What the stamp keeps of an option's value: a digest (values may be secrets)."""
    return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def in_place_config(model: dict) -> dict:
    """The model's in-place phases as the stamp records them: every value as its digest."""
    return {phase: {header: {section: {option: value_digest(value) for option, value in options.items()}
                             for section, options in sections.items()}
                    for header, sections in model["config"][phase].items()}
            for phase in IN_PLACE_PHASES if phase in model["config"]}


def file_paths(localrc: dict, dest: str) -> dict[str, str] | str:
    """The path variables a header may start with, as this node's localrc sets them (literal
    values only) over DevStack's defaults; or the name of one localrc sets in a way only bash
    can tell (then the node's files cannot be found without stack.sh)."""
    early = {"DEST": dest}
    extra = {"DEST": dest}
    for name in DEVSTACK_PATHS:
        if name in localrc:
            value = resolve_literal(localrc, name, early)
            if value is None:
                return name
            extra[name] = value
    return extra


def _effective(config: dict, paths: dict[str, str], digests: bool, extra: dict | None = None) -> dict[str, dict]:
    """Per file (its path on the node): the headers naming it, and {(section, option): digest}
    with a later phase winning per option, in stack.sh's order (post-config, extra, post-extra,
    test-config). ``digests``: ``config``'s values are the stamp's digests; otherwise the model's
    values, also kept as "values" (lists for multi-valued options). ``extra``: the model's extra
    phase, read only (a change to it re-stacks, so the stamp's is the same); its options win over
    post-config's, and its headers name no file to change."""
    files: dict[str, dict] = {}
    for phase in PHASES:
        in_place = phase in IN_PLACE_PHASES
        for header, sections in ((config.get(phase) if in_place else extra) or {}).items():
            path = header_identity(header, paths)
            entry = files.setdefault(path, {"headers": [], "options": {}})
            if in_place:
                entry["headers"].append((phase, header))
            for section, options in sections.items():
                for option, value in options.items():
                    entry["options"][(section, option)] = value if digests and in_place else value_digest(value)
                    if not digests:
                        entry.setdefault("values", {})[(section, option)] = value if isinstance(value, list) else [value]
    return files


def units_of(header: str, extra_units: dict[str, list[str]] | None, paths: dict[str, str]) -> list[str] | None:
    """The unit patterns that read a header's file: the pillar's ``devstack:config_units`` (by
    header or by path) first, then DevStack's own table; [] for a file no service reads; None
    when unknown."""
    return unit_source(header, extra_units, paths)[0]


def unit_source(header: str, extra_units: dict[str, list[str]] | None,
                paths: dict[str, str]) -> tuple[list[str] | None, str | None]:
    """:func:`units_of`, and the ``devstack:config_units`` key the patterns come from (None:
    DevStack's own table, or no unit known)."""
    extra_units = extra_units or {}
    for key in (header, header_identity(header, paths)):
        if key in extra_units:
            return list(extra_units[key]), key
    variable = header_variable(header) or ""
    if variable in NO_UNIT_VARIABLES:
        return [], None
    if variable in CONFIG_FILE_UNITS:
        return list(CONFIG_FILE_UNITS[variable]), None
    # An absolute path (or another variable) naming a file of DevStack's table is that file.
    path = header_identity(header, paths)
    units: list[str] = []
    for name, patterns in CONFIG_FILE_UNITS.items():
        if header_identity(f"${name}", paths) == path:
            units.extend(p for p in patterns if p not in units)
    if units:
        return units, None
    if any(header_identity(f"${name}", paths) == path for name in NO_UNIT_VARIABLES):
        return [], None
    return None, None


def _copied_for(path: str, model: dict, paths: dict[str, str]) -> str | None:
    """Why ``path`` cannot change in place because an enabled service reads only a copy DevStack
    makes of it when it starts the service (:data:`COPIED_CONFIG_FILES`), or None."""
    enabled = set(effective_services(model))
    for source, (copy, service, where) in COPIED_CONFIG_FILES.items():
        if service in enabled and header_identity(f"${source}", paths) == path:
            return (f"{path} is what DevStack copies to {header_identity(f'${copy}', paths)} for {service} when it "
                    f"starts it ({where}), adding options of its own: a change made in place would not reach "
                    f"{service}, so stack.sh runs")
    return None


def _expanded(values: list[str], localrc: dict, early: dict[str, str]) -> list[str] | str:
    """The values as DevStack's merge writes them ($NAME expanded, spaces collapsed), or the
    name of a variable only DevStack knows at merge time."""
    out = []
    for value in values:
        text = []
        for kind, part in config_value_parts(str(value)):
            if kind == "lit":
                text.append(part)
                continue
            resolved = resolve_literal(localrc, part, early)
            if resolved is None:
                return part
            text.append(resolved)
        out.append("".join(text))
    # The merge writes the last value with iniset, whose unquoted echo collapses runs of spaces;
    # the others with iniadd_literal, as they are.
    out[-1] = " ".join(out[-1].split())
    return out


def plan(stamp: dict | None, model: dict, dest: str, extra_units: dict[str, list[str]] | None = None,
         root: str = "devstack", exists=os.path.isfile) -> dict:
    """What a changed model costs on a node stacked with ``stamp``'s model.

    Returns {"action": "none" | "in-place" | "restack", "reasons": [...], "edits": [...],
    "units": [...], "options": ["path [section] option", ...], "readers": [...]}. ``edits`` are
    {"path", "section", "option", "values" (None: remove), "origin": "keep" | "record" | "drop"}
    (and "drop_empty_section": True when the option came with its section);
    ``readers``, per changed file, {"path", "header", "units", "key"}: its unit patterns and the
    ``devstack:config_units`` key naming them (None: DevStack's own units), so that the runner
    can tell which pattern matches no unit on the node and whose it is.
    """
    extra_units = extra_units or {}
    result: dict[str, Any] = {"action": "restack", "reasons": [], "edits": [], "units": [], "options": [],
                              "readers": []}
    if not stamp or "base" not in stamp or "config" not in stamp:
        result["reasons"].append("the last stack recorded no model to compare with (stacked by an older version)")
        return result
    if stamp["base"] != base_digest(model):
        result["reasons"].append(BEYOND_OPTIONS)
        return result
    paths = file_paths(model["localrc"], dest)
    if isinstance(paths, str):
        result["reasons"].append(f"{root}:localrc:{paths} sets where DevStack's files are in a way only bash "
                                 "can tell")
        return result
    extra = model["config"].get("extra")
    old = _effective(stamp["config"], paths, digests=True, extra=extra)
    new = _effective(model["config"], paths, digests=False, extra=extra)
    origins = stamp.get("origins") or {}
    early = {"DEST": dest}
    reasons: list[str] = []
    units: list[str] = []
    for path in sorted(set(old) | set(new)):
        before = old.get(path, {"headers": [], "options": {}})
        after = new.get(path, {"headers": [], "options": {}})
        changed = sorted(key for key in set(before["options"]) | set(after["options"])
                         if before["options"].get(key) != after["options"].get(key))
        if not changed:
            continue
        headers = after["headers"] or before["headers"]
        where = f"{root}:config:{headers[-1][0]}:{headers[-1][1]}"
        if "$" in path:  # a variable DevStack does not define itself: a plugin's, set when it runs
            variable = re.search(r"\$\{?(\w+)", path).group(1)
            reasons.append(f"{where}: ${variable} is not one of DevStack's file variables (a plugin's, or "
                           f"localrc's), so the file it names on this node is unknown here; to change it in "
                           f"place, write the file's "
                           f"absolute path as the header and name its units under {root}:config_units (e.g. "
                           "{'/etc/my-plugin/my.conf': ['devstack@my-api.service']})")
            continue
        if not exists(path):
            reasons.append(f"{where}: {path} does not exist on this node (a new file: stack.sh writes it)")
            continue
        copied = _copied_for(path, model, paths)
        if copied:
            reasons.append(f"{where}: {copied}")
            continue
        file_units, units_key = unit_source(headers[-1][1], extra_units, paths)
        if file_units is None:
            reasons.append(f"{where}: no unit is known to read {path}; name it under {root}:config_units "
                           f"(e.g. {{'{headers[-1][1]}': ['devstack@my-service.service']}}) to change it in place")
            continue
        for section, option in changed:
            name = f"{path} [{section}] {option}"
            values = after.get("values", {}).get((section, option))
            origin_key = f"{path}\0{section}\0{option}"
            if values is None:
                if origin_key not in origins:
                    reasons.append(f"{name}: removed from the pillar, but stack.sh merged it itself; what stack.sh "
                                   "writes without it is known only by running stack.sh")
                    continue
                result["edits"].append(_drop(path, section, option, origins[origin_key]))
            else:
                expanded = _expanded(values, model["localrc"], early)
                if isinstance(expanded, str):
                    reasons.append(f"{name} refers to ${expanded}, which only DevStack knows when it merges")
                    continue
                first = (section, option) not in before["options"] and origin_key not in origins
                result["edits"].append({"path": path, "section": section, "option": option, "values": expanded,
                                        "origin": "record" if first else "keep"})
            result["options"].append(name)
            units.extend(unit for unit in file_units if unit not in units)
        if file_units:
            result["readers"].append({"path": path, "header": headers[-1][1], "units": list(file_units),
                                      "key": f"{root}:config_units:{units_key}" if units_key else None})
    if reasons:
        result.update(reasons=reasons, edits=[], options=[], units=[], readers=[])
        return result
    if not result["edits"]:
        result["action"] = "none"
        return result
    result.update(action="in-place", units=units,
                  reasons=[f"only options of post-config files changed: {', '.join(result['options'])}"])
    return result


def _drop(path: str, section: str, option: str, origin: Any) -> dict:
    """The edit that puts back an option's ``origin`` (its lines, None, or :data:`NO_SECTION`)."""
    if origin == NO_SECTION:
        return {"path": path, "section": section, "option": option, "values": None, "origin": "drop",
                "drop_empty_section": True}
    return {"path": path, "section": section, "option": option, "values": origin, "origin": "drop"}


def _section_added(origins: dict, path: str, section: str) -> bool:
    """True when an option written in place brought ``section`` into the file at ``path``."""
    prefix = f"{path}\0{section}\0"
    return any(key.startswith(prefix) and origin == NO_SECTION for key, origin in origins.items())


def apply_edits(edits: list[dict], origins: dict, read, write) -> dict:
    """Merge ``edits`` into their files (``read(path) -> text``, ``write(path, text)``); return
    the origins afterwards (each first-time option's previous lines recorded, removed ones
    dropped). Files are written whole, one write per file."""
    origins = dict(origins)
    by_path: dict[str, list[dict]] = {}
    for edit in edits:
        by_path.setdefault(edit["path"], []).append(edit)
    for path, file_edits in sorted(by_path.items()):
        text = read(path)
        for edit in file_edits:
            section, option = edit["section"], edit["option"]
            key = f"{path}\0{section}\0{option}"
            if edit["origin"] == "record":
                # A section another in-place option brought is not stack.sh's either.
                if not ini_file.has_section(text, section) or _section_added(origins, path, section):
                    origins[key] = dict(NO_SECTION)
                else:
                    origins[key] = ini_file.get_option(text, section, option)
            elif edit["origin"] == "drop":
                origins.pop(key, None)
            text = ini_file.set_option(text, section, option, edit["values"],
                                       drop_empty_section=edit.get("drop_empty_section", False))
        write(path, text)
    return origins


def revert_edits(origins: dict, exists=os.path.isfile) -> list[dict]:
    """Edits that put every option written in place back to what the file had before (run before
    a re-stack, so that stack.sh finds its files as it left them)."""
    edits = []
    for key, origin in sorted(origins.items()):
        path, section, option = key.split("\0")
        if exists(path):
            edits.append(_drop(path, section, option, origin))
    return edits
