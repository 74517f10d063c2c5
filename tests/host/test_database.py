"""The database role against the real MariaDB server its states install on this host.

The module applies the role with an override pillar (a free port, options, a database, a user
with grants) on top of the default pillar, after planting what mysql_secure_installation removes
(an anonymous user, a remote root, a test database and its wildcard grant). At the end it drops
what it declared and applies the default pillar again, so the host is back where bin/setup left
it and other host tests see a clean second apply."""

from __future__ import annotations

import os

import pymysql
import pytest

from common import free_port, password
from database_helpers import CONFIG_FILE, SOCKET, DatabaseNode, changes, server_pid, sql, stop_server
from host_salt import main_job_restored, run_watching_argv
from salt_node import failed

TEST_DB = "salt_test_db"
TEST_USER = "salt_test_user"


def plant_insecurities() -> None:
    sql("CREATE USER IF NOT EXISTS ''@'localhost'")
    sql("CREATE USER IF NOT EXISTS ''@'%'")
    sql("CREATE USER IF NOT EXISTS 'root'@'192.0.2.99' IDENTIFIED BY PASSWORD '*0000000000000000000000000000000000000000'")
    sql("CREATE DATABASE IF NOT EXISTS test")
    sql("GRANT SELECT ON `test\\_%`.* TO ''@'%'")


def drop_test_objects() -> None:
    sql(f"DROP DATABASE IF EXISTS {TEST_DB}")
    for host in ("localhost", "127.0.0.1"):
        sql(f"DROP USER IF EXISTS '{TEST_USER}'@'{host}'")


@pytest.fixture(scope="module")
def salt(tmp_path_factory):
    """A Salt of our own on the default database pillar (only the database role: other roles'
    states do not concern these tests); at the end the host is back to the default."""
    with main_job_restored():
        salt = DatabaseNode(tmp_path_factory.mktemp("database-salt"))
        try:
            yield salt
        finally:
            salt.set_override({})
            if not server_pid():
                salt.apply("database")
            drop_test_objects()


@pytest.fixture(scope="module")
def server(salt):
    """The role applied with a free port and declared objects, over a server with insecurities."""
    settings = {
        "port": free_port(),
        "user_password": password(),
        "devstack": salt.call("pillar.get", "database:devstack", "unmask=True"),
    }
    settings["override"] = {"database": {
        "server": {"port": settings["port"], "max_connections": 77,
                   "options": {"innodb_buffer_pool_size": "64M", "skip_name_resolve": True}},
        "databases": {TEST_DB: {"character_set": "utf8mb4", "collation": "utf8mb4_unicode_ci"}},
        "users": {TEST_USER: {"password": settings["user_password"], "hosts": ["localhost", "127.0.0.1"],
                              "grants": {TEST_DB: ["SELECT", "INSERT"]}}},
    }}
    plant_insecurities()
    salt.set_override(settings["override"])
    settings["first"] = salt.apply("database")
    assert not failed(settings["first"]), failed(settings["first"])
    return settings


def tcp_login(server, user: str, secret: str | None, **kwargs):
    return pymysql.connect(host="127.0.0.1", port=server["port"], user=user, password=secret or "",
                           connect_timeout=5, autocommit=True, **kwargs)


def test_the_first_apply_secured_the_server_and_created_what_the_pillar_declares(server):
    done = changes(server["first"])
    assert set(done["database-secured"]) == {"anonymous@%", "anonymous@localhost", "root@192.0.2.99",
                                             "database:test", "grants:test"}
    assert f"database:{TEST_DB}" in done["database-databases"]
    assert f"user:{TEST_USER}@localhost" in done["database-users"]


def test_the_server_is_running(host, server):
    pid = server_pid()
    assert pid and host.process.get(pid=pid).comm == "mariadbd"


def test_the_server_listens_on_the_configured_address_and_port(host, server):
    assert host.socket(f"tcp://127.0.0.1:{server['port']}").is_listening
    assert not host.socket("tcp://0.0.0.0:%d" % server["port"]).is_listening


