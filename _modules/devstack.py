"""
The ``devstack`` execution module: DevStack's local.conf from the ``devstack`` pillar (validate,
render, parse, import, explain, diff, plan, write), the local repositories stack.sh clones
(local_repositories), and the node's stack.sh runs (stack_plan, stack, unstack, status).

A thin Salt face: it reads pillar (unmasked, and never returned unmasked unless asked) and the
mine, and calls the logic in ``_utils/devstack_salt``: :mod:`~devstack_salt.localconf` (the
model), :mod:`~devstack_salt.localconf_text` (its text and file), :mod:`~devstack_salt.stack_runner`
(stack.sh and the node's health). Every function here is meant to be called remotely; errors are
:mod:`devstack_salt.errors` classes, whose message ``salt-call`` prints.
"""

from __future__ import annotations

import os
from typing import Any

from devstack_salt import files, localconf, localconf_text, stack_runner
from devstack_salt.local_repositories import trusted as local_repositories_of
from devstack_salt.errors import ArgumentError, DevstackSaltError, LocalConfError
from devstack_salt.faces import (devstack_lookup, devstack_model, devstack_node, flag, pillar_key as checked_key,
                                 pillar_value, verdict)

__virtualname__ = "devstack"
__func_alias__ = {"import_": "import"}


def __virtual__():
    """Always available: the model needs nothing beyond the Python standard library and PyYAML."""
    return __virtualname__


def _node(config: Any, pillar_key: str) -> tuple[dict, dict]:
    """(settings, model) of the node described in pillar (or ``config``), validated."""
    return devstack_node(__salt__, __opts__.get("id"), config, pillar_key)  # noqa: F821 - Salt dunders


def _model(config: Any, pillar_key: str) -> dict:
    """The validated model of the pillar under ``pillar_key`` (or of ``config``)."""
    return devstack_model(__salt__, __opts__.get("id"), config, pillar_key)  # noqa: F821 - Salt dunders


def validate(config=None, pillar_key="devstack"):
    """
    Check the devstack pillar (or ``config``) without writing anything.

    Returns ``{"valid": bool, "errors": [...]}``; each error names its pillar path and the fix.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.validate
    """
    return verdict(_model, config, pillar_key)


def render(config=None, pillar_key="devstack", reveal=False):
    """
    Render local.conf from the devstack pillar (or ``config``). Secrets show as ``<hidden>``
    unless ``reveal=True``.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.render --out=newline_values_only
    """
    reveal = flag(reveal, "reveal")
    model = _model(config, pillar_key)
    return localconf_text.render_model(model if reveal else localconf.mask_model(model))


def parse(path=None, text=None, reveal=False):
    """
    Parse an existing local.conf (``path``) or local.conf ``text`` into the model, with
    DevStack's own reading rules. Secrets show as ``<hidden>`` unless ``reveal=True``.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.parse /opt/stack/devstack/local.conf
    """
    if (path is None) == (text is None):
        raise DevstackSaltError("give exactly one of path or text")
    reveal = flag(reveal, "reveal")
    model, warnings = localconf_text.parse_text(localconf_text.read_file(path) if path is not None else text)
    return {"model": model if reveal else localconf.mask_model(model), "warnings": warnings}


def import_(path, dest=None, pillar_key="devstack", reveal=False):
    """
    Turn an existing local.conf into pillar YAML you can paste under your pillar tree.

    With ``dest`` (a file name), the full YAML (secrets included) is written to that new file in
    ``/var/lib/devstack-salt/imports`` (root, 0600; the minion option ``devstack_salt_import_dir``
    moves it) and a masked copy is returned; without it, secrets show as ``<hidden>`` unless
    ``reveal=True``.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.import /opt/stack/devstack/local.conf dest=devstack.sls
    """
    pillar_key, reveal = checked_key(pillar_key), flag(reveal, "reveal")
    model, warnings = localconf_text.parse_text(localconf_text.read_file(path))
    if dest is not None:
        files.write_text(_import_target(dest), localconf_text.import_yaml(model, pillar_key), 0o600)
    text = localconf_text.import_yaml(model if reveal else localconf.mask_model(model), pillar_key)
    if warnings:
        text = "".join(f"# warning: {w}\n" for w in warnings) + text
    return text


