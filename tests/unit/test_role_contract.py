"""The contract between roles: what a DevStack node gets from the database and broker roles is
what those roles themselves validate and converge to (devstack_salt.contract), for any pillar."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from devstack_salt import collectd, contract, localconf, mariadb_model, rabbitmq_model, roles
from devstack_salt.errors import LocalConfError, PillarError

FULL = {"configure": ".*", "write": ".*", "read": ".*"}
ABSENT = object()


def one_of(good, bad):
    """Mostly a value the role accepts (or the key left out), sometimes one it rejects."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad)) \
        if bad else st.sampled_from(good)


def pick(**choices):
    """A mapping strategy: key -> (accepted values, rejected values); ABSENT leaves the key out."""
    return st.fixed_dictionaries({key: one_of(*values) for key, values in choices.items()}).map(
        lambda drawn: {key: value for key, value in drawn.items() if value is not ABSENT})


database_pillars = st.builds(
    lambda server, account, clash: {"server": server, "devstack": account,
                                    **({"users": {account.get("user", "devstack"): {"password": "Other0ne1"}}}
                                       if clash else {})},
    pick(bind_address=([ABSENT, "127.0.0.1", "0.0.0.0", "192.0.2.10", "::"], []), port=([ABSENT, 3306, 3307], [])),
    pick(user=([ABSENT, "devstack", "nova_admin"], ["root", "bad name"]),
         password=(["Passw0rd123"], [ABSENT, "short", "has space 123"]),
         host=([ABSENT, "192.0.2.20"], ["10.0.0.%"]), nodes=([ABSENT, ["10.0.0.%"]], [[]])),
    st.sampled_from([False, False, False, True]),
)

broker_pillars = st.builds(
    lambda top, password, permissions: {**top, "users": {"ds": {"password": password, **permissions}}},
    pick(address=([ABSENT, "127.0.0.1", "192.0.2.21"], ["0.0.0.0"]), port=([ABSENT, 5672], [5999]),
         devstack_user=(["ds"], [ABSENT, "ghost"])),
    one_of(["Alnum123"], ["not alnum!", ""]),
    one_of([{"permissions": {"/": FULL}}], [{}, {"permissions": {"/": {**FULL, "write": ""}}}]),
)

node_hosts = st.sampled_from([None, "192.0.2.30"])


def role_view(view, pillar, host):
    try:
        return view(pillar, host), []
    except PillarError as exc:
        return None, exc.errors


def devstack_node(role, pillar, host):
    """The localrc and services of a Keystone node that uses ``role`` (or the errors)."""
    use = True if host is None else {"host": host}
    node = {"disable_all_services": True, "services": {"keystone": True},
            "localrc": {"ADMIN_PASSWORD": "Admin1", "SERVICE_PASSWORD": "Service1",
                        "DATABASE_PASSWORD": "Db1", "RABBIT_PASSWORD": "Mq1"}, role: use}
    for name in contract.DEVSTACK_VARIABLES[role]:
        node["localrc"].pop(name, None)
    try:
        model = localconf.build(node, lookup={role: pillar}.get)
    except LocalConfError as exc:
        return None, exc.errors
    return model, []


def check_devstack_sees_what_the_role_says(role, pillar, host):
    view, role_errors = role_view(contract.DEVSTACK_VIEWS[role], pillar, host)
    model, node_errors = devstack_node(role, pillar, host)
    if view is None:
        # The role rejects its pillar: so does the DevStack node, with the role's own words.
        assert model is None
        for error in role_errors:
            assert f"devstack:{role} uses the {role} role: {error}" in node_errors
        return None
    assert node_errors == []
    assert {name: model["localrc"][name] for name in contract.DEVSTACK_VARIABLES[role]} == view
    assert model["services"][contract.DEVSTACK_SERVICES[role]] is False
    return view


