"""
The project-local Salt configuration (``.salt/``), so that nothing needs /etc/salt: a masterless
node's or a master's minion config, a salt-master's config, and the generated secrets pillar.
``bin/configure`` is its command line.

Standard library only: ``bin/configure`` runs this with the system's python3 before Salt exists
(PyYAML is needed only to read back a secrets file that exists). The configs are JSON (a subset
of YAML). Every file is written through ``devstack_salt.files`` (a temporary file, then a
rename): configs and secrets 0600, private keys 0400, public keys and systemd units 0644.

The service provider is decided from the host: where systemd is not PID 1 (no
/run/systemd/system), Salt's systemd module would answer "OFFLINE mode, nothing to do" and
report success without starting anything, so it is disabled and Salt falls back to the init.d
scripts. On a real systemd host (Vagrant box, cloud VM) systemd is used.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from typing import Any

from . import files

#: The checkout this package belongs to (``_utils/devstack_salt`` -> the repository): its
#: ``salt/`` and ``pillar/`` are the roots a config serves by default.
PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Salt's systemd service module, disabled where systemd is not running.
SYSTEMD_MODULE = "systemd_service"

#: What a minion of a master leaves out of the masterless config (the master serves files and
#: pillar and runs the reactor).
MASTERLESS_ONLY = ("file_client", "master_type", "engines", "reactor", "file_roots", "pillar_roots")


def systemd_running() -> bool:
    """True when systemd is the running init system (the test sd_booted() uses)."""
    return os.path.isdir("/run/systemd/system")


def disabled_modules(systemd: bool | None = None) -> list[str]:
    """The one decision about the service provider: Salt's modules to disable on a host where
    systemd runs (``systemd``; None: look at this host) or does not."""
    systemd = systemd_running() if systemd is None else systemd
    return [] if systemd else [SYSTEMD_MODULE]


def services_through_systemd(disable_modules: Any) -> bool:
    """True when a minion with this ``disable_modules`` option manages services through systemd."""
    return SYSTEMD_MODULE not in (disable_modules or [])


def minion_config(root: str, minion_id: str, file_roots=None, pillar_roots=None, systemd=None) -> dict:
    """A masterless minion configuration rooted at ``root`` (cache, pki, logs all below it)."""
    return {
        "id": minion_id,
        "root_dir": root,
        "cachedir": os.path.join(root, "cache"),
        # Salt derives this from its default cachedir, not the one above: set it explicitly
        # (beside the cache, which Salt Factories' loaders wipe between functional tests).
        "extension_modules": os.path.join(root, "extmods"),
        "pki_dir": os.path.join(root, "pki"),
        "sock_dir": os.path.join(root, "run"),
        "pidfile": os.path.join(root, "run", "salt-minion.pid"),
        "log_file": os.path.join(root, "log", "minion"),
        "file_client": "local",
        # salt/_modules, salt/_states, salt/_utils, ... link to the top-level folders, so saltutil.sync_all
        # (and a master serving this tree) finds them under salt://.
        "file_roots": {"base": file_roots or [os.path.join(PROJECT, "salt")]},
        "pillar_roots": {"base": pillar_roots or [os.path.join(PROJECT, "pillar"), os.path.join(root, "pillar")]},
        # Reverse DNS of every address: slow, and it hangs on hosts without a resolver.
        "enable_fqdns_grains": False,
        "disable_modules": disabled_modules(systemd),
        # Every salt-call reports its state runs to carbon when monitoring:salt_runs:enabled, and
        # (saltext-prometheus) to the node exporter's textfile collector where the monitoring
        # states put its options in minion.d; elsewhere the latter writes in the cachedir only.
        # Masterless only (minion_of).
        "return": "salt_run_metrics,prometheus_textfile",
        # The masterless minion daemon (salt/monitoring/reactor.sls) runs the beacons from
        # pillar and this reactor; salt-call ignores both. Salt 3008 sends beacon events to a
        # master only, so the reactor takes the minion's own __beacons_return batch instead.
        "master_type": "disable",
        # Its alert_hook engine serves Alertmanager's webhook where Prometheus's alerts are on
        # (minion.d/beacons.conf says where) and turns declared reactions into events.
        "engines": [{"reactor": {}}, {"alert_hook": {}}],
        "reactor": [{"__beacons_return": ["salt://reactor/beacons.sls"]},
                    {"devstack_salt/alert/*": ["salt://reactor/alerts.sls"]}],
    }


def minion_of(config: dict, master: str) -> dict:
    """``config`` (a :func:`minion_config`) for a minion of the master at ``master``."""
    config = {key: value for key, value in config.items() if key not in MASTERLESS_ONLY}
    config["master"] = master
    # Not prometheus_textfile here: a master's jobs carry their keyword arguments as a dict,
    # which that returner takes for the state's name (and a test=True run for a real one).
    config["return"] = "salt_run_metrics"
    return config


def write_private(path: str, text: str) -> None:
    """Write text to path atomically with mode 0600 (its folder made when missing)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    files.write_text(path, text, 0o600)


