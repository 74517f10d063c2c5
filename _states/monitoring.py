"""
States of the monitoring role that a file or service state cannot express: the reactions on a
minion connected to a master, and Graphite's web application (its secret key, its database with
the admin account, its generated dashboards).

``monitoring.beacons_loaded`` makes the minion's own salt-minion daemon run the beacons of the
pillar the master serves (the master's reactor then reacts to their events). The comparison lives
in the ``monitoring`` execution module (``monitoring.beacons_loaded``); this state only calls it
and refreshes the daemon's pillar. ``monitoring.web_secret_key``, ``monitoring.web_database``
and ``monitoring.dashboards`` read ``monitoring:web`` (checked whole by ``monitoring.web_config``
when the SLS renders) and never show a secret.
"""

import os

from devstack_salt import graphite_dashboards, graphite_web
from devstack_salt.errors import DevstackSaltError, GraphiteWebError
from devstack_salt.faces import state_virtual

__virtualname__ = "monitoring"


def __virtual__():
    """Available when the monitoring execution module (this project's _modules) is synced."""
    return state_virtual(__salt__, "monitoring.beacons_loaded", __virtualname__)  # noqa: F821 - Salt dunder


def beacons_loaded(name, timeout=10):
    """
    Make the salt-minion daemon run the beacons of this node's pillar (``beacons:``). The daemon
    reads them from its in-memory pillar, which a state run does not refresh: when they differ
    from the pillar the master serves, the daemon's pillar is refreshed (which reloads its
    beacons) and compared again. ``changes`` names the beacons reloaded; ``test=True`` predicts
    them. Fails when no daemon answers within ``timeout`` seconds: nothing would run the beacons.

    .. code-block:: yaml

        monitoring-reactor-beacons:
          monitoring.beacons_loaded:
            - name: pillar beacons
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    status = __salt__["monitoring.beacons_loaded"](timeout=timeout)
    if not status["daemon"]:
        ret["comment"] = f"no salt-minion daemon answered within {timeout} s: nothing runs the pillar's beacons"
        return ret
    if not status["differ"]:
        ret["result"] = True
        ret["comment"] = "the salt-minion daemon runs the pillar's beacons"
        return ret
    ret["changes"] = {"reloaded": status["differ"]}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"the daemon's pillar would be refreshed to load beacons {', '.join(status['differ'])}"
        return ret
    __salt__["saltutil.refresh_pillar"](wait=True, timeout=max(30, timeout))
    still = __salt__["monitoring.beacons_loaded"](timeout=timeout)
    if still["differ"] or not still["daemon"]:
        ret["comment"] = f"after a pillar refresh the daemon still runs other beacons: {', '.join(still['differ'])}"
        return ret
    ret["result"] = True
    ret["comment"] = f"the daemon's pillar was refreshed: it runs beacons {', '.join(status['differ'])} as the pillar says"
    return ret


def _web_model() -> dict:
    return graphite_web.from_pillar(__salt__["pillar.get"])  # noqa: F821 - Salt dunder


def web_secret_key(name):
    """
    The web application's Django secret key (``monitoring:web:secret_key``) in its file, root's
    and readable by the web user's group only (0640). The key is never shown: ``changes`` says
    only that the file was written.

    .. code-block:: yaml

        monitoring-web-secret-key:
          monitoring.web_secret_key:
            - name: /etc/graphite/secret_key
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if name != graphite_web.SECRET_KEY_FILE:
        ret["comment"] = f"the secret key's file is {graphite_web.SECRET_KEY_FILE} (graphite-web's settings read it)"
        return ret
    try:
        key = _web_model()["secret_key"]
        state = graphite_web.secret_key_state(key, name)
        if state == "ok":
            ret.update(result=True, comment="the secret key's file is as the pillar says")
            return ret
        ret["changes"] = {"secret_key": "written" if state == "missing" else "replaced"}
        if __opts__["test"]:  # noqa: F821 - Salt dunder
            ret.update(result=None, comment=f"the secret key's file would be {ret['changes']['secret_key']}")
            return ret
        graphite_web.write_secret_key(key, name)
    except (DevstackSaltError, OSError, KeyError) as exc:
        ret.update(changes={}, comment=str(exc))
        return ret
    ret.update(result=True, comment=f"the secret key's file was {ret['changes']['secret_key']} (0640 root:{graphite_web.USER})")
    return ret


