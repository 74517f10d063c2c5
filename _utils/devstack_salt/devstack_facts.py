"""
What DevStack itself defines, as this project relies on it: its phases, services and aliases,
the variables it sets before localrc, its config-file variables, the passwords stack.sh prompts
for, the names localrc cannot set, the units reading each config file, and how a meta-section
header (``[[post-config|$NOVA_CONF]]``) names a file.

Checked against DevStack master (see ../shared/devstack-localconf.md);
tests/unit/test_devstack_judge.py checks :data:`DEVSTACK_PATHS` against DevStack's own lib/.
Data and pure functions only: nothing here reads pillar or touches the host.
"""

from __future__ import annotations

import re
from typing import Iterable

from .shell import NAME_PATTERN

#: Meta-section groups that stack.sh merges, in the order it merges them.
PHASES = ("post-config", "extra", "post-extra", "test-config")
#: DevStack's default ENABLED_SERVICES (stackrc), used when disable_all_services is false.
DEFAULT_SERVICES = (
    "key", "n-api", "n-cpu", "n-cond", "n-sch", "n-novnc", "n-api-meta", "placement-api",
    "placement-client", "g-api", "c-sch", "c-api", "c-vol", "ovn-controller", "ovn-northd",
    "ovs-vswitchd", "ovsdb-server", "q-svc", "q-ovn-agent", "horizon", "rabbit", "tempest",
    "mysql", "etcd3", "dstat",
)
#: Friendly names accepted under devstack:services, mapped to DevStack's own service names.
SERVICE_ALIASES = {
    "keystone": ("key",),
    "swift": ("s-proxy", "s-object", "s-container", "s-account"),
    "rabbitmq": ("rabbit",),
    "mariadb": ("mysql",),
    "glance": ("g-api",),
    "cinder": ("c-api", "c-sch", "c-vol"),
    "placement": ("placement-api",),
}
#: Names DevStack's is_service_enabled reads as "any service with this prefix" (functions-common).
CATCH_ALL_SERVICES = {"nova": ("n-", "n-api, n-cpu"), "neutron": ("q-", "q-svc"), "trove": ("tr-", "tr-api")}
#: Variables that exist when DevStack sources the localrc section (stack.sh and stackrc set them
#: first), so a reference may use them. HOST_IP, SERVICE_HOST and every lib/* variable come later.
EARLY_VARIABLES = frozenset({
    "TOP_DIR", "FILES", "RC_DIR", "DEST", "DATA_DIR", "SERVICE_DIR", "SUBUNIT_OUTPUT",
    "STACK_USER", "REGION_NAME", "KEYSTONE_REGION_NAME", "ENABLED_SERVICES", "TARGET_BRANCH",
    "TRAILING_TARGET_BRANCH", "BRANCHLESS_TARGET_BRANCH", "ENABLE_HTTPD_MOD_WSGI_SERVICES",
    "NOVA_ENABLED_APIS", "DISTRO", "HOME", "USER", "PATH",
})
#: Config-file variables DevStack defines (lib/*), each with its definition there (the default of
#: a ``${NAME:-default}``), so that a meta-section header such as ``[[post-config|$KEYSTONE_CONF]]``
#: resolves to the file DevStack writes. tests/unit/test_devstack_judge.py checks every entry
#: against DevStack's lib/. The helpers are not headers themselves. Plugins define more: list
#: those in devstack:known_variables.
DEVSTACK_PATHS = {
    "CINDER_CONF_DIR": "/etc/cinder",
    "CINDER_CONF": "$CINDER_CONF_DIR/cinder.conf",
    "CINDER_API_PASTE_INI": "$CINDER_CONF_DIR/api-paste.ini",
    "CINDER_UWSGI_CONF": "$CINDER_CONF_DIR/cinder-api-uwsgi.ini",
    "GLANCE_CONF_DIR": "/etc/glance",
    "GLANCE_API_CONF": "$GLANCE_CONF_DIR/glance-api.conf",
    "GLANCE_API_PASTE_INI": "$GLANCE_CONF_DIR/glance-api-paste.ini",
    "GLANCE_CACHE_CONF": "$GLANCE_CONF_DIR/glance-cache.conf",
    "GLANCE_IMAGE_IMPORT_CONF": "$GLANCE_CONF_DIR/glance-image-import.conf",
    "GLANCE_SWIFT_STORE_CONF": "$GLANCE_CONF_DIR/glance-swift-store.conf",
    "GLANCE_UWSGI_CONF": "$GLANCE_CONF_DIR/glance-uwsgi.ini",
    "KEYSTONE_CONF_DIR": "/etc/keystone",
    "KEYSTONE_CONF": "$KEYSTONE_CONF_DIR/keystone.conf",
    "KEYSTONE_LDAP_DOMAIN_FILE": "$KEYSTONE_CONF_DIR/domains/keystone.Users.conf",
    "KEYSTONE_PUBLIC_UWSGI_CONF": "$KEYSTONE_CONF_DIR/keystone-uwsgi-public.ini",
    "METERING_AGENT_CONF_PATH": "/etc/neutron/services/metering",
    "METERING_AGENT_CONF_FILENAME": "$METERING_AGENT_CONF_PATH/metering_agent.ini",
    "NEUTRON_CONF_DIR": "/etc/neutron",
    "NEUTRON_CONF": "$NEUTRON_CONF_DIR/neutron.conf",
    "NEUTRON_CORE_PLUGIN_CONF": "$Q_PLUGIN_CONF_FILE",
    "NEUTRON_DHCP_CONF": "$Q_DHCP_CONF_FILE",
    "NEUTRON_L3_CONF": "$Q_L3_CONF_FILE",
    "NEUTRON_TEST_CONFIG_FILE": "$NEUTRON_CONF_DIR/debug.ini",
    "NEUTRON_UWSGI_CONF": "$NEUTRON_CONF_DIR/neutron-api-uwsgi.ini",
    "NOVA_CONF_DIR": "/etc/nova",
    "NOVA_CONF": "$NOVA_CONF_DIR/nova.conf",
    "NOVA_API_PASTE_INI": "$NOVA_CONF_DIR/api-paste.ini",
    "NOVA_COND_CONF": "$NOVA_CONF_DIR/nova.conf",
    "NOVA_CPU_CONF": "$NOVA_CONF_DIR/nova-cpu.conf",
    "NOVA_FAKE_CONF": "$NOVA_CONF_DIR/nova-fake.conf",
    "NOVA_METADATA_UWSGI_CONF": "$NOVA_CONF_DIR/nova-metadata-uwsgi.ini",
    "NOVA_UWSGI_CONF": "$NOVA_CONF_DIR/nova-api-uwsgi.ini",
    "OVN_AGENT_CONF": "$NEUTRON_CONF_DIR/plugins/ml2/ovn_agent.ini",
    "OVN_META_CONF": "$NEUTRON_CONF_DIR/neutron_ovn_metadata_agent.ini",
    "PLACEMENT_CONF_DIR": "/etc/placement",
    "PLACEMENT_CONF": "$PLACEMENT_CONF_DIR/placement.conf",
    "PLACEMENT_UWSGI_CONF": "$PLACEMENT_CONF_DIR/placement-uwsgi.ini",
    "QEMU_CONF": "/etc/libvirt/qemu.conf",
    "Q_API_PASTE_FILE": "$NEUTRON_CONF_DIR/api-paste.ini",
    "Q_DHCP_CONF_FILE": "$NEUTRON_CONF_DIR/dhcp_agent.ini",
    "Q_L3_CONF_FILE": "$NEUTRON_CONF_DIR/l3_agent.ini",
    "Q_META_CONF_FILE": "$NEUTRON_CONF_DIR/metadata_agent.ini",
    "Q_PLUGIN_CONF_PATH": "etc/neutron/plugins/ml2",
    "Q_PLUGIN_CONF_FILENAME": "ml2_conf.ini",
    "Q_PLUGIN_CONF_FILE": "$Q_PLUGIN_CONF_PATH/$Q_PLUGIN_CONF_FILENAME",
    "Q_RR_CONF_FILE": "$NEUTRON_CONF_DIR/rootwrap.conf",
    "SWIFT_CONF_DIR": "/etc/swift",
    "SWIFT_CONFIG_PROXY_SERVER": "$SWIFT_CONF_DIR/proxy-server.conf",
    "TEMPEST_DIR": "$DEST/tempest",
    "TEMPEST_CONFIG_DIR": "$TEMPEST_DIR/etc",
    "TEMPEST_CONFIG": "$TEMPEST_CONFIG_DIR/tempest.conf",
}
_PATH_HELPERS = frozenset({"METERING_AGENT_CONF_PATH", "Q_PLUGIN_CONF_PATH", "Q_PLUGIN_CONF_FILENAME", "TEMPEST_DIR"})
#: The variables a header may start with. The *_DIR ones name directories: a header needs a
#: /file after them. Q_PLUGIN_CONF_FILE and NEUTRON_CORE_PLUGIN_CONF are relative to /: a
#: header writes them /$Q_PLUGIN_CONF_FILE.
KNOWN_FILE_VARIABLES = frozenset(DEVSTACK_PATHS) - _PATH_HELPERS
DIRECTORY_VARIABLES = frozenset(name for name in KNOWN_FILE_VARIABLES if name.endswith("_DIR"))
#: Passwords stack.sh prompts for (read_password), and when. A prompt hangs an unattended run.
PROMPTED_PASSWORDS = (
    ("DATABASE_PASSWORD", ("mysql", "postgresql")),  # MYSQL_PASSWORD, if set, is copied into it
    ("RABBIT_PASSWORD", ("rabbit",)),
    ("SERVICE_PASSWORD", ("key",)),
    ("ADMIN_PASSWORD", ("key",)),
    ("SWIFT_HASH", ("s-proxy",)),
)
#: Names localrc cannot set: bash's own variables (read-only, or special to the shell: sourcing
#: localrc fails or every later line of DevStack reads differently), and what DevStack computes
#: before localrc and relies on (where it finds itself and local.conf, the service lists).
RESERVED_VARIABLES = frozenset({
    "BASH", "BASHOPTS", "BASHPID", "BASH_ALIASES", "BASH_ARGC", "BASH_ARGV", "BASH_ARGV0", "BASH_CMDS",
    "BASH_COMMAND", "BASH_ENV", "BASH_LINENO", "BASH_REMATCH", "BASH_SOURCE", "BASH_SUBSHELL",
    "BASH_VERSINFO", "BASH_VERSION", "BASH_XTRACEFD", "COMP_CWORD", "COMP_LINE", "COMP_POINT", "COMP_WORDS",
    "DIRSTACK", "EPOCHREALTIME", "EPOCHSECONDS", "EUID", "FUNCNAME", "GLOBIGNORE", "GROUPS", "HISTCMD",
    "IFS", "LINENO", "OLDPWD", "OPTARG", "OPTIND", "PIPESTATUS", "POSIXLY_CORRECT", "PPID", "PWD", "RANDOM",
    "REPLY", "SECONDS", "SHELLOPTS", "SHLVL", "SRANDOM", "UID",
    "TOP_DIR", "RC_DIR", "FUNC_DIR", "DISABLED_SERVICES", "DEVSTACK_PLUGINS",
})
#: The systemd units of DevStack's services that read each config file (patterns systemctl
#: accepts). stack.sh starts Keystone before it merges post-config, and merges post-extra and
#: test-config after every service started: a merged option is in effect only once the units
#: reading the file restart.
CONFIG_FILE_UNITS = {
    "KEYSTONE_CONF": ("devstack@keystone.service",),
    "KEYSTONE_PUBLIC_UWSGI_CONF": ("devstack@keystone.service",),
    "SWIFT_CONFIG_PROXY_SERVER": ("devstack@s-proxy.service",),
    "NOVA_CONF": ("devstack@n-*.service",),
    "NOVA_CPU_CONF": ("devstack@n-cpu.service",),
    "NOVA_COND_CONF": ("devstack@n-cond*.service", "devstack@n-super-cond.service"),
    "GLANCE_API_CONF": ("devstack@g-api.service",),
    "CINDER_CONF": ("devstack@c-*.service",),
    "NEUTRON_CONF": ("devstack@q-*.service", "devstack@neutron-*.service"),
    "PLACEMENT_CONF": ("devstack@placement-api.service",),
}
#: Config files DevStack copies from another when it starts a service, and the service reading
#: only the copy: {source variable: (copy variable, service, where)}. start_nova_compute copies
#: $NOVA_CONF to $NOVA_CPU_CONF after post-config, merges post-config|$NOVA_CPU_CONF into it and
#: sets more options there: a change of $NOVA_CONF made in place never reaches nova-compute.
COPIED_CONFIG_FILES = {"NOVA_CONF": ("NOVA_CPU_CONF", "n-cpu", "lib/nova start_nova_compute")}
#: Ports a stacked node's DevStack services listen on (on every address), which another service
#: of the node must leave free: Apache (the API endpoints under /identity, /compute, ... and
#: Horizon; 443 with tls-proxy), Keystone's public port, Heat's CloudFormation API, Swift's proxy.
LISTEN_PORTS = {80: "Apache (the API endpoints, Horizon)", 443: "Apache with TLS (tls-proxy)", 5000: "Keystone",
                8000: "Heat's CloudFormation API", 8080: "Swift's proxy"}
