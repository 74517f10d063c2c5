"""
The local.conf model: the ``devstack`` pillar validated and normalised into a model, checked
across its parts, and read for what it means (services, orders, prompted passwords, secrets,
the node's settings, a semantic diff and a digest of its meaning).

The pillar under ``devstack:`` (see README.md) becomes a *model*, a plain dict that is also
valid pillar::

    {"disable_all_services": bool,
     "services": {devstack_service_name: bool},
     "localrc": {NAME: "literal" | {"ref": NAME} | {"expand": "text ${NAME} text"}},
     "plugins": {name: {"url": str, "ref": str (optional), "requires": [names] (optional)}},
     "config": {phase: {file: {section: {option: str | [str, ...]}}}}}

Data flows one way: pillar -> normalise and validate (every error names its pillar path, raised
together as :class:`~devstack_salt.errors.LocalConfError`) -> model. The text of local.conf
(render, parse, the file) is :mod:`devstack_salt.localconf_text`.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Iterable

from .devstack_facts import (
    CATCH_ALL_SERVICES, DEFAULT_SERVICES, EARLY_VARIABLES, OPTION_RE, PATH_HEADER_RE, PHASES, PROMPTED_PASSWORDS,
    RESERVED_VARIABLES, SECTION_RE, SERVICE_ALIASES, SERVICE_RE, canonical_header_file, header_identity,
    header_problem, is_password_variable, is_secret_name,
)
from . import contract
from .errors import LocalConfError, PillarError
from .shell import NAME_RE, config_value_problem, has_bad_char, template_parts

MODEL_KEYS = ("disable_all_services", "services", "localrc", "plugins", "config")
#: Keys under devstack: that belong to the role rather than to the local.conf model.
ROLE_KEYS = frozenset({
    "user", "group", "dest", "local_conf", "known_variables", "repo", "ref", "stack", "checkout",
    "stack_timeout", "unstack_before_restack", "database", "broker", "config_units",
})
#: The role's defaults (README: "The DevStack node role").
NODE_DEFAULTS = {
    "user": "stack",
    "dest": "/opt/stack",
    "repo": "https://opendev.org/openstack/devstack",
    "ref": "stable/2026.1",
    "stack": False,
    "stack_timeout": 3600,
    "unstack_before_restack": False,
}
#: Where the role records what was stacked (root-owned, 0600).
STATE_DIR = "/var/lib/devstack-salt"
#: What a secret shows as in every output, diff, comment and log.
MASK = "<hidden>"

PLUGIN_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
URL_RE = re.compile(r"[^\s'\"\\`$;|&<>(){}]+\Z")
REF_RE = re.compile(r"[^\s'\"\\`$;|&<>(){}#]+\Z")
ALNUM_RE = re.compile(r"[A-Za-z0-9]+\Z")
#: The password of a URL (``scheme://user:password@host``), masked wherever text is shown.
URL_CREDENTIALS_RE = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _scalar_text(value: Any) -> str | None:
    """Render a YAML scalar the way DevStack expects it; None when it is not a scalar."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def value_from_parts(parts) -> Any:
    """The canonical model value for template parts: a literal, a ref, or an expand template."""
    if all(kind == "lit" for kind, _ in parts):
        return "".join(value for _, value in parts)
    if len(parts) == 1:
        return {"ref": parts[0][1]}
    text = "".join(value.replace("$", "$$") if kind == "lit" else "${" + value + "}" for kind, value in parts)
    return {"expand": text}


def value_refs(value: Any) -> list[str]:
    """Names a localrc model value refers to, in order of appearance."""
    if isinstance(value, dict):
        if "ref" in value:
            return [value["ref"]]
        return [v for k, v in template_parts(value["expand"]) if k == "ref"]
    return []


def display_value(value: Any) -> str:
    """A localrc model value as a person reads it: literal text, $NAME or the template."""
    if isinstance(value, dict):
        return "${" + value["ref"] + "}" if "ref" in value else value["expand"]
    return value


def resolve_literal(localrc: dict, name: str, early: dict[str, str]) -> str | None:
    """The value bash would give a localrc variable, when it is built from literals only."""
    value = localrc.get(name)
    if value is None:
        return early.get(name)
    if not isinstance(value, dict):
        return value
    parts = [("ref", value["ref"])] if "ref" in value else template_parts(value["expand"])
    out = []
    for kind, text in parts:
        if kind == "lit":
            out.append(text)
        else:
            resolved = resolve_literal(localrc, text, early) if text != name else None
            if resolved is None:
                return None
            out.append(resolved)
    return "".join(out)


