"""
The plan from the broker as exported to the definition: what differs (passwords masked), what to
import in one call (password hashes made here), what to remove one by one, the plugins to set.
Also the reading of what the broker exports (``export_definitions`` JSON, enabled_plugins).

Pure Python: ``rabbitmq_server`` reads the broker and applies the plan. A changed password is
detected by checking the salted hash the broker exports against the pillar password, locally;
no password ever reaches the broker, a command line or a return value in plain text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re

from .rabbitmq_model import HIDDEN, PERMISSION_KEYS

HASHES = {"rabbit_password_hashing_sha256": hashlib.sha256,
          "rabbit_password_hashing_sha512": hashlib.sha512,
          "rabbit_password_hashing_md5": hashlib.md5}


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's rabbit_password_hashing_sha256 hash: base64(salt(4) + sha256(salt + password))."""
    salt = os.urandom(4) if salt is None else salt
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def password_matches(password: str, encoded: str, algorithm: str) -> bool:
    """Whether a hash exported by RabbitMQ is the hash of ``password`` (constant-time compare)."""
    digest = HASHES.get(algorithm or "rabbit_password_hashing_md5")
    try:
        raw = base64.b64decode(encoded or "", validate=True)
    except ValueError:
        return False
    if digest is None or len(raw) <= 4:
        return False
    return hmac.compare_digest(raw[4:], digest(raw[:4] + password.encode()).digest())


def current_from_export(export: dict, plugins: list[str] | None) -> dict:
    """The parts of ``export_definitions`` output this module manages, keyed for comparison."""
    users = {}
    for user in export.get("users", []):
        tags = user.get("tags", [])
        if isinstance(tags, str):  # before 3.9: "a,b"
            tags = [t for t in tags.split(",") if t]
        users[user["name"]] = {"tags": sorted(tags), "password_hash": user.get("password_hash", ""),
                               "hashing_algorithm": user.get("hashing_algorithm", "")}
    permissions = {(p["user"], p["vhost"]): {k: p.get(k, "") for k in PERMISSION_KEYS}
                   for p in export.get("permissions", [])}
    policies = {}
    for pol in export.get("policies", []):
        definition = pol.get("definition", {})
        if isinstance(definition, str):
            definition = json.loads(definition)
        policies[(pol["vhost"], pol["name"])] = {
            "vhost": pol["vhost"], "pattern": pol.get("pattern"), "definition": definition,
            "priority": pol.get("priority", 0), "apply_to": pol.get("apply-to", "all")}
    return {"vhosts": sorted(v["name"] for v in export.get("vhosts", [])), "users": users,
            "permissions": permissions, "policies": policies, "plugins": plugins}


def _policy_doc(policy: dict, name: str) -> dict:
    return {"vhost": policy["vhost"], "name": name, "pattern": policy["pattern"], "apply-to": policy["apply_to"],
            "definition": policy["definition"], "priority": policy["priority"]}