#: Phases whose files DevStack merges after the services reading them may have started.
RESTART_PHASES = ("post-config", "post-extra")

#: Names whose values are secrets: masked in every output, diff and log.
SECRET_NAME_RE = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY\Z|\AKEY\Z|SWIFT_HASH", re.I)


def is_secret_name(name: str) -> bool:
    """True for a variable or option name whose value is a secret (passwords, keys, tokens)."""
    return bool(SECRET_NAME_RE.search(name))


def is_password_variable(name: str) -> bool:
    """Variables DevStack embeds in URLs and config, and so must be alphanumeric."""
    return name.endswith("PASSWORD") or name in ("SWIFT_HASH", "SWIFT_TEMPURL_KEY")


# No '.' in service names: DevStack compares them as regular expressions (an unquoted ``=~``),
# where '.' matches any character (enable_service a.b does nothing after a-b).
SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
# No '/': DevStack's iniset puts section and option names into sed addresses delimited by '/'.
SECTION_RE = re.compile(r"[A-Za-z0-9_.:-]+\Z")
OPTION_RE = re.compile(r"[A-Za-z0-9_.:-]+\Z")
PATH_HEADER_RE = re.compile(r"/[A-Za-z0-9_.@+/-]*\Z")
VAR_HEADER_RE = re.compile(
    r"(?P<slash>/?)\$(?:(?P<bare>" + NAME_PATTERN + r")|\{(?P<braced>" + NAME_PATTERN + r")\})(?P<rest>(?:/[A-Za-z0-9_.@+-]+)*)\Z"
)