def topo_order(nodes: Iterable[str], deps: dict[str, Iterable[str]]) -> list[str]:
    """Order nodes so each comes after its dependencies (deterministic: names are visited sorted).

    A depth-first post-order walk: taking nodes in name order, each node's dependencies are
    placed (recursively, also in name order) just before it. Unlike a pre-order walk (DevStack's
    Ansible module), a chain A -> B -> C comes out C, B, A. The result depends only on the graph,
    never on dict or hash order. Raises ValueError naming the cycle ("a -> b -> a"; a node that
    depends on itself is the cycle "a -> a").
    """
    ordered = sorted(nodes)
    node_set = set(ordered)
    done: set[str] = set()
    order: list[str] = []
    for root in ordered:
        if root in done:
            continue
        if not deps.get(root):
            done.add(root)
            order.append(root)
            continue
        path = [root]
        pending = [iter(sorted(deps[root]))]
        on_path = {root}
        while path:
            for dep in pending[-1]:
                if dep in done or dep not in node_set:
                    continue
                if dep in on_path:
                    raise ValueError(" -> ".join(path[path.index(dep):] + [dep]))
                path.append(dep)
                on_path.add(dep)
                pending.append(iter(sorted(deps.get(dep, ()))))
                break
            else:
                node = path.pop()
                pending.pop()
                on_path.discard(node)
                done.add(node)
                order.append(node)
    return order


def normalize(pillar: Any, root: str = "devstack") -> dict:
    """Turn the devstack pillar into the canonical model, or raise LocalConfError.

    Structural checks happen here; cross-checks (references, plugin requirements, prompted
    passwords, headers) happen in :func:`check`. Use :func:`build` for both.
    """
    errors: list[str] = []
    model = _normalize(pillar, root, errors)
    if errors:
        raise LocalConfError(errors)
    return model


def _normalize(pillar: Any, root: str, errors: list[str]) -> dict:
    """normalize() that appends to ``errors`` and returns the model of the valid parts."""
    if not isinstance(pillar, dict):
        raise LocalConfError([f"{root} must be a mapping (got {type(pillar).__name__}); see README.md"])
    unknown = sorted(set(map(str, pillar)) - set(MODEL_KEYS) - ROLE_KEYS)
    for key in unknown:
        errors.append(
            f"{root}:{key} is not a known key; use one of {', '.join(MODEL_KEYS + tuple(sorted(ROLE_KEYS)))}"
        )
    disable_all = pillar.get("disable_all_services", False)
    if not isinstance(disable_all, bool):
        errors.append(f"{root}:disable_all_services must be true or false")
        disable_all = False
    return {
        "disable_all_services": disable_all,
        "services": _normalize_services(pillar.get("services"), f"{root}:services", errors),
        "localrc": _normalize_localrc(pillar.get("localrc"), f"{root}:localrc", errors),
        "plugins": _normalize_plugins(pillar.get("plugins"), f"{root}:plugins", errors),
        "config": _normalize_config(pillar.get("config"), f"{root}:config", errors),
    }


def _mapping(raw: Any, path: str, errors: list[str], example: str) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(f"{path} must be a mapping, e.g. {example}")
        return {}
    return raw


def _normalize_services(raw: Any, path: str, errors: list[str]) -> dict[str, bool]:
    raw = _mapping(raw, path, errors, "{keystone: true, tempest: false}")
    result: dict[str, bool] = {}
    source: dict[str, str] = {}
    for name in sorted(raw, key=str):
        value = raw[name]
        name = str(name)
        if not SERVICE_RE.match(name):
            errors.append(f"{path}:{name} is not a valid service name (letters, digits, '_' and '-'; DevStack "
                          "matches names as regular expressions, so no '.')")
            continue
        if name in CATCH_ALL_SERVICES:
            errors.append(
                f"{path}:{name}: DevStack reads {name} as 'any {CATCH_ALL_SERVICES[name][0]}* service': enable_service "
                f"{name} does nothing when one runs and disable_service {name} disables none of them; name the "
                f"services themselves (e.g. {CATCH_ALL_SERVICES[name][1]})"
            )
            continue
        if not isinstance(value, bool):
            errors.append(f"{path}:{name} must be true (enable) or false (disable)")
            continue
        for target in SERVICE_ALIASES.get(name, (name,)):
            if target in result and result[target] != value:
                errors.append(
                    f"{path}:{name} sets service {target} to {str(value).lower()} but "
                    f"{path}:{source[target]} sets it to {str(result[target]).lower()}; keep one"
                )
                continue
            result[target] = value
            source[target] = name
    return dict(sorted(result.items()))