#: Where ``devstack.import dest=NAME`` writes (root only); the minion option
#: ``devstack_salt_import_dir`` moves it.
IMPORT_DIR = "/var/lib/devstack-salt/imports"


def _import_target(dest: Any) -> str:
    """``dest`` as a new file in the import folder: a remote caller names a file, never a path,
    and never one that exists (nothing is overwritten)."""
    if not isinstance(dest, str) or not dest or "/" in dest or "\0" in dest or dest in (".", "..") \
            or len(dest.encode()) > 255:
        raise ArgumentError(f"dest must be a file name (written under {IMPORT_DIR}), not {dest!r:.60}")
    folder = __opts__.get("devstack_salt_import_dir", IMPORT_DIR)  # noqa: F821 - Salt dunder
    os.makedirs(folder, mode=0o700, exist_ok=True)
    target = os.path.join(folder, dest)
    if os.path.lexists(target):
        raise DevstackSaltError(f"{target} exists: give another dest (an import never overwrites a file)")
    return target


def explain(config=None, pillar_key="devstack", path=None):
    """
    Tell what DevStack will do with the pillar (or with the local.conf at ``path``): the
    effective enabled services, plugins in the order they are enabled, variables in assignment
    order, passwords stack.sh would prompt for, and any problems.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.explain
        salt-call devstack.explain path=/opt/stack/devstack/local.conf
    """
    pillar_key = checked_key(pillar_key)
    if path is not None:
        model, warnings = localconf_text.parse_text(localconf_text.read_file(path))
        problems = localconf.check(model, path)
    else:
        raw = pillar_value(__salt__["pillar.get"], pillar_key, LocalConfError) if config is None else config  # noqa: F821
        warnings = []
        try:
            model, problems = localconf.build(raw, pillar_key, devstack_lookup(__salt__, __opts__.get("id"))), []  # noqa: F821
        except LocalConfError as exc:
            problems = exc.errors
            try:
                model = localconf.normalize(raw, pillar_key)
            except LocalConfError:
                return {"problems": problems, "warnings": warnings}
    result = localconf.explain_model(localconf.mask_model(model))
    result["problems"] = problems
    result["warnings"] = warnings
    return result


def diff(path, config=None, pillar_key="devstack"):
    """
    The semantic difference between the local.conf at ``path`` and the pillar: variables,
    services, plugins and options added, removed or changed, secrets masked. Empty when the
    meaning is the same (comments and order do not count).

    CLI Example:

    .. code-block:: bash

        salt-call devstack.diff /opt/stack/devstack/local.conf
    """
    model = _model(config, pillar_key)
    text = localconf_text.read_file(path, missing_ok=True)
    old = localconf_text.parse_text(text)[0] if text is not None else None
    return localconf.semantic_diff(old, model)


def plan(pillar_key="devstack"):
    """
    What writing the node's local.conf (``devstack:local_conf``, owned by ``devstack:user``,
    mode 0600) would change: ``{"changes": {...}, "rewrite": bool}``, secrets masked. Changes
    nothing. (The ``devstack.local_conf`` state writes other paths, owners and modes: an SLS
    says so, not a remote caller.)

    CLI Example:

    .. code-block:: bash

        salt-call devstack.plan
    """
    cfg, model = _node(None, pillar_key)
    uid, gid = localconf_text.owner_ids(cfg["user"], None)
    changes, rewrite = localconf_text.plan_file(cfg["local_conf"], model, uid, gid, 0o600)
    return {"changes": changes, "rewrite": rewrite}