def canonical_header_file(filename: str) -> str | None:
    """``$NAME``/``${NAME}`` (plus an optional /path) or an absolute path, canonicalised; else None."""
    if PATH_HEADER_RE.match(filename):
        return filename
    match = VAR_HEADER_RE.match(filename)
    if match:
        return match.group("slash") + "$" + (match.group("bare") or match.group("braced")) + match.group("rest")
    return None


def header_variable(filename: str) -> str | None:
    """The variable a canonical header file starts with, if any."""
    match = VAR_HEADER_RE.match(filename)
    return (match.group("bare") or match.group("braced")) if match else None


_PATH_REF_RE = re.compile(r"\$\{(" + NAME_PATTERN + r")\}|\$(" + NAME_PATTERN + r")")


def resolve_file_variable(name: str, extra: dict[str, str] | None = None) -> str:
    """DevStack's value of a config-file variable, from :data:`DEVSTACK_PATHS` (and ``extra``).

    Variables neither table defines stay as ``$NAME`` (e.g. ``$DEST`` unless ``extra`` has it).
    """
    table = {**DEVSTACK_PATHS, **(extra or {})}

    def expand(text: str, seen: frozenset) -> str:
        def one(match: re.Match) -> str:
            ref = match.group(1) or match.group(2)
            if ref in seen or ref not in table:
                return "$" + ref
            return expand(table[ref], seen | {ref})
        return _PATH_REF_RE.sub(one, text)

    return expand("$" + name, frozenset())


