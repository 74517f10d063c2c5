"""Fuzz of every pillar root: any YAML value at any level gives success or errors naming pillar paths.

Each test starts from a valid pillar of its root (the project's own, secrets filled in) and
puts a hypothesis-generated YAML value (None, booleans, numbers, strings, lists, mappings with
odd keys) at a random path, existing or new: pillar_values.py, which the fuzz of the published
API shares. The functions the modules and states use to
validate must then succeed or raise their error class, every error naming a pillar path; any
other exception is a traceback a user would see, and fails the test.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings

from devstack_salt import carbon as carbon_files, contract, collectd as collectd_files, graphite_dashboards, graphite_web, localconf, localconf_text, mariadb_model, rabbitmq_config, rabbitmq_model
from devstack_salt.errors import BrokerError, DatabasePillarError, LocalConfError, MonitoringError
from pillar_values import BROKER, DATABASE, DEVSTACK, MONITORING, PATH_RE, mutated

FUZZ = settings(max_examples=int(os.environ.get("PILLAR_FUZZ_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_error_names_a_path(errors):
    assert errors, "an error class raised without errors"
    for error in errors:
        assert PATH_RE.match(error), error


def test_the_base_pillars_are_valid():
    mariadb_model.build(DATABASE)
    rabbitmq_model.normalize(BROKER)
    localconf.build(DEVSTACK, lookup={"database": DATABASE, "broker": BROKER}.get)
    validate_monitoring(MONITORING, ["all-in-one"], DATABASE, BROKER)


@FUZZ
@given(mutated(DEVSTACK), mutated({"database": DATABASE, "broker": BROKER, "mine:database": {"db1": "192.0.2.1"}}))
def test_devstack_pillar(pillar, others):
    lookup = others.get if isinstance(others, dict) else (lambda key: others)
    try:
        model = localconf.build(pillar, lookup=lookup)
    except LocalConfError as exc:
        assert_error_names_a_path(exc.errors)
        return
    localconf_text.render_model(model)
    localconf.node_settings(pillar, "devstack", None, dict(model, localrc=dict(model["localrc"])))


@FUZZ
@given(mutated(DATABASE))
def test_database_pillar(pillar):
    try:
        model = mariadb_model.build(pillar, "database", frozenset({"sql-mode", "default-storage-engine"}))
    except DatabasePillarError as exc:
        assert_error_names_a_path(exc.errors)
        return
    if model["devstack"] is not None:
        contract.devstack_database(pillar)


@FUZZ
@given(mutated(BROKER))
def test_broker_pillar(pillar):
    try:
        model = rabbitmq_model.normalize(pillar)
    except BrokerError as exc:
        assert_error_names_a_path(exc.errors)
        return
    rabbitmq_config.render_rabbitmq_conf(model)
    rabbitmq_config.render_env_conf(model)


def validate_monitoring(pillar, roles, database, broker):
    """What the monitoring SLS asks of the module: collectd.conf, its packages, carbon's files,
    the web application's settings and its dashboards."""
    collectd = pillar.get("collectd") if isinstance(pillar, dict) else pillar
    carbon = pillar.get("carbon") if isinstance(pillar, dict) else pillar
    if not isinstance(pillar, dict):
        carbon_files.pillar_section(pillar, "collectd")
    config = carbon_files.pillar_section(collectd, "collectd")
    extra = collectd_files.role_plugins(config.get("role_metrics"), roles, database, broker)
    collectd_files.render_collectd_conf(collectd_files.merge_role_plugins(config, extra))
    collectd_files.plugin_packages(config)
    collectd_files.has_secret(config)
    carbon = carbon_files.pillar_section(carbon, "carbon")
    carbon_files.render_carbon_conf(carbon)
    carbon_files.render_storage_schemas(carbon)
    pillar = pillar if isinstance(pillar, dict) else {}
    web = graphite_web.web_settings(pillar.get("web"), carbon, carbon.get("server") is True)
    graphite_web.render_local_settings(web)
    thresholds = pillar.get("thresholds")
    found = graphite_dashboards.inventory("/nonexistent", "collectd", "salt", "node1",
                                          config.get("plugins", collectd_files.DEFAULT_PLUGINS), "node1")
    graphite_dashboards.dashboards(web["dashboards"], found, "collectd", "salt",
                                   thresholds if isinstance(thresholds, dict) else {})


@FUZZ
@given(mutated({"monitoring": MONITORING, "roles": ["all-in-one"], "database": DATABASE, "broker": BROKER}))
def test_monitoring_and_roles_pillars(pillar):
    if not isinstance(pillar, dict):
        pillar = {"monitoring": pillar}
    try:
        validate_monitoring(pillar.get("monitoring"), pillar.get("roles"), pillar.get("database"), pillar.get("broker"))
    except MonitoringError as exc:
        assert_error_names_a_path(exc.errors)


def test_the_crashes_of_the_issue_are_errors_naming_the_path():
    for section in ("collectd", "carbon"):
        try:
            validate_monitoring({section: "a string"}, [], {}, {})
        except MonitoringError as exc:
            assert any(e.startswith(f"monitoring:{section} must be a mapping") for e in exc.errors), exc.errors
        else:
            raise AssertionError(f"monitoring:{section} as a string was accepted")
    plugins = {"tail": {"File a\nb": {"Instance": "x"}}}
    try:
        collectd_files.render_collectd_conf({"plugins": plugins})
    except MonitoringError as exc:
        assert any(e.startswith("monitoring:collectd:plugins:tail:File a\nb") for e in exc.errors), exc.errors
    else:
        raise AssertionError("a block label with a newline was accepted")
