"""The product's main job on a fresh systemd host, as a laptop user gets it: ``vagrant up`` of the
project's Vagrantfile (LXC provider) in a clean clone, whose provisioner runs ``bin/setup`` with
stacking on (DevStack and GIT_BASE pointed at the local mirrors: pillar/examples/local-mirrors.sls),
a real stack.sh against our MariaDB and RabbitMQ, and then what an operator does to the node:
apply again, reorder the pillar, tune post-config options (in place, without stack.sh) and take
them back, give it a pillar that would prompt, a stack.sh that fails, the good pillar back, a
change of meaning, a reboot.

Each phase is a module fixture that runs once and keeps what it saw; a test asks for the phase
whose result it checks (the phases before it run first), so any selection or order of tests
sees the same node history. Every phase leaves the node stacked and healthy (the failure phase
brings the good pillar back itself), and what a phase changes it measures inside itself: the
tests that look at the live node hold whichever phases ran before them.
"""

from __future__ import annotations

import json
import re
import time

import pytest

import node_checks
import stacked_checks
import vagrant_lxc
from common import wait_until
from machine_node import MIRRORS, SITE, SITE_TUNED, Node
from vagrant_lxc import VAGRANT_CHECKOUT
#: The same meaning, other order and comments: must not stack.
SITE_REORDERED = f"""\
# reordered by the test: same meaning
devstack:
  localrc:
    SWIFT_LOOPBACK_DISK_SIZE: 2G      # small, sparse
    INSTALL_TEMPEST: false
    PIP_UPGRADE: false
    LIBS_FROM_GIT: ""
    GIT_BASE: file://{MIRRORS}
  ref: master
  repo: file://{MIRRORS}/openstack/devstack.git
  stack: true
"""
#: Beside every devstack@ unit, the daemons whose start times show which ones a change restarted.
WATCHED_DAEMONS = ("apache2", "mariadb", "rabbitmq-server")
#: The files an in-place change edits, hashed before and after.
TUNED_FILES = ("/etc/keystone/keystone.conf", "/etc/swift/proxy-server.conf")
#: ADMIN_PASSWORD empty: stack.sh would prompt for it (and hang an unattended run).
SITE_PROMPTING = SITE + "    ADMIN_PASSWORD: ''\n"
#: A plugin from a git repository that does not exist: stack.sh fails when it clones it.
SITE_FAILING = SITE + f"  plugins:\n    unreachable: file://{MIRRORS}/openstack/no-such-plugin.git\n"
#: A change of meaning: Keystone's token lifetime (post-config) and a localrc variable.
SITE_CHANGED = SITE + """\
    LOG_COLOR: false
  config:
    post-config:
      $KEYSTONE_CONF:
        token:
          expiration: 5400
"""


@pytest.fixture(scope="module")
def aio(fleet, mirrors):
    """``vagrant up`` of the project's Vagrantfile under LXC in a clean clone, as a user runs it:
    the all-in-one machine runs bin/setup, stacking (its site.sls: DevStack from the mirrors the
    Vagrantfile shows at /srv/mirrors). Every container is gone after the module."""
    env = vagrant_lxc.Environment(fleet.cache, mirrors=mirrors, site_pillar=SITE)
    try:
        result = env.up()
        node = Node(env.machine("aio"), checkout=VAGRANT_CHECKOUT)
        # The mirrors are root's and DevStack clones them as the stack user: the role trusts exactly
        # the repositories the pillar names (nothing done here beyond what the README says).
        result.update(commit=env.commit, stamp=node.stamp() if result["rc"] == 0 else {})
        node.first = result
        node.vagrant = env
        yield node
    finally:
        for line in env.close():
            print(line)


def probe(node: Node) -> dict:
    return node.probe()


@pytest.fixture(scope="module")
def stacked(aio):
    assert aio.first["rc"] == 0, f"vagrant up exited {aio.first['rc']}:\n{aio.first['tail']}"
    return aio


@pytest.fixture(scope="module")
def first_probe(stacked):
    """The probe of the node as bin/setup left it, with the pillar's token expiration then (later
    phases change the pillar)."""
    facts = probe(stacked)
    facts["pillar_expiration"] = stacked.pillar("devstack:config:post-config:$KEYSTONE_CONF:token:expiration")
    return facts