def test_the_server_runs_with_the_pillar_options(server):
    variables = dict(sql("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('port', 'max_connections', "
                         "'character_set_server', 'innodb_buffer_pool_size', 'skip_name_resolve', 'sql_mode')"))
    assert variables["port"] == str(server["port"])
    assert variables["max_connections"] == "77"
    assert variables["character_set_server"] == "utf8mb4"
    assert variables["innodb_buffer_pool_size"] == str(64 * 1024 * 1024)
    assert variables["skip_name_resolve"] == "ON"
    assert "STRICT_ALL_TABLES" in variables["sql_mode"]  # TRADITIONAL, from the default pillar


def test_the_option_file_is_root_owned_0644(host, server):
    config = host.file(CONFIG_FILE)
    assert config.user == "root" and config.mode == 0o644
    assert f"port = {server['port']}\n" in config.content_string


def test_root_logs_in_through_the_socket_only(server):
    assert sql("SHOW CREATE USER 'root'@'localhost'")[0][0].endswith("unix_socket")
    with pytest.raises(pymysql.err.OperationalError):
        tcp_login(server, "root", None)
    assert sql("SELECT Host FROM mysql.user WHERE User = 'root'") == [("localhost",)]


def test_no_anonymous_user_and_no_test_database(server):
    assert sql("SELECT Host FROM mysql.user WHERE User = ''") == []
    assert sql("SHOW DATABASES LIKE 'test'") == []
    assert sql("SELECT Db FROM mysql.db WHERE Db LIKE 'test%'") == []


def test_an_anonymous_login_is_refused(server):
    with pytest.raises(pymysql.err.OperationalError) as refused:
        tcp_login(server, "", None)
    # Access denied: 1045, or 1698 (denied, no password given) once a unix_socket account such as
    # the mysqld exporter's exists; MariaDB answers an unknown user like one of its real accounts.
    assert refused.value.args[0] in (1045, 1698)


def test_the_declared_database_has_its_character_set(server):
    assert sql("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
               "WHERE SCHEMA_NAME = %s", (TEST_DB,)) == [("utf8mb4", "utf8mb4_unicode_ci")]


def test_the_declared_user_has_exactly_its_grants(server):
    with tcp_login(server, TEST_USER, server["user_password"], database=TEST_DB) as conn, conn.cursor() as cur:
        cur.execute("SHOW GRANTS")
        grants = sorted(row[0] for row in cur.fetchall())
    assert grants[0] == f"GRANT SELECT, INSERT ON `salt\\_test\\_db`.* TO `{TEST_USER}`@`127.0.0.1`"
    assert grants[1].startswith(f"GRANT USAGE ON *.* TO `{TEST_USER}`@`127.0.0.1`")


def test_the_devstack_user_creates_grants_on_and_drops_a_database(server):
    devstack = server["devstack"]
    with tcp_login(server, devstack["user"], devstack["password"]) as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE salt_test_devstack")
        cur.execute("CREATE USER salt_test_service@'127.0.0.1' IDENTIFIED BY PASSWORD "
                    "'*0000000000000000000000000000000000000000'")
        cur.execute("GRANT ALL PRIVILEGES ON salt_test_devstack.* TO salt_test_service@'127.0.0.1'")
        cur.execute("DROP USER salt_test_service@'127.0.0.1'")
        cur.execute("DROP DATABASE salt_test_devstack")


def test_the_devstack_user_exists_for_the_devstack_nodes_only(server):
    hosts = sql("SELECT Host FROM mysql.user WHERE User = %s ORDER BY Host", (server["devstack"]["user"],))
    assert hosts == [("127.0.0.1",), ("localhost",)]


def test_a_wrong_password_is_refused(server):
    with pytest.raises(pymysql.err.OperationalError) as refused:
        tcp_login(server, server["devstack"]["user"], server["devstack"]["password"] + "x")
    assert refused.value.args[0] == 1045


def test_a_second_apply_reports_zero_changes(salt, server):
    result = salt.apply("database")
    assert not failed(result)
    assert {key: value["changes"] for key, value in result.items() if value["changes"]} == {}


