"""DevStack's own parser as the judge of what this project writes.

Nothing of DevStack is copied here: a session fixture clones DevStack from the local mirror
(``../shared/mirrors/openstack-git.tar``) and :class:`Judge` runs DevStack's real code on a
local.conf, the way ``stack.sh`` does:

1. ``source functions`` (``functions-common``, ``inc/ini-config``, ``inc/meta-config``, ...),
   ``source lib/stack`` and ``GetDistro``;
2. ``extract_localrc_section local.conf localrc .localrc.auto``;
3. DevStack's own ``stackrc``, up to and including the lines that source ``.localrc.auto`` (the
   rest of stackrc probes the host: its IP address, Python version, ...);
4. ``disable_negated_services``;
5. the config-file variables that ``lib/*`` would define, pointed into a scratch root (from the
   model's table of DevStack's definitions, which tests check against ``lib/``);
6. ``merge_config_group local.conf <phase>`` for every phase, in stack.sh's order.

It reports what DevStack ended up with: the variables asked for, ENABLED_SERVICES,
DISABLED_SERVICES, the plugins recorded by DevStack's real ``enable_plugin``, every header with
the file DevStack resolved it to, and the merged INI files. A ``command_not_found_handle``
canary records any command a value made bash try to run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from project import PROJECT

from devstack_salt import devstack_facts, shell

MIRROR = Path(os.environ.get("DEVSTACK_MIRROR_TAR", os.path.join(os.path.dirname(PROJECT), "shared", "mirrors",
                                                                    "openstack-git.tar")))
#: What stackrc defines before it sources localrc (stackrc: DEST, DATA_DIR, REGION_NAME).
EARLY = {"DEST": "/opt/stack", "DATA_DIR": "/opt/stack/data", "REGION_NAME": "RegionOne"}
#: What local.conf's post-config values may refer to in these tests, as the judge defines them.
MERGE_TIME = {"HOST_IP": "192.0.2.10", "SERVICE_HOST": "192.0.2.11"}

#: gawk's warning about DevStack's own merge program (``/^ *\\#/``): DevStack's, not ours.
GAWK_WARNING = re.compile(r"^awk: cmd\. line:\d+: warning: regexp escape sequence `\\#' is not a known regexp operator$")

HARNESS = r"""
_judge_top=$JUDGE_TOP _judge_cwd=$JUDGE_CWD _judge_canary=$JUDGE_CANARY _judge_env=$JUDGE_FILE_ENV
_judge_names=$JUDGE_VARIABLES _judge_merge_names=$JUDGE_MERGE_NAMES
unset JUDGE_TOP JUDGE_CWD JUDGE_CANARY JUDGE_FILE_ENV JUDGE_VARIABLES JUDGE_MERGE_NAMES
exec 3>&1 1>>"$_judge_top/devstack.out"
command_not_found_handle() { printf '%s\n' "$1" >> "$_judge_canary"; return 127; }
_judge_report() { printf '%s\0' "$@" >&3; }

# stack.sh, in its order
TOP_DIR=$_judge_top
cd "$TOP_DIR"
source "$TOP_DIR/functions"
source "$TOP_DIR/lib/stack"
# GetDistro (stack.sh runs it here) asks lsb_release about the host: left out, nothing below needs it.
rm -f "$TOP_DIR/.localrc.auto"
extract_localrc_section "$TOP_DIR/local.conf" "$TOP_DIR/localrc" "$TOP_DIR/.localrc.auto"
source "$TOP_DIR/judge-stackrc"
disable_negated_services

for _judge_name in $_judge_names; do
    if [[ -v $_judge_name ]]; then _judge_report "=${!_judge_name}"; else _judge_report "-"; fi
