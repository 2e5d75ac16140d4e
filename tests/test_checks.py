"""The exercise checkers: every verdict and the hint a learner sees for each typical mistake."""

from __future__ import annotations

import json

import pytest

from ssmlab.checks import (
    Feedback,
    broken_trust_policy,
    check_identity_arn,
    check_instance_template,
    check_role_swap,
    check_trust_policy,
)
from ssmlab.lab import LEARNER

ME = f"arn:aws:iam::123456789012:user/{LEARNER}"
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def trust(**changes) -> dict:
    doc = json.loads(json.dumps(EC2_TRUST))
    statement = doc["Statement"][0]
    for key, value in changes.items():
        if value is None:
            statement.pop(key, None)
        else:
            statement[key] = value
    return doc


def test_feedback_is_frozen_and_reads_as_a_verdict():
    feedback = Feedback(True, "fine.")
    assert str(feedback) == repr(feedback) == "✓ Correct: fine."
    assert str(Feedback(False, "no.")) == "✗ Not yet: no."
    assert bool(feedback) and not Feedback(False, "")
    with pytest.raises(AttributeError):
        feedback.ok = False  # type: ignore[misc]


# ------------------------------------------------------------------- trust policies


def test_the_blogs_trust_policy_passes_as_text_and_dict():
    assert check_trust_policy(EC2_TRUST).ok
    assert check_trust_policy(json.dumps(EC2_TRUST, indent=2)).ok
    assert check_trust_policy(json.dumps(EC2_TRUST).encode()).ok


def test_trusting_ec2_and_ssm_passes_with_a_note():
    result = check_trust_policy(trust(Principal={"Service": ["ec2.amazonaws.com", "ssm.amazonaws.com"]}))
    assert result.ok and "not needed" in result.message


@pytest.mark.parametrize(
    "document, words",
    [
        ("", "empty"),
        ("{'Version': '2012-10-17'}", "double quotes"),
        ('{"Version": "2012-10-17",}', "comma"),
        ('{"Version": "2012-10-17"', "not valid JSON"),
        ("[]", "one JSON object"),
        (..., "replace ..."),
        ({"Statement": EC2_TRUST["Statement"]}, 'add "Version"'),
        ({**EC2_TRUST, "Version": "2024-04-01"}, "not '2024-04-01'"),
        ({"Version": "2012-10-17"}, 'add a "Statement"'),
        ({**EC2_TRUST, "Principal": {}}, "only Version and Statement"),
        (trust(Resource="*"), "Has prohibited field Resource"),
        (trust(Effect="allow"), "spelled exactly"),
        (trust(Principal=None), 'add "Principal"'),
        (trust(Principal=None, NotPrincipal={"Service": "ec2.amazonaws.com"}), "not NotPrincipal"),
        (trust(Action=None), 'add "Action"'),
        (trust(Action="sts:AssumeRoles"), "is not an action"),
        (trust(Action="ec2:*"), "permissions policy"),
        (trust(Action="*"), "wildcard"),
        (trust(Principal="*"), "anyone"),
        (trust(Principal={"AWS": "*"}), "anyone"),
        (trust(Principal="ec2.amazonaws.com"), "Principal is an object"),
        (trust(Principal={"service": "ec2.amazonaws.com"}), "case matters"),
        (trust(Principal={"Service": "ec2"}), '"ec2.amazonaws.com"'),
        (trust(Principal={"Service": "ssm.amazonaws.com"}), "assumed by EC2"),
        (trust(Principal={"Service": "lambda.amazonaws.com"}), '{"Service": "ec2.amazonaws.com"}'),
        (trust(Principal={"AWS": ME}), "IAM identity"),
        (trust(Principal={"Service": "ec2.amazonaws.com", "AWS": ME}), "remove the AWS principal"),
        (trust(Effect="Deny"), "no statement allows"),
        ({**EC2_TRUST, "Statement": ["x"]}, "JSON object with Effect"),
    ],
)
def test_each_mistake_gets_its_own_hint(document, words):
    result = check_trust_policy(document)
    assert not result.ok
    assert words in result.message, result.message


