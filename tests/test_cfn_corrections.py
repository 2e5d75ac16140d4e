"""CloudFormation as AWS answers it: parameters validated at CreateStack, a failing
resource rolls the stack back with AWS's reason (docs/aws-facts.md#cloudformation)."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from botocore.exceptions import ClientError

from ssmlab.simulation.cfn_corrections import parameter_problem
from test_agent import make_profile

TEMPLATE = resources.files("ssmlab.templates").joinpath("ec2-instance-profile.yaml").read_text()


def instances(lab) -> set[str]:
    reservations = lab.client("ec2").describe_instances()["Reservations"]
    return {i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"}


def test_a_missing_instance_profile_fails_the_instance_and_rolls_back(lab):
    cfn = lab.client("cloudformation")
    stack_id = cfn.create_stack(StackName="s", TemplateBody=TEMPLATE, Parameters=[
        {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec3"}])["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:123456789012:stack/s/")
    [stack] = cfn.describe_stacks(StackName="s")["Stacks"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE" and "Outputs" not in stack
    events = list(reversed(cfn.describe_stack_events(StackName="s")["StackEvents"]))  # oldest first
    story = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    assert story == [
        ("s", "CREATE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "CREATE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "CREATE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "CREATE_COMPLETE"),
        ("Instance", "CREATE_IN_PROGRESS"),
        ("Instance", "CREATE_FAILED"),
        ("s", "ROLLBACK_IN_PROGRESS"),
        ("InstanceSecurityGroup", "DELETE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "DELETE_COMPLETE"),
        ("Instance", "DELETE_COMPLETE"),
        ("s", "ROLLBACK_COMPLETE"),
    ]
    assert events[2]["ResourceStatusReason"] == "Resource creation Initiated"
    assert events[6]["ResourceStatusReason"] == (
        "The following resource(s) failed to create: [Instance]. Rollback requested by user.")
    assert "Invalid IAM Instance Profile name" in events[5]["ResourceStatusReason"]
    assert instances(lab) == set()
    assert cfn.list_stack_resources(StackName="s")["StackResourceSummaries"] == []
    groups = lab.client("ec2").describe_security_groups()["SecurityGroups"]
    assert [g for g in groups if g["GroupName"] != "default"] == []  # the rollback deleted it
    with pytest.raises(ClientError) as again:  # the rolled-back stack keeps its name
        cfn.create_stack(StackName="s", TemplateBody=TEMPLATE, Parameters=[
            {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec3"}])
    assert again.value.response["Error"]["Code"] == "AlreadyExistsException"
    cfn.delete_stack(StackName="s")


def test_a_good_stack_reports_each_resource(lab):
    make_profile(lab)
    cfn = lab.client("cloudformation")
    cfn.create_stack(StackName="good", TemplateBody=TEMPLATE, Parameters=[
        {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec2"}])
    [stack] = cfn.describe_stacks(StackName="good")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    [output] = stack["Outputs"]
    completed = {e["LogicalResourceId"]: e["PhysicalResourceId"]
                 for e in cfn.describe_stack_events(StackName="good")["StackEvents"]
                 if e["ResourceStatus"] == "CREATE_COMPLETE"}
    assert completed["Instance"] == output["OutputValue"] and completed["InstanceSecurityGroup"].startswith("sg-")


@pytest.mark.parametrize("parameters, message", [
    ({"InstanceProfileName": "for-ec2", "InstanceType": "t2.nano"}, "Parameter 'InstanceType' must be one of AllowedValues"),
    ({"InstanceProfileName": "for ec2"}, "Parameter 'InstanceProfileName' must match pattern [\\w+=,.@-]+"),
    ({}, "Parameters: [InstanceProfileName] must have values"),
    ({"InstanceProfileName": "for-ec2", "Colour": "blue"}, "Parameters: [Colour] do not exist in the template"),
])
def test_bad_parameters_are_refused_before_anything_exists(lab, parameters, message):
    cfn = lab.client("cloudformation")
    with pytest.raises(ClientError) as caught:
        cfn.create_stack(StackName="bad", TemplateBody=TEMPLATE, Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    assert caught.value.response["Error"] == {"Type": "Sender", "Code": "ValidationError", "Message": message}
    assert cfn.describe_stacks()["Stacks"] == []
    assert instances(lab) == set()


NUMBERS = {"Parameters": {
    "Count": {"Type": "Number", "MinValue": 1, "MaxValue": 3},
    "Name": {"Type": "String", "MinLength": 2, "MaxLength": 4},
    "Env": {"Type": "String", "AllowedValues": ["dev", "prod"], "ConstraintDescription": "must be dev or prod"},
}}


@pytest.mark.parametrize("given, message", [
    ({"Count": "two", "Name": "ab", "Env": "dev"}, "Parameter 'Count' must be a number."),  # aws/aws-cli#7992
    ({"Count": "9", "Name": "ab", "Env": "dev"}, "Parameter 'Count' must be a number not greater than 3"),
    ({"Count": "2", "Name": "a", "Env": "dev"}, "Parameter 'Name' must contain at least 2 characters"),
    ({"Count": "2", "Name": "abcde", "Env": "dev"}, "Parameter 'Name' must contain at most 4 characters"),
    ({"Count": "2", "Name": "ab", "Env": "test"}, "Parameter 'Env' failed to satisfy constraint: must be dev or prod"),
    ({"Count": "2", "Name": "ab", "Env": "dev"}, None),
])
def test_parameter_types_and_bounds(given, message):
    assert parameter_problem(NUMBERS, given) == message


def test_a_wrong_type_through_create_stack(lab):
    template = {**NUMBERS, "Resources": {"Group": {"Type": "AWS::EC2::SecurityGroup",
                                                   "Properties": {"GroupDescription": "x"}}}}
    with pytest.raises(ClientError) as caught:
        lab.client("cloudformation").create_stack(StackName="n", TemplateBody=json.dumps(template), Parameters=[
            {"ParameterKey": "Count", "ParameterValue": "two"}, {"ParameterKey": "Name", "ParameterValue": "ab"},
            {"ParameterKey": "Env", "ParameterValue": "dev"}])
    assert caught.value.response["Error"]["Message"] == "Parameter 'Count' must be a number."


def test_update_stack_validates_parameters_and_refuses_a_rolled_back_stack(lab):
    make_profile(lab)
    cfn = lab.client("cloudformation")
    profile = {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec2"}
    cfn.create_stack(StackName="good", TemplateBody=TEMPLATE, Parameters=[profile])
    with pytest.raises(ClientError) as caught:
        cfn.update_stack(StackName="good", UsePreviousTemplate=True, Parameters=[
            {"ParameterKey": "InstanceProfileName", "UsePreviousValue": True},
            {"ParameterKey": "InstanceType", "ParameterValue": "m5.24xlarge"}])
    assert caught.value.response["Error"]["Message"] == "Parameter 'InstanceType' must be one of AllowedValues"
    assert cfn.describe_stacks(StackName="good")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    stack_id = cfn.create_stack(StackName="typo", TemplateBody=TEMPLATE, Parameters=[
        {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec3"}])["StackId"]
    with pytest.raises(ClientError) as refused:
        cfn.update_stack(StackName="typo", TemplateBody=TEMPLATE, Parameters=[profile])
    # bitovi/bitops#128, jenseickmeyer/todo-app-nodejs#5: AWS's words.
    assert refused.value.response["Error"]["Message"] == (
        f"Stack:{stack_id} is in ROLLBACK_COMPLETE state and can not be updated.")