done
_judge_report "$ENABLED_SERVICES" "${DISABLED_SERVICES-}" "$DEVSTACK_PLUGINS"
for _judge_plugin in ${DEVSTACK_PLUGINS//,/ }; do
    _judge_report "$_judge_plugin" "${GITREPO[$_judge_plugin]}" "${GITBRANCH[$_judge_plugin]}"
done
_judge_report "--"

# What lib/* defines after localrc, rooted in the scratch directory; merge_config_group creates
# missing directories with sudo (run as is, without changing owners).
source "$_judge_env"
for _judge_name in $_judge_merge_names; do _judge_report "${!_judge_name-}"; done
sudo() { [[ $1 == chown ]] || "$@"; }
cd "$_judge_cwd"
for _judge_group in post-config extra post-extra test-config; do
    merge_config_group "$TOP_DIR/local.conf" $_judge_group
done
for _judge_group in post-config extra post-extra test-config; do
    for _judge_file in $(get_meta_section_files "$TOP_DIR/local.conf" $_judge_group); do
        _judge_report "$_judge_group" "$_judge_file" "$(eval "echo $_judge_file")"
    done
done
"""


def clone_devstack(base: Path) -> Path:
    """Extract the mirror under ``base`` and clone DevStack from it; return the work tree."""
    with tarfile.open(MIRROR) as tar:
        # filter= exists from Python 3.11.4 on; Debian 12's python3 is 3.11.2.
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(base / "mirror", **extra)
    tree = base / "devstack"
    subprocess.run(["git", "clone", "--quiet", str(base / "mirror" / "openstack" / "devstack.git"), str(tree)],
                   check=True, capture_output=True)
    return tree


def stackrc_until_localrc(tree: Path) -> str:
    """DevStack's stackrc up to the ``fi`` that ends the block sourcing ``.localrc.auto``."""
    lines = (tree / "stackrc").read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if "source $RC_DIR/.localrc.auto" in line)
    end = next(i for i in range(start, len(lines)) if lines[i] == "fi")
    return "\n".join(lines[:end + 1]) + "\n"


def parse_ini(text: str) -> dict[str, dict[str, list[str]]]:
    """An INI file as DevStack's iniset writes it: {section: {option: [values in file order]}}."""
    result: dict[str, dict[str, list[str]]] = {}
    section = None
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("[") and line.endswith("]"):
            section = result.setdefault(line[1:-1], {})
            continue
        option, sep, value = line.partition(" = ")
        if not sep and line.endswith(" ="):
            option, value = line[:-2], ""
        assert sep or line.endswith(" ="), f"not an iniset line: {line!r}"
        assert section is not None, f"option before any section: {line!r}"
        section.setdefault(option, []).append(value)
    return result


@dataclasses.dataclass
class Reading:
    """What DevStack made of a local.conf."""

    variables: dict[str, str | None]
    merge_env: dict[str, str]
    enabled_services: list[str]
    disabled_services: list[str]
    plugins: list[tuple[str, str, str]]
    headers: list[tuple[str, str, str]]
    files: dict[str, dict[str, dict[str, list[str]]]]
    stderr: str
    canary: list[str]
    cwd_left: list[str]

    def merged(self, phase: str, header: str) -> dict[str, dict[str, list[str]]] | None:
        """The merged content of the file DevStack resolved ``header`` (of ``phase``) to."""
        for group, name, resolved in self.headers:
            if (group, name) == (phase, header):
                return self.files.get(resolved)
        return None


