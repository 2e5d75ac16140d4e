"""Systems Manager APIs on the lab endpoint, through boto3 and through the real aws CLI.

The blog's sequence (docs/aws-facts.md#journey) and its counter-experiments (#core-2), Run
Command against the simulated instance, and the error shapes AWS returns.
"""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from ssmlab.simulation import agent
from test_agent import CORE, DHMC_SETTING, ami, enable_dhmc, launch, make_profile, managed_ids, trust


def run_shell(lab, instance, *commands):
    ssm = lab.client("ssm")
    command = ssm.send_command(
        InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": list(commands)}
    )["Command"]
    return ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=instance)


# --- the blog, through the aws CLI ------------------------------------------------------


def test_blog_sequence_through_the_aws_cli(lab, aws, tmp_path):
    policy = tmp_path / "assume-role-policy.json"
    policy.write_text(trust("ec2.amazonaws.com"))
    aws("iam", "create-role", "--role-name", "role-for-ec2", "--assume-role-policy-document", f"file://{policy}", check=True)
    aws("iam", "create-instance-profile", "--instance-profile-name", "for-ec2", check=True)
    aws("iam", "add-role-to-instance-profile", "--instance-profile-name", "for-ec2", "--role-name", "role-for-ec2", check=True)
    launched = aws(
        "ec2", "run-instances", "--image-id", ami(lab), "--instance-type", "t3.micro",
        "--iam-instance-profile", "Name=for-ec2", check=True,
    )
    instance = json.loads(launched.stdout)["Instances"][0]["InstanceId"]

    # Step 5: a second role in the same instance profile (docs/aws-facts.md#core-1).
    aws("iam", "create-role", "--role-name", "role-for-ssm", "--assume-role-policy-document", f"file://{policy}", check=True)
    second = aws("iam", "add-role-to-instance-profile", "--instance-profile-name", "for-ec2", "--role-name", "role-for-ssm")
    assert second.returncode != 0 and "LimitExceeded" in second.stderr

    # Step 6: trust both services — still not managed (step 7).
    policy.write_text(trust("ec2.amazonaws.com", "ssm.amazonaws.com"))
    aws("iam", "update-assume-role-policy", "--role-name", "role-for-ec2", "--policy-document", f"file://{policy}", check=True)
    listing = aws("ssm", "describe-instance-information", check=True)
    assert json.loads(listing.stdout)["InstanceInformationList"] == []

    # Step 8: the managed policy — Online.
    aws("iam", "attach-role-policy", "--role-name", "role-for-ec2", "--policy-arn", CORE, check=True)
    # The agent backed off after its refusal at boot: a reboot makes it retry at once.
    aws("ec2", "reboot-instances", "--instance-ids", instance, check=True)
    lab.wait(seconds=agent.BOOT_SECONDS)
    listing = json.loads(aws("ssm", "describe-instance-information", check=True).stdout)["InstanceInformationList"]
    assert [(i["InstanceId"], i["PingStatus"]) for i in listing] == [(instance, "Online")]

    # Run Command shows whose credentials the instance has.
    sent = aws(
        "ssm", "send-command", "--instance-ids", instance, "--document-name", "AWS-RunShellScript",
        "--parameters", "commands=aws sts get-caller-identity", check=True,
    )
    command_id = json.loads(sent.stdout)["Command"]["CommandId"]
    invocation = json.loads(
        aws("ssm", "get-command-invocation", "--command-id", command_id, "--instance-id", instance, check=True).stdout
    )
    assert invocation["Status"] == "Success"
    identity = json.loads(invocation["StandardOutputContent"])
    assert identity["Arn"] == f"arn:aws:sts::{lab.account_id}:assumed-role/role-for-ec2/{instance}"


@pytest.mark.parametrize(
    "services, extra_deny, online",
    [
        (("ec2.amazonaws.com",), False, True),  # trust EC2 only + the policy: registers
        (("ssm.amazonaws.com",), False, False),  # trust SSM only + the policy: does not
        (("ec2.amazonaws.com",), True, False),  # the policy + an explicit Deny: does not
    ],
)
def test_counter_experiments(lab, services, extra_deny, online):
    profile = make_profile(lab, services=services)
    if extra_deny:
        deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}]}
        lab.client("iam").put_role_policy(RoleName="role-for-ec2", PolicyName="deny", PolicyDocument=json.dumps(deny))
    instance = launch(lab, profile)
    assert managed_ids(lab) == ([instance] if online else [])


# --- DescribeInstanceInformation -------------------------------------------------------


