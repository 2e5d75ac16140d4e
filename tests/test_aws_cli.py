"""Plain ``!aws`` lines go to a helper process that forks the AWS CLI (ssmlab.aws_cli):
the same output, errors and exit codes as the ``aws`` program, and everything else still
goes to the shell."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time

import pytest

from ssmlab import aws_cli

TRUST_EC2 = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


@pytest.mark.parametrize("line, argv", [
    ("aws iam list-roles", ["iam", "list-roles"]),
    ("aws iam get-role --role-name role-for-ec2 --query \"Role.AssumeRolePolicyDocument.Statement[].Principal.Service\" --output text",
     ["iam", "get-role", "--role-name", "role-for-ec2", "--query",
      "Role.AssumeRolePolicyDocument.Statement[].Principal.Service", "--output", "text"]),
    ("aws iam list-roles --query \"length(Roles[?contains(RoleName, 'role-for-')])\"",
     ["iam", "list-roles", "--query", "length(Roles[?contains(RoleName, 'role-for-')])"]),
    ("aws ssm send-command --instance-ids i-0 --parameters 'commands=[\"hostname\"]'",
     ["ssm", "send-command", "--instance-ids", "i-0", "--parameters", 'commands=["hostname"]']),
    ("aws iam create-role --role-name r --assume-role-policy-document file://assume-role-policy.json "
     "--tags Key=ssmlab:lab,Value=offline",
     ["iam", "create-role", "--role-name", "r", "--assume-role-policy-document",
      "file://assume-role-policy.json", "--tags", "Key=ssmlab:lab,Value=offline"]),
    ("aws --version", ["--version"]),
])
def test_plain_aws_lines_run_inside(line, argv):
    assert aws_cli.plain_aws_argv(line) == argv


@pytest.mark.parametrize("line", [
    "aws iam list-roles | head",            # a pipe
    "aws iam list-roles > roles.json",      # a redirection
    "aws iam list-roles; echo done",        # a list
    "aws iam list-roles && echo done",
    "aws iam get-role --role-name $ROLE",   # a shell variable
    'aws iam get-role --role-name "$ROLE"',
    "aws iam get-role --role-name `cat name`",
    "aws iam get-role --role-name $(cat name)",
    "aws s3 cp s3://bucket/key -",          # standard output as a file
    "aws ec2 describe-instances --query Reservations[*]",  # an unquoted glob
    "aws iam get-role --role-name ~/name",
    "aws iam get-role --role-name 'unbalanced",
    "AWS_REGION=eu-west-1 aws iam list-roles",
    "echo aws",
    "ls",
    "",
])
def test_anything_else_goes_to_the_shell(line):
    assert aws_cli.plain_aws_argv(line) is None


def _compare(lab, aws, capsys, *args):
    """(helper result, program result), each (exit code, stdout, stderr)."""
    capsys.readouterr()
    helper = (aws_cli.run(list(args)), *capsys.readouterr())
    # Bytes: text mode would turn the CLI's "\r" (its usage message has one) into "\n".
    result = subprocess.run(["aws", *args], env=lab.env, capture_output=True, timeout=120)
    return helper, (result.returncode, result.stdout.decode(), result.stderr.decode())


@pytest.mark.parametrize("args", [
    ("--version",),                                              # awscli's own botocore
    ("sts", "get-caller-identity"),
    ("iam", "list-roles", "--query", "length(Roles)", "--output", "text"),
    ("iam", "get-role", "--role-name", "no-such-role"),          # AWS's error, exit 255
    ("iam", "create-role", "--role-name", "only-a-name"),        # the CLI's usage error, exit 2
    ("iam", "no-such-operation"),                                # the model's operations
    ("ec2", "describe-vpcs", "--query", "Vpcs[].IsDefault", "--output", "table"),
])
def test_the_same_output_and_exit_code_as_the_aws_program(lab, aws, capsys, args):
    helper, program = _compare(lab, aws, capsys, *args)
    assert helper == program


def test_the_blogs_limit_exceeded_the_same_through_the_helper(lab, aws, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    iam = lab.client("iam")
    for role in ("role-for-ec2", "role-for-ssm"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=TRUST_EC2)
    iam.create_instance_profile(InstanceProfileName="for-ec2")
    iam.add_role_to_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    args = ("iam", "add-role-to-instance-profile", "--instance-profile-name", "for-ec2",
            "--role-name", "role-for-ssm")
    helper, program = _compare(lab, aws, capsys, *args)
    assert helper == program
    assert helper[0] == 255 and helper[2].strip() == (
        "An error occurred (LimitExceeded) when calling the AddRoleToInstanceProfile operation: "
        "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"
    )


def test_the_kernels_directory_and_environment_at_that_moment(lab, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assume-role-policy.json").write_text(TRUST_EC2)
    assert aws_cli.run(["iam", "create-role", "--role-name", "role-for-ec2", "--assume-role-policy-document",
                        "file://assume-role-policy.json", "--query", "Role.RoleName", "--output", "text"]) == 0
    assert capsys.readouterr().out == "role-for-ec2\n"
    monkeypatch.setenv("AWS_DEFAULT_OUTPUT", "text")
    assert aws_cli.run(["iam", "list-roles", "--query", "Roles[].RoleName"]) == 0
    assert capsys.readouterr().out == "role-for-ec2\n"


def test_the_kernel_is_left_as_it_was(lab, capsys, monkeypatch):
    monkeypatch.delenv("AWS_DATA_PATH", raising=False)
    argv, cwd = list(sys.argv), os.getcwd()
    aws_cli.run(["--debug", "iam", "list-roles"])
    capsys.readouterr()
    # awscli redirects `import botocore` to its own copy once imported: never in here.
    assert "awscli" not in sys.modules
    assert "AWS_DATA_PATH" not in os.environ and sys.argv == argv and os.getcwd() == cwd
    assert not [h for h in logging.getLogger("botocore").handlers if not isinstance(h, logging.NullHandler)]


def test_a_character_split_between_two_reads_stays_whole(capsys):
    read, write = os.pipe()
    text = "┌──┐ ✓\n".encode()

    def slowly():
        os.write(write, text[:1])  # the first byte of a three-byte character
        time.sleep(0.2)
        os.write(write, text[1:])
        os.close(write)

    writer = threading.Thread(target=slowly)
    writer.start()
    aws_cli._Relay({read: sys.stdout}).run()
    writer.join()
    assert capsys.readouterr().out == "┌──┐ ✓\n"


def test_a_helper_that_died_is_replaced(lab, capsys):
    assert aws_cli.run(["sts", "get-caller-identity", "--query", "Account", "--output", "text"]) == 0
    aws_cli._zygote.process.kill()
    aws_cli._zygote.process.wait()
    assert aws_cli.run(["sts", "get-caller-identity", "--query", "Account", "--output", "text"]) == 0
    assert capsys.readouterr().out == "123456789012\n123456789012\n"


def test_install_routes_plain_aws_lines_and_uninstall_gives_them_back(lab, monkeypatch):
    import IPython
    import IPython.core.interactiveshell as shell_module

    aws_cli.uninstall()
    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as in a kernel
    shell_calls = []
    monkeypatch.setattr(shell_module, "system", lambda cmd: shell_calls.append(cmd) or 7)
    cli_calls = []
    monkeypatch.setattr(aws_cli, "run", lambda args: cli_calls.append(args) or 0)
    assert aws_cli.install()
    assert aws_cli.install()  # again: not wrapped twice
    assert shell_module.system("aws iam list-roles") == 0
    assert shell_module.system("aws iam list-roles | head") == 7
    assert cli_calls == [["iam", "list-roles"]] and shell_calls == ["aws iam list-roles | head"]
    aws_cli.uninstall()
    assert shell_module.system("aws iam list-roles") == 7
    assert cli_calls == [["iam", "list-roles"]]
    assert aws_cli._zygote is None


def test_outside_ipython_install_changes_nothing(monkeypatch):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert aws_cli.install() is False


def test_when_the_helper_cannot_take_a_line_the_shell_runs_it_and_every_line_after(monkeypatch):
    monkeypatch.setattr(aws_cli, "_given_up", False)

    def helper_gone(args):
        raise aws_cli.HelperGone("the AWS CLI helper process answered [] instead of 'pid'")

    monkeypatch.setattr(aws_cli, "run", helper_gone)
    shell_calls = []
    system = aws_cli._system_with_the_cli_ready(lambda cmd: shell_calls.append(cmd) or 0)
    assert system("aws iam list-roles") == 0
    assert aws_cli._helper() is None
    assert system("aws sts get-caller-identity") == 0
    assert shell_calls == ["aws iam list-roles", "aws sts get-caller-identity"]


def test_ssmlab_aws_cli_shell_keeps_every_line_in_the_shell(lab, monkeypatch):
    import IPython
    import IPython.core.interactiveshell as shell_module

    monkeypatch.setattr(IPython, "get_ipython", lambda: object())  # as in a kernel
    shell_system = shell_module.system
    assert aws_cli.install()
    monkeypatch.setenv("SSMLAB_AWS_CLI", "shell")
    assert aws_cli.install() is False  # as start() calls it: undoes the routing
    assert shell_module.system is shell_system and aws_cli._zygote is None
