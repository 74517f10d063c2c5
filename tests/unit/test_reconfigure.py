"""Changing a stacked node in place (devstack_salt.reconfigure, ini_file): which changes are
made in place and which re-stack, the edits DevStack's merge would make, and the way back to what
stack.sh wrote when an option leaves the pillar."""

from __future__ import annotations

import copy

import pytest

from devstack_salt import ini_file, localconf, localconf_text, reconfigure

DEST = "/opt/stack"
PILLAR = {
    "disable_all_services": True,
    "services": {"keystone": True, "swift": True, "mysql": True},
    "localrc": {"ADMIN_PASSWORD": "Secret123", "SERVICE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
                "DATABASE_PASSWORD": {"ref": "ADMIN_PASSWORD"}, "SWIFT_HASH": "abc123", "HOST_IP": "192.0.2.10"},
    "config": {"post-config": {
        "$KEYSTONE_CONF": {"token": {"expiration": 7200}},
        "$SWIFT_CONFIG_PROXY_SERVER": {"app:proxy-server": {"node_timeout": 20}},
    }},
}
KEYSTONE = "/etc/keystone/keystone.conf"
PROXY = "/etc/swift/proxy-server.conf"


def stamp_of(pillar, origins=None):
    """The stamp a successful stack of ``pillar`` leaves (stack_runner.stack_node)."""
    model = localconf.build(pillar)
    return {"result": "success", "meaning": localconf.meaning_digest(model), "base": reconfigure.base_digest(model),
            "config": reconfigure.in_place_config(model), "origins": origins or {}}


def changed(**config):
    pillar = copy.deepcopy(PILLAR)
    pillar["config"] = {**pillar["config"], **config}
    return pillar


def plan_for(pillar, stamp=None, extra_units=None, exists=lambda path: True):
    return reconfigure.plan(stamp or stamp_of(PILLAR), localconf.build(pillar), DEST, extra_units, exists=exists)


def test_an_unchanged_model_needs_nothing():
    assert plan_for(PILLAR)["action"] == "none"


def test_a_changed_keystone_option_is_merged_in_place_and_only_keystone_restarts():
    pillar = changed(**{"post-config": {**PILLAR["config"]["post-config"], "$KEYSTONE_CONF": {"token": {"expiration": 5400}}}})
    plan = plan_for(pillar)
    assert plan["action"] == "in-place"
    assert plan["units"] == ["devstack@keystone.service"]
    assert plan["options"] == [f"{KEYSTONE} [token] expiration"]
    assert plan["edits"] == [{"path": KEYSTONE, "section": "token", "option": "expiration", "values": ["5400"],
                              "origin": "keep"}]


def test_options_of_a_file_on_the_node_the_last_stack_left_alone_are_merged_in_place():
    pillar = changed(**{"post-config": {**PILLAR["config"]["post-config"], "$NOVA_CONF": {"DEFAULT": {"debug": True}}}})
    plan = plan_for(pillar)
    assert plan["action"] == "in-place" and plan["units"] == ["devstack@n-*.service"]
    assert plan["edits"] == [{"path": "/etc/nova/nova.conf", "section": "DEFAULT", "option": "debug",
                              "values": ["True"], "origin": "record"}]


def test_a_nova_conf_change_re_stacks_where_nova_compute_reads_its_copy():
    """lib/nova start_nova_compute copies nova.conf to nova-cpu.conf and changes the copy: an
    in-place change of nova.conf would restart n-cpu on the old value."""
    compute = {**copy.deepcopy(PILLAR), "services": {**PILLAR["services"], "n-cpu": True}}
    pillar = copy.deepcopy(compute)
    pillar["config"]["post-config"]["$NOVA_CONF"] = {"DEFAULT": {"debug": True}}
    plan = plan_for(pillar, stamp_of(compute))
    assert plan["action"] == "restack"
    assert any("/etc/nova/nova.conf is what DevStack copies to /etc/nova/nova-cpu.conf for n-cpu" in r
               and "lib/nova start_nova_compute" in r for r in plan["reasons"]), plan["reasons"]
    # nova-cpu.conf itself is what n-cpu reads: in place
    pillar = copy.deepcopy(compute)
    pillar["config"]["post-config"]["$NOVA_CPU_CONF"] = {"DEFAULT": {"debug": True}}
    plan = plan_for(pillar, stamp_of(compute))
    assert plan["action"] == "in-place" and plan["units"] == ["devstack@n-cpu.service"]


