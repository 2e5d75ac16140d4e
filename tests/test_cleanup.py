"""Clean-up removes what carries the lab's prefix AND tag, in AWS's order, and nothing else.

The aws backend against a stand-in account (tests/fault_injection.py); never AWS.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import ssmlab
from fault_injection import account  # noqa: F401
from ssmlab import cli, replay

TRUST = replay.trust_policy(replay.EC2)
POLICY = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]}'


def roles(admin) -> list[str]:
    return sorted(r["RoleName"] for r in admin("iam").list_roles()["Roles"])


def test_removes_the_labs_resources_in_order_and_nothing_else(account, capsys):
    lab = ssmlab.start("aws", lesson=7, quiet=True)
    iam = lab.client("iam")
    n = replay.names(lab)
    # More of the lab's: an inline policy, a customer managed policy, a lone instance.
    iam.put_role_policy(RoleName=n["ROLE"], PolicyName="read-roles", PolicyDocument=POLICY)
    arn = iam.create_policy(PolicyName=lab.name("read-roles"), PolicyDocument=POLICY)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=n["ROLE"], PolicyArn=arn)
    image = lab.client("ssm").get_parameter(Name="/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64")
    lone = lab.client("ec2").run_instances(ImageId=image["Parameter"]["Value"], MinCount=1, MaxCount=1)
    lone = lone["Instances"][0]["InstanceId"]
    # The template passes the tag to the stack's instance.
    stack = lab.client("cloudformation").describe_stacks(StackName=n["STACK"])["Stacks"][0]
    instance = stack["Outputs"][0]["OutputValue"]
    described = lab.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    assert {"Key": "ssmlab:lab", "Value": "ssmlab-ada"} in described["Tags"]

    # Not the lab's: no tag; another attendee's tag; the tag without the prefix.
    other = account.admin("iam")
    other.create_role(RoleName="ssmlab-ada-role-for-ec2-by-hand", AssumeRolePolicyDocument=TRUST)
    other.create_role(RoleName="ssmlab-ada-lovelace-role-for-ec2", AssumeRolePolicyDocument=TRUST,
                      Tags=[{"Key": "ssmlab:lab", "Value": "ssmlab-ada-lovelace"}])
    other.create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=TRUST,
                      Tags=[{"Key": "ssmlab:lab", "Value": "ssmlab-ada"}])
    other.create_instance_profile(InstanceProfileName="ssmlab-ada-for-ec2-old")
    capsys.readouterr()

    report = lab.cleanup()
    out = capsys.readouterr().out.splitlines()
    expected = [
        f"deleted stack {n['STACK']}",
        f"terminated instance {lone}",
        f"detached policy AmazonSSMManagedInstanceCore from role {n['ROLE']}",
        f"detached policy ssmlab-ada-read-roles from role {n['ROLE']}",
        f"deleted inline policy read-roles of role {n['ROLE']}",
        f"removed role {n['ROLE']} from instance profile {n['PROFILE']}",
        f"deleted instance profile {n['PROFILE']}",
        f"deleted role {n['ROLE']}",
        "deleted policy ssmlab-ada-read-roles",
    ]
    assert [line for line in out if not line.startswith("kept")] == expected + [
        "Done: 9 step(s); nothing of the lab's is left."]
    assert sorted(line for line in out if line.startswith("kept")) == [
        "kept instance profile ssmlab-ada-for-ec2-old: no ssmlab:lab tag of this lab",
        "kept role ssmlab-ada-lovelace-role-for-ec2: no ssmlab:lab tag of this lab",
        "kept role ssmlab-ada-role-for-ec2-by-hand: no ssmlab:lab tag of this lab",
    ]
    assert report.ok
    assert roles(account.admin) == ["role-for-ec2", "ssmlab-ada-lovelace-role-for-ec2",
                                    "ssmlab-ada-role-for-ec2-by-hand"]
    profiles = account.admin("iam").list_instance_profiles()["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == ["ssmlab-ada-for-ec2-old"]
    states = {i["InstanceId"]: i["State"]["Name"] for r in account.admin("ec2").describe_instances()["Reservations"]
              for i in r["Instances"]}
    assert states[instance] == states[lone] == "terminated"
    assert account.admin("iam").list_policies(Scope="Local")["Policies"] == []

    # Idempotent: a second run finds nothing and changes nothing.
    calls = len(account.faults.actions(mutating=True))
    assert lab.cleanup().removed == []
    assert len(account.faults.actions(mutating=True)) == calls


def test_dry_run_changes_nothing_and_lists_what_a_real_run_does(account, capsys):
    lab = ssmlab.start("aws", lesson=7, quiet=True)
    before = len(account.faults.actions(mutating=True))
    dry = lab.cleanup(dry_run=True)
    out = capsys.readouterr().out
    assert len(account.faults.actions(mutating=True)) == before  # not one change
    assert "would delete stack ssmlab-ada-stack-for-ec2" in out
    assert out.strip().endswith("Dry run: 5 step(s) above would run; nothing was changed.")
    assert "ssmlab-ada-role-for-ec2" in roles(account.admin)
    assert lab.cleanup().removed == dry.removed


def test_all_users_covers_every_ssmlab_prefix_but_still_needs_the_tag(account, monkeypatch, capsys):
    monkeypatch.setenv("SSMLAB_USER", "bob")
    ssmlab.start("aws", lesson=3, quiet=True)  # bob's role, profile
    monkeypatch.setenv("SSMLAB_USER", "ada")
    lab = ssmlab.start("aws", lesson=3, quiet=True)
    account.admin("iam").create_role(RoleName="ssmlab-carol-role-for-ec2", AssumeRolePolicyDocument=TRUST)
    monkeypatch.setenv("SSMLAB_PREFIX", "team7-")
    ssmlab.start("aws", lesson=2, quiet=True).client("iam").create_role(
        RoleName="team7-role", AssumeRolePolicyDocument=TRUST)  # tagged, outside ssmlab-*

    lab.cleanup()
    assert roles(account.admin) == ["ssmlab-bob-role-for-ec2", "ssmlab-carol-role-for-ec2", "team7-role"]
    capsys.readouterr()
    lab.cleanup(all_users=True)
    out = capsys.readouterr().out
    assert "deleted role ssmlab-bob-role-for-ec2" in out
    assert "kept role ssmlab-carol-role-for-ec2: no ssmlab:lab tag of this lab" in out
    assert roles(account.admin) == ["ssmlab-carol-role-for-ec2", "team7-role"]


def test_the_command_line(account, monkeypatch, capsys):
    ssmlab.start("aws", lesson=3, quiet=True)
    ssmlab.stop()
    command = [str(Path(sys.executable).parent / "ssmlab"), "cleanup"]
    env = dict(os.environ)
    dry = subprocess.run(command + ["--dry-run"], env=env, capture_output=True, text=True, timeout=120)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[0] == "ssmlab REAL AWS account: account 123456789012, region eu-west-1"
    assert "would delete role ssmlab-ada-role-for-ec2" in dry.stdout
    real = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert real.returncode == 0, real.stderr
    assert real.stdout.strip().endswith("Done: 3 step(s); nothing of the lab's is left.")
    assert "ssmlab-ada-role-for-ec2" not in roles(account.admin)

    monkeypatch.delenv("SSMLAB_AWS_ACCOUNT")
    assert cli.main(["cleanup"]) == 2
    assert capsys.readouterr().err.startswith("ssmlab: A real account is used only when you confirm it")


def test_offline_it_is_the_same_code(lab, capsys):
    """Offline the lab has no prefix and its tag value is "offline"; cells made through
    ``lab.client`` are not tagged offline, so only what carries the tag is removed."""
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=TRUST, Tags=lab.tags)
    iam.create_role(RoleName="role-for-me", AssumeRolePolicyDocument=TRUST)
    report = lab.cleanup()
    assert report.removed == ["delete role role-for-ec2"]
    assert "kept role role-for-me: no ssmlab:lab tag of this lab" in capsys.readouterr().out
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["role-for-me"]


@pytest.mark.parametrize("tags, name, owned", [
    ([{"Key": "ssmlab:lab", "Value": "ssmlab-ada"}], "ssmlab-ada-role", True),
    ([{"Key": "ssmlab:lab", "Value": "ssmlab-ada"}], "ssmlab-adam-role", False),
    ([{"Key": "ssmlab:lab", "Value": "ssmlab-ada-lovelace"}], "ssmlab-ada-lovelace-role", False),
    ([{"Key": "Name", "Value": "ssmlab-ada"}], "ssmlab-ada-role", False),
    ([], "ssmlab-ada-role", False),
])
def test_both_marks_are_needed(tags, name, owned):
    from ssmlab.cleanup import Scope

    assert Scope("ssmlab-ada", "ssmlab-ada-").owns(name, tags) is owned
