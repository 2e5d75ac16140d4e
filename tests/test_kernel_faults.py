"""Faults of the kernel's own pieces: the in-kernel moto server dies, the lab is stopped,
the kernel is killed (kill -9) with the AWS CLI helper and a command running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ssmlab
from ssmlab import lab as lab_module
from ssmlab.errors import LabError


def test_a_dead_server_is_one_sentence_at_once_and_start_replaces_it():
    lab = ssmlab.start(quiet=True)
    iam = lab.client("iam")
    dead = lab_module._endpoint
    dead._server.shutdown()  # the server thread ends, as if it had crashed
    dead._server.server_close()
    started = time.monotonic()
    with pytest.raises(LabError, match=r"^The offline lab's server in this kernel has stopped answering: run"):
        iam.list_roles()
    assert time.monotonic() - started < 2  # not botocore's retries (24 s before)
    fresh = ssmlab.start(quiet=True)
    assert lab_module._endpoint is not dead and fresh.endpoint != lab.endpoint
    assert fresh.client("iam").list_roles()["Roles"] == []
    assert fresh.client("sts").get_caller_identity()["Arn"] == fresh.caller_arn


def test_an_aws_line_after_the_server_died_is_one_sentence(capsys):
    from ssmlab import aws_cli

    ssmlab.start(quiet=True)
    aws_cli.install(precheck=lab_module._dead_server_sentence)  # as start() does under IPython
    try:
        dead = lab_module._endpoint
        dead._server.shutdown()
        dead._server.server_close()
        started = time.monotonic()
        assert aws_cli.run(["iam", "list-roles"]) == 255
        assert time.monotonic() - started < 2
        assert capsys.readouterr().err == (
            "ssmlab: The offline lab's server in this kernel has stopped answering: run "
            "`lab = ssmlab.start(lesson=N)` again (N: this notebook's number) to start a new one.\n")
        ssmlab.start(quiet=True)
        aws_cli.install(precheck=lab_module._dead_server_sentence)
        assert aws_cli.run(["sts", "get-caller-identity", "--query", "Arn", "--output", "text"]) == 0
        assert capsys.readouterr().out == "arn:aws:iam::123456789012:user/learner\n"
    finally:
        aws_cli.uninstall()


def test_calls_after_stop_fail_at_once():
    lab = ssmlab.start(quiet=True)
    iam, sts = lab.client("iam"), lab.client("sts")
    iam.list_roles()
    ssmlab.stop()
    started = time.monotonic()
    for call in (iam.list_roles, sts.get_caller_identity):
        with pytest.raises(LabError, match=r"^This lab was stopped \(ssmlab.stop\(\)\): start one again"):
            call()
    assert time.monotonic() - started < 2  # was about 40 s


KERNEL = r"""
import sys, threading, time
from IPython.core.interactiveshell import InteractiveShell
InteractiveShell.instance()  # what a kernel has: aws_cli routes `!aws` to its helper
import ssmlab
from ssmlab import aws_cli
lab = ssmlab.start(quiet=True)
how = sys.argv[2]

def work():
    helper = aws_cli._helper()
    print(helper.process.pid, flush=True)
    if how == "idle":
        time.sleep(600)
    # A command that never ends: the endpoint accepts the connection and never answers.
    aws_cli.run(["sts", "get-caller-identity", "--endpoint-url", sys.argv[1], "--cli-read-timeout", "0"])

if how == "another thread":  # Linux's parent-death signal follows the forking thread: not used
    threading.Thread(target=work).start()
    time.sleep(600)
else:
    work()
"""


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text().split()
        found += [int(child) for child in text]
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")  # a zombie has ended; only its parent's wait is missing


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
@pytest.mark.parametrize("how", ["main thread", "another thread", "idle"])
def test_the_aws_cli_helper_and_its_command_end_with_a_killed_kernel(tmp_path, how):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL, endpoint, how], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = kernel.stdout.readline()
        assert line.strip().isdigit(), line + kernel.stderr.read()
        helper = int(line)
        deadline = time.monotonic() + 120
        while how != "idle" and not _children(helper):  # the forked `aws` command is running
            assert time.monotonic() < deadline, "the helper never forked the command"
            time.sleep(0.05)
        command = _children(helper)[0] if how != "idle" else helper
        assert not _gone(helper) and not _gone(command)
        os.kill(kernel.pid, signal.SIGKILL)
        kernel.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not (_gone(helper) and _gone(command)):
            assert time.monotonic() < deadline, "the helper or its command outlived the kernel"
            time.sleep(0.05)
    finally:
        if kernel.poll() is None:
            kernel.kill()
        silent.close()