def test_test_mode_predicts_the_real_changes_exactly(salt, server):
    """Drift in every part: an option edited by hand, an anonymous user, a database's collation,
    a user's password and grants, a host the pillar does not declare."""
    with open(CONFIG_FILE) as handle:
        original = handle.read()
    with open(CONFIG_FILE, "w") as handle:
        handle.write(original.replace("max-connections = 77", "max-connections = 78"))
    sql("CREATE USER ''@'localhost'")
    sql(f"ALTER DATABASE {TEST_DB} COLLATE utf8mb4_general_ci")
    sql(f"ALTER USER {TEST_USER}@'localhost' IDENTIFIED BY PASSWORD '*0000000000000000000000000000000000000000'")
    sql(f"REVOKE INSERT ON `salt\\_test\\_db`.* FROM {TEST_USER}@'127.0.0.1'")
    sql(f"CREATE USER {TEST_USER}@'192.0.2.7' IDENTIFIED BY PASSWORD '*0000000000000000000000000000000000000000'")
    pid = server_pid()

    predicted = salt.apply("database", "test=True")
    assert server_pid() == pid  # test mode restarted nothing
    assert sql("SELECT Host FROM mysql.user WHERE User = ''") == [("localhost",)]  # and changed nothing
    service = next(v for k, v in predicted.items() if k.startswith("service_|-database-server-service_|-"))
    assert service["result"] is None and "restarted" in service["comment"]

    real = salt.apply("database")
    assert not failed(real), failed(real)
    assert changes(predicted) == changes(real)
    assert set(changes(real)) == {"database-server-config", "database-secured", "database-databases",
                                  "database-users"}
    assert changes(real)["database-server-config"] == {"mysqld:max-connections": {"old": "78", "new": "77"}}
    assert set(changes(real)["database-users"]) == {
        f"password:{TEST_USER}@localhost", f"grants:{TEST_USER}@127.0.0.1:`salt\\_test\\_db`.*",
        f"user:{TEST_USER}@192.0.2.7"}
    assert server_pid() != pid  # the option change restarted the server
    assert dict(sql("SHOW GLOBAL VARIABLES LIKE 'max_connections'"))["max_connections"] == "77"


def test_secrets_stay_out_of_output_logs_and_process_arguments(salt, server, tmp_path):
    """Recreate both users (passwords set again) with debug logging; neither password nor its
    hash may show in stdout, stderr, the log or any process's command line during the run."""
    from database_helpers import sql as run_sql

    devstack = server["devstack"]
    run_sql(f"DROP USER {TEST_USER}@'localhost'")
    run_sql(f"DROP USER '{devstack['user']}'@'127.0.0.1'")
    log_file = tmp_path / "minion.log"
    returncode, stdout, stderr, argv = run_watching_argv(
        salt.command("--log-level=debug", f"--log-file={log_file}", "--log-file-level=debug", "state.apply", "database"),
        tmp_path)
    assert returncode == 0, stderr[-2000:]
    assert f"user:{TEST_USER}@localhost" in stdout and f"user:{devstack['user']}@127.0.0.1" in stdout
    hashes = [run_sql("SELECT PASSWORD(%s)", (secret,))[0][0] for secret in (devstack["password"], server["user_password"])]
    haystacks = {"stdout": stdout, "stderr": stderr, "log": log_file.read_text(), "argv": argv}
    for where, text in haystacks.items():
        for secret in [devstack["password"], server["user_password"], *hashes]:
            assert secret not in text, f"a password or its hash appears in {where}"


@pytest.mark.parametrize("override, key", [
    ({"server": {"options": {"no_such_option": 1}}}, "database:server:options:no_such_option"),
    ({"users": {"salt_test_other": {"password": "Abcdefgh1234", "grants": {"missing_db": ["SELECT"]}}}},
     "database:users:salt_test_other:grants:missing_db"),
    ({"server": {"no_such_key": 1}}, "database:server:no_such_key"),
])
def test_an_invalid_pillar_is_named_and_changes_nothing(salt, server, override, key):
    with open(CONFIG_FILE) as handle:
        config = handle.read()
    pid = server_pid()
    users = sql("SELECT User, Host FROM mysql.user ORDER BY User, Host")
    salt.set_override(_merge(server["override"], override))
    try:
        result = salt.apply("database")
    finally:
        salt.set_override(server["override"])
    gate = next(v for k, v in result.items() if k.startswith("database_server_|-database-pillar"))
    assert gate["result"] is False and key in gate["comment"]
    assert all(value["changes"] == {} for value in result.values())
    assert all(value["result"] is False for value in result.values())
    with open(CONFIG_FILE) as handle:
        assert handle.read() == config
    assert server_pid() == pid
    assert sql("SELECT User, Host FROM mysql.user ORDER BY User, Host") == users