def _normalize_localrc(raw: Any, path: str, errors: list[str]) -> dict[str, Any]:
    raw = _mapping(raw, path, errors, "{ADMIN_PASSWORD: secret}")
    result: dict[str, Any] = {}
    for name in sorted(raw, key=str):
        value = raw[name]
        name = str(name)
        where = f"{path}:{name}"
        if not NAME_RE.match(name):
            errors.append(f"{where}: a variable name must be letters, digits and '_', not starting with a digit")
            continue
        if name in RESERVED_VARIABLES:
            errors.append(f"{where}: {name} is set by bash or by DevStack itself before localrc (sourcing localrc "
                          "would fail, or change how DevStack's own scripts run); use another name")
            continue
        if name == "ENABLED_SERVICES":
            errors.append(f"{where}: set services under {path.rsplit(':', 1)[0]}:services and disable_all_services instead")
            continue
        normalized = _localrc_value(value, where, errors)
        if normalized is not None:
            result[name] = normalized
    return result


def _localrc_value(value: Any, where: str, errors: list[str]) -> Any:
    if value is None:
        errors.append(f"{where} is empty (null); give it a value (\"\" for an empty string) or remove it")
        return None
    text = _scalar_text(value)
    if text is not None:
        bad = has_bad_char(text)
        if bad:
            errors.append(f"{where} contains {bad}; local.conf values must be a single line")
            return None
        return text
    if isinstance(value, dict) and len(value) == 1 and ("ref" in value or "expand" in value):
        if "ref" in value:
            ref = value["ref"]
            if not isinstance(ref, str) or not NAME_RE.match(ref):
                errors.append(f"{where}:ref must be a variable name, e.g. {{ref: ADMIN_PASSWORD}}")
                return None
            return {"ref": ref}
        template = value["expand"]
        if not isinstance(template, str):
            errors.append(f"{where}:expand must be a string such as \"${{DEST}}/logs/stack.sh.log\"")
            return None
        bad = has_bad_char(template)
        if bad:
            errors.append(f"{where}:expand contains {bad}; local.conf values must be a single line")
            return None
        try:
            return value_from_parts(template_parts(template))
        except ValueError as exc:
            errors.append(f"{where}:expand {exc}")
            return None
    if isinstance(value, list):
        errors.append(f"{where} is a list; localrc values are single strings (join them yourself, e.g. \"a,b\")")
    elif isinstance(value, dict):
        errors.append(
            f"{where} is a mapping; a value is a string, a number, true/false, "
            "{ref: NAME} (the value of another variable) or {expand: \"text ${NAME}\"}"
        )
    else:
        errors.append(f"{where} has an unsupported type {type(value).__name__}")
    return None


def _normalize_plugins(raw: Any, path: str, errors: list[str]) -> dict[str, dict]:
    raw = _mapping(raw, path, errors, "{heat: {url: https://opendev.org/openstack/heat, ref: master}}")
    result: dict[str, dict] = {}
    for name in sorted(raw, key=str):
        spec = raw[name]
        name = str(name)
        where = f"{path}:{name}"
        if not PLUGIN_RE.match(name):
            errors.append(f"{where}: a plugin name is letters, digits, '_', '.' and '-'")
            continue
        if isinstance(spec, str):
            spec = {"url": spec}
        if not isinstance(spec, dict):
            errors.append(f"{where} must be a git URL or a mapping with url, ref and requires")
            continue
        for key in sorted(set(map(str, spec)) - {"url", "ref", "requires"}):
            errors.append(f"{where}:{key} is not a plugin key; use url, ref or requires")
        url = spec.get("url")
        if not isinstance(url, str) or not url:
            errors.append(f"{where}:url is missing; give the plugin's git repository URL")
            continue
        if not URL_RE.match(url):
            errors.append(f"{where}:url must not contain spaces, quotes or shell characters")
            continue
        plugin: dict[str, Any] = {"url": url}
        if spec.get("ref") is not None:
            ref = _scalar_text(spec["ref"])
            if ref is None or not ref or not REF_RE.match(ref):
                errors.append(f"{where}:ref must be a branch, tag or commit without spaces or shell characters")
                continue
            plugin["ref"] = ref
        requires = spec.get("requires")
        if requires is not None:
            if isinstance(requires, str):
                requires = [requires]
            if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
                errors.append(f"{where}:requires must be a list of plugin names")
                continue
            if requires:
                plugin["requires"] = sorted(set(requires))
        result[name] = plugin
    return result


