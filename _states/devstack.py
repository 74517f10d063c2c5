"""
States for DevStack nodes. ``devstack.local_conf`` writes local.conf from the devstack pillar;
``devstack.stacked`` runs stack.sh when it must (or changes post-config in place);
``devstack.repositories_trusted`` makes the stack user trust exactly the local repositories
stack.sh clones; ``devstack.valid`` is the gate that validates the pillar first.

The model, validation, rendering and file handling live in ``_utils/devstack_salt``
(``localconf``, ``localconf_text``); this state and the ``devstack`` execution module call the
same functions, so ``salt-call devstack.plan`` and the state can never disagree. The path, owner
and mode of ``local_conf`` come from the SLS, never from a remote caller.
Errors are caught by their class (``devstack_salt.errors``): an invalid pillar or a missing
checkout fails the state with its message; anything else is Salt's to report.
"""

import pwd

from salt.exceptions import CommandExecutionError

from devstack_salt import localconf_text
from devstack_salt.errors import DevstackSaltError
from devstack_salt.faces import devstack_model, state_virtual

__virtualname__ = "devstack"


def __virtual__():
    """Available when the devstack execution module (this project's _modules) is synced."""
    return state_virtual(__salt__, "devstack.plan", __virtualname__)  # noqa: F821 - Salt dunder