def web_database(name):
    """
    graphite-web's database (``name``: its file, /var/lib/graphite/graphite.db): every Django
    migration of the installed graphite-web applied (its dashboards and accounts tables), the
    admin account ``monitoring:web:admin_user`` a superuser with ``monitoring:web:admin_password``
    (it may save and delete dashboards), and the file the web user's only (owner ``_graphite``,
    mode 0640: it holds the admin's password hash and the sessions). One graphite-manage run
    checks and makes all of it (``migrate`` creates the file 0640); the password goes to it on
    its standard input, never on a command line or in output. ``changes`` says what was made,
    ``test=True`` what would be.

    .. code-block:: yaml

        monitoring-web-database:
          monitoring.web_database:
            - name: /var/lib/graphite/graphite.db
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if name != graphite_web.DATABASE_FILE:
        ret["comment"] = f"the database's file is {graphite_web.DATABASE_FILE} (graphite-web's settings name it)"
        return ret
    test = __opts__["test"]  # noqa: F821 - Salt dunder
    try:
        model = _web_model()
        admin = model["admin_user"]
        created = not os.path.exists(name)
        state = graphite_web.database_state(__salt__["cmd.run_all"], admin, model["admin_password"],  # noqa: F821
                                            apply=not test)
        fixes = graphite_web.database_file_fixes(name)
        if fixes and not test:
            graphite_web.make_database_private(name)
    except (DevstackSaltError, OSError, KeyError) as exc:
        ret["comment"] = str(exc)
        return ret
    if state["database"] == "unknown":
        ret.update(result=None, comment=f"{name} cannot be checked before the apply writes the web application's "
                                        f"secret key file ({graphite_web.SECRET_KEY_FILE})")
        return ret
    if created:
        ret["changes"]["database"] = "created"
    if state["migrations"]:
        ret["changes"]["migrations"] = state["migrations"]
    if state["admin"] != "ok":
        ret["changes"]["admin"] = "created" if state["admin"] == "missing" else "password and rights set"
    ret["changes"].update(fixes)
    said = "; ".join(f"{len(value)} {key}" if isinstance(value, list) else f"{key} {value}"
                     for key, value in ret["changes"].items())
    if not ret["changes"]:
        ret.update(result=True, comment=f"{name} holds every migration of graphite-web and the admin account {admin} "
                                        "as the pillar says, the web user's only (0640)")
    elif test:
        ret.update(result=None, comment=f"{name} would change: {said}")
    else:
        ret.update(result=True, comment=f"{name} changed: {said}")
    return ret


def dashboards(name, timeout=60):
    """
    The generated dashboards (``monitoring.dashboards``) saved in the web application: each one
    missing or different from what the nodes, roles and thresholds make it now is saved, logged in
    as the admin account. What is saved is read from the web application's database (read-only),
    so the plan, and ``test=True``'s prediction of it, do not depend on the web application
    running; saving waits up to ``timeout`` s for it to answer (it may have just restarted).
    Dashboards of other names, and of nodes gone, are left as they are.

    .. code-block:: yaml

        monitoring-web-dashboards:
          monitoring.dashboards:
            - name: graphite-web dashboards
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    try:
        model = _web_model()
        wanted = {key: value["state"] for key, value in __salt__["monitoring.dashboards"](states=True).items()}  # noqa: F821
        changes = graphite_dashboards.plan(wanted, graphite_web.DATABASE_FILE)
        if not changes:
            ret.update(result=True, comment=f"{len(wanted)} dashboards are up to date: {', '.join(sorted(wanted))}")
            return ret
        ret["changes"] = changes
        if __opts__["test"]:  # noqa: F821 - Salt dunder
            ret.update(result=None, comment=f"dashboards would be saved: {', '.join(sorted(changes))}")
            return ret
        left = graphite_dashboards.apply(graphite_web.base_url(model), model["admin_user"], model["admin_password"],
                                         wanted, changes, graphite_web.DATABASE_FILE, float(timeout))
    except GraphiteWebError as exc:
        ret.update(changes={}, comment=f"{exc} (the web application's log: {graphite_web.LOG_DIR}/gunicorn.log)")
        return ret
    except DevstackSaltError as exc:
        ret.update(changes={}, comment=str(exc))
        return ret
    if left:
        ret["comment"] = f"dashboards saved but read back different: {', '.join(sorted(left))}"
        return ret
    ret.update(result=True, comment=f"dashboards saved: {', '.join(sorted(changes))}")
    return ret
