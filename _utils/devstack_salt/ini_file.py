"""
INI files as DevStack's merge edits them (``inc/ini-config``: ``iniset``, ``iniset_multiline``,
``inidelete``): one option of one section set to one or several values, or removed, every other
line of the file kept as it was.

Lines are ``option = value`` (DevStack writes that spacing); an option given several values is
several lines, as the merge writes them (``inidelete``, ``iniset``, ``iniadd_literal``). Sections
are matched by their exact name. Where DevStack's sed would leave a different but equivalent
file (an option that had several lines set to one value keeps one line here, not several equal
ones; a new option goes after the first of repeated section headers), oslo.config and DevStack
read both alike.
Text in, text out: the caller reads and writes the file (through :mod:`devstack_salt.files`).
"""

from __future__ import annotations

import re

SECTION_RE = re.compile(r"^\[(?P<name>[^\]]*)\]\s*$")
OPTION_RE = re.compile(r"^(?P<option>[^#;\s=][^=]*?)\s*=\s?(?P<value>.*)$")


def _lines(text: str) -> list[str]:
    """The file's lines as sed sees them: split on newlines only (not on form feeds and the like)."""
    return text[:-1].split("\n") if text.endswith("\n") else (text.split("\n") if text else [])


def _sections(lines: list[str]) -> list[tuple[str | None, int, int]]:
    """(section name, first line after its header, end) for every section; None before the first."""
    spans: list[tuple[str | None, int, int]] = []
    name, start = None, 0
    for index, line in enumerate(lines):
        match = SECTION_RE.match(line)
        if match:
            spans.append((name, start, index))
            name, start = match.group("name"), index + 1
    spans.append((name, start, len(lines)))
    return spans


def _option_lines(lines: list[str], section: str, option: str) -> list[int]:
    found = []
    for name, start, end in _sections(lines):
        if name != section:
            continue
        for index in range(start, end):
            match = OPTION_RE.match(lines[index])
            if match and match.group("option") == option:
                found.append(index)
    return found


def get_option(text: str, section: str, option: str) -> list[str] | None:
    """The values of ``option`` in ``section`` (several for a multi-valued option), None if absent."""
    lines = _lines(text)
    found = _option_lines(lines, section, option)
    return [OPTION_RE.match(lines[index]).group("value") for index in found] if found else None


def has_section(text: str, section: str) -> bool:
    """True when ``text`` has a ``[section]`` header."""
    return any(name == section for name, _, _ in _sections(_lines(text)))


def set_option(text: str, section: str, option: str, values: list[str] | None,
               drop_empty_section: bool = False) -> str:
    """``text`` with ``option`` of ``section`` set to ``values`` (None: removed, as ``inidelete``).

    Existing lines of the option are replaced where the first of them stood; a new option goes
    right after its section's header (where ``iniset`` puts it); a new section goes at the end.
    ``drop_empty_section``: a removal also removes the section's headers left with nothing but
    blank lines under them (the option came with its section, which the file did not have).
    """
    lines = _lines(text)
    found = _option_lines(lines, section, option)
    new = [f"{option} = {value}" for value in (values or [])]
    if found:
        at = found[0]
        lines = [line for index, line in enumerate(lines) if index not in found]
        lines[at:at] = new
    elif new:
        headers = [start for name, start, _ in _sections(lines) if name == section]
        if headers:
            lines[headers[0]:headers[0]] = new
        else:
            lines += [f"[{section}]", *new]
    if drop_empty_section and not new:
        empty = {start - 1 for name, start, end in _sections(lines)
                 if name == section and not any(line.strip() for line in lines[start:end])}
        lines = [line for index, line in enumerate(lines) if index not in empty]
    return "\n".join(lines) + "\n" if lines else ""


def options(text: str) -> dict[str, dict[str, list[str]]]:
    """Every section's options and their values (DevStack's view of the file)."""
    lines = _lines(text)
    result: dict[str, dict[str, list[str]]] = {}
    for name, start, end in _sections(lines):
        if name is None:
            continue
        section = result.setdefault(name, {})
        for index in range(start, end):
            match = OPTION_RE.match(lines[index])
            if match:
                section.setdefault(match.group("option"), []).append(match.group("value"))
    return result