def test_a_new_option_in_a_merged_file_records_what_the_file_had():
    proxy = {"app:proxy-server": {"node_timeout": 20}, "filter:tempurl": {"methods": "GET HEAD"}}
    plan = plan_for(changed(**{"post-config": {**PILLAR["config"]["post-config"], "$SWIFT_CONFIG_PROXY_SERVER": proxy}}))
    assert plan["action"] == "in-place" and plan["units"] == ["devstack@s-proxy.service"]
    assert plan["edits"] == [{"path": PROXY, "section": "filter:tempurl", "option": "methods",
                              "values": ["GET HEAD"], "origin": "record"}]


def test_removing_an_option_written_in_place_puts_back_what_stack_sh_wrote():
    key = f"{PROXY}\0filter:tempurl\0methods"
    with_tempurl = changed(**{"post-config": {**PILLAR["config"]["post-config"], "$SWIFT_CONFIG_PROXY_SERVER": {
        "app:proxy-server": {"node_timeout": 20}, "filter:tempurl": {"methods": "GET HEAD"}}}})
    stamp = stamp_of(with_tempurl, origins={key: ["GET HEAD PUT POST DELETE"]})
    plan = plan_for(PILLAR, stamp)
    assert plan["action"] == "in-place"
    assert plan["edits"] == [{"path": PROXY, "section": "filter:tempurl", "option": "methods",
                              "values": ["GET HEAD PUT POST DELETE"], "origin": "drop"}]


def test_removing_an_option_stack_sh_merged_itself_re_stacks():
    pillar = changed(**{"post-config": {"$SWIFT_CONFIG_PROXY_SERVER": PILLAR["config"]["post-config"]["$SWIFT_CONFIG_PROXY_SERVER"],
                                        "$KEYSTONE_CONF": {}}})
    plan = plan_for(pillar)
    assert plan["action"] == "restack"
    assert any(f"{KEYSTONE} [token] expiration: removed from the pillar, but stack.sh merged it itself" in r
               for r in plan["reasons"])


@pytest.mark.parametrize("change, reason", [
    ({"services": {"keystone": True, "swift": True, "mysql": True, "tempest": True}}, "beyond the options"),
    ({"localrc": {**PILLAR["localrc"], "LOGFILE": "/opt/stack/logs/stack.log"}}, "beyond the options"),
    ({"config": {**PILLAR["config"], "extra": {"$KEYSTONE_CONF": {"a": {"b": 1}}}}}, "beyond the options"),
    ({"plugins": {"heat": "https://opendev.org/openstack/heat"}}, "beyond the options"),
    ({"config": {"post-config": {**PILLAR["config"]["post-config"], "$NOVA_CONF": {"DEFAULT": {"debug": True}}}}},
     "/etc/nova/nova.conf does not exist on this node (a new file"),
])
def test_anything_but_options_of_files_on_the_node_re_stacks(change, reason):
    pillar = {**copy.deepcopy(PILLAR), **change}
    plan = plan_for(pillar, exists=lambda path: path != "/etc/nova/nova.conf")
    assert plan["action"] == "restack" and any(reason in r for r in plan["reasons"]), plan["reasons"]


def test_an_option_the_extra_phase_sets_wins_over_post_config_as_stack_sh_merges_it():
    """stack.sh merges post-config, then extra, then post-extra: a post-config change to an option
    extra also sets changes nothing in the file; taking a post-extra option back leaves extra's."""
    with_extra = {**copy.deepcopy(PILLAR), "config": {**PILLAR["config"], "extra": {"$KEYSTONE_CONF": {
        "token": {"expiration": 3600}}}}}
    pillar = copy.deepcopy(with_extra)
    pillar["config"]["post-config"]["$KEYSTONE_CONF"] = {"token": {"expiration": 5400}}
    plan = plan_for(pillar, stamp_of(with_extra))
    assert plan["action"] == "none" and plan["edits"] == []
    over = copy.deepcopy(with_extra)
    over["config"]["post-extra"] = {"$KEYSTONE_CONF": {"token": {"expiration": 900}}}
    plan = plan_for(over, stamp_of(with_extra))
    assert plan["action"] == "in-place" and plan["edits"][0]["values"] == ["900"]
    plan = plan_for(with_extra, stamp_of(over))
    assert plan["action"] == "in-place"
    assert plan["edits"] == [{"path": KEYSTONE, "section": "token", "option": "expiration", "values": ["3600"],
                              "origin": "keep"}]


def test_a_file_whose_unit_is_unknown_re_stacks_and_names_the_pillar_key(tmp_path):
    conf = str(tmp_path / "plugin.conf")
    base = changed(**{"post-config": {**PILLAR["config"]["post-config"], conf: {"a": {"b": 1}}}})
    new = changed(**{"post-config": {**PILLAR["config"]["post-config"], conf: {"a": {"b": 2}}}})
    plan = plan_for(new, stamp_of(base))
    assert plan["action"] == "restack"
    assert any(f"devstack:config:post-config:{conf}: no unit is known" in r and "devstack:config_units" in r
               for r in plan["reasons"])
    plan = plan_for(new, stamp_of(base), extra_units={conf: ["devstack@plugin-api.service"]})
    assert plan["action"] == "in-place" and plan["units"] == ["devstack@plugin-api.service"]


