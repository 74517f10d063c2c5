"""
Rendering speed and ordering correctness of the local.conf engine on a large DevStack node.

Builds a synthetic pillar (2,000 localrc variables, a third of them referencing others in chains
up to 5 deep; 300 plugins whose ``requires`` form chains and a DAG; 50 post-config files of 20
options each) and measures, in process:

* ``render_model(model)`` alone, and
* ``build(pillar)`` followed by ``render_model`` (what the state does on every apply).

It then checks the rendered text line by line: each variable is assigned after every variable it
references, each ``enable_plugin`` comes after the plugins it requires, and the ``enable_plugin``
lines close the localrc section. Finally it renders in two subprocesses with different
PYTHONHASHSEED values and compares the bytes. Exits non-zero when a check fails; timings are
only reported, never asserted.

Optionally (DEVSTACK_ANSIBLE_MODULE=/path/to/devstack_local_conf.py, DevStack's
``roles/write-devstack-local-conf/library/devstack_local_conf.py``, fetched separately and not
part of this project) the same input is rendered by DevStack's Ansible module, timed, and its
ordering mistakes counted.

Usage::

    .venv/bin/python bench/render_large.py [--runs 200]
    DEVSTACK_ANSIBLE_MODULE=/tmp/devstack_local_conf.py .venv/bin/python bench/render_large.py
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import os
import random
import re
import statistics
import subprocess
import sys
import time
from types import ModuleType
from typing import Any, Callable

from figures import table

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The project's logic package: the local.conf model and its text.
sys.path.insert(0, os.path.join(PROJECT, "_utils"))
from devstack_salt import localconf, localconf_text  # noqa: E402 - needs _utils on sys.path


class Engine:
    """The local.conf engine as this bench times it: pillar -> model -> text."""

    build = staticmethod(localconf.build)
    render_model = staticmethod(localconf_text.render_model)


N_VARIABLES = 2000
N_PLUGINS = 300
N_FILES = 50
N_OPTIONS = 20
#: Passwords stack.sh would prompt for with keystone, mysql and swift enabled (alphanumeric).
PASSWORDS = {
    "ADMIN_PASSWORD": "benchAdmin0secret",
    "DATABASE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
    "SERVICE_PASSWORD": {"ref": "ADMIN_PASSWORD"},
    "SWIFT_HASH": "0123456789abcdef0123456789abcdef",
}
ASSIGN_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z")
REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def load_module(path: str, name: str) -> ModuleType:
    """Import a Python file by path (the engine needs no Salt dunders for what is used here)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------------------------
# The large node
# --------------------------------------------------------------------------------------------


