"""SSM and STS answers checked against botocore's model, the CLI's bundled examples and
AWS's own error texts (docs/aws-facts.md#send-command, #describe-instance-information,
#temporary-credentials), through boto3; the same through the aws CLI in test_off_script.py."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from test_agent import launch, make_profile


def code_and_message(call, **kwargs):
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    return caught.value.response["Error"]["Code"], caught.value.response["Error"].get("Message", "")


def test_send_command_prints_awss_empties_not_placeholders(lab):
    instance = launch(lab, make_profile(lab))
    command = lab.client("ssm").send_command(
        InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": ["hostname"]}
    )["Command"]
    assert command["DocumentVersion"] == ""
    assert command["NotificationConfig"] == {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""}
    assert command["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}


def test_send_command_echoes_what_was_asked(lab):
    instance = launch(lab, make_profile(lab))
    command = lab.client("ssm").send_command(
        InstanceIds=[instance], DocumentName="AWS-RunShellScript", DocumentVersion="1",
        Parameters={"commands": ["hostname"]},
        CloudWatchOutputConfig={"CloudWatchLogGroupName": "lab", "CloudWatchOutputEnabled": True},
    )["Command"]
    assert command["DocumentVersion"] == "1"
    assert command["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "lab", "CloudWatchOutputEnabled": True}


@pytest.mark.parametrize("parameters", [{}, {"commands": []}, {"commands": ["hostname"], "colour": ["blue"]}])
def test_send_command_without_commands_is_invalid_parameters(lab, parameters):
    instance = launch(lab, make_profile(lab))
    ssm = lab.client("ssm")
    assert code_and_message(ssm.send_command, InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                            Parameters=parameters) == ("InvalidParameters", "")
    assert ssm.list_commands()["Commands"] == []  # nothing half-created


def test_invocation_does_not_exist_has_no_message(lab):
    instance = launch(lab, make_profile(lab))
    ssm = lab.client("ssm")
    command_id = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                                  Parameters={"commands": ["hostname"]})["Command"]["CommandId"]
    assert code_and_message(ssm.get_command_invocation, CommandId=command_id,
                            InstanceId="i-0123456789abcdef0") == ("InvocationDoesNotExist", "")


@pytest.mark.parametrize("key, values, expected", [
    ("AssociationStatus", ["Success"], []),
    ("ActivationIds", ["0123abcd-0000-0000-0000-000000000000"], []),
    ("SourceTypes", ["AWS::EC2::Instance"], None),
    ("SourceTypes", ["AWS::IoT::Thing"], []),
])
def test_every_documented_filter_key_is_accepted(lab, key, values, expected):
    instance = launch(lab, make_profile(lab))
    listing = lab.client("ssm").describe_instance_information(Filters=[{"Key": key, "Values": values}])
    ids = [i["InstanceId"] for i in listing["InstanceInformationList"]]
    assert ids == ([instance] if expected is None else expected)


def test_source_ids_filter(lab):
    make_profile(lab)
    first, second = launch(lab), launch(lab)
    listing = lab.client("ssm").describe_instance_information(Filters=[{"Key": "SourceIds", "Values": [second]}])
    assert [i["InstanceId"] for i in listing["InstanceInformationList"]] == [second]


def test_filter_rules(lab):
    ssm = lab.client("ssm")
    assert code_and_message(ssm.describe_instance_information,
                            Filters=[{"Key": "ResourceType", "Values": ["EC2Instance", "ManagedInstance"]}]) == (
        "InvalidInstanceInformationFilterValue", "ResourceType filter may contain only one value.")
    code, _ = code_and_message(ssm.describe_instance_information,
                               Filters=[{"Key": "PingStatus", "Values": ["Online"]}],
                               InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["Online"]}])
    assert code == "ValidationException"
    assert code_and_message(ssm.describe_instance_information, Filters=[{"Key": "Colour", "Values": ["x"]}]) == (
        "InvalidFilterKey", "")
    assert ssm.describe_instance_information(Filters=[{"Key": "ResourceType", "Values": ["EC2Instance"]}])


def test_temporary_credentials_start_with_asia(lab):
    sts = lab.client("sts")
    key = sts.get_session_token()["Credentials"]["AccessKeyId"]
    assert key.startswith("ASIA") and len(key) == 20 and key.isalnum() and key.isupper()
    assert sts.get_federation_token(Name="bob")["Credentials"]["AccessKeyId"].startswith("ASIA")
    # The learner's own long-term key stays AKIA.
    assert lab.client("iam").list_access_keys(UserName="learner")["AccessKeyMetadata"][0]["AccessKeyId"].startswith("AKIA")
