"""The shared writer (_utils/devstack_salt/files.py): how every module writes its files."""

from __future__ import annotations

import os
import pwd
import stat

import pytest

from project import devstack

from devstack_salt import files, mariadb_options, rabbitmq_server


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


def test_the_devstack_module_writes_through_this_one_function():
    for module in (devstack,):
        assert module.devstack_salt_files is files
        assert not hasattr(module, "atomic_write")


def test_the_database_and_broker_logic_write_through_this_one_function():
    for module in (mariadb_options, rabbitmq_server):
        assert module.files is files
        assert not hasattr(module, "atomic_write")
