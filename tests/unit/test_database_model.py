"""The database role's model in plain Python: pillar validation, option files, grants, plans."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st
from salt.exceptions import CommandExecutionError

from devstack_salt import contract, mariadb_model, mariadb_options, mariadb_plan, mariadb_server

PASSWORD = "DevStackPassw0rd"
PILLAR = {
    "server": {"bind_address": "127.0.0.1", "port": 3306, "max_connections": 100,
               "options": {"sql_mode": "TRADITIONAL", "skip_name_resolve": True}},
    "databases": {"app_db": {"character_set": "utf8mb4"}},
    "users": {"app": {"password": "AppPassw0rd99", "hosts": ["localhost"], "grants": {"app_db": ["select", "Insert"]}}},
    "devstack": {"user": "devstack", "password": PASSWORD, "host": "192.0.2.20", "nodes": ["192.0.2.10"]},
}
KNOWN = frozenset({"sql-mode", "name-resolve", "max-connections", "port", "bind-address", "innodb-buffer-pool-size"})


def errors_of(pillar, known=None) -> str:
    with pytest.raises(CommandExecutionError) as info:
        mariadb_model.build(pillar, known_options=known)
    return str(info.value)


def test_a_valid_pillar_becomes_the_model():
    model = mariadb_model.build(PILLAR, known_options=KNOWN)
    assert model["server"]["options"] == {"bind-address": "127.0.0.1", "port": "3306", "max-connections": "100",
                                          "sql-mode": "TRADITIONAL", "skip-name-resolve": "ON"}
    assert model["users"]["app"]["grants"] == {"app_db": frozenset({"SELECT", "INSERT"})}
    assert model["users"]["devstack"] == {"password": PASSWORD, "hosts": ["192.0.2.10"],
                                          "grants": {"*": frozenset({"ALL PRIVILEGES", "GRANT OPTION"})}}
    assert model["root"] == {"auth": "unix_socket", "password": None}


@pytest.mark.parametrize("pillar, key", [
    ({"server": {"options": {"no_such_option": 1}}}, "database:server:options:no_such_option"),
    ({"server": {"colour": "blue"}}, "database:server:colour"),
    ({"server": {"port": 70000}}, "database:server:port"),
    ({"server": {"options": {"port": 3307}}}, "database:server:options:port"),
    ({"server": {"options": {"sql_mode": "A#B"}}}, "database:server:options:sql_mode"),
    ({"users": {"app": {"password": "AppPassw0rd99", "grants": {"missing": ["SELECT"]}}}},
     "database:users:app:grants:missing"),
    ({"users": {"app": {"password": "AppPassw0rd99", "grants": {"*": ["FLY"]}}}}, "database:users:app:grants:*"),
    ({"users": {"app": {"grants": {}}}}, "database:users:app:password"),
    ({"root": {"auth": "password"}}, "database:root:password"),
    ({"root": {"auth": "pam"}}, "database:root:auth"),
    ({"devstack": {"user": "devstack"}}, "database:devstack:password"),
    ({"databases": {"test": {}}}, "database:databases:test"),
    ({"tables": {}}, "database:tables"),
])
def test_each_error_names_its_pillar_key(pillar, key):
    assert key in errors_of(pillar, KNOWN)


def test_every_error_is_reported_at_once_and_no_password_is_shown():
    text = errors_of({"server": {"bogus": 1}, "users": {"app": {"password": "short!", "hosts": "x y"}}})
    assert "database:server:bogus" in text and "database:users:app:password" in text
    assert "database:users:app:hosts" in text and "short!" not in text


def test_options_are_checked_against_the_server_only_when_it_is_known():
    mariadb_model.build({"server": {"options": {"made_up": 1}}}, known_options=None)  # not installed yet: later
    assert mariadb_model.is_known_option("skip-name-resolve", frozenset({"name-resolve"}))
    assert mariadb_model.is_known_option("loose-innodb-x", frozenset({"innodb-x"}))


def test_the_option_file_round_trips_and_a_hand_edit_is_a_named_change(tmp_path):
    options = mariadb_model.build(PILLAR, known_options=KNOWN)["server"]["options"]
    text = mariadb_options.render_options(options)
    assert mariadb_options.parse_options(text) == options
    path = tmp_path / "99-salt.cnf"
    assert mariadb_options.plan_options(str(path), options)[0]["mysqld:port"] == {"old": None, "new": "3306"}
    path.write_text(text.replace("port = 3306", "port = 3307"))
    path.chmod(0o644)
    changes, data = mariadb_options.plan_options(str(path), options)
    if os.geteuid() == 0:
        assert changes == {"mysqld:port": {"old": "3307", "new": "3306"}}
    assert data == text.encode()


def test_the_password_hash_is_mariadbs_native_one():
    expected = "*" + hashlib.sha1(hashlib.sha1(b"secret").digest()).hexdigest().upper()
    assert mariadb_plan.password_hash("secret") == expected == "*14E65567ABDB5135D0CFD9A70B3032C179A49EE7"


def test_show_grants_are_read_by_target_as_written():
    lines = [
        "GRANT ALL PRIVILEGES ON *.* TO `devstack`@`%` IDENTIFIED BY PASSWORD '*14E65567ABDB5135D0CFD9A70B3032C179A49EE7' WITH GRANT OPTION",
        "GRANT SELECT, INSERT ON `app\\_db`.* TO `app`@`localhost`",
        "GRANT SELECT ON `app_db`.* TO `app`@`localhost`",
        "GRANT SELECT ON `app\\_db`.`t` TO `app`@`localhost`",
        "GRANT USAGE ON *.* TO `app`@`localhost`",
    ]
    assert mariadb_plan.parse_grants(lines) == {"*.*": frozenset({"ALL PRIVILEGES", "GRANT OPTION"}),
                                      "`app\\_db`.*": frozenset({"SELECT", "INSERT"}),
                                      "`app_db`.*": frozenset({"SELECT"})}


def test_root_authentication_is_read_from_show_create_user():
    debian = "CREATE USER `root`@`localhost` IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket"
    assert mariadb_plan.root_auth_of(debian) == "unix_socket"
    assert mariadb_plan.root_auth_of("CREATE USER `root`@`localhost` IDENTIFIED VIA unix_socket") == "unix_socket"
    hashed = f"CREATE USER `root`@`localhost` IDENTIFIED BY PASSWORD '{mariadb_plan.password_hash('x')}'"
    assert mariadb_plan.root_auth_of(hashed) == "password"
    assert mariadb_plan.root_hash_of(hashed) == mariadb_plan.password_hash("x")
    assert mariadb_plan.root_auth_of("CREATE USER `root`@`localhost`") == "none"


def server_state(**overrides):
    state = {"root": "CREATE USER `root`@`localhost` IDENTIFIED VIA unix_socket", "anonymous": [],
             "remote_root": [], "databases": {}, "test_grants": [], "users": {}}
    state.update(overrides)
    return state


def test_securing_plans_each_removal_and_nothing_on_a_secure_server():
    model = mariadb_model.build({})
    assert mariadb_plan.plan_secure(model, server_state()) == ({}, [])
    changes, sql = mariadb_plan.plan_secure(model, server_state(anonymous=["%"], remote_root=["192.0.2.9"],
                                                      databases={"test": ("latin1", "latin1_swedish_ci")},
                                                      test_grants=["test\\_%"]))
    assert set(changes) == {"anonymous@%", "root@192.0.2.9", "database:test", "grants:test"}
    assert ("DROP USER ''@%s", ("%",)) in sql


def test_a_root_password_is_set_as_a_hash_and_shown_hidden():
    model = mariadb_model.build({"root": {"auth": "password", "password": "RootPassw0rd"}})
    changes, sql = mariadb_plan.plan_secure(model, server_state())
    assert changes == {"root@localhost:auth": {"old": "unix_socket", "new": "password <hidden>"}}
    assert sql == [("ALTER USER 'root'@'localhost' IDENTIFIED BY PASSWORD %s",
                    (mariadb_plan.password_hash("RootPassw0rd"),))]
    hashed = f"CREATE USER `root`@`localhost` IDENTIFIED BY PASSWORD '{mariadb_plan.password_hash('RootPassw0rd')}'"
    assert mariadb_plan.plan_secure(model, server_state(root=hashed)) == ({}, [])


def test_users_converge_to_their_hosts_password_and_grants():
    model = mariadb_model.build(PILLAR, known_options=KNOWN)
    ok_hash = mariadb_plan.password_hash("AppPassw0rd99")
    state = server_state(users={
        ("app", "localhost"): {"plugin": "mysql_native_password", "hash": ok_hash,
                               "grants": {"`app\\_db`.*": frozenset({"SELECT"}), "`other`.*": frozenset({"SELECT"})}},
        ("app", "%"): {"plugin": "mysql_native_password", "hash": ok_hash, "grants": {}},
        ("devstack", "192.0.2.10"): {"plugin": "mysql_native_password", "hash": "*00",
                                     "grants": {"*.*": frozenset({"ALL PRIVILEGES", "GRANT OPTION"})}},
    })
    changes, sql = mariadb_plan.plan_users(model, state)
    assert changes == {
        "user:app@%": {"old": "present", "new": "absent (host not declared)"},
        "grants:app@localhost:`app\\_db`.*": {"old": ["SELECT"], "new": ["INSERT", "SELECT"]},
        "grants:app@localhost:`other`.*": {"old": ["SELECT"], "new": []},
        "password:devstack@192.0.2.10": {"old": "<hidden>", "new": "<hidden> (changed)"},
    }
    assert PASSWORD not in repr(changes) and PASSWORD not in repr(sql)
    assert ("GRANT INSERT ON `app\\_db`.* TO %s@%s", ("app", "localhost")) in sql
    assert ("REVOKE SELECT ON `other`.* FROM %s@%s", ("app", "localhost")) in sql


def test_a_unix_socket_account_has_no_password_and_converges_to_the_socket():
    """An exporter running as the system user ``prometheus`` logs in as the account of that name
    with no password anywhere (the server asks the kernel who is on its socket)."""
    pillar = {"users": {"prometheus": {"auth": "unix_socket", "grants": {"*": ["PROCESS", "REPLICA MONITOR"]}}}}
    model = mariadb_model.build(pillar)
    assert model["users"]["prometheus"] == {"auth": "unix_socket", "password": None, "hosts": ["localhost"],
                                            "grants": {"*": frozenset({"PROCESS", "SLAVE MONITOR"})}}
    changes, sql = mariadb_plan.plan_users(model, server_state())
    assert changes["user:prometheus@localhost"] == {"old": None, "new": "present, unix_socket"}
    assert sql[0] == ("CREATE USER %s@%s IDENTIFIED VIA unix_socket", ("prometheus", "localhost"))
    grants = {"*.*": frozenset({"PROCESS", "SLAVE MONITOR"})}  # as SHOW GRANTS names them
    had_password = server_state(users={("prometheus", "localhost"): {
        "plugin": "mysql_native_password", "hash": mariadb_plan.password_hash("OldPassw0rd99"), "grants": grants}})
    assert mariadb_plan.plan_users(model, had_password) == (
        {"auth:prometheus@localhost": {"old": "mysql_native_password", "new": "unix_socket"}},
        [("ALTER USER %s@%s IDENTIFIED VIA unix_socket", ("prometheus", "localhost"))])
    converged = server_state(users={("prometheus", "localhost"): {"plugin": "unix_socket", "hash": "", "grants": grants}})
    assert mariadb_plan.plan_users(model, converged) == ({}, [])


@pytest.mark.parametrize("spec, says", [
    ({"auth": "unix_socket", "password": "AppPassw0rd99"}, "database:users:prometheus:password: a unix_socket account has none"),
    ({"auth": "unix_socket", "hosts": ["%"]}, "database:users:prometheus:hosts: a unix_socket account exists for localhost only"),
    ({"auth": "pam"}, "database:users:prometheus:auth: 'pam'"),
])
def test_a_wrong_unix_socket_account_names_the_key(spec, says):
    text = errors_of({"users": {"prometheus": spec}})
    assert says in text and "AppPassw0rd99" not in text


def test_grant_statements_handle_all_privileges_and_the_grant_option():
    all_go = frozenset({"ALL PRIVILEGES", "GRANT OPTION"})
    assert mariadb_plan.grant_statements(frozenset(), all_go, "*.*") == [
        "GRANT ALL PRIVILEGES ON *.* TO %s@%s WITH GRANT OPTION"]
    assert mariadb_plan.grant_statements(all_go, frozenset({"SELECT"}), "`a`.*") == [
        "REVOKE ALL PRIVILEGES ON `a`.* FROM %s@%s", "REVOKE GRANT OPTION ON `a`.* FROM %s@%s",
        "GRANT SELECT ON `a`.* TO %s@%s"]
    assert mariadb_plan.grant_statements(frozenset({"SELECT"}), frozenset({"SELECT", "GRANT OPTION"}), "`a`.*") == [
        "GRANT USAGE ON `a`.* TO %s@%s WITH GRANT OPTION"]


def test_databases_are_created_or_altered_to_their_character_set():
    model = mariadb_model.build(PILLAR, known_options=KNOWN)
    assert mariadb_plan.plan_databases(model, server_state())[1] == [
        ("CREATE DATABASE `app_db` CHARACTER SET utf8mb4", ())]
    same = server_state(databases={"app_db": ("utf8mb4", "utf8mb4_general_ci")})
    assert mariadb_plan.plan_databases(model, same) == ({}, [])
    other = server_state(databases={"app_db": ("latin1", "latin1_swedish_ci")})
    assert mariadb_plan.plan_databases(model, other)[0] == {"database:app_db": {"old": {"character_set": "latin1"},
                                                                      "new": {"character_set": "utf8mb4"}}}


def test_devstack_settings_come_from_the_database_pillar():
    assert contract.devstack_database(PILLAR) == {
        "DATABASE_TYPE": "mysql", "DATABASE_HOST": "192.0.2.20", "MYSQL_HOST": "192.0.2.20", "DATABASE_USER": "devstack",
        "DATABASE_PASSWORD": PASSWORD}
    # Where stack.sh creates the databases is the same host (DevStack's own default is 127.0.0.1).
    assert {key: value for key, value in contract.devstack_database(PILLAR, "192.0.2.99").items()
            if key.endswith("_HOST")} == {"DATABASE_HOST": "192.0.2.99", "MYSQL_HOST": "192.0.2.99"}
    # The mysql client takes an IPv6 address without the brackets SQLAlchemy's URL needs.
    assert contract.devstack_database(PILLAR, "[2001:db8::20]")["MYSQL_HOST"] == "2001:db8::20"


def test_server_errors_never_quote_the_statement():
    exc = Exception(1064, "You have an error in your SQL syntax; near 'IDENTIFIED BY PASSWORD '*14E6...' at line 1")
    assert mariadb_server.server_error(exc) == "error 1064: You have an error in your SQL syntax;"


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
                       st.one_of(st.integers(0, 10**9), st.booleans(),
                                 st.from_regex(r"[A-Za-z0-9_.,/-]([A-Za-z0-9_.,/ -]{0,20}[A-Za-z0-9_.,/-])?",
                                               fullmatch=True)),
                       max_size=8))
def test_any_valid_options_round_trip_through_the_option_file(options):
    options = {k: v for k, v in options.items()
               if mariadb_model.option_name(k) not in mariadb_model.SERVER_KEYS.values()
               and mariadb_model.option_name(k) not in ("bind-address", "port")}
    names = [mariadb_model.option_name(k) for k in options]
    if len(set(names)) != len(names):
        return
    model = mariadb_model.build({"server": {"options": options}})
    rendered = mariadb_options.render_options(model["server"]["options"])
    assert mariadb_options.parse_options(rendered) == model["server"]["options"]
