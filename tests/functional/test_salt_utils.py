"""The logic package (_utils/devstack_salt) as Salt finds it: synced from
salt://_utils by saltutil.sync_all and imported by the execution modules through Salt's loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from devstack_salt import saltconfig

from project import PROJECT

# A fresh interpreter: this test session imported the modules as plain Python already (and with
# them the repository's _utils), which would hide a missing sync. Its minion config is written
# here, so it imports nothing of this project itself.
FRESH_MINION = textwrap.dedent("""
    import json, sys
    import salt.config
    from saltfactories.utils.functional import Loaders

    loaders = Loaders(salt.config.minion_config(sys.argv[1]))
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
    config = saltconfig.minion_config(str(root), "fresh-minion", pillar_roots=[str(root / "pillar")])
    config.pop("return")  # nothing to report to carbon from here
    (root / "minion").write_text(json.dumps(config))
    proc = subprocess.run([sys.executable, "-c", FRESH_MINION, str(root / "minion")], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found == {"devstack": True, "database_server": True,
                     "utils_file": str(root / "extmods" / "utils" / "devstack_salt" / "files.py")}