def test_a_trust_policy_for_the_learner():
    mine = trust(Principal={"AWS": ME})
    assert check_trust_policy(mine, for_principal=ME).ok
    wrong = check_trust_policy(EC2_TRUST, for_principal=ME)
    assert not wrong.ok and "not you" in wrong.message and ME in wrong.message
    other = check_trust_policy(trust(Principal={"AWS": "arn:aws:iam::123456789012:user/bob"}), for_principal=ME)
    assert not other.ok and ME in other.message


def test_broken_policies_are_seeded_and_all_fail():
    assert broken_trust_policy(3) == broken_trust_policy(3)
    seen = {broken_trust_policy(seed) for seed in range(60)}
    assert len(seen) == 6
    for text in seen:
        assert not check_trust_policy(text).ok, text


# ----------------------------------------------------------------------- identity


@pytest.mark.parametrize(
    "answer, ok, words",
    [
        (ME, True, "identity"),
        (f'"{ME}"', True, "identity"),
        ("...", False, "replace"),
        ("123456789012", False, "Account"),
        ("AIDAEXAMPLEUSERID0001", False, "UserId"),
        ("user/learner", False, "arn:"),
        ("arn:aws:iam::123456789012:user/other", False, "not the Arn"),
    ],
)
def test_identity(answer, ok, words):
    result = check_identity_arn(answer, expected=ME)
    assert result.ok is ok and words in result.message


# ----------------------------------------------------------------------- template

GOOD = """
Parameters:
  Profile: {Type: String}
  Ami:
    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>
    Default: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties: {GroupDescription: none in}
  Server:
    Type: AWS::EC2::Instance
    Properties:
      ImageId: !Ref Ami
      IamInstanceProfile: !Ref Profile
      SecurityGroupIds: [!GetAtt Sg.GroupId]
      MetadataOptions: {HttpTokens: required}
"""


def test_the_shipped_template_passes():
    from ssmlab import templates

    assert check_instance_template(templates.EC2_INSTANCE_PROFILE.read_text()).ok
    assert check_instance_template(GOOD).ok


@pytest.mark.parametrize(
    "old, new, words",
    [
        ("      IamInstanceProfile: !Ref Profile\n", "", "no IamInstanceProfile"),
        ("      MetadataOptions: {HttpTokens: required}\n", "", "IMDSv2"),
        ("{HttpTokens: required}", "{HttpTokens: optional}", "IMDSv2"),
        ("      ImageId: !Ref Ami\n", "      ImageId: !Ref Ami\n      KeyName: my-key\n", "KeyName"),
        ("{GroupDescription: none in}", "{GroupDescription: ssh, SecurityGroupIngress: [{IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0}]}", "inbound"),
        ("ImageId: !Ref Ami", "ImageId: ami-0123456789abcdef0", "fixed AMI"),
        ("Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Type: String", "AWS::SSM::Parameter::Value"),
        ("Type: AWS::EC2::Instance", "Type: AWS::EC2::Volume", "no resource of Type"),
        ("Resources:", "Resources: [", "does not parse"),
    ],
)
def test_template_mistakes(old, new, words):
    assert old in GOOD
    result = check_instance_template(GOOD.replace(old, new))
    assert not result.ok and words in result.message, result.message


def test_template_ingress_resource():
    extra = GOOD + "  Open:\n    Type: AWS::EC2::SecurityGroupIngress\n    Properties: {GroupId: x}\n"
    result = check_instance_template(extra)
    assert not result.ok and "remove Open" in result.message


# ---------------------------------------------------------------------- role swap

SWAP = dict(profile="for-ec2", old_role="role-for-ec2", new_role="role-for-ssm")
REMOVE = "aws iam remove-role-from-instance-profile --instance-profile-name for-ec2 --role-name role-for-ec2"
ADD = "aws iam add-role-to-instance-profile --instance-profile-name for-ec2 --role-name role-for-ssm"


def test_the_swap_in_order_passes_as_text_or_list():
    assert check_role_swap(f"{REMOVE}\n{ADD}\n", **SWAP).ok
    assert check_role_swap([f"!{REMOVE}", "# then", ADD], **SWAP).ok


