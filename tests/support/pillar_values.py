"""What the fuzz tests draw from: any YAML value (None, booleans, numbers, strings, lists,
mappings with odd keys), a valid pillar with one node replaced by such a value, and a valid
pillar of each root (the project's own, secrets filled in).

Shared by the pillar fuzz (tests/unit/test_pillar_fuzz.py) and the fuzz of the published API
through Salt's loader (tests/functional/test_api_fuzz.py).
"""

from __future__ import annotations

import copy
import os
import re

import jinja2
import yaml
from hypothesis import strategies as st

from project import PROJECT

#: An error that names a pillar path: one of the roots, then ``:`` or the end of a word.
PATH_RE = re.compile(r"(devstack|database|broker|monitoring|roles)(:|\b)")

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.sampled_from(["", "a string", "a\nb", "x y", "$(id)", "0755", "root", "..", "/", "*",
                                           "127.0.0.1", "Name label", "Name a\nb", "-n", "True", "null"]),
)
keys = st.one_of(st.text(max_size=8), st.integers(-3, 3), st.booleans(), st.none(), st.floats(allow_nan=False),
                 st.sampled_from(["Name label", "Name a\nb", "a b", "", "users", "plugins", "password", "host"]))
yaml_values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                            st.dictionaries(keys, inner, max_size=3)), max_leaves=8)


@st.composite
def mutated(draw, base):
    """``base`` with one node (at a random depth, existing key or new) replaced by a YAML value."""
    tree = copy.deepcopy(base)
    node, parent_key, parent = tree, None, None
    while True:
        if not isinstance(node, (dict, list)) or draw(st.integers(0, 3)) == 0:
            break
        if isinstance(node, dict):
            options = sorted(node, key=repr)
            key = draw(st.sampled_from(options) | keys) if options else draw(keys)
            if key not in node:
                node[key] = None
        else:
            if not node:
                break
            key = draw(st.integers(0, len(node) - 1))
        parent, parent_key, node = node, key, node[key]
    value = draw(yaml_values)
    if parent is None:
        return value
    parent[parent_key] = value
    return tree


def load_pillar(name: str) -> dict:
    """A pillar file as Salt renders it (Jinja, then YAML) for a node with no grains of ours."""
    with open(os.path.join(PROJECT, "pillar", name)) as handle:
        return yaml.safe_load(jinja2.Template(handle.read()).render(grains={}))


DATABASE = load_pillar("database.sls")["database"]
DATABASE["users"]["collectd"]["password"] = "Collectd1"
DATABASE["devstack"]["password"] = "Devstack1"
BROKER = load_pillar("broker.sls")["broker"]
BROKER["erlang_cookie"] = "A" * 32
for account in BROKER["users"].values():
    account["password"] = "Broker1"
DEVSTACK = {**load_pillar("devstack.sls")["devstack"], "database": True, "broker": True, "dest": "/srv/stack",
            "plugins": {"heat": {"url": "https://example.org/heat", "ref": "master"}},
            "config": {"post-config": {"$NOVA_CONF": {"DEFAULT": {"debug": True, "f": ["a", "b"]}}}}}
DEVSTACK["localrc"] = {**{k: v for k, v in DEVSTACK["localrc"].items() if not k.startswith(("DATABASE_", "RABBIT_"))},
                       "ADMIN_PASSWORD": "Admin1", "SWIFT_HASH": "Hash1"}
MONITORING = {
    "carbon": {"server": True, "address": "127.0.0.1", "port": 2003, "settings": {"MAX_CACHE_SIZE": "inf"},
               "schemas": [{"name": "default", "pattern": ".*", "retentions": "10s:1d"}]},
    "collectd": {"carbon_host": "127.0.0.1", "interval": 10,
                 "plugins": {"df": {"MountPoint": "/"}, "tail": {"File /var/log/syslog": {"Instance": "syslog"}}},
                 "role_metrics": {"database": {"user": "collectd"}, "broker": {"user": "collectd"}}},
    "web": {"address": "127.0.0.1", "port": 8013, "workers": 2, "secret_key": "k" * 40, "admin_password": "p" * 24,
            "dashboards": {"hosts": True, "database": True, "broker": True, "salt_runs": True,
                           "time_range": "-2hours", "refresh": 60}},
    "thresholds": {"root_disk_full": {"source": "disk:/", "above": 95}},
}