def test_describe_instance_information_fields_and_filters(lab):
    ssm = lab.client("ssm")
    make_profile(lab)
    first, second = launch(lab), launch(lab)
    item = ssm.describe_instance_information(
        InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [first]}]
    )["InstanceInformationList"]
    assert [i["InstanceId"] for i in item] == [first]
    info = item[0]
    private_ip = lab.client("ec2").describe_instances(InstanceIds=[first])["Reservations"][0]["Instances"][0]["PrivateIpAddress"]
    assert info["IPAddress"] == private_ip
    assert info["ComputerName"] == f"ip-{private_ip.replace('.', '-')}.ec2.internal"
    assert (info["ResourceType"], info["SourceType"], info["SourceId"]) == ("EC2Instance", "AWS::EC2::Instance", first)
    assert info["PlatformName"] == "Amazon Linux" and info["PlatformVersion"] == "2023"
    assert "LastPingDateTime" in info and info["AgentVersion"]
    both = ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["Online"]}])
    assert sorted(i["InstanceId"] for i in both["InstanceInformationList"]) == sorted([first, second])
    none = ssm.describe_instance_information(Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}])
    assert none["InstanceInformationList"] == []
    page = ssm.describe_instance_information(MaxResults=5)
    assert len(page["InstanceInformationList"]) == 2


def test_tag_filter(lab):
    make_profile(lab)
    tagged = launch(lab, TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "web"}]}])
    launch(lab)
    listing = lab.client("ssm").describe_instance_information(Filters=[{"Key": "tag:Name", "Values": ["web"]}])
    assert [i["InstanceId"] for i in listing["InstanceInformationList"]] == [tagged]


# --- GetConnectionStatus ---------------------------------------------------------------


def test_get_connection_status_follows_the_agent(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    ssm = lab.client("ssm")
    assert ssm.get_connection_status(Target=instance)["Status"] == "notconnected"
    lab.client("iam").attach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=agent.BOOT_SECONDS)
    assert ssm.get_connection_status(Target=instance)["Status"] == "connected"


# --- SendCommand and its results ------------------------------------------------------


def test_send_command_to_an_unmanaged_instance_is_invalid_instance_id(lab, aws):
    instance = launch(lab, make_profile(lab, policies=()))
    with pytest.raises(ClientError) as error:
        lab.client("ssm").send_command(
            InstanceIds=[instance], DocumentName="AWS-RunShellScript", Parameters={"commands": ["hostname"]}
        )
    assert error.value.response["Error"]["Code"] == "InvalidInstanceId"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    cli = aws("ssm", "send-command", "--instance-ids", instance, "--document-name", "AWS-RunShellScript",
              "--parameters", "commands=hostname")
    assert cli.returncode != 0
    assert "(InvalidInstanceId) when calling the SendCommand operation" in cli.stderr


def test_send_command_with_an_unknown_document_is_invalid_document(lab):
    instance = launch(lab, make_profile(lab))
    with pytest.raises(ClientError) as error:
        lab.client("ssm").send_command(InstanceIds=[instance], DocumentName="AWS-RunShelScript")
    assert error.value.response["Error"]["Code"] == "InvalidDocument"


def test_send_command_targets_only_the_named_instance(lab):
    make_profile(lab)
    first, second = launch(lab), launch(lab)
    ssm = lab.client("ssm")
    command = ssm.send_command(InstanceIds=[first], DocumentName="AWS-RunShellScript", Parameters={"commands": ["hostname"]})["Command"]
    assert command["InstanceIds"] == [first]
    invocations = ssm.list_command_invocations(CommandId=command["CommandId"])["CommandInvocations"]
    assert [i["InstanceId"] for i in invocations] == [first]
    with pytest.raises(ClientError) as error:
        ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=second)
    assert error.value.response["Error"]["Code"] == "InvocationDoesNotExist"


def test_send_command_by_tag_targets_only_managed_matches(lab):
    make_profile(lab)
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": "web"}]}]
    managed = launch(lab, TagSpecifications=tags)
    launch(lab, profile=None, TagSpecifications=tags)  # matches the tag, but is not managed
    launch(lab)  # managed, but does not match
    command = lab.client("ssm").send_command(
        Targets=[{"Key": "tag:Role", "Values": ["web"]}], DocumentName="AWS-RunShellScript",
        Parameters={"commands": ["hostname"]},
    )["Command"]
    assert command["InstanceIds"] == [managed]


