"""
The text of local.conf and the file holding it: a model rendered as local.conf, any local.conf
(hand-written ones included) read and parsed back the way DevStack reads it, a model as pillar
YAML, and the plan and write of the file (content, owner, mode) with masked changes.

``parse_text(render_model(m))`` gives ``m`` back. The model itself is
:mod:`devstack_salt.localconf`; every write goes through :mod:`devstack_salt.files`.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import stat
from typing import Any

import yaml

from . import files
from .devstack_facts import OPTION_RE, PHASES, SECTION_RE
from .errors import ArgumentError, DevstackSaltError, LocalConfError, ParseError
from .localconf import plugin_order, semantic_diff, value_from_parts, variable_order
from .shell import NAME_PATTERN, config_value_problem, config_value_text, shell_quote, shell_value, shell_words, template_parts

HEADER_COMMENT = (
    "# DevStack local.conf, written by Salt from the devstack pillar.\n"
    "# Edits here are overwritten on the next apply: change the pillar instead.\n"
)
_HEADER_RE = re.compile(r"\[\[.+\|.*\]\]")
#: The largest local.conf :func:`read_file` reads (DevStack's own are a few kilobytes).
MAX_FILE_SIZE = 4 * 2**20


def render_model(model: dict) -> str:
    """Render a model as local.conf text (deterministic; the model must be acyclic)."""
    lines = [HEADER_COMMENT.rstrip("\n"), "[[local|localrc]]"]
    if model["disable_all_services"]:
        lines.append("disable_all_services")
    enabled = [name for name, on in model["services"].items() if on]
    disabled = [name for name, on in model["services"].items() if not on]
    if enabled:
        lines.append("enable_service " + " ".join(enabled))
    if disabled:
        lines.append("disable_service " + " ".join(disabled))
    localrc = model["localrc"]
    for name in variable_order(localrc):
        lines.append(f"{name}={shell_value(localrc[name])}")
    plugins = model["plugins"]
    for name in plugin_order(plugins):
        spec = plugins[name]
        line = f"enable_plugin {name} {shell_quote(spec['url'])}"
        if "ref" in spec:
            line += " " + shell_quote(spec["ref"])
        if spec.get("requires"):
            line += " # requires: " + ", ".join(spec["requires"])
        lines.append(line)
    for phase in PHASES:
        for filename, sections in sorted(model["config"].get(phase, {}).items()):
            lines.append("")
            lines.append(f"[[{phase}|{filename}]]")
            for section, options in sorted(sections.items()):
                lines.append(f"[{section}]")
                for option, value in sorted(options.items()):
                    for item in value if isinstance(value, list) else [value]:
                        lines.append(f"{option} = {config_value_text(item)}" if item else f"{option} =")
    return "\n".join(lines) + "\n"


def read_file(path: Any, missing_ok: bool = False) -> str | None:
    """The text of the local.conf at ``path`` (a caller's argument), or None when there is no
    such file and ``missing_ok``. Only a regular file of at most MAX_FILE_SIZE bytes is read
    (:func:`devstack_salt.files.read_regular`): a FIFO, a device or a folder is an error, never
    a wait without end."""
    if not isinstance(path, str) or not path or "\0" in path:
        raise ArgumentError(f"path must be the path of a local.conf file, not {path!r:.60}")
    try:
        return files.read_regular(path, MAX_FILE_SIZE).decode("utf-8", errors="replace")
    except OSError as exc:
        if missing_ok and isinstance(exc, FileNotFoundError):
            return None
        raise DevstackSaltError(f"cannot read {path}: {exc.strerror}") from None


def parse_text(text: str) -> tuple[dict, list[str]]:
    """Parse local.conf text the way DevStack reads it; return (model, warnings).

    Raises ParseError for content the model cannot represent (e.g. arbitrary shell code).
    """
    if not isinstance(text, str):
        raise ParseError([f"text must be the text of a local.conf (a string), not {type(text).__name__}"])
    if "\r" in text:
        raise ParseError([
            "the file has CR (Windows) line endings: DevStack would not recognise its [[local|localrc]] "
            "header; convert it with dos2unix first"
        ])
    warnings: list[str] = []
    blocks: list[tuple[str, str, list[tuple[int, str]]]] = []
    current: list[tuple[int, str]] | None = None
    for lineno, line in enumerate(text.split("\n"), start=1):
        if _HEADER_RE.match(line):
            field = line.split()[0] if line.split() else ""
            group, _, filename = field.replace("[", "").replace("]", "").partition("|")
            if not group:
                warnings.append(f"line {lineno}: header {line.strip()!r} has spaces inside; DevStack drops this block")
                current = None
                continue
            current = []
            blocks.append((group, filename, current))
            continue
        if current is not None:
            current.append((lineno, line))
        elif line.strip() and not line.lstrip().startswith("#"):
            warnings.append(f"line {lineno}: text before the first [[...]] header is ignored by DevStack")
    model = {"disable_all_services": False, "services": {}, "localrc": {}, "plugins": {}, "config": {}}
    localrc_lines: list[tuple[int, str]] = []
    for group, filename, lines in blocks:
        if group == "local":
            if filename == "localrc":
                localrc_lines.extend(lines)
            else:
                warnings.append(f"[[local|{filename}]] is ignored by DevStack (only localrc is read)")
        elif group in PHASES:
            _parse_config_block(model, group, filename, lines, warnings)
        else:
            warnings.append(f"[[{group}|{filename}]]: DevStack ignores the group {group!r}")
    _parse_localrc(model, localrc_lines, warnings)
    model["services"] = dict(sorted(model["services"].items()))
    model["localrc"] = dict(sorted(model["localrc"].items()))
    model["plugins"] = dict(sorted(model["plugins"].items()))
    config = {}
    for phase in PHASES:  # canonical order; empty sections, files and phases are dropped
        phase_files = {}
        for filename, sections in sorted(model["config"].get(phase, {}).items()):
            kept = {s: dict(sorted(o.items())) for s, o in sorted(sections.items()) if o}
            if kept:
                phase_files[filename] = kept
        if phase_files:
            config[phase] = phase_files
    model["config"] = config
    return model, warnings


def _parse_config_block(model: dict, phase: str, filename: str, lines, warnings: list[str]) -> None:
    """One meta-section body, read the way DevStack's merge_config_file reads it.

    Its awk program groups lines by (section, text before the first '='), and prints for each
    group ``iniset FILE SECTION NAME "VALUE"`` (several lines: a multi-valued option), which is
    then ``eval``ed: the unquoted section and name are split into words, so an empty section
    (``[ x ]``) or a line without '=' shifts the words: ``novalue_line`` in ``[DEFAULT]`` is
    ``iniset FILE DEFAULT novalue_line`` (an option with an empty value), and after ``[ x ]``,
    ``a = 1`` is ``iniset FILE a 1`` (section ``a``, option ``1``). What the model cannot hold
    the same way is a ParseError naming the line.
    """
    where = f"[[{phase}|{filename}]]"
    groups: dict[tuple[str, str], list[tuple[int, str]]] = {}
    dropped: set[tuple[str, str]] = set()
    section = last_section = ""
    registered = 0
    for lineno, line in lines:
        if re.match(r"\[.+\]", line):
            section = line.split()[0].replace("[", "").replace("]", "")
            continue
        if re.match(r" *#", line):
            continue
        if not re.match(r"[^ \t]", line):
            if line.strip():
                warnings.append(f"line {lineno}: indented line in {where} is dropped by DevStack")
            continue
        name, sep, value = line.partition("=")
        if not sep:
            name, value = "", line
        key = (section, name.rstrip(" \t"))
        if key not in groups:
            # The awk program files a new option under the section it last saw change; before
            # the first change from "" (an option before any named section) it files none.
            if section != last_section:
                registered, last_section = registered + 1, section
            if not registered:
                dropped.add(key)
        groups.setdefault(key, []).append((lineno, value.strip(" \t")))
    sections = model["config"].setdefault(phase, {}).setdefault(filename, {})
    if not [key for key in groups if key not in dropped]:
        warnings.append(f"{where} sets no option: DevStack would only create the file, empty; the model drops it")
    origin: dict[tuple[str, str], int] = {}
    for (section, name), items in groups.items():
        first = items[0][0]
        if (section, name) in dropped:
            for lineno, _ in items:
                warnings.append(f"line {lineno}: DevStack's merge drops this line of {where}: it comes before any "
                                "[section] that has options")
            continue
        words = section.split() + name.split()
        if len(words) == 2:
            values = [_imported_value(value, lineno, where) for lineno, value in items]
        elif len(words) == 1 and len(items) == 1 and items[0][1]:
            # iniset FILE WORD "VALUE": the value is the option name, its value is empty.
            words.append(items[0][1])
            values = [""]
            shifted = "a line without '='" if not name else "an option after a section header without a name"
            warnings.append(f"line {first}: {shifted} in {where}: DevStack writes it as option "
                            f"{words[1]!r} with an empty value in section [{words[0]}]")
        elif not words and len(items) == 1 or len(words) == 1 and not items[0][1]:
            warnings.append(f"line {first}: DevStack's merge writes nothing for this line of {where} (no option name)")
            continue
        else:
            raise ParseError([f"line {first}: in {where}, DevStack would split this line's section and option name "
                              "into other words than 'section', 'option'; the model cannot represent it"])
        target_section, option = words[0], words[1]
        if not SECTION_RE.match(target_section) or not OPTION_RE.match(option):
            raise ParseError([f"line {first}: in {where}, the section or option name would be expanded or mangled by "
                              "DevStack's merge; use letters, digits and _ . : - only"])
        if (target_section, option) in origin:
            raise ParseError([f"line {first}: in {where}, DevStack would write option {option} of [{target_section}] "
                              f"that line {origin[target_section, option]} writes too; keep one"])
        origin[target_section, option] = first
        sections.setdefault(target_section, {})[option] = values[0] if len(values) == 1 else values


def _imported_value(raw: str, lineno: int, where: str) -> str:
    """A post-config value of a hand-written file as the model holds it; ParseError if DevStack's
    merge would not write it literally (``\\\\$`` is DevStack's literal dollar: ``$$``)."""
    escaped = raw.replace("\\\\$", "\0") if "\0" not in raw else raw
    if "$$" in escaped:
        raise ParseError([f"line {lineno}: the value in {where} contains '$$', which DevStack's merge expands to "
                          "its process id; write \\\\$ for a literal dollar"])
    value = escaped.replace("\0", "$$")
    problem = config_value_problem(value)
    if problem:
        raise ParseError([f"line {lineno}: the value in {where} {problem}"])
    return value


_ASSIGN_RE = re.compile(r"(?:export\s+)?(" + NAME_PATTERN + r")(\+?=)(.*)\Z")


def _parse_localrc(model: dict, lines, warnings: list[str]) -> None:
    negated: set[str] = set()
    services = model["services"]
    for lineno, raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {lineno}"
        match = _ASSIGN_RE.match(line)
        if match:
            name, op, rest = match.groups()
            words, _ = shell_words(rest, where) if rest and not rest[0].isspace() else ([[]], None)
            if rest and rest[0].isspace():
                extra, _ = shell_words(rest, where)
                if extra:
                    raise ParseError([f"{where}: assigning {name} before a command (NAME=value command) is not supported"])
            if len(words) != 1:
                raise ParseError([f"{where}: the value of {name} is more than one word; quote it"])
            value = value_from_parts(words[0])
            if name == "ENABLED_SERVICES":
                _parse_enabled_services(model, value, op, where, negated)
            elif op == "+=":
                raise ParseError([f"{where}: appending with += is only supported for ENABLED_SERVICES"])
            else:
                if name in model["localrc"]:
                    warnings.append(f"{where}: {name} is assigned again; the last value wins")
                model["localrc"][name] = value
            continue
        words, comment = shell_words(line, where)
        command = _literal_words(words, where)
        if command[0] == "disable_all_services" and len(command) == 1:
            model["disable_all_services"] = True
            for name in [n for n, on in services.items() if on]:
                del services[name]
        elif command[0] == "enable_service":
            for name in command[1:]:
                if services.get(name) is False:
                    # DevStack's enable_service skips a name already in DISABLED_SERVICES.
                    warnings.append(f"{where}: enable_service {name} has no effect after disable_service {name}")
                    continue
                services[name] = True
        elif command[0] == "disable_service":
            for name in command[1:]:
                services[name] = False
        elif command[0] == "enable_plugin" and len(command) in (3, 4):
            plugin = {"url": command[2]}
            if len(command) == 4:
                plugin["ref"] = command[3]
            if comment and comment.strip().startswith("requires:"):
                requires = [r.strip() for r in comment.strip()[len("requires:"):].split(",") if r.strip()]
                if requires:
                    plugin["requires"] = sorted(set(requires))
            model["plugins"][command[1]] = plugin
        else:
            raise ParseError([
                f"{where}: a command the model cannot represent (only NAME=value, "
                "enable_service, disable_service, disable_all_services and enable_plugin are)"
            ])
    for name in negated:
        services[name] = False


def _parse_enabled_services(model: dict, value: Any, op: str, where: str, negated: set[str]) -> None:
    if isinstance(value, dict):
        parts = template_parts(value["expand"]) if "expand" in value else [("ref", value["ref"])]
        if parts[0] == ("ref", "ENABLED_SERVICES") and all(k == "lit" for k, _ in parts[1:]):
            value, op = "".join(v for _, v in parts[1:]), "+="
        else:
            raise ParseError([f"{where}: ENABLED_SERVICES may only be a list or extend itself"])
    if op == "=":
        model["disable_all_services"] = True
        for name in [n for n, on in model["services"].items() if on]:
            del model["services"][name]
    for name in filter(None, value.split(",")):
        if name.startswith("-"):
            negated.add(name[1:])
        else:
            model["services"][name] = True


def _literal_words(words: list[list[tuple[str, str]]], where: str) -> list[str]:
    out = []
    for word in words:
        if any(kind != "lit" for kind, _ in word):
            raise ParseError([f"{where}: variable references are only supported in NAME=value lines"])
        out.append("".join(v for _, v in word))
    return out


def parse_mode(mode: Any, where: str = "mode") -> int:
    """'0600', '600' or 600 (octal digits) -> 0o600."""
    text = str(mode)
    if not re.fullmatch(r"0?[0-7]{3}", text):
        raise LocalConfError([f"{where} must be an octal file mode in quotes, e.g. '0600'"])
    return int(text, 8)


def owner_ids(user: str, group: str | None) -> tuple[int, int]:
    """uid and gid for user (and group, default the user's primary group)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise LocalConfError([
            f"user {user!r} does not exist; the devstack role creates it, or set devstack:user"
        ]) from None
    if group is None:
        return entry.pw_uid, entry.pw_gid
    try:
        return entry.pw_uid, grp.getgrnam(group).gr_gid
    except KeyError:
        raise LocalConfError([f"group {group!r} does not exist; create it or set devstack:group"]) from None


def plan_file(path: str, model: dict, uid: int, gid: int, mode: int) -> tuple[dict, bool]:
    """Compare the file at path with the model; return (masked changes, content must be written)."""
    text = render_model(model).encode()
    changes: dict[str, Any] = {}
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise LocalConfError([
                f"directory {directory} does not exist; the devstack role creates it (or fix devstack:local_conf)"
            ]) from None
        changes["file"] = {"old": None, "new": path}
        changes["diff"] = semantic_diff(None, model)
        return changes, True
    if not stat.S_ISREG(st.st_mode):
        raise LocalConfError([f"{path} exists and is not a regular file; remove it or choose another devstack:local_conf"])
    with open(path, "rb") as handle:
        current = handle.read()
    rewrite = current != text
    if rewrite:
        try:
            old_model, _ = parse_text(current.decode("utf-8", errors="replace"))
        except LocalConfError as exc:
            changes["diff"] = {"content": {"old": f"not parseable ({exc.errors[0]})", "new": "written from pillar"}}
        else:
            diff = semantic_diff(old_model, model)
            changes["diff"] = diff or {"content": {"old": "same meaning, other text", "new": "canonical text"}}
    if stat.S_IMODE(st.st_mode) != mode:
        changes["mode"] = {"old": f"{stat.S_IMODE(st.st_mode):04o}", "new": f"{mode:04o}"}
    if st.st_uid != uid:
        changes["user"] = {"old": files.user_name(st.st_uid), "new": files.user_name(uid)}
    if st.st_gid != gid:
        changes["group"] = {"old": files.group_name(st.st_gid), "new": files.group_name(gid)}
    return changes, rewrite


def import_yaml(model: dict, root: str = "devstack") -> str:
    """Pillar YAML for a model, ready to paste into a pillar file."""
    pillar: dict[str, Any] = {}
    if model["disable_all_services"]:
        pillar["disable_all_services"] = True
    for key in ("services", "localrc", "plugins", "config"):
        if model[key]:
            pillar[key] = model[key]
    return yaml.safe_dump({root: pillar}, default_flow_style=False, sort_keys=False, width=1000)


def write_file(path: str, model: dict, uid: int, gid: int, mode: int) -> dict:
    """Write the model's local.conf to ``path`` if its content, owner or mode differ: the content
    atomically (:func:`devstack_salt.files.atomic_write`), else only owner and mode. Returns the
    masked changes of :func:`plan_file` (empty when nothing was done)."""
    changes, rewrite = plan_file(path, model, uid, gid, mode)
    if rewrite:
        files.atomic_write(path, render_model(model).encode(), uid, gid, mode)
    elif changes:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
    return changes