class Judge:
    """Runs DevStack's real parsing and merge code on local.conf text (see the module docstring)."""

    def __init__(self, tree: Path, base: Path):
        self.tree = tree
        self.top = base / "top"
        self.top.mkdir()
        for entry in os.listdir(tree):
            if entry != ".git":
                os.symlink(tree / entry, self.top / entry)
        (self.top / "judge-stackrc").write_text(stackrc_until_localrc(tree))
        self.root = base / "root"
        self.file_env = base / "file-variables.sh"
        self.file_env.write_text("".join(f"{name}={shell.shell_quote(value)}\n"
                                         for name, value in self.file_variables().items()))

    def file_variables(self) -> dict[str, str]:
        """DevStack's config-file variables (the model's table), rooted in the scratch root."""
        rooted = {}
        for name in devstack_facts.KNOWN_FILE_VARIABLES:
            value = devstack_facts.resolve_file_variable(name, {"DEST": EARLY["DEST"]})
            rooted[name] = (str(self.root) + value) if value.startswith("/") else str(self.root).lstrip("/") + "/" + value
        return {**rooted, **MERGE_TIME}

    def read(self, local_conf: str, variables=(), merge_names=(), seed=None) -> Reading:
        """Run DevStack on ``local_conf`` (text) and report what it made of it: the values of
        ``variables`` after localrc, and of ``merge_names`` when the merge starts. ``seed``:
        {file variable: text} the files hold before the merge (a stacked node's files)."""
        if self.root.exists():
            shutil.rmtree(self.root)
        cwd = self.root / "cwd"
        cwd.mkdir(parents=True)
        for variable, text in (seed or {}).items():
            path = Path(self.file_variables()[variable])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        canary = self.root / "canary"
        canary.write_text("")
        for leftover in ("localrc", ".localrc.auto", "devstack.out"):
            (self.top / leftover).unlink(missing_ok=True)
        (self.top / "local.conf").write_text(local_conf)
        variables, merge_names = list(variables), sorted(set(merge_names))
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(self.root), "LC_ALL": "C.UTF-8",
               "JUDGE_TOP": str(self.top), "JUDGE_CWD": str(cwd), "JUDGE_CANARY": str(canary),
               "JUDGE_FILE_ENV": str(self.file_env), "JUDGE_VARIABLES": " ".join(variables),
               "JUDGE_MERGE_NAMES": " ".join(merge_names)}
        proc = subprocess.run(["/bin/bash", "--noprofile", "--norc", "-c", HARNESS], env=env, capture_output=True,
                              timeout=60)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        fields = proc.stdout.decode().split("\0")[:-1]
        values = {name: (field[1:] if field.startswith("=") else None) for name, field in zip(variables, fields)}
        rest = fields[len(variables):]
        enabled, disabled, plugin_list = rest[:3]
        rest = rest[3:]
        plugins = []
        for _ in filter(None, plugin_list.split(",")):
            plugins.append(tuple(rest[:3]))
            rest = rest[3:]
        assert rest[0] == "--", rest
        merge_env = dict(zip(merge_names, rest[1:]))
        rest = rest[1 + len(merge_names):]
        headers = [tuple(rest[i:i + 3]) for i in range(0, len(rest), 3)]
        files = {}
        for _, _, resolved in headers:
            path = Path(resolved if resolved.startswith("/") else cwd / resolved)
            if path.is_file():
                files[resolved] = parse_ini(path.read_text())
        return Reading(
            variables=values,
            merge_env=merge_env,
            enabled_services=[s for s in enabled.split(",") if s],
            disabled_services=[s for s in disabled.split(",") if s],
            plugins=plugins,
            headers=headers,
            files=files,
            stderr="".join(line for line in proc.stderr.decode(errors="replace").splitlines(keepends=True)
                           if not GAWK_WARNING.search(line)),
            canary=canary.read_text().split(),
            cwd_left=sorted(os.listdir(cwd)),
        )


# --------------------------------------------------------------------------------------------
# What the pillar's model says DevStack should end up with
# --------------------------------------------------------------------------------------------


def intended_value(localrc: dict, name: str, early: dict[str, str] = EARLY) -> str:
    """The value bash must give ``name`` after sourcing the localrc the model renders."""
    value = localrc[name]
    if not isinstance(value, dict):
        return value
    parts = [("ref", value["ref"])] if "ref" in value else shell.template_parts(value["expand"])
    return "".join(text if kind == "lit" else (intended_value(localrc, text, early) if text in localrc else early[text])
                   for kind, text in parts)


def config_refs(model: dict) -> set[str]:
    """The variables the model's post-config values refer to (DevStack expands them at merge time)."""
    return {text for files in model["config"].values() for sections in files.values()
            for options in sections.values() for value in options.values()
            for item in (value if isinstance(value, list) else [value])
            for kind, text in shell.config_value_parts(item) if kind == "ref"}


def intended_option(value: str, env: dict[str, str]) -> str:
    """A post-config value after DevStack's merge: $NAME expanded from ``env``, $$ a literal dollar."""
    return "".join(env[text] if kind == "ref" else text for kind, text in shell.config_value_parts(value))


def intended_files(model: dict, env: dict[str, str]) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Per header identity, the merged content (phases in stack.sh's order; a later phase wins
    per option), with ``env`` the variables at merge time."""
    files: dict[str, dict[str, dict[str, list[str]]]] = {}
    for phase in devstack_facts.PHASES:
        for header, sections in model["config"].get(phase, {}).items():
            merged = files.setdefault(devstack_facts.header_identity(header), {})
            for section, options in sections.items():
                for option, value in options.items():
                    items = value if isinstance(value, list) else [value]
                    merged.setdefault(section, {})[option] = [intended_option(v, env) for v in items]
    return files