def test_a_known_file_named_by_its_absolute_path_has_its_devstack_units():
    by_path = copy.deepcopy(PILLAR)
    by_path["config"]["post-config"] = {KEYSTONE: {"token": {"expiration": 7200}},
                                        "/etc/nova/nova-cpu.conf": {"DEFAULT": {"debug": False}}}
    pillar = copy.deepcopy(by_path)
    pillar["config"]["post-config"][KEYSTONE]["token"]["expiration"] = 5400
    pillar["config"]["post-config"]["/etc/nova/nova-cpu.conf"]["DEFAULT"]["debug"] = True
    plan = plan_for(pillar, stamp_of(by_path))
    assert plan["action"] == "in-place", plan["reasons"]
    assert plan["units"] == ["devstack@keystone.service", "devstack@n-cpu.service"]


def test_a_plugins_file_variable_re_stacks_saying_to_use_the_absolute_path():
    """A plugin's $VARIABLE is set only when stack.sh runs: the plan cannot find the file, and
    says how to make it changeable in place (what devstack:config_units's own errors say)."""
    plugin = {**copy.deepcopy(PILLAR), "known_variables": ["MY_PLUGIN_CONF"]}
    plugin["config"]["post-config"]["$MY_PLUGIN_CONF"] = {"a": {"b": 1}}
    pillar = copy.deepcopy(plugin)
    pillar["config"]["post-config"]["$MY_PLUGIN_CONF"] = {"a": {"b": 2}}
    plan = plan_for(pillar, stamp_of(plugin), extra_units={"$MY_PLUGIN_CONF": ["devstack@my-api.service"]})
    assert plan["action"] == "restack"
    assert any("$MY_PLUGIN_CONF is not one of DevStack's file variables" in r and "does not exist" not in r
               and "write the file's absolute path as the header" in r and "devstack:config_units" in r
               for r in plan["reasons"]), plan["reasons"]
    errors = []
    localconf._config_units({"my.conf": ["devstack@my-api.service"]}, "devstack:config_units", errors)
    assert errors and "absolute path (as the header names it)" in errors[0]


def test_a_file_missing_on_the_node_re_stacks():
    pillar = changed(**{"post-config": {**PILLAR["config"]["post-config"], "$KEYSTONE_CONF": {"token": {"expiration": 5400}}}})
    plan = plan_for(pillar, exists=lambda path: False)
    assert plan["action"] == "restack" and any("does not exist on this node" in r for r in plan["reasons"])


def test_values_are_expanded_as_devstack_merges_them_or_re_stack():
    known = changed(**{"post-config": {**PILLAR["config"]["post-config"],
                                       "$KEYSTONE_CONF": {"token": {"expiration": 7200}, "x": {"url": "http://$HOST_IP:5000"}}}})
    plan = plan_for(known)
    assert plan["edits"][0]["values"] == ["http://192.0.2.10:5000"]
    internal = changed(**{"post-config": {**PILLAR["config"]["post-config"],
                                          "$KEYSTONE_CONF": {"token": {"expiration": 7200}, "x": {"url": "$KEYSTONE_SERVICE_URI"}}}})
    plan = plan_for(internal)
    assert plan["action"] == "restack" and any("$KEYSTONE_SERVICE_URI, which only DevStack knows" in r
                                               for r in plan["reasons"])


def test_a_stamp_of_an_older_version_re_stacks():
    stamp = {k: v for k, v in stamp_of(PILLAR).items() if k not in ("base", "config")}
    plan = plan_for(changed(**{"post-config": {"$KEYSTONE_CONF": {"token": {"expiration": 1}}}}), stamp)
    assert plan["action"] == "restack"


# ---- the edits ------------------------------------------------------------------------------

ORIGINAL = "[DEFAULT]\ndebug = False\n\n[token]\nprovider = fernet\n\n[filter:tempurl]\nuse = egg:swift#tempurl\n"


def test_set_and_remove_touch_only_their_option():
    text = ini_file.set_option(ORIGINAL, "token", "expiration", ["5400"])
    assert ini_file.options(text)["token"] == {"expiration": ["5400"], "provider": ["fernet"]}
    assert ini_file.set_option(text, "token", "expiration", None) == ORIGINAL
    multi = ini_file.set_option(ORIGINAL, "DEFAULT", "debug", ["a", "b"])
    assert ini_file.options(multi)["DEFAULT"] == {"debug": ["a", "b"]}
    assert ini_file.options(ini_file.set_option(ORIGINAL, "new", "x", ["1"]))["new"] == {"x": ["1"]}