def write_config(path: str, config: dict) -> None:
    """A Salt config file (JSON, which Salt reads as YAML), 0600."""
    write_private(path, json.dumps(config, indent=2) + "\n")


def configured_address(path: str) -> str | None:
    """The node's own address an earlier run wrote into the minion config at ``path`` (the
    ``devstack_salt_address`` grain), or None: a later run without ``--address`` keeps it."""
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    grains = config.get("grains") if isinstance(config, dict) else None
    address = grains.get("devstack_salt_address") if isinstance(grains, dict) else None
    return address if isinstance(address, str) and address else None


def generated_secrets() -> dict:
    """Fresh random secrets for every password the default pillar refers to. Passwords are
    alphanumeric (DevStack embeds them in URLs: no symbols); each has one place in pillar."""
    alphabet = string.ascii_letters + string.digits

    def password() -> str:
        return "".join(secrets.choice(alphabet) for _ in range(24))

    return {
        "devstack": {"localrc": {"ADMIN_PASSWORD": password(), "SWIFT_HASH": secrets.token_hex(16)}},
        "database": {
            "devstack": {"password": password()},
            # collectd's mysql plugin (monitoring role): database:users:collectd
            "users": {"collectd": {"password": password()}},
        },
        # Graphite's web application (monitoring:web): Django's secret key, the admin account
        "monitoring": {"web": {"secret_key": secrets.token_urlsafe(48), "admin_password": password()},
                       # Alertmanager's bearer token for the reactions' webhook
                       "prometheus": {"alertmanager": {"hook_token": secrets.token_urlsafe(32)}}},
        "broker": {
            "erlang_cookie": "".join(secrets.choice(string.ascii_uppercase) for _ in range(32)),
            # devstack: RABBIT_PASSWORD; collectd: the management API (monitoring role)
            "users": {"devstack": {"password": password()}, "collectd": {"password": password()}},
        },
    }


def add_missing(current: dict, fresh: dict) -> bool:
    """Add to ``current`` the keys of ``fresh`` it lacks, recursively; never change a value it
    has. True when something was added."""
    added = False
    for key, value in fresh.items():
        if key not in current:
            current[key] = value
            added = True
        elif isinstance(current[key], dict) and isinstance(value, dict):
            added = add_missing(current[key], value) or added
    return added


def ensure_secrets(path: str) -> str:
    """Write the secrets pillar once; on a later run add only the secrets a newer version of
    the pillar refers to (existing passwords are kept). Returns what was done."""
    header = "# Generated by bin/configure for this host; mode 0600, not in git.\n"
    if not os.path.exists(path):
        write_private(path, header + json.dumps(generated_secrets(), indent=2) + "\n")
        return "written"
    import yaml  # the project's .venv has PyYAML (bin/setup runs bin/configure with it)

    with open(path, encoding="utf-8") as handle:
        current = yaml.safe_load(handle) or {}
    if not add_missing(current, generated_secrets()):
        return "kept"
    write_private(path, header + json.dumps(current, indent=2) + "\n")
    return "completed"


#: This host's own pillar, merged over the default pillar (pillar/top.sls lists it last). Kept
#: when it exists: it is the operator's file, e.g. to turn stacking on.
SITE_PILLAR = """\
# This host's own pillar: merged over the project's default pillar (pillar/*.sls), key by key.
# bin/configure writes this file once and never changes it; mode 0600 (it may hold secrets).
# For example, to stack DevStack on every apply that needs it:
#
# devstack:
#   stack: true
"""


