"""The local repositories a node's pillar names, which its stack user's git must trust: exactly
those (a file:// checkout, plugins, the repositories below a local GIT_BASE), never a pattern."""

from __future__ import annotations

import os
import subprocess

import pytest

from devstack_salt import localconf
from devstack_salt.local_repositories import local_path, repositories_below, trusted


def bare(path) -> str:
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return str(path)


@pytest.mark.parametrize("url, path", [
    ("file:///srv/mirrors/openstack/devstack.git", "/srv/mirrors/openstack/devstack.git"),
    ("file://localhost/srv/m/x.git", "/srv/m/x.git"),
    ("/srv/m/../m/x.git/", "/srv/m/x.git"),
    ("file:///srv/with%20space", "/srv/with space"),
    ("https://opendev.org/openstack/devstack", None),
    ("git://example.org/x.git", None),
    ("ssh://git@example.org/x.git", None),
    ("example.org:x.git", None),
    ("file://otherhost/srv/x.git", None),
])
def test_a_url_names_a_local_repository_only_on_this_host(url, path):
    assert local_path(url) == path


def test_the_repositories_below_a_base_are_found_two_levels_down_and_no_deeper(tmp_path):
    keystone = bare(tmp_path / "openstack" / "keystone.git")
    swift = bare(tmp_path / "openstack" / "swift.git")
    top = bare(tmp_path / "top.git")
    bare(tmp_path / "a" / "b" / "too-deep.git")
    (tmp_path / "openstack" / "not-a-repo").mkdir()
    (tmp_path / "README").write_text("a file")
    assert repositories_below(str(tmp_path)) == sorted([keystone, swift, top])
    assert repositories_below(str(tmp_path / "missing")) == []


def node(pillar: dict) -> tuple[dict, dict]:
    model = localconf.build(pillar, "devstack")
    return localconf.node_settings(pillar, "devstack", None, dict(model, localrc=dict(model["localrc"]))), model


BASE = {"disable_all_services": True, "services": {"keystone": True},
        "localrc": {"ADMIN_PASSWORD": "Secret1", "SERVICE_PASSWORD": "Secret1", "DATABASE_PASSWORD": "Secret1"}}


def test_a_node_trusts_its_checkout_its_plugins_and_git_bases_repositories_only(tmp_path):
    mirrors = tmp_path / "mirrors"
    devstack = bare(mirrors / "openstack" / "devstack.git")
    keystone = bare(mirrors / "openstack" / "keystone.git")
    plugin = bare(tmp_path / "plugins" / "my-plugin.git")
    bare(tmp_path / "plugins" / "not-named.git")
    link = tmp_path / "via-link"
    os.symlink(mirrors, link)
    pillar = {**BASE, "stack": True, "repo": f"file://{link}/openstack/devstack.git",
              "localrc": {**BASE["localrc"], "GIT_BASE": f"file://{mirrors}"},
              "plugins": {"mine": f"file://{plugin}", "remote": "https://opendev.org/openstack/barbican"}}
    # The checkout's repository by the path the pillar gives and by its real path (git compares
    # the real one), GIT_BASE's repositories, the local plugin; nothing else below tmp_path.
    assert trusted(*node(pillar)) == sorted({f"{link}/openstack/devstack.git", devstack, keystone, plugin})


def test_a_projects_own_repository_in_localrc_is_trusted(tmp_path):
    keystone = bare(tmp_path / "elsewhere" / "keystone.git")
    pillar = {**BASE, "localrc": {**BASE["localrc"], "KEYSTONE_REPO": f"file://{keystone}",
                                  "SWIFT_REPO": "https://opendev.org/openstack/swift", "NOT_A_REPO_X": "/srv"}}
    assert trusted(*node(pillar)) == [keystone]


def test_a_node_that_clones_from_remote_urls_trusts_nothing():
    pillar = {**BASE, "stack": True, "localrc": {**BASE["localrc"], "GIT_BASE": "https://opendev.org"}}
    assert trusted(*node(pillar)) == []
    # Without a checkout (the default pillar), a file:// repo is not cloned: not trusted either.
    assert trusted(*node({**BASE, "repo": "file:///srv/mirrors/openstack/devstack.git"})) == []


def test_git_base_given_by_reference_is_resolved(tmp_path):
    keystone = bare(tmp_path / "openstack" / "keystone.git")
    pillar = {**BASE, "localrc": {**BASE["localrc"], "MIRRORS": f"file://{tmp_path}", "GIT_BASE": {"ref": "MIRRORS"}}}
    assert trusted(*node(pillar)) == [keystone]