def test_applying_then_reverting_edits_gives_back_the_file(tmp_path):
    files = {PROXY: ORIGINAL}
    edits = [{"path": PROXY, "section": "filter:tempurl", "option": "methods", "values": ["GET HEAD"], "origin": "record"},
             {"path": PROXY, "section": "DEFAULT", "option": "debug", "values": ["True"], "origin": "record"}]
    origins = reconfigure.apply_edits(edits, {}, files.__getitem__, files.__setitem__)
    assert origins == {f"{PROXY}\0filter:tempurl\0methods": None, f"{PROXY}\0DEFAULT\0debug": ["False"]}
    assert ini_file.get_option(files[PROXY], "filter:tempurl", "methods") == ["GET HEAD"]
    undo = reconfigure.revert_edits(origins, exists=lambda path: path in files)
    assert reconfigure.apply_edits(undo, origins, files.__getitem__, files.__setitem__) == {}
    assert files[PROXY] == ORIGINAL


def test_options_that_came_with_their_section_take_it_back_with_them():
    """Taking back every option written into a section the file did not have leaves the file
    byte for byte as stack.sh wrote it: no empty [section] header stays behind, whether the
    options came in one apply or in two, and whether they leave together or one by one."""
    files = {PROXY: ORIGINAL}
    first = [{"path": PROXY, "section": "cache", "option": "enabled", "values": ["true"], "origin": "record"}]
    origins = reconfigure.apply_edits(first, {}, files.__getitem__, files.__setitem__)
    assert origins == {f"{PROXY}\0cache\0enabled": reconfigure.NO_SECTION}
    second = [{"path": PROXY, "section": "cache", "option": "backend", "values": ["dogpile"], "origin": "record"},
              {"path": PROXY, "section": "token", "option": "expiration", "values": ["5400"], "origin": "record"}]
    origins = reconfigure.apply_edits(second, origins, files.__getitem__, files.__setitem__)
    assert origins[f"{PROXY}\0cache\0backend"] == reconfigure.NO_SECTION
    assert origins[f"{PROXY}\0token\0expiration"] is None
    assert ini_file.options(files[PROXY])["cache"] == {"enabled": ["true"], "backend": ["dogpile"]}
    one = [edit for edit in reconfigure.revert_edits(origins, exists=lambda path: True) if edit["option"] == "enabled"]
    left = reconfigure.apply_edits(one, origins, files.__getitem__, files.__setitem__)
    assert ini_file.options(files[PROXY])["cache"] == {"backend": ["dogpile"]}
    reconfigure.apply_edits(reconfigure.revert_edits(left, exists=lambda path: True), left,
                            files.__getitem__, files.__setitem__)
    assert files[PROXY] == ORIGINAL


def test_the_stack_runner_takes_back_a_section_it_added(plugin_node):
    cfg, conf, apply, restarts = plugin_node
    assert apply({"token": {"provider": "fernet"}, "cache": {"enabled": "true"}})["outcome"] == "reconfigured"
    assert "[cache]" in conf.read_text()
    assert apply({"token": {"provider": "fernet"}})["outcome"] == "reconfigured"
    assert conf.read_text() == ORIGINAL


def test_the_in_place_merge_writes_what_devstacks_own_merge_writes(judge):
    """DevStack's merge_config_group, run on the stacked node's file, and our in-place path (plan,
    with its expansion of the values, then apply_edits) give DevStack's view of the file alike:
    changed, new and multi-valued options, a new section, values referring to localrc and DEST."""
    options = {"token": {"expiration": 5400, "provider": "jwt"}, "DEFAULT": {"debug": ["a", "b"]},
               "new:section": {"x": 1, "url": "http://$HOST_IP:5000/v3", "dir": "${DEST}/data/x"}}
    pillar = changed(**{"post-config": {**PILLAR["config"]["post-config"], "$KEYSTONE_CONF": options}})
    plan = plan_for(pillar)
    assert plan["action"] == "in-place" and {e["path"] for e in plan["edits"]} == {KEYSTONE}, plan["reasons"]
    files = {KEYSTONE: ORIGINAL}
    reconfigure.apply_edits(plan["edits"], {}, files.__getitem__, files.__setitem__)
    assert "dir = /opt/stack/data/x" in files[KEYSTONE] and "url = http://192.0.2.10:5000/v3" in files[KEYSTONE]
    reading = judge.read(localconf_text.render_model(localconf.build(pillar)), seed={"KEYSTONE_CONF": ORIGINAL})
    assert ini_file.options(files[KEYSTONE]) == reading.merged("post-config", "$KEYSTONE_CONF")