def master_config(root: str, pillar_root: str, interface: str = "0.0.0.0") -> dict:
    """A salt-master serving this repository's states, with pillar from ``pillar_root`` first
    (its top.sls wins), then the project's pillar/ (the role files) and the generated secrets.
    It accepts no minion by itself: only those whose public keys :func:`seed_keys` put in its
    key folder (``bin/cluster keys``)."""
    return {
        "root_dir": root,
        "cachedir": os.path.join(root, "master-cache"),
        "pki_dir": os.path.join(root, "master-pki"),
        "sock_dir": os.path.join(root, "master-run"),
        "pidfile": os.path.join(root, "master-run", "salt-master.pid"),
        "log_file": os.path.join(root, "log", "master"),
        "interface": interface,
        "file_roots": {"base": [os.path.join(PROJECT, "salt")]},
        "pillar_roots": {"base": [os.path.abspath(pillar_root), os.path.join(PROJECT, "pillar"),
                                  os.path.join(root, "pillar")]},
        "enable_fqdns_grains": False,
        # Trust rests on keys, not names: a minion is accepted only with the key pair made for
        # its id (its public key seeded here); another key under an accepted id is denied.
        "open_mode": False,
        "auto_accept": False,
        # A master's reactor: the same reactions as the masterless daemon, run on the minion
        # whose beacon fired.
        "reactor": [
            {"salt/beacon/*/service/*": ["salt://reactor/master_service_down.sls"]},
            {"salt/beacon/*/metric_threshold/*": ["salt://reactor/master_threshold.sls"]},
        ],
    }


def ensure_site_pillar(path: str) -> bool:
    """Write the site pillar when it is missing (never change the operator's file). True when written."""
    if os.path.exists(path):
        return False
    write_private(path, SITE_PILLAR)
    return True


#: The key files of a cluster's nodes, as ``bin/cluster keys DIR ID...`` lays them out: DIR/master
#: (the master's pair and every minion's public key) and DIR/ID (a minion's pair and the master's
#: public key), each the node's own Salt key folder.
MASTER_KEYS = ("master.pem", "master.pub")
MINION_KEYS = ("minion.pem", "minion.pub", "minion_master.pub")


def seed_keys(source: str, pki_dir: str, master: bool) -> list[str]:
    """Copy a node's keys from ``source`` (its folder of ``bin/cluster keys``) into its Salt key
    folder ``pki_dir``: private keys 0400, the folders 0700. For a master, every minion public
    key under ``source/minions`` too: those minions, and no others, are accepted (a key accepted
    before whose id is no longer there is removed: that minion is revoked). Returns the minion
    ids (a master's) or the files copied. Raises ValueError saying what is missing."""
    wanted = MASTER_KEYS if master else MINION_KEYS
    missing = [name for name in wanted if not os.path.isfile(os.path.join(source, name))]
    minions = sorted(name for name in os.listdir(os.path.join(source, "minions")) if not name.startswith(".")
                     and os.path.isfile(os.path.join(source, "minions", name))) if master and os.path.isdir(
        os.path.join(source, "minions")) else []
    if master and not minions:
        missing.append("minions/<id> (a public key per minion)")
    if missing:
        raise ValueError(f"{source} lacks {', '.join(missing)}: make the keys with bin/cluster keys DIR ID... and give "
                         f"{'the master DIR/master' if master else 'each minion its own DIR/<id>'}")
    copies = [(name, name) for name in wanted] + [(f"minions/{m}", f"minions/{m}") for m in minions]
    for src, dst in copies:
        target = os.path.join(pki_dir, dst)
        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        with open(os.path.join(source, src), encoding="ascii") as handle:
            text = handle.read()
        files.write_text(target, text, 0o400 if dst.endswith(".pem") else 0o644)  # replaced whole, by rename
    accepted = os.path.join(pki_dir, "minions")
    if master and os.path.isdir(accepted):
        for name in sorted(set(os.listdir(accepted)) - set(minions)):
            os.remove(os.path.join(accepted, name))
    return minions if master else [dst for _, dst in copies]


#: The unit of each daemon of a cluster node, written by ``bin/cluster`` where systemd runs.
UNIT = """\
# Written by bin/cluster: this checkout's salt-{daemon} ({config_dir}), started at boot.
[Unit]
Description=devstack-salt: salt-{daemon} of {config_dir}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart={bin_dir}/salt-{daemon} -c {config_dir} --log-level=quiet
Restart=on-failure
RestartSec=5
# As Salt's own units: a restart of the daemon never kills the jobs it started (stack.sh, states).
KillMode=process

[Install]
WantedBy=multi-user.target
"""


def cluster_unit(daemon: str, bin_dir: str, config_dir: str) -> tuple[str, str]:
    """(unit name, unit text) of ``daemon`` (master or minion): ``devstack-salt-master``, or
    ``devstack-salt-minion`` (the one salt-minion of a node: the masterless reactor's unit has
    the same name, and a minion of a master runs no masterless daemon)."""
    return f"devstack-salt-{daemon}.service", UNIT.format(daemon=daemon, bin_dir=bin_dir, config_dir=config_dir)
