"""The devstack role's gate: an invalid pillar renders, fails at the gate and changes nothing.

Only test=True runs here (the role's states would create users); the gate holding the other
states back is what Salt's requisites guarantee, and what these tests check in the returns."""

from __future__ import annotations

import copy

import pytest

from node_pillar import PILLAR


def run_role(loaders, devstack):
    return list(loaders.modules.state.sls("devstack", pillar={"devstack": devstack}, test=True))


@pytest.mark.parametrize("change, error", [
    ({"user": "root"}, "devstack:user cannot be root"),
    ({"dest": "/opt/../etc"}, "devstack:dest must be a plain absolute path"),
    ({"dest": ["a", "list"]}, "devstack:dest must be an absolute path"),
    ({"local_conf": "relative/local.conf"}, "devstack:local_conf must be an absolute path"),
    ({"localrc": "a string"}, "devstack:localrc must be a mapping"),
])
def test_an_invalid_pillar_stops_at_the_gate_before_any_state(loaders, change, error):
    pillar = {**copy.deepcopy(PILLAR["devstack"]), **change}
    results = run_role(loaders, pillar)
    gate = [r for r in results if r.name == "devstack-pillar"]
    assert len(gate) == 1 and gate[0].result is False
    assert error in gate[0].comment and "nothing was changed" in gate[0].comment
    others = [r for r in results if r.name != "devstack-pillar"]
    assert others, "the role's states must still render"
    for result in others:
        assert result.result is False and result.changes == {} and "requisite" in result.comment.lower(), result


def test_a_valid_pillar_passes_the_gate(loaders):
    results = run_role(loaders, PILLAR["devstack"])
    gate = [r for r in results if r.name == "devstack-pillar"]
    assert gate[0].result is True and gate[0].comment == "the devstack pillar is valid"
    assert all("requisite failed" not in (r.comment or "").lower() for r in results)
