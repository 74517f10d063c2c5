"""
The plan from the MariaDB server as read to the model: the changes (secrets masked) and the SQL
that makes them, for each part (secure, databases, users); and the reading of what the server
prints (SHOW GRANTS, SHOW CREATE USER).

Pure Python: ``mariadb_server`` reads the server into the ``state`` these functions compare.
Passwords are hashed here (mysql_native_password: ``*`` + SHA1(SHA1(password))); only the hash
is ever sent to the server, as a query parameter.
"""

from __future__ import annotations

import hashlib
import re

from .mariadb_model import MASK

#: Grants on the test database and on test_* (old installs granted these to everyone), whether
#: written as the wildcard test\_% or as a name; LIKE patterns, passed as parameters.
TEST_GRANTS_WHERE = "Db = 'test' OR Db LIKE %s OR Db LIKE %s"
TEST_GRANTS_PATTERNS = ("test\\_%", "test\\\\\\_%")


def password_hash(password: str) -> str:
    """MariaDB's mysql_native_password hash: the only form of a password sent to the server."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def account(user: str, host: str) -> str:
    """A readable account name for changes and errors: user@host."""
    return f"{user}@{host}"


def db_target(name: str) -> str:
    """A grant target: *.* or `db`.* with _ escaped (unescaped, _ would match any character)."""
    return "*.*" if name == "*" else "`" + name.replace("_", "\\_") + "`.*"


GRANT_LINE = re.compile(r"GRANT (?P<privs>.+?) ON (?P<target>\*\.\*|`(?:[^`]|``)+`\.\*) TO "
                        r"(?P<account>\S+?)(?: IDENTIFIED .*?)?(?P<option> WITH GRANT OPTION)?\s*\Z")


def parse_grants(lines: list[str]) -> dict[str, frozenset]:
    """Database-level and global grants of SHOW GRANTS output, by target as written (``*.*``,
    ```db\\_name`.*``: a grant on ```db_name`.*`` is a pattern, another target). Table, column,
    role and proxy grants are not managed and left out."""
    grants: dict[str, frozenset] = {}
    for line in lines:
        match = GRANT_LINE.match(line)
        if not match:
            continue
        privileges = {p.strip() for p in match["privs"].split(",")} - {"USAGE"}
        if match["option"]:
            privileges.add("GRANT OPTION")
        if privileges:
            grants[match["target"]] = frozenset(privileges)
    return grants


def root_auth_of(create_user: str) -> str:
    """``unix_socket``, ``password`` or ``other`` from SHOW CREATE USER root@localhost. Debian's
    default (a native password of 'invalid', which nothing matches, OR unix_socket) is unix_socket."""
    text = create_user.split(" IDENTIFIED ", 1)[1] if " IDENTIFIED " in create_user else ""
    if text.startswith("BY PASSWORD "):
        return "password"
    methods = [m.strip() for m in text.removeprefix("VIA ").split(" OR ")] if text.startswith("VIA ") else []
    if methods and all(m == "unix_socket" or m == "mysql_native_password USING 'invalid'" for m in methods) \
            and "unix_socket" in methods:
        return "unix_socket"
    if methods == [] and not text:
        return "none"
    return "other"


def root_hash_of(create_user: str) -> str | None:
    """The mysql_native_password hash in SHOW CREATE USER output, or None."""
    match = re.search(r"BY PASSWORD '(\*[0-9A-F]{40})'|mysql_native_password USING '(\*[0-9A-F]{40})'", create_user)
    return (match[1] or match[2]) if match else None


def plan_secure(model: dict, state: dict) -> tuple[dict, list]:
    """mysql_secure_installation, declaratively: root's authentication, no anonymous users, no
    test database (nor its wildcard grants), no root from other hosts."""
    changes: dict[str, dict] = {}
    sql: list[tuple[str, tuple]] = []
    root = model["root"]
    current = root_auth_of(state["root"])
    if root["auth"] == "unix_socket" and current != "unix_socket":
        changes["root@localhost:auth"] = {"old": current, "new": "unix_socket"}
        sql.append(("ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket", ()))
    elif root["auth"] == "password":
        wanted = password_hash(root["password"])
        if current != "password" or root_hash_of(state["root"]) != wanted:
            changes["root@localhost:auth"] = {"old": current if current != "password" else f"password {MASK}",
                                              "new": f"password {MASK}"}
            sql.append(("ALTER USER 'root'@'localhost' IDENTIFIED BY PASSWORD %s", (wanted,)))
    for host in state["anonymous"]:
        changes[f"anonymous@{host}"] = {"old": "present", "new": "absent"}
        sql.append(("DROP USER ''@%s", (host,)))
    for host in state["remote_root"]:
        changes[f"root@{host}"] = {"old": "present", "new": "absent"}
        sql.append(("DROP USER 'root'@%s", (host,)))
    if "test" in state["databases"]:
        changes["database:test"] = {"old": "present", "new": "absent"}
        sql.append(("DROP DATABASE `test`", ()))
    if state["test_grants"]:
        changes["grants:test"] = {"old": state["test_grants"], "new": []}
        sql.append(("DELETE FROM mysql.db WHERE " + TEST_GRANTS_WHERE, TEST_GRANTS_PATTERNS))
        sql.append(("FLUSH PRIVILEGES", ()))
    return changes, sql


def plan_databases(model: dict, state: dict) -> tuple[dict, list]:
    """Create the declared databases; give them the declared character set and collation."""
    changes: dict[str, dict] = {}
    sql: list[tuple[str, tuple]] = []
    for name, spec in sorted(model["databases"].items()):
        clause = "".join(f" {word} {spec[key]}" for key, word in (("character_set", "CHARACTER SET"),
                                                                  ("collation", "COLLATE")) if spec[key])
        wanted = {k: v for k, v in spec.items() if v}
        if name not in state["databases"]:
            changes[f"database:{name}"] = {"old": None, "new": wanted or "present"}
            sql.append((f"CREATE DATABASE `{name}`{clause}", ()))
            continue
        charset, collation = state["databases"][name]
        have = {"character_set": charset, "collation": collation}
        differ = {k: v for k, v in wanted.items() if have[k] != v}
        if differ:
            changes[f"database:{name}"] = {"old": {k: have[k] for k in differ}, "new": differ}
            sql.append((f"ALTER DATABASE `{name}`{clause}", ()))
    return changes, sql


def grant_statements(old: frozenset, new: frozenset, target: str) -> list[str]:
    """GRANT and REVOKE statements (with %s@%s for the account) taking ``target`` (as SHOW GRANTS
    writes it: ``*.*`` or ```db`.*``) from the privileges ``old`` to ``new``. ALL PRIVILEGES is
    revoked whole; GRANT OPTION on its own."""
    statements = []
    old_p, new_p = old - {"GRANT OPTION"}, new - {"GRANT OPTION"}
    revoke = {"ALL PRIVILEGES"} if "ALL PRIVILEGES" in old_p and new_p != old_p else old_p - new_p
    grant = new_p if "ALL PRIVILEGES" in revoke else new_p - old_p
    if revoke:
        statements.append(f"REVOKE {', '.join(sorted(revoke))} ON {target} FROM %s@%s")
    if "GRANT OPTION" in old and "GRANT OPTION" not in new:
        statements.append(f"REVOKE GRANT OPTION ON {target} FROM %s@%s")
    option = "GRANT OPTION" in new and "GRANT OPTION" not in old
    if grant or option:
        names = ", ".join(sorted(grant)) if grant else "USAGE"
        statements.append(f"GRANT {names} ON {target} TO %s@%s" + (" WITH GRANT OPTION" if option else ""))
    return statements


def plan_users(model: dict, state: dict) -> tuple[dict, list]:
    """Users with their password (compared as hashes) or unix_socket, only on their declared
    hosts, with exactly their declared database and global grants."""
    changes: dict[str, dict] = {}
    sql: list[tuple[str, tuple]] = []
    existing = state["users"]
    for user, spec in sorted(model["users"].items()):
        socket = spec.get("auth") == "unix_socket"
        wanted_hash = None if socket else password_hash(spec["password"])
        for host in sorted(h for (u, h) in existing if u == user and h not in spec["hosts"]):
            changes[f"user:{account(user, host)}"] = {"old": "present", "new": "absent (host not declared)"}
            sql.append(("DROP USER %s@%s", (user, host)))
        for host in spec["hosts"]:
            name = account(user, host)
            have = existing.get((user, host))
            if have is None:
                if socket:
                    changes[f"user:{name}"] = {"old": None, "new": "present, unix_socket"}
                    sql.append(("CREATE USER %s@%s IDENTIFIED VIA unix_socket", (user, host)))
                else:
                    changes[f"user:{name}"] = {"old": None, "new": f"present, password {MASK}"}
                    sql.append(("CREATE USER %s@%s IDENTIFIED BY PASSWORD %s", (user, host, wanted_hash)))
                have = {"grants": {}}
            elif socket:
                if have["plugin"] != "unix_socket":
                    changes[f"auth:{name}"] = {"old": have["plugin"] or "password", "new": "unix_socket"}
                    sql.append(("ALTER USER %s@%s IDENTIFIED VIA unix_socket", (user, host)))
            elif have["plugin"] != "mysql_native_password" or have["hash"] != wanted_hash:
                changes[f"password:{name}"] = {"old": MASK, "new": f"{MASK} (changed)"}
                sql.append(("ALTER USER %s@%s IDENTIFIED BY PASSWORD %s", (user, host, wanted_hash)))
            wanted = {db_target(target): privileges for target, privileges in spec["grants"].items()}
            for target in sorted(set(have["grants"]) | set(wanted)):
                old = have["grants"].get(target, frozenset())
                new = wanted.get(target, frozenset())
                if old == new:
                    continue
                changes[f"grants:{name}:{target}"] = {"old": sorted(old), "new": sorted(new)}
                sql.extend((statement, (user, host)) for statement in grant_statements(old, new, target))
    return changes, sql


PLANNERS = {"secure": plan_secure, "databases": plan_databases, "users": plan_users}