def _normalize_config(raw: Any, path: str, errors: list[str]) -> dict:
    raw = _mapping(raw, path, errors, "{post-config: {$KEYSTONE_CONF: {DEFAULT: {debug: true}}}}")
    result: dict[str, dict] = {}
    for phase in sorted(raw, key=str):
        files = raw[phase]
        phase = str(phase)
        where = f"{path}:{phase}"
        if phase not in PHASES:
            hint = " (the local phase is devstack:localrc)" if phase in ("local", "localrc") else ""
            errors.append(f"{where} is not a phase DevStack merges{hint}; use one of {', '.join(PHASES)}")
            continue
        files = _mapping(files, where, errors, "{$NOVA_CONF: {DEFAULT: {debug: true}}}")
        phase_out: dict[str, dict] = {}
        canonical_source: dict[str, str] = {}
        for filename in sorted(files, key=str):
            sections = files[filename]
            filename = str(filename)
            fwhere = f"{where}:{filename}"
            canonical = canonical_header_file(filename)
            if canonical is None:
                errors.append(
                    f"{fwhere}: a config file is an absolute path (/etc/foo/foo.conf) or a DevStack "
                    "variable such as $NOVA_CONF or /$Q_PLUGIN_CONF_FILE, optionally followed by /more/path"
                )
                continue
            identity = header_identity(canonical)
            if identity in canonical_source:
                errors.append(
                    f"{fwhere} and {where}:{canonical_source[identity]} name the same file ({identity}); "
                    "DevStack would merge both into it, the later one winning, so keep one"
                )
                continue
            canonical_source[identity] = filename
            sections = _mapping(sections, fwhere, errors, "{DEFAULT: {debug: true}}")
            file_out: dict[str, dict] = {}
            for section in sorted(sections, key=str):
                options = sections[section]
                section = str(section)
                swhere = f"{fwhere}:{section}"
                if not SECTION_RE.match(section):
                    errors.append(
                        f"{swhere}: DevStack's merge would mangle this section name; use letters, "
                        "digits and _ . : - only (no spaces, brackets or '/')"
                    )
                    continue
                options = _mapping(options, swhere, errors, "{debug: true}")
                section_out: dict[str, Any] = {}
                for option in sorted(options, key=str):
                    value = _config_value(options[option], f"{swhere}:{option}", str(option), errors)
                    if value is not None:
                        section_out[str(option)] = value
                if section_out:
                    file_out[section] = section_out
            if file_out:
                phase_out[canonical] = file_out
        if phase_out:
            result[phase] = dict(sorted(phase_out.items()))
    return {phase: result[phase] for phase in PHASES if phase in result}


def _config_value(value: Any, where: str, option: str, errors: list[str]) -> Any:
    if not OPTION_RE.match(option):
        errors.append(
            f"{where}: DevStack's merge would mangle or execute this option name; use letters, "
            "digits and _ . : - only (no spaces, quotes, '/' or a leading ';')"
        )
        return None
    if isinstance(value, list):
        if not value:
            errors.append(f"{where} is an empty list; give at least one value or remove the option")
            return None
        texts = [_config_scalar(v, f"{where}[{i}]", errors) for i, v in enumerate(value)]
        if any(t is None for t in texts):
            return None
        return texts[0] if len(texts) == 1 else texts
    return _config_scalar(value, where, errors)


def _config_scalar(value: Any, where: str, errors: list[str]) -> str | None:
    if value is None:
        errors.append(f"{where} is empty (null); write \"\" for an empty value or remove the option")
        return None
    text = _scalar_text(value)
    if text is None:
        errors.append(f"{where} must be a string, number or true/false (a list gives a multi-valued option)")
        return None
    problem = config_value_problem(text)
    if problem:
        errors.append(f"{where} {problem}")
        return None
    return text


def effective_services(model: dict) -> list[str]:
    """The services DevStack will run, in the order ENABLED_SERVICES will list them."""
    base = [] if model["disable_all_services"] else list(DEFAULT_SERVICES)
    for name, enabled in model["services"].items():
        if enabled and name not in base:
            base.append(name)
    return [name for name in base if model["services"].get(name, True)]


def variable_order(localrc: dict) -> list[str]:
    """Variables in an order where each is assigned after every variable it references.

    A variable's reference to itself orders nothing: bash reads the value it had before the
    assignment (``PATH=${PATH}:/x``, an early variable's default). That is valid for the early
    variables only; :func:`check` reports any other as "refers to itself", not as a cycle.
    """
    deps = {name: [ref for ref in value_refs(value) if ref != name]
            for name, value in localrc.items() if isinstance(value, dict)}
    return topo_order(localrc, deps)


def plugin_order(plugins: dict) -> list[str]:
    """Plugins in an order where each is enabled after every plugin it requires."""
    deps = {name: spec.get("requires", ()) for name, spec in plugins.items()}
    return topo_order(plugins, deps)


