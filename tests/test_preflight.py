"""``ssmlab doctor --aws`` and the bad input a real account refuses before creating
anything. Against a stand-in account (tests/fault_injection.py); never AWS."""

from __future__ import annotations

import json

import pytest

import ssmlab
from fault_injection import account  # noqa: F401
from ssmlab import cli, preflight
from ssmlab.errors import LabError
from ssmlab.lab import Lab

ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def as_user(account, monkeypatch, policy: dict) -> None:
    """Make the caller an IAM user of the account with ``policy`` (inline)."""
    iam = account.admin("iam")
    iam.create_user(UserName="ada")
    iam.put_user_policy(UserName="ada", PolicyName="sandbox", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="ada")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])


def doctor() -> tuple[bool, list[str]]:
    lines: list[str] = []
    return preflight.run(lines.append), lines


def test_go_on_a_ready_account(account, monkeypatch):
    as_user(account, monkeypatch, ALLOW_ALL)
    before = account.faults.actions(mutating=True)
    go, lines = doctor()
    assert go
    assert lines == [
        "ok    credentials: arn:aws:iam::123456789012:user/ada in the confirmed account 123456789012",
        f"ok    region: eu-west-1; the lessons' AMI is {lines[1].rsplit(' ', 1)[-1]}",
        f"ok    permissions: all {len(preflight.LESSON_ACTIONS)} actions the lessons use are allowed "
        "for arn:aws:iam::123456789012:user/ada (IAM policy simulator)",
        lines[3],  # below
        "ok    instance type: t3.micro is offered in eu-west-1 (about US$0.01 an hour in us-east-1)",
        "ok    Default Host Management: off in eu-west-1: the instance registers only once its own "
        "role allows it, as in the blog",
        "GO: the lessons can run here. Start with `ssmlab.start(backend=\"aws\")`; clean up with `ssmlab cleanup`.",
    ]
    assert lines[3].startswith("ok    network: default VPC vpc-") and "route 0.0.0.0/0 to an internet gateway" in lines[3]
    assert lines[1].split()[-1].startswith("ami-")
    assert account.faults.actions(mutating=True) == before  # it only reads


def test_missing_permissions_are_named(account, monkeypatch):
    as_user(account, monkeypatch, {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:*", "ec2:*", "ssm:*", "cloudformation:*", "sts:*"], "Resource": "*"},
        {"Effect": "Deny", "Action": ["iam:PassRole", "EC2:RunInstances"], "Resource": "*"},
    ]})
    go, lines = doctor()
    assert not go
    assert ("FAIL  permissions: 2 of %d actions the lessons use are not allowed for "
            "arn:aws:iam::123456789012:user/ada: iam:PassRole, ec2:RunInstances; ask your administrator "
            "to allow them in this sandbox account" % len(preflight.LESSON_ACTIONS)) in lines
    assert lines[-1] == "NO-GO: fix the FAIL line(s) above, then run `ssmlab doctor --aws` again."


def test_a_caller_the_simulator_does_not_know_is_a_warning(account):
    go, lines = doctor()  # moto's default caller, arn:aws:sts::...:user/moto, is no IAM ARN
    assert go
    assert any(line.startswith("WARN  permissions: could not ask IAM's policy simulator (InvalidInput)")
               for line in lines)
    assert lines[-1].startswith("GO: the lessons can run here (read the warnings above).")


def test_dhmc_on_is_a_warning_with_the_reason(account, monkeypatch):
    as_user(account, monkeypatch, ALLOW_ALL)
    account.admin("ssm").update_service_setting(
        SettingId=preflight.DHMC_SETTING,
        SettingValue="service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole")
    go, lines = doctor()
    assert go
    warning = next(line for line in lines if line.startswith("WARN  Default Host Management"))
    assert "on in eu-west-1" in warning and "may register before lesson 06's policy step" in warning


@pytest.mark.parametrize("breakage", ["route", "public-ip"])
def test_a_default_vpc_without_a_way_out_is_no_go(account, monkeypatch, breakage):
    as_user(account, monkeypatch, ALLOW_ALL)
    ec2 = account.admin("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    if breakage == "route":
        for table in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]:
            ec2.delete_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0")
    else:
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
            ec2.modify_subnet_attribute(SubnetId=subnet["SubnetId"], MapPublicIpOnLaunch={"Value": False})
    go, lines = doctor()
    assert not go
    assert any(line.startswith(f"FAIL  network: no default subnet of the default VPC {vpc} both gives")
               for line in lines)


def test_the_command_line_exit_status(account, monkeypatch, capsys):
    as_user(account, monkeypatch, ALLOW_ALL)
    assert cli.main(["doctor", "--aws"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("GO: ")
    monkeypatch.delenv("SSMLAB_AWS_ACCOUNT")
    assert cli.main(["doctor", "--aws"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("FAIL  credentials: A real account is used only when you confirm it")
    assert out[-1].startswith("NO-GO")


# ------------------------------------------------------------------ bad input


def one_sentence(message: str) -> bool:
    return "\n" not in message and message.endswith(".") and ": " in message


def refused(account, **start) -> str:
    with pytest.raises(LabError) as raised:
        ssmlab.start("aws", quiet=True, **start)
    assert account.faults.actions(mutating=True) == []  # nothing created half-way
    assert ssmlab.current() is None
    assert one_sentence(str(raised.value)), str(raised.value)
    return str(raised.value)


def test_missing_credentials(account, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert refused(account, lesson=3).startswith("No AWS credentials were found: configure them")


def test_expired_credentials(account):
    account.faults.fail("sts", "GetCallerIdentity", code="ExpiredToken",
                        message="The security token included in the request is expired")
    assert refused(account, lesson=3) == (
        "AWS refused the credentials (ExpiredToken): they may be expired or wrong; refresh them "
        "(for example aws sso login) and start again.")


def test_the_wrong_account(account, monkeypatch):
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "210987654321")
    assert "but SSMLAB_AWS_ACCOUNT confirms ********4321" in refused(account, lesson=3)  # masked


def test_a_region_without_the_ami_parameter(account, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "ap-southeast-7")
    assert refused(account, lesson=3) == (
        f"Region ap-southeast-7 has no public parameter {preflight.AMI_PARAMETER} (the lessons' "
        f"Amazon Linux 2023 AMI): choose a Region that has it, for example AWS_REGION=us-east-1, "
        f"and start again.")
    go, lines = doctor()
    assert not go and lines[0].startswith("FAIL  credentials: Region ap-southeast-7 has no public parameter")


def test_a_name_over_iams_limit_after_prefixing(account, monkeypatch):
    monkeypatch.setenv("SSMLAB_PREFIX", "ssmlab-" + "x" * 45 + "-")
    message = refused(account, lesson=3)
    assert "over IAM's limit of 64 for a role name: set a shorter SSMLAB_PREFIX" in message


# ------------------------------------------------------------ masked displays


def test_real_mode_displays_mask_the_account(monkeypatch):
    lab = Lab(backend="aws", region="eu-west-1", account_id="210987654321", session=None, env={},
              caller_arn="arn:aws:iam::210987654321:user/ada")
    monkeypatch.delenv("SSMLAB_SHOW_ACCOUNT", raising=False)
    assert str(lab) == "ssmlab REAL AWS account: account ********4321, region eu-west-1"
    monkeypatch.setenv("SSMLAB_SHOW_ACCOUNT", "1")
    assert str(lab) == "ssmlab REAL AWS account: account 210987654321, region eu-west-1"