def large_pillar(seed: int = 42) -> dict:
    """A deterministic pillar for a large node (see the module docstring for its shape).

    Chain variables are named ``CHAIN_<g>_L<k>`` with L0 referencing L1, L1 referencing L2 and so
    on, so alphabetical order is the wrong order for every chain. Plugin ``plugin-<i>`` only
    requires plugins with a larger number, which again sort after it.
    """
    rng = random.Random(seed)
    localrc: dict[str, Any] = dict(PASSWORDS)
    referencing = sum(isinstance(v, dict) for v in localrc.values())
    group = 0
    while referencing < N_VARIABLES // 3:
        depth = min(1 + group % 5, N_VARIABLES // 3 - referencing)  # 1..5 references per chain
        names = [f"CHAIN_{group:03d}_L{k}" for k in range(depth + 1)]
        for k, name in enumerate(names[:-1]):
            target = names[k + 1]
            localrc[name] = {"ref": target} if k % 2 else {"expand": "${" + target + "}/x"}
        localrc[names[-1]] = {"expand": "${DEST}/chain" + str(group)} if group % 4 == 0 else f"value{group}"
        referencing += depth
        group += 1
    plain = 0
    while len(localrc) < N_VARIABLES:
        localrc[f"PLAIN_{plain:04d}"] = rng.choice([f"v{plain}", str(plain), "True", "a b c", "it's"])
        plain += 1
    plugins: dict[str, Any] = {}
    for i in range(N_PLUGINS):
        later = list(range(i + 1, min(i + 12, N_PLUGINS)))
        count = min(len(later), rng.choices([0, 1, 2, 3], weights=[35, 35, 20, 10])[0])
        spec: dict[str, Any] = {"url": f"https://opendev.org/bench/plugin-{i:03d}"}
        if i % 3 == 0:
            spec["ref"] = "master"
        if count:
            spec["requires"] = [f"plugin-{j:03d}" for j in rng.sample(later, count)]
        plugins[f"plugin-{i:03d}"] = spec
    post_config = {
        f"/etc/bench/file{f:02d}.conf": {
            f"section{s}": {f"option_{o:02d}": f"value-{f}-{o}" for o in range(N_OPTIONS) if o % 4 == s}
            for s in range(4)
        }
        for f in range(N_FILES)
    }
    return {
        "user": "stack",
        "dest": "/opt/stack",
        "disable_all_services": True,
        "services": {"keystone": True, "mysql": True, "swift": True},
        "localrc": localrc,
        "plugins": plugins,
        "config": {"post-config": post_config},
    }


def pillar_refs(localrc: dict) -> dict[str, set[str]]:
    """The variables each localrc variable references, from the pillar (the ground truth)."""
    refs: dict[str, set[str]] = {}
    for name, value in localrc.items():
        if isinstance(value, dict):
            text = "${" + value["ref"] + "}" if "ref" in value else value["expand"]
            refs[name] = {a or b for a, b in REF_RE.findall(text)}
        else:
            refs[name] = set()
    return refs


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def measure(func: Callable[[], Any], runs: int, warmup: int = 5) -> list[float]:
    """Run func warmup times, then runs times; return each run's wall time in milliseconds."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000.0)
    return times



# --------------------------------------------------------------------------------------------
# Checking the text
# --------------------------------------------------------------------------------------------


def localrc_section(text: str) -> list[str]:
    """The non-empty, non-comment lines of the [[local|localrc]] section, in order."""
    lines, inside = [], False
    for line in text.split("\n"):
        if line.startswith("[["):
            inside = line.strip() == "[[local|localrc]]"
            continue
        if inside and line.strip() and not line.lstrip().startswith("#"):
            lines.append(line)
    return lines


def order_violations(
    lines: list[str], var_refs: dict[str, set[str]], plugin_requires: dict[str, set[str]]
) -> tuple[list[str], int, int]:
    """Check the ordering of localrc lines against the expected references and requirements.

    Returns (violations, variables seen, plugins seen). A violation is a reference to a variable
    not yet assigned, a plugin enabled before one it requires, a line whose references differ
    from the pillar, a missing or repeated name, or an assignment after an enable_plugin line.
    """
    violations: list[str] = []
    assigned: set[str] = set()
    enabled: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        words = line.split()
        if words[0] == "enable_plugin":
            name = words[1]
            comment = line.partition("#")[2].strip()
            requires = set()
            if comment.startswith("requires:"):
                requires = {r.strip() for r in comment[len("requires:"):].split(",")}
            expected = plugin_requires.get(name, set())
            if requires != expected:
                violations.append(
                    f"line {lineno}: plugin {name} lists requires {sorted(requires)}, pillar has {sorted(expected)}"
                )
            for required in sorted(requires - enabled):
                violations.append(f"line {lineno}: plugin {name} is enabled before {required}, which it requires")
            if name in enabled:
                violations.append(f"line {lineno}: plugin {name} is enabled twice")
            enabled.add(name)
            continue
        match = ASSIGN_RE.match(line)
        if not match:
            continue  # disable_all_services, enable_service ...
        name, value = match.groups()
        if enabled:
            violations.append(f"line {lineno}: {name} is assigned after an enable_plugin line")
        refs = {a or b for a, b in REF_RE.findall(value)}
        expected = var_refs.get(name, set())
        if refs != expected:
            violations.append(f"line {lineno}: {name} references {sorted(refs)}, pillar has {sorted(expected)}")
        for ref in sorted(refs & set(var_refs) - assigned):
            violations.append(f"line {lineno}: {name} references {ref}, which is assigned later")
        if name in assigned:
            violations.append(f"line {lineno}: {name} is assigned twice")
        assigned.add(name)
    for name in sorted(set(var_refs) - assigned):
        violations.append(f"variable {name} is missing")
    for name in sorted(set(plugin_requires) - enabled):
        violations.append(f"plugin {name} is missing")
    return violations, len(assigned), len(enabled)


def rendered_bytes(module: Any) -> bytes:
    """The local.conf bytes of the large node (used by the determinism subprocesses)."""
    return module.render_model(module.build(large_pillar())).encode()


def hash_in_subprocess(seed: str) -> str:
    """sha256 of the rendering done by a fresh interpreter with PYTHONHASHSEED=seed."""
    env = dict(os.environ, PYTHONHASHSEED=seed)
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--emit"], env=env, check=True, capture_output=True
    ).stdout
    return hashlib.sha256(out).hexdigest()


# --------------------------------------------------------------------------------------------
# DevStack's Ansible module (optional comparison)
# --------------------------------------------------------------------------------------------


def ansible_input(pillar: dict, model: dict) -> dict:
    """The same node as arguments of DevStack's write-devstack-local-conf module."""
    localrc = {}
    for name, value in pillar["localrc"].items():
        if isinstance(value, dict):
            localrc[name] = "${" + value["ref"] + "}" if "ref" in value else value["expand"]
        else:
            localrc[name] = value
    plugins = {n: " ".join([s["url"]] + ([s["ref"]] if "ref" in s else [])) for n, s in pillar["plugins"].items()}
    return {
        "localrc": localrc,
        "localconf": pillar["config"],
        "base_services": [],
        "services": {"base": False, **{n: True for n, on in model["services"].items() if on}},
        "plugins": plugins,
        "base_dir": None,
        "projects": None,
        "project": None,
        "tempest_plugins": None,
    }


def ansible_renderer(path: str, pillar: dict, model: dict) -> Callable[[], str]:
    """A function rendering the node with DevStack's Ansible module, as text.

    The module learns plugin requirements only from ``plugin_requires`` lines in
    devstack/settings files of checkouts under base_dir; here its loadPluginNames is replaced by
    one that sets the same requirements from the pillar, so no file system walk is timed.
    Ansible itself is not needed (the module tolerates its absence at import).
    """
    module = load_module(path, "devstack_local_conf")
    requires = {n: set(s["requires"]) for n, s in pillar["plugins"].items() if s.get("requires")}

    def load_plugin_names(self: Any, base_dir: str | None) -> None:
        """Stand-in for PluginGraph.loadPluginNames: the requirements come from the pillar."""
        self._plugin_dependencies = {n: set(r) for n, r in requires.items()}

    module.PluginGraph.loadPluginNames = load_plugin_names
    args = ansible_input(pillar, model)

    def render() -> str:
        # The body of LocalConf.write, into a string instead of a file.
        lc = module.LocalConf(
            args["localrc"], args["localconf"], args["base_services"], dict(args["services"]),
            args["plugins"], args["base_dir"], args["projects"], args["project"], args["tempest_plugins"],
        )
        out = ["[[local|localrc]]\n", "\n".join(lc.localrc), "\n\n"]
        for section, lines in lc.meta_sections.items():
            out.append(f"{section}\n")
            out.append("\n".join(lines))
        return "".join(out)

    return render


def ansible_misorders(
    text: str, var_refs: dict[str, set[str]], plugin_requires: dict[str, set[str]]
) -> tuple[int, int, int, int]:
    """(variable references used before assignment, variables affected, plugin requirements
    enabled too late, plugins affected) in the Ansible module's localrc section."""
    assigned: set[str] = set()
    enabled: set[str] = set()
    bad_refs = bad_vars = bad_reqs = bad_plugins = 0
    for line in localrc_section(text):
        words = line.split()
        if words[0] == "enable_plugin":
            late = plugin_requires.get(words[1], set()) - enabled
            bad_reqs += len(late)
            bad_plugins += bool(late)
            enabled.add(words[1])
            continue
        match = ASSIGN_RE.match(line)
        if match:
            late = var_refs.get(match.group(1), set()) & set(var_refs) - assigned
            bad_refs += len(late)
            bad_vars += bool(late)
            assigned.add(match.group(1))
    return bad_refs, bad_vars, bad_reqs, bad_plugins


# --------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--runs", type=int, default=200, help="timed runs per measurement (default 200)")
    parser.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)  # determinism subprocess
    args = parser.parse_args()
    engine = Engine
    if args.emit:
        sys.stdout.buffer.write(rendered_bytes(engine))
        return 0

    pillar = large_pillar()
    model = engine.build(pillar)
    text = engine.render_model(model)
    var_refs = pillar_refs(pillar["localrc"])
    plugin_requires = {n: set(s.get("requires", ())) for n, s in pillar["plugins"].items()}
    n_refs = sum(bool(r & set(var_refs)) for r in var_refs.values())
    n_options = sum(len(o) for secs in pillar["config"]["post-config"].values() for o in secs.values())
    print(
        f"large node: {len(pillar['localrc'])} variables ({n_refs} referencing others), "
        f"{len(pillar['plugins'])} plugins ({sum(bool(r) for r in plugin_requires.values())} with requires), "
        f"{len(pillar['config']['post-config'])} post-config files ({n_options} options); "
        f"local.conf {len(text.encode())} bytes, {text.count(chr(10))} lines"
    )
    alphabetical_wrong = sum(1 for n, r in var_refs.items() for ref in r if ref in var_refs and ref > n)
    print(f"references to a variable that sorts later: {alphabetical_wrong}")
    print()

    rows = [
        ("render_model(model)", measure(lambda: engine.render_model(model), args.runs)),
        ("build(pillar) + render_model", measure(lambda: engine.render_model(engine.build(pillar)), args.runs)),
    ]
    ansible_path = os.environ.get("DEVSTACK_ANSIBLE_MODULE")
    ansible_text = None
    if ansible_path:
        render = ansible_renderer(ansible_path, pillar, model)
        ansible_text = render()
        rows.append(("DevStack Ansible LocalConf", measure(render, args.runs)))
    print(table(rows, heading="measurement", decimals=2))
    if ansible_path:
        ratio = statistics.median(rows[2][1]) / statistics.median(rows[1][1])
        print(f"ratio median(Ansible LocalConf) / median(build + render_model): {ratio:.2f}")
    else:
        print(
            "comparison with DevStack's Ansible module skipped: set DEVSTACK_ANSIBLE_MODULE to a copy of "
            "devstack's roles/write-devstack-local-conf/library/devstack_local_conf.py to enable it"
        )
    print()

    failed = False
    lines = localrc_section(text)
    violations, n_vars, n_plugins = order_violations(lines, var_refs, plugin_requires)
    first_plugin = next((i for i, line in enumerate(lines) if line.startswith("enable_plugin ")), len(lines))
    if any(not line.startswith("enable_plugin ") for line in lines[first_plugin:]):
        violations.append("enable_plugin lines are not the last lines of the localrc section")
    print(
        f"checked {n_vars} variables ({sum(len(r & set(var_refs)) for r in var_refs.values())} references) "
        f"and {n_plugins} plugins ({sum(len(r) for r in plugin_requires.values())} requirements); "
        f"enable_plugin lines are the last {len(lines) - first_plugin} of {len(lines)} localrc lines"
    )
    if violations:
        failed = True
        print(f"order: {len(violations)} violations")
        for violation in violations[:20]:
            print("  " + violation)
    else:
        print("order: OK")

    hashes = {seed: hash_in_subprocess(seed) for seed in ("1", "4242")}
    for seed, digest in hashes.items():
        print(f"sha256 with PYTHONHASHSEED={seed:<5} {digest}")
    in_process = hashlib.sha256(text.encode()).hexdigest()
    if len(set(hashes.values()) | {in_process}) == 1:
        print("determinism: identical")
    else:
        failed = True
        print(f"determinism: DIFFERENT (this process: {in_process})")

    if ansible_text is not None:
        bad_refs, bad_vars, bad_reqs, bad_plugins = ansible_misorders(ansible_text, var_refs, plugin_requires)
        print()
        print(
            f"DevStack Ansible module, same input: {bad_vars} of {n_vars} variables assigned before a variable "
            f"they reference ({bad_refs} references come after their use); {bad_plugins} of {n_plugins} plugins "
            f"enabled before one they require ({bad_reqs} requirements come after their use)"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
