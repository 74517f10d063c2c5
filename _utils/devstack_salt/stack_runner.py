"""
The stack runner: what the next apply does to a stacked node and doing it, recorded in a stamp.
stack.sh, unstack.sh and clean.sh run as the stack user without ever hanging, with the masked
log tail; or a change confined to post-config options made in place (``reconfigure`` plans and
edits, ``node_units`` restarts what reads the files); the stamp records what was stacked, and so
whether to stack again.

The stamp and the progress record go through :mod:`devstack_salt.files`. The settings (``cfg``)
come from :func:`devstack_salt.localconf.node_settings`, the model from
:func:`devstack_salt.localconf.build`.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import select
import signal
import stat
import subprocess
import time
from typing import Any, Iterable

from . import files, node_health, node_units, reconfigure
from .errors import CommandFailed, LocalConfError, PillarError
from .localconf import MASK, meaning_digest, resolve_literal, scrub_text, secret_values

#: Console output that means stack.sh (or sudo) is waiting for an answer that never comes.
PROMPT_RE = re.compile(rb"Enter a password now:|\[sudo\] password for|Password:\s*$", re.M)
#: URL_CREDENTIALS_RE for the raw bytes of a script's output.
URL_CREDENTIALS_RE_BYTES = re.compile(rb"(://[^:/@\s]*:)[^@\s]*@")


def checkout_commit(directory: str) -> str | None:
    """The commit checked out in a git work tree, or None."""
    try:
        proc = subprocess.run(
            ["git", "-c", f"safe.directory={directory}", "-C", directory, "rev-parse", "HEAD"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


#: The reason a changed model gives; only this one may be satisfied in place (``reconfigure``).
MEANING_CHANGED = "the meaning of local.conf changed since the last stack"


def stack_reasons(cfg: dict, model: dict, force: bool = False) -> list[str]:
    """Why stack.sh must run now (empty: it need not). Reads the stamp and the checkout."""
    stamp = files.read_json(cfg["stamp"])
    reasons = []
    if force:
        reasons.append("asked explicitly (force)")
    if stamp is None:
        reasons.append("never stacked by this role")
        return reasons
    if stamp.get("result") != "success":
        reasons.append(f"the last run did not succeed ({stamp.get('result')})")
    if stamp.get("meaning") != meaning_digest(model):
        reasons.append(MEANING_CHANGED)
    # git.latest moves the checkout only in a real run: under test=True the commit is still the
    # stacked one, so a changed devstack:ref or devstack:repo must show by itself. A stamp written
    # before they were recorded has neither: there the commit alone decides, as it did then.
    for key in ("repo", "ref"):
        if stamp.get(key) is not None and cfg.get(key) is not None and stamp[key] != cfg[key]:
            reasons.append(scrub_text(model, f"the {key} changed from {stamp[key]} to {cfg[key]}"))
    commit = checkout_commit(cfg["devstack_dir"])
    if stamp.get("commit") != commit:
        reasons.append(f"the DevStack checkout moved from {str(stamp.get('commit'))[:12]} to {str(commit)[:12]}")
    return reasons


def _user_env(entry: pwd.struct_passwd) -> dict[str, str]:
    """A clean environment for the stack user: nothing of Salt's (and no secret) leaks in."""
    return {
        "HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name, "SHELL": "/bin/bash",
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "dumb",
    }


