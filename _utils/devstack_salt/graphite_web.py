"""
Graphite's web application on the carbon server: its settings from ``monitoring:web``, checked
whole before anything changes, and what gunicorn, Django and the dashboards are given.

graphite-web comes from the distribution (1.1.8 in Debian 12) and is served by gunicorn, bound to
the pillar's address and port only. Its Django secret key lives in a file readable by root and
``_graphite`` (never on a command line, never in the settings Salt shows); the settings module
Salt writes only reads it. Editing dashboards takes a login (the admin account, its password in
the secrets pillar); looking at them does not.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pwd
import re
import socket
import zoneinfo
from typing import Any

from . import contract, devstack_facts, files, listeners
from .carbon import ADDRESS_RE, pillar_section, whisper_dir
from .errors import DevstackSaltError, MonitoringError, PillarError
from .listeners import is_port
from .roles import carries, local_address
from .whisper import WHISPER_DIR

#: Where the role's web files live (Debian's graphite-web reads /etc/graphite).
CONF_DIR = "/etc/graphite"
SETTINGS_FILE = f"{CONF_DIR}/local_settings.py"
#: The WSGI entry gunicorn loads (``devstack_salt_graphite:application``, on its --pythonpath).
WSGI_MODULE = "devstack_salt_graphite"
WSGI_FILE = f"{CONF_DIR}/{WSGI_MODULE}.py"
SECRET_KEY_FILE = f"{CONF_DIR}/secret_key"
DATABASE_FILE = "/var/lib/graphite/graphite.db"
LOG_DIR = "/var/log/graphite"
#: The logs the service writes: gunicorn's, and graphite's info and exception handlers'.
LOG_FILES = (f"{LOG_DIR}/gunicorn.log", f"{LOG_DIR}/info.log", f"{LOG_DIR}/exception.log")
#: Their logrotate drop-in. logrotate reads /etc/logrotate.d in name order: this name comes
#: before Debian's graphite-web, whose match of the same files is then skipped.
LOGROTATE_FILE = "/etc/logrotate.d/devstack-salt-graphite-web"
STATIC_ROOT = "/usr/share/graphite-web/static"
#: The service (systemd unit or init.d script) running gunicorn.
SERVICE = "devstack-salt-graphite-web"
PID_FILE = f"/run/{SERVICE}.pid"
#: The user graphite-web runs as (Debian's graphite-carbon and graphite-web share it).
USER = "_graphite"

#: monitoring:web keys and their defaults (secrets have none: bin/configure generates them).
DEFAULTS = {
    "enabled": False,     # the carbon server's default is true (web_settings)
    "address": "127.0.0.1",
    # Not 80 or 8080 (a stacked DevStack's Apache and Swift proxy), 8000 or 5000 (Heat, Keystone).
    "port": 8013,
    "workers": 2,
    "time_zone": "UTC",
    "admin_user": "admin",
}
SECRET_KEYS = ("secret_key", "admin_password")
DASHBOARD_DEFAULTS = {
    "hosts": True,        # a dashboard per node: load, CPU, memory, disk, network
    "database": True,     # the database role's nodes: connections, queries, InnoDB
    "broker": True,       # the broker role's nodes: queues, rates, connections
    "salt_runs": True,    # Salt's own runs: duration, states, changes, failures
    "time_range": "-2hours",
    "refresh": 60,        # seconds between automatic refreshes in the browser
    "graph_width": 480,
    "graph_height": 260,
}
TIME_RANGE_RE = re.compile(r"-(\d+)(minutes|hours|days|weeks)\Z")
USER_RE = re.compile(r"[A-Za-z0-9_.@+-]{1,150}\Z")
ZONE_RE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*\Z")


#: epmd, the Erlang port mapper RabbitMQ starts beside the broker (broker:dist_port is its node's).
EPMD_PORT = 4369


def _port(value: Any, where: str, errors: list[str]) -> bool:
    if not is_port(value):
        errors.append(f"{where} must be a port number")
        return False
    return True


def node_ports(roles: Any, database: Any, broker: Any) -> dict[int, str]:
    """The ports the other roles this node carries (``roles``: its ``roles`` pillar) listen on,
    each with what holds it: the web application must leave them free. The database and broker
    ports come from those roles' own models of ``database`` and ``broker``; a pillar its role
    rejects adds nothing here (that role's states name its errors)."""
    ports: dict[int, str] = {}
    if carries(roles, "devstack"):
        ports.update({port: f"{what}, a DevStack service of this node (it carries the devstack role)"
                      for port, what in devstack_facts.LISTEN_PORTS.items()})
    if carries(roles, "database"):
        with contextlib.suppress(PillarError):
            port = contract.role_model("database", database)["server"]["port"]
            ports[port] = "the database role's port (database:server:port)"
    if carries(roles, "broker"):
        with contextlib.suppress(PillarError):
            model = contract.role_model("broker", broker)
            ports[EPMD_PORT] = "epmd, the broker role's Erlang port mapper"
            for key in ("port", "dist_port", "management_port", "prometheus_port"):
                ports[model[key]] = f"the broker role's {key} (broker:{key})"
    return ports


def unprivileged_port_start() -> int:
    """The lowest port a process without CAP_NET_BIND_SERVICE may bind on this host (IPv4 and
    IPv6 alike); gunicorn runs as the web user, without it."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return 1024


def is_local_address(address: str) -> bool:
    """Whether gunicorn could bind ``address`` on this host: a trial bind to its port 0, as
    gunicorn binds it (IPv6 when it has a colon), closed at once."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as trial:
            trial.bind((address, 0))
    except (OSError, UnicodeError):  # not this host's, no such name, or no such address family
        return False
    return True


def _bindable(model: dict, root: str, ports: dict[int, str], check_address: bool, check_port: bool,
              errors: list[str]) -> None:
    """Problems that would keep gunicorn from binding the pillar's address and port, or make it
    take a port of another role of this node."""
    if check_address and not is_local_address(model["address"]):
        errors.append(f"{root}:address {model['address']} is not an address of this host (gunicorn could not "
                      "bind it): use one of its addresses, 127.0.0.1, or 0.0.0.0 for all")
    if not check_port:
        return
    port, start = model["port"], unprivileged_port_start()
    if port < start:
        errors.append(f"{root}:port {port} is below {start}, the first port a program without privileges may "
                      f"bind here (net.ipv4.ip_unprivileged_port_start): gunicorn runs as {USER}; choose a port "
                      f"from {start} up")
    if port in ports:
        errors.append(f"{root}:port {port} collides with {ports[port]}; choose another")


def web_settings(config: Any, carbon: Any, carbon_server: bool, root: str = "monitoring:web",
                 ports: dict[int, str] | None = None) -> dict:
    """``monitoring:web`` checked whole and completed with its defaults; MonitoringError names
    every key that is wrong. ``carbon`` is ``monitoring:carbon`` (the web application reads the
    running cache through its query port); ``carbon_server`` says whether this node runs it;
    ``ports`` are the ports of the node's other roles (:func:`node_ports`). Where the web
    application runs, its address must be this host's and its port one the web user may bind."""
    errors: list[str] = []
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise MonitoringError([f"{root} must be a mapping (see README.md, Monitoring role)"])
    known = set(DEFAULTS) | set(SECRET_KEYS) | {"dashboards"}
    for key in sorted(set(config) - known, key=str):
        errors.append(f"{root}:{key} is not a setting of the web application (known: {', '.join(sorted(known))})")
    # On the carbon server the web application is on unless the pillar says otherwise.
    model = {**DEFAULTS, "enabled": carbon_server, **{k: v for k, v in config.items() if k in known}}
    if not isinstance(model["enabled"], bool):
        errors.append(f"{root}:enabled must be true or false")
    if model["enabled"] and not carbon_server:
        errors.append(f"{root}:enabled needs monitoring:carbon:server: true on this node (the web application "
                      "reads carbon's whisper files), or set it to false")
    address_ok = isinstance(model["address"], str) and bool(ADDRESS_RE.match(model["address"]))
    if not address_ok:
        errors.append(f"{root}:address must be an address to listen on")
    port_ok = _port(model["port"], f"{root}:port", errors)
    if model["enabled"] is True:
        _bindable(model, root, ports or {}, address_ok, port_ok, errors)
    carbon = carbon if isinstance(carbon, dict) else {}
    for key, default in (("port", 2003), ("pickle_port", 2004), ("query_port", 7002)):
        if model["port"] == carbon.get(key, default):
            errors.append(f"{root}:port {model['port']} is carbon's {key} (monitoring:carbon:{key}); choose another")
    if isinstance(model["workers"], bool) or not isinstance(model["workers"], int) or not 0 < model["workers"] <= 32:
        errors.append(f"{root}:workers must be a number of processes from 1 to 32")
    zones = zoneinfo.available_timezones()
    if not isinstance(model["time_zone"], str) or not ZONE_RE.match(model["time_zone"]) or (
            zones and model["time_zone"] not in zones):
        errors.append(f"{root}:time_zone must be a time zone name such as UTC or Europe/Berlin")
    if not isinstance(model["admin_user"], str) or not USER_RE.match(model["admin_user"]):
        errors.append(f"{root}:admin_user must be a user name (letters, digits and _.@+-)")
    for key in SECRET_KEYS:
        value = config.get(key)
        if model["enabled"] and (not isinstance(value, str) or len(value) < 16 or value != value.strip()
                                 or any(ch.isspace() for ch in value)):
            errors.append(f"{root}:{key} must be a string of at least 16 characters without spaces: bin/configure "
                          "generates it into .salt/pillar/secrets.sls (run it again)")
        model[key] = value
    model["dashboards"] = dashboard_settings(config.get("dashboards"), f"{root}:dashboards", errors)
    query_port = carbon.get("query_port", 7002)
    model["carbonlink"] = f"{local_address(carbon.get('address', '127.0.0.1'))}:{query_port}"
    # carbon's whisper files, where its own settings put them (monitoring:carbon:settings).
    try:
        model["whisper_dir"] = whisper_dir(carbon)
    except MonitoringError as exc:
        model["whisper_dir"] = WHISPER_DIR
        if model["enabled"]:
            errors.extend(exc.errors)
    if errors:
        raise MonitoringError(errors)
    return model


def from_pillar(pillar_get: Any) -> dict:
    """:func:`web_settings` of this node's pillar (``pillar_get``: Salt's ``pillar.get``); holds
    the secrets, so a caller must not return it."""
    carbon = pillar_section(pillar_get("monitoring:carbon", {}, unmask=True), "carbon")
    ports = node_ports(pillar_get("roles", [], unmask=True), pillar_get("database", None, unmask=True),
                       pillar_get("broker", None, unmask=True))
    return web_settings(pillar_get("monitoring:web", None, unmask=True), carbon, carbon.get("server") is True,
                        ports=ports)


def dashboard_settings(config: Any, root: str, errors: list[str]) -> dict:
    """``monitoring:web:dashboards`` with its defaults; problems are added to ``errors``."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        errors.append(f"{root} must be a mapping of {', '.join(DASHBOARD_DEFAULTS)}")
        return dict(DASHBOARD_DEFAULTS)
    for key in sorted(set(config) - set(DASHBOARD_DEFAULTS), key=str):
        errors.append(f"{root}:{key} is not a dashboard setting (known: {', '.join(DASHBOARD_DEFAULTS)})")
    model = {**DASHBOARD_DEFAULTS, **{k: v for k, v in config.items() if k in DASHBOARD_DEFAULTS}}
    for key in ("hosts", "database", "broker", "salt_runs"):
        if not isinstance(model[key], bool):
            errors.append(f"{root}:{key} must be true or false")
    if not isinstance(model["time_range"], str) or not TIME_RANGE_RE.match(model["time_range"]):
        errors.append(f"{root}:time_range must look like -30minutes, -2hours or -7days")
    for key, low, high in (("refresh", 10, 86400), ("graph_width", 100, 4000), ("graph_height", 80, 3000)):
        value = model[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(f"{root}:{key} must be a whole number from {low} to {high}")
    return model


def render_local_settings(model: dict) -> str:
    """graphite-web's settings module (``/etc/graphite/local_settings.py``). It holds no secret:
    it reads the secret key from its own file."""
    lines = [
        "# graphite-web settings, written by Salt from monitoring:web (salt/monitoring/web.sls).",
        "# Edits here are overwritten on the next apply: change the pillar instead.",
        f"with open({SECRET_KEY_FILE!r}) as _key:",
        "    SECRET_KEY = _key.read().strip()",
        "ALLOWED_HOSTS = ['*']",
        f"TIME_ZONE = {model['time_zone']!r}",
        "GRAPHITE_ROOT = '/usr/share/graphite-web'",
        f"CONF_DIR = {CONF_DIR!r}",
        f"STORAGE_DIR = {model['whisper_dir']!r}",
        f"WHISPER_DIR = {model['whisper_dir']!r}",
        f"STATIC_ROOT = {STATIC_ROOT!r}",
        f"LOG_DIR = {LOG_DIR!r}",
        "LOG_ROTATION = False",
        "INDEX_FILE = '/var/lib/graphite/search_index'",
        # The points carbon still holds in memory are read from the running cache.
        f"CARBONLINK_HOSTS = [{model['carbonlink']!r}]",
        "DEFAULT_XFILES_FACTOR = 0",
        # Anyone may look; saving or deleting a dashboard takes a login (the admin account).
        "DASHBOARD_REQUIRE_AUTHENTICATION = True",
        "DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'",
        "SILENCED_SYSTEM_CHECKS = ['admin.W411']",
        "DATABASES = {'default': {'NAME': %r, 'ENGINE': 'django.db.backends.sqlite3'}}" % DATABASE_FILE,
        "FUNCTION_PLUGINS = []",
    ]
    return "\n".join(lines) + "\n"


def render_wsgi() -> str:
    """The WSGI entry gunicorn serves: graphite-web's Django application, its static files
    served by WhiteNoise, and three fixes of Debian 12's graphite-web 1.1.8 without which no
    dashboard shows (each said in the text)."""
    return '''"""graphite-web for gunicorn, written by Salt (salt/monitoring/web.sls)."""
import os
import re

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "graphite.settings")
os.environ["GRAPHITE_SETTINGS_MODULE"] = "local_settings"

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from whitenoise import WhiteNoise  # noqa: E402

# 1. The dashboard page looks for its theme's CSS through Django's static finders, which search
#    a content/ folder Debian does not ship ("Invalid theme 'default'" on every page): search
#    the static files instead.
settings.STATICFILES_DIRS = (settings.STATIC_ROOT,)
# 2. Debian's graphite.wsgi takes WhiteNoise 6 for a version older than 2 and fails to start:
#    the static files are served here.
_served = WhiteNoise(get_wsgi_application(), root=settings.STATIC_ROOT, prefix="static/")
# 3. dashboard.js calls a global htmlEncode that 1.1.8 no longer defines (graphite-web issue
#    2711): a saved dashboard never loads. It is served calling ExtJS's own htmlEncode.
with open(os.path.join(settings.STATIC_ROOT, "js", "dashboard.js"), "rb") as _js:
    DASHBOARD_JS = re.sub(rb"(?<![.\\w])htmlEncode\\(", b"Ext.util.Format.htmlEncode(", _js.read())


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/static/js/dashboard.js":
        start_response("200 OK", [("Content-Type", "text/javascript; charset=utf-8"),
                                  ("Content-Length", str(len(DASHBOARD_JS))), ("Cache-Control", "no-cache")])
        return [DASHBOARD_JS]
    return _served(environ, start_response)
'''


def render_logrotate() -> str:
    """The logrotate drop-in for the service's logs. gunicorn and graphite's handlers keep their
    files open and nothing tells them to reopen one, so each is copied and truncated in place
    (Debian's graphite-web entry moves them and creates new ones: they would go on writing to the
    moved file). ``ignoreduplicates`` (logrotate 3.21: Debian 12, Ubuntu 24.04) makes logrotate
    skip Debian's later match of the same files instead of failing on it."""
    return "\n".join([
        f"# Written by Salt (salt/monitoring/web.sls): the logs of {SERVICE}, copied",
        "# and truncated in place (the programs writing them keep them open). Read before Debian's",
        "# graphite-web, whose match of the same files is then skipped (ignoreduplicates).",
        " ".join(LOG_FILES) + " {",
        "\tweekly",
        "\trotate 4",
        "\tmissingok",
        "\tnotifempty",
        "\tcompress",
        "\tcopytruncate",
        "\tignoreduplicates",
        "}",
    ]) + "\n"


def gunicorn_argv(model: dict) -> list[str]:
    """gunicorn's command line (no secret on it: the key is read from its file)."""
    address = model["address"]
    bind = f"[{address}]:{model['port']}" if ":" in address else f"{address}:{model['port']}"
    return ["/usr/bin/python3", "/usr/bin/gunicorn", "--bind", bind, "--workers", str(model["workers"]),
            "--pythonpath", CONF_DIR, "--chdir", "/var/lib/graphite", "--error-logfile",
            LOG_FILES[0], "--timeout", "60", f"{WSGI_MODULE}:application"]


def base_url(model: dict) -> str:
    """The URL the web application answers on, from this node (a wildcard address on loopback)."""
    address = local_address(model["address"])
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{model['port']}"


# --------------------------------------------------------------------------------------------
# The pillar's port must be free, or ours
# --------------------------------------------------------------------------------------------


def port_conflict(model: dict, root: str = "monitoring:web") -> str | None:
    """Why the pillar's address and port cannot be the web application's (another program
    listens there), or None when they are free or gunicorn serving our WSGI entry holds them."""
    others = [(pid, argv) for pid, argv in listeners.port_users(model["port"], model["address"])
              if f"{WSGI_MODULE}:application" not in argv]
    if not others:
        return None
    pid, argv = others[0]
    who = f"PID {pid}: {argv[:80]}" if pid else argv
    return (f"{root}:port {model['port']} is in use by another program ({who}); "
            "choose a free port or stop that program")


# --------------------------------------------------------------------------------------------
# graphite-manage: the database and the admin account
# --------------------------------------------------------------------------------------------

MANAGE = "/usr/bin/graphite-manage"
#: graphite-manage as the web user, with our settings module (found on /etc/graphite). runuser,
#: not Salt's runas: that starts Salt's own Python as the user to read its environment.
MANAGE_ARGV = ["runuser", "-u", USER, "--", "env", f"PYTHONPATH={CONF_DIR}", "GRAPHITE_SETTINGS_MODULE=local_settings",
               MANAGE]

#: Run by ``graphite-manage shell -c``: reads ``{"user", "password", "apply"}`` as JSON on stdin
#: (the password never on a command line) and prints what the database held before: the Django
#: migrations it lacks (what ``migrate --check`` tests) and the admin account's state (ok, missing,
#: or differs: not a superuser, inactive, or another password). With ``apply`` the migrations are
#: applied, the database created 0640 (it holds the admin's password hash and the sessions), and
#: the account made ok. One Django start for the whole database, not one per check.
DATABASE_SCRIPT = """\
import json, os, sys
wanted = json.load(sys.stdin)
if wanted['apply']:
    os.umask(0o027)
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password  # unlike User.check_password: never saves
from django.core.management import call_command
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
executor = MigrationExecutor(connection)
plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
pending = [f'{migration.app_label}.{migration.name}' for migration, _ in plan]
if wanted['apply'] and pending:
    call_command('migrate', interactive=False, verbosity=0)
User = get_user_model()
try:
    user = User.objects.filter(username=wanted['user']).first()
except DatabaseError:  # test=True before the migrations that make the table
    user = None
if user is None:
    state = 'missing'
elif user.is_superuser and user.is_staff and user.is_active and check_password(wanted['password'], user.password):
    state = 'ok'
else:
    state = 'differs'
if wanted['apply'] and state != 'ok':
    user = user or User(username=wanted['user'])
    user.is_superuser = user.is_staff = user.is_active = True
    user.set_password(wanted['password'])
    user.save()
print('database: ' + json.dumps({'migrations': pending, 'admin': state}))
"""


def database_state(run_all, user: str, password: str, apply: bool) -> dict:
    """graphite-web's database as it was before this call: {"database": "ok", "migrations": the
    Django migrations it lacks, "admin": the state of the admin account ``user`` (ok, missing,
    differs)}; with ``apply`` the migrations are applied and the account made a superuser with
    ``password``. ``run_all`` is Salt's ``cmd.run_all``; graphite-manage runs once, as the web
    user. Under test=True it runs only when it can and never creates the database: without the
    package or the database (a fresh host: the apply creates it) "database" is "missing", with a
    database but no secret key file (graphite-web's settings read it; the apply writes it first)
    "unknown", and the admin account the same."""
    if not apply and not (os.path.exists(MANAGE) and os.path.exists(DATABASE_FILE)):
        return {"database": "missing", "migrations": [], "admin": "missing"}
    if not apply and not os.path.exists(SECRET_KEY_FILE):
        return {"database": "unknown", "migrations": [], "admin": "unknown"}
    result = run_all(MANAGE_ARGV + ["shell", "-c", DATABASE_SCRIPT], python_shell=False,
                     stdin=json.dumps({"user": user, "password": password, "apply": bool(apply)}),
                     output_loglevel="quiet", ignore_retcode=True)
    found = [line.split(": ", 1)[1] for line in result.get("stdout", "").splitlines()
             if line.startswith("database: ")]
    if result.get("retcode") or not found:
        tail = "\n".join(result.get("stderr", "").splitlines()[-5:])
        raise DevstackSaltError(f"graphite-manage could not {'migrate' if apply else 'check'} the database "
                                f"{DATABASE_FILE} and its admin account {user!r}: {tail}")
    return {"database": "ok", **json.loads(found[-1])}


def database_file_fixes(path: str = DATABASE_FILE) -> dict[str, str]:
    """What the database's file lacks to be the web user's only (it holds the admin's password
    hash and the sessions): {"owner" | "mode": "is -> should be"}; {} when it is, or is absent."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return {}
    fixes = {}
    owner = (files.user_name(info.st_uid), files.group_name(info.st_gid))
    if owner != (USER, USER):
        fixes["owner"] = f"{owner[0]}:{owner[1]} -> {USER}:{USER}"
    if info.st_mode & 0o7777 != 0o640:
        fixes["mode"] = f"{info.st_mode & 0o7777:04o} -> 0640"
    return fixes


def make_database_private(path: str = DATABASE_FILE) -> None:
    """The database's file owned by the web user, mode 0640."""
    os.chown(path, pwd.getpwnam(USER).pw_uid, grp.getgrnam(USER).gr_gid)
    os.chmod(path, 0o640)


# --------------------------------------------------------------------------------------------
# The secret key's file
# --------------------------------------------------------------------------------------------


def secret_key_state(key: str, path: str = SECRET_KEY_FILE) -> str:
    """``ok`` when the key's file holds ``key`` with owner root, group the web user, mode 0640;
    ``missing`` or ``differs`` otherwise."""
    try:
        stat = os.stat(path)
        with open(path, encoding="utf-8") as handle:
            held = handle.read().strip()
    except OSError:
        return "missing"
    group = grp.getgrnam(USER).gr_gid
    if held != key or stat.st_uid != 0 or stat.st_gid != group or stat.st_mode & 0o777 != 0o640:
        return "differs"
    return "ok"


def write_secret_key(key: str, path: str = SECRET_KEY_FILE) -> None:
    """The key's file, whole or not at all: root, group the web user, 0640."""
    files.write_text(path, key + "\n", 0o640, 0, grp.getgrnam(USER).gr_gid)