def test_shell_answers_from_the_lab_state(lab):
    # IMDSv1 allowed, so the token-less curl below answers (AL2023 requires IMDSv2 by default).
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpTokens": "optional"})
    details = lab.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    result = run_shell(lab, instance, "hostname")
    assert result["StandardOutputContent"].strip() == details["PrivateDnsName"]
    result = run_shell(lab, instance, "curl http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    assert result["StandardOutputContent"] == "role-for-ec2"
    result = run_shell(lab, instance, "cat /etc/os-release")
    assert 'PRETTY_NAME="Amazon Linux 2023"' in result["StandardOutputContent"]
    result = run_shell(lab, instance, "aws sts get-caller-identity")
    role_id = lab.client("iam").get_role(RoleName="role-for-ec2")["Role"]["RoleId"]
    assert json.loads(result["StandardOutputContent"])["UserId"] == f"{role_id}:{instance}"


def test_shell_aws_cli_honours_query_and_output(lab):
    instance = launch(lab, make_profile(lab))
    arn = f"arn:aws:sts::123456789012:assumed-role/role-for-ec2/{instance}"
    result = run_shell(lab, instance, "aws sts get-caller-identity --query Arn --output text")
    assert result["StandardOutputContent"] == f"{arn}\n"
    result = run_shell(lab, instance, "aws sts get-caller-identity --query Arn")
    assert result["StandardOutputContent"] == f'"{arn}"\n'
    role_id = lab.client("iam").get_role(RoleName="role-for-ec2")["Role"]["RoleId"]
    result = run_shell(lab, instance, "aws --region us-east-1 sts get-caller-identity --output=text")
    # The AWS CLI's text output: the values, keys sorted (Account, Arn, UserId).
    assert result["StandardOutputContent"] == f"123456789012\t{arn}\t{role_id}:{instance}\n"
    result = run_shell(lab, instance, "aws sts get-caller-identity --output table")
    # Not simulated: said so, with the shell's distinct exit code (instance_shell.NOT_SIMULATED).
    assert result["ResponseCode"] == 120 and result["Status"] == "Failed"


def test_imdsv2_token_is_needed_when_required(lab):
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpTokens": "required"})
    url = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    without = run_shell(lab, instance, f"curl -s {url}")
    assert "401 - Unauthorized" in without["StandardOutputContent"]
    with_token = run_shell(
        lab, instance,
        'TOKEN=$(curl -s -X PUT "http://169.254.169.254/latest/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")',
        f'curl -s -H "X-aws-ec2-metadata-token: $TOKEN" {url}',
    )
    assert with_token["StandardOutputContent"] == "role-for-ec2"


def test_unsupported_command_fails_honestly(lab):
    instance = launch(lab, make_profile(lab))
    result = run_shell(lab, instance, "nosuchcommand")
    assert result["Status"] == "Failed"
    assert result["ResponseCode"] == 127
    assert "line 1: nosuchcommand: command not found" in result["StandardErrorContent"]


def test_outcome_is_decided_at_send_command_time_and_listed_with_details(lab):
    instance = launch(lab, make_profile(lab))
    ssm = lab.client("ssm")
    command = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                               Parameters={"commands": ["aws sts get-caller-identity", "nosuchcommand"]})["Command"]
    assert command["Status"] == "Pending"
    # A later change does not rewrite the finished invocation.
    lab.client("iam").remove_role_from_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    invocations = ssm.list_command_invocations(CommandId=command["CommandId"], Details=True)["CommandInvocations"]
    plugin = invocations[0]["CommandPlugins"][0]
    assert plugin["Name"] == "aws:runShellScript"
    assert plugin["Status"] == "Failed" and plugin["ResponseCode"] == 127
    assert "assumed-role/role-for-ec2" in plugin["Output"]
    assert "----------ERROR-------" in plugin["Output"]
    assert ssm.list_commands(CommandId=command["CommandId"])["Commands"][0]["Status"] == "Failed"


def test_aws_cli_without_profile_role_under_dhmc_has_no_credentials(lab):
    enable_dhmc(lab)
    instance = launch(lab, profile=None, MetadataOptions={"HttpTokens": "required"})
    result = run_shell(lab, instance, "aws sts get-caller-identity")
    assert result["Status"] == "Failed"
    assert "Unable to locate credentials" in result["StandardErrorContent"]


# --- service settings ------------------------------------------------------------------


def test_dhmc_service_setting_round_trip_through_the_cli(lab, aws):
    arn = f"arn:aws:ssm:{lab.region}:{lab.account_id}:servicesetting{DHMC_SETTING}"
    default = json.loads(aws("ssm", "get-service-setting", "--setting-id", arn, check=True).stdout)
    assert default["ServiceSetting"]["SettingValue"] == "$None"
    assert default["ServiceSetting"]["Status"] == "Default"
    aws("ssm", "update-service-setting", "--setting-id", arn, "--setting-value",
        "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole", check=True)
    updated = json.loads(aws("ssm", "get-service-setting", "--setting-id", arn, check=True).stdout)
    assert updated["ServiceSetting"]["Status"] == "Customized"
    assert updated["ServiceSetting"]["SettingValue"].endswith("AWSSystemsManagerDefaultEC2InstanceManagementRole")
    aws("ssm", "reset-service-setting", "--setting-id", arn, check=True)
    reset = json.loads(aws("ssm", "get-service-setting", "--setting-id", arn, check=True).stdout)
    assert reset["ServiceSetting"]["SettingValue"] == "$None"