@pytest.fixture(scope="module")
def up_again(stacked, first_probe):
    """The first phase (the first probe is always taken before it, nothing changed yet): the
    user's ``vagrant up`` again (the machine runs: nothing to do), then ``vagrant provision``:
    bin/setup once more, its highstate summary read from the output."""
    again = stacked.vagrant.up("aio")
    assert again["rc"] == 0, again["tail"]
    result = stacked.vagrant.provision("aio")
    result["up_output"] = again["output"]
    # Salt's summary: "Succeeded: N", with " (changed=M)" only when M > 0, then "Failed: F".
    result["summaries"] = [(int(ok), int(changed or 0), int(failed)) for ok, changed, failed in re.findall(
        r"Succeeded: *(\d+)(?: \(changed=(\d+)\))?\s+(?:aio: *)?Failed: *(\d+)", result["output"])]
    result["stamp"] = stacked.stamp()
    return result


@pytest.fixture(scope="module")
def second_apply(stacked, up_again):
    return stacked.apply(), stacked.stamp()


@pytest.fixture(scope="module")
def second_test_apply(second_apply, stacked):
    return stacked.apply("test=True")


@pytest.fixture(scope="module")
def reordered(second_test_apply, stacked):
    stacked.put_site_pillar(SITE_REORDERED)
    try:
        return stacked.apply(), stacked.stamp()
    finally:
        stacked.put_site_pillar(SITE)


def started_at(node: Node) -> dict[str, str]:
    units = node.run("systemctl list-units 'devstack@*' --all --plain --no-legend --full").stdout.split("\n")
    names = sorted({line.split()[0].removesuffix(".service") for line in units if line.strip()}) + list(WATCHED_DAEMONS)
    out = node.run("for u in " + " ".join(names)
                   + "; do systemctl show -p ExecMainStartTimestampMonotonic --value $u; done").stdout.split()
    return dict(zip(names, out))


def file_hashes(node: Node) -> dict[str, str]:
    return dict(zip(TUNED_FILES, node.run("sha256sum " + " ".join(TUNED_FILES)).stdout.split()[::2]))


def tempurl_methods(node: Node) -> list[str]:
    script = ("import json, urllib.request; "
              "print(json.dumps(json.load(urllib.request.urlopen('http://127.0.0.1:8080/info'))['tempurl']['methods']))")
    return json.loads(node.run(f"{VAGRANT_CHECKOUT}/.venv/bin/python -c \"{script}\"").stdout)


def change_in_place(node: Node, site: str) -> dict:
    """Put ``site`` in place and apply it: what test=True predicted, what the apply did and took,
    which units restarted, what the services do afterwards, and a second apply."""
    before = {"units": started_at(node), "stamp": node.stamp(), "methods": tempurl_methods(node),
              "files": file_hashes(node)}
    node.put_site_pillar(site)
    predicted = node.apply("test=True")
    started = time.time()
    applied = node.apply()
    seconds = round(time.time() - started, 1)
    return {"before": before, "predicted": predicted, "applied": applied, "seconds": seconds,
            "units": started_at(node), "stamp": node.stamp(), "probe": probe(node),
            "methods": tempurl_methods(node), "files": file_hashes(node), "again": node.apply()}


@pytest.fixture(scope="module")
def tuned(reordered, stacked):
    return change_in_place(stacked, SITE_TUNED)


@pytest.fixture(scope="module")
def untuned(tuned, stacked):
    return change_in_place(stacked, SITE)


@pytest.fixture(scope="module")
def prompting(untuned, stacked):
    stat = "stat -c '%i %Y' /opt/stack/devstack/local.conf"
    stacked.put_site_pillar(SITE_PROMPTING)
    try:
        local_conf = stacked.run(stat).stdout
        return stacked.apply(), stacked.stamp(), local_conf, stacked.run(stat).stdout
    finally:
        stacked.put_site_pillar(SITE)


@pytest.fixture(scope="module")
def failing(prompting, stacked):
    """A stack.sh that fails, then at once the good pillar back (:func:`recovered`): no test
    finds the node failed."""
    stacked.put_site_pillar(SITE_FAILING)
    try:
        failed_run = stacked.apply(), stacked.stamp()
    finally:
        stacked.put_site_pillar(SITE)
        first = stacked.apply()
        recovery = first, stacked.stamp(), stacked.apply()
    return {"failed": failed_run, "recovered": recovery}


@pytest.fixture(scope="module")
def recovered(failing):
    """After the failure, the good pillar back: one stack.sh, then an apply that changes nothing.
    The change of meaning below starts from this clean node (right after a failure any pillar
    would stack, so it would prove nothing)."""
    return failing["recovered"]


