"""Checks of a host where DevStack really stacked: Keystone issues a token, Swift stores and
returns an object, the database and the broker accept connections.

stack.sh needs systemd and network access to its git hosts, which CI machines lack, so these run
only against a host you name: DEVSTACK_STACKED_HOST=local:// (this host) or
ssh://vagrant@192.0.2.10 (see `vagrant ssh-config`), with testinfra's host syntax.
"""

from __future__ import annotations

import os
import uuid

import pytest
import testinfra

from project import devstack as model_module

SPEC = os.environ.get("DEVSTACK_STACKED_HOST")
DEVSTACK = os.environ.get("DEVSTACK_STACKED_DIR", "/opt/stack/devstack")
pytestmark = pytest.mark.skipif(
    not SPEC, reason="no stacked DevStack host given: set DEVSTACK_STACKED_HOST=local:// (or ssh://user@host)")


@pytest.fixture(scope="module")
def stacked():
    return testinfra.get_host(SPEC, sudo=True)


@pytest.fixture(scope="module")
def enabled(stacked):
    """The services DevStack enabled there, read from its local.conf with this project's parser."""
    model, _ = model_module.parse_text(stacked.file(f"{DEVSTACK}/local.conf").content_string)
    return set(model_module.effective_services(model))


def openstack(stacked, command: str) -> str:
    """Run an openstack CLI command as the stack user with the admin credentials of openrc."""
    script = f"source {DEVSTACK}/openrc admin admin >/dev/null && openstack {command}"
    return stacked.check_output("sudo -u stack -H bash -c %s", script)


def test_keystone_issues_a_token(stacked, enabled):
    if "key" not in enabled:
        pytest.skip("keystone is not enabled on this stacked host")
    assert len(openstack(stacked, "token issue -f value -c id")) > 20


def test_swift_stores_and_returns_an_object(stacked, enabled):
    if "s-proxy" not in enabled:
        pytest.skip("swift is not enabled on this stacked host")
    name = f"salt-check-{uuid.uuid4().hex[:8]}"
    body = f"round trip {name}"
    stacked.check_output(f"echo -n '{body}' > /tmp/{name}")
    openstack(stacked, f"container create {name}")
    try:
        openstack(stacked, f"object create --name {name} {name} /tmp/{name}")
        assert openstack(stacked, f"object save --file - {name} {name}") == body
    finally:
        openstack(stacked, f"object delete {name} {name}")
        openstack(stacked, f"container delete {name}")
        stacked.run(f"rm -f /tmp/{name}")


def test_the_database_accepts_connections(stacked, enabled):
    if "mysql" not in enabled:
        pytest.skip("mysql is not enabled on this stacked host")
    assert stacked.socket("tcp://3306").is_listening


def test_the_broker_accepts_connections(stacked, enabled):
    if "rabbit" not in enabled:
        pytest.skip("rabbit is not enabled on this stacked host")
    assert stacked.socket("tcp://5672").is_listening
