"""The local.conf model: normalisation, validation, ordering, rendering, parsing, diffs."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from project import PROJECT

from devstack_salt import localconf, localconf_text, node_units, stack_runner
from devstack_salt.errors import LocalConfError, ParseError

SMALL = {
    "disable_all_services": True,
    "services": {"keystone": True, "mysql": True, "swift": True},
    "localrc": {
        "ADMIN_PASSWORD": "Secret123",
        "SERVICE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
        "DATABASE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
        "SWIFT_HASH": "abc123",
    },
}


def errors_of(pillar) -> list[str]:
    with pytest.raises(LocalConfError) as info:
        localconf.build(pillar)
    return info.value.errors


def with_localrc(**extra):
    return {**SMALL, "localrc": {**SMALL["localrc"], **extra}}


# ---- ordering ------------------------------------------------------------------------------

def test_variables_come_after_the_variables_they_reference():
    # A=$B, B=$C: the Ansible module's pre-order walk writes B, C, A; DevStack needs C, B, A.
    pillar = with_localrc(A={"ref": "B"}, B={"expand": "${C}/x"}, C="c")
    order = localconf.variable_order(localconf.build(pillar)["localrc"])
    assert order.index("C") < order.index("B") < order.index("A")


def test_rendered_assignment_order_is_topological_and_plugins_are_last():
    pillar = with_localrc(A={"ref": "B"}, B={"expand": "${C}/x"}, C="c")
    pillar["plugins"] = {
        "zeta": {"url": "https://example.org/zeta"},
        "alpha": {"url": "https://example.org/alpha", "requires": ["zeta"]},
    }
    localrc = localconf_text.render_model(localconf.build(pillar)).split("\n\n")[0].strip().split("\n")
    assigned = [line.split("=")[0] for line in localrc if "=" in line and not line.startswith("enable_plugin")]
    assert assigned.index("C") < assigned.index("B") < assigned.index("A")
    assert [line.split()[:2] for line in localrc[-2:]] == [["enable_plugin", "zeta"], ["enable_plugin", "alpha"]]


def test_reference_cycle_is_an_error_naming_the_chain():
    errors = errors_of(with_localrc(A={"ref": "B"}, B={"ref": "C"}, C={"ref": "A"}))
    assert any("devstack:localrc has a reference cycle A -> B -> C -> A" in e for e in errors), errors


def test_plugin_requirement_cycle_and_missing_requirement_are_errors():
    pillar = dict(SMALL, plugins={
        "a": {"url": "u://a", "requires": ["b"]},
        "b": {"url": "u://b", "requires": ["a"]},
        "c": {"url": "u://c", "requires": ["ghost"]},
    })
    errors = errors_of(pillar)
    assert any("requirement cycle a -> b -> a" in e for e in errors), errors
    assert any("devstack:plugins:c:requires names ghost, which is not in devstack:plugins" in e for e in errors)


def test_a_plugin_that_requires_itself_is_a_requirement_cycle():
    errors = errors_of(dict(SMALL, plugins={"a": {"url": "u://a", "requires": ["a"]}}))
    assert "devstack:plugins have a requirement cycle a -> a; remove one of these requires" in errors, errors


def test_an_ordering_names_a_node_that_depends_on_itself_as_a_cycle():
    with pytest.raises(ValueError, match=r"^a -> a$"):
        localconf.topo_order(["a", "b"], {"a": ["a"], "b": ["a"]})


def test_a_variable_that_refers_to_itself_is_one_error_saying_so_not_a_cycle():
    # Bash reads the value from before the assignment: not an order between assignments (no
    # cycle), but nothing DevStack defines before localrc, so an error of its own.
    for value in ({"ref": "A"}, {"expand": "${A}x"}):
        errors = errors_of(with_localrc(A=value))
        assert [e for e in errors if "localrc:A " in e or "cycle" in e] == ["devstack:localrc:A refers to itself"], errors


def test_an_early_variable_may_extend_itself():
    model = localconf.build(with_localrc(PATH={"expand": "${PATH}:/opt/bin"}))
    assert "PATH" in localconf.variable_order(model["localrc"])
    assert localconf.explain_model(model)["variables_in_order"][2] == "PATH"
    assert 'PATH="${PATH}:/opt/bin"\n' in localconf_text.render_model(model)


def test_render_is_identical_whatever_the_hash_seed():
    script = (
        "import sys; sys.path.insert(0, '_utils'); from devstack_salt import localconf, localconf_text; import yaml;"
        "sys.stdout.write(localconf_text.render_model(localconf.build(yaml.safe_load(open('pillar/examples/full-node.sls'))['devstack'])))"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", script], cwd=PROJECT, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("0", "1", "12345")
    }
    assert len(outputs) == 1


# ---- services ------------------------------------------------------------------------------

def test_aliases_expand_to_devstack_names():
    services = localconf.build(SMALL)["services"]
    assert services == {"key": True, "mysql": True, "s-account": True, "s-container": True,
                        "s-object": True, "s-proxy": True}


def test_conflicting_alias_and_name_is_an_error():
    pillar = dict(SMALL, services={"swift": True, "s-proxy": False, "keystone": True, "mysql": True})
    assert any("s-proxy" in e and "swift" in e for e in errors_of(pillar))


def test_default_service_list_is_the_base_unless_disable_all_services():
    model = localconf.build({"services": {"horizon": False, "swift": True}, "localrc": {
        "ADMIN_PASSWORD": "a1", "SERVICE_PASSWORD": "b2", "DATABASE_PASSWORD": "c3",
        "RABBIT_PASSWORD": "d4", "SWIFT_HASH": "e5"}})
    enabled = localconf.effective_services(model)
    assert "horizon" not in enabled and "n-cpu" in enabled and "s-proxy" in enabled
    assert enabled[0] == "key"
    assert localconf.effective_services(localconf.build(SMALL)) == ["key", "mysql", "s-account", "s-container", "s-object", "s-proxy"]


# ---- values --------------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [(True, "True"), (False, "False"), (5, "5"), ("x y", "'x y'")])
def test_scalars_render_the_way_devstack_expects(value, text):
    assert f"\nV={text}\n" in localconf_text.render_model(localconf.build(with_localrc(V=value)))


@pytest.mark.parametrize("value, word", [(None, "null"), ([1, 2], "a list"), ({"a": 1}, "a mapping")])
def test_null_lists_and_mappings_in_localrc_are_errors(value, word):
    errors = errors_of(with_localrc(V=value))
    assert any(e.startswith("devstack:localrc:V") and word in e for e in errors), errors


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_newline_cr_and_nul_are_rejected_everywhere(bad):
    assert any("devstack:localrc:V" in e for e in errors_of(with_localrc(V=bad)))
    assert any("devstack:localrc:V:expand" in e for e in errors_of(with_localrc(V={"expand": bad})))
    pillar = dict(SMALL, config={"post-config": {"$NOVA_CONF": {"DEFAULT": {"opt": bad}}}})
    assert any("devstack:config:post-config:$NOVA_CONF:DEFAULT:opt" in e for e in errors_of(pillar))


def test_references_must_name_a_variable_that_exists_when_localrc_is_read():
    errors = errors_of(with_localrc(X={"ref": "HOST_IP"}))
    assert any("devstack:localrc:X refers to $HOST_IP" in e for e in errors), errors
    assert localconf.build(with_localrc(LOGFILE={"expand": "${DEST}/logs/stack.sh.log"}))


def test_expand_rejects_stray_dollar_and_accepts_escaped_dollar():
    assert any("devstack:localrc:X:expand" in e for e in errors_of(with_localrc(X={"expand": "$(id)"})))
    assert localconf.build(with_localrc(X={"expand": "cost $$5"}))["localrc"]["X"] == "cost $5"


# ---- passwords -----------------------------------------------------------------------------

@pytest.mark.parametrize("service, variable", [
    ("mysql", "DATABASE_PASSWORD"), ("postgresql", "DATABASE_PASSWORD"), ("rabbit", "RABBIT_PASSWORD"),
    ("keystone", "ADMIN_PASSWORD"), ("keystone", "SERVICE_PASSWORD"), ("s-proxy", "SWIFT_HASH"),
])
def test_a_password_stack_sh_would_prompt_for_is_an_error(service, variable):
    localrc = {"ADMIN_PASSWORD": "a1", "SERVICE_PASSWORD": "b2", "DATABASE_PASSWORD": "c3",
               "RABBIT_PASSWORD": "d4", "SWIFT_HASH": "e5"}
    del localrc[variable]
    errors = errors_of({"disable_all_services": True, "services": {service: True}, "localrc": localrc})
    assert any(e.startswith(f"devstack:localrc:{variable} is missing") and "prompt" in e for e in errors), errors


def test_tempurl_key_is_required_only_with_tempurls():
    pillar = with_localrc(SWIFT_ENABLE_TEMPURLS=True)
    assert any("SWIFT_TEMPURL_KEY" in e for e in errors_of(pillar))
    localconf.build(with_localrc(SWIFT_ENABLE_TEMPURLS=True, SWIFT_TEMPURL_KEY="k1"))


def test_mysql_password_satisfies_database_password():
    localrc = dict(SMALL["localrc"])
    del localrc["DATABASE_PASSWORD"]
    localconf.build({**SMALL, "localrc": {**localrc, "MYSQL_PASSWORD": "m1"}})


def test_a_reference_to_an_empty_value_still_prompts():
    errors = errors_of(with_localrc(EMPTY="", ADMIN_PASSWORD={"ref": "EMPTY"}))
    assert any("ADMIN_PASSWORD is missing or empty" in e for e in errors), errors


def test_non_alphanumeric_password_is_an_error_without_echoing_it():
    errors = errors_of(with_localrc(ADMIN_PASSWORD="pa$$:word"))
    assert any("devstack:localrc:ADMIN_PASSWORD must be alphanumeric" in e for e in errors)
    assert not any("pa$$:word" in e for e in errors)


# ---- config (post-config and friends) -------------------------------------------------------

def config_errors(files, phase="post-config"):
    return errors_of(dict(SMALL, config={phase: files}))


@pytest.mark.parametrize("value", ['say "hi"', "a\\b", "`id`", "$(id)", "a  b", " lead", "*", "x?", "[x]"])
def test_values_devstack_would_mangle_or_execute_are_rejected(value):
    errors = config_errors({"$NOVA_CONF": {"DEFAULT": {"opt": value}}})
    assert any(e.startswith("devstack:config:post-config:$NOVA_CONF:DEFAULT:opt") for e in errors), errors


@pytest.mark.parametrize("key", ["a b", ";x", "#x", "a=b", 'q"'])
def test_keys_devstack_would_mangle_or_execute_are_rejected(key):
    errors = config_errors({"$NOVA_CONF": {"DEFAULT": {key: "v"}}})
    assert any(f"DEFAULT:{key}" in e and "option name" in e for e in errors), errors


def test_section_names_with_spaces_are_rejected():
    assert any("section name" in e for e in config_errors({"$NOVA_CONF": {"a b": {"k": "v"}}}))


def test_devstack_variable_references_in_values_are_kept():
    model = localconf.build(dict(SMALL, config={"post-config": {"$NOVA_CONF": {"DEFAULT": {"my_ip": "$HOST_IP", "u": "http://${SERVICE_HOST}:5000/v3"}}}}))
    assert model["config"]["post-config"]["$NOVA_CONF"]["DEFAULT"] == {"my_ip": "$HOST_IP", "u": "http://${SERVICE_HOST}:5000/v3"}


def test_unknown_phase_and_local_phase_are_errors():
    errors = errors_of(dict(SMALL, config={"install": {}, "local": {}}))
    assert any(e.startswith("devstack:config:install is not a phase") for e in errors)
    assert any(e.startswith("devstack:config:local") and "devstack:localrc" in e for e in errors)


@pytest.mark.parametrize("filename, ok", [
    ("$NOVA_CONF", True), ("${KEYSTONE_CONF}", True), ("/etc/foo/foo.conf", True),
    ("/$Q_PLUGIN_CONF_FILE", True), ("$NOVA_CONF_DIR/api-paste.ini", True),
    ("relative.conf", False), ("$MADE_UP_CONF", False), ("$(id)", False), ("/etc/a b", False),
])
def test_header_file_is_an_absolute_path_or_a_devstack_variable(filename, ok):
    pillar = dict(SMALL, config={"post-config": {filename: {"DEFAULT": {"k": "v"}}}})
    if ok:
        localconf.build(pillar)
    else:
        assert any(f"devstack:config:post-config:{filename}" in e for e in errors_of(pillar))


def test_plugin_variables_can_be_declared_known():
    pillar = dict(SMALL, known_variables=["OCTAVIA_CONF"],
                  config={"post-config": {"$OCTAVIA_CONF": {"DEFAULT": {"k": "v"}}}})
    localconf.build(pillar)


def test_both_spellings_of_one_header_variable_are_an_error():
    errors = config_errors({"$NOVA_CONF": {"A": {"k": "v"}}, "${NOVA_CONF}": {"B": {"k": "v"}}})
    assert any("name the same file" in e for e in errors), errors


def test_lists_become_multi_valued_options_in_order():
    model = localconf.build(dict(SMALL, config={"post-config": {"$NOVA_CONF": {"DEFAULT": {"f": ["b", "a"], "g": ["one"]}}}}))
    text = localconf_text.render_model(model)
    assert "f = b\nf = a\ng = one\n" in text


def test_unknown_top_level_key_is_an_error_naming_it():
    assert any(e.startswith("devstack:localrcc is not a known key") for e in errors_of({**SMALL, "localrcc": {}}))


# ---- parsing -------------------------------------------------------------------------------

HAND_WRITTEN = """\
# my old local.conf
[[local|localrc]]
ADMIN_PASSWORD=secret
DATABASE_PASSWORD=$ADMIN_PASSWORD
RABBIT_PASSWORD="$ADMIN_PASSWORD"
SERVICE_PASSWORD=${ADMIN_PASSWORD}
export HOST_IP=10.0.0.5  # the node
LOGFILE=$DEST/logs/stack.sh.log
GREETING="hello \\"world\\" \\$HOME"
ENABLED_SERVICES=key,mysql,rabbit
ENABLED_SERVICES+=,g-api,-rabbit
disable_service tempest
enable_plugin heat https://opendev.org/openstack/heat stable/2026.2