def _resolves_empty(localrc: dict, name: str, seen: frozenset = frozenset()) -> bool:
    value = localrc.get(name)
    if value is None:
        return name not in EARLY_VARIABLES
    if not isinstance(value, dict):
        return value == ""
    if name in seen:
        return False
    return all(_resolves_empty(localrc, ref, seen | {name}) for ref in value_refs(value)) and not (
        "expand" in value and any(k == "lit" and v for k, v in template_parts(value["expand"]))
    )


def missing_passwords(model: dict) -> list[dict]:
    """Passwords stack.sh would prompt for, each with the reason it asks."""
    enabled = set(effective_services(model))
    localrc = model["localrc"]
    missing = []
    wanted = list(PROMPTED_PASSWORDS)
    if str(display_value(localrc.get("SWIFT_ENABLE_TEMPURLS", ""))).lower() == "true":
        wanted.append(("SWIFT_TEMPURL_KEY", None))
    if "key" in enabled and "ldap" in enabled:
        wanted.append(("LDAP_PASSWORD", ("ldap",)))
    for name, services in wanted:
        if services is not None and not enabled & set(services):
            continue
        if name == "DATABASE_PASSWORD" and not _resolves_empty(localrc, "MYSQL_PASSWORD"):
            continue
        if _resolves_empty(localrc, name):
            reason = (
                "SWIFT_ENABLE_TEMPURLS is True" if services is None
                else f"service {' or '.join(s for s in services if s in enabled)} is enabled"
            )
            missing.append({"variable": name, "because": reason})
    return missing


def check(model: dict, root: str = "devstack", known_variables: Iterable[str] = ()) -> list[str]:
    """Cross-checks of a model; returns error strings naming pillar paths (empty when valid)."""
    errors: list[str] = []
    localrc = model["localrc"]
    for name in sorted(localrc):
        for ref in value_refs(localrc[name]):
            if ref == name and ref not in EARLY_VARIABLES:
                errors.append(f"{root}:localrc:{name} refers to itself")
            elif ref not in localrc and ref not in EARLY_VARIABLES:
                errors.append(
                    f"{root}:localrc:{name} refers to ${ref}, which is not set in {root}:localrc and is "
                    f"not defined before DevStack reads localrc ({', '.join(sorted(EARLY_VARIABLES))}); set it"
                )
    try:
        variable_order(localrc)
    except ValueError as exc:
        errors.append(f"{root}:localrc has a reference cycle {exc}; break it with a literal value")
    try:
        variable_order(localrc)
        acyclic = True
    except ValueError:
        acyclic = False
    for name in sorted(localrc):
        value = localrc[name]
        if not is_password_variable(name) or not acyclic:
            continue
        # {ref: X} and {expand: ...} are checked for what bash will make of them.
        resolved = resolve_literal(localrc, name, {})
        refs = value_refs(value)
        if resolved is None:
            if all(ref in localrc or ref in EARLY_VARIABLES for ref in refs):
                errors.append(
                    f"{root}:localrc:{name} refers to a variable DevStack sets ({', '.join(sorted(set(refs) - set(localrc)))}), "
                    "so its value cannot be checked to be alphanumeric; give a literal or refer to a localrc variable"
                )
        elif resolved and not ALNUM_RE.match(resolved):
            errors.append(
                f"{root}:localrc:{name} must be alphanumeric (letters and digits only)"
                + (" once its references are resolved" if refs else "")
                + ": DevStack embeds passwords in URLs and config files"
            )
    for item in missing_passwords(model):
        errors.append(
            f"{root}:localrc:{item['variable']} is missing or empty, and stack.sh would prompt for it "
            f"(hanging an unattended run) because {item['because']}; set it to an alphanumeric value"
        )
    plugins = model["plugins"]
    for name in sorted(plugins):
        for required in plugins[name].get("requires", ()):
            if required not in plugins:
                errors.append(
                    f"{root}:plugins:{name}:requires names {required}, which is not in {root}:plugins; add it"
                )
    try:
        plugin_order(plugins)
    except ValueError as exc:
        errors.append(f"{root}:plugins have a requirement cycle {exc}; remove one of these requires")
    known = set(localrc) | set(known_variables)
    for phase, files in model["config"].items():
        for filename in files:
            problem = header_problem(filename, known)
            if problem is not None:
                hint = f"; use an absolute path, or list it in {root}:known_variables if a plugin defines it" \
                    if "not a variable DevStack defines" in problem else ""
                errors.append(f"{root}:config:{phase}:{filename}: {problem}{hint}")
    return errors


