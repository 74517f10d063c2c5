"""Property-based tests: the parse/render round trip, and what bash makes of the localrc."""

from __future__ import annotations

import os
import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from project import devstack as d

# Any single-line text: hostile shell syntax included, only newline, CR and NUL excluded.
line_text = st.text(st.characters(blacklist_characters="\n\r\0", blacklist_categories=("Cs",)), max_size=40)
hostile = st.one_of(
    line_text,
    st.sampled_from(["$(touch /tmp/pwned)", "`touch /tmp/pwned`", "'", '"', "a;b", "*", "~root", "#x", " a  b ",
                     "${HOME}", "$HOME", "\\", "!!", "a\tb", "$((1+1))", "<(id)", "x=y", "[[a|b]]", "{a,b}"]),
)
names = st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True)
safe_word = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,8}", fullmatch=True)
config_scalar = st.from_regex(r"[A-Za-z0-9_./:,=@%+-]{1,8}( [A-Za-z0-9_./:,=@%+-]{1,8})?(\$HOST_IP)?", fullmatch=True) | st.just("")


@st.composite
def localrc_values(draw):
    """Variables whose references only point at variables drawn before them (so: acyclic)."""
    chosen = draw(st.lists(names, unique=True, max_size=8))
    localrc = {}
    for i, name in enumerate(chosen):
        earlier = chosen[:i]
        kind = draw(st.sampled_from(["literal", "ref", "expand"] if earlier else ["literal", "expand"]))
        if kind == "literal":
            localrc[name] = draw(hostile)
        elif kind == "ref":
            localrc[name] = {"ref": draw(st.sampled_from(earlier))}
        else:
            pool = earlier + ["DEST"]
            parts = draw(st.lists(st.one_of(hostile.map(lambda t: t.replace("$", "$$")),
                                            st.sampled_from(pool).map(lambda n: "${" + n + "}")), max_size=4))
            localrc[name] = {"expand": "".join(parts)}
    return localrc


@st.composite
def pillars(draw):
    plugins = {}
    for name in draw(st.lists(safe_word, unique=True, max_size=5)):
        spec = {"url": "https://example.org/" + name}
        if draw(st.booleans()):
            spec["ref"] = draw(safe_word)
        if plugins and draw(st.booleans()):
            spec["requires"] = draw(st.lists(st.sampled_from(sorted(plugins)), min_size=1, unique=True))
        plugins[name] = spec
    config = draw(st.dictionaries(
        st.sampled_from(d.PHASES),
        st.dictionaries(
            st.sampled_from(["$NOVA_CONF", "/etc/x/y.conf", "/$Q_PLUGIN_CONF_FILE", "$NOVA_CONF_DIR/api-paste.ini"]),
            st.dictionaries(st.from_regex(r"[A-Za-z][A-Za-z0-9_:.]{0,6}", fullmatch=True),
                            st.dictionaries(safe_word, st.one_of(config_scalar, st.lists(config_scalar, min_size=1, max_size=3)),
                                            min_size=1, max_size=3),
                            min_size=1, max_size=2),
            min_size=1, max_size=2),
        max_size=2))
    return {
        "disable_all_services": draw(st.booleans()),
        "services": draw(st.dictionaries(safe_word, st.booleans(), max_size=5)),
        "localrc": draw(localrc_values()),
        "plugins": plugins,
        "config": config,
    }


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(pillars())
def test_parse_of_render_is_identity(pillar):
    model = d.normalize(pillar)
    assert not [e for e in d.check(model) if "missing or empty" not in e]
    text = d.render_model(model)
    parsed, warnings = d.parse_text(text)
    assert parsed == model
    assert warnings == []
    assert d.render_model(parsed) == text


def localrc_section(text: str) -> str:
    lines = text.split("\n")
    start = lines.index("[[local|localrc]]") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("[[")), len(lines))
    return "\n".join(lines[start:end]) + "\n"


def expected_value(localrc: dict, name: str, env: dict) -> str:
    value = localrc[name]
    if not isinstance(value, dict):
        return value
    parts = [("ref", value["ref"])] if "ref" in value else d.template_parts(value["expand"])
    return "".join(text if kind == "lit" else (expected_value(localrc, text, env) if text in localrc else env[text])
                   for kind, text in parts)


HARNESS = r"""
command_not_found_handle() { printf 'RAN %s\n' "$*" >> "$CANARY"; return 127; }
enable_service() { printf 'enable_service %s\n' "$*" >> "$CALLS"; }
disable_service() { printf 'disable_service %s\n' "$*" >> "$CALLS"; }
disable_all_services() { printf 'disable_all_services\n' >> "$CALLS"; }
enable_plugin() { printf 'enable_plugin %s\n' "$*" >> "$CALLS"; }
source "$LOCALRC"
for name in $NAMES; do printf '%s\0' "${!name-__UNSET__}"; done
"""


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(localrc_values(), st.booleans(), st.dictionaries(safe_word, st.booleans(), max_size=3))
def test_bash_sourcing_yields_exactly_the_literal_values_and_runs_nothing(tmp_path, localrc, disable_all, services):
    pillar = {"disable_all_services": disable_all, "services": services, "localrc": localrc,
              "plugins": {"p": {"url": "https://example.org/p"}}}
    model = d.normalize(pillar)
    section = tmp_path / "localrc"
    section.write_text(localrc_section(d.render_model(model)))
    canary, calls = tmp_path / "canary", tmp_path / "calls"
    for path in (canary, calls):
        path.write_text("")
    env = {"PATH": "/nonexistent", "DEST": "/opt/stack", "HOME": "/root", "LC_ALL": "C.UTF-8",
           "CANARY": str(canary), "CALLS": str(calls), "LOCALRC": str(section), "NAMES": " ".join(model["localrc"])}
    result = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", HARNESS], env=env, capture_output=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    values = result.stdout.decode().split("\0")[:-1]
    expected = [expected_value(model["localrc"], name, env) for name in model["localrc"]]
    assert values == expected
    assert canary.read_text() == ""
    assert sorted(os.listdir(tmp_path)) == ["calls", "canary", "localrc"]
    enabled = [n for n, on in model["services"].items() if on]
    disabled = [n for n, on in model["services"].items() if not on]
    expected_calls = (["disable_all_services"] if disable_all else []) + \
        ([f"enable_service {' '.join(enabled)}"] if enabled else []) + \
        ([f"disable_service {' '.join(disabled)}"] if disabled else []) + ["enable_plugin p https://example.org/p"]
    assert calls.read_text().splitlines() == expected_calls