@pytest.fixture
def plugin_stack(tmp_path):
    """A node stacked with a plugin's config file (its unit named in devstack:config_units):
    (cfg, conf, stack), ``stack(config)`` running the stack runner with that file's options."""
    from devstack_salt import files, stack_runner

    conf = tmp_path / "plugin.conf"
    conf.write_text(ORIGINAL)
    conf.chmod(0o640)
    header = str(conf)
    base = {**copy.deepcopy(PILLAR), "config": {"post-config": {header: {"token": {"provider": "fernet"}}}}}
    cfg = {"stamp": str(tmp_path / "stamp.json"), "devstack_dir": str(tmp_path / "no-checkout"), "dest": DEST,
           "config_units": {header: ["devstack@plugin-api.service"]}}
    files.write_json(cfg["stamp"], {**stamp_of(base), "commit": None})

    def stack(config):
        return stack_runner.stack_node(cfg, localconf.build({**base, "config": {"post-config": {header: config}}}))

    return cfg, conf, stack


@pytest.fixture
def plugin_node(plugin_stack, monkeypatch):
    """:func:`plugin_stack`, its unit active, and the runner's unit restarts recorded instead of
    run: (cfg, conf, apply, restarts)."""
    from devstack_salt import node_units

    cfg, conf, stack = plugin_stack
    restarts = []
    answers = []

    def restart_units(cfg, model, patterns, wait=None, any_state=False):
        restarts.append((list(patterns), conf.read_text()))
        failing = answers.pop(0) if answers else {}
        if isinstance(failing, BaseException):
            raise failing
        return {"restarted": ["devstack@plugin-api.service"] if patterns else [], "failing": failing}

    monkeypatch.setattr(node_units, "restart_units", restart_units)
    monkeypatch.setattr(node_units, "active_units", lambda patterns: list(patterns))

    def apply(config, failing=None):
        if failing:
            answers.append(failing)
        return stack(config)

    return cfg, conf, apply, restarts


def test_the_stack_runner_changes_a_node_in_place_and_back(plugin_node):
    """A changed option is merged into the file (owner and mode kept), only its unit restarts
    on the new file, the stamp advances, a second run does nothing, and removing an option added
    in place gives back the file stack.sh left."""
    from devstack_salt import files

    cfg, conf, apply, restarts = plugin_node
    run = apply({"token": {"provider": "fernet", "expiration": "5400"}})
    assert run["result"] is True and run["outcome"] == "reconfigured"
    assert run["options"] == [f"{conf} [token] expiration"]
    assert restarts == [(["devstack@plugin-api.service"], conf.read_text())]
    assert ini_file.options(conf.read_text())["token"] == {"expiration": ["5400"], "provider": ["fernet"]}
    assert oct(conf.stat().st_mode & 0o777) == "0o640"
    assert apply({"token": {"provider": "fernet", "expiration": "5400"}})["ran"] is False
    run = apply({"token": {"provider": "fernet"}})
    assert run["outcome"] == "reconfigured" and conf.read_text() == ORIGINAL
    assert files.read_json(cfg["stamp"])["origins"] == {}
    assert apply({"token": {"provider": "fernet"}})["ran"] is False
    assert len(restarts) == 2


def test_a_unit_that_does_not_come_back_puts_the_file_back_and_the_next_apply_tries_again(plugin_node):
    from devstack_salt import files

    cfg, conf, apply, restarts = plugin_node
    stamp = files.read_json(cfg["stamp"])
    run = apply({"token": {"provider": "fernet", "expiration": "5400"}},
                failing={"devstack@plugin-api.service": "failed; journal:\nconnecting with <hidden>"})
    assert run["result"] is False and run["outcome"] == "restart-failed"
    assert "devstack@plugin-api.service: failed; journal:" in run["tail"]
    # the new file was tried, then the old one restored and restarted; the stamp is as it was
    assert [text == ORIGINAL for _, text in restarts] == [False, True]
    assert conf.read_text() == ORIGINAL and files.read_json(cfg["stamp"]) == stamp
    # the pillar taken back: nothing to do; the same change again: tried again
    assert apply({"token": {"provider": "fernet"}})["ran"] is False
    assert apply({"token": {"provider": "fernet", "expiration": "5400"}})["outcome"] == "reconfigured"