def database_account_as_converged(pillar, view, host):
    model = mariadb_model.build(pillar)  # what database_server converges the server to
    account = model["users"][view["DATABASE_USER"]]
    assert account["password"] == view["DATABASE_PASSWORD"]
    assert account["grants"] == {"*": mariadb_model.DEVSTACK_GRANTS}
    assert view["DATABASE_HOST"] == (host or model["devstack"]["host"]) and view["DATABASE_HOST"] not in roles.WILDCARDS
    assert view["MYSQL_HOST"] == view["DATABASE_HOST"].strip("[]")  # where stack.sh creates the databases


def broker_account_as_converged(pillar, view, host):
    model = rabbitmq_model.normalize(pillar)  # what message_broker converges the broker to
    account = model["users"][view["RABBIT_USERID"]]
    assert account["password"] == view["RABBIT_PASSWORD"] and account["permissions"]["/"] == FULL
    assert model["port"] == contract.DEVSTACK_RABBIT_PORT
    assert view["RABBIT_HOST"] == (host or model["address"]) and view["RABBIT_HOST"] not in roles.WILDCARDS


@settings(max_examples=600, deadline=None)
@given(st.one_of(st.tuples(st.just("database"), database_pillars, node_hosts),
                 st.tuples(st.just("broker"), broker_pillars, node_hosts)))
def test_devstack_gets_the_account_the_role_itself_creates(case):
    role, pillar, host = case
    view = check_devstack_sees_what_the_role_says(role, pillar, host)
    if view is not None:
        {"database": database_account_as_converged, "broker": broker_account_as_converged}[role](pillar, view, host)


def test_a_broker_port_devstack_cannot_reach_is_an_error_on_the_devstack_node_too():
    broker = {"port": 5999, "devstack_user": "ds", "users": {"ds": {"password": "Alnum123", "permissions": {"/": FULL}}}}
    model, errors = devstack_node("broker", broker, None)
    assert model is None
    assert ("devstack:broker uses the broker role: broker:port is 5999, but DevStack's lib/rpc_backend always "
            "connects to port 5672") in errors


def test_a_database_account_without_user_or_host_gets_the_role_defaults_on_the_devstack_node():
    database = {"server": {"bind_address": "192.0.2.10"}, "devstack": {"password": "Passw0rd123"}}
    model, errors = devstack_node("database", database, None)
    assert errors == []
    assert {name: model["localrc"][name] for name in ("DATABASE_HOST", "DATABASE_USER")} == {
        "DATABASE_HOST": "192.0.2.10", "DATABASE_USER": "devstack"}
    assert mariadb_model.build(database)["users"]["devstack"]["password"] == model["localrc"]["DATABASE_PASSWORD"]


def with_monitoring_account(role, pillar):
    """The role's pillar with the account collectd reads as (declared where the role says)."""
    account = ({"password": "Mon1torPw9", "hosts": ["localhost"]} if role == "database"
               else {"password": "Mon1torPw9", "tags": ["monitoring"]})
    extra = {"plugins": ["rabbitmq_management"]} if role == "broker" else {}
    return {**pillar, **extra, "users": {**pillar.get("users", {}), "mon": account}}


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.tuples(st.just("database"), database_pillars), st.tuples(st.just("broker"), broker_pillars)))
def test_the_monitoring_agent_reads_as_the_account_the_role_itself_creates(case):
    role, pillar = case
    pillar = with_monitoring_account(role, pillar)
    try:
        model, role_errors = contract.role_model(role, pillar), []
    except PillarError as exc:
        model, role_errors = None, exc.errors
    try:
        plugins = collectd.role_plugins({role: {"user": "mon"}}, [role], *(
            (pillar, None) if role == "database" else (None, pillar)))
    except PillarError as exc:
        # The role rejects its pillar: so does the agent, with the role's own words.
        assert model is None and set(role_errors) <= set(exc.errors), (role_errors, exc.errors)
        return
    assert model is not None
    (block,) = plugins[{"database": "mysql", "broker": "curl_json"}[role]].values()
    assert block["User"] == "mon" and block["Password"] == model["users"]["mon"]["password"]
