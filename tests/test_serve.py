"""`ssmlab serve`: the offline lab as a foreground process for any AWS CLI or SDK.

Runs the blog's IAM commands (steps 2, 3, 5, 6 and 8 of docs/aws-facts.md#journey) with the real `aws` CLI
against it, exactly as a workshop attendee would after pasting the printed export line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
TRUST_EC2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
             "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
TRUST_BOTH = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
              "Principal": {"Service": ["ec2.amazonaws.com", "ssm.amazonaws.com"]},
              "Action": "sts:AssumeRole"}]}


def exports_from(line: str) -> dict[str, str]:
    assert line.strip().startswith("export "), line
    return dict(word.split("=", 1) for word in shlex.split(line.strip()[len("export "):]))


@pytest.fixture
def served(tmp_path):
    """A running `ssmlab serve` and a clean shell environment pointed at it.

    It binds port 0 and the test reads the port it printed: a port picked by the test and
    bound later by the server could be taken meanwhile by any other program on the machine
    (the cause of an earlier flake)."""
    process = subprocess.Popen(
        [str(BIN / "ssmlab"), "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Serving until"):
            break
    else:
        pytest.fail("ssmlab serve stopped early: " + "".join(lines) + process.stderr.read())
    export_line = next(line for line in lines if line.strip().startswith("export "))
    port = int(re.match(r"ssmlab offline lab on http://127\.0\.0\.1:(\d+): ", lines[0]).group(1))
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp_path),  # no ~/.aws of the machine's user
        **exports_from(export_line),
    }
    yield process, env, port, lines
    if process.poll() is None:
        process.kill()
        process.wait()


def aws(env, *args):
    return subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=120)


def test_prints_what_to_export(served):
    _, env, port, lines = served
    assert lines[0].startswith(f"ssmlab offline lab on http://127.0.0.1:{port}: account 123456789012")
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"


def test_the_blogs_iam_commands(served, tmp_path):
    _, env, _, _ = served
    policy = tmp_path / "assume-role-policy.json"
    policy.write_text(json.dumps(TRUST_EC2))

    # Step 2: the role.
    created = aws(env, "iam", "create-role", "--role-name", "role-for-ec2",
                  "--assume-role-policy-document", f"file://{policy}")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["Role"]["Arn"] == "arn:aws:iam::123456789012:role/role-for-ec2"

    # Step 3: the instance profile, with the role in it.
    assert aws(env, "iam", "create-instance-profile", "--instance-profile-name", "for-ec2").returncode == 0
    added = aws(env, "iam", "add-role-to-instance-profile", "--instance-profile-name", "for-ec2",
                "--role-name", "role-for-ec2")
    assert added.returncode == 0, added.stderr

    # Step 5: a second role does not fit; AWS's exact line, awscli v1's exit status 255.
    assert aws(env, "iam", "create-role", "--role-name", "role-for-ssm",
               "--assume-role-policy-document", f"file://{policy}").returncode == 0
    second = aws(env, "iam", "add-role-to-instance-profile", "--instance-profile-name", "for-ec2",
                 "--role-name", "role-for-ssm")
    assert second.returncode == 255
    assert second.stderr.strip() == (
        "An error occurred (LimitExceeded) when calling the AddRoleToInstanceProfile "
        "operation: Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"
    )

    # Step 6: the trust-policy detour.
    policy.write_text(json.dumps(TRUST_BOTH))
    updated = aws(env, "iam", "update-assume-role-policy", "--role-name", "role-for-ec2",
                  "--policy-document", f"file://{policy}")
    assert updated.returncode == 0, updated.stderr
    trust = json.loads(aws(env, "iam", "get-role", "--role-name", "role-for-ec2").stdout)
    assert trust["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"] == [
        "ec2.amazonaws.com", "ssm.amazonaws.com"]

    # Step 8: the managed policy that fixes it.
    attached = aws(env, "iam", "attach-role-policy", "--role-name", "role-for-ec2",
                   "--policy-arn", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    assert attached.returncode == 0, attached.stderr
    listed = json.loads(aws(env, "iam", "list-attached-role-policies", "--role-name", "role-for-ec2").stdout)
    assert [p["PolicyName"] for p in listed["AttachedPolicies"]] == ["AmazonSSMManagedInstanceCore"]


def test_a_port_in_use_is_one_sentence(served):
    # (the port is held by the served process for the whole test: no pick-then-bind race)
    _, _, port, _ = served
    second = subprocess.run([str(BIN / "ssmlab"), "serve", "--port", str(port)],
                            capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    assert second.stderr == (
        f"ssmlab: Port {port} on 127.0.0.1 is already in use: choose another with --port, "
        f"or stop the program using it.\n"
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_stops_cleanly_on_a_signal(served, signum):
    process, env, port, _ = served
    process.send_signal(signum)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert out.strip().endswith("ssmlab offline lab stopped.")
    assert "Traceback" not in err
    # The port is not probed afterwards. Binding it again, as this test once did, was a
    # flake: once the server has exited any program on the machine may take the port (the
    # local port of an outgoing connection, or another server's port-0 pick: both come from
    # the system's ephemeral range), and the exit itself closes the socket, so the probe
    # could fail for others' reasons and never for this server's.
