"""The logic package (_utils/devstack_salt) as Salt finds it: synced from
salt://_utils by saltutil.sync_all and imported by the execution modules through Salt's loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from project import PROJECT

# A fresh interpreter: this test session imported the modules as plain Python already (and with
# them the repository's _utils), which would hide a missing sync.
FRESH_MINION = textwrap.dedent("""
    import importlib.machinery, importlib.util, json, os, sys
    import salt.config
    from saltfactories.utils.functional import Loaders

    project, root = sys.argv[1], sys.argv[2]
    loader = importlib.machinery.SourceFileLoader("configure", os.path.join(project, "bin", "configure"))
    configure = importlib.util.module_from_spec(importlib.util.spec_from_loader("configure", loader))
    loader.exec_module(configure)
    config = configure.minion_config(root, "fresh-minion", pillar_roots=[os.path.join(root, "pillar")])
    config.pop("return")  # nothing to report to carbon from here
    with open(os.path.join(root, "minion"), "w") as handle:
        json.dump(config, handle)
    loaders = Loaders(salt.config.minion_config(os.path.join(root, "minion")))
    print(json.dumps({
        "devstack": "devstack.render" in loaders.modules,
        "database_server": "database_server.apply" in loaders.modules,
        "utils_file": getattr(sys.modules.get("devstack_salt.files"), "__file__", None),
    }))
""")


def test_sync_all_brings_the_utils_module_to_the_minion(loaders, minion_opts):
    assert "devstack.render" in loaders.modules
    source = os.path.join(PROJECT, "_utils", "devstack_salt")
    synced = os.path.join(minion_opts["extension_modules"], "utils", "devstack_salt")
    names = sorted(name for name in os.listdir(source) if name.endswith(".py"))
    assert names and sorted(name for name in os.listdir(synced) if name.endswith(".py")) == names
    for name in names:
        with open(os.path.join(synced, name), "rb") as copy, open(os.path.join(source, name), "rb") as original:
            assert copy.read() == original.read(), name


def test_a_fresh_minion_loads_the_writing_modules_with_the_synced_utils(tmp_path):
    root = tmp_path / "fresh"
    (root / "pillar").mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-c", FRESH_MINION, PROJECT, str(root)], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found == {"devstack": True, "database_server": True,
                     "utils_file": str(root / "extmods" / "utils" / "devstack_salt" / "files.py")}
