"""The template lesson 03 launches: lint-clean, good practice, and working on the offline lab."""

from __future__ import annotations

import json

import cfnlint.api
import pytest

from ssmlab import templates
from ssmlab.checks import check_instance_template, _load_template

BODY = templates.EC2_INSTANCE_PROFILE.read_text()
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
)


def test_cfn_lint_finds_no_error_or_warning_in_several_regions():
    matches = cfnlint.api.lint(BODY, regions=["us-east-1", "eu-west-1", "ap-northeast-1"])
    assert [str(m) for m in matches] == []


def test_only_informational_findings_with_every_rule():
    # lint_all also runs the opt-in informational rules (I...); none may be an error or warning.
    assert [str(m) for m in cfnlint.api.lint_all(BODY) if m.rule.id[0] in "EW"] == []


def test_good_practice_is_in_the_template():
    doc = _load_template(BODY)
    params, resources = doc["Parameters"], doc["Resources"]
    assert params["LatestAmiId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>"
    assert params["LatestAmiId"]["Default"] == AMI_PARAMETER
    assert params["InstanceType"]["Default"] == "t3.micro"
    instance = resources["Instance"]["Properties"]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    assert instance["IamInstanceProfile"] == {"Ref": "InstanceProfileName"}
    assert "KeyName" not in instance
    groups = [r for r in resources.values() if r["Type"] == "AWS::EC2::SecurityGroup"]
    assert groups and all("SecurityGroupIngress" not in g["Properties"] for g in groups)
    assert {"Key": "ssmlab:lab", "Value": {"Ref": "LabTag"}} in instance["Tags"]
    assert instance["PropagateTagsToVolumeOnCreation"] is True
    assert doc["Outputs"]["InstanceId"]["Value"] == {"Ref": "Instance"}
    assert check_instance_template(BODY).ok


@pytest.fixture
def profile(lab):
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=TRUST)
    iam.create_instance_profile(InstanceProfileName="for-ec2")
    iam.add_role_to_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    return "for-ec2"


def test_the_stack_launches_an_instance_with_the_profile(lab, profile):
    cfn, ec2, ssm = lab.client("cloudformation"), lab.client("ec2"), lab.client("ssm")
    cfn.create_stack(
        StackName="ssmlab-ec2",
        TemplateBody=BODY,
        Parameters=[
            {"ParameterKey": "InstanceProfileName", "ParameterValue": profile},
            {"ParameterKey": "LabTag", "ParameterValue": "test"},
        ],
    )
    cfn.get_waiter("stack_create_complete").wait(StackName="ssmlab-ec2", WaiterConfig={"Delay": 1})
    stack = cfn.describe_stacks(StackName="ssmlab-ec2")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    instance_id = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["InstanceId"]

    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    assert instance["IamInstanceProfile"]["Arn"] == f"arn:aws:iam::{lab.account_id}:instance-profile/{profile}"
    assert instance["InstanceType"] == "t3.micro"
    assert "KeyName" not in instance
    assert {"Key": "ssmlab:lab", "Value": "test"} in instance["Tags"]
    # The AMI is the one the public SSM parameter names.
    latest = ssm.get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    assert instance["ImageId"] == latest

    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )["IamInstanceProfileAssociations"]
    assert [(a["State"], a["IamInstanceProfile"]["Arn"]) for a in associations] == [
        ("associated", f"arn:aws:iam::{lab.account_id}:instance-profile/{profile}")
    ]


def test_the_profile_name_is_required(lab):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as caught:
        lab.client("cloudformation").create_stack(StackName="ssmlab-ec2", TemplateBody=BODY)
    assert caught.value.response["Error"]["Code"] == "ValidationError"
    assert "InstanceProfileName" in caught.value.response["Error"]["Message"]
