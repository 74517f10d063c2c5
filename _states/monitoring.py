"""
States for the monitoring role's reactions on a minion connected to a master.

``monitoring.beacons_loaded`` makes the minion's own salt-minion daemon run the beacons of the
pillar the master serves (the master's reactor then reacts to their events). The comparison lives
in the ``monitoring`` execution module (``monitoring.beacons_loaded``); this state only calls it
and refreshes the daemon's pillar.
"""

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
