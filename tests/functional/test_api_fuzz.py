"""Fuzz of the published execution functions through Salt's loader: every function that only
reads, called with hypothesis-drawn values for each argument it takes (any YAML value a caller can
give on salt-call's command line, near-valid pillars for ``config``), either answers or raises one
of Salt's CommandExecutionError classes (salt-call prints "Error running ...: message", no
traceback) whose message names what is wrong. Any other exception is a traceback: a failure.

The functions that change the host are never called with drawn values. A test keeps every
published function in exactly one of the two groups, and every argument of a fuzzed function
either drawn or named as left out, so a new function or argument must be classified.

API_FUZZ_EXAMPLES (default 20) sets the examples per function.
"""

from __future__ import annotations

import inspect
import json
import os

import pytest
import salt.config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from salt.exceptions import CommandExecutionError
from saltfactories.utils.functional import Loaders

import pillar_values as values  # the pillar fuzz's values and base pillars, shared
from common import free_port
from devstack_salt.errors import MonitoringError, ParseError, PillarError
from project import configure
from salt_api import EXECUTION_MODULES, published

FUZZ = settings(max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "20")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])

UNREACHABLE_BROKER = "devstack-salt-unreachable@localhost"
WEB_PORT = free_port()
PILLAR = {"roles": ["all-in-one"], "devstack": values.DEVSTACK, "database": values.DATABASE,
          "broker": values.BROKER,
          "monitoring": {**values.MONITORING, "web": {**values.MONITORING["web"], "port": WEB_PORT}}}
LOCAL_CONF = "[[local|localrc]]\nADMIN_PASSWORD=Admin1\nLOGFILE=$DEST/logs/stack.sh.log\nenable_service dstat\n"

anything = values.yaml_values
flags = st.booleans() | anything
pillar_keys = st.sampled_from(["devstack", "database", "broker", "monitoring", "roles", "devstack:localrc",
                               "monitoring:collectd", "absent", "", ":", "a:b:c"]) | anything


def configs(base):
    """What a caller may hand in as ``config``: nothing (the pillar's), any value, or ``base``
    (a valid pillar of the root) with one node replaced."""
    return st.none() | anything | values.mutated(base)


def paths(files):
    """A path argument: a local.conf, a folder, a FIFO, a device, a file that is not there, anything."""
    return st.sampled_from([files["local.conf"], files["folder"], files["fifo"], files["missing"], "/dev/null",
                            "/dev/zero", "", "relative/local.conf"]) | anything


texts = st.sampled_from([LOCAL_CONF, "", "[[local|localrc]]\nA=$(id)\n", "a\r\nb", "[[post-config|$NOVA_CONF]]\n"]) \
    | anything


#: Every published execution function that only reads: what to draw for each of its arguments.
#: A callable takes the fixture's files (for paths).
FUZZED = {
    "devstack.validate": {"config": configs(values.DEVSTACK), "pillar_key": pillar_keys},
    "devstack.render": {"config": configs(values.DEVSTACK), "pillar_key": pillar_keys, "reveal": flags},
    "devstack.parse": {"path": paths, "text": texts, "reveal": flags},
    "devstack.import": {"path": paths, "pillar_key": pillar_keys, "reveal": flags},
    "devstack.explain": {"config": configs(values.DEVSTACK), "pillar_key": pillar_keys, "path": paths},
    "devstack.diff": {"path": paths, "config": configs(values.DEVSTACK), "pillar_key": pillar_keys},
    "devstack.plan": {"pillar_key": pillar_keys},
    "devstack.stack_plan": {"force": flags, "config": configs(values.DEVSTACK), "pillar_key": pillar_keys},
    "devstack.status": {"config": configs(values.DEVSTACK), "pillar_key": pillar_keys},
    "devstack.local_repositories": {"pillar_key": pillar_keys},
    "database_server.validate": {"pillar_key": pillar_keys},
    "database_server.options": {"pillar_key": pillar_keys},
    "database_server.plan": {"part": st.sampled_from(["config", "secure", "databases", "users"]) | anything,
                             "pillar_key": pillar_keys},
    "database_server.devstack_settings": {"pillar_key": pillar_keys, "reveal": flags},
    "message_broker.validate": {"config": configs(values.BROKER), "pillar_key": pillar_keys},
    "message_broker.render": {"name": st.sampled_from(["rabbitmq.conf", "rabbitmq-env.conf", "epmd.socket"]) | anything,
                              "config": configs(values.BROKER), "pillar_key": pillar_keys},
    "message_broker.diff": {"config": configs(values.BROKER), "pillar_key": pillar_keys},
    "message_broker.current": {"config": configs(values.BROKER), "pillar_key": pillar_keys},
    "message_broker.devstack_settings": {"pillar_key": pillar_keys, "node_key": pillar_keys, "reveal": flags},
    "monitoring.collectd_conf": {"config": configs(values.MONITORING["collectd"]), "reveal": flags},
    "monitoring.collectd_has_secret": {"config": configs(values.MONITORING["collectd"])},
    "monitoring.collectd_packages": {"config": configs(values.MONITORING["collectd"])},
    "monitoring.carbon_conf": {"config": configs(values.MONITORING["carbon"])},
    "monitoring.storage_schemas": {"config": configs(values.MONITORING["carbon"])},
    "monitoring.web_config": {},
    "monitoring.prometheus_config": {"targets": flags},
    "monitoring.dashboards": {"states": flags},
    "monitoring.beacons_loaded": {"timeout": st.just(1) | anything},
    "monitoring.reactions": {"last": st.integers(-3, 30) | anything},
    "topology.address": {},
    "topology.target": {"role": st.sampled_from(["database", "broker", "monitoring", "devstack", "all-in-one"]) | anything},
    "topology.role_addresses": {"role": st.sampled_from(["database", "monitoring"]) | anything},
    "topology.systemd": {},
}

