"""The broker model in plain Python: validation naming pillar paths, password hashes, the plan
from an exported broker to the definition, the rendered configuration, the DevStack wiring."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from salt.exceptions import CommandExecutionError

from devstack_salt import contract, listeners, rabbitmq_config, rabbitmq_model, rabbitmq_plan, rabbitmq_server
from devstack_salt.errors import BrokerDown, BrokerError

FULL = {"configure": ".*", "write": ".*", "read": ".*"}


def pillar(**extra):
    data = {"address": "127.0.0.1", "port": 5672, "devstack_user": "devstack", "vhosts": ["/", "app"],
            "users": {"devstack": {"password": "Secret123", "tags": [], "permissions": {"/": dict(FULL)}}},
            "policies": {"qq": {"vhost": "app", "pattern": "^qq", "apply_to": "queues",
                                "definition": {"delivery-limit": 5}, "priority": 1}},
            "plugins": ["rabbitmq_management"]}
    data.update(extra)
    return data


def export_of(model: dict) -> dict:
    """What export_definitions prints for a broker that already matches ``model``."""
    return {
        "vhosts": [{"name": v} for v in model["vhosts"]],
        "users": [{"name": n, "tags": u["tags"], "hashing_algorithm": "rabbit_password_hashing_sha256",
                   "password_hash": rabbitmq_plan.password_hash(u["password"]), "limits": {}}
                  for n, u in model["users"].items()],
        "permissions": [{"user": n, "vhost": v, **p} for n, u in model["users"].items() for v, p in u["permissions"].items()],
        "policies": [{"vhost": p["vhost"], "name": n, "pattern": p["pattern"], "apply-to": p["apply_to"],
                      "definition": p["definition"], "priority": p["priority"]} for n, p in model["policies"].items()],
    }


def errors_of(data) -> list[str]:
    with pytest.raises(BrokerError) as info:
        rabbitmq_model.normalize(data)
    return info.value.errors


def test_password_hash_matches_rabbitmq_sha256_scheme():
    encoded = rabbitmq_plan.password_hash("guest", salt=b"\x01\x02\x03\x04")
    raw = base64.b64decode(encoded)
    assert raw == b"\x01\x02\x03\x04" + hashlib.sha256(b"\x01\x02\x03\x04guest").digest()
    assert rabbitmq_plan.password_matches("guest", encoded, "rabbit_password_hashing_sha256")
    assert not rabbitmq_plan.password_matches("Guest", encoded, "rabbit_password_hashing_sha256")
    # guest's hash as a fresh RabbitMQ 3.10.8 exported it
    assert rabbitmq_plan.password_matches("guest", "NaPgveeeamyVFg9c5GSKALQbLLwlxsLJLZHHcpb6NGv7elGU",
                                   "rabbit_password_hashing_sha256")
    assert not rabbitmq_plan.password_matches("x", "not base64!", "rabbit_password_hashing_sha256")


def test_matching_broker_plans_nothing():
    model = rabbitmq_model.normalize(pillar())
    current = rabbitmq_plan.current_from_export(export_of(model), ["rabbitmq_management"])
    assert rabbitmq_plan.plan(model, current) == {"changes": {}, "import": {}, "remove": [], "plugins": None}


def test_plan_names_each_difference_and_hides_passwords():
    model = rabbitmq_model.normalize(pillar())
    old = rabbitmq_model.normalize(pillar(vhosts=["/", "gone"], users={
        "devstack": {"password": "OldPass1", "tags": ["monitoring"], "permissions": {"/": {**FULL, "read": ""}}},
        "guest": {"password": "guest", "tags": ["administrator"], "permissions": {"/": dict(FULL)}}},
        policies={"old": {"vhost": "/", "pattern": "x", "definition": {"expires": 1}}}))
    current = rabbitmq_plan.current_from_export(export_of(old), [])
    steps = rabbitmq_plan.plan(model, current)
    assert set(steps["changes"]) == {"vhost:app", "vhost:gone", "user:devstack:tags", "user:devstack:password",
                                     "user:guest", "permissions:devstack@/", "policy:app:qq", "policy:/:old",
                                     "plugin:rabbitmq_management"}
    assert "Secret123" not in json.dumps(steps["changes"]) and "OldPass1" not in json.dumps(steps["changes"])
    assert "Secret123" not in json.dumps(steps["import"])  # hashes only
    user = steps["import"]["users"][0]
    assert rabbitmq_plan.password_matches("Secret123", user["password_hash"], user["hashing_algorithm"])
    assert steps["remove"] == [("clear_policy", "-p", "/", "old"), ("delete_user", "guest"), ("delete_vhost", "gone")]
    assert steps["plugins"] == ["rabbitmq_management"]


def test_a_definition_previewed_without_passwords_never_answers_whether_a_password_is_right():
    model = rabbitmq_model.normalize(pillar())
    current = rabbitmq_plan.current_from_export(export_of(model), ["rabbitmq_management"])
    guessed = rabbitmq_model.normalize(pillar(users={
        "devstack": {"password": "Guess1234", "tags": [], "permissions": {"/": dict(FULL)}}}))
    assert "user:devstack:password" in rabbitmq_plan.plan(guessed, current)["changes"]
    assert rabbitmq_plan.plan(guessed, current, passwords=False)["changes"] == \
        rabbitmq_plan.plan(model, current, passwords=False)["changes"]


def test_tags_only_change_keeps_the_existing_hash():
    model = rabbitmq_model.normalize(pillar())
    exported = export_of(model)
    exported["users"][0]["tags"] = ["administrator"]
    steps = rabbitmq_plan.plan(model, rabbitmq_plan.current_from_export(exported, ["rabbitmq_management"]))
    assert list(steps["changes"]) == ["user:devstack:tags"]
    assert steps["import"]["users"][0]["password_hash"] == exported["users"][0]["password_hash"]


def test_prune_false_keeps_undeclared_things():
    model = rabbitmq_model.normalize(pillar(prune=False))
    exported = export_of(model)
    exported["users"].append({"name": "guest", "tags": [], "password_hash": "", "hashing_algorithm": ""})
    exported["vhosts"].append({"name": "other"})
    current = rabbitmq_plan.current_from_export(exported, ["rabbitmq_management"])
    assert rabbitmq_plan.plan(model, current)["changes"] == {}


@pytest.mark.parametrize("mutate, path", [
    (lambda p: p["users"]["devstack"]["permissions"]["/"].update(writ=".*"), "broker:users:devstack:permissions:/:writ"),
    (lambda p: p["policies"]["qq"].update({"apply-to": "queues"}), "broker:policies:qq:apply-to"),
    (lambda p: p["policies"]["qq"]["definition"].update({"x-queue-type": "quorum"}), "broker:policies:qq:definition:x-queue-type"),
    (lambda p: p["policies"]["qq"].update(apply_to="classic_queues"), "broker:policies:qq:apply_to"),
    (lambda p: p["policies"]["qq"].update(vhost="nowhere"), "broker:policies:qq:vhost"),
    (lambda p: p["users"]["devstack"]["permissions"].update(nowhere=dict(FULL)), "broker:users:devstack:permissions:nowhere"),
    (lambda p: p["users"]["devstack"].pop("password"), "broker:users:devstack:password"),
    (lambda p: p["users"]["devstack"].update(password="not alnum!"), "broker:users:devstack:password"),
    (lambda p: p.update(listen="0.0.0.0"), "broker:listen"),
    (lambda p: p.update(port=70000), "broker:port"),
    (lambda p: p["policies"]["qq"].update(pattern="^(qq"), "broker:policies:qq:pattern"),
])
def test_errors_name_the_pillar_path(mutate, path):
    data = json.loads(json.dumps(pillar()))
    mutate(data)
    errors = errors_of(data)
    assert any(e.startswith(path) for e in errors), errors
    assert all("Secret123" not in e for e in errors)


def test_the_cli_addresses_the_node_asked_for_and_a_missing_cli_means_the_broker_is_down(monkeypatch):
    calls = []

    def fake_run(command, **kwargs):
        calls.append(command)
        return rabbitmq_server.subprocess.CompletedProcess(command, 0, "{}", "")

    monkeypatch.setattr(rabbitmq_server.subprocess, "run", fake_run)
    monkeypatch.setattr(rabbitmq_server, "_cli", lambda tool: "/bin/" + tool)
    rabbitmq_server.read_export()
    rabbitmq_server.read_export("other@localhost")
    assert calls == [["/bin/rabbitmqctl", "export_definitions", "-", "--format", "json", "--silent"],
                     ["/bin/rabbitmqctl", "-n", "other@localhost", "export_definitions", "-", "--format", "json",
                      "--silent"]]
    monkeypatch.undo()
    monkeypatch.setattr(rabbitmq_server, "CLI_DIRS", ())
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BrokerDown, match="not installed"):
        rabbitmq_server.run_cli("rabbitmqctl", ["status"])


def test_rendered_config_binds_every_listener_to_the_address():
    model = rabbitmq_model.normalize(pillar(address="192.0.2.21", port=5999, management_port=15999))
    text = rabbitmq_config.render_rabbitmq_conf(model)
    assert "listeners.tcp.1 = 192.0.2.21:5999\n" in text
    assert "management.tcp.ip = 192.0.2.21\nmanagement.tcp.port = 15999\n" in text
    assert "prometheus.tcp.ip = 192.0.2.21\n" in text
    ipv6 = rabbitmq_model.normalize(pillar(address="::1"))
    assert "listeners.tcp.1 = [::1]:5672" in rabbitmq_config.render_rabbitmq_conf(ipv6)
    assert "ERL_EPMD_ADDRESS=127.0.0.1\n" in rabbitmq_config.render_env_conf(model)


def test_enabled_plugins_file_parsing():
    assert rabbitmq_plan.parse_enabled_plugins("[rabbitmq_management,rabbitmq_prometheus].\n") == [
        "rabbitmq_management", "rabbitmq_prometheus"]
    assert rabbitmq_plan.parse_enabled_plugins("[].") == []
    assert rabbitmq_plan.parse_enabled_plugins("%% comment\n[a].") is None


def test_devstack_localrc_comes_from_the_broker_pillar():
    assert contract.devstack_broker(pillar(), "192.0.2.21") == {
        "RABBIT_HOST": "192.0.2.21", "RABBIT_USERID": "devstack", "RABBIT_PASSWORD": "Secret123"}
    assert contract.devstack_broker(pillar())["RABBIT_HOST"] == "127.0.0.1"
    with pytest.raises(BrokerError, match="broker:port is 5999"):
        contract.devstack_broker(pillar(port=5999))
    with pytest.raises(BrokerError, match="broker:devstack_user"):
        contract.devstack_broker(pillar(devstack_user=None))


def fake_proc(tmp_path, processes: dict[int, list[str]]):
    for pid, args in processes.items():
        (tmp_path / str(pid)).mkdir(parents=True)
        (tmp_path / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in args) + b"\0")
    (tmp_path / "self").mkdir()
    return str(tmp_path)


SERVER = ["/usr/lib/erlang/erts-13.1.5/bin/beam.smp", "-W", "w", "--", "-s", "rabbit", "boot"]
CLI = ["/usr/lib/erlang/erts-13.1.5/bin/beam.smp", "-B", "--", "-boot", "no_dot_erlang", "-s", "elixir"]


def test_the_pid_file_must_name_the_one_running_server_node(tmp_path):
    proc = fake_proc(tmp_path / "proc", {516: SERVER, 700: CLI, 701: ["/bin/sh", "-s", "rabbit"]})
    pid_file = tmp_path / "pid"
    assert rabbitmq_server.server_pids(proc) == [516]
    assert rabbitmq_server.pid_file_plan(str(pid_file), proc) == {"old": None, "new": 516}  # missing: the hang
    pid_file.write_text("24090\n")
    assert rabbitmq_server.pid_file_plan(str(pid_file), proc) == {"old": 24090, "new": 516}  # a dead node's
    pid_file.write_text("516\n")
    assert rabbitmq_server.pid_file_plan(str(pid_file), proc) == {}


def test_no_server_node_needs_no_pid_file_and_two_are_an_error(tmp_path):
    assert rabbitmq_server.pid_file_plan(str(tmp_path / "pid"), fake_proc(tmp_path / "none", {700: CLI})) == {}
    with pytest.raises(CommandExecutionError, match=r"2 RabbitMQ server nodes are running \(pids \[516, 517\]\)"):
        rabbitmq_server.pid_file_plan(str(tmp_path / "pid"), fake_proc(tmp_path / "two", {516: SERVER, 517: SERVER}))


@pytest.mark.parametrize("value, port", [(1, True), (65535, True), (5672, True), (0, False), (65536, False),
                                         (True, False), ("5672", False), (5672.0, False), (None, False)])
def test_one_rule_says_what_a_port_is_for_every_role(value, port):
    """The broker's, carbon's, the web application's and Prometheus's ports are checked alike."""
    assert listeners.is_port(value) is port