@pytest.mark.parametrize("where", ["restart", "stamp"])
def test_any_failure_after_the_files_changed_puts_them_back_and_keeps_the_stamp(plugin_node, monkeypatch, where):
    """Not only a unit that does not come back: the restart raising (systemctl missing) or the
    stamp not written leave the files as stack.sh wrote them (so the next plan does not take the
    in-place value for the origin), the units restarted on them, and the stamp as it was."""
    from devstack_salt import files
    from devstack_salt.errors import CommandFailed

    cfg, conf, apply, restarts = plugin_node
    stamp = files.read_json(cfg["stamp"])
    real_write_json = files.write_json
    if where == "restart":
        failure = FileNotFoundError(2, "No such file or directory", "systemctl")
    else:
        def write_json(path, data, *args, **kwargs):
            if path == cfg["stamp"]:
                raise OSError(28, "No space left on device", path)
            return real_write_json(path, data, *args, **kwargs)

        monkeypatch.setattr(files, "write_json", write_json)
        failure = None
    with pytest.raises(CommandFailed) as info:
        apply({"token": {"provider": "fernet", "expiration": "5400"}}, failing=failure)
    assert "the files were put back" in str(info.value) and "the next apply tries again" in str(info.value)
    assert conf.read_text() == ORIGINAL and files.read_json(cfg["stamp"]) == stamp
    # the units read the new file (or may have), then the old one again
    assert [text == ORIGINAL for _, text in restarts] == [False, True]
    monkeypatch.setattr(files, "write_json", real_write_json)
    assert apply({"token": {"provider": "fernet", "expiration": "5400"}})["outcome"] == "reconfigured"
    assert files.read_json(cfg["stamp"])["origins"] == {f"{conf}\0token\0expiration": None}


def test_paths_follow_the_nodes_localrc(tmp_path):
    pillar = copy.deepcopy(PILLAR)
    pillar["localrc"]["KEYSTONE_CONF_DIR"] = "/srv/keystone"
    stamp = stamp_of(pillar)
    pillar["config"]["post-config"]["$KEYSTONE_CONF"] = {"token": {"expiration": 5400}}
    plan = plan_for(pillar, stamp)
    assert plan["action"] == "in-place" and plan["edits"][0]["path"] == "/srv/keystone/keystone.conf"
    pillar["localrc"]["KEYSTONE_CONF_DIR"] = {"expand": "${HOME}/keystone"}
    stamp = stamp_of({**pillar, "config": PILLAR["config"]})
    plan = plan_for(pillar, stamp)
    assert plan["action"] == "restack"


def test_the_stamp_keeps_digests_of_values_not_the_values():
    secret = {**copy.deepcopy(PILLAR)}
    secret["config"]["post-config"]["$KEYSTONE_CONF"]["database"] = {"connection": "mysql://u:Secret123@db/k"}
    assert "Secret123" not in str(stamp_of(secret))


# ---- what the next apply does: the checkout's ref and repo ----------------------------------

def test_a_changed_ref_or_repo_is_predicted_as_a_re_stack_before_git_moves_the_checkout(tmp_path, monkeypatch):
    """Under test=True git.latest leaves the checkout where it was: the stamp's ref and repo
    (recorded by the stack) tell that the real run will check out another commit and stack."""
    from devstack_salt import files, node_units, stack_runner

    cfg = {"stamp": str(tmp_path / "stamp.json"), "devstack_dir": str(tmp_path / "devstack"), "dest": DEST,
           "run_log": str(tmp_path / "run.log"), "running": str(tmp_path / "running.json"), "stack_timeout": 60,
           "unstack_before_restack": False, "user": "stack", "config_units": {},
           "repo": "https://opendev.org/openstack/devstack", "ref": "stable/2026.1"}
    (tmp_path / "devstack").mkdir()
    (tmp_path / "devstack" / "stack.sh").write_text("exit 0\n")
    model = localconf.build(PILLAR)
    monkeypatch.setattr(stack_runner, "run_script", lambda *a, **k: {"returncode": 0, "outcome": "success", "seconds": 1})
    monkeypatch.setattr(node_units, "restart_config_units",
                        lambda cfg, model: {"restarted": [], "unknown": [], "unmatched": [], "failing": {}})
    assert stack_runner.stack_node(cfg, model)["outcome"] == "success"
    stamp = files.read_json(cfg["stamp"])
    assert (stamp["repo"], stamp["ref"]) == (cfg["repo"], cfg["ref"])
    assert stack_runner.change_plan(cfg, model) == {"action": "none", "reasons": []}
    plan = stack_runner.change_plan({**cfg, "ref": "master"}, model)
    assert plan == {"action": "restack", "reasons": ["the ref changed from stable/2026.1 to master"]}
    plan = stack_runner.change_plan({**cfg, "repo": "https://u:Secret123@git.example/devstack"}, model)
    assert plan["action"] == "restack" and plan["reasons"] == [
        "the repo changed from https://opendev.org/openstack/devstack to https://u:<hidden>@git.example/devstack"]
    # A stamp from before the ref was recorded: the commit alone decides (here: unchanged).
    files.write_json(cfg["stamp"], {k: v for k, v in stamp.items() if k not in ("repo", "ref")})
    assert stack_runner.change_plan({**cfg, "ref": "master"}, model)["action"] == "none"


# ---- the real unit restarts, against stub systemctl and journalctl ----------------------------