def header_identity(filename: str, extra: dict[str, str] | None = None) -> str:
    """The file a (canonical) header names, as far as DevStack's definitions tell: two headers
    with one identity are one file to DevStack (``$NEUTRON_DHCP_CONF`` and ``$Q_DHCP_CONF_FILE``)."""
    match = VAR_HEADER_RE.match(filename)
    if not match:
        return re.sub("/+", "/", filename)
    variable = match.group("bare") or match.group("braced")
    text = match.group("slash") + resolve_file_variable(variable, extra) + match.group("rest")
    return re.sub("/+", "/", text)


def header_problem(filename: str, known: Iterable[str]) -> str | None:
    """Why DevStack would not write the header's file where the header seems to say, or None."""
    if any(part in (".", "..") for part in filename.split("/")):
        return "has a '.' or '..' component; write the plain absolute path"
    variable = header_variable(filename)
    if variable is None:
        return None
    if variable not in set(known) | KNOWN_FILE_VARIABLES:
        return (f"${variable} is not a variable DevStack defines, and an unknown one makes DevStack skip every "
                "later file of the phase")
    if variable not in KNOWN_FILE_VARIABLES:
        return None
    match = VAR_HEADER_RE.match(filename)
    rest, slash = match.group("rest"), match.group("slash")
    if variable in DIRECTORY_VARIABLES and not rest:
        return (f"${variable} is a directory, not a file: DevStack would fail to merge into it; name a file "
                f"below it, e.g. ${variable}/foo.conf")
    if variable not in DIRECTORY_VARIABLES and rest:
        return f"${variable} is a file, not a directory; use ${variable} alone or an absolute path"
    if not slash and not resolve_file_variable(variable).startswith(("/", "$")):
        return (f"${variable} is a path relative to / ({resolve_file_variable(variable)}): DevStack would write it "
                f"relative to its working directory; write /${variable}")
    return None
