"""The DevStack node the default pillar describes: stack user and local.conf, as testinfra sees them."""

from __future__ import annotations

import os
import subprocess

from host_salt import SALT_CALL, changed, run_watching_argv, salt_call
from project import PROJECT

LOCAL_CONF = "/opt/stack/devstack/local.conf"


def test_stack_user_owns_dest(host, applied):
    user = host.user("stack")
    assert user.exists and user.home == "/opt/stack" and user.shell == "/bin/bash"
    assert host.file("/opt/stack").user == "stack"


def test_local_conf_belongs_to_the_stack_user_with_mode_0600(host, applied):
    conf = host.file(LOCAL_CONF)
    assert conf.is_file and conf.user == "stack" and conf.group == "stack" and conf.mode == 0o600


def test_local_conf_is_exactly_what_the_pillar_renders(host, applied):
    assert host.file(LOCAL_CONF).content_string == salt_call("devstack.render", "reveal=True")


def test_local_conf_has_the_small_swift_node_and_no_crlf(host, applied):
    text = host.file(LOCAL_CONF).content_string
    assert "\r" not in text
    assert "disable_all_services\nenable_service key s-account s-container s-object s-proxy\ndisable_service mysql rabbit\n" in text
    assert "[[post-config|$KEYSTONE_CONF]]\n[token]\nexpiration = 7200\n" in text


def test_localrc_sources_in_bash_to_the_pillar_values(host, node, tmp_path):
    text = host.file(LOCAL_CONF).content_string
    section = text.split("[[local|localrc]]\n", 1)[1].split("\n[[", 1)[0]
    (tmp_path / "localrc").write_text(section)
    script = ("enable_service() { :; }; disable_service() { :; }; disable_all_services() { :; };"
              "enable_plugin() { :; }; source localrc;"
              "printf '%s\\n' \"$ADMIN_PASSWORD\" \"$SERVICE_PASSWORD\" \"$DATABASE_PASSWORD\" \"$LOGFILE\" \"$SWIFT_HASH\""
              " \"$DATABASE_HOST\" \"$RABBIT_USERID\" \"$RABBIT_PASSWORD\"")
    out = subprocess.run(["/bin/bash", "--norc", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={"DEST": "/opt/stack", "PATH": "/nonexistent"}, check=True).stdout.splitlines()
    password = node["localrc"]["ADMIN_PASSWORD"]
    database = salt_call("pillar.get", "database:devstack", "unmask=True")
    broker = salt_call("pillar.get", "broker", "unmask=True")
    user = broker["devstack_user"]
    assert out == [password, password, database["password"], "/opt/stack/logs/stack.sh.log", node["localrc"]["SWIFT_HASH"],
                   database["host"], user, broker["users"][user]["password"]]


def test_a_second_apply_reports_zero_changes(applied):
    result = salt_call("state.apply", "--retcode-passthrough")
    assert changed(result) == {}
    assert all(state["result"] is True for state in result.values())


def test_test_mode_predicts_a_real_change_exactly_and_changes_nothing(host, applied):
    os.chmod(LOCAL_CONF, 0o644)
    try:
        predicted = changed(salt_call("state.apply", "test=True"))
        assert host.file(LOCAL_CONF).mode == 0o644
        real = changed(salt_call("state.apply", "--retcode-passthrough"))
        assert predicted == real
        assert list(real.values()) == [{"mode": {"old": "0644", "new": "0600"}}]
    finally:
        os.chmod(LOCAL_CONF, 0o600)


def test_secrets_stay_out_of_output_logs_and_process_arguments(node, tmp_path):
    """Rewrite local.conf with debug logging; no password may show in stdout, stderr, the log
    file or any process's command line while the run is under way."""
    broker = salt_call("pillar.get", "broker", "unmask=True")
    secrets = [node["localrc"]["ADMIN_PASSWORD"], node["localrc"]["SWIFT_HASH"],
               salt_call("pillar.get", "database:devstack:password", "unmask=True"),
               broker["users"][broker["devstack_user"]]["password"]]
    os.unlink(LOCAL_CONF)
    log_file = tmp_path / "minion.log"
    returncode, stdout, stderr, argv = run_watching_argv(
        [SALT_CALL, "--out=json", "--log-level=debug", f"--log-file={log_file}", "--log-file-level=debug",
         "state.apply"], tmp_path)
    assert returncode == 0, stderr[-2000:]
    assert os.path.exists(LOCAL_CONF) and "localrc:ADMIN_PASSWORD" in stdout
    haystacks = {"stdout": stdout, "stderr": stderr, "log": log_file.read_text(), "argv": argv}
    for where, text in haystacks.items():
        for secret in secrets:
            assert secret not in text, f"a secret appears in {where}"


def test_the_secrets_pillar_file_is_private(host):
    secrets = host.file(os.path.join(PROJECT, ".salt", "pillar", "secrets.sls"))
    assert secrets.mode == 0o600 and secrets.user == "root"