@pytest.fixture(scope="module")
def changed(recovered, stacked):
    """From a clean stacked node, a good pillar with a new meaning: test=True predicts the
    re-stack and why, then one stack.sh converges."""
    stacked.put_site_pillar(SITE_CHANGED)
    predicted = stacked.apply("test=True")
    first = stacked.apply()
    return first, stacked.stamp(), stacked.apply(), stacked.stamp(), probe(stacked), predicted


@pytest.fixture(scope="module")
def rebooted(changed, stacked):
    before = stacked.stamp()
    started = time.time()
    stacked.machine.reboot()
    # Back by themselves: wait (bounded) for Keystone and Swift, with nothing of ours started by hand.
    last = {}

    def healthy() -> bool:
        last["health"] = stacked.salt("devstack.status")[1].get("health", {})
        return bool(last["health"]) and all(v.startswith("ok") for v in last["health"].values())

    wait_until(healthy, 180, 3, lambda: f"the stacked services to come back after a reboot: {last['health']}")
    facts = probe(stacked)
    assert facts, "the probe of the rebooted node found nothing"
    back_in = round(time.time() - started, 1)
    return {"probe": facts, "back_in": back_in, "stamp_before": before, "apply": stacked.apply(),
            "stamp_after": stacked.stamp()}


# ---------------------------------------------------------------- bin/setup on a fresh host


def test_vagrant_up_runs_bin_setup_which_stacks_once_and_succeeds(aio):
    assert aio.first["rc"] == 0, f"vagrant up exited {aio.first['rc']}:\n{aio.first['tail']}"
    assert aio.first["stamp"].get("result") == "success"
    print(f"vagrant up (bin/setup with stack.sh): {aio.first['seconds']} s")


def test_bin_setup_from_root_owned_mirrors_reports_no_error(aio):
    """The mirrors are root's, DevStack clones them as the stack user, and nothing beyond the
    README's steps was done: a success prints no [ERROR] line."""
    assert aio.first["rc"] == 0 and aio.first["errors"] == [], aio.first["errors"][:20]
    trusted = aio.run("runuser -u stack -- git config --file /opt/stack/.gitconfig --get-all safe.directory").stdout
    assert f"{MIRRORS}/openstack/devstack.git" in trusted.split() and "*" not in trusted.split()


def test_keystone_issues_a_token_for_admin_with_the_pillars_password(first_probe):
    assert first_probe["keystone"]["lifetime"] > 0


def test_swift_returns_an_object_byte_identical(first_probe):
    assert first_probe["swift"] == {"bytes": 65536, "identical": True}


def test_keystones_database_lives_in_our_mariadb(stacked, first_probe):
    assert first_probe["database"]["keystone_tables"] > 10
    # Our role's server: its pid file is the one systemd's mariadb unit tracks, and DevStack's own
    # mysql service stayed off.
    assert first_probe["database"]["host"] == stacked.pillar("database:devstack:host")
    main_pid = stacked.run("systemctl show -p MainPID --value mariadb").stdout.strip()
    assert stacked.run(f"cat {first_probe['database']['pid_file']}").stdout.strip() == main_pid
    enabled = stacked.salt("devstack.explain")[1]["enabled_services"]
    assert "mysql" not in enabled and "rabbit" not in enabled


def test_devstack_reaches_our_broker_with_its_own_account(stacked, first_probe):
    assert first_probe["broker"]["connected"]
    assert first_probe["broker"]["user"] == stacked.pillar("broker:devstack_user")


def test_the_post_config_option_is_in_effect_in_the_running_keystone(stacked, first_probe):
    """The default pillar's $KEYSTONE_CONF token expiration (7200): DevStack starts Keystone
    before it merges post-config, so the role restarts it."""
    assert first_probe["keystone"]["lifetime"] == int(first_probe["pillar_expiration"]) == 7200


@pytest.mark.parametrize("unit", ["devstack@keystone", "devstack@s-proxy", "devstack@s-object",
                                  "devstack@s-container", "devstack@s-account"])
def test_devstacks_units_are_active(stacked, unit):
    assert stacked.run(f"systemctl is-active {unit}", check=False).stdout.strip() == "active"


@pytest.mark.parametrize("unit", ["mariadb", "rabbitmq-server", "collectd", "carbon-cache", "devstack-salt-minion",
                                  "devstack-salt-graphite-web"])
