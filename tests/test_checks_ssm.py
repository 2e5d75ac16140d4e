"""The Systems Manager lessons' checkers: each verdict and the hint for each typical mistake."""

from __future__ import annotations

import json

import pytest

from ssmlab.checks_ssm import (
    check_denied_call,
    check_imds_commands,
    check_minimal_trust_policy,
    check_registration_policy,
)

ROLE, INSTANCE = "role-for-ec2", "i-0123456789abcdef0"
SESSION = f"arn:aws:sts::123456789012:assumed-role/{ROLE}/{INSTANCE}"


def denied(principal=SESSION, action="ssm:UpdateInstanceInformation", fix="permissions policy"):
    return check_denied_call(principal, action, fix, role=ROLE, instance_id=INSTANCE)


# ----------------------------------------------------------------- check_denied_call


def test_denied_call_right_answer():
    verdict = denied()
    assert verdict.ok and "assumed-role/role-for-ec2" in verdict.message


def test_denied_call_action_case_does_not_matter():
    assert denied(action="SSM:updateinstanceinformation").ok


@pytest.mark.parametrize(
    "principal, hint",
    [
        (..., "replace ..."),
        ("ssm.amazonaws.com", "is a service"),
        ("ec2.amazonaws.com", "is a service"),
        (f"arn:aws:iam::123456789012:role/{ROLE}", "the role itself"),
        (f"arn:aws:sts::123456789012:assumed-role/{ROLE}/other", f"ends with assumed-role/{ROLE}/{INSTANCE}"),
    ],
)
def test_denied_call_wrong_principal(principal, hint):
    verdict = denied(principal=principal)
    assert not verdict.ok and hint in verdict.message


@pytest.mark.parametrize(
    "action, hint",
    [("...", "replace ..."), ("sts:AssumeRole", "AssumeRole was not refused"), ("ssm:SendCommand", "is not the action")],
)
def test_denied_call_wrong_action(action, hint):
    verdict = denied(action=action)
    assert not verdict.ok and hint in verdict.message


@pytest.mark.parametrize(
    "fix, hint",
    [(..., "replace ..."), ("trust policy", "already works"), ("the role", '"permissions policy"')],
)
def test_denied_call_wrong_fix(fix, hint):
    verdict = denied(fix=fix)
    assert not verdict.ok and hint in verdict.message


# --------------------------------------------------------------- check_imds_commands

TOKEN = 'TOKEN=$(curl -s -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 21600")'
ROLE_CALL = 'curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/iam/security-credentials/'


def test_imds_v2_script_is_right():
    assert check_imds_commands([TOKEN, ROLE_CALL]).ok
    assert check_imds_commands(f"{TOKEN}\n{ROLE_CALL}").ok


@pytest.mark.parametrize(
    "commands, hint",
    [
        (..., "replace ..."),
        (["hostname"], "curl"),
        (["curl -s http://169.254.169.254/latest/meta-data/iam/security-credentials/"], "401 Unauthorized"),
        ([TOKEN, "curl -s http://169.254.169.254/latest/meta-data/iam/info"], "iam/info"),
        ([TOKEN.replace("-X PUT ", ""), ROLE_CALL], "PUT"),
        ([TOKEN.replace(' -H "X-aws-ec2-metadata-token-ttl-seconds: 21600"', ""), ROLE_CALL], "ttl-seconds"),
        ([TOKEN, ROLE_CALL.replace('-H "X-aws-ec2-metadata-token: $TOKEN" ', "")], "send the token"),
        ([ROLE_CALL, TOKEN], "before you use it"),
        ([ROLE_CALL.replace("http://", "https://")], "plain http"),
    ],
)
def test_imds_commands_mistakes(commands, hint):
    verdict = check_imds_commands(commands)
    assert not verdict.ok and hint in verdict.message, verdict.message


# -------------------------------------------------------- check_minimal_trust_policy


def trust(*services):
    principal = services[0] if len(services) == 1 else list(services)
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}],
    }


def test_minimal_trust_policy():
    assert check_minimal_trust_policy(trust("ec2.amazonaws.com")).ok
    assert check_minimal_trust_policy(json.dumps(trust("ec2.amazonaws.com"))).ok


def test_minimal_trust_policy_rejects_the_blogs_extra_service():
    verdict = check_minimal_trust_policy(trust("ec2.amazonaws.com", "ssm.amazonaws.com"))
    assert not verdict.ok and "remove ssm.amazonaws.com" in verdict.message