def valid(name, pillar_key="devstack"):
    """
    Check the devstack pillar (the node's settings and its local.conf model) and change nothing;
    states that require this one do not run when it fails, so an invalid pillar changes nothing.
    It calls ``devstack.validate``, so the gate and the module can never disagree.

    .. code-block:: yaml

        devstack-pillar:
          devstack.valid:
            - pillar_key: devstack
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    checked = __salt__["devstack.validate"](pillar_key=pillar_key)
    if not checked["valid"]:
        ret["comment"] = "\n".join([f"the {pillar_key} pillar is invalid, so nothing was changed:"]
                                   + [f"- {error}" for error in checked["errors"]])
        return ret
    ret["result"] = True
    ret["comment"] = f"the {pillar_key} pillar is valid"
    return ret


def repositories_trusted(name, pillar_key="devstack"):
    """
    The stack user ``name`` trusts exactly the local git repositories the pillar names
    (``devstack.local_repositories``: a file:// ``repo``, plugins, ``*_REPO`` variables, the
    repositories below a local ``GIT_BASE``) and no other: git's ``safe.directory`` in the
    user's own ``~/.gitconfig``, through Salt's git module as that user. git refuses to clone a
    repository another user owns (a mirror of root's), and DevStack's checkout and every clone
    of stack.sh run as the stack user. ``test=True`` predicts the change, also before the user
    exists.

    .. code-block:: yaml

        devstack-trusted-repositories:
          devstack.repositories_trusted:
            - name: stack
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        wanted = __salt__["devstack.local_repositories"](pillar_key=pillar_key)  # noqa: F821
    except DevstackSaltError as exc:
        ret["comment"] = str(exc)
        return ret
    try:
        pwd.getpwnam(name)
    except KeyError:
        current = None
        if not __opts__["test"]:  # noqa: F821
            ret["comment"] = f"the user {name} does not exist: the devstack role creates it first"
            return ret
    else:
        try:
            current = __salt__["git.config_get"]("safe.directory", user=name, ignore_retcode=True,  # noqa: F821
                                                 **{"global": True, "all": True})
        except CommandExecutionError as exc:
            ret["comment"] = f"cannot read {name}'s git safe.directory: {exc}"
            return ret
    current = list(current or [])
    if current == wanted:
        ret.update(result=True, comment=f"{name} trusts {', '.join(wanted) or 'no local repository'}")
        return ret
    ret["changes"] = {"safe.directory": {"old": current, "new": wanted}}
    if __opts__["test"]:  # noqa: F821
        ret.update(result=None, comment=f"{name} would trust exactly: {', '.join(wanted) or 'no local repository'}")
        return ret
    try:
        if wanted:
            __salt__["git.config_set"]("safe.directory", multivar=wanted, user=name, **{"global": True})  # noqa: F821
        else:
            __salt__["git.config_unset"]("safe.directory", user=name, **{"global": True, "all": True})  # noqa: F821
        now = list(__salt__["git.config_get"]("safe.directory", user=name, ignore_retcode=True,  # noqa: F821
                                              **{"global": True, "all": True}) or [])
    except CommandExecutionError as exc:
        ret.update(changes={}, comment=f"cannot set {name}'s git safe.directory: {exc}")
        return ret
    if now != wanted:
        ret.update(changes={}, comment=f"{name}'s safe.directory is {now} after the change, not {wanted}")
        return ret
    ret.update(result=True, comment=f"{name} trusts exactly: {', '.join(wanted) or 'no local repository'}")
    return ret


def local_conf(name, user="stack", group=None, mode="0600", pillar_key="devstack", config=None):
    """
    Write DevStack's local.conf at ``name`` from the pillar under ``pillar_key``.

    The file is written only when its content would change, atomically (temp file and rename),
    owned by ``user`` with ``mode``. ``changes`` is a semantic diff (variables, services, plugins,
    options) with every secret shown as ``<hidden>``. Invalid pillar fails with every problem
    named by its pillar path and leaves the existing file untouched.

    name
        Path of local.conf, e.g. /opt/stack/devstack/local.conf.
    user / group / mode
        Owner, group (default: the user's primary group) and mode of the file.
    pillar_key
        Where the node is described in pillar (default ``devstack``); errors name paths below it.
    config
        A model dict to use instead of the pillar (secrets in SLS data are discouraged).

    .. code-block:: yaml

        /opt/stack/devstack/local.conf:
          devstack.local_conf:
            - user: stack
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        model = _model(config, pillar_key)
        uid, gid = localconf_text.owner_ids(user, group)
        file_mode = localconf_text.parse_mode(mode)
        changes, rewrite = localconf_text.plan_file(name, model, uid, gid, file_mode)
    except DevstackSaltError as exc:
        ret["comment"] = str(exc)
        return ret
    if not changes:
        ret["result"] = True
        ret["comment"] = f"{name} is up to date"
        return ret
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = changes
        ret["comment"] = f"{name} would be {'written' if rewrite else 'given its owner and mode'}"
        return ret
    try:
        ret["changes"] = localconf_text.write_file(name, model, uid, gid, file_mode)
        after, _ = localconf_text.plan_file(name, model, uid, gid, file_mode)
    except (DevstackSaltError, OSError) as exc:
        ret["comment"] = f"writing {name} failed: {exc}"
        return ret
    if after:
        ret["comment"] = f"{name} still differs after writing: {sorted(after)}"
        return ret
    ret["result"] = True
    ret["comment"] = f"{name} {'written' if rewrite else 'owner and mode fixed'}"
    return ret


def _model(config, pillar_key):
    """The validated model of the pillar (or ``config``), exactly as the execution module has it."""
    return devstack_model(__salt__, __opts__.get("id"), config, pillar_key)  # noqa: F821 - Salt dunders


def _reconfigured(ret, run):
    ret["changes"] = {"in place": {"merged": run["options"], "restarted": run["restarted"],
                                   "seconds": run["seconds"]}}
    if run["result"]:
        ret["result"] = True
        ret["comment"] = (f"changed in place in {run['seconds']} s, without stack.sh: {'; '.join(run['reasons'])}"
                          + (f"; restarted {', '.join(run['restarted'])}" if run["restarted"] else ""))
    else:
        ret["comment"] = ("a service did not answer after its restart for the in-place change: the files were "
                          f"put back and the next apply tries again:\n{run.get('tail', '')}")
    return ret


def stacked(name, force=False, pillar_key="devstack"):
    """
    Run DevStack's stack.sh on this node when, and only when, it is needed.

    It runs when the node was never stacked by this role, the last run did not succeed, the
    *meaning* of local.conf changed (not its bytes, order or comments), the DevStack checkout
    moved to another commit, ``devstack:ref`` or ``devstack:repo`` changed, or ``force`` is true.
    A change only to options of post-config, post-extra or test-config files that exist on the
    node is made in place instead: those options merged the way DevStack merges them, and only
    the units reading those files restarted. What was stacked is recorded in a stamp under
    /var/lib/devstack-salt. With ``devstack:stack: false`` in pillar the state does nothing and
    says so. ``test=True`` says whether it would stack and why. A failed, prompting or timed-out
    run returns ``result: False`` with the last log lines (secrets masked); the next apply retries.

    name
        The DevStack checkout (informational; the paths come from pillar).

    .. code-block:: yaml

        /opt/stack/devstack:
          devstack.stacked: []
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        plan = __salt__["devstack.stack_plan"](force=force, pillar_key=pillar_key)
        if not plan["enabled"]:
            ret["result"] = True
            ret["comment"] = (
                f"skipped: stacking is off ({pillar_key}:stack is false), so stack.sh did not run; "
                f"set {pillar_key}:stack: true to clone DevStack and stack (Vagrant does)"
            )
            return ret
        if not plan["needed"]:
            ret["result"] = True
            ret["comment"] = "DevStack is stacked and up to date with local.conf and the checkout"
            return ret
        if __opts__["test"]:
            ret["result"] = None
            if plan["action"] == "in-place":
                ret["changes"] = {"in place": {"would_merge": plan["options"], "would_restart": plan["units"]}}
                ret["comment"] = ("would change in place, without stack.sh: " + "; ".join(plan["reasons"])
                                  + (f"; and restart {', '.join(plan['units'])}" if plan["units"] else ""))
                return ret
            ret["changes"] = {"stack.sh": {"would_run_because": plan["reasons"]}}
            ret["comment"] = "stack.sh would run: " + "; ".join(plan["reasons"])
            return ret
        run = __salt__["devstack.stack"](force=force, pillar_key=pillar_key)
    except DevstackSaltError as exc:
        ret["comment"] = str(exc)
        return ret
    if run["outcome"] in ("reconfigured", "restart-failed") and "options" in run:
        return _reconfigured(ret, run)
    ret["changes"] = {"stack.sh": {"ran_because": run["reasons"], "outcome": run["outcome"],
                                   "seconds": run["seconds"], "commit": run["commit"], "log": run["log"]}}
    if run.get("restarted"):
        ret["changes"]["restarted"] = run["restarted"]
    if run["result"]:
        ret["result"] = True
        ret["comment"] = f"stack.sh succeeded in {run['seconds']} s"
        if run.get("restarted"):
            ret["comment"] += "; restarted for the merged post-config: " + ", ".join(run["restarted"])
        if run.get("not_restarted"):
            ret["comment"] += ("; no unit is known for " + ", ".join(run["not_restarted"])
                               + ": restart what reads them for their options to take effect")
        if run.get("unmatched"):
            ret["comment"] += ("; no running unit matches " + ", ".join(run["unmatched"])
                               + ": name the units that read those files for their options to take effect")
    else:
        what = {"failed": "stack.sh failed", "prompted": "stack.sh stopped: it prompted for input",
                "timeout": f"stack.sh stopped: it ran past {pillar_key}:stack_timeout",
                "restart-failed": "stack.sh succeeded, but a service did not answer after its restart for "
                                  "the merged post-config"}[run["outcome"]]
        ret["comment"] = f"{what} (the next apply retries). Last lines of {run['log']}:\n{run.get('tail', '')}"
    return ret