def test_our_daemons_run_under_systemd_and_are_enabled_at_boot(stacked, unit):
    assert stacked.run(f"systemctl is-active {unit}", check=False).stdout.strip() == "active"
    assert stacked.run(f"systemctl is-enabled {unit}", check=False).stdout.strip() == "enabled"


@pytest.mark.parametrize("role", sorted(node_checks.CHECKS))
def test_the_role_checks_pass_on_the_machine(stacked, role):
    node = node_checks.Node(stacked.machine.testinfra_host(), f"{VAGRANT_CHECKOUT}/bin/salt-call")
    node_checks.CHECKS[role](node)


@pytest.mark.parametrize("check", sorted(stacked_checks.CHECKS))
def test_the_stacked_node_checks_pass_on_the_machine(stacked, check):
    node = node_checks.Node(stacked.machine.testinfra_host(), f"{VAGRANT_CHECKOUT}/bin/salt-call")
    assert stacked_checks.CHECKS[check](node) != "skipped", f"{check} was not checked"


def test_no_port_of_ours_listens_beyond_the_pillars_address(stacked):
    ports = {stacked.pillar(key) for key in (
        "database:server:port", "broker:port", "broker:dist_port", "broker:management_port", "broker:prometheus_port",
        "monitoring:carbon:port", "monitoring:carbon:pickle_port", "monitoring:carbon:query_port",
        "monitoring:web:port", "monitoring:prometheus:port", "monitoring:prometheus:node_exporter:port",
        "monitoring:prometheus:mysqld_exporter:port", "monitoring:prometheus:process_exporter:port",
        "monitoring:prometheus:alertmanager:port", "monitoring:prometheus:alertmanager:hook_port")}
    ports |= {4369, 9094}  # epmd; Alertmanager's cluster (off)
    allowed = {"127.0.0.1", "[::1]"} | {stacked.pillar(key) for key in (
        "database:server:bind_address", "broker:address", "monitoring:carbon:address", "monitoring:web:address",
        "monitoring:prometheus:address", "monitoring:prometheus:node_exporter:address")}
    wide = []
    for line in stacked.run("ss -Hltnp").stdout.splitlines():
        local = line.split()[3]
        address, port = local.rsplit(":", 1)
        if int(port) in ports and address.split("%")[0] not in allowed:
            wide.append(line)
    assert not wide, "listening beyond the pillar's address:\n" + "\n".join(wide)


def test_the_web_application_answers_beside_devstacks_apache_and_swift_proxy(stacked):
    """Graphite's web application on the stacked all-in-one node: its own port, DevStack's Apache
    (Keystone, port 80) and Swift's proxy (8080) listening as well, each by its own program, and
    the render API answering with this node's metrics."""
    web = stacked.salt("monitoring.web_config")[1]
    owners = {}
    for line in stacked.run("ss -Hltnp").stdout.splitlines():
        fields = line.split()
        port = int(fields[3].rsplit(":", 1)[1])
        if port in (80, 8080, web["port"]):
            owners.setdefault(port, set()).add(fields[-1].split('"')[1] if '"' in fields[-1] else fields[-1])
    assert set(owners) == {80, 8080, web["port"]}, owners
    assert "apache2" in owners[80] and "python3" in owners[web["port"]], owners
    answer = stacked.run(f"{VAGRANT_CHECKOUT}/.venv/bin/python -c \"import json, urllib.request; print(json.dumps(json.load("
                         f"urllib.request.urlopen('{web['url']}/render?target=collectd.*.load.load.shortterm"
                         f"&from=-10min&format=json', timeout=30))))\"")
    series = json.loads(answer.stdout)
    assert series and any(value is not None for one in series for value, _ in one["datapoints"]), series
    boards = stacked.salt("monitoring.dashboards")[1]
    assert {"database", "broker", "salt-runs"} <= set(boards) and any(name.startswith("host-") for name in boards), boards


