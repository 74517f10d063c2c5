"""The database role's states and execution functions through Salt's loader. Nothing here needs
a database server: invalid pillars, an unreachable server and the option file (in a temp dir)."""

from __future__ import annotations

import os
import stat

import pytest
from salt.exceptions import CommandExecutionError


PASSWORD = "FuncDbPassw0rd"
VALID = {"database": {
    "server": {"port": 3399, "max_connections": 50, "options": {"sql_mode": "TRADITIONAL"}},
    "devstack": {"user": "devstack", "password": PASSWORD, "host": "127.0.0.1"},
}}


@pytest.mark.parametrize("database, key", [
    ({"server": {"options": {"no_such_option": 1}}}, "database:server:options:no_such_option"),
    ({"databases": {}, "users": {"app": {"password": "AppPassw0rd1", "grants": {"nodb": ["SELECT"]}}}},
     "database:users:app:grants:nodb"),
])
def test_an_invalid_pillar_fails_at_the_gate_and_nothing_runs(loaders, database, key):
    ret = loaders.modules.state.sls("database", pillar={"database": database})
    states = list(ret)
    gate = next(state for state in states if state.name == "database-pillar")
    assert gate.result is False and key in gate.comment
    assert all(state.result is False and not state.changes for state in states)
    assert len(states) == 7  # package, options, service, security, databases, users never ran


def test_an_unreachable_server_is_a_clear_error_naming_the_socket(loaders, tmp_path, monkeypatch):
    socket_path = str(tmp_path / "no-server.sock")
    monkeypatch.setitem(loaders.opts, "database_server.socket", socket_path)  # the minion's option
    with pytest.raises(CommandExecutionError) as info:
        loaders.modules.database_server.plan("secure")
    assert socket_path in str(info.value) and "database:server" in str(info.value)


MYSQL_LOADED_FIRST = """
import json, sys
import salt.config
from saltfactories.utils.functional import Loaders
from devstack_salt.errors import DatabaseDown

loaders = Loaders(salt.config.minion_config(sys.argv[1]))
loaders.opts["database_server.socket"] = sys.argv[2]
assert loaders.modules.sys.list_functions("mysql")  # Salt's mysql module re-imports pymysql's errors
try:
    loaders.modules.database_server.plan("secure")
except DatabaseDown as exc:
    print(json.dumps({"down": str(exc)}))
"""


def test_the_server_is_still_a_clear_error_once_salt_loaded_its_own_mysql_module(minion_opts, tmp_path):
    # In a fresh interpreter: Salt's mysql module turns pymysql into MySQLdb and re-imports its
    # error classes for the whole process, which would change them for every later test here.
    import json
    import subprocess
    import sys

    from project import PROJECT

    config = tmp_path / "minion"
    config.write_text(json.dumps({key: value for key, value in minion_opts.items()
                                  if isinstance(value, (str, int, float, bool, list, dict, type(None)))}, default=str))
    proc = subprocess.run([sys.executable, "-c", MYSQL_LOADED_FIRST, str(config), str(tmp_path / "no-server.sock")],
                          capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(PROJECT, "_utils"),
                                                                           os.path.join(PROJECT, "tests", "support")])})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "cannot reach the database server" in json.loads(proc.stdout.strip().splitlines()[-1])["down"]


@pytest.fixture
def config_sls(salt_root):
    """An SLS with only the option-file state, its target from pillar."""
    (salt_root / "states" / "database_config_under_test.sls").write_text(
        "database-config-under-test:\n"
        "  database_server.config:\n"
        "    - name: {{ pillar['under_test'] }}\n")
    return "database_config_under_test"


@pytest.mark.skipif(os.geteuid() != 0, reason="the option file is owned by root")
def test_the_option_file_state_writes_once_and_test_mode_predicts_it(loaders, tmp_path, config_sls):
    path = str(tmp_path / "99-salt.cnf")
    pillar = {**VALID, "under_test": path}
    (predicted,) = list(loaders.modules.state.sls(config_sls, pillar=pillar, test=True))
    assert predicted.result is None and not os.path.exists(path)
    (real,) = list(loaders.modules.state.sls(config_sls, pillar=pillar))
    assert real.result is True and real.changes == predicted.changes
    assert real.changes["mysqld:port"] == {"old": None, "new": "3399"}
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    (again,) = list(loaders.modules.state.sls(config_sls, pillar=pillar))
    assert again.result is True and again.changes == {}
    assert PASSWORD not in repr(real) and PASSWORD not in open(path).read()


def test_devstack_settings_hide_the_password_unless_revealed(tmp_path):
    """DevStack's view of the role (contract.devstack_database) as the face returns it: the
    password from its one place, hidden unless asked for."""
    import json

    import salt.config
    from saltfactories.utils.functional import Loaders

    from project import configure

    (tmp_path / "pillar").mkdir()
    (tmp_path / "pillar" / "top.sls").write_text("base:\n  '*':\n    - database\n")
    (tmp_path / "pillar" / "database.sls").write_text(json.dumps(VALID))
    config = configure.minion_config(str(tmp_path), "database-functional", pillar_roots=[str(tmp_path / "pillar")])
    config.pop("return", None)
    (tmp_path / "minion").write_text(json.dumps(config))
    loaders = Loaders(salt.config.minion_config(str(tmp_path / "minion")))
    assert loaders.modules.database_server.devstack_settings() == {
        "localrc": {"DATABASE_TYPE": "mysql", "DATABASE_HOST": "127.0.0.1", "MYSQL_HOST": "127.0.0.1",
                    "DATABASE_USER": "devstack", "DATABASE_PASSWORD": "<hidden>"},
        "services": {"mysql": False}}
    assert loaders.modules.database_server.devstack_settings(reveal=True)["localrc"]["DATABASE_PASSWORD"] == PASSWORD
