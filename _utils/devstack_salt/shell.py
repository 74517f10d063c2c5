"""
Shell quoting and lexing: how bash (and DevStack's config merge, which goes through bash) reads
a word or a value back, both ways.

Writing: :func:`shell_quote` and :func:`shell_value` turn literal text and localrc model values
(``{"ref": NAME}``, ``{"expand": "text ${NAME}"}``) into bash words; :func:`config_value_text`
writes a post-config value so that DevStack's merge yields it unchanged. Reading:
:func:`shell_words` splits one line of simple bash into words, :func:`template_parts` and
:func:`config_value_parts` split values into literals and references, and
:func:`config_value_problem` says why a value cannot survive DevStack's merge.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from .errors import ParseError

NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*"
NAME_RE = re.compile(NAME_PATTERN + r"\Z")
SAFE_BARE_RE = re.compile(r"[A-Za-z0-9_./,:+@%=-]+\Z")
_TEMPLATE_TOKEN_RE = re.compile(r"\$\$|\$\{(" + NAME_PATTERN + r")\}|\$(" + NAME_PATTERN + r")|\$")
_DQ_SPECIAL_RE = re.compile(r'([\\"$`])')


def has_bad_char(text: str) -> str | None:
    """What in ``text`` cannot be part of one line of local.conf ("a newline", ...), or None."""
    for char, label in (("\n", "a newline"), ("\r", "a carriage return"), ("\0", "a NUL byte")):
        if char in text:
            return label
    return None


@functools.lru_cache(maxsize=65536)
def template_parts(text: str) -> tuple[tuple[str, str], ...]:
    """Split an ``expand`` template into ("lit", text) and ("ref", NAME) parts.

    Cached: templates are immutable strings, and rendering needs their parts twice (ordering
    and quoting) on every apply.

    ``${NAME}`` and ``$NAME`` are references, ``$$`` is a literal dollar; any other ``$`` is a
    ValueError (it would be shell syntax such as ``$(...)``).
    """
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _TEMPLATE_TOKEN_RE.finditer(text):
        if match.start() > pos:
            parts.append(("lit", text[pos:match.start()]))
        token = match.group(0)
        if token == "$$":
            parts.append(("lit", "$"))
        elif token == "$":
            raise ValueError(
                f"has a '$' at position {match.start()} that is not ${{NAME}}; write $$ for a literal dollar"
            )
        else:
            parts.append(("ref", match.group(1) or match.group(2)))
        pos = match.end()
    if pos < len(text):
        parts.append(("lit", text[pos:]))
    merged: list[tuple[str, str]] = []
    for kind, value in parts:
        if merged and kind == "lit" and merged[-1][0] == "lit":
            merged[-1] = ("lit", merged[-1][1] + value)
        else:
            merged.append((kind, value))
    return tuple(merged)


def shell_quote(text: str) -> str:
    """Quote text so that bash reads it back as exactly that literal text."""
    if text and SAFE_BARE_RE.match(text):
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def shell_value(value: Any) -> str:
    """A localrc model value as the right-hand side of a bash assignment."""
    if not isinstance(value, dict):
        return shell_quote(value)
    if "ref" in value:
        return '"${' + value["ref"] + '}"'
    return _shell_template(value["expand"])


@functools.lru_cache(maxsize=65536)
def _shell_template(template: str) -> str:
    """An expand template as a double-quoted bash word: literals escaped, references kept."""
    out = []
    for kind, text in template_parts(template):
        if kind == "ref":
            out.append("${" + text + "}")
        else:
            out.append(_DQ_SPECIAL_RE.sub(r"\\\1", text))
    return '"' + "".join(out) + '"'


def shell_words(text: str, where: str = "value") -> tuple[list[list[tuple[str, str]]], str | None]:
    """Split one line of simple bash into words of ("lit", s)/("ref", NAME) parts, plus the comment.

    Supports what local.conf needs: bare words, single and double quotes, backslash escapes and
    $NAME/${NAME}. Anything that would run code or expand otherwise raises ParseError. Errors name
    the line and the construct, never the line's text: it may hold a password.
    """
    words: list[list[tuple[str, str]]] = []
    word: list[tuple[str, str]] | None = None
    i, n = 0, len(text)

    def add(kind: str, value: str) -> None:
        nonlocal word
        if word is None:
            word = []
        word.append((kind, value))

    def unsupported(what: str) -> ParseError:
        return ParseError([f"{where}: {what} is not supported in local.conf (the model cannot represent it)"])

    def dollar(pos: int) -> tuple[int, tuple[str, str]]:
        match = re.compile(r"\$\{(" + NAME_PATTERN + r")\}|\$(" + NAME_PATTERN + ")").match(text, pos)
        if match:
            return match.end(), ("ref", match.group(1) or match.group(2))
        nxt = text[pos + 1:pos + 2]
        if nxt in ("(", "{") or nxt.isdigit() or nxt in "@*#?$!-":
            raise unsupported(f"shell expansion {text[pos:pos + 2]!r}")
        return pos + 1, ("lit", "$")

    while i < n:
        c = text[i]
        if c in " \t":
            if word is not None:
                words.append(word)
                word = None
            i += 1
        elif c == "#" and word is None:
            break
        elif c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise unsupported("an unterminated single quote")
            add("lit", text[i + 1:end])
            i = end + 1
        elif c == '"':
            i += 1
            add("lit", "")
            while True:
                if i >= n:
                    raise unsupported("an unterminated double quote")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and text[i + 1] in '$`"\\':
                    add("lit", text[i + 1])
                    i += 2
                elif c == "`":
                    raise unsupported("a backtick command substitution")
                elif c == "$":
                    i, part = dollar(i)
                    add(*part)
                else:
                    add("lit", c)
                    i += 1
        elif c == "\\":
            if i + 1 >= n:
                raise unsupported("a line continuation")
            add("lit", text[i + 1])
            i += 2
        elif c == "$":
            i, part = dollar(i)
            add(*part)
        elif c in "`;|&<>()~{}":
            raise unsupported(f"the shell character {c!r} unquoted")
        else:
            add("lit", c)
            i += 1
    comment = text[i + 1:] if i < n else None
    if word is not None:
        words.append(word)
    merged = []
    for word in words:
        parts: list[tuple[str, str]] = []
        for kind, value in word:
            if parts and kind == "lit" and parts[-1][0] == "lit":
                parts[-1] = ("lit", parts[-1][1] + value)
            elif not (kind == "lit" and value == "" and parts):
                parts.append((kind, value))
        if len(parts) > 1 and parts[0] == ("lit", ""):
            parts = parts[1:]
        merged.append(parts or [("lit", "")])
    return merged, comment


_ECHO_OPTION_RE = re.compile(r"-[neE]+( |\Z)")
_CONFIG_TOKEN_RE = re.compile(r"\$\$|\$\{(" + NAME_PATTERN + r")\}|\$(" + NAME_PATTERN + r")|\$")


def config_value_parts(text: str) -> list[tuple[str, str]]:
    """A post-config value as ("lit", text) and ("ref", NAME) parts: ``$NAME``/``${NAME}`` are
    DevStack's expansion at merge time, ``$$`` is a literal dollar. ValueError on another '$'."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in _CONFIG_TOKEN_RE.finditer(text):
        parts.append(("lit", text[pos:match.start()]))
        token = match.group(0)
        if token == "$":
            raise ValueError(token)
        parts.append(("lit", "$") if token == "$$" else ("ref", match.group(1) or match.group(2)))
        pos = match.end()
    parts.append(("lit", text[pos:]))
    return [(kind, value) for kind, value in parts if kind == "ref" or value]