def test_no_password_is_in_a_log_others_can_read(stacked):
    """Every generated secret, searched for as the user nobody in DevStack's tree (its logs, async
    logs, .localrc.auto, .stackenv), the system's logs, Salt's log and /tmp. The secrets reach
    grep on a pipe, never on a command line."""
    secrets = (f"{VAGRANT_CHECKOUT}/.venv/bin/python -c 'import json; d = json.loads(\"\".join(l for l in open(\"{VAGRANT_CHECKOUT}/.salt/pillar/secrets.sls\") if not l.startswith(\"#\")));"
               " w = lambda v: [s for x in v.values() for s in w(x)] if isinstance(v, dict) else [v]; print(\"\\n\".join(w(d)))'")
    found = stacked.run(f"{secrets} | runuser -u nobody -- grep -rlsF -f - /opt/stack /var/log {VAGRANT_CHECKOUT}/.salt/log /tmp; true")
    assert found.stdout.strip() == "", f"readable by others and holding a password:\n{found.stdout}"
    # The search can find: root reads DevStack's own log, which holds ADMIN_PASSWORD.
    assert stacked.run(f"{secrets} | grep -rlsF -f - /opt/stack/logs; true").stdout.strip(), "the search found nothing at all"
    # Our run log holds what stack.sh traced, each secret masked.
    run_log = stacked.run("cat /opt/stack/logs/salt-stack-run.log").stdout
    assert "<hidden>" in run_log
    assert stacked.run(f"{secrets} | grep -csF -f - /opt/stack/logs/salt-stack-run.log; true").stdout.strip() == "0"


def test_devstack_status_reports_the_services_healthy(stacked):
    status = stacked.salt("devstack.status")[1]
    assert status["last_stack"]["result"] == "success"
    assert set(status["health"]) >= {"keystone", "swift-proxy", "database", "rabbitmq"}
    assert all(v.startswith("ok") for v in status["health"].values()), status["health"]


# ---------------------------------------------------------------- what an operator does next


def test_vagrant_up_again_then_provision_changes_nothing_and_does_not_stack(stacked, up_again):
    assert "Running provisioner" not in up_again["up_output"], up_again["up_output"][-2000:]
    assert up_again["rc"] == 0, up_again["tail"]
    # bin/setup's one highstate: every state succeeded, none changed anything.
    assert len(up_again["summaries"]) == 1, up_again["tail"]
    (succeeded, changes, failures), = up_again["summaries"]
    assert succeeded > 0 and changes == 0 and failures == 0, up_again["tail"]
    assert up_again["stamp"] == stacked.first["stamp"], (up_again["stamp"], stacked.first["stamp"])


def test_a_second_apply_changes_nothing_and_does_not_stack(stacked, second_apply):
    result, stamp = second_apply
    assert result["rc"] == 0 and not result["failed"], result["failed"]
    assert result["changed"] == {}
    assert stamp["started"] == stacked.first["stamp"]["started"]


def test_test_mode_predicts_no_change_on_a_stacked_node(second_test_apply):
    assert second_test_apply["rc"] == 0
    assert {k: v["result"] for k, v in second_test_apply["states"].items() if v["result"] is not True} == {}


def test_a_reordered_pillar_does_not_stack(stacked, reordered):
    result, stamp = reordered
    assert result["rc"] == 0 and result["changed"].keys() <= {"devstack_|-devstack-local-conf_|-/opt/stack/devstack/local.conf_|-local_conf"}
    assert stamp["started"] == stacked.first["stamp"]["started"]


def stacked_state(result: dict) -> dict:
    return next(state for key, state in result["states"].items() if "devstack-stacked" in key)


def test_a_post_config_change_is_made_in_place_and_in_effect(tuned):
    state = stacked_state(tuned["applied"])
    assert tuned["applied"]["rc"] == 0 and not tuned["applied"]["failed"], tuned["applied"]["failed"]
    assert state["comment"].startswith("changed in place"), state["comment"]
    assert tuned["stamp"]["started"] == tuned["before"]["stamp"]["started"]  # stack.sh did not run
    assert tuned["probe"]["keystone"]["lifetime"] == 5400  # Keystone's behaviour, not only keystone.conf
    assert tuned["before"]["methods"] != ["GET", "HEAD"] and tuned["methods"] == ["GET", "HEAD"]
    print(f"post-config change in place: {tuned['seconds']} s")


def test_test_mode_predicts_the_in_place_change(tuned):
    state = stacked_state(tuned["predicted"])
    assert state["result"] is None and state["comment"].startswith("would change in place"), state["comment"]
    merged = set(state["changes"]["in place"]["would_merge"])
    assert merged == {"/etc/keystone/keystone.conf [token] expiration",
                      "/etc/swift/proxy-server.conf [filter:tempurl] methods"}
    assert set(state["changes"]["in place"]["would_restart"]) == {"devstack@keystone.service", "devstack@s-proxy.service"}