def wire_backends(pillar: dict, model: dict, root: str, lookup, errors: list[str]) -> None:
    """Fill the localrc of a node that uses this project's database or broker role.

    ``devstack:database`` (true, or ``{host: ...}``) takes DATABASE_* and ``devstack:broker``
    RABBIT_* from that role's pillar, through the role's own validation (``contract``): each
    password lives only there, and a pillar the role rejects is an error here too. With ``true``
    the host is the mine's address of the node that carries the role (``lookup("mine:<role>")``,
    first by minion id), else the role's. DevStack's own ``mysql`` / ``rabbit`` service is
    disabled: the role runs that server. ``lookup(key)`` returns another pillar key (or None).
    """
    for backend, variables in contract.DEVSTACK_VARIABLES.items():
        use = pillar.get(backend)
        if use is None or use is False:
            continue
        where = f"{root}:{backend}"
        if use is not True and not (isinstance(use, dict) and set(use) <= {"host"}):
            errors.append(f"{where} must be true or {{host: ADDRESS}} (the address DevStack reaches it at)")
            continue
        for name in variables:
            if isinstance(pillar.get("localrc"), dict) and name in pillar["localrc"]:
                errors.append(f"{root}:localrc:{name} comes from the {backend} pillar when {where} is set; remove it")
        source = lookup(backend)
        if not isinstance(source, dict):
            errors.append(f"{where} is set but the {backend} pillar is missing; apply the {backend} role's pillar")
            continue
        host = use.get("host") if isinstance(use, dict) else None
        if host is None:
            carriers = lookup(f"mine:{backend}") or {}
            host = next(iter(carriers.values()), None) if isinstance(carriers, dict) else None
        if host is not None and (_scalar_text(host) is None or has_bad_char(_scalar_text(host))):
            errors.append(f"{where}:host must be a single-line address")
            continue
        try:
            values = contract.DEVSTACK_VIEWS[backend](source, None if host is None else _scalar_text(host))
        except PillarError as exc:
            errors.extend(f"{where} uses the {backend} role: {error}" for error in exc.errors)
            continue
        model["localrc"].update(values)
        # The role manages that server, even on this host: DevStack's own service would reset
        # its root password, rewrite its config and restart it behind the role's back.
        service = contract.DEVSTACK_SERVICES[backend]
        if model["services"].get(service) is True:
            errors.append(f"{root}:services enables {service}, but {where} says the {backend} role provides "
                          f"it: DevStack would take over that server; remove {service} from {root}:services")
        model["services"] = dict(sorted({**model["services"], service: False}.items()))


def build(pillar: Any, root: str = "devstack", lookup=None) -> dict:
    """Normalise and fully validate pillar; return the model or raise LocalConfError.

    Every problem is reported at once. Cross-checks that would only echo a structural error
    (a reference to, or a prompt for, a variable whose value was itself rejected) are left out.
    """
    errors: list[str] = []
    model = _normalize(pillar, root, errors)
    if isinstance(pillar, dict):
        node_settings(pillar, root, errors, model)
        wire_backends(pillar, model, root, lookup or (lambda key: None), errors)
    known = pillar.get("known_variables") or []
    if not isinstance(known, list) or not all(isinstance(k, str) and NAME_RE.match(k) for k in known):
        errors.append(f"{root}:known_variables must be a list of variable names")
        known = []
    rejected = {str(name) for name in (pillar.get("localrc") or {}) if str(name) not in model["localrc"]} \
        if isinstance(pillar.get("localrc"), dict) else set()
    errors += [e for e in check(model, root, known)
               if not any(f"${name}," in e or f":localrc:{name} is missing" in e for name in rejected)]
    if errors:
        raise LocalConfError(errors)
    return model