STUB_SYSTEMD = r'''#!PYTHON
"""A stub of systemctl or journalctl (by its name): units and journals from state.json, each call
appended to calls.log."""
import fnmatch, json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "state.json")) as handle:
    state = json.load(handle)
tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open(os.path.join(here, "calls.log"), "a") as log:
    log.write(" ".join([tool, *args]) + "\n")
units = state["units"]
if tool == "journalctl":
    print(state["journal"].get(args[args.index("-u") + 1], ""))
elif args[0] == "list-units":
    patterns = [a for a in args[1:] if not a.startswith("--")]
    for unit, now in sorted(units.items()):
        if now == "active" and any(fnmatch.fnmatchcase(unit, p) for p in patterns):
            print(f"{unit} loaded active running {unit}")
elif args[0] == "restart":
    for unit in args[1:]:
        units[unit] = state["after_restart"].get(unit, "active")
    with open(os.path.join(here, "state.json"), "w") as handle:
        json.dump(state, handle)
    print(state.get("restart_stderr", ""), file=sys.stderr)
    sys.exit(state.get("restart_rc", 0))
elif args[0] == "is-active":
    print(units.get(args[1], "inactive"))
    sys.exit(0 if units.get(args[1]) == "active" else 3)
'''


@pytest.fixture
def systemd(tmp_path, monkeypatch):
    """Stub ``systemctl`` and ``journalctl`` first on PATH, systemd 'running', the probes and
    the wait under the test's control: set(units, after_restart, journal, probes, ...) -> calls."""
    import json
    import os
    import sys

    from devstack_salt import node_health, node_units

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("systemctl", "journalctl"):
        (bin_dir / tool).write_text(STUB_SYSTEMD.replace("PYTHON", sys.executable, 1))
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(node_units, "systemd_running", lambda: True)
    monkeypatch.setattr(node_units, "RESTART_WAIT", 0.0)
    probes = {}
    monkeypatch.setattr(node_health, "service_health", lambda cfg, model: dict(probes))

    def set_state(units, after_restart=None, journal=None, probe=None, **more):
        probes.clear()
        probes.update(probe or {"keystone": "ok (HTTP 200)"})
        (bin_dir / "state.json").write_text(json.dumps({"units": units, "after_restart": after_restart or {},
                                                        "journal": journal or {}, **more}))
        return lambda: (bin_dir / "calls.log").read_text().splitlines() if (bin_dir / "calls.log").exists() else []

    return set_state


PLUGIN_UNIT = "devstack@plugin-api.service"
#: What the plugin's service logs when it dies: ADMIN_PASSWORD of PILLAR, in a URL and bare.
LEAKY_JOURNAL = "connecting to mysql://root:Secret123@db/plugin\nbad credentials: Secret123"


def test_the_real_restart_masks_the_journal_and_a_failure_leaves_the_node_and_stamp_as_they_were(
        plugin_stack, systemd):
    from devstack_salt import files

    cfg, conf, stack = plugin_stack
    calls = systemd({PLUGIN_UNIT: "active", "devstack@keystone.service": "active"},
                    after_restart={PLUGIN_UNIT: "failed"}, journal={PLUGIN_UNIT: LEAKY_JOURNAL})
    stamp = files.read_json(cfg["stamp"])
    run = stack({"token": {"provider": "fernet", "expiration": "5400"}})
    assert run["result"] is False and run["outcome"] == "restart-failed"
    assert f"{PLUGIN_UNIT}: failed; journal:" in run["tail"]
    assert "mysql://root:<hidden>@db/plugin" in run["tail"] and "bad credentials: <hidden>" in run["tail"]
    assert "Secret123" not in str(run)
    assert conf.read_text() == ORIGINAL and files.read_json(cfg["stamp"]) == stamp
    # only the plugin's unit restarted: on the new file, then on the old one again
    assert [c for c in calls() if c.startswith("systemctl restart")] == [f"systemctl restart {PLUGIN_UNIT}"] * 2


def test_a_restarted_unit_that_is_not_active_fails_even_when_the_probes_answer(plugin_stack, systemd):
    cfg, conf, stack = plugin_stack
    systemd({PLUGIN_UNIT: "active"}, after_restart={PLUGIN_UNIT: "activating"}, journal={PLUGIN_UNIT: "starting"})
    run = stack({"token": {"provider": "fernet", "expiration": "5400"}})
    assert run["result"] is False and f"{PLUGIN_UNIT}: activating; journal:\nstarting" in run["tail"]
    assert conf.read_text() == ORIGINAL