@pytest.mark.parametrize(
    "commands, words",
    [
        ("", "write the commands"),
        (ADD, "LimitExceeded"),
        (REMOVE, "add role-for-ssm"),
        (f"{ADD}\n{REMOVE}", "order matters"),
        (f"{REMOVE}\n{ADD.replace('role-for-ssm', 'role-for-ec2')}", "--role-name role-for-ssm"),
        (f"{REMOVE.replace('role-name role-for-ec2', 'role-name role-for-ssm')}\n{ADD}", "--role-name role-for-ec2"),
        (f"{REMOVE.replace('name for-ec2', 'name for-ssm')}\n{ADD}", "--instance-profile-name must be for-ec2"),
        ("aws iam update-assume-role-policy --role-name role-for-ec2 --policy-document file://p.json", "detour"),
        (f"{REMOVE}\naws iam delete-role --role-name role-for-ec2\n{ADD}", "nothing needs deleting"),
        ("aws iam create-instance-profile --instance-profile-name for-ssm", "another valid way"),
        (f"{REMOVE}\n{ADD}\n{ADD}", "two commands"),
    ],
)
def test_swap_mistakes(commands, words):
    result = check_role_swap(commands, **SWAP)
    assert not result.ok and words in result.message, result.message


# ------------------------------------------------------------ check_pass_role_policy

from ssmlab.checks import check_pass_role_policy  # noqa: E402

PASS_ROLE_ARN = "arn:aws:iam::123456789012:role/role-for-ec2"


def pass_role(statement, *others):
    return {"Version": "2012-10-17", "Statement": [*others, statement]}


LEAST = {
    "Effect": "Allow",
    "Action": "iam:PassRole",
    "Resource": PASS_ROLE_ARN,
    "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
}


def test_pass_role_least_privilege_is_accepted_next_to_other_statements():
    run = {"Effect": "Allow", "Action": ["ec2:RunInstances", "cloudformation:CreateStack"], "Resource": "*"}
    verdict = check_pass_role_policy(pass_role(LEAST, run), role_arn=PASS_ROLE_ARN)
    assert verdict.ok and "role-for-ec2" in verdict.message
    assert check_pass_role_policy(json.dumps(pass_role(LEAST)), role_arn=PASS_ROLE_ARN).ok


@pytest.mark.parametrize(
    "change, hint",
    [
        ({"Resource": "*"}, "any role matching it"),
        ({"Resource": "arn:aws:iam::123456789012:role/role-*"}, "any role matching it"),
        ({"Resource": "arn:aws:iam::123456789012:instance-profile/for-ec2"}, "not the instance profile"),
        ({"Resource": "arn:aws:iam::123456789012:role/other"}, "must be the role's ARN"),
        ({"Condition": None}, "add a Condition"),
        ({"Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}}, "iam:PassedToService"),
        ({"Condition": {"StringEquals": {"iam:PassedToService": "ssm.amazonaws.com"}}}, "never receives this role"),
        ({"Condition": {"StringEquals": {"iam:PassedToService": ["ec2.amazonaws.com", "lambda.amazonaws.com"]}}}, "alone"),
        ({"Condition": {"StringNotEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}, "StringEquals"),
        ({"Action": "iam:*"}, "far more"),
        ({"Action": ["iam:PassRole", "ec2:RunInstances"]}, "statement of its own"),
    ],
)
def test_pass_role_each_mistake_gets_its_hint(change, hint):
    statement = {**LEAST, **change}
    statement = {k: v for k, v in statement.items() if v is not None}
    verdict = check_pass_role_policy(pass_role(statement), role_arn=PASS_ROLE_ARN)
    assert not verdict.ok and hint in verdict.message, verdict.message


def test_pass_role_missing_altogether_names_the_error_a_launch_meets():
    run_only = {"Effect": "Allow", "Action": "ec2:RunInstances", "Resource": "*"}
    verdict = check_pass_role_policy(pass_role(run_only), role_arn=PASS_ROLE_ARN)
    assert not verdict.ok and "UnauthorizedOperation" in verdict.message
    deny = {**LEAST, "Effect": "Deny"}
    assert 'Effect": "Allow' in check_pass_role_policy(pass_role(deny), role_arn=PASS_ROLE_ARN).message


def test_pass_role_condition_key_case_does_not_matter_and_list_of_one_is_fine():
    statement = {**LEAST, "Condition": {"StringEquals": {"IAM:passedToService": ["ec2.amazonaws.com"]}}}
    assert check_pass_role_policy(pass_role(statement), role_arn=PASS_ROLE_ARN).ok


def test_pass_role_not_json_is_one_sentence():
    verdict = check_pass_role_policy("{not json", role_arn=PASS_ROLE_ARN)
    assert not verdict.ok and verdict.message