def plan(model: dict, current: dict, passwords: bool = True) -> dict:
    """Compare the definition with the broker. Returns ``{"changes": {...}, "import": {...},
    "remove": [...], "plugins": [...] | None}``: changes masked (no password, no hash), what to
    import in one call, what to remove one by one, the plugin list to set (None: leave).

    ``passwords=False`` leaves existing users' passwords out of the comparison: for a definition
    that is not the pillar's own (``message_broker.diff config=``), whose caller could otherwise
    learn whether a guessed password is an account's."""
    changes: dict[str, dict] = {}
    doc: dict[str, list] = {"users": [], "vhosts": [], "permissions": [], "policies": []}
    remove: list[tuple[str, ...]] = []
    prune = model["prune"]
    for vhost in model["vhosts"]:
        if vhost not in current["vhosts"]:
            changes[f"vhost:{vhost}"] = {"old": "absent", "new": "present"}
            doc["vhosts"].append({"name": vhost})
    removed_vhosts = [v for v in current["vhosts"] if v not in model["vhosts"]] if prune else []
    for vhost in removed_vhosts:
        changes[f"vhost:{vhost}"] = {"old": "present", "new": "absent (deleted with its queues)"}
        remove.append(("delete_vhost", vhost))
    for name, user in sorted(model["users"].items()):
        have = current["users"].get(name)
        if have is None:
            changes[f"user:{name}"] = {"old": "absent", "new": {"tags": user["tags"], "password": HIDDEN}}
            doc["users"].append({"name": name, "password_hash": password_hash(user["password"]),
                                 "hashing_algorithm": "rabbit_password_hashing_sha256", "tags": user["tags"], "limits": {}})
        else:
            entry = {"name": name, "password_hash": have["password_hash"],
                     "hashing_algorithm": have["hashing_algorithm"], "tags": user["tags"], "limits": {}}
            differs = False
            if have["tags"] != user["tags"]:
                changes[f"user:{name}:tags"] = {"old": have["tags"], "new": user["tags"]}
                differs = True
            if passwords and not password_matches(user["password"], have["password_hash"], have["hashing_algorithm"]):
                changes[f"user:{name}:password"] = {"old": HIDDEN, "new": HIDDEN + " (changed)"}
                entry.update(password_hash=password_hash(user["password"]),
                             hashing_algorithm="rabbit_password_hashing_sha256")
                differs = True
            if differs:
                doc["users"].append(entry)
    removed_users = [u for u in sorted(current["users"]) if u not in model["users"]] if prune else []
    for name in removed_users:
        changes[f"user:{name}"] = {"old": {"tags": current["users"][name]["tags"]}, "new": "absent"}
        remove.append(("delete_user", name))
    wanted_perms = {(u, v): p for u, user in model["users"].items() for v, p in user["permissions"].items()}
    for (user, vhost), perm in sorted(wanted_perms.items()):
        have = current["permissions"].get((user, vhost))
        if have != perm:
            changes[f"permissions:{user}@{vhost}"] = {"old": have or "absent", "new": perm}
            doc["permissions"].append({"user": user, "vhost": vhost, **perm})
    if prune:
        for (user, vhost), perm in sorted(current["permissions"].items()):
            if (user, vhost) not in wanted_perms and user not in removed_users and vhost not in removed_vhosts:
                changes[f"permissions:{user}@{vhost}"] = {"old": perm, "new": "absent"}
                remove.append(("clear_permissions", "-p", vhost, user))
    wanted_pols = {(p["vhost"], name): p for name, p in model["policies"].items()}
    for (vhost, name), pol in sorted(wanted_pols.items()):
        have = current["policies"].get((vhost, name))
        if have != pol:
            changes[f"policy:{vhost}:{name}"] = {"old": have or "absent", "new": pol}
            doc["policies"].append(_policy_doc(pol, name))
    if prune:
        for (vhost, name), pol in sorted(current["policies"].items()):
            if (vhost, name) not in wanted_pols and vhost not in removed_vhosts:
                changes[f"policy:{vhost}:{name}"] = {"old": pol, "new": "absent"}
                remove.append(("clear_policy", "-p", vhost, name))
    set_plugins = None
    if model["plugins"] is not None and model["plugins"] != current["plugins"]:
        have = set(current["plugins"] or [])
        for plugin in sorted(have | set(model["plugins"])):
            if (plugin in have) != (plugin in model["plugins"]):
                changes[f"plugin:{plugin}"] = ({"old": "enabled", "new": "disabled"} if plugin in have
                                              else {"old": "disabled", "new": "enabled"})
        set_plugins = model["plugins"]
    # Removals: policies and permissions first, then users, then virtual hosts.
    order = {"clear_policy": 0, "clear_permissions": 1, "delete_user": 2, "delete_vhost": 3}
    remove.sort(key=lambda step: order[step[0]])
    return {"changes": changes, "import": {k: v for k, v in doc.items() if v}, "remove": remove,
            "plugins": set_plugins}


def parse_enabled_plugins(text: str) -> list[str] | None:
    """The plugin list of /etc/rabbitmq/enabled_plugins (an Erlang list of atoms such as
    ``[rabbitmq_management].``), or None when it is not in that simple form (then it is set)."""
    match = re.fullmatch(r"\s*\[\s*([a-z0-9_]+(?:\s*,\s*[a-z0-9_]+)*)?\s*\]\s*\.\s*", text)
    if not match:
        return None
    return sorted({p.strip() for p in (match.group(1) or "").split(",") if p.strip()})