@pytest.mark.parametrize("phase", ["tuned", "untuned"])
def test_only_the_units_reading_the_changed_files_restart(request, phase):
    result = request.getfixturevalue(phase)
    assert {"devstack@keystone", "devstack@s-proxy", "devstack@s-object", "mariadb"} <= set(result["units"])
    restarted = {unit for unit, at in result["units"].items() if at != result["before"]["units"].get(unit)}
    assert restarted == {"devstack@keystone", "devstack@s-proxy"}


def test_taking_the_options_back_restores_what_stack_sh_wrote(tuned, untuned):
    state = stacked_state(untuned["applied"])
    assert untuned["applied"]["rc"] == 0 and not untuned["applied"]["failed"], untuned["applied"]["failed"]
    assert state["comment"].startswith("changed in place"), state["comment"]
    assert untuned["stamp"]["started"] == untuned["before"]["stamp"]["started"]
    assert untuned["probe"]["keystone"]["lifetime"] == 7200
    assert untuned["methods"] == tuned["before"]["methods"]  # the proxy's own default again
    assert tuned["files"] != tuned["before"]["files"]
    assert untuned["files"] == tuned["before"]["files"]  # byte for byte what stack.sh left


@pytest.mark.parametrize("phase", ["tuned", "untuned"])
def test_a_second_apply_after_an_in_place_change_changes_nothing(request, phase):
    again = request.getfixturevalue(phase)["again"]
    assert again["rc"] == 0 and again["changed"] == {}, again["changed"]


def test_a_pillar_that_would_prompt_never_reaches_stack_sh(stacked, prompting):
    result, stamp, local_conf_before, local_conf_after = prompting
    assert result["rc"] != 0
    assert any("ADMIN_PASSWORD" in comment for comment in result["failed"].values()), result["failed"]
    assert stamp["started"] == stacked.first["stamp"]["started"]
    assert local_conf_after == local_conf_before


def test_a_failing_stack_sh_is_a_failure_with_the_masked_log_tail(stacked, failing):
    result, stamp = failing["failed"]
    assert result["rc"] != 0 and stamp["result"] == "failed"
    comment = next(c for k, c in result["failed"].items() if "devstack-stacked" in k)
    assert "stack.sh failed" in comment and "Last lines of" in comment
    secrets = json.loads(stacked.run(f"grep -v '^#' {VAGRANT_CHECKOUT}/.salt/pillar/secrets.sls").stdout)
    assert secrets["devstack"]["localrc"]["ADMIN_PASSWORD"] not in json.dumps(result["states"])


def test_after_a_failure_the_good_pillar_stacks_again_and_leaves_a_clean_node(recovered):
    first, stamp, again = recovered
    assert first["rc"] == 0 and not first["failed"], first["failed"]
    assert len([k for k, v in first["changed"].items() if "stack.sh" in v]) == 1 and stamp["result"] == "success"
    assert again["rc"] == 0 and again["changed"] == {}, again["changed"]


def test_test_mode_predicts_the_re_stack_of_a_change_of_meaning(changed):
    state = stacked_state(changed[5])
    assert state["result"] is None and state["comment"].startswith("stack.sh would run: "), state["comment"]
    assert state["changes"]["stack.sh"]["would_run_because"] == ["the meaning of local.conf changed since the last stack"]


def test_a_change_of_meaning_stacks_exactly_once_and_is_in_effect(stacked, recovered, changed):
    first, stamp, second, stamp_after, facts, _ = changed
    assert first["rc"] == 0 and not first["failed"], first["failed"]
    ran = [k for k, v in first["changed"].items() if "stack.sh" in v]
    assert len(ran) == 1 and stamp["result"] == "success"
    assert stamp["started"] != recovered[1]["started"]  # this change stacked, from a clean node
    assert second["changed"] == {} and stamp_after["started"] == stamp["started"]
    assert facts["keystone"]["lifetime"] == 5400  # in Keystone's behaviour, not only in keystone.conf


def test_after_a_reboot_the_node_is_back_by_itself_and_an_apply_changes_nothing(stacked, rebooted):
    assert rebooted["probe"]["swift"]["identical"] and rebooted["probe"]["keystone"]["lifetime"] == 5400
    assert stacked.run("systemctl is-active devstack-salt-minion", check=False).stdout.strip() == "active"
    assert rebooted["apply"]["rc"] == 0 and rebooted["apply"]["changed"] == {}, rebooted["apply"]["changed"]
    assert rebooted["stamp_after"]["started"] == rebooted["stamp_before"]["started"]
    print(f"back after the reboot in {rebooted['back_in']} s")
