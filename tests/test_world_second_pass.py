"""The world model's second pass, through boto3 and the real ``aws`` CLI
(docs/aws-facts.md#world-model-second-pass)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import botocore.session
import pytest
from botocore.exceptions import ClientError

import ssmlab
from ssmlab.simulation import commands, ssm_more

# The AWS CLI's bundled examples, found without importing awscli into this process (once
# imported it redirects `import botocore` to its own copy: tests/test_aws_cli.py holds that).
AWSCLI_PACKAGE = Path(importlib.util.find_spec("awscli").submodule_search_locations[0])


@pytest.fixture(scope="module")
def world(_offline_lab):
    lab = ssmlab.start(lesson=7, quiet=True)
    [info] = lab.client("ssm").describe_instance_information()["InstanceInformationList"]
    return {"lab": lab, "instance": info["InstanceId"]}


def aws(world, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["aws", *args], env=world["lab"].env, capture_output=True, text=True, timeout=120)


def _status(ssm, command_id, instance_id):
    invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
    [command] = ssm.list_commands(CommandId=command_id)["Commands"]
    return invocation["Status"], invocation["StatusDetails"], command["Status"]


# ------------------------------------------------------------------ CancelCommand


def test_the_status_names_are_botocores():
    model = botocore.session.get_session().get_service_model("ssm")
    assert {"Cancelling", "Cancelled"} <= set(model.shape_for("CommandStatus").enum)
    assert {"Cancelling", "Cancelled"} <= set(model.shape_for("CommandInvocationStatus").enum)


def _invocation(connected=True, duration=600.0, ran=None):
    from datetime import datetime, timezone

    ran = [] if ran is None else ran
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    invocation = commands.Invocation(
        "c", "i-1", "aws:runShellScript", start, 3600, 3600, connected=lambda now: connected,
        run=lambda: ran.append(1) or {"code": 0, "out": "", "err": "", "duration": duration})
    return invocation, start


def test_a_running_invocation_goes_cancelling_then_cancelled_and_the_command_with_it():
    from datetime import timedelta

    invocation, start = _invocation()
    running = start + timedelta(seconds=5)
    assert invocation.view(running)["status"] == "InProgress"
    invocation.cancel(running)
    cancelling = invocation.view(running + timedelta(seconds=1))
    assert (cancelling["status"], cancelling["details"]) == ("Cancelling", "Cancelling")
    assert commands.command_status([cancelling])["status"] == "Cancelling"
    done = invocation.view(running + timedelta(seconds=commands.CANCEL_SECONDS))
    assert (done["status"], done["details"]) == ("Cancelled", "Cancelled")
    assert commands.command_status([done])["status"] == "Cancelled"
    assert "Cancelled" in commands.TERMINAL


def test_cancel_command_through_the_cli_prints_nothing_and_leaves_a_finished_command_alone(world):
    ssm, instance = world["lab"].client("ssm"), world["instance"]
    sent = ssm.send_command(InstanceIds=[instance], DocumentName="AWS-RunShellScript",
                            Parameters={"commands": ["echo hi"]})["Command"]["CommandId"]
    for _ in range(5):
        if _status(ssm, sent, instance)[0] == "Success":
            break
    result = aws(world, "ssm", "cancel-command", "--command-id", sent)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr  # "no output" (CLI example)
    assert _status(ssm, sent, instance) == ("Success", "Success", "Success")


def test_a_pending_invocation_is_cancelled_at_once_and_never_runs():
    ran = []
    invocation, start = _invocation(connected=False, ran=ran)
    invocation.cancel(start)
    later = invocation.view(start.replace(minute=5))
    assert (later["status"], later["details"], ran) == ("Cancelled", "Cancelled", [])


def test_cancel_command_of_an_unknown_command_is_invalid_command_id(world):
    result = aws(world, "ssm", "cancel-command", "--command-id", "11111111-2222-3333-4444-555555555555")
    assert result.returncode == 255 and "(InvalidCommandId)" in result.stderr, result.stderr


def test_replace_iam_instance_profile_association_answers_a_new_association_id(world):
    ec2 = world["lab"].client("ec2")
    [old] = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    profile = old["IamInstanceProfile"]["Arn"].rsplit("/", 1)[-1]
    result = aws(world, "ec2", "replace-iam-instance-profile-association", "--association-id",
                 old["AssociationId"], "--iam-instance-profile", f"Name={profile}")
    assert result.returncode == 0, result.stderr
    new = json.loads(result.stdout)["IamInstanceProfileAssociation"]["AssociationId"]
    assert new != old["AssociationId"] and new.startswith("iip-assoc-") and len(new) == len(old["AssociationId"])
    [now] = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
    assert now["AssociationId"] == new


def test_the_agent_log_fills_ssms_request_ids_and_leaves_imds_empty():
    import random

    from ssmlab.simulation import agent

    filled = agent.with_request_ids("Error: AccessDeniedException: no\n\tstatus code: 400, request id: ", random.Random(1))
    request_id = filled.rsplit("request id: ", 1)[1]
    assert len(request_id) == 36 and request_id.count("-") == 4
    assert agent.with_request_ids(agent._NO_ROLE, random.Random(1)).endswith("status code: 404, request id: ")


# ------------------------------------------------------------ DescribeDocument


def _cli_example(name: str) -> str:
    return (AWSCLI_PACKAGE / "examples" / "ssm" / name).read_text()


def test_get_document_content_is_the_one_the_cli_example_prints(world):
    result = aws(world, "ssm", "get-document", "--name", "AWS-RunShellScript")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    example = _cli_example("get-document.rst")
    printed = json.loads(example[example.index("    {\n"):example.index("    }    ") + 6])
    assert answer == printed


def test_describe_document_answers_aws_run_shell_script_as_aws_owns_it(world):
    result = aws(world, "ssm", "describe-document", "--name", "AWS-RunShellScript")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)["Document"]
    assert (document["Owner"], document["Status"], document["DocumentType"], document["SchemaVersion"]) == (
        "Amazon", "Active", "Command", "1.2")
    assert [p["Name"] for p in document["Parameters"]] == ["commands", "workingDirectory", "executionTimeout"]
    assert "DefaultValue" not in document["Parameters"][0]
    assert document["Parameters"][2]["DefaultValue"] == "3600"
    import hashlib

    assert document["Hash"] == hashlib.sha256(ssm_more.document_content("AWS-RunShellScript").encode()).hexdigest()


def test_describe_document_of_an_unknown_version_is_invalid_document_version(world):
    result = aws(world, "ssm", "describe-document", "--name", "AWS-RunShellScript", "--document-version", "7")
    assert result.returncode == 255
    assert "(InvalidDocumentVersion)" in result.stderr and "Traceback" not in result.stderr


def test_describe_document_of_a_missing_document_is_still_invalid_document(world):
    with pytest.raises(ClientError) as raised:
        world["lab"].client("ssm").describe_document(Name="No-Such-Document")
    assert raised.value.response["Error"]["Code"] == "InvalidDocument"


# --------------------------------------------------------------- replay's undo of 07


def test_undo_07_removes_the_probe_so_lesson_07_can_run_again(lab):
    from ssmlab import replay

    iam, ec2, ssm = lab.client("iam"), lab.client("ec2"), lab.client("ssm")
    role, profile, policy = (lab.name(b) for b in (replay.PROBE_ROLE, replay.PROBE_PROFILE, replay.MINIMAL_POLICY))
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=replay.trust_policy(replay.EC2))
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    arn = iam.create_policy(PolicyName=policy, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    image = ssm.get_parameter(Name=replay.AMI_PARAMETER)["Parameter"]["Value"]
    for name in replay.LESSON_07_INSTANCES:
        ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, IamInstanceProfile={"Name": profile},
                          TagSpecifications=[{"ResourceType": "instance",
                                              "Tags": [{"Key": "Name", "Value": lab.name(name)}]}])

    replay._undo_07(lab, replay.names(lab))

    assert [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"] == role] == []
    assert all(p["InstanceProfileName"] != profile for p in iam.list_instance_profiles()["InstanceProfiles"])
    assert all(p["Arn"] != arn for p in iam.list_policies(Scope="Local")["Policies"])
    states = [i["State"]["Name"] for r in ec2.describe_instances(Filters=[
        {"Name": "tag:Name", "Values": [lab.name(n) for n in replay.LESSON_07_INSTANCES]}])["Reservations"]
        for i in r["Instances"]]
    assert states and set(states) == {"terminated"}
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=replay.trust_policy(replay.EC2))  # no EntityAlreadyExists
