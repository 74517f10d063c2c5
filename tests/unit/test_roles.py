"""Role membership is one rule: devstack_salt.roles for Python, salt/roles.jinja for the SLS
that Salt renders without this project's modules (top.sls, the master's orchestration)."""

from __future__ import annotations

import os

import jinja2
import pytest
import yaml
from devstack_salt import roles

from project import PROJECT

SALT = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(PROJECT, "salt")))


def rendered(sls: str) -> dict:
    return yaml.safe_load(SALT.get_template(sls).render())


@pytest.mark.parametrize("role", roles.ROLES)
def test_the_sls_targets_are_the_python_targets(role):
    module = SALT.get_template("roles.jinja").module
    assert list(module.roles) == list(roles.ROLES) and module.all_in_one == roles.ALL_IN_ONE
    assert str(module.target(role)) == roles.target(role)


def test_top_applies_each_role_where_it_is_carried_and_monitoring_everywhere():
    top = rendered("top.sls")["base"]
    assert list(top) == [roles.target("database"), roles.target("broker"), "*", roles.target("devstack")]
    assert [states[-1] for states in top.values()] == ["database", "broker", "monitoring", "devstack"]


def test_the_orchestration_brings_each_role_up_where_it_is_carried():
    steps = {name: states["salt.state"] for name, states in rendered("orch/deploy.sls").items()
             if "salt.state" in states}
    targets = {name: next(arg["tgt"] for arg in args if "tgt" in arg) for name, args in steps.items()}
    assert targets == {"database-nodes": roles.target("database"), "broker-nodes": roles.target("broker"),
                       "monitoring-nodes": "*", "devstack-nodes": roles.target("devstack"),
                       # the carbon servers' dashboards again, once every node reports
                       "dashboards": "I@monitoring:carbon:server:True"}


@pytest.mark.parametrize("pillar, carried", [
    (["database"], {"database"}), ("broker", {"broker"}), (["all-in-one"], set(roles.ROLES)), (None, set()),
    (["devstack", "monitoring"], {"devstack", "monitoring"}),
])
def test_who_carries_a_role(pillar, carried):
    assert {role for role in roles.ROLES if roles.carries(pillar, role)} == carried
