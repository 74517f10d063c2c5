"""The wiring of a cloud across nodes, in plain Python: which addresses DevStack's database
account exists for, where a node's metrics go, and the key folders ``bin/cluster keys`` makes for
a master that trusts keys, not names (seeded into each node's Salt key folder by bin/configure)."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from devstack_salt import contract, mariadb_model, run_metrics, saltconfig
from devstack_salt.collectd import resolve_carbon_host
from project import PROJECT

DATABASE = {"devstack": {"password": "Devstack1"}, "users": {}}


@pytest.mark.parametrize("roles, others, nodes", [
    (["all-in-one"], {}, ["127.0.0.1", "localhost"]),                 # this node is the DevStack node
    (["database"], {"devstack1": "10.0.0.14"}, ["10.0.0.14"]),         # only the DevStack nodes' addresses
    (["database", "devstack"], {"ds2": "10.0.0.15", "ds3": "10.0.0.15"}, ["127.0.0.1", "localhost", "10.0.0.15"]),
    (["database"], {}, []),                                            # no DevStack node yet: no account
])
def test_devstacks_account_exists_for_the_devstack_nodes_only(roles, others, nodes):
    assert contract.devstack_nodes(roles, others) == nodes
    model = mariadb_model.build(DATABASE, devstack_nodes=contract.devstack_nodes(roles, others))
    assert model["users"]["devstack"]["hosts"] == nodes


def test_the_pillars_own_nodes_win_and_the_default_without_a_mine_is_loopback():
    pillar = {**DATABASE, "devstack": {**DATABASE["devstack"], "nodes": ["192.0.2.9"]}}
    assert mariadb_model.build(pillar, devstack_nodes=["10.0.0.14"])["devstack"]["nodes"] == ["192.0.2.9"]
    assert mariadb_model.build(DATABASE)["devstack"]["nodes"] == ["127.0.0.1", "localhost"]


@pytest.mark.parametrize("address", ["%", "10.0.0.%", "evil.example", ""])
def test_a_mine_address_that_is_no_ip_address_is_a_pillar_error_not_a_grant(address):
    """A DevStack minion's published address becomes a host of DevStack's account only as a
    literal address: a pattern would open the account to a whole network."""
    with pytest.raises(mariadb_model.DatabasePillarError, match="database:devstack:nodes: unset") as error:
        mariadb_model.build(DATABASE, devstack_nodes=contract.devstack_nodes(["database"], {"ds1": address}))
    assert "set database:devstack:nodes" in str(error.value)


@pytest.mark.parametrize("collectd, carbon, others, host", [
    ({"carbon_host": "192.0.2.7"}, {"server": True}, ["10.0.0.11"], "192.0.2.7"),   # the pillar names it
    ({"carbon_host": None}, {"server": True, "address": "10.0.0.11"}, [], "10.0.0.11"),  # its own carbon
    ({}, {"server": True, "address": "0.0.0.0"}, [], "127.0.0.1"),                  # ... on every address
    ({}, {"server": False}, ["10.0.0.11"], "10.0.0.11"),                            # the monitoring node
    ({}, {}, [], "127.0.0.1"),
])
def test_a_nodes_metrics_go_to_its_own_carbon_or_the_monitoring_nodes(collectd, carbon, others, host):
    assert resolve_carbon_host(collectd, carbon, lambda: others) == host
    # Salt's own runs go to the same carbon as collectd's metrics.
    monitoring = {"collectd": collectd, "carbon": carbon, "salt_runs": {"enabled": True}}
    assert run_metrics.settings(monitoring, lambda: others)["host"] == host


def test_with_salt_runs_off_the_returner_never_asks_the_mine():
    def mine():
        raise AssertionError("the mine was asked")
    assert run_metrics.settings({"carbon": {"server": False}}, mine)["enabled"] is False


def make_keys(tmp_path, *ids: str) -> str:
    keys = str(tmp_path / "keys")
    subprocess.run([os.path.join(PROJECT, "bin", "cluster"), "keys", keys, *ids], check=True, capture_output=True)
    return keys


def test_bin_cluster_keys_lays_out_each_nodes_key_folder(tmp_path):
    keys = make_keys(tmp_path, "db1", "mq1")
    master = open(f"{keys}/master/master.pub").read()
    for minion in ("db1", "mq1"):
        assert open(f"{keys}/{minion}/minion_master.pub").read() == master
        assert open(f"{keys}/master/minions/{minion}").read() == open(f"{keys}/{minion}/minion.pub").read()
        assert open(f"{keys}/{minion}/minion.pem").read().startswith("-----BEGIN RSA PRIVATE KEY-----")
        assert stat.S_IMODE(os.stat(f"{keys}/{minion}/minion.pem").st_mode) == 0o600
    # Again, with one more id (a node added, or re-created): the existing keys stay as they are.
    before = open(f"{keys}/db1/minion.pem").read()
    make_keys(tmp_path, "db1", "devstack1")
    assert open(f"{keys}/db1/minion.pem").read() == before
    assert sorted(os.listdir(f"{keys}/master/minions")) == ["db1", "devstack1", "mq1"]


def test_bin_cluster_keys_refuses_an_id_that_is_no_name(tmp_path):
    proc = subprocess.run([os.path.join(PROJECT, "bin", "cluster"), "keys", str(tmp_path / "k"), "../etc"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "bad minion id" in proc.stderr


@pytest.mark.parametrize("command, missing", [(["master", "pillar/examples/multi-node"], "master.pem"),
                                              (["minion", "192.0.2.10", "db1"], "minion.pem")])
def test_bin_cluster_checks_the_key_folder_before_it_installs_anything(tmp_path, command, missing):
    proc = subprocess.run([os.path.join(PROJECT, "bin", "cluster"), *command, str(tmp_path)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and f"has no {missing}" in proc.stderr and proc.stdout == ""


def test_a_master_gets_exactly_its_minions_keys_and_a_minion_its_own(tmp_path):
    keys = make_keys(tmp_path, "db1", "mq1")
    assert saltconfig.seed_keys(f"{keys}/master", str(tmp_path / "master-pki"), master=True) == ["db1", "mq1"]
    assert sorted(os.listdir(tmp_path / "master-pki" / "minions")) == ["db1", "mq1"]
    assert stat.S_IMODE(os.stat(tmp_path / "master-pki" / "master.pem").st_mode) == 0o400
    saltconfig.seed_keys(f"{keys}/db1", str(tmp_path / "pki"), master=False)
    assert sorted(os.listdir(tmp_path / "pki")) == ["minion.pem", "minion.pub", "minion_master.pub"]
    # Seeding again (bin/cluster run again) replaces the read-only files whole.
    saltconfig.seed_keys(f"{keys}/db1", str(tmp_path / "pki"), master=False)
    assert stat.S_IMODE(os.stat(tmp_path / "pki" / "minion.pem").st_mode) == 0o400


def test_a_minion_whose_key_left_the_folder_is_revoked_by_the_next_seeding(tmp_path):
    keys = make_keys(tmp_path, "db1", "mq1")
    pki = str(tmp_path / "master-pki")
    saltconfig.seed_keys(f"{keys}/master", pki, master=True)
    os.remove(f"{keys}/master/minions/mq1")  # the operator takes mq1 out of the cluster
    open(f"{keys}/master/minions/.DS_Store", "w").close()  # a stray file is no minion
    assert saltconfig.seed_keys(f"{keys}/master", pki, master=True) == ["db1"]
    assert os.listdir(os.path.join(pki, "minions")) == ["db1"]


def test_a_folder_without_the_keys_is_a_clear_error(tmp_path):
    keys = make_keys(tmp_path, "db1")
    with pytest.raises(ValueError, match="lacks minion.pem"):
        saltconfig.seed_keys(f"{keys}/master", str(tmp_path / "pki"), master=False)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="master.pem, master.pub, minions/<id>"):
        saltconfig.seed_keys(str(tmp_path / "empty"), str(tmp_path / "mpki"), master=True)


def test_a_master_accepts_no_minion_by_itself():
    config = saltconfig.master_config("/srv/x/.salt", "/srv/x/pillar/examples/multi-node", "10.0.0.10")
    assert config["open_mode"] is False and config["auto_accept"] is False and "autosign_file" not in config
    assert config["interface"] == "10.0.0.10"


def test_the_daemons_units_run_this_checkouts_salt_at_boot():
    name, text = saltconfig.cluster_unit("minion", "/srv/x/.venv/bin", "/srv/x/.salt")
    assert name == "devstack-salt-minion.service"
    assert "ExecStart=/srv/x/.venv/bin/salt-minion -c /srv/x/.salt --log-level=quiet\n" in text
    assert "WantedBy=multi-user.target" in text and "Restart=on-failure" in text
    assert "KillMode=process" in text  # restarting the daemon leaves the jobs it started running


def test_a_node_keeps_the_address_an_earlier_run_configured(tmp_path):
    """bin/setup --address once, then bin/setup again: the grain (DevStack's HOST_IP) stays."""
    minion = tmp_path / "minion"
    assert saltconfig.configured_address(str(minion)) is None  # nothing written yet
    saltconfig.write_config(str(minion), {"id": "aio", "grains": {"devstack_salt_address": "192.168.56.2"}})
    assert saltconfig.configured_address(str(minion)) == "192.168.56.2"
    for text in ("not json", '{"grains": ["x"]}', '{"grains": {"devstack_salt_address": 7}}', "[]"):
        minion.write_text(text)
        assert saltconfig.configured_address(str(minion)) is None


@pytest.mark.parametrize("address", ["192.168.56", "eth1", "10.0.0.1; true"])
def test_bin_configure_refuses_an_address_that_is_no_ip_address(address, tmp_path):
    proc = subprocess.run([os.path.join(PROJECT, ".venv/bin/python"), os.path.join(PROJECT, "bin/configure"),
                           "--address", address], capture_output=True, text=True)
    assert proc.returncode == 2 and "is not an IP address" in proc.stderr and "Traceback" not in proc.stderr


def test_state_runs_go_to_the_textfile_returner_only_where_salt_call_runs_them_masterless():
    """saltext-prometheus's returner reads a state's name from its first argument: a master's job
    carries a dict there (its keyword arguments, test=True among them), so a master's minions
    keep carbon's returner alone."""
    masterless = saltconfig.minion_config("/srv/x/.salt", "aio")
    assert masterless["return"].split(",") == ["salt_run_metrics", "prometheus_textfile"]
    assert saltconfig.minion_of(masterless, "10.0.0.10")["return"] == "salt_run_metrics"
