"""devstack-salt installed as a Salt extension (pyproject.toml): pip installs the package into a
Python environment, and Salt's loader finds the modules through the ``salt.loader`` entry point,
with no file_roots and nothing synced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from project import PROJECT

# A fresh interpreter that sees only the installed copy: the repository's _utils is not on its
# sys.path, the minion's file_roots is an empty folder, so nothing can come from a sync.
LOAD_INSTALLED = textwrap.dedent("""
    import json, os, sys
    import salt.config, salt.loader
    from saltfactories.utils.functional import Loaders
    from devstack_salt import saltconfig

    root = sys.argv[1]
    empty = os.path.join(root, "empty")
    os.makedirs(empty)
    config = saltconfig.minion_config(root, "extension-minion", file_roots=[empty], pillar_roots=[empty])
    config.pop("return", None)
    with open(os.path.join(root, "minion"), "w") as handle:
        json.dump(config, handle)
    opts = salt.config.minion_config(os.path.join(root, "minion"))
    loaders = Loaders(opts)
    rendered = loaders.modules.devstack.render(config={"disable_all_services": True, "services": {"dstat": True}})
    beacons = salt.loader.beacons(opts, loaders.modules)
    returners = salt.loader.returners(opts, loaders.modules)
    engines = salt.loader.engines(opts, loaders.modules, {}, loaders.utils)
    import devstack_salt
    print(json.dumps({
        "package": devstack_salt.__file__,
        "modules": sorted({name.split(".")[0] for name in loaders.modules}
                          & {"devstack", "database_server", "message_broker", "monitoring", "topology"}),
        "states": sorted({name.split(".")[0] for name in loaders.states}
                         & {"devstack", "database_server", "message_broker", "monitoring"}),
        "beacon": "metric_threshold.beacon" in beacons,
        "returner": "salt_run_metrics.returner" in returners,
        "engine": "alert_hook.start" in engines,
        "renders": "[[local|localrc]]" in rendered and "enable_service dstat" in rendered,
        "synced": sorted(os.listdir(os.path.join(root, "extmods", "modules")))
                  if os.path.isdir(os.path.join(root, "extmods", "modules")) else [],
    }))
""")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The project as pip builds and installs it: from a copy of the tracked files only."""
    base = tmp_path_factory.mktemp("extension")
    source, site = base / "source", base / "site"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT, capture_output=True, check=True).stdout
    for name in filter(None, tracked.decode().split("\0")):
        if not os.path.isfile(os.path.join(PROJECT, name)):
            continue  # deleted in the work tree
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.islink(os.path.join(PROJECT, name)):
            continue  # salt/_modules etc. link to the top-level folders
        target.write_bytes(open(os.path.join(PROJECT, name), "rb").read())
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--target", str(site), str(source)],
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return base, site


def test_pip_installs_the_package_and_the_salt_faces(installed):
    _, site = installed
    package = site / "devstack_salt"
    for name in ("errors.py", "files.py", "loader.py", "modules/devstack.py", "states/devstack.py",
                 "beacons/metric_threshold.py", "returners/salt_run_metrics.py", "engines/alert_hook.py"):
        assert (package / name).is_file(), name
    entry_points = next(site.glob("devstack_salt-*.dist-info")) / "entry_points.txt"
    assert "[salt.loader]" in entry_points.read_text()
    assert "devstack_salt.loader:salt_dirs" in entry_points.read_text()


def test_salt_loads_the_installed_modules_through_the_entry_point(installed):
    base, site = installed
    root = base / "minion"
    root.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    proc = subprocess.run([sys.executable, "-c", LOAD_INSTALLED, str(root)], capture_output=True, text=True,
                          timeout=180, stdin=subprocess.DEVNULL, cwd=str(base), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found == {
        "package": str(site / "devstack_salt" / "__init__.py"),
        "modules": ["database_server", "devstack", "message_broker", "monitoring", "topology"],
        "states": ["database_server", "devstack", "message_broker", "monitoring"],
        "beacon": True, "returner": True, "engine": True, "renders": True,
        "synced": [],
    }
