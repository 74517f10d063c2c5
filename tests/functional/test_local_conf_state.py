"""The devstack.local_conf state and devstack execution functions through Salt's loader."""

from __future__ import annotations

import copy
import json
import logging
import os
import stat

import pytest

from devstack_salt import localconf, localconf_text, saltconfig
from devstack_salt.errors import DevstackSaltError

from node_pillar import PASSWORD, PILLAR, SECRETS


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "local.conf")


def apply(loaders, path, owner, pillar=PILLAR, **kwargs):
    """Apply devstack.local_conf through state.sls with pillar overrides; return its one result."""
    target = {"under_test": {"path": path, "user": owner[0], "group": owner[1]}}
    ret = loaders.modules.state.sls("local_conf_under_test", pillar={**pillar, **target}, **kwargs)
    (result,) = list(ret)
    return result


def assert_no_secret(*texts):
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


def test_first_apply_writes_the_rendered_file_0600_and_the_second_changes_nothing(loaders, path, owner):
    ret = apply(loaders, path, owner)
    assert ret.result is True
    assert ret.changes["file"] == {"old": None, "new": path}
    assert ret.changes["diff"]["localrc:ADMIN_PASSWORD"] == {"old": None, "new": localconf.MASK}
    with open(path) as handle:
        assert handle.read() == localconf_text.render_model(localconf.build(PILLAR["devstack"]))
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.getuid()
    again = apply(loaders, path, owner)
    assert again.result is True and again.changes == {}


def test_test_mode_predicts_exactly_what_the_real_run_changes_and_writes_nothing(loaders, path, owner):
    predicted = apply(loaders, path, owner, test=True)
    assert predicted.result is None and not os.path.exists(path)
    real = apply(loaders, path, owner)
    assert real.changes == predicted.changes

    changed = copy.deepcopy(PILLAR)
    changed["devstack"]["localrc"]["ADMIN_PASSWORD"] = "An0therSecret"
    changed["devstack"]["localrc"]["DEBUG"] = True
    changed["devstack"]["services"]["tempest"] = False
    del changed["devstack"]["config"]
    before = open(path, "rb").read()
    predicted = apply(loaders, path, owner, pillar=changed, test=True)
    assert predicted.result is None and open(path, "rb").read() == before
    assert predicted.changes["diff"] == {
        "localrc:ADMIN_PASSWORD": {"old": localconf.MASK, "new": localconf.MASK},
        "localrc:DEBUG": {"old": None, "new": "True"},
        "services:tempest": {"old": None, "new": "disabled"},
        "post-config:$KEYSTONE_CONF:token:expiration": {"old": "7200", "new": None},
    }
    real = apply(loaders, path, owner, pillar=changed)
    assert real.result is True and real.changes == predicted.changes
    assert apply(loaders, path, owner, pillar=changed, test=True).changes == {}


def test_no_secret_in_state_returns_or_logs(loaders, path, owner, caplog):
    with caplog.at_level(logging.DEBUG):
        returns = [apply(loaders, path, owner, test=True), apply(loaders, path, owner), apply(loaders, path, owner)]
        changed = copy.deepcopy(PILLAR)
        changed["devstack"]["localrc"]["ADMIN_PASSWORD"] = "Changed0Pw"
        returns.append(apply(loaders, path, owner, pillar=changed))
    texts = [json.dumps(r.full_return, default=str) for r in returns]
    assert_no_secret(caplog.text, *texts)
    assert "Changed0Pw" not in caplog.text + "".join(texts)
    assert any("localrc:ADMIN_PASSWORD" in t for t in texts)


def test_invalid_pillar_fails_naming_the_key_and_leaves_the_file_untouched(loaders, path, owner):
    apply(loaders, path, owner)
    before = os.stat(path)
    content = open(path, "rb").read()
    bad = copy.deepcopy(PILLAR)
    bad["devstack"]["localrc"]["ADMIN_PASSWORD"] = "not-alnum!"
    bad["devstack"]["config"]["post-config"]["$KEYSTONE_CONF"]["token"]["x"] = "$(reboot)"
    for test in (False, True):
        ret = apply(loaders, path, owner, pillar=bad, test=test)
        assert ret.result is False and ret.changes == {}
        assert "devstack:localrc:ADMIN_PASSWORD must be alphanumeric" in ret.comment
        assert "devstack:config:post-config:$KEYSTONE_CONF:token:x" in ret.comment
        assert "not-alnum!" not in ret.comment
    after = os.stat(path)
    assert open(path, "rb").read() == content
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(os.listdir(os.path.dirname(path))) == ["local.conf"]


