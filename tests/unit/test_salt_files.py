"""The shared writer (_utils/devstack_salt/files.py): how every module writes its files."""

from __future__ import annotations

import os
import re
import pwd
import stat

import pytest

from project import PROJECT

from devstack_salt import files, localconf_text, mariadb_options, rabbitmq_server, reactions, stack_runner


def test_content_and_mode_are_written_whatever_the_umask(tmp_path):
    target = tmp_path / "local.conf"
    old = os.umask(0o077)
    try:
        files.atomic_write(str(target), b"x\n", os.getuid(), os.getgid(), 0o644)
    finally:
        os.umask(old)
    assert target.read_bytes() == b"x\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["local.conf"]


def test_the_old_file_stays_and_no_temp_file_is_left_when_the_rename_fails(tmp_path, monkeypatch):
    target = tmp_path / "local.conf"
    target.write_text("old\n")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError):
        files.atomic_write(str(target), b"new\n", os.getuid(), os.getgid(), 0o600)
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["local.conf"]


def test_the_temp_file_is_renamed_from_the_same_directory(tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace

    def recording_replace(src, dst):
        renames.append((src, dst))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", recording_replace)
    files.atomic_write(str(tmp_path / "local.conf"), b"x\n", os.getuid(), os.getgid(), 0o600)
    ((src, dst),) = renames
    assert os.path.dirname(src) == str(tmp_path) and dst == str(tmp_path / "local.conf")


def test_owner_and_mode_are_set_before_the_first_byte_and_the_data_is_synced(tmp_path, monkeypatch):
    seen = []
    real_fdopen, real_fsync = os.fdopen, os.fsync

    def checking_fdopen(fd, *args, **kwargs):
        info = os.fstat(fd)
        seen.append(("open", info.st_size, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid))
        return real_fdopen(fd, *args, **kwargs)

    def recording_fsync(fd):
        seen.append(("fsync", os.fstat(fd).st_size))
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fdopen", checking_fdopen)
    monkeypatch.setattr(files.os, "fsync", recording_fsync)
    files.atomic_write(str(tmp_path / "f"), b"data\n", os.getuid(), os.getgid(), 0o640)
    assert seen == [("open", 0, 0o640, os.getuid(), os.getgid()), ("fsync", 5)]


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_the_file_belongs_to_the_given_owner(tmp_path):
    nobody = pwd.getpwnam("nobody")
    target = tmp_path / "f"
    files.atomic_write(str(target), b"x\n", nobody.pw_uid, nobody.pw_gid, 0o600)
    info = target.stat()
    assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)


def test_the_logic_writes_through_this_one_module():
    for module in (localconf_text, stack_runner, mariadb_options, rabbitmq_server, reactions):
        assert module.files is files
        assert not hasattr(module, "atomic_write") and not hasattr(module, "write_json")


#: What writing a file its own way looks like in Python source.
OWN_WRITE = re.compile(r"os\.open\(|mkstemp\(|os\.replace\(|\.write_(text|bytes)\(|open\([^)]*[\"'][wax]b?[\"']")


def test_no_other_code_of_the_project_writes_a_file_its_own_way():
    sources = [os.path.join(PROJECT, "bin", "configure")]
    for folder in ("_utils/devstack_salt", "_modules", "_states", "_beacons", "_returners"):
        sources += [os.path.join(PROJECT, folder, name) for name in sorted(os.listdir(os.path.join(PROJECT, folder)))
                    if name.endswith(".py") and name != "files.py"]
    offenders = []
    for path in sources:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if OWN_WRITE.search(line) and "files.write_text(" not in line:
                    offenders.append(f"{os.path.relpath(path, PROJECT)}:{number}: {line.strip()}")
    assert offenders == []


def test_a_log_line_is_appended_whole_and_a_streamed_log_gets_its_mode_first(tmp_path):
    log = tmp_path / "reactions.jsonl"
    files.append_line(str(log), "one\n", 0o600)
    files.append_line(str(log), "two\n", 0o600)
    assert log.read_text() == "one\ntwo\n" and stat.S_IMODE(log.stat().st_mode) == 0o600
    run = tmp_path / "run.log"
    run.write_text("an older run\n")
    run.chmod(0o644)
    with files.open_log(str(run), os.getuid(), os.getgid(), 0o600) as handle:
        assert stat.S_IMODE(os.fstat(handle.fileno()).st_mode) == 0o600
        handle.write(b"new\n")
    assert run.read_text() == "new\n"
