"""The real-account backend's guard, naming and tagging, exercised against a local
endpoint through the standard AWS_ENDPOINT_URL: these tests never contact AWS."""

from __future__ import annotations

import json

import pytest

import ssmlab
from ssmlab import LabError
from ssmlab.naming import default_prefix, lab_name
from ssmlab.offline import OfflineEndpoint

TRUST_EC2 = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


@pytest.fixture
def account(tmp_path, monkeypatch):
    """A stand-in for a real account: a moto endpoint the standard chain is pointed at."""
    ssmlab.stop()
    endpoint = OfflineEndpoint()
    endpoint.reset()
    (tmp_path / "config").write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("SSMLAB_USER", "Ada Lovelace")
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "SSMLAB_PREFIX"):
        monkeypatch.delenv(variable, raising=False)
    yield endpoint
    ssmlab.stop()
    endpoint.stop()


def test_refuses_without_confirmation(account, monkeypatch):
    monkeypatch.delenv("SSMLAB_AWS_ACCOUNT", raising=False)
    with pytest.raises(LabError, match=r"^A real account is used only when you confirm it: set SSMLAB_AWS_ACCOUNT"):
        ssmlab.start("aws")
    assert ssmlab.current() is None


def test_refuses_a_mismatched_account(account, monkeypatch):
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "210987654321")
    # A LabError masks a real account's id (ssmlab/privacy.py) unless SSMLAB_SHOW_ACCOUNT=1.
    with pytest.raises(LabError, match=r"belong to account 123456789012, but SSMLAB_AWS_ACCOUNT confirms \*{8}4321"):
        ssmlab.start("aws")
    monkeypatch.setenv("SSMLAB_SHOW_ACCOUNT", "1")
    with pytest.raises(LabError, match=r"belong to account 123456789012, but SSMLAB_AWS_ACCOUNT confirms 210987654321"):
        ssmlab.start("aws")


def test_refuses_without_credentials(account, monkeypatch):
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "123456789012")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(LabError, match=r"^No AWS credentials were found"):
        ssmlab.start("aws")


def test_backend_from_the_environment_variable(account, monkeypatch):
    monkeypatch.setenv("SSMLAB_BACKEND", "aws")
    monkeypatch.delenv("SSMLAB_AWS_ACCOUNT", raising=False)
    with pytest.raises(LabError, match="SSMLAB_AWS_ACCOUNT"):
        ssmlab.start()


def test_confirmed_account_prints_identity_prefixes_and_tags(account, monkeypatch, capsys):
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "123456789012")
    lab = ssmlab.start("aws")
    out = capsys.readouterr().out
    assert "REAL AWS account: account 123456789012, region eu-west-1" in out
    assert "Caller: arn:aws:sts::123456789012:user/moto" in out
    assert lab.endpoint is None and not lab.offline
    assert lab.name("role-for-ec2") == "ssmlab-ada-lovelace-role-for-ec2"

    iam = lab.client("iam")
    iam.create_role(RoleName=lab.name("role-for-ec2"), AssumeRolePolicyDocument=TRUST_EC2)
    iam.create_instance_profile(InstanceProfileName=lab.name("for-ec2"))
    role_tags = iam.list_role_tags(RoleName=lab.name("role-for-ec2"))["Tags"]
    assert {"Key": "ssmlab:lab", "Value": "ssmlab-ada-lovelace"} in role_tags
    profile = iam.get_instance_profile(InstanceProfileName=lab.name("for-ec2"))["InstanceProfile"]
    assert {"Key": "ssmlab:lab", "Value": "ssmlab-ada-lovelace"} in profile["Tags"]


def test_run_instances_through_the_lab_is_tagged(account, monkeypatch):
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "123456789012")
    lab = ssmlab.start("aws", quiet=True)
    ec2 = lab.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
    assert {"Key": "ssmlab:lab", "Value": "ssmlab-ada-lovelace"} in instance["Tags"]


def test_prefix_can_be_chosen(account, monkeypatch):
    monkeypatch.setenv("SSMLAB_AWS_ACCOUNT", "123456789012")
    monkeypatch.setenv("SSMLAB_PREFIX", "team7-")
    assert ssmlab.start("aws", quiet=True).name("for-ec2") == "team7-for-ec2"


def test_names_over_iams_limit_after_prefixing_are_refused():
    with pytest.raises(LabError, match=r"over IAM's limit of 64 .* set a shorter SSMLAB_PREFIX"):
        lab_name("role-for-ec2", "ssmlab-" + "x" * 60 + "-")


def test_default_prefix_is_safe_for_every_name():
    assert default_prefix("Jöhn.O'Brien") == "ssmlab-j-hn-o-brien-"
    assert default_prefix("!!!") == "ssmlab-user-"