def run_script(cfg: dict, script: str, timeout: int, log_path: str, progress: str | None = None,
               secrets: Iterable[str] = ()) -> dict:
    """Run a DevStack script (stack.sh, unstack.sh, clean.sh) as the stack user, never hanging.

    stdin is /dev/null, the environment is clean, and the whole process group is stopped when it
    prompts (a password or sudo prompt) or runs past ``timeout``. Output reaches ``log_path``
    (0600) line by line with every one of ``secrets`` masked: DevStack traces each command
    (``set -o xtrace``), passwords included.
    Returns {"returncode", "outcome" (success, failed, prompted, timeout), "seconds"}.
    """
    entry = pwd.getpwnam(cfg["user"])
    groups = [g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem]
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    os.chown(os.path.dirname(log_path), entry.pw_uid, entry.pw_gid)
    masks = [(secret.encode(), MASK.encode()) for secret in secrets if secret]
    started = time.time()
    log = files.open_log(log_path, entry.pw_uid, entry.pw_gid, 0o600)

    def write(data: bytes) -> None:
        data = URL_CREDENTIALS_RE_BYTES.sub(rb"\1" + MASK.encode() + b"@", data)
        for secret, mask in masks:
            data = data.replace(secret, mask)
        log.write(data)
        log.flush()

    try:
        proc = subprocess.Popen(
            ["/bin/bash", f"./{script}"], cwd=cfg["devstack_dir"], env=_user_env(entry),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            user=entry.pw_uid, group=entry.pw_gid, extra_groups=groups,
        )
    except BaseException:
        log.close()
        raise
    if progress:
        files.write_json(progress, {"pid": proc.pid, "script": script, "started": started, "log": log_path})
    out = proc.stdout.fileno()
    os.set_blocking(out, False)
    outcome, tail, pending, closed_at = None, b"", b"", None
    try:
        while True:
            ready, _, _ = select.select([out], [], [], 0.2)
            chunk = b""
            if ready:
                try:
                    chunk = os.read(out, 65536)
                except BlockingIOError:
                    chunk = b""
                else:
                    if not chunk:
                        break  # every writer closed the pipe
            tail = (tail + chunk)[-4096:]
            pending += chunk
            if b"\n" in pending:
                complete, pending = pending.rsplit(b"\n", 1)
                write(complete + b"\n")
            if PROMPT_RE.search(tail):
                outcome = "prompted"
            elif time.time() - started > timeout:
                outcome = "timeout"
            if outcome:
                _stop_group(proc)
                break
            if proc.poll() is not None:  # a daemon the script left may hold the pipe open
                closed_at = closed_at or time.time()
                if time.time() - closed_at > 5:
                    break
    finally:
        if pending:
            write(pending)
        log.close()
        proc.stdout.close()
        if progress:
            try:
                os.unlink(progress)
            except FileNotFoundError:
                pass
    proc.wait()
    if outcome is None:
        outcome = "success" if proc.returncode == 0 else "failed"
    return {"returncode": proc.returncode, "outcome": outcome, "seconds": round(time.time() - started, 1)}


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is left after 5 s."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.time() + grace
        while time.time() < deadline:
            if proc.poll() is not None:
                try:
                    os.killpg(proc.pid, 0)
                except ProcessLookupError:
                    return
            time.sleep(0.1)


def log_tail(cfg: dict, model: dict, lines: int = 20, since: float = 0.0) -> str:
    """The last lines of DevStack's LOGFILE (when set and written since ``since``) or of the
    runner's own log, with every secret of the model masked."""
    candidates = []
    logfile = resolve_literal(model["localrc"], "LOGFILE", {"DEST": cfg["dest"]})
    if logfile:
        candidates.append(logfile)
    candidates.append(cfg["run_log"])
    for path in candidates:
        try:
            if os.path.getmtime(path) >= since:
                with open(path, "rb") as handle:
                    handle.seek(max(0, os.path.getsize(path) - 65536))
                    text = handle.read().decode("utf-8", errors="replace")
                return scrub_text(model, "\n".join(text.splitlines()[-lines:]))
        except OSError:
            continue
    return ""


def change_plan(cfg: dict, model: dict, force: bool = False) -> dict:
    """What the next apply does to this node, and why: {"action": "none" | "in-place" |
    "restack", "reasons", and for in-place "options" (path [section] option), "units", "edits"}.
    Only a change confined to post-config, post-extra and test-config options of files on the
    node is made in place (``reconfigure``); anything else runs stack.sh."""
    reasons = stack_reasons(cfg, model, force)
    if not reasons:
        return {"action": "none", "reasons": []}
    if reasons != [MEANING_CHANGED]:
        return {"action": "restack", "reasons": reasons}
    change = reconfigure.plan(files.read_json(cfg["stamp"]), model, cfg["dest"], cfg.get("config_units"))
    if change["action"] == "restack":
        # More than options changed: the meaning says it all. Otherwise say what kept it from in place.
        extra = [reason for reason in change["reasons"] if reason != reconfigure.BEYOND_OPTIONS]
        return {"action": "restack", "reasons": reasons + extra}
    if change["action"] == "none":  # the same options, written another way (another phase): record it
        return {**change, "action": "in-place", "reasons": ["only the way local.conf says it changed"]}
    # A file whose units match no running unit would change with nothing reading it: a pillar
    # mistake when devstack:config_units names them (stack.sh would not help), a service that
    # is not running when they are DevStack's own (stack.sh starts what it enables).
    unmatched = node_units.unmatched_readers(change["readers"])
    mistakes = [f"{reader['key']}: {', '.join(reader['units'])} match no running unit on this node, so "
                f"{reader['path']} would change with no service reading it; name the units that read it "
                "(systemctl list-units 'devstack@*')" for reader in unmatched if reader["key"]]
    if mistakes:
        raise PillarError(mistakes)
    if unmatched:
        return {"action": "restack", "reasons": reasons + [
            f"{reader['path']}: no running unit matches {', '.join(reader['units'])}, DevStack's units for "
            f"{reader['header']}; stack.sh starts the services it enables" for reader in unmatched]}
    return change