def test_minimal_trust_policy_ssm_only_is_the_wrong_service():
    verdict = check_minimal_trust_policy(trust("ssm.amazonaws.com"))
    assert not verdict.ok and "trust ec2.amazonaws.com" in verdict.message


# --------------------------------------------------------- check_registration_policy


def permissions(*actions, effect="Allow", **extra):
    return {"Version": "2012-10-17", "Statement": [{"Effect": effect, "Action": list(actions), "Resource": "*", **extra}]}


CHANNEL = ("ssmmessages:CreateControlChannel", "ssmmessages:OpenControlChannel")


def test_registration_policy_right():
    assert check_registration_policy(permissions("ssm:UpdateInstanceInformation", *CHANNEL)).ok
    assert check_registration_policy(permissions("ssm:UpdateInstanceInformation"), run_command=False).ok
    legacy = ("ec2messages:GetMessages", "ec2messages:AcknowledgeMessage", "ec2messages:SendReply")
    assert check_registration_policy(permissions("ssm:UpdateInstanceInformation", *legacy)).ok
    assert check_registration_policy(permissions("ssm:updateinstanceinformation", "ssmmessages:*Channel")).ok


@pytest.mark.parametrize(
    "document, hint",
    [
        (..., "empty"),
        ("{", "not valid JSON"),
        (permissions("ssm:*"), "whole service"),
        (permissions("*"), "whole service"),
        (permissions("ssm:UpdateInstanceInformation", *CHANNEL, Principal={"Service": "ec2.amazonaws.com"}), "no Principal"),
        (permissions("ssm:GetParameter", *CHANNEL), "allow ssm:UpdateInstanceInformation"),
        (permissions("ssm:UpdateInstanceInformation"), "Run Command cannot reach it"),
        ({"Statement": permissions("ssm:UpdateInstanceInformation")["Statement"]}, '"Version"'),
        ({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation"}]}, "Resource"),
    ],
)
def test_registration_policy_mistakes(document, hint):
    verdict = check_registration_policy(document)
    assert not verdict.ok and hint in verdict.message, verdict.message


def test_registration_policy_deny_wins():
    document = permissions("ssm:UpdateInstanceInformation", *CHANNEL)
    document["Statement"].append({"Effect": "Deny", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"})
    verdict = check_registration_policy(document)
    assert not verdict.ok and "allow ssm:UpdateInstanceInformation" in verdict.message


# ------------------------------------------------------------ check_role_and_session

from ssmlab.checks_ssm import check_role_and_session  # noqa: E402

ROLE_ARN = f"arn:aws:iam::123456789012:role/{ROLE}"


def role_and_session(role_arn=ROLE_ARN, session_arn=SESSION):
    return check_role_and_session(role_arn, session_arn, role=ROLE, instance_id=INSTANCE, account_id="123456789012")


def test_role_and_session_right_answer():
    verdict = role_and_session()
    assert verdict.ok and "session" in verdict.message and ROLE in verdict.message


@pytest.mark.parametrize(
    "role_arn, session_arn, hint",
    [
        (..., SESSION, "fill in both"),
        (SESSION, ROLE_ARN, "swapped"),
        (SESSION, SESSION, "different things"),
        (SESSION, f"arn:aws:sts::123456789012:assumed-role/{ROLE}/other", "ROLE_ARN is a session"),
        ("arn:aws:iam::123456789012:instance-profile/for-ec2", SESSION, "instance profile"),
        (ROLE_ARN, ROLE_ARN.replace(ROLE, "role-for-ssm"), "names the role, not a session"),
        (ROLE_ARN, f"arn:aws:sts::123456789012:assumed-role/{ROLE}/lesson01", "after the instance"),
        (ROLE_ARN.replace(ROLE, "role-for-me"), SESSION, "the instance's role is"),
        (ROLE_ARN, SESSION.replace("123456789012", "111122223333"), "names account"),
        (ROLE_ARN, "i-0123456789abcdef0", "assumed-role/<role>/<session>"),
    ],
)
def test_role_and_session_each_mistake_gets_its_hint(role_arn, session_arn, hint):
    verdict = role_and_session(role_arn, session_arn)
    assert not verdict.ok and hint in verdict.message, verdict.message