[[post-config|$NOVA_CONF]]
[DEFAULT]
debug=True
  indented = dropped
filter = a
filter = b
novalue_line
[[ post-config | $GLANCE_API_CONF ]]
[DEFAULT]
dropped = yes
[[install|whatever]]
[[local|other]]
"""


def test_a_hand_written_local_conf_parses_the_way_devstack_reads_it():
    model, warnings = localconf_text.parse_text(HAND_WRITTEN)
    assert model["disable_all_services"] is True
    assert model["services"] == {"g-api": True, "key": True, "mysql": True, "rabbit": False, "tempest": False}
    assert model["localrc"]["DATABASE_PASSWORD"] == {"ref": "ADMIN_PASSWORD"}
    assert model["localrc"]["RABBIT_PASSWORD"] == {"ref": "ADMIN_PASSWORD"}
    assert model["localrc"]["HOST_IP"] == "10.0.0.5"
    assert model["localrc"]["LOGFILE"] == {"expand": "${DEST}/logs/stack.sh.log"}
    assert model["localrc"]["GREETING"] == 'hello "world" $HOME'
    assert model["plugins"] == {"heat": {"url": "https://opendev.org/openstack/heat", "ref": "stable/2026.2"}}
    assert model["config"] == {"post-config": {"$NOVA_CONF": {"DEFAULT": {
        "debug": "True", "filter": ["a", "b"], "novalue_line": ""}}}}
    joined = "\n".join(warnings)
    for expected in ("indented line", "has spaces inside", "ignores the group 'install'", "[[local|other]]",
                     "a line without '=' in [[post-config|$NOVA_CONF]]: DevStack writes it as option 'novalue_line'"):
        assert expected in joined


def test_rendering_a_parsed_file_keeps_its_meaning():
    model, _ = localconf_text.parse_text(HAND_WRITTEN)
    again, warnings = localconf_text.parse_text(localconf_text.render_model(model))
    assert again == model and warnings == []


def test_enable_service_after_disable_service_has_no_effect_like_devstack():
    model, warnings = localconf_text.parse_text("[[local|localrc]]\ndisable_service horizon\nenable_service horizon\n")
    assert model["services"] == {"horizon": False} and "no effect" in warnings[0]


def test_crlf_and_shell_code_are_reported_with_the_line():
    with pytest.raises(ParseError, match="CR"):
        localconf_text.parse_text("[[local|localrc]]\r\nA=1\r\n")
    with pytest.raises(ParseError, match="line 3"):
        localconf_text.parse_text("[[local|localrc]]\nA=1\nif true; then B=2; fi\n")
    with pytest.raises(ParseError, match="line 2"):
        localconf_text.parse_text("[[local|localrc]]\nA=$(hostname)\n")


@pytest.mark.parametrize("text", [
    "[[local|localrc]]\nADMIN_PASSWORD=Hidden42 x\n",
    "[[local|localrc]]\nADMIN_PASSWORD=Hidden42 run\n",
    "[[local|localrc]]\nHidden42\n",
    "[[local|localrc]]\nADMIN_PASSWORD=Hidden42$(x)\n",
])
def test_parse_errors_never_quote_the_line(text):
    with pytest.raises(ParseError) as info:
        localconf_text.parse_text(text)
    assert "line 2" in str(info.value) and "Hidden42" not in str(info.value)


@pytest.mark.parametrize("text", [None, 7, ["[[local|localrc]]"], {"a": 1}])
def test_text_to_parse_that_is_not_text_is_an_error_saying_so(text):
    with pytest.raises(ParseError, match="text must be the text of a local.conf"):
        localconf_text.parse_text(text)


def test_import_yields_pillar_that_builds_the_same_model():
    model, _ = localconf_text.parse_text(HAND_WRITTEN)
    pillar = yaml.safe_load(localconf_text.import_yaml(model))["devstack"]
    assert localconf.normalize(pillar) == model


def test_example_pillars_are_valid():
    for name in ("full-node.sls", "remote-services.sls"):
        with open(os.path.join(PROJECT, "pillar", "examples", name)) as handle:
            localconf.build(yaml.safe_load(handle)["devstack"])


def test_the_local_mirrors_example_is_a_valid_site_pillar_over_the_default():
    """pillar/examples/local-mirrors.sls is a site.sls: merged over the default pillar (as Salt
    merges site.sls, key by key) it builds, and DevStack clones from the mirrors only."""
    from salt.utils.dictupdate import merge

    import pillar_values

    with open(os.path.join(PROJECT, "pillar", "examples", "local-mirrors.sls")) as handle:
        site = yaml.safe_load(handle)["devstack"]
    model = localconf.build(merge(pillar_values.DEVSTACK, site),
                            lookup={"database": pillar_values.DATABASE, "broker": pillar_values.BROKER}.get)
    text = localconf_text.render_model(model)
    assert "GIT_BASE=file:///srv/mirrors\n" in text and "https://" not in text.replace("https://example.org/heat", "")


# ---- meaning, masking, explain ---------------------------------------------------------------

def test_semantic_diff_ignores_order_and_comments_and_masks_secrets():
    model = localconf.build(SMALL)
    text = localconf_text.render_model(model)
    reordered, _ = localconf_text.parse_text("# a comment\n" + text.replace("SWIFT_HASH=abc123\n", "") .replace(
        "[[local|localrc]]\n", "[[local|localrc]]\nSWIFT_HASH=abc123\n"))
    assert localconf.semantic_diff(reordered, model) == {}
    changed = localconf.build(with_localrc(ADMIN_PASSWORD="Other456", DEBUG=True))
    diff = localconf.semantic_diff(model, changed)
    assert diff["localrc:ADMIN_PASSWORD"] == {"old": localconf.MASK, "new": localconf.MASK}
    assert diff["localrc:DEBUG"] == {"old": None, "new": "True"}
    assert "Secret123" not in repr(diff) and "Other456" not in repr(diff)


def test_masking_scrubs_secret_values_and_url_credentials_everywhere():
    pillar = dict(SMALL, config={"post-config": {"$NOVA_CONF": {
        "database": {"connection": "mysql+pymysql://root:Secret123@127.0.0.1/nova"},
        "DEFAULT": {"transport_url": "rabbit://u:Other999@h:5672/", "admin_password": "x1"}}}})
    text = localconf_text.render_model(localconf.mask_model(localconf.build(pillar)))
    for secret in ("Secret123", "Other999", "abc123", "= x1"):
        assert secret not in text


def test_explain_reports_services_plugins_and_prompts():
    parsed, _ = localconf_text.parse_text("[[local|localrc]]\nenable_plugin b u://b # requires: a\nenable_plugin a u://a\n")
    info = localconf.explain_model(parsed)
    assert [p["name"] for p in info["plugins_in_order"]] == ["a", "b"]
    assert {p["variable"] for p in info["prompted_passwords"]} == {
        "DATABASE_PASSWORD", "RABBIT_PASSWORD", "SERVICE_PASSWORD", "ADMIN_PASSWORD"}


# ---- files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode, expected", [("0600", 0o600), ("600", 0o600), (600, 0o600), ("0640", 0o640)])
def test_modes(mode, expected):
    assert localconf_text.parse_mode(mode) == expected


def test_bad_mode_is_an_error():
    with pytest.raises(LocalConfError):
        localconf_text.parse_mode(384)


def test_a_local_conf_to_read_is_a_regular_file_and_never_a_wait(tmp_path):
    from devstack_salt.errors import ArgumentError, DevstackSaltError

    (tmp_path / "local.conf").write_text(HAND_WRITTEN)
    assert localconf_text.read_file(str(tmp_path / "local.conf")) == HAND_WRITTEN
    assert localconf_text.read_file(str(tmp_path / "missing"), missing_ok=True) is None
    os.mkfifo(tmp_path / "fifo")  # nothing writes to it: an open without O_NONBLOCK would wait forever
    (tmp_path / "big").write_bytes(b"#" * (localconf_text.MAX_FILE_SIZE + 1))
    for path, why in ((tmp_path / "fifo", "not a regular file"), ("/dev/zero", "not a regular file"),
                      (tmp_path, "not a regular file"), (tmp_path / "missing", "No such file or directory"),
                      (tmp_path / "big", "larger than")):
        with pytest.raises(DevstackSaltError, match=f"cannot read {re.escape(str(path))}: {why}"):
            localconf_text.read_file(str(path))
    # A number would be a file descriptor to open(): the minion's own stdin, closed after reading.
    for path in (0, True, None, "", "a\0b", ["local.conf"]):
        with pytest.raises(ArgumentError, match="path must be the path of a local.conf file"):
            localconf_text.read_file(path)


# ---- the role's settings -------------------------------------------------------------------

def test_role_defaults_and_derived_paths():
    cfg = localconf.node_settings({})
    assert (cfg["user"], cfg["dest"], cfg["stack"], cfg["checkout"]) == ("stack", "/opt/stack", False, False)
    assert cfg["local_conf"] == "/opt/stack/devstack/local.conf"
    assert cfg["stamp"].startswith(localconf.STATE_DIR + "/stack-")


@pytest.mark.parametrize("pillar, key", [
    ({"stack_timeout": 0}, "stack_timeout"), ({"stack_timeout": "1h"}, "stack_timeout"),
    ({"stack": "yes"}, "stack"), ({"stack": True, "checkout": False}, "checkout"),
    ({"user": "Bad User"}, "user"), ({"dest": "relative"}, "dest"), ({"repo": "a b"}, "repo"),
])
def test_bad_role_settings_name_the_key(pillar, key):
    assert any(e.startswith(f"devstack:{key}") for e in errors_of({**SMALL, **pillar}))


def test_dest_is_written_into_localrc_when_it_is_not_the_default():
    assert localconf.build({**SMALL, "dest": "/srv/stack"})["localrc"]["DEST"] == "/srv/stack"
    assert "DEST" not in localconf.build({**SMALL, "dest": "/opt/stack"})["localrc"]
    assert any("DEST differs" in e for e in errors_of({**with_localrc(DEST="/x"), "dest": "/srv/stack"}))


def test_meaning_digest_ignores_order_but_not_values():
    a = localconf.build(SMALL)
    b = localconf.build({**SMALL, "localrc": dict(reversed(list(SMALL["localrc"].items())))})
    assert localconf.meaning_digest(a) == localconf.meaning_digest(b)
    assert localconf.meaning_digest(a) != localconf.meaning_digest(localconf.build(with_localrc(DEBUG=True)))


def test_log_tail_masks_secrets(tmp_path):
    model = localconf.build(SMALL)
    cfg = {"dest": str(tmp_path), "run_log": str(tmp_path / "run.log")}
    (tmp_path / "run.log").write_text("line 1\nconnecting mysql://root:Secret123@db/x with Secret123\n")
    assert stack_runner.log_tail(cfg, model) == "line 1\nconnecting mysql://root:<hidden>@db/x with <hidden>"


# ---- the database and broker wiring ----------------------------------------------------------

# Pillars the database and broker roles themselves accept (contract: DevStack sees what they validate).
DATABASE = {"devstack": {"user": "devstack", "host": "127.0.0.1", "password": "DbPassw0rd1"}}
BROKER = {"address": "127.0.0.1", "devstack_user": "ds",
          "users": {"ds": {"password": "MqPw1", "permissions": {"/": {"configure": ".*", "write": ".*", "read": ".*"}}}}}


def wired(pillar, database=DATABASE, broker=BROKER):
    return localconf.build(pillar, lookup={"database": database, "broker": broker}.get)


def test_a_node_using_the_database_and_broker_roles_gets_their_credentials():
    localrc = {k: v for k, v in SMALL["localrc"].items() if k != "DATABASE_PASSWORD"}
    model = wired({**SMALL, "localrc": localrc, "database": True, "broker": True,
                   "services": {"keystone": True, "swift": True}})
    assert {k: model["localrc"][k] for k in ("DATABASE_TYPE", "DATABASE_HOST", "DATABASE_USER", "DATABASE_PASSWORD",
                                             "RABBIT_HOST", "RABBIT_USERID", "RABBIT_PASSWORD")} == {
        "DATABASE_TYPE": "mysql", "DATABASE_HOST": "127.0.0.1", "DATABASE_USER": "devstack",
        "DATABASE_PASSWORD": "DbPassw0rd1", "RABBIT_HOST": "127.0.0.1", "RABBIT_USERID": "ds", "RABBIT_PASSWORD": "MqPw1"}
    # The roles run those servers, even on this host: DevStack's own services stay off.
    assert model["services"]["mysql"] is False and model["services"]["rabbit"] is False


def test_a_remote_database_and_broker_disable_the_local_services():
    localrc = {k: v for k, v in SMALL["localrc"].items() if k != "DATABASE_PASSWORD"}
    services = {"keystone": True, "swift": True}
    model = wired({**SMALL, "localrc": localrc, "services": services,
                   "database": {"host": "192.0.2.20"}, "broker": {"host": "192.0.2.21"}})
    assert model["localrc"]["DATABASE_HOST"] == "192.0.2.20" and model["localrc"]["RABBIT_HOST"] == "192.0.2.21"
    assert model["services"]["mysql"] is False and model["services"]["rabbit"] is False
    assert "mysql" not in localconf.effective_services(model)
    with pytest.raises(LocalConfError) as info:
        wired({**SMALL, "localrc": localrc, "database": {"host": "192.0.2.20"}})
    assert any("devstack:services enables mysql, but devstack:database says the database role provides it" in e
               for e in info.value.errors)


def test_the_password_lives_in_one_place():
    with pytest.raises(LocalConfError) as info:
        wired({**SMALL, "database": True})
    assert any("devstack:localrc:DATABASE_PASSWORD comes from the database pillar" in e for e in info.value.errors)


def test_missing_backend_pillar_keys_are_named():
    with pytest.raises(LocalConfError) as info:
        wired({**SMALL, "broker": True}, broker={"devstack_user": "ds", "users": {}})
    # The broker role's own validation speaks (it used to be a second reading that disagreed).
    assert any("devstack:broker uses the broker role: broker:devstack_user names 'ds', which is not under "
               "broker:users" in e for e in info.value.errors)
    with pytest.raises(LocalConfError) as info:
        wired({**SMALL, "broker": True}, broker={"devstack_user": "ds", "users": {"ds": {}}})
    assert any("broker:users:ds:password is not set" in e for e in info.value.errors)
    with pytest.raises(LocalConfError) as info:
        wired({**SMALL, "broker": True}, broker=None)
    assert any("the broker pillar is missing" in e for e in info.value.errors)


def test_the_database_and_broker_hosts_come_from_the_mine_when_not_given():
    localrc = {k: v for k, v in SMALL["localrc"].items() if k != "DATABASE_PASSWORD"}
    pillars = {"database": DATABASE, "broker": BROKER,
               "mine:database": {"db1": "192.0.2.20"}, "mine:broker": {"mq1": "192.0.2.21", "mq2": "192.0.2.22"}}
    model = localconf.build({**SMALL, "localrc": localrc, "services": {"keystone": True, "swift": True},
                     "database": True, "broker": True}, lookup=pillars.get)
    assert model["localrc"]["DATABASE_HOST"] == "192.0.2.20" and model["localrc"]["RABBIT_HOST"] == "192.0.2.21"
    assert model["services"]["mysql"] is False and model["services"]["rabbit"] is False


def test_units_restarted_after_a_stack_are_those_reading_the_merged_files():
    """stack.sh starts Keystone before it merges post-config: the role restarts what reads it."""
    model = localconf.build({"disable_all_services": True, "services": {"keystone": True},
                     "localrc": {"ADMIN_PASSWORD": "Pw1", "SERVICE_PASSWORD": "Pw1"},
                     "config": {"post-config": {"$KEYSTONE_CONF": {"token": {"expiration": 5400}},
                                                "${NOVA_CONF}": {"DEFAULT": {"debug": True}},
                                                "/etc/plugin/plugin.conf": {"a": {"b": 1}}},
                                "test-config": {"$TEMPEST_CONFIG": {"c": {"d": 1}}}}})
    units, unknown = node_units.config_units(model)
    assert units == ["devstack@keystone.service", "devstack@n-*.service"]
    assert unknown == ["/etc/plugin/plugin.conf"]  # named in the state's comment; tempest has no unit


# ---- bad input that used to slip through ---------------------------------------------------

@pytest.mark.parametrize("value", [{"ref": "OTHER"}, {"expand": "${OTHER}x"}, {"expand": "pa$$word"}])
def test_a_password_given_as_ref_or_expand_is_checked_after_resolution(value):
    errors = errors_of(with_localrc(OTHER="not:alnum", ADMIN_PASSWORD=value))
    assert any(e.startswith("devstack:localrc:ADMIN_PASSWORD must be alphanumeric") for e in errors), errors
    assert not any("not:alnum" in e for e in errors)
    assert localconf.build(with_localrc(OTHER="Alnum1", ADMIN_PASSWORD={"expand": "${OTHER}x2"}))


def test_a_password_built_from_a_variable_devstack_sets_cannot_be_checked():
    errors = errors_of(with_localrc(ADMIN_PASSWORD={"expand": "${DEST}x"}))
    assert any(e.startswith("devstack:localrc:ADMIN_PASSWORD refers to a variable DevStack sets (DEST)") for e in errors)


@pytest.mark.parametrize("pillar, error", [
    ({"user": "root"}, "devstack:user cannot be root"),
    ({"dest": "/srv/../etc"}, "devstack:dest must be a plain absolute path"),
    ({"dest": "srv/stack"}, "devstack:dest must be an absolute path"),
    ({"local_conf": "/opt/stack/./local.conf"}, "devstack:local_conf must be a plain absolute path"),
    ({"local_conf": "local.conf"}, "devstack:local_conf must be an absolute path"),
    ({"local_conf": "/opt/stack/"}, "devstack:local_conf must name a file"),
    ({"localrc": {**SMALL["localrc"], "DEST": "/opt/../x"}}, "devstack:localrc:DEST must be a plain absolute path"),
])
def test_role_settings_that_would_change_the_host_wrongly_are_rejected(pillar, error):
    assert any(e.startswith(error) for e in errors_of({**SMALL, **pillar})), error


@pytest.mark.parametrize("name", ["IFS", "UID", "SHELLOPTS", "TOP_DIR", "DISABLED_SERVICES"])
def test_localrc_cannot_set_what_bash_or_devstack_own(name):
    assert any(e.startswith(f"devstack:localrc:{name}: {name} is set by bash or by DevStack")
               for e in errors_of(with_localrc(**{name: "x"})))