def test_mode_drift_is_fixed_in_place_without_rewriting(loaders, path, owner):
    apply(loaders, path, owner)
    os.chmod(path, 0o644)
    inode = os.stat(path).st_ino
    ret = apply(loaders, path, owner)
    assert ret.changes == {"mode": {"old": "0644", "new": "0600"}}
    assert os.stat(path).st_ino == inode and stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_hand_edit_that_keeps_the_meaning_is_rewritten_and_said_so(loaders, path, owner):
    apply(loaders, path, owner)
    with open(path, "a") as handle:
        handle.write("# my note\n")
    ret = apply(loaders, path, owner)
    assert ret.changes == {"diff": {"content": {"old": "same meaning, other text", "new": "canonical text"}}}


def test_missing_user_is_a_clear_error(loaders, path):
    ret = apply(loaders, path, ("no-such-user-xyz", None))
    assert ret.result is False and "user 'no-such-user-xyz' does not exist" in ret.comment


def test_execution_functions_mask_secrets_unless_asked(loaders, tmp_path):
    config = PILLAR["devstack"]
    masked = loaders.modules.devstack.render(config=config)
    assert_no_secret(masked)
    assert PASSWORD in loaders.modules.devstack.render(config=config, reveal=True)
    assert loaders.modules.devstack.validate(config=config) == {"valid": True, "errors": []}
    result = loaders.modules.devstack.validate(config={"localrc": {"X": None}})
    assert result["valid"] is False and result["errors"][0].startswith("devstack:localrc:X is empty")
    info = loaders.modules.devstack.explain(config=config)
    assert info["enabled_services"] == ["key", "mysql", "s-account", "s-container", "s-object", "s-proxy"]
    assert info["prompted_passwords"] == [] and info["problems"] == []


def test_import_writes_full_pillar_0600_and_returns_it_masked(loaders, path, owner, tmp_path, monkeypatch):
    apply(loaders, path, owner)
    monkeypatch.setitem(loaders.opts, "devstack_salt_import_dir", str(tmp_path / "imports"))  # the minion's option
    dest = tmp_path / "imports" / "imported.sls"
    shown = loaders.modules["devstack.import"](path, dest="imported.sls")
    assert_no_secret(shown)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    import yaml

    imported = yaml.safe_load(dest.read_text())["devstack"]
    assert localconf.build(imported) == localconf.build(PILLAR["devstack"])
    assert loaders.modules.devstack.diff(path, config=imported) == {}
    # A remote caller names a new file there, never a path, never one that exists.
    for bad in (str(tmp_path / "elsewhere.sls"), "../escape.sls", "imported.sls"):
        with pytest.raises(DevstackSaltError):
            loaders.modules["devstack.import"](path, dest=bad)


def test_pillar_is_read_unmasked_from_the_pillar_tree(minion_opts, tmp_path):
    # Salt 3008 masks pillar.get output ('**********'); the module must still see real values.
    import yaml
    from saltfactories.utils.functional import Loaders

    pillar_dir = tmp_path / "pillar"
    pillar_dir.mkdir()
    (pillar_dir / "top.sls").write_text("base:\n  '*':\n    - node\n")
    (pillar_dir / "node.sls").write_text(yaml.safe_dump(PILLAR))
    opts = copy.deepcopy(minion_opts)
    opts["pillar_roots"] = {"base": [str(pillar_dir)]}
    own = Loaders(opts)
    assert own.modules.pillar.get("devstack:localrc:ADMIN_PASSWORD") == "**********"
    assert PASSWORD in own.modules.devstack.render(reveal=True)
    assert PASSWORD not in own.modules.devstack.render()


def test_service_functions_follow_the_host_init_system(loaders):
    provider = loaders.modules["service.start"].func.__module__.rsplit(".", 1)[-1]
    if saltconfig.systemd_running():
        assert provider == "systemd_service"
    else:
        assert provider != "systemd_service" and provider in ("debian_service", "service")


def test_test_mode_predicts_the_trusted_repositories_of_a_user_not_made_yet(loaders, salt_root, tmp_path):
    """devstack.repositories_trusted under test=True before the role has made the stack user
    (a fresh host): the repositories it would trust, no failure; a real run without the user is
    an error saying so (the SLS makes the user first)."""
    mirror = tmp_path / "mirrors" / "openstack" / "devstack.git"
    mirror.mkdir(parents=True)
    (mirror / "HEAD").write_text("ref: refs/heads/master\n")
    (mirror / "objects").mkdir()
    pillar = copy.deepcopy(PILLAR)
    pillar["devstack"].update(stack=True, repo=f"file://{mirror}")
    (salt_root / "states" / "trusted_under_test.sls").write_text(
        "trusted:\n  devstack.repositories_trusted:\n    - name: nosuchstackuser\n")
    (result,) = list(loaders.modules.state.sls("trusted_under_test", test=True, pillar=pillar))
    assert result.result is None, result.comment
    assert result.changes == {"safe.directory": {"old": [], "new": [str(mirror)]}}
    (failed,) = list(loaders.modules.state.sls("trusted_under_test", pillar=pillar))
    assert failed.result is False and "does not exist" in failed.comment
