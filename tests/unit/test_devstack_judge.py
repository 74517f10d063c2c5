"""DevStack's own code as the judge: its lib/ against our table of file variables, the import of
hand-written files (DevStack's own tests/test_meta_config.sh fixture included), and the classes
of input that DevStack would mangle."""

from __future__ import annotations

import re
import subprocess

import pytest

from devstack_judge import config_refs
from devstack_salt import devstack_facts, localconf, localconf_text
from devstack_salt.errors import LocalConfError, ParseError

ASSIGNMENT_RE = re.compile(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)=(\S+)\s*(?:#.*)?$")


def lib_assignments(tree) -> dict[str, set[str]]:
    """Every ``NAME=value`` in DevStack's lib/ and stackrc, ``${NAME:-default}`` read as default."""
    found: dict[str, set[str]] = {}
    for path in [tree / "stackrc", *sorted((tree / "lib").rglob("*"))]:
        if not path.is_file():
            continue
        for line in path.read_text(errors="replace").splitlines():
            match = ASSIGNMENT_RE.match(line)
            if not match:
                continue
            name, value = match.groups()
            value = value.strip('"')
            default = re.fullmatch(r"\$\{" + name + r":-(.*)\}", value)
            value = (default.group(1) if default else value).strip('"')
            found.setdefault(name, set()).add(re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", r"$\1", value))
    return found


def test_every_file_variable_is_defined_by_devstack_as_the_table_says(devstack_tree):
    assignments = lib_assignments(devstack_tree)
    wrong = {name: (value, sorted(assignments.get(name, ())))
             for name, value in devstack_facts.DEVSTACK_PATHS.items() if value not in assignments.get(name, ())}
    assert wrong == {}


def test_every_config_file_variable_of_devstack_lib_is_known(devstack_tree):
    # A top-level NAME=.../file.conf or .ini in lib/ is a file DevStack configures: a header may use it.
    candidates = {name for name, values in lib_assignments(devstack_tree).items()
                  if any(re.search(r"\.(conf|ini)$", v) for v in values)}
    assert candidates - set(devstack_facts.DEVSTACK_PATHS) == set()
    assert "QEMU_CONF" in devstack_facts.KNOWN_FILE_VARIABLES


def meaning(reading):
    """What DevStack did. A file it only created empty (a block without options) does not count:
    the model holds options, and import says it drops such a block."""
    files = {path: content for path, content in reading.files.items() if content}
    return (reading.variables, reading.enabled_services, reading.disabled_services, reading.plugins,
            sorted({h for h in reading.headers if h[2] in files}), files)


def assert_import_keeps_devstack_meaning(judge, text):
    """Import ``text``, render the model: DevStack reads the same from ours as from the original."""
    model, warnings = localconf_text.parse_text(text)
    ours = localconf_text.render_model(model)
    names = sorted(model["localrc"])
    original = judge.read(text, names, config_refs(model))
    rendered = judge.read(ours, names, config_refs(model))
    assert meaning(rendered) == meaning(original)
    assert rendered.canary == original.canary == []
    return model, warnings, original


ISSUE_EXAMPLES = """\
[[local|localrc]]
ADMIN_PASSWORD=Secret1
[[post-config|$NOVA_CONF]]
[DEFAULT]
debug = True
novalue_line
[ spaced section ]
x = 1
[[post-config|$KEYSTONE_CONF]]
top = level
[token]
cost = a \\\\$5 fee
"""


def test_import_keeps_what_devstack_writes_for_lines_without_a_name_or_a_section(judge):
    model, warnings, original = assert_import_keeps_devstack_meaning(judge, ISSUE_EXAMPLES)
    assert original.merged("post-config", "$NOVA_CONF") == {"DEFAULT": {"debug": ["True"], "novalue_line": [""]},
                                                            "x": {"1": [""]}}
    # An option before any named section is dropped by DevStack, whatever it looks like.
    assert original.merged("post-config", "$KEYSTONE_CONF") == {"token": {"cost": ["a $5 fee"]}}
    assert model["config"]["post-config"] == {
        "$NOVA_CONF": {"DEFAULT": {"debug": "True", "novalue_line": ""}, "x": {"1": ""}},
        "$KEYSTONE_CONF": {"token": {"cost": "a $$5 fee"}},
    }
    # The warnings say what DevStack really does.
    assert any("line 6" in w and "option 'novalue_line' with an empty value in section [DEFAULT]" in w for w in warnings)
    assert any("line 8" in w and "option '1' with an empty value in section [x]" in w for w in warnings)
    assert any("line 10" in w and "drops this line" in w for w in warnings)


@pytest.mark.parametrize("line, construct", [
    ("a b = c", "split"), ("[$X]\nk = v", "expanded"), ("k = $(id)", "$"), ("k = \"q\"", "double quote"),
    ("k = $$", "process id"), ("k = -n", "echo"), ("k = v\n[ x ]\ny = 1\n[y]\n1 = z", "writes too"), ("o/p = 1", "mangled"),
])
def test_import_refuses_what_it_cannot_hold_naming_the_line(line, construct):
    text = "[[post-config|$NOVA_CONF]]\n[DEFAULT]\n" + line + "\n"
    with pytest.raises(ParseError) as info:
        localconf_text.parse_text(text)
    assert re.search(r"line \d", str(info.value)) and "[[post-config|$NOVA_CONF]]" in str(info.value)
    if construct:
        assert construct in str(info.value)


def meta_config_fixture(devstack_tree, tmp_path) -> str:
    """DevStack's tests/test_meta_config.sh, run up to the end of the heredoc writing test.conf."""
    script = (devstack_tree / "tests" / "test_meta_config.sh").read_text().split("\n")
    start = script.index("cat >test.conf <<EOF")
    end = script.index("EOF", start)
    prefix = "\n".join(script[:end + 1]).replace("$(cd $(dirname \"$0\")/.. && pwd)", str(devstack_tree))
    subprocess.run(["/bin/bash", "-c", prefix], cwd=tmp_path, check=True, capture_output=True)
    return (tmp_path / "test.conf").read_text()


def test_devstack_meta_config_fixtures_keep_their_meaning_through_import(judge, devstack_tree, tmp_path):
    fixture = meta_config_fixture(devstack_tree, tmp_path)
    groups = sorted(set(re.findall(r"^\[\[([^|\]]+)\|", fixture, re.M)))
    assert len(groups) > 10
    checked = 0
    for group in groups:
        text = re.sub(r"^\[\[" + re.escape(group) + r"\|", "[[post-config|", fixture, flags=re.M)
        if "[[post-config|/" in text:
            continue  # test8 writes /permission-denied.conf: outside any scratch directory
        try:
            assert_import_keeps_devstack_meaning(judge, text)
        except ParseError as exc:
            assert re.search(r"line \d+", str(exc)), exc
            continue
        checked += 1
    assert checked >= 10


def test_devstack_really_drops_echo_options_and_expands_dollars(judge):
    # What DevStack does with the values validation rejects: the reason for each rule.
    text = "[[post-config|$NOVA_CONF]]\n[DEFAULT]\na = -n\nb = -e foo\nc = $$\nd = x/y\n[s/t]\ne = 1\n"
    reading = judge.read(text)
    merged = reading.merged("post-config", "$NOVA_CONF")
    assert merged["DEFAULT"]["a"] == [""] and merged["DEFAULT"]["b"] == ["foo"]
    assert re.fullmatch(r"\d+", merged["DEFAULT"]["c"][0])
    assert merged["s/t"] == {} and "sed" in reading.stderr
    for value in ("-n", "-e foo", "-E", "-ne x"):
        assert any("echo" in e for e in _config_errors(value)), value


def _config_errors(value):
    with pytest.raises(LocalConfError) as info:
        localconf.normalize({"config": {"post-config": {"$NOVA_CONF": {"DEFAULT": {"a": value}}}}})
    return info.value.errors


def test_a_literal_dollar_is_written_through_devstack_merge(judge):
    model = localconf.build({"config": {"post-config": {"$NOVA_CONF": {"DEFAULT": {"price": "$$5 at $HOST_IP"}}}},
                     "disable_all_services": True})
    reading = judge.read(localconf_text.render_model(model), merge_names=["HOST_IP"])
    assert reading.merged("post-config", "$NOVA_CONF") == {"DEFAULT": {"price": [f"$5 at {reading.merge_env['HOST_IP']}"]}}


def test_two_headers_for_one_file_really_are_one_file_to_devstack(judge):
    text = ("[[post-config|$NEUTRON_DHCP_CONF]]\n[DEFAULT]\nx = 1\n"
            "[[post-config|$Q_DHCP_CONF_FILE]]\n[DEFAULT]\nx = 2\n")
    reading = judge.read(text)
    assert len({resolved for _, _, resolved in reading.headers}) == 1
    errors = _header_errors({"$NEUTRON_DHCP_CONF": {"DEFAULT": {"x": 1}}, "$Q_DHCP_CONF_FILE": {"DEFAULT": {"x": 2}}})
    assert any("name the same file (/etc/neutron/dhcp_agent.ini)" in e for e in errors), errors


def _header_errors(files):
    try:
        model = localconf.normalize({"config": {"post-config": files}})
    except LocalConfError as exc:
        return exc.errors
    return localconf.check(model)


@pytest.mark.parametrize("header, fact", [("$NOVA_CONF_DIR", "is a directory"), ("$Q_PLUGIN_CONF_FILE", "relative"),
                                          ("$NEUTRON_CORE_PLUGIN_CONF", "relative"), ("$NOVA_CONF/x.conf", "is a file"),
                                          ("/etc/nova/../x.conf", "'..'"), ("$NOVA_CONF_DIR/./a.ini", "'..'")])
def test_a_header_devstack_would_write_elsewhere_is_rejected(header, fact):
    errors = _header_errors({header: {"DEFAULT": {"k": "v"}}})
    assert any(e.startswith(f"devstack:config:post-config:{header}:") and fact in e for e in errors), errors


def test_devstack_writes_a_relative_header_below_its_working_directory(judge):
    reading = judge.read("[[post-config|$Q_PLUGIN_CONF_FILE]]\n[ml2]\nk = v\n")
    assert not reading.headers[0][2].startswith("/") and reading.cwd_left == ["tmp"]


def test_a_service_name_with_a_dot_is_not_enabled_by_devstack(judge):
    # enable_service compares names as regular expressions: n.cpu "is enabled" since n-cpu is.
    reading = judge.read("[[local|localrc]]\nenable_service n.cpu\n")
    assert "n-cpu" in reading.enabled_services and "n.cpu" not in reading.enabled_services
    with pytest.raises(LocalConfError) as info:
        localconf.normalize({"services": {"n.cpu": True}})
    assert any(e.startswith("devstack:services:n.cpu is not a valid service name") for e in info.value.errors)


@pytest.mark.parametrize("name, state", [("nova", False), ("neutron", True)])
def test_catch_all_service_names_do_not_do_what_they_say(judge, name, state):
    verb = "enable_service" if state else "disable_service"
    reading = judge.read(f"[[local|localrc]]\n{verb} {name}\n")
    prefix = devstack_facts.CATCH_ALL_SERVICES[name][0]
    assert any(s.startswith(prefix) for s in reading.enabled_services) and name not in reading.enabled_services
    with pytest.raises(LocalConfError) as info:
        localconf.normalize({"services": {name: state}})
    assert any(e.startswith(f"devstack:services:{name}: DevStack reads {name} as") for e in info.value.errors)