def node_settings(pillar: dict, root: str = "devstack", errors: list[str] | None = None,
                  model: dict | None = None) -> dict:
    """The role's settings from pillar, defaults applied, plus derived paths.

    Appends problems to ``errors`` (raises LocalConfError when it is None). With ``model``, keeps
    localrc DEST and devstack:dest in agreement: DEST is added when dest is not DevStack's default.
    """
    own = errors is None
    errors = [] if own else errors
    cfg = {**NODE_DEFAULTS, **{k: pillar[k] for k in NODE_DEFAULTS if pillar.get(k) is not None}}
    if not isinstance(cfg["user"], str) or not re.fullmatch(r"[a-z_][a-z0-9_-]{0,31}", cfg["user"]):
        errors.append(f"{root}:user must be a user name (lower case letters, digits, '_' and '-')")
        cfg["user"] = None
    elif cfg["user"] == "root":
        errors.append(f"{root}:user cannot be root: stack.sh refuses to run as root; use an ordinary user "
                      "such as stack (the role creates it with passwordless sudo)")
    bad_local_conf = False
    for key in ("dest", "local_conf"):
        problem = _path_problem(pillar.get(key), key)
        if problem:
            errors.append(f"{root}:{key} {problem}")
            cfg[key] = None
            bad_local_conf = bad_local_conf or key == "local_conf"
    if not isinstance(cfg["repo"], str) or not URL_RE.match(cfg["repo"]):
        errors.append(f"{root}:repo must be a git URL without spaces or shell characters")
    ref = _scalar_text(cfg["ref"])
    if ref is None or not ref or not REF_RE.match(ref):
        errors.append(f"{root}:ref must be a branch, tag or commit")
    cfg["ref"] = ref
    for key in ("stack", "unstack_before_restack"):
        if not isinstance(cfg[key], bool):
            errors.append(f"{root}:{key} must be true or false")
    cfg["checkout"] = pillar.get("checkout", cfg["stack"])
    if not isinstance(cfg["checkout"], bool):
        errors.append(f"{root}:checkout must be true or false")
    elif cfg["stack"] is True and not cfg["checkout"]:
        errors.append(f"{root}:checkout cannot be false while {root}:stack is true (stack.sh comes from the checkout)")
    timeout = cfg["stack_timeout"]
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        errors.append(f"{root}:stack_timeout must be a number of seconds greater than 0")
    cfg["config_units"] = _config_units(pillar.get("config_units"), f"{root}:config_units", errors)
    if model is not None and isinstance(cfg["dest"], str):
        dest_var = model["localrc"].get("DEST")
        if dest_var is None and cfg["dest"] != NODE_DEFAULTS["dest"]:
            model["localrc"]["DEST"] = cfg["dest"]
        elif dest_var is not None and dest_var != cfg["dest"] and "dest" in pillar:
            errors.append(f"{root}:localrc:DEST differs from {root}:dest; set only {root}:dest")
        elif isinstance(dest_var, str) and "dest" not in pillar:
            problem = _path_problem(dest_var, "dest")
            if problem:
                errors.append(f"{root}:localrc:DEST {problem}")
            cfg["dest"] = None if problem else dest_var
    if isinstance(cfg["dest"], str) and not bad_local_conf:
        cfg["devstack_dir"] = cfg["dest"].rstrip("/") + "/devstack"
        cfg["local_conf"] = pillar.get("local_conf") or cfg["devstack_dir"] + "/local.conf"
        cfg["run_log"] = cfg["dest"].rstrip("/") + "/logs/salt-stack-run.log"
        key = hashlib.sha256(cfg["devstack_dir"].encode()).hexdigest()[:16]
        cfg["stamp"] = f"{STATE_DIR}/stack-{key}.json"
        cfg["running"] = f"{STATE_DIR}/running-{key}.json"
    if own and errors:
        raise LocalConfError(errors)
    return cfg


#: A systemd unit name or pattern (``devstack@my-api.service``, ``devstack@my-*.service``).
UNIT_RE = re.compile(r"[A-Za-z0-9@._*:-]+\Z")


def _config_units(raw: Any, path: str, errors: list[str]) -> dict[str, list[str]]:
    """``devstack:config_units``: a plugin's config file (its absolute path, or its header) ->
    the units that read it, restarted when the file's options change: after a stack, and in place
    when the header is the absolute path (a plugin's $VARIABLE is known only when stack.sh runs,
    so a change to such a header re-stacks)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        errors.append(f"{path} must map a config file (its absolute path, as the post-config header names it; "
                      "a plugin's $VARIABLE header too, but then a change to it re-stacks) to a list of systemd "
                      "units, e.g. {/etc/my-plugin/my.conf: [devstack@my-api.service]}")
        return {}
    units: dict[str, list[str]] = {}
    for header, names in raw.items():
        if not isinstance(header, str) or not (header.startswith("/") or header.startswith("$")):
            errors.append(f"{path}:{header}: name the file by its absolute path (as the header names it), or by "
                          "its $VARIABLE header")
            continue
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and UNIT_RE.match(n) for n in names):
            errors.append(f"{path}:{header} must be a list of systemd unit names or patterns "
                          "(letters, digits, @ . _ * : -)")
            continue
        units[header] = list(names)
    return units


def _path_problem(value: Any, key: str) -> str | None:
    """Why ``value`` cannot be the node's ``dest`` or ``local_conf`` (None: it can, or is unset)."""
    if value is None:
        return None
    if not isinstance(value, str) or not PATH_HEADER_RE.match(value) or value.rstrip("/") == "":
        return "must be an absolute path (starting with /, not / itself) without spaces or shell characters"
    if any(part in (".", "..") for part in value.split("/")) or "//" in value:
        return "must be a plain absolute path: no '.' or '..' components and no '//'"
    if key == "local_conf" and value.endswith("/"):
        return "must name a file, not a directory (no trailing '/')"
    return None