def _write_keeping_owner(path: str, text: str) -> None:
    info = os.stat(path)
    files.atomic_write(path, text.encode(), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def reconfigure_node(cfg: dict, model: dict, change: dict) -> dict:
    """Merge the in-place ``change`` into its files, restart the units reading them, wait for the
    services, and record the model as stacked. When anything fails on the way (a service that
    does not come back, the restart itself, the stamp's write, an interruption), the files get
    back what they held and those units are restarted on it: the node is as it was, the stamp
    unchanged, and the next apply tries again. Returns what :func:`stack_node` returns, with
    "outcome": "reconfigured" (or "restart-failed") and the "options" merged; raises
    CommandFailed when a file, the restart or the stamp could not be written."""
    started = time.time()
    stamp = files.read_json(cfg["stamp"]) or {}
    held: dict[str, str] = {}
    restarting = False
    restarted: dict[str, Any] | None = None

    def read(path: str) -> str:
        held.setdefault(path, _read_text(path))
        return held[path]

    def put_back() -> str:
        """Every file as it was, its units restarted on it if they may have read the new one;
        '' or why that failed (said, never raised: the first failure is the one to report)."""
        try:
            for path, text in held.items():
                _write_keeping_owner(path, text)
            if restarted is not None:  # those restarted, failed or not, back on the old files
                node_units.restart_units(cfg, model, restarted["restarted"], any_state=True)
            elif restarting:
                node_units.restart_units(cfg, model, change["units"])
        except Exception as exc:  # noqa: BLE001 - reported with the failure that led here
            return f"; putting the files back failed too: {getattr(exc, 'strerror', None) or exc}"
        return ""

    try:
        origins = reconfigure.apply_edits(change["edits"], stamp.get("origins") or {}, read, _write_keeping_owner)
        restarting = True
        restarted = node_units.restart_units(cfg, model, change["units"])
        if not restarted["failing"]:
            files.write_json(cfg["stamp"], {**stamp, "origins": origins, "meaning": meaning_digest(model),
                                            "base": reconfigure.base_digest(model),
                                            "config": reconfigure.in_place_config(model),
                                            "reconfigured": time.time(), "restarted": restarted["restarted"]})
    except BaseException as exc:
        # Whatever stopped us (an I/O error, systemctl missing, a signal): files edited under an
        # old stamp would make the next plan record the in-place value as stack.sh's.
        failed_too = put_back()
        if not isinstance(exc, (OSError, UnicodeError, subprocess.SubprocessError)):
            raise
        why = getattr(exc, "strerror", None) or exc
        if not restarting:
            what = getattr(exc, "filename", None) or "a config file"
            message = f"cannot change {what} in place: {why}; nothing was changed{failed_too}"
        else:
            what = getattr(exc, "filename", None) or "the restart of " + ", ".join(change["units"])
            message = (f"changing the node in place failed at {what}: {why}; the files were put back and their "
                       f"units restarted on them{failed_too}; the stamp is unchanged and the next apply tries again")
        raise CommandFailed(scrub_text(model, message)) from None
    result = {"ran": True, "reasons": change["reasons"], "options": change["options"],
              "restarted": restarted["restarted"], "commit": stamp.get("commit"), "log": None}
    if restarted["failing"]:
        failed_too = put_back()
        result.update(result=False, outcome="restart-failed", seconds=round(time.time() - started, 1),
                      tail="\n".join(f"{k}: {v}" for k, v in sorted(restarted["failing"].items())) + failed_too)
        return result
    result.update(result=True, outcome="reconfigured", seconds=round(time.time() - started, 1))
    return result


def stack_node(cfg: dict, model: dict, force: bool = False) -> dict:
    """Run stack.sh when :func:`stack_reasons` says so; restart the units whose post-config files
    stack.sh merged after they started; record the outcome in the stamp.

    Returns {"ran": bool, "result": bool, "reasons", "outcome", "seconds", "log", "tail", "commit",
    "restarted"}.
    """
    change = change_plan(cfg, model, force)
    reasons = change["reasons"]
    commit = checkout_commit(cfg["devstack_dir"])
    if change["action"] == "none":
        return {"ran": False, "result": True, "reasons": [], "commit": commit}
    if change["action"] == "in-place":
        return reconfigure_node(cfg, model, change)
    if not os.path.isfile(os.path.join(cfg["devstack_dir"], "stack.sh")):
        raise LocalConfError([f"{cfg['devstack_dir']}/stack.sh does not exist: check out DevStack first "
                              "(the devstack role does when devstack:stack is true)"])
    secrets = secret_values(model)
    previous = files.read_json(cfg["stamp"]) or {}
    # Options written in place go back to what stack.sh wrote: it finds its files as it left them.
    try:
        reconfigure.apply_edits(reconfigure.revert_edits(previous.get("origins") or {}), {}, _read_text,
                                _write_keeping_owner)
    except (OSError, UnicodeError) as exc:
        raise CommandFailed(f"cannot put back what stack.sh wrote in {getattr(exc, 'filename', None) or 'a config file'}"
                            f" before stacking: {getattr(exc, 'strerror', None) or exc}") from None
    previous.pop("origins", None)
    if cfg["unstack_before_restack"] and previous.get("result") == "success":
        run_script(cfg, "unstack.sh", int(cfg["stack_timeout"]), cfg["run_log"] + ".unstack", cfg["running"], secrets)
    started = time.time()
    files.write_json(cfg["stamp"], {**previous, "result": "running", "started": started})
    run = run_script(cfg, "stack.sh", int(cfg["stack_timeout"]), cfg["run_log"], cfg["running"], secrets)
    outcome = run["outcome"]
    restarted: dict[str, Any] = {"restarted": [], "unknown": [], "unmatched": [], "failing": {}}
    if outcome == "success":
        restarted = node_units.restart_config_units(cfg, model)
        if restarted["failing"]:
            outcome = "restart-failed"
    stamp = {"result": "success" if outcome == "success" else outcome, "meaning": meaning_digest(model),
             "base": reconfigure.base_digest(model), "config": reconfigure.in_place_config(model),
             "commit": commit, "repo": cfg.get("repo"), "ref": cfg.get("ref"),
             "started": started, "finished": time.time(), "seconds": run["seconds"],
             "returncode": run["returncode"], "log": cfg["run_log"], "restarted": restarted["restarted"]}
    files.write_json(cfg["stamp"], stamp)
    result = {"ran": True, "result": outcome == "success", "reasons": reasons, "outcome": outcome,
              "seconds": run["seconds"], "log": cfg["run_log"], "commit": commit,
              "restarted": restarted["restarted"], "not_restarted": restarted["unknown"],
              "unmatched": restarted["unmatched"]}
    if outcome == "restart-failed":
        result["tail"] = "\n".join(f"{k}: {v}" for k, v in sorted(restarted["failing"].items()))
    elif not result["result"]:
        result["tail"] = log_tail(cfg, model, since=started - 1)
    return result


def unstack_node(cfg: dict, model: dict, clean: bool = False) -> dict:
    """Run unstack.sh (or clean.sh) and mark the stamp so that the next apply stacks again."""
    script = "clean.sh" if clean else "unstack.sh"
    if not os.path.isfile(os.path.join(cfg["devstack_dir"], script)):
        raise LocalConfError([f"{cfg['devstack_dir']}/{script} does not exist"])
    run = run_script(cfg, script, int(cfg["stack_timeout"]), cfg["run_log"] + "." + script, cfg["running"],
                     secret_values(model))
    stamp = files.read_json(cfg["stamp"]) or {}
    files.write_json(cfg["stamp"], {**stamp, "result": "cleaned" if clean else "unstacked", "finished": time.time()})
    return {"result": run["outcome"] == "success", "outcome": run["outcome"], "seconds": run["seconds"],
            "tail": "" if run["outcome"] == "success" else log_tail(cfg, model, since=0)}


def node_status(cfg: dict, model: dict) -> dict:
    """The node at a glance: stack user, local.conf, checkout, last run (from the stamp), why it
    would stack again, a run in progress (its latest log line), and the health of a stacked node."""
    stamp = files.read_json(cfg["stamp"])
    result = {
        "stacking": "on" if cfg["stack"] else "off (devstack:stack is false)",
        "user": cfg["user"],
        "local_conf": cfg["local_conf"],
        "checkout": {"path": cfg["devstack_dir"], "ref": cfg["ref"], "commit": checkout_commit(cfg["devstack_dir"])},
        "last_stack": None,
        "restack_needed_because": stack_reasons(cfg, model),
    }
    if stamp:
        result["last_stack"] = {k: stamp.get(k) for k in ("result", "commit", "seconds", "log")}
        if stamp.get("finished"):
            result["last_stack"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(stamp["finished"]))
    running = files.read_json(cfg["running"])
    if running:
        alive = os.path.exists(f"/proc/{running.get('pid')}")
        result["running"] = {
            "script": running.get("script"), "pid": running.get("pid"), "alive": alive,
            "for_seconds": round(time.time() - running.get("started", time.time())),
            "latest": log_tail(cfg, model, lines=1, since=0),
        }
    if stamp and stamp.get("result") == "success":
        result["health"] = node_health.service_health(cfg, model)
    return result
