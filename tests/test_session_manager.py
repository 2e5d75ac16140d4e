"""Session Manager's API from the lab's state: StartSession, TerminateSession,
DescribeSessions (docs/aws-facts.md#session-manager), through boto3; the CLI's behaviour
without the plugin is in test_off_script.py."""

from __future__ import annotations

import re

import pytest
from botocore.exceptions import ClientError

from ssmlab.simulation import ssm_api
from test_agent import CORE, launch, make_profile

LEARNER = "arn:aws:iam::123456789012:user/learner"


def test_a_session_to_a_managed_instance_is_recorded_and_terminated(lab):
    instance = launch(lab, make_profile(lab))
    ssm = lab.client("ssm")
    started = ssm.start_session(Target=instance, Reason="look around")
    # "John-07a16060613c408b5": the caller's name, a dash, 17 hex digits (CLI example).
    assert re.fullmatch(r"learner-0[0-9a-f]{16}", started["SessionId"])
    assert started["StreamUrl"] == (
        f"wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/{started['SessionId']}?stream=input"
    )
    assert started["TokenValue"]
    [active] = ssm.describe_sessions(State="Active")["Sessions"]
    assert (active["SessionId"], active["Target"], active["Status"], active["Owner"], active["Reason"]) == (
        started["SessionId"], instance, "Connected", LEARNER, "look around")
    assert "EndDate" not in active
    assert ssm.describe_sessions(State="History")["Sessions"] == []
    assert ssm.terminate_session(SessionId=started["SessionId"])["SessionId"] == started["SessionId"]
    assert ssm.describe_sessions(State="Active")["Sessions"] == []
    [ended] = ssm.describe_sessions(State="History")["Sessions"]
    assert ended["Status"] == "Terminated" and ended["EndDate"] >= ended["StartDate"]


def test_an_instance_that_is_not_managed_is_target_not_connected(lab):
    instance = launch(lab, make_profile(lab, policies=()))  # no AmazonSSMManagedInstanceCore
    ssm = lab.client("ssm")
    with pytest.raises(ClientError) as caught:
        ssm.start_session(Target=instance)
    assert caught.value.response["Error"]["Code"] == "TargetNotConnected"
    assert caught.value.response["Error"]["Message"] == f"{instance} is not connected."
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert ssm.describe_sessions(State="Active")["Sessions"] == []
    # The fix makes it connectable, as on AWS.
    lab.client("iam").attach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)
    lab.client("ec2").reboot_instances(InstanceIds=[instance])  # the refused agent backs off; a reboot retries
    lab.wait(seconds=10)
    assert ssm.start_session(Target=instance)["SessionId"].startswith("learner-")


def test_filters_and_an_assumed_role_owner(lab):
    instance = launch(lab, make_profile(lab))
    first = ssm_api.start_session(lab.account_id, lab.region, instance, LEARNER)
    lab.wait(seconds=1)  # the second starts later on the lab clock
    other = "arn:aws:sts::123456789012:assumed-role/Administrator/Mary-Major"
    second = ssm_api.start_session(lab.account_id, lab.region, instance, other, document_name="AWS-StartSSHSession")
    assert second["SessionId"].startswith("Mary-Major-0")
    ssm = lab.client("ssm")
    mine = ssm.describe_sessions(State="Active", Filters=[{"key": "Owner", "value": LEARNER}])["Sessions"]
    assert [s["SessionId"] for s in mine] == [first["SessionId"]]
    by_id = ssm.describe_sessions(State="Active", Filters=[{"key": "SessionId", "value": second["SessionId"]}])
    assert by_id["Sessions"][0]["DocumentName"] == "AWS-StartSSHSession"
    everything = ssm.describe_sessions(State="Active")["Sessions"]
    assert [s["SessionId"] for s in everything] == [second["SessionId"], first["SessionId"]]  # newest first
    ssm_api.terminate_session(lab.account_id, lab.region, first["SessionId"])
    assert [s["SessionId"] for s in ssm.describe_sessions(State="Active")["Sessions"]] == [second["SessionId"]]


def test_an_unknown_session_document_is_invalid_document(lab):
    instance = launch(lab, make_profile(lab))
    with pytest.raises(ClientError) as caught:
        lab.client("ssm").start_session(Target=instance, DocumentName="AWS-RunShellScript")
    assert caught.value.response["Error"]["Code"] == "InvalidDocument"