def _merge(base: dict, extra: dict) -> dict:
    merged = {"database": dict(base["database"])}
    for key, value in extra.items():
        merged["database"][key] = {**merged["database"].get(key, {}), **value}
    return merged


def test_a_stopped_server_fails_clearly_then_converges_when_started(host, salt, server):
    stop_server()
    try:
        assert not os.path.exists(SOCKET) or not host.socket(f"tcp://127.0.0.1:{server['port']}").is_listening
        result = salt.apply("database.accounts")
        assert all(value["changes"] == {} for value in result.values())
        secured = next(v for k, v in result.items() if k.startswith("database_server_|-database-secured"))
        assert secured["result"] is False
        assert "cannot reach the database server" in secured["comment"] and SOCKET in secured["comment"]
        assert not server_pid()  # the accounts part never starts the server
    finally:
        started = salt.apply("database")  # starts it (service.running), then converges
    assert not failed(started), failed(started)
    assert server_pid()
    again = salt.apply("database")
    assert {key: value["changes"] for key, value in again.items() if value["changes"]} == {}


def test_a_devstack_node_using_this_database_logs_in_with_its_local_conf_settings(salt, server):
    """local.conf rendered for a node with devstack:database: true carries DATABASE_* from the
    database pillar, and those credentials work against the real server."""
    import json

    node = {"disable_all_services": True, "services": {"mysql": False}, "database": True}
    text = salt.call("devstack.render", f"config={json.dumps(node)}", "reveal=True")
    localrc = dict(line.split("=", 1) for line in text.splitlines() if line.startswith("DATABASE_"))
    assert localrc["DATABASE_TYPE"] == "mysql" and "disable_service mysql" in text
    assert localrc["DATABASE_USER"] == server["devstack"]["user"]
    assert localrc["DATABASE_PASSWORD"] == server["devstack"]["password"]  # alphanumeric: unquoted
    conn = pymysql.connect(host=localrc["DATABASE_HOST"], port=server["port"], user=localrc["DATABASE_USER"],
                           password=localrc["DATABASE_PASSWORD"], connect_timeout=5)
    conn.close()


def test_root_with_a_password_as_declared_then_back_to_the_socket(salt, server):
    """database:root:auth: password sets root's password (as a hash), idempotently; going back to
    unix_socket works with the password as the way in."""
    root_password = password()
    salt.set_override(_merge(server["override"], {"root": {"auth": "password", "password": root_password}}))
    try:
        first = salt.apply("database.accounts")
        assert not failed(first), failed(first)
        assert changes(first)["database-secured"] == {
            "root@localhost:auth": {"old": "unix_socket", "new": "password <hidden>"}}
        pymysql.connect(unix_socket=SOCKET, user="root", password=root_password).close()
        with pytest.raises(pymysql.err.OperationalError):
            pymysql.connect(unix_socket=SOCKET, user="root", password=root_password + "x").close()
        again = salt.apply("database.accounts")
        assert {key: value["changes"] for key, value in again.items() if value["changes"]} == {}
    finally:
        # Back to the socket: the role logs in with the password it is taking away.
        salt.set_override(_merge(server["override"], {"root": {"auth": "unix_socket", "password": root_password}}))
        back = salt.apply("database.accounts")
        salt.set_override(server["override"])
        if failed(back):  # never leave root locked out of the socket
            with pymysql.connect(unix_socket=SOCKET, user="root", password=root_password, autocommit=True) as conn:
                conn.cursor().execute("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket")
    assert not failed(back), failed(back)
    assert changes(back)["database-secured"] == {"root@localhost:auth": {"old": "password", "new": "unix_socket"}}
    assert sql("SHOW CREATE USER 'root'@'localhost'")[0][0].endswith("IDENTIFIED VIA unix_socket")