def mask_model(model: dict) -> dict:
    """A copy of the model with every secret value replaced by <hidden>."""
    secrets = secret_values(model)

    def scrub(text: str) -> str:
        text = URL_CREDENTIALS_RE.sub(r"\1" + MASK + "@", text)
        for secret in secrets:
            text = text.replace(secret, MASK)
        return text

    localrc = {}
    for name, value in model["localrc"].items():
        if is_secret_name(name) and not isinstance(value, dict):
            localrc[name] = MASK
        elif isinstance(value, dict) and "expand" in value:
            localrc[name] = {"expand": scrub(value["expand"])}
        else:
            localrc[name] = scrub(value) if isinstance(value, str) else value
    config = {
        phase: {
            f: {
                s: {
                    o: (MASK if is_secret_name(o) else
                        [scrub(x) for x in v] if isinstance(v, list) else scrub(v))
                    for o, v in opts.items()
                }
                for s, opts in sections.items()
            }
            for f, sections in files.items()
        }
        for phase, files in model["config"].items()
    }
    return {**model, "localrc": localrc, "config": config}


def secret_values(model: dict) -> list[str]:
    """Literal secret values of a model, longest first (to scrub them from any other text)."""
    found = {v for n, v in model["localrc"].items() if is_secret_name(n) and isinstance(v, str) and v}
    for files in model["config"].values():
        for sections in files.values():
            for options in sections.values():
                for option, value in options.items():
                    if is_secret_name(option):
                        found.update(x for x in (value if isinstance(value, list) else [value]) if x)
    return sorted(found, key=lambda s: (-len(s), s))


def scrub_text(model: dict, text: str) -> str:
    """Text with the model's secret values and URL credentials replaced by <hidden>."""
    text = URL_CREDENTIALS_RE.sub(r"\1" + MASK + "@", text)
    for secret in secret_values(model):
        text = text.replace(secret, MASK)
    return text


def flatten(model: dict) -> dict[str, Any]:
    """The model as {readable path: value}, the unit a semantic diff compares."""
    flat: dict[str, Any] = {"disable_all_services": model["disable_all_services"]}
    for name, on in model["services"].items():
        flat[f"services:{name}"] = "enabled" if on else "disabled"
    for name, value in model["localrc"].items():
        flat[f"localrc:{name}"] = display_value(value)
    for name, spec in model["plugins"].items():
        flat[f"plugins:{name}"] = " ".join([spec["url"]] + ([spec["ref"]] if "ref" in spec else []))
        if spec.get("requires"):
            flat[f"plugins:{name}:requires"] = ", ".join(spec["requires"])
    for phase, files in model["config"].items():
        for filename, sections in files.items():
            for section, options in sections.items():
                for option, value in options.items():
                    flat[f"{phase}:{filename}:{section}:{option}"] = value
    return flat


def semantic_diff(old: dict | None, new: dict) -> dict[str, dict]:
    """{path: {"old": ..., "new": ...}} for every meaningful difference, secrets masked."""
    old_flat = flatten(mask_model(old)) if old is not None else {}
    new_flat = flatten(mask_model(new))
    raw_old = flatten(old) if old is not None else {}
    raw_new = flatten(new)
    diff = {}
    for key in sorted(set(raw_old) | set(raw_new)):
        if raw_old.get(key) != raw_new.get(key):
            diff[key] = {"old": old_flat.get(key), "new": new_flat.get(key)}
    return diff


def explain_model(model: dict) -> dict:
    """What DevStack will do with a model: services, plugins in order, prompts, problems."""
    try:
        plugins = [{"name": n, **model["plugins"][n]} for n in plugin_order(model["plugins"])]
    except ValueError as exc:
        plugins = f"cycle: {exc}"
    try:
        variables = variable_order(model["localrc"])
    except ValueError as exc:
        variables = f"cycle: {exc}"
    return {
        "base_services": "none (disable_all_services)" if model["disable_all_services"] else "DevStack default list",
        "enabled_services": effective_services(model),
        "plugins_in_order": plugins,
        "variables_in_order": variables,
        "prompted_passwords": missing_passwords(model),
        "config_files": {phase: sorted(files) for phase, files in model["config"].items()},
    }


def meaning_digest(model: dict) -> str:
    """A digest of what local.conf means (the model), blind to order, quoting and comments."""
    return hashlib.sha256(json.dumps(model, sort_keys=True).encode()).hexdigest()