def config_value_text(value: str) -> str:
    """A post-config model value as written in local.conf: ``$$`` becomes ``\\\\$``, which
    DevStack's merge (``read`` without -r, then ``eval`` inside double quotes) turns into ``$``."""
    return _CONFIG_TOKEN_RE.sub(lambda m: "\\\\$" if m.group(0) == "$$" else m.group(0), value)


def config_value_problem(text: str) -> str | None:
    """Why DevStack's post-config merge would not write ``text`` unchanged, or None.

    The merge reads each line with ``read`` (backslashes vanish), evaluates the value inside
    double quotes (``$(...)`` and backticks run, quotes vanish) and echoes it unquoted (runs of
    spaces collapse, ``*``/``?``/``[`` glob against the current directory). ``$NAME`` and
    ``${NAME}`` are DevStack's way to refer to its variables and stay allowed.
    """
    bad = has_bad_char(text)
    if bad:
        return f"contains {bad}; values must be a single line"
    for char, label in (('"', "a double quote"), ("\\", "a backslash"), ("`", "a backtick"),
                        ("*", "a '*'"), ("?", "a '?'"), ("[", "a '['"), ("\t", "a tab")):
        if char in text:
            return f"contains {label}, which DevStack's merge would drop, run or expand; it cannot be written safely"
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        return "contains a control character; DevStack's merge cannot write it safely"
    try:
        config_value_parts(text)
    except ValueError:
        return ("contains a '$' that is not a $NAME or ${NAME} reference (e.g. $(...)); DevStack would run or "
                "mangle it; write $$ for a literal dollar")
    if _ECHO_OPTION_RE.match(text):
        return (f"starts with {text.split(' ')[0]!r}, which DevStack's iniset passes to an unquoted echo as an "
                "option (-n and -e vanish); it cannot be written")
    if text != text.strip(" "):
        return "has leading or trailing spaces, which DevStack's merge strips"
    if "  " in text:
        return "has a run of spaces, which DevStack's merge collapses into one"
    return None
