"""Property-based tests: the parse/render round trip, and DevStack's own code as the judge.

The judge (devstack_judge.py) runs DevStack's real stackrc, meta-config and ini-config code on
what we render; for random and hostile pillars, what DevStack ends up with must be exactly what
the pillar says, or the pillar must be rejected with errors naming their pillar paths.
Example counts are modest: each judged example costs one bash run (~0.1-0.3 s).
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack_judge import EARLY, config_refs, intended_files, intended_value
from devstack_salt import devstack_facts, localconf, localconf_text, shell
from devstack_salt.errors import LocalConfError

# Any single-line text: hostile shell syntax included, only newline, CR and NUL excluded.
line_text = st.text(st.characters(blacklist_characters="\n\r\0", blacklist_categories=("Cs",)), max_size=40)
hostile = st.one_of(
    line_text,
    st.sampled_from(["$(pwned_canary)", "`pwned_canary`", "'", '"', "a;b", "*", "~root", "#x", " a  b ",
                     "${HOME}", "$HOME", "\\", "!!", "a\tb", "$((1+1))", "<(id)", "x=y", "[[a|b]]", "{a,b}",
                     "-n", "-e foo", "-E", "$$", "a\\$b", "%s", "&", "\\&", "\x01", "\x1b[0m", "a|b", "-n -e x"]),
)
# PATH is left out: a localrc that replaces it breaks every script, DevStack's included, as asked.
names = st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n != "PATH" and n not in devstack_facts.RESERVED_VARIABLES)
safe_word = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,8}", fullmatch=True)
config_scalar = st.from_regex(
    r"[A-Za-z0-9_./:,=@%+-]{1,8}( [A-Za-z0-9_./:,=@%+-]{1,8})?(\$HOST_IP|\$\{SERVICE_HOST\}x|\$\$[a-z]*)?",
    fullmatch=True).filter(lambda v: shell.config_value_problem(v) is None) | st.just("")
sections = st.from_regex(r"[A-Za-z][A-Za-z0-9_:./-]{0,6}", fullmatch=True)
options = st.from_regex(r"[a-z0-9][a-z0-9_./-]{0,6}", fullmatch=True)
HEADERS = ["$NOVA_CONF", "$NOVA_CPU_CONF", "{root}/etc/x/y.conf", "/$Q_PLUGIN_CONF_FILE", "$NOVA_CONF_DIR/api-paste.ini",
           "$KEYSTONE_CONF", "${{GLANCE_API_CONF}}", "$TEMPEST_CONFIG"]


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
            pool = earlier + [n for n in EARLY if n not in chosen]
            parts = draw(st.lists(st.one_of(hostile.map(lambda t: t.replace("$", "$$")),
                                            st.sampled_from(pool).map(lambda n: "${" + n + "}")), max_size=4))
            localrc[name] = {"expand": "".join(parts)}
    return localrc


@st.composite
def plugin_sets(draw):
    plugins = {}
    for name in draw(st.lists(safe_word, unique=True, max_size=5)):
        spec = {"url": "https://example.org/" + name}
        if draw(st.booleans()):
            spec["ref"] = draw(safe_word)
        if plugins and draw(st.booleans()):
            spec["requires"] = draw(st.lists(st.sampled_from(sorted(plugins)), min_size=1, unique=True))
        plugins[name] = spec
    return plugins


def config_trees(root: str = "/srv/judge"):
    return st.dictionaries(
        st.sampled_from(devstack_facts.PHASES),
        st.dictionaries(
            st.sampled_from([h.format(root=root) for h in HEADERS]),
            st.dictionaries(sections,
                            st.dictionaries(options, st.one_of(config_scalar, st.lists(config_scalar, min_size=1, max_size=3)),
                                            min_size=1, max_size=3),
                            min_size=1, max_size=2),
            min_size=1, max_size=2),
        max_size=2)


@st.composite
def pillars(draw, root: str = "/srv/judge"):
    return {
        "disable_all_services": draw(st.booleans()),
        "services": draw(st.dictionaries(safe_word, st.booleans(), max_size=5)),
        "localrc": draw(localrc_values()),
        "plugins": draw(plugin_sets()),
        "config": draw(config_trees(root)),
    }


def valid_model(pillar: dict) -> dict | None:
    """The model of a pillar, or None when validation rejects it (every error naming a path)."""
    try:
        model = localconf.normalize(pillar)
    except LocalConfError as exc:
        assert all(e.startswith("devstack:") for e in exc.errors), exc.errors
        return None
    errors = [e for e in localconf.check(model) if "missing or empty" not in e]
    assert all(e.startswith("devstack:") for e in errors), errors
    return None if errors else model


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(pillars())
def test_parse_of_render_is_identity(pillar):
    model = valid_model(pillar)
    if model is None:
        return
    text = localconf_text.render_model(model)
    parsed, warnings = localconf_text.parse_text(text)
    assert parsed == model
    assert warnings == []
    assert localconf_text.render_model(parsed) == text


def judge_model(judge, model):
    return judge.read(localconf_text.render_model(model), model["localrc"], config_refs(model))


def assert_devstack_read_the_model(reading, model):
    assert reading.canary == [] and reading.cwd_left == [], (reading.canary, reading.cwd_left)
    assert reading.stderr == ""
    assert reading.variables == {name: intended_value(model["localrc"], name) for name in model["localrc"]}
    assert reading.enabled_services == localconf.effective_services(model)
    assert reading.disabled_services == [name for name, on in model["services"].items() if not on]
    assert reading.plugins == [(name, model["plugins"][name]["url"], model["plugins"][name].get("ref", "master"))
                               for name in localconf.plugin_order(model["plugins"])]
    intended = intended_files(model, reading.merge_env)
    for phase, files in model["config"].items():
        for header in files:
            assert reading.merged(phase, header) == intended[devstack_facts.header_identity(header)], (phase, header)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(localrc_values(), st.booleans(), st.dictionaries(safe_word, st.booleans(), max_size=4), plugin_sets())
def test_devstack_reads_every_localrc_value_service_and_plugin_as_the_pillar_says(judge, localrc, disable_all,
                                                                                   services, plugins):
    model = valid_model({"disable_all_services": disable_all, "services": services, "localrc": localrc,
                         "plugins": plugins})
    if model is None:
        return
    assert_devstack_read_the_model(judge_model(judge, model), model)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_devstack_merges_every_post_config_option_as_the_pillar_says(judge, data):
    model = valid_model(data.draw(pillars(str(judge.root))))
    if model is None:
        return
    assert_devstack_read_the_model(judge_model(judge, model), model)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(hostile, config_scalar), st.one_of(hostile, config_scalar), sections, st.booleans())
def test_a_hostile_post_config_value_is_written_exactly_or_rejected(judge, value, other, section, multi):
    option = {"opt": [other, value] if multi else value}
    pillar = {"config": {"post-config": {"$NOVA_CONF": {section: option}}}}
    errors = _errors(pillar)
    if errors:
        assert all(e.startswith(f"devstack:config:post-config:$NOVA_CONF:{section}") for e in errors), errors
        return
    model = localconf.normalize(pillar)
    assert_devstack_read_the_model(judge_model(judge, model), model)


def _errors(pillar) -> list[str]:
    try:
        localconf.normalize(pillar)
    except LocalConfError as exc:
        return exc.errors
    return [e for e in localconf.check(localconf.normalize(pillar)) if "missing or empty" not in e]


def test_the_judge_sees_through_a_broken_renderer(judge):
    """The judge is not blind: an unquoted value, a lost escape and a shifted option all show."""
    model = localconf.normalize({"localrc": {"A": "x y"}, "config": {"post-config": {"$NOVA_CONF": {"DEFAULT": {"p": "a$$b"}}}}})
    good = judge.read(localconf_text.render_model(model), ["A"])
    assert_devstack_read_the_model(good, model)
    broken = localconf_text.render_model(model).replace("A='x y'", "A=x y").replace("\\\\$", "$")
    reading = judge.read(broken, ["A"])
    assert reading.canary == ["y"] and reading.variables == {"A": None}
    assert reading.merged("post-config", "$NOVA_CONF")["DEFAULT"]["p"] == ["a"]  # $b expanded, to nothing