def test_a_failing_probe_brings_the_journal_of_units_that_stayed_active(plugin_stack, systemd):
    cfg, conf, stack = plugin_stack
    systemd({PLUGIN_UNIT: "active"}, journal={PLUGIN_UNIT: LEAKY_JOURNAL},
            probe={"keystone": "failing: http://192.0.2.10/identity/v3: HTTP Error 503"})
    run = stack({"token": {"provider": "fernet", "expiration": "5400"}})
    assert run["result"] is False
    assert "keystone: failing: http://192.0.2.10/identity/v3: HTTP Error 503" in run["tail"]
    assert f"{PLUGIN_UNIT}: active; journal:\nconnecting to mysql://root:<hidden>@db/plugin" in run["tail"]
    assert "Secret123" not in run["tail"]


def test_a_failing_systemctl_restart_is_masked_and_brings_the_journal(plugin_stack, systemd):
    from devstack_salt import files

    cfg, conf, stack = plugin_stack
    stamp = files.read_json(cfg["stamp"])
    systemd({PLUGIN_UNIT: "active"}, after_restart={PLUGIN_UNIT: "failed"}, journal={PLUGIN_UNIT: LEAKY_JOURNAL},
            restart_rc=1, restart_stderr="Job failed; see password Secret123")
    run = stack({"token": {"provider": "fernet", "expiration": "5400"}})
    assert run["result"] is False and "systemctl restart: Job failed; see password <hidden>" in run["tail"]
    assert f"{PLUGIN_UNIT}: failed; journal:" in run["tail"] and "Secret123" not in str(run)
    assert conf.read_text() == ORIGINAL and files.read_json(cfg["stamp"]) == stamp


def test_units_in_config_units_that_match_no_running_unit_are_an_error_naming_the_key(plugin_stack, systemd):
    """A misspelt devstack:config_units entry would restart nothing and claim success; stack.sh
    would not help either: an error naming the key, under test=True too, and nothing changed."""
    from devstack_salt import files, stack_runner
    from devstack_salt.errors import PillarError

    cfg, conf, stack = plugin_stack
    calls = systemd({"devstack@plugin-apii.service": "active"})
    stamp = files.read_json(cfg["stamp"])
    with pytest.raises(PillarError) as info:
        stack({"token": {"provider": "fernet", "expiration": "5400"}})
    assert f"devstack:config_units:{conf}: {PLUGIN_UNIT} match no running unit" in str(info.value)
    assert conf.read_text() == ORIGINAL and files.read_json(cfg["stamp"]) == stamp
    assert not [c for c in calls() if "restart" in c]
    model = localconf.build({**copy.deepcopy(PILLAR), "config": {"post-config": {
        str(conf): {"token": {"provider": "fernet", "expiration": "5400"}}}}})
    with pytest.raises(PillarError):
        stack_runner.change_plan(cfg, model)


def test_devstacks_own_unit_not_running_re_stacks_naming_it(tmp_path, systemd):
    from devstack_salt import files, stack_runner

    pillar = copy.deepcopy(PILLAR)
    pillar["localrc"]["KEYSTONE_CONF_DIR"] = str(tmp_path)
    (tmp_path / "keystone.conf").write_text(ORIGINAL)
    cfg = {"stamp": str(tmp_path / "stamp.json"), "devstack_dir": str(tmp_path / "no-checkout"), "dest": DEST,
           "config_units": {}}
    files.write_json(cfg["stamp"], {**stamp_of(pillar), "commit": None})
    pillar["config"]["post-config"]["$KEYSTONE_CONF"] = {"token": {"expiration": 5400}}
    systemd({"devstack@keystone.service": "failed", "devstack@s-proxy.service": "active"})
    plan = stack_runner.change_plan(cfg, localconf.build(pillar))
    assert plan["action"] == "restack"
    assert f"{tmp_path}/keystone.conf: no running unit matches devstack@keystone.service, DevStack's units for " \
           "$KEYSTONE_CONF; stack.sh starts the services it enables" in plan["reasons"]
    systemd({"devstack@keystone.service": "active"})
    assert stack_runner.change_plan(cfg, localconf.build(pillar))["action"] == "in-place"


def test_after_a_stack_config_units_matching_no_running_unit_are_named(plugin_stack, systemd):
    """After stack.sh the restart of the units reading the merged files names the
    devstack:config_units entry that restarted nothing (stack.sh itself succeeded)."""
    from devstack_salt import node_units

    cfg, conf, _ = plugin_stack
    model = localconf.build({**copy.deepcopy(PILLAR), "config": {"post-config": {str(conf): {"a": {"b": 1}},
                                                                                "$KEYSTONE_CONF": {"c": {"d": 1}}}}})
    systemd({"devstack@keystone.service": "active"})
    done = node_units.restart_config_units(cfg, model)
    assert done["restarted"] == ["devstack@keystone.service"] and done["failing"] == {}
    assert done["unmatched"] == [f"devstack:config_units:{conf} ({PLUGIN_UNIT})"]