#: Arguments of a fuzzed function that are never drawn, and why.
LEFT_OUT = {
    "devstack.import": {"dest": "writes the imported pillar to a new file"},
}

#: Published functions that change the host: never called here with drawn values.
CHANGES_THE_HOST = {
    "devstack.write": "writes local.conf",
    "devstack.stack": "runs stack.sh or changes post-config files and restarts units",
    "devstack.unstack": "runs unstack.sh or clean.sh",
    "database_server.apply": "writes the option file, changes the server",
    "message_broker.apply": "changes the broker's definition",
    "message_broker.pid_file": "writes RabbitMQ's pid file",
    "monitoring.send_metrics": "sends metrics to carbon",
    "monitoring.react_service": "starts services, records reactions",
    "monitoring.react_threshold": "runs a threshold's action, records reactions",
    "monitoring.alert": "appends to the alerts log",
}


def fuzzed_function(module: str) -> str:
    """One fuzzed function of ``module``: what salt_api.published loads the module through."""
    return next(name for name in FUZZED if name.startswith(module + ".")).split(".")[1]


@pytest.fixture(scope="module")
def loaders(tmp_path_factory):
    """A minion of its own: a valid pillar of every root, the broker's CLI aimed at a node that
    does not exist and the database at a socket that does not exist, so that a function reaching
    either answers at once with its error and never reads this host's daemons. (The session's
    minion of conftest.py has no pillar and addresses this host's broker.)"""
    root = tmp_path_factory.mktemp("api-fuzz")
    (root / "pillar").mkdir()
    (root / "pillar" / "top.sls").write_text("base:\n  '*':\n    - fuzz\n")
    (root / "pillar" / "fuzz.sls").write_text(json.dumps(PILLAR))
    config = configure.minion_config(str(root), "api-fuzz", pillar_roots=[str(root / "pillar")])
    config.pop("return", None)
    config["message_broker.node"] = UNREACHABLE_BROKER
    config["database_server.socket"] = str(root / "no-server.sock")
    config["devstack_salt_import_dir"] = str(root / "imports")  # where devstack.import dest=... would write
    (root / "minion").write_text(json.dumps(config))
    loaders = Loaders(salt.config.minion_config(str(root / "minion")))
    for module in EXECUTION_MODULES:  # one module at a time (salt_api.published says why)
        published(loaders.modules, module, fuzzed_function(module))
    # Before anything is drawn: both daemons' functions fail at once, naming what they tried.
    with pytest.raises(CommandExecutionError, match=UNREACHABLE_BROKER):
        loaders.modules["message_broker.diff"]()
    with pytest.raises(CommandExecutionError, match="no-server.sock"):
        loaders.modules["database_server.plan"]("secure")
    return loaders


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The paths the fuzz draws from."""
    folder = tmp_path_factory.mktemp("api-fuzz-files")
    (folder / "local.conf").write_text(LOCAL_CONF)
    os.mkfifo(folder / "fifo")  # nothing ever writes to it: reading it would wait forever
    return {"local.conf": str(folder / "local.conf"), "folder": str(folder), "fifo": str(folder / "fifo"),
            "missing": str(folder / "missing.conf")}


def names_what_is_wrong(exc: CommandExecutionError, arguments: set[str], kwargs: dict) -> bool:
    """A pillar error names a pillar path in each of its errors (under a root or the caller's
    ``pillar_key``; a local.conf's parse error, its line or the text); any other error names a
    pillar root, one of the function's ``arguments``, or the path or pillar key it was given."""
    words = {"devstack", "database", "broker", "monitoring", "roles", "pillar"}
    words |= {kwargs[key] for key in ("pillar_key", "node_key", "path") if isinstance(kwargs.get(key), str) and kwargs[key]}
    if isinstance(exc, ParseError):
        words |= {"line", "text"}
    if isinstance(exc, PillarError):
        return bool(exc.errors) and all(any(word in error for word in words) for error in exc.errors)
    return any(word in str(exc) for word in words | arguments)


@pytest.mark.parametrize("name", sorted(FUZZED))
@FUZZ
@given(data=st.data())
def test_a_reading_function_answers_or_says_what_is_wrong(loaders, files, name, data):
    function = loaders.modules[name]
    parameters = inspect.signature(function).parameters
    required = {argument for argument, parameter in parameters.items() if parameter.default is inspect.Parameter.empty}
    kwargs = {}
    for argument, strategy in FUZZED[name].items():
        if argument in required or data.draw(st.booleans(), label=f"pass {argument}"):
            kwargs[argument] = data.draw(strategy(files) if callable(strategy) else strategy, label=argument)
    try:
        function(**kwargs)
    except CommandExecutionError as exc:
        message = str(exc)
        assert message.strip() and "Traceback" not in message, (name, kwargs, message)
        assert names_what_is_wrong(exc, set(parameters), kwargs), f"{name}({kwargs!r}) raised an error that names nothing: {message}"


@pytest.mark.parametrize("name, section", [
    ("monitoring.collectd_conf", "collectd"), ("monitoring.collectd_has_secret", "collectd"),
    ("monitoring.collectd_packages", "collectd"), ("monitoring.carbon_conf", "carbon"),
    ("monitoring.storage_schemas", "carbon"),
])
def test_a_config_that_is_not_a_mapping_is_the_error_its_pillar_section_gets(loaders, name, section):
    with pytest.raises(MonitoringError) as info:
        loaders.modules[name](config="a string")
    assert info.value.errors == [f"monitoring:{section} must be a mapping (got str); see README.md, Monitoring role"]


@pytest.mark.parametrize("name, kwargs, says", [
    ("devstack.render", {"pillar_key": None}, "pillar_key must be a pillar key"),
    ("devstack.validate", {"config": {}, "pillar_key": []}, "pillar_key must be a pillar key"),
    ("database_server.options", {"pillar_key": 5}, "pillar_key must be a pillar key"),
    ("message_broker.devstack_settings", {"node_key": {}}, "node_key must be a pillar key"),
    ("message_broker.render", {"name": []}, "name must be one of rabbitmq.conf"),
    ("database_server.plan", {"part": ["users"]}, "part must be config, secure, databases or users"),
    ("devstack.render", {"reveal": "no"}, "reveal must be true or false"),
    ("monitoring.dashboards", {"states": "yes"}, "states must be true or false"),
    ("devstack.parse", {"path": 0}, "path must be the path of a local.conf file"),
    ("devstack.parse", {"text": 7}, "text must be the text of a local.conf"),
    ("devstack.explain", {"path": "fifo"}, "not a regular file"),
    ("devstack.import", {"path": "local.conf", "dest": 5}, "dest must be a file name"),
    ("devstack.diff", {"path": "/dev/zero"}, "cannot read /dev/zero: not a regular file"),
    ("monitoring.reactions", {"last": "x"}, "last must be a whole number"),
    ("monitoring.beacons_loaded", {"timeout": [1]}, "timeout must be a number"),
    ("monitoring.collectd_packages", {"config": {"plugins": 5}}, "monitoring:collectd:plugins must be a mapping"),
    ("monitoring.collectd_conf", {"config": {"plugins": {0: None, "df": {}}}}, "monitoring:collectd:plugins:0: a plugin"),
])
def test_what_the_fuzz_found_is_an_error_naming_it(loaders, files, name, kwargs, says):
    if kwargs.get("path") in files:
        kwargs = {**kwargs, "path": files[kwargs["path"]]}
    with pytest.raises(CommandExecutionError) as info:
        loaders.modules[name](**kwargs)
    assert says in str(info.value)


def test_every_published_function_is_fuzzed_or_changes_the_host(loaders):
    found = set()
    for module in EXECUTION_MODULES:
        found |= {f"{module}.{name}" for name in published(loaders.modules, module, fuzzed_function(module))}
    assert not set(FUZZED) & set(CHANGES_THE_HOST)
    assert set(FUZZED) | set(CHANGES_THE_HOST) == found, \
        "classify each published function in FUZZED (it only reads) or CHANGES_THE_HOST"


@pytest.mark.parametrize("name", sorted(FUZZED))
def test_every_argument_of_a_fuzzed_function_is_drawn_or_left_out_on_purpose(loaders, name):
    parameters = set(inspect.signature(loaders.modules[name]).parameters)
    assert set(FUZZED[name]) | set(LEFT_OUT.get(name, {})) == parameters
