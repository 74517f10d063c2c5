"""The broker role's states and execution functions through Salt's loader. Nothing here needs a
running broker, and nothing here may reach this host's: the minion below addresses a node that
does not exist (``message_broker.node``), and the fixture proves it before any test runs. The
server part of the role (package, files, service) is only rendered here (state.show_sls), never
applied: it would act on this host's shared RabbitMQ."""

from __future__ import annotations

import json
import logging
import re
import shutil

import pytest
import salt.config
from salt.exceptions import CommandExecutionError
from saltfactories.utils.functional import Loaders

from project import configure

UNREACHABLE = "devstack-salt-unreachable@localhost"
PASSWORD = "FuncBrokerPassw0rd"
VALID = {
    "address": "127.0.0.1",
    "port": 5672,
    "devstack_user": "devstack",
    "vhosts": ["/"],
    "users": {"devstack": {"password": PASSWORD, "tags": [],
                           "permissions": {"/": {"configure": ".*", "write": ".*", "read": ".*"}}}},
    "policies": {"expire-idle": {"vhost": "/", "pattern": "^tmp\\.", "apply_to": "queues",
                                 "definition": {"expires": 600000}}},
    "prune": True,
}
RABBITMQCTL = shutil.which("rabbitmqctl", path="/usr/lib/rabbitmq/bin:/usr/sbin:/usr/bin")
needs_rabbitmqctl = pytest.mark.skipif(not RABBITMQCTL, reason="rabbitmqctl (rabbitmq-server) is not installed")


@pytest.fixture(scope="module")
def loaders(tmp_path_factory):
    """A minion of its own: the broker pillar above, and the CLI tools aimed at a node that does
    not exist, so that no test can change (or even read) this host's shared broker."""
    root = tmp_path_factory.mktemp("broker-salt")
    pillar = root / "pillar"
    pillar.mkdir()
    (pillar / "top.sls").write_text("base:\n  '*':\n    - broker\n")
    (pillar / "broker.sls").write_text(json.dumps({"broker": VALID}))
    config = configure.minion_config(str(root), "broker-functional", pillar_roots=[str(pillar)])
    config["message_broker.node"] = UNREACHABLE
    (root / "minion").write_text(json.dumps(config))
    loaders = Loaders(salt.config.minion_config(str(root / "minion")))
    if RABBITMQCTL:
        # A read that reached the real broker would succeed here: stop before anything can write.
        with pytest.raises(CommandExecutionError, match=re.escape(UNREACHABLE)):
            loaders.modules.message_broker.diff()
    return loaders


def results(ret) -> dict:
    return {state.name: state for state in ret}


def text_of(states) -> str:
    return json.dumps([state.full_return for state in states], default=str)


def test_a_valid_pillar_passes_the_gate_with_its_real_passwords(loaders):
    assert loaders.modules.message_broker.validate() == {"valid": True, "errors": []}
    settings = loaders.modules.message_broker.devstack_settings()
    assert settings == {"RABBIT_HOST": "127.0.0.1", "RABBIT_USERID": "devstack", "RABBIT_PASSWORD": "<hidden>"}
    # Salt 3008 masks pillar.get outside templates: the module must read the real password.
    assert loaders.modules.message_broker.devstack_settings(reveal=True)["RABBIT_PASSWORD"] == PASSWORD


@pytest.mark.parametrize("broker, key", [
    ({"users": {"x": {"password": "XPassw0rd1", "tags": "administrator"}}}, "broker:users:x:tags"),
    ({"users": {"devstack": {"passwd": PASSWORD}}}, "broker:users:devstack:passwd"),
    ({"users": {"x": {"password": "XPassw0rd1", "permissions": {"/nope": {"read": ".*"}}}}},
     "broker:users:x:permissions:/nope"),
    ({"policies": {"p": {"pattern": "^(amq", "definition": {"expires": 1000}}}}, "broker:policies:p:pattern"),
    ({"policies": {"p": {"pattern": ".*", "definition": {"expire": 1000}}}}, "broker:policies:p:definition:expire"),
    ({"port": 70000}, "broker:port"),
    ({"devstack_user": "nobody"}, "broker:devstack_user"),
])
def test_an_invalid_pillar_fails_at_the_gate_naming_the_key_and_nothing_runs(loaders, broker, key):
    # broker.server renders no state at all for an invalid pillar: no package, file or service.
    assert set(loaders.modules.state.show_sls("broker", pillar={"broker": broker})) == {"broker-pillar",
                                                                                          "broker-definition"}
    states = results(loaders.modules.state.sls("broker.definition", pillar={"broker": broker}))
    assert set(states) == {"broker-pillar", "broker-definition"}
    gate = states["broker-pillar"]
    assert gate.result is False and key in gate.comment and "nothing was changed" in gate.comment
    assert all(state.result is False and not state.changes for state in states.values())
    assert "requisite failed" in states["broker-definition"].comment
    assert PASSWORD not in text_of(states.values())


