"""What this project's Salt modules publish: exactly the functions README.md's "Salt API" table
documents, each with a ``CLI Example:``, and no internal helper (running a script, a CLI, writing
a file) reachable through Salt's loader, ACLs or external auth."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import salt.config
import salt.loader

from common import free_port
from project import PROJECT, configure, load_source
from salt_api import EXECUTION_MODULES, STATE_MODULES, documented, published

#: Helpers that once were callable by anyone allowed ``devstack.*`` or ``message_broker.*``.
INTERNALS = ("devstack.run_script", "devstack.write_json", "devstack.shell_quote", "message_broker.run_cli",
             "message_broker.converge", "message_broker.pid_file_plan", "database_server.connect",
             "database_server.apply_part", "monitoring.record", "monitoring.brake", "monitoring.send_plaintext")


@pytest.mark.parametrize("module", EXECUTION_MODULES)
def test_an_execution_module_publishes_exactly_its_documented_functions(loaders, module):
    table = documented("execution")
    assert module in table, f"README.md's Salt API table has no row for {module}"
    assert set(published(loaders.modules, module, sorted(table[module])[0])) == table[module]


@pytest.mark.parametrize("module", EXECUTION_MODULES)
def test_every_published_function_has_a_cli_example(loaders, module):
    for name, function in published(loaders.modules, module, sorted(documented("execution")[module])[0]).items():
        assert "CLI Example:" in (function.__doc__ or ""), f"{module}.{name} has no CLI Example"


@pytest.mark.parametrize("module", STATE_MODULES)
def test_a_state_module_publishes_exactly_its_documented_states(loaders, module):
    table = documented("state")
    assert module in table, f"README.md's Salt API table has no state row for {module}"
    states = published(loaders.states, module, sorted(table[module])[0])
    assert set(states) == table[module]
    # The loader hands out state functions wrapped (state.single); their docstrings are the file's.
    face = load_source(f"{module}_state_face", os.path.join(PROJECT, "_states", f"{module}.py"))
    for name in states:
        assert "code-block:: yaml" in (getattr(face, name).__doc__ or ""), f"state {module}.{name} shows no SLS example"


#: A password in this minion's collectd pillar, and the port its collectd would send to.
SECRET = "ApiCollectdPassw0rd-q7"
CARBON_PORT = free_port()


@pytest.fixture(scope="module")
def salt_call(tmp_path_factory):
    """A real ``salt-call`` of this project, masterless, its modules synced from salt/, with a
    collectd pillar holding a password and a carbon port of its own."""
    root = tmp_path_factory.mktemp("api-minion")
    (root / "pillar").mkdir()
    (root / "pillar" / "top.sls").write_text("base:\n  '*':\n    - monitoring\n")
    (root / "pillar" / "monitoring.sls").write_text(json.dumps({"monitoring": {"collectd": {
        "carbon_host": "127.0.0.1", "carbon_port": CARBON_PORT,
        "plugins": {"load": {}, "mysql": {"Database collectd": {"User": "collectd", "Password": SECRET}}}}}}))
    config = configure.minion_config(str(root), "api-minion", file_roots=[os.path.join(PROJECT, "salt")],
                                     pillar_roots=[str(root / "pillar")])
    config.pop("return", None)
    (root / "minion").write_text(json.dumps(config))
    command = [os.path.join(os.path.dirname(sys.executable), "salt-call"), "--local", "-c", str(root),
               "--out=json", "--retcode-passthrough"]

    def call(*args):
        return subprocess.run(command + list(args), capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL)

    synced = call("saltutil.sync_all")
    assert synced.returncode == 0, synced.stderr[-2000:]
    call.config = str(root / "minion")
    return call


def test_a_documented_function_answers_through_salt_call(salt_call):
    proc = salt_call("devstack.render", "config={disable_all_services: true, services: {dstat: true}}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "enable_service dstat" in json.loads(proc.stdout)["local"]


def test_a_wrong_argument_is_an_error_saying_so_never_a_traceback(salt_call):
    proc = salt_call("monitoring.collectd_conf", "config=a string")
    assert proc.returncode != 0
    assert "monitoring:collectd must be a mapping (got str)" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("internal", INTERNALS)
def test_an_internal_helper_is_not_callable_through_salt_call(salt_call, internal):
    proc = salt_call(internal, "x")
    assert proc.returncode != 0
    assert f"'{internal}' is not available" in proc.stdout + proc.stderr


def test_the_rendered_collectd_conf_shows_its_password_only_when_asked(salt_call):
    masked, revealed = salt_call("monitoring.collectd_conf"), salt_call("monitoring.collectd_conf", "reveal=True")
    assert masked.returncode == 0 and revealed.returncode == 0, masked.stderr[-2000:] + revealed.stderr[-2000:]
    assert SECRET not in masked.stdout + masked.stderr and 'Password "<hidden>"' in json.loads(masked.stdout)["local"]
    assert f'Password "{SECRET}"' in json.loads(revealed.stdout)["local"]


def test_metrics_are_sent_only_to_the_carbon_this_nodes_collectd_writes_to(salt_call):
    with socket.create_server(("127.0.0.1", CARBON_PORT)) as carbon:
        carbon.settimeout(60)
        proc = salt_call("monitoring.send_metrics", '{"api.selftest": 7}')
        assert proc.returncode == 0 and json.loads(proc.stdout)["local"] == 1, proc.stderr[-2000:]
        connection, _ = carbon.accept()
        with connection:
            assert connection.recv(4096).decode().startswith("api.selftest 7.0 ")
    elsewhere = salt_call("monitoring.send_metrics", '{"api.selftest": 7}', "host=192.0.2.1", f"port={free_port()}")
    assert elsewhere.returncode != 0 and "not valid" in elsewhere.stdout + elsewhere.stderr, elsewhere.stdout[-2000:]
    # Carbon down (the socket above is closed): an error saying so, not a traceback.
    down = salt_call("monitoring.send_metrics", '{"api.selftest": 7}')
    assert down.returncode != 0 and f"nothing sent to carbon at 127.0.0.1:{CARBON_PORT}" in down.stdout + down.stderr
    assert "Traceback" not in down.stdout + down.stderr


@pytest.mark.parametrize("kind, module, expected", [
    ("beacons", "metric_threshold", {"validate", "beacon"}),
    ("returners", "salt_run_metrics", {"returner"}),
    ("returners", "prometheus_textfile", {"returner"}),  # saltext-prometheus, as the minion config names it
])
def test_the_beacon_and_the_returner_publish_only_what_salts_loaders_call(salt_call, kind, module, expected):
    """As synced by saltutil.sync_all: the README's line under the Salt API table."""
    loader = getattr(salt.loader, kind)(salt.config.minion_config(salt_call.config), {})
    assert loader._load(f"{module}.{sorted(expected)[0]}")  # noqa: SLF001 - load this module only
    assert {name.split(".", 1)[1] for name in list(loader._dict) if name.split(".", 1)[0] == module} == expected  # noqa: SLF001
