"""The one policy evaluator and trust evaluator (ssmlab/simulation/policy.py).

Table tests, each citing the rule of IAM's policy evaluation logic it checks
(docs/aws-facts.md#policy-evaluation); hypothesis properties of Deny and conditions; and
SimulatePrincipalPolicy through boto3 and the real ``aws`` CLI with ``iam:PassRole`` and
``iam:PassedToService``, as a PassRole exercise will call it.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmlab.simulation import policy
from ssmlab.simulation.policy import ALLOWED, EXPLICIT_DENY, IMPLICIT_DENY

ACCOUNT = "123456789012"
INSTANCE = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-0123456789abcdef0"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/role-for-ec2"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action="ssm:UpdateInstanceInformation", resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="ssm:UpdateInstanceInformation", resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(statements, action="ssm:UpdateInstanceInformation", resource=INSTANCE, context=None, boundary=None):
    return policy.evaluate([doc(*statements)], action, resource, context, boundary=boundary).decision


# ----------------------------------------------------------------- evaluation logic table
# Each row names the rule it checks; the rules and their IAM User Guide pages are listed in
# docs/aws-facts.md#policy-evaluation (evaluation logic, Action/Resource elements,
# condition operators, single- and multivalued keys, Principal and NotPrincipal).

PASSROLE_EC2 = allow(
    "iam:PassRole", ROLE_ARN, Condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
)

TABLE = [
    # (statements, action, resource, context, expected, rule)
    ([], "ssm:UpdateInstanceInformation", INSTANCE, None, IMPLICIT_DENY, "no Allow: implicit deny"),
    ([allow()], "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED, "an applicable Allow allows"),
    ([allow(), deny()], "ssm:UpdateInstanceInformation", INSTANCE, None, EXPLICIT_DENY, "explicit Deny wins"),
    ([allow("SSM:updateinstanceinformation")], "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED,
     "action names are case-insensitive"),
    ([allow("ssm:Update*")], "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED, "* in an action"),
    ([allow("ssm:UpdateInstanceInformatio?")], "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED,
     "? in an action"),
    ([allow("ssm:Update")], "ssm:UpdateInstanceInformation", INSTANCE, None, IMPLICIT_DENY,
     "an action matches whole, not as a prefix"),
    ([allow(resource="arn:aws:ec2:*:*:instance/*")], "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED,
     "* in a resource"),
    ([allow(resource="arn:aws:ec2:*:*:INSTANCE/*")], "ssm:UpdateInstanceInformation", INSTANCE, None,
     IMPLICIT_DENY, "resources are case-sensitive"),
    ([allow(resource="arn:aws:ec2:us.east.1:*")], "ssm:UpdateInstanceInformation", INSTANCE, None,
     IMPLICIT_DENY, "a dot in a resource is only a dot"),
    ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "ssm:UpdateInstanceInformation", INSTANCE,
     None, ALLOWED, "NotAction allows every other action"),
    ([{"Effect": "Allow", "NotAction": "ssm:*", "Resource": "*"}], "ssm:UpdateInstanceInformation", INSTANCE,
     None, IMPLICIT_DENY, "NotAction excludes the listed actions"),
    ([allow(), {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:ec2:*:*:instance/i-other"}],
     "ssm:UpdateInstanceInformation", INSTANCE, None, EXPLICIT_DENY, "NotResource denies every other resource"),
    ([allow(), {"Effect": "Deny", "Action": "*", "NotResource": INSTANCE}],
     "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED, "NotResource spares the listed resource"),
    ([PASSROLE_EC2], "iam:PassRole", ROLE_ARN, {"iam:PassedToService": "ec2.amazonaws.com"}, ALLOWED,
     "StringEquals on iam:PassedToService holds"),
    ([PASSROLE_EC2], "iam:PassRole", ROLE_ARN, {"iam:PassedToService": "lambda.amazonaws.com"}, IMPLICIT_DENY,
     "StringEquals on iam:PassedToService fails for another service"),
    ([PASSROLE_EC2], "iam:PassRole", ROLE_ARN, None, IMPLICIT_DENY, "a missing key makes a condition false"),
    ([PASSROLE_EC2], "iam:PassRole", ROLE_ARN, {"IAM:PASSEDTOSERVICE": "ec2.amazonaws.com"}, ALLOWED,
     "condition key names are case-insensitive"),
    ([PASSROLE_EC2], "iam:PassRole", ROLE_ARN, {"iam:PassedToService": "EC2.amazonaws.com"}, IMPLICIT_DENY,
     "StringEquals is case-sensitive"),
    ([allow(Condition={"StringEqualsIgnoreCase": {"aws:RequestedRegion": "US-EAST-1"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:RequestedRegion": "us-east-1"}, ALLOWED,
     "StringEqualsIgnoreCase"),
    ([allow(Condition={"StringEquals": {"aws:SourceAccount": ["111111111111", ACCOUNT]}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceAccount": ACCOUNT}, ALLOWED,
     "a key's values are OR-ed"),
    ([allow(Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT, "aws:RequestedRegion": "eu-west-1"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceAccount": ACCOUNT, "aws:RequestedRegion": "us-east-1"},
     IMPLICIT_DENY, "keys are AND-ed"),
    ([allow(Condition={"StringLike": {"aws:PrincipalArn": "arn:aws:sts::*:assumed-role/role-for-*"}})],
     "ssm:UpdateInstanceInformation", INSTANCE,
     {"aws:PrincipalArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/role-for-ec2/i-1"}, ALLOWED, "StringLike"),
    ([allow(), deny(Condition={"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceAccount": "999999999999"}, EXPLICIT_DENY,
     "StringNotEquals holds for another value"),
    ([allow(), deny(Condition={"StringNotEquals": {"aws:SourceAccount": ACCOUNT}})],
     "ssm:UpdateInstanceInformation", INSTANCE, None, EXPLICIT_DENY, "a negated operator holds for a missing key"),
    ([allow(), deny(Condition={"StringNotLike": {"aws:SourceArn": "arn:aws:ec2:*"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceArn": INSTANCE}, ALLOWED, "StringNotLike fails on a match"),
    ([allow(Condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}})],
     "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED, "IfExists holds for a missing key"),
    ([allow(Condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceAccount": "999999999999"}, IMPLICIT_DENY,
     "IfExists checks a present key"),
    ([allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:*:instance/*"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceArn": INSTANCE}, ALLOWED, "ArnLike"),
    ([allow(Condition={"ArnEquals": {"aws:SourceArn": "arn:aws:ec2:*:*:instance/*"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceArn": INSTANCE}, ALLOWED,
     "ArnEquals takes wildcards like ArnLike"),
    ([allow(Condition={"ArnLike": {"aws:SourceArn": "arn:aws:ec2:*:instance/*"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceArn": INSTANCE}, IMPLICIT_DENY,
     "ArnLike matches each of the six parts"),
    ([allow(Condition={"ArnLike": {"aws:SourceArn": "*"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceArn": INSTANCE}, ALLOWED, "ArnLike * matches any ARN"),
    ([allow(Condition={"ArnNotLike": {"aws:SourceArn": "arn:aws:ec2:*:*:instance/*"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceArn": INSTANCE}, IMPLICIT_DENY, "ArnNotLike"),
    ([allow(Condition={"Bool": {"aws:SecureTransport": "true"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SecureTransport": True}, ALLOWED, "Bool"),
    ([allow(Condition={"Bool": {"aws:SecureTransport": "true"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SecureTransport": "false"}, IMPLICIT_DENY, "Bool false"),
    ([allow(Condition={"Null": {"aws:SourceIdentity": "true"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, None, ALLOWED, "Null true: the key is absent"),
    ([allow(Condition={"Null": {"aws:SourceIdentity": "true"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceIdentity": "x"}, IMPLICIT_DENY, "Null true, key present"),
    ([allow(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:MultiFactorAuthAge": "60"}, ALLOWED, "NumericLessThan"),
    ([allow(Condition={"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:CurrentTime": "2026-12-01T11:00:00Z"}, ALLOWED, "DateLessThan"),
    ([allow(Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/16"}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceIp": "10.0.3.4"}, ALLOWED, "IpAddress"),
    ([allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:TagKeys": ["env"]}, ALLOWED, "ForAllValues: a subset"),
    ([allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:TagKeys": ["env", "owner"]}, IMPLICIT_DENY,
     "ForAllValues: one value outside"),
    ([allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:TagKeys": ["owner", "env"]}, ALLOWED, "ForAnyValue"),
    ([allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["env"]}})],
     "ssm:UpdateInstanceInformation", INSTANCE, None, IMPLICIT_DENY, "ForAnyValue with a missing key"),
    ([allow(Condition={"StringFancy": {"aws:SourceAccount": ACCOUNT}})],
     "ssm:UpdateInstanceInformation", INSTANCE, {"aws:SourceAccount": ACCOUNT}, IMPLICIT_DENY,
     "an operator IAM does not define never holds"),
]


@pytest.mark.parametrize(
    "statements, action, resource, context, expected, rule", TABLE, ids=[row[-1] for row in TABLE]
)
def test_evaluation_logic(statements, action, resource, context, expected, rule):
    assert decide(statements, action, resource, context) == expected, rule


def test_policies_given_as_json_text_or_url_encoded_as_iam_returns_them():
    text = json.dumps(doc(allow()))
    encoded = "%7B" + text[1:].replace(" ", "%20").replace('"', "%22")
    for given_policy in (text, encoded):
        assert policy.evaluate([given_policy], "ssm:UpdateInstanceInformation", INSTANCE).decision == ALLOWED


def test_a_single_statement_object_counts():
    single = {"Version": "2012-10-17", "Statement": allow()}
    assert policy.evaluate([single], "ssm:UpdateInstanceInformation").decision == ALLOWED


def test_explicit_deny_in_another_policy_wins():
    decision = policy.evaluate([doc(allow()), doc(deny())], "ssm:UpdateInstanceInformation").decision
    assert decision == EXPLICIT_DENY


def test_resource_none_does_not_judge_the_resource():
    assert policy.evaluate([doc(allow(resource="arn:aws:ec2:*:*:instance/*"))], "ssm:UpdateInstanceInformation", None).allowed


# -------------------------------------------------------------------- permissions boundary


def test_a_boundary_caps_identity_policies():
    boundary = doc(allow("ssm:*"))
    result = policy.evaluate([doc(allow("*"))], "ec2:RunInstances", "*", boundary=boundary)
    assert (result.decision, result.verdict, result.allowed_by_boundary) == (IMPLICIT_DENY, "boundary", False)


def test_a_boundary_grants_nothing_by_itself():
    result = policy.evaluate([], "ssm:UpdateInstanceInformation", "*", boundary=doc(allow("ssm:*")))
    assert (result.decision, result.verdict, result.allowed_by_boundary) == (IMPLICIT_DENY, "neutral", True)


def test_both_allow_is_allowed():
    result = policy.evaluate([doc(allow())], "ssm:UpdateInstanceInformation", "*", boundary=doc(allow("ssm:*")))
    assert (result.decision, result.allowed_by_boundary) == (ALLOWED, True)


def test_an_explicit_deny_in_the_boundary_denies():
    boundary = doc(allow("*"), deny())
    result = policy.evaluate([doc(allow())], "ssm:UpdateInstanceInformation", "*", boundary=boundary)
    assert (result.decision, result.denied_by) == (EXPLICIT_DENY, "boundary")


# ------------------------------------------------------------------------------- trust

EC2_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
LEARNER = f"arn:aws:iam::{ACCOUNT}:user/learner"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/role-for-me/learner"


def trust(principal, effect="Allow", key="Principal", **extra) -> dict:
    return doc({"Effect": effect, key: principal, "Action": "sts:AssumeRole", **extra})


TRUST_TABLE = [
    (EC2_TRUST, "ec2.amazonaws.com", None, ALLOWED, "the service named"),
    (EC2_TRUST, "ssm.amazonaws.com", None, IMPLICIT_DENY, "another service"),
    (EC2_TRUST, LEARNER, None, IMPLICIT_DENY, "an IAM user is not a service"),
    (trust({"Service": ["ssm.amazonaws.com", "ec2.amazonaws.com"]}), "ec2.amazonaws.com", None, ALLOWED,
     "a list of services"),
    (trust("*"), "ec2.amazonaws.com", None, ALLOWED, '"*" names everyone'),
    (trust({"AWS": "*"}), LEARNER, None, ALLOWED, '{"AWS": "*"} names everyone'),
    (trust({"AWS": ACCOUNT}), LEARNER, None, ALLOWED, "an account id names its identities"),
    (trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), LEARNER, None, ALLOWED, "the root ARN names the account"),
    (trust({"AWS": "arn:aws:iam::111111111111:root"}), LEARNER, None, IMPLICIT_DENY, "another account"),
    (trust({"AWS": LEARNER}), LEARNER, None, ALLOWED, "a user ARN"),
    (trust({"AWS": f"arn:aws:iam::{ACCOUNT}:user/someone"}), LEARNER, None, IMPLICIT_DENY, "another user"),
    (trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/role-for-me"}), SESSION, None, ALLOWED,
     "a role ARN names the role's sessions"),
    (trust({"AWS": f"arn:aws:iam::{ACCOUNT}:role/other"}), SESSION, None, IMPLICIT_DENY,
     "another role's sessions"),
    (trust({"Service": "ec2.amazonaws.com"}, "Deny"), "ec2.amazonaws.com", None, EXPLICIT_DENY, "Deny"),
    (trust({"Service": "EC2.amazonaws.com"}), "ec2.amazonaws.com", None, IMPLICIT_DENY,
     "service principals compare exactly"),
    (doc({"Effect": "Allow", "NotPrincipal": {"Service": "ssm.amazonaws.com"}, "Action": "sts:AssumeRole"}),
     "ec2.amazonaws.com", None, IMPLICIT_DENY, "NotPrincipal with Allow is not supported"),
    (doc(EC2_TRUST["Statement"][0],
         {"Effect": "Deny", "NotPrincipal": {"AWS": LEARNER}, "Action": "sts:AssumeRole"}),
     "ec2.amazonaws.com", None, EXPLICIT_DENY, "NotPrincipal with Deny denies everyone else"),
    (doc({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
         {"Effect": "Deny", "NotPrincipal": {"AWS": LEARNER}, "Action": "sts:AssumeRole"}),
     LEARNER, None, ALLOWED, "NotPrincipal with Deny spares the listed principal"),
    (trust({"AWS": ACCOUNT}, Condition={"StringEquals": {"sts:ExternalId": "blog-2024"}}), LEARNER,
     {"sts:ExternalId": "blog-2024"}, ALLOWED, "a condition that holds"),
    (trust({"AWS": ACCOUNT}, Condition={"StringEquals": {"sts:ExternalId": "blog-2024"}}), LEARNER,
     None, IMPLICIT_DENY, "a condition on a missing key"),
    (trust({"Service": "ec2.amazonaws.com"}, Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}),
     "ec2.amazonaws.com", {"aws:SourceAccount": ACCOUNT}, ALLOWED, "aws:SourceAccount"),
    (trust({"Service": "ec2.amazonaws.com"}, Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}}),
     "ec2.amazonaws.com", {"aws:SourceAccount": "111111111111"}, IMPLICIT_DENY, "aws:SourceAccount, another one"),
    (trust({"AWS": ACCOUNT}, Condition={"ArnEquals": {"aws:PrincipalArn": LEARNER}}), LEARNER, None, ALLOWED,
     "aws:PrincipalArn is in the context of an IAM principal's request"),
    (trust({"AWS": ACCOUNT}, Condition={"ArnEquals": {"aws:PrincipalArn": LEARNER}}), SESSION, None,
     IMPLICIT_DENY, "aws:PrincipalArn of another principal"),
    (doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:TagSession"}),
     "ec2.amazonaws.com", None, IMPLICIT_DENY, "another action"),
    (doc({"Effect": "Allow", "Action": "sts:AssumeRole"}), "ec2.amazonaws.com", None, IMPLICIT_DENY,
     "a statement without a principal names nobody"),
]


@pytest.mark.parametrize("document, principal, context, expected, rule", TRUST_TABLE, ids=[r[-1] for r in TRUST_TABLE])
def test_trust_evaluation(document, principal, context, expected, rule):
    assert policy.evaluate_trust(document, principal, "sts:AssumeRole", context).decision == expected, rule


# ------------------------------------------------------------------------ properties

ACTIONS = ["ssm:UpdateInstanceInformation", "ssm:SendCommand", "ec2:RunInstances", "iam:PassRole", "sts:AssumeRole"]
RESOURCES = ["*", INSTANCE, ROLE_ARN]
patterns = st.sampled_from(["*", "ssm:*", "ssm:Update*", "ec2:*", "iam:PassRole", "SSM:SENDCOMMAND", "s?s:*", "sts:*"])
resources = st.sampled_from(["*", "arn:aws:ec2:*:*:instance/*", ROLE_ARN, "arn:aws:iam::*:role/*", INSTANCE])
conditions = st.one_of(
    st.none(),
    st.fixed_dictionaries({"StringEquals": st.fixed_dictionaries({"aws:SourceAccount": st.sampled_from([ACCOUNT, "111111111111"])})}),
    st.fixed_dictionaries({"StringNotEquals": st.fixed_dictionaries({"aws:SourceAccount": st.just(ACCOUNT)})}),
    st.fixed_dictionaries({"ArnLike": st.fixed_dictionaries({"aws:SourceArn": st.sampled_from(["arn:aws:ec2:*:*:instance/*", "arn:aws:s3:::*"])})}),
    st.fixed_dictionaries({"StringEqualsIfExists": st.fixed_dictionaries({"iam:PassedToService": st.just("ec2.amazonaws.com")})}),
)


@st.composite
def statement(draw, effect=None):
    result = {
        "Effect": effect or draw(st.sampled_from(["Allow", "Deny"])),
        draw(st.sampled_from(["Action", "NotAction"])): draw(st.lists(patterns, min_size=1, max_size=2)),
        draw(st.sampled_from(["Resource", "NotResource"])): draw(resources),
    }
    condition = draw(conditions)
    if condition:
        result["Condition"] = condition
    return result


contexts = st.fixed_dictionaries(
    {},
    optional={
        "aws:SourceAccount": st.sampled_from([ACCOUNT, "111111111111"]),
        "aws:SourceArn": st.sampled_from([INSTANCE, "arn:aws:s3:::bucket"]),
        "iam:PassedToService": st.sampled_from(["ec2.amazonaws.com", "lambda.amazonaws.com"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(st.lists(statement(), max_size=4), statement(effect="Deny"), st.sampled_from(ACTIONS),
       st.sampled_from(RESOURCES), contexts)
def test_adding_a_deny_never_turns_a_deny_into_an_allow(statements, extra_deny, action, resource, context):
    before = decide(statements, action, resource, context)
    after = decide(statements + [extra_deny], action, resource, context)
    if before != ALLOWED:
        assert after != ALLOWED
    if before == EXPLICIT_DENY:
        assert after == EXPLICIT_DENY


@settings(max_examples=300, deadline=None)
@given(st.lists(statement(), max_size=4), st.sampled_from(ACTIONS), st.sampled_from(RESOURCES), contexts)
def test_an_explicit_deny_that_applies_always_wins(statements, action, resource, context):
    wins = deny(action, "*")
    assert decide(statements + [wins], action, resource, context) == EXPLICIT_DENY


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ACTIONS), st.sampled_from(RESOURCES), contexts, st.sampled_from([ACCOUNT, "111111111111"]))
def test_an_allow_whose_condition_does_not_hold_never_allows(action, resource, context, wanted):
    conditional = allow(action, "*", Condition={"StringEquals": {"aws:SourceAccount": wanted}})
    result = decide([conditional], action, resource, context)
    if context.get("aws:SourceAccount") != wanted:
        assert result == IMPLICIT_DENY
    else:
        assert result == ALLOWED


@settings(max_examples=200, deadline=None)
@given(st.lists(statement(), max_size=4), st.lists(statement(), max_size=3), st.sampled_from(ACTIONS),
       st.sampled_from(RESOURCES), contexts)
def test_a_boundary_only_ever_takes_away(statements, boundary_statements, action, resource, context):
    alone = decide(statements, action, resource, context)
    bounded = decide(statements, action, resource, context, boundary=doc(*boundary_statements))
    if alone != ALLOWED:
        assert bounded != ALLOWED
    if bounded == ALLOWED:
        assert decide(boundary_statements, action, resource, context) == ALLOWED


@settings(max_examples=200, deadline=None)
@given(st.lists(statement(), max_size=4), st.sampled_from(ACTIONS), st.sampled_from(RESOURCES), contexts)
def test_statement_order_does_not_matter(statements, action, resource, context):
    assert decide(statements, action, resource, context) == decide(statements[::-1], action, resource, context)


# --------------------------------------------------- SimulatePrincipalPolicy with PassRole

PASSROLE_POLICY = doc(PASSROLE_EC2)
SIM_ROLE = "role-for-passrole-exercise"


@pytest.fixture
def passer(lab):
    """A role whose only policy lets it pass role-for-ec2 to EC2, and nothing else."""
    iam = lab.client("iam")
    iam.create_role(
        RoleName=SIM_ROLE,
        AssumeRolePolicyDocument=json.dumps(trust({"AWS": lab.account_id})),
    )
    iam.put_role_policy(RoleName=SIM_ROLE, PolicyName="pass-to-ec2", PolicyDocument=json.dumps(PASSROLE_POLICY))
    return f"arn:aws:iam::{lab.account_id}:role/{SIM_ROLE}"


def passed_to(service: str) -> list[dict]:
    return [{"ContextKeyName": "iam:PassedToService", "ContextKeyValues": [service], "ContextKeyType": "string"}]


def test_simulate_passrole_with_passed_to_service_boto3(lab, passer):
    iam = lab.client("iam")
    role_arn = ROLE_ARN.replace(ACCOUNT, lab.account_id)

    def simulate(**extra):
        return iam.simulate_principal_policy(
            PolicySourceArn=passer, ActionNames=["iam:PassRole"], ResourceArns=[role_arn], **extra
        )["EvaluationResults"][0]

    to_ec2 = simulate(ContextEntries=passed_to("ec2.amazonaws.com"))
    assert to_ec2["EvalDecision"] == "allowed"
    assert to_ec2["MatchedStatements"] == [{"SourcePolicyId": "pass-to-ec2", "SourcePolicyType": "role"}]
    assert to_ec2["MissingContextValues"] == []
    assert simulate(ContextEntries=passed_to("lambda.amazonaws.com"))["EvalDecision"] == "implicitDeny"
    missing = simulate()
    assert (missing["EvalDecision"], missing["MissingContextValues"]) == ("implicitDeny", ["iam:PassedToService"])


def test_simulate_with_a_permissions_boundary_input_and_a_policy_input(lab, passer):
    iam = lab.client("iam")
    result = iam.simulate_principal_policy(
        PolicySourceArn=passer,
        ActionNames=["iam:PassRole", "ssm:SendCommand"],
        PolicyInputList=[json.dumps(doc(allow("ssm:SendCommand")))],
        PermissionsBoundaryPolicyInputList=[json.dumps(doc(allow("ssm:*")))],
        ContextEntries=passed_to("ec2.amazonaws.com"),
    )["EvaluationResults"]
    decisions = {r["EvalActionName"]: (r["EvalDecision"], r["PermissionsBoundaryDecisionDetail"]) for r in result}
    assert decisions == {
        "iam:PassRole": ("implicitDeny", {"AllowedByPermissionsBoundary": False}),
        "ssm:SendCommand": ("allowed", {"AllowedByPermissionsBoundary": True}),
    }


def test_simulate_passrole_with_passed_to_service_cli(lab, passer, aws):
    role_arn = ROLE_ARN.replace(ACCOUNT, lab.account_id)
    base = ("iam", "simulate-principal-policy", "--policy-source-arn", passer,
            "--action-names", "iam:PassRole", "--resource-arns", role_arn,
            "--query", "EvaluationResults[0].EvalDecision", "--output", "text")
    for service, expected in (("ec2.amazonaws.com", "allowed"), ("lambda.amazonaws.com", "implicitDeny")):
        entry = f"ContextKeyName=iam:PassedToService,ContextKeyValues={service},ContextKeyType=string"
        result = aws(*base, "--context-entries", entry, check=True)
        assert result.stdout.strip() == expected, result.stderr
    missing = aws(*base[:-4], "--query", "EvaluationResults[0].MissingContextValues", "--output", "text", check=True)
    assert missing.stdout.strip() == "iam:PassedToService"


def test_simulate_custom_policy_judges_a_draft_passrole_policy_boto3(lab):
    iam = lab.client("iam")
    role_arn = ROLE_ARN.replace(ACCOUNT, lab.account_id)
    draft = json.dumps(PASSROLE_POLICY)

    def decision(service: str | None) -> str:
        extra = {"ContextEntries": passed_to(service)} if service else {}
        return iam.simulate_custom_policy(
            PolicyInputList=[draft], ActionNames=["iam:PassRole"], ResourceArns=[role_arn], **extra
        )["EvaluationResults"][0]["EvalDecision"]

    assert [decision("ec2.amazonaws.com"), decision("lambda.amazonaws.com"), decision(None)] == [
        "allowed", "implicitDeny", "implicitDeny",
    ]
    denied = json.dumps(doc(PASSROLE_EC2, deny("iam:PassRole", "*")))
    result = iam.simulate_custom_policy(
        PolicyInputList=[denied], ActionNames=["iam:PassRole"], ContextEntries=passed_to("ec2.amazonaws.com")
    )["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"] == [{"SourcePolicyId": "PolicyInputList.1", "SourcePolicyType": "none"}]


def test_simulate_custom_policy_cli(lab, aws, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # A list parameter: the CLI parses a value starting with "[" as JSON (a bare policy
    # document from file:// would be iterated character by character by awscli v1).
    (tmp_path / "passrole.json").write_text(json.dumps([json.dumps(PASSROLE_POLICY)]))
    role_arn = ROLE_ARN.replace(ACCOUNT, lab.account_id)
    result = aws(
        "iam", "simulate-custom-policy", "--policy-input-list", "file://passrole.json",
        "--action-names", "iam:PassRole", "--resource-arns", role_arn,
        "--context-entries", "ContextKeyName=iam:PassedToService,ContextKeyValues=ec2.amazonaws.com,ContextKeyType=string",
        "--query", "EvaluationResults[0].EvalDecision", "--output", "text", check=True,
    )
    assert result.stdout.strip() == "allowed"
    keys = aws("iam", "get-context-keys-for-custom-policy", "--policy-input-list", "file://passrole.json",
               "--output", "text", check=True)
    assert keys.stdout.split() == ["CONTEXTKEYNAMES", "iam:PassedToService"]


def test_get_context_keys_for_principal_policy_boto3(lab, passer):
    iam = lab.client("iam")
    names = iam.get_context_keys_for_principal_policy(PolicySourceArn=passer)["ContextKeyNames"]
    assert names == ["iam:PassedToService"]
    extra = json.dumps(doc(allow(Condition={"StringEquals": {"aws:SourceAccount": lab.account_id}})))
    names = iam.get_context_keys_for_principal_policy(PolicySourceArn=passer, PolicyInputList=[extra])["ContextKeyNames"]
    assert names == ["iam:PassedToService", "aws:SourceAccount"]


def test_a_policy_input_that_is_not_json_is_invalid_input(lab):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as raised:
        lab.client("iam").simulate_custom_policy(PolicyInputList=["{not json"], ActionNames=["iam:PassRole"])
    assert raised.value.response["Error"]["Code"] == "InvalidInput"


# ------------------------------------------------------------------ the moto boundary


def test_the_start_up_check_names_the_moto_version_when_the_matcher_moved(monkeypatch):
    from ssmlab.errors import LabError
    from ssmlab.simulation import _moto
    from ssmlab.simulation._moto import IAMPolicyStatement

    _moto.check()  # the installed moto passes
    monkeypatch.setattr(IAMPolicyStatement, "_match", staticmethod(lambda pattern, string: None))
    with pytest.raises(LabError) as raised:
        _moto.check()
    message = str(raised.value)
    assert "ssmlab needs moto>=5.2.5,<5.3" in message and "IAMPolicyStatement._match" in message
    assert message.count(".") >= 1 and "\n" not in message


def test_glob_match_is_iams_wildcard_match():
    from ssmlab.simulation._moto import glob_match

    assert glob_match("arn:aws:s3:::my.bucket/*", "arn:aws:s3:::my.bucket/a/b")
    assert not glob_match("arn:aws:s3:::my.bucket", "arn:aws:s3:::myxbucket")
    assert glob_match("a?c", "abc") and not glob_match("a?c", "ac")
    assert not glob_match("role+name", "rolename") and glob_match("role+name", "role+name")
    assert glob_match("SSM:Get*", "ssm:getparameter", ignore_case=True)
    assert not glob_match("SSM:Get*", "ssm:getparameter")


# ------------------------------------- the simulated agent judges through the evaluator


def _registration_role(lab, statements: list[dict], boundary: dict | None = None) -> str:
    from test_agent import launch, make_profile

    make_profile(lab, policies=())
    iam = lab.client("iam")
    iam.put_role_policy(RoleName="role-for-ec2", PolicyName="registration", PolicyDocument=json.dumps(doc(*statements)))
    if boundary is not None:
        arn = iam.create_policy(PolicyName="boundary", PolicyDocument=json.dumps(boundary))["Policy"]["Arn"]
        iam.put_role_permissions_boundary(RoleName="role-for-ec2", PermissionsBoundary=arn)
    return launch(lab)


def _managed(lab, instance_id: str) -> bool:
    """Online in Systems Manager (a node that stops qualifying stays listed, ConnectionLost)."""
    listing = lab.client("ssm").describe_instance_information()["InstanceInformationList"]
    return any(item["InstanceId"] == instance_id and item["PingStatus"] == "Online" for item in listing)


def test_the_agent_honours_a_condition_on_aws_source_account(lab):
    ours = allow(Condition={"StringEquals": {"aws:SourceAccount": lab.account_id}})
    assert _managed(lab, _registration_role(lab, [ours]))


def test_the_agent_is_refused_when_the_condition_names_another_account(lab):
    from ssmlab.simulation import agent

    theirs = allow(Condition={"StringEquals": {"aws:SourceAccount": "111111111111"}})
    instance_id = _registration_role(lab, [theirs])
    assert not _managed(lab, instance_id)
    state = agent.observe(lab.account_id, lab.region, instance_id)
    assert "because no identity-based policy allows the ssm:UpdateInstanceInformation action" in state.check(
        agent.CHECK_REGISTRATION
    ).detail


def test_the_agent_honours_arn_like_on_the_instance_and_not_resource_deny(lab):
    from ssmlab.simulation import agent

    statements = [
        allow(resource="*", Condition={"ArnLike": {"ec2:SourceInstanceARN": "arn:aws:ec2:*:*:instance/*"}}),
        {"Effect": "Deny", "Action": "ssm:*", "NotResource": "arn:aws:ec2:*:*:instance/*"},
    ]
    instance_id = _registration_role(lab, statements)
    assert _managed(lab, instance_id)
    statements.append(deny(resource=f"arn:aws:ec2:{lab.region}:{lab.account_id}:instance/{instance_id}"))
    lab.client("iam").put_role_policy(
        RoleName="role-for-ec2", PolicyName="registration", PolicyDocument=json.dumps(doc(*statements))
    )
    lab.client("ec2").reboot_instances(InstanceIds=[instance_id])  # the agent asks again at boot
    lab.wait(minutes=11)  # past two missed heartbeats: ConnectionLost
    assert not _managed(lab, instance_id)
    detail = agent.observe(lab.account_id, lab.region, instance_id).check(agent.CHECK_REGISTRATION).detail
    assert "with an explicit deny in an identity-based policy" in detail


def test_the_agent_is_capped_by_the_permissions_boundary(lab):
    from ssmlab.simulation import agent

    instance_id = _registration_role(lab, [allow("ssm:*")], boundary=doc(allow("ec2:*")))
    assert not _managed(lab, instance_id)
    detail = agent.observe(lab.account_id, lab.region, instance_id).check(agent.CHECK_REGISTRATION).detail
    assert "because no permissions boundary allows the ssm:UpdateInstanceInformation action" in detail