def test_every_state_of_the_role_requires_the_gate(loaders):
    high = loaders.modules.state.show_sls("broker")
    assert {"broker-package", "broker-conf", "broker-env-conf", "broker-cookie", "broker-service",
            "broker-definition"} <= set(high)

    def needs(state_id: str) -> set[str]:
        found = set()
        for module, args in high[state_id].items():
            if module.startswith("__"):
                continue
            for arg in args:
                if isinstance(arg, dict):
                    for kind in ("require", "watch", "prereq", "onchanges"):
                        found |= {ref for req in arg.get(kind, []) for ref in req.values()}
        return found

    for state_id in set(high) - {"broker-pillar"}:
        seen, todo = set(), [state_id]
        while todo:
            for ref in needs(todo.pop()) - seen:
                seen.add(ref)
                todo.append(ref)
        assert "broker-pillar" in seen, f"{state_id} can run without the pillar gate"


def test_a_password_is_never_in_a_return_or_a_log(loaders, caplog):
    bad_secret = "Not-Alnum-Secret9"
    bad = {"broker": {"users": {"devstack": {"password": bad_secret}}}}
    with caplog.at_level(logging.DEBUG):
        states = [*loaders.modules.state.sls("broker.definition", pillar=bad)]
        if RABBITMQCTL:
            states += [*loaders.modules.state.sls("broker.definition"),
                       *loaders.modules.state.sls("broker.definition", test=True)]
    assert "broker:users:devstack:password must be alphanumeric" in text_of(states)
    for secret in (bad_secret, PASSWORD):
        assert secret not in text_of(states)
        assert secret not in caplog.text


@needs_rabbitmqctl
def test_an_unreachable_broker_fails_the_definition_clearly_and_changes_nothing(loaders):
    states = results(loaders.modules.state.sls("broker.definition"))
    assert states["broker-pillar"].result is True
    definition = states["broker-definition"]
    assert definition.result is False and definition.changes == {}
    assert UNREACHABLE in definition.comment and "not running" in definition.comment
    assert "Nothing was changed" in definition.comment and "Traceback" not in definition.comment


@needs_rabbitmqctl
def test_under_test_mode_an_unreachable_broker_is_unpredictable_not_a_failure(loaders):
    states = results(loaders.modules.state.sls("broker.definition", test=True))
    definition = states["broker-definition"]
    assert definition.result is None and definition.changes == {}
    assert "cannot be predicted before the broker runs" in definition.comment and UNREACHABLE in definition.comment


@needs_rabbitmqctl
@pytest.mark.parametrize("function, kwargs", [("diff", {}), ("current", {}), ("apply", {"test": True}), ("apply", {})])
def test_the_execution_functions_name_the_unreachable_node(loaders, function, kwargs):
    with pytest.raises(CommandExecutionError) as info:
        getattr(loaders.modules.message_broker, function)(**kwargs)
    assert type(info.value).__name__ == "BrokerDown"
    assert UNREACHABLE in str(info.value) and PASSWORD not in str(info.value)


def test_an_invalid_config_argument_is_rejected_before_the_broker_is_read(loaders):
    with pytest.raises(CommandExecutionError) as info:
        loaders.modules.message_broker.diff(config={**VALID, "users": {"devstack": {"password": PASSWORD, "tags": "x"}}})
    assert type(info.value).__name__ == "BrokerError" and "broker:users:devstack:tags" in str(info.value)
    assert PASSWORD not in str(info.value)