def stack_plan(force=False, config=None, pillar_key="devstack"):
    """
    What the next apply would do to the node, and why, changing nothing:
    ``{"enabled": bool (devstack:stack), "needed": bool, "action": "none" | "in-place" |
    "restack", "reasons": [...]}``, and for ``in-place`` the ``options`` (file, section, option)
    it would merge and the ``units`` it would restart.

    A change confined to the options of post-config, post-extra and test-config files on the
    node is made in place in seconds; anything else (services, plugins, localrc, a file not on
    the node, a file with no known unit, never stacked, a failed last run, a moved checkout,
    a changed ``devstack:ref`` or ``devstack:repo``, ``force``) runs stack.sh.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.stack_plan
    """
    force = flag(force, "force")
    cfg, model = _node(config, pillar_key)
    if not cfg["stack"]:
        return {"enabled": False, "needed": False, "action": "none", "reasons": []}
    change = stack_runner.change_plan(cfg, model, force)
    plan = {"enabled": True, "needed": change["action"] != "none", "action": change["action"],
            "reasons": change["reasons"]}
    if change["action"] == "in-place":
        plan.update(options=change["options"], units=change["units"])
    return plan


def stack(force=False, pillar_key="devstack"):
    """
    Bring the node up to date with local.conf (see ``stack_plan``): merge a post-config-only
    change in place and restart the units reading those files, or run stack.sh as the stack user
    (always with ``force=True``). Never hangs: stdin is closed, a prompt stops the run, and
    ``devstack:stack_timeout`` bounds it. Output goes to ``<dest>/logs/salt-stack-run.log``
    (DevStack writes its own ``LOGFILE`` too); follow it there or with ``devstack.status``.
    Returns the outcome, the reasons and, on failure, the last log lines with secrets masked.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.stack
        salt-call devstack.stack force=True
    """
    force = flag(force, "force")
    cfg, model = _node(None, pillar_key)
    return stack_runner.stack_node(cfg, model, force)


def unstack(clean=False, pillar_key="devstack"):
    """
    Run unstack.sh (``clean=True``: clean.sh) as the stack user; the next apply stacks again.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.unstack
        salt-call devstack.unstack clean=True
    """
    clean = flag(clean, "clean")
    cfg, model = _node(None, pillar_key)
    return stack_runner.unstack_node(cfg, model, clean)


def status(config=None, pillar_key="devstack"):
    """
    The node at a glance: the stack user and local.conf, the checkout (commit), the last stack
    run (time, result, log), whether local.conf's meaning or the checkout changed since, a run
    in progress (with its latest log line), and on a stacked node the health of Keystone, the
    Swift proxy, the database and RabbitMQ.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.status
    """
    cfg, model = _node(config, pillar_key)
    return stack_runner.node_status(cfg, model)


def write(pillar_key="devstack"):
    """
    Write the node's local.conf (``devstack:local_conf``) from the pillar if its content, owner
    or mode differ: atomically (temp file and rename), owned by ``devstack:user``, mode 0600.
    Returns the masked changes (empty when nothing was done).

    CLI Example:

    .. code-block:: bash

        salt-call devstack.write
    """
    cfg, model = _node(None, pillar_key)
    uid, gid = localconf_text.owner_ids(cfg["user"], None)
    return localconf_text.write_file(cfg["local_conf"], model, uid, gid, 0o600)


def local_repositories(pillar_key="devstack"):
    """
    The git repositories on this host that the node's pillar names (the checkout's ``repo``,
    plugins' URLs, the repositories below a local ``GIT_BASE``): the stack user's git trusts
    exactly these (``safe.directory``), so DevStack clones from a mirror another user owns.
    Empty when everything comes from remote URLs.

    CLI Example:

    .. code-block:: bash

        salt-call devstack.local_repositories
    """
    cfg, model = _node(None, pillar_key)
    return local_repositories_of(cfg, model)
