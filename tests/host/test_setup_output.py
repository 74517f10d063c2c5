"""What a user reads after the README's first command: ``bin/setup`` run again on this host
succeeds and prints no [ERROR] line (on a host without systemd, Salt's Debian service module
would log one for every `runlevel` it asks), while a real failure still shows as one."""

from __future__ import annotations

import os
import re
import subprocess

from host_salt import SALT_CALL
from project import PROJECT


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if "[ERROR" in line]


def test_bin_setup_again_succeeds_and_prints_no_error_line():
    proc = subprocess.run([os.path.join(PROJECT, "bin", "setup")], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=1800)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert re.search(r"^Failed:\s+0$", output, re.M), output[-3000:]
    assert error_lines(output) == [], error_lines(output)[:20]


def salt_call_output(*args: str) -> tuple[int, str]:
    """bin/salt-call at the log level bin/setup uses, as a user runs it (no RUNLEVEL of ours)."""
    env = {key: value for key, value in os.environ.items() if key != "RUNLEVEL"}
    proc = subprocess.run([SALT_CALL, "--log-level=warning", *args], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, env=env, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


def test_service_states_print_no_error_line_and_a_failing_command_still_does():
    """The same salt-call: a service state (Salt asks the runlevel before and after it) is quiet,
    a command that really fails is an [ERROR] line and a failed state."""
    rc, quiet = salt_call_output("state.single", "service.running", "name=collectd")
    assert rc == 0 and error_lines(quiet) == [], quiet[-3000:]
    rc, loud = salt_call_output("--retcode-passthrough", "state.single", "cmd.run", "name=exit 3")
    assert rc != 0 and re.search(r"^Failed:\s+1$", loud, re.M), loud[-3000:]
    # (Salt names the command by its first word.)
    assert any("Command 'exit' failed with return code: 3" in line for line in error_lines(loud)), loud[-3000:]
