"""The moto corrections of ssmlab.simulation.iam_corrections, through boto3 and the real CLI.

Each correction is checked where a learner meets it: a boto3 client on the lab endpoint
and the ``aws`` CLI (awscli v1: exit status 255 and ``An error occurred (Code) when calling
the Op operation: message`` on stderr). Sources of the expected texts are cited in the
module itself and in docs/aws-facts.md#core-1 and #core-7.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import settings
from moto.core.authorization import ActionAuthenticatorMixin
from moto.iam.access_control import PermissionResult

from ssmlab.simulation.iam_corrections import evaluate_trust_policy

EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def trust(principal, action="sts:AssumeRole", **extra) -> str:
    statement = {"Effect": "Allow", "Principal": principal, "Action": action, **extra}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def cli_error(result, code: str, operation: str, message: str) -> None:
    assert result.returncode == 255, result
    assert result.stderr.strip() == (
        f"An error occurred ({code}) when calling the {operation} operation: {message}"
    )


def role_names(lab) -> list[str]:
    return [role["RoleName"] for role in lab.client("iam").list_roles()["Roles"]]


def role_arn(lab, name: str) -> str:
    return f"arn:aws:iam::{lab.account_id}:role/{name}"


# ------------------------------------------------ 1. CreateRole validates like AWS


MALFORMED_TRUST_POLICIES = [
    # the blog-style slip: the file name instead of file://file
    ("assume-role-policy.json", "This policy contains invalid Json"),
    ('{"Version": "2012-10-17", "Statement": [', "This policy contains invalid Json"),
    (
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{**EC2_TRUST["Statement"][0], "Resource": "*"}],
            }
        ),
        "Has prohibited field Resource.",
    ),
    (json.dumps({"Version": "2012-10-17"}), "Syntax errors in policy."),
    (trust({"Service": "lambda"}), 'Invalid principal in policy: "SERVICE":"lambda"'),
    (
        trust({"Service": "ec2.amazonaws.con"}),
        'Invalid principal in policy: "SERVICE":"ec2.amazonaws.con"',
    ),
    (
        trust({"AWS": "arn:aws:iam::123456789012:user/nobody"}),
        'Invalid principal in policy: "AWS":"arn:aws:iam::123456789012:user/nobody"',
    ),
    (
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}],
            }
        ),
        "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
        "The passed in policy has a statement with no principals!",
    ),
]


def test_create_role_rejects_a_malformed_trust_policy_and_creates_nothing(lab):
    iam = lab.client("iam")
    answers = [
        error_of(iam.create_role, RoleName="role-for-ec2", AssumeRolePolicyDocument=document)
        for document, _ in MALFORMED_TRUST_POLICIES
    ]
    assert answers == [("MalformedPolicyDocument", message, 400) for _, message in MALFORMED_TRUST_POLICIES]
    assert role_names(lab) == []


VALID_PRINCIPALS = [
    {"Service": "ec2.amazonaws.com"},
    {"Service": ["ec2.amazonaws.com", "ssm.amazonaws.com"]},  # the blog's step 6
    {"AWS": "arn:aws:iam::123456789012:root"},
    {"AWS": "123456789012"},
    {"AWS": "arn:aws:iam::123456789012:user/learner"},
    "*",
]


def test_create_role_accepts_valid_trust_policies(lab):
    iam = lab.client("iam")
    for number, principal in enumerate(VALID_PRINCIPALS):
        created = iam.create_role(RoleName=f"trusted-{number}", AssumeRolePolicyDocument=trust(principal))
        assert created["Role"]["Arn"] == role_arn(lab, f"trusted-{number}"), principal


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "role for ec2",
            "1 validation error detected: Value 'role for ec2' at 'roleName' failed to satisfy "
            r"constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+",
        ),
        (
            "r" * 65,
            f"1 validation error detected: Value '{'r' * 65}' at 'roleName' failed to satisfy "
            "constraint: Member must have length less than or equal to 64",
        ),
    ],
)
def test_create_role_validates_the_role_name(lab, name, message):
    iam = lab.client("iam")
    assert error_of(
        iam.create_role, RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    ) == ("ValidationError", message, 400)
    assert role_names(lab) == []


def test_create_role_still_succeeds_for_the_blogs_role(lab):
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    stored = iam.get_role(RoleName="role-for-ec2")["Role"]["AssumeRolePolicyDocument"]
    assert stored == EC2_TRUST


def test_update_assume_role_policy_rejects_invalid_json_and_keeps_the_old_policy(lab):
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    assert error_of(
        iam.update_assume_role_policy, RoleName="role-for-ec2", PolicyDocument="{not json"
    ) == ("MalformedPolicyDocument", "This policy contains invalid Json", 400)
    stored = iam.get_role(RoleName="role-for-ec2")["Role"]["AssumeRolePolicyDocument"]
    assert stored == EC2_TRUST


def test_cli_create_role_without_file_prefix_is_invalid_json(lab, aws, tmp_path, monkeypatch):
    (tmp_path / "assume-role-policy.json").write_text(json.dumps(EC2_TRUST))
    monkeypatch.chdir(tmp_path)
    result = aws(
        "iam", "create-role", "--role-name", "role-for-ec2",
        "--assume-role-policy-document", "assume-role-policy.json",
    )
    cli_error(result, "MalformedPolicyDocument", "CreateRole", "This policy contains invalid Json")
    assert role_names(lab) == []
    created = aws(
        "iam", "create-role", "--role-name", "role-for-ec2",
        "--assume-role-policy-document", f"file://{tmp_path / 'assume-role-policy.json'}",
        check=True,
    )
    assert json.loads(created.stdout)["Role"]["RoleName"] == "role-for-ec2"


def test_cli_create_role_with_resource_in_trust_policy(aws):
    document = {"Version": "2012-10-17", "Statement": [{**EC2_TRUST["Statement"][0], "Resource": "*"}]}
    result = aws(
        "iam", "create-role", "--role-name", "role-for-ec2",
        "--assume-role-policy-document", json.dumps(document),
    )
    cli_error(result, "MalformedPolicyDocument", "CreateRole", "Has prohibited field Resource.")


def test_cli_create_role_with_invalid_name(lab, aws):
    result = aws(
        "iam", "create-role", "--role-name", "role/for/ec2",
        "--assume-role-policy-document", json.dumps(EC2_TRUST),
    )
    cli_error(
        result, "ValidationError", "CreateRole",
        "1 validation error detected: Value 'role/for/ec2' at 'roleName' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: [\w+=,.@-]+",
    )
    assert role_names(lab) == []


# -------------------------------------------- 2. AssumeRole honours the trust policy


def denied_message(lab, role_name: str) -> str:
    return (
        f"User: {lab.caller_arn} is not authorized to perform: sts:AssumeRole "
        f"on resource: {role_arn(lab, role_name)}"
    )


def test_a_user_cannot_assume_the_blogs_ec2_role(lab):
    lab.client("iam").create_role(
        RoleName="role-for-ec2", AssumeRolePolicyDocument=json.dumps(EC2_TRUST)
    )
    assert error_of(
        lab.client("sts").assume_role,
        RoleArn=role_arn(lab, "role-for-ec2"), RoleSessionName="learner",
    ) == ("AccessDenied", denied_message(lab, "role-for-ec2"), 403)


def test_a_role_that_does_not_exist_is_access_denied_too(lab):
    assert error_of(
        lab.client("sts").assume_role,
        RoleArn=role_arn(lab, "no-such-role"), RoleSessionName="learner",
    ) == ("AccessDenied", denied_message(lab, "no-such-role"), 403)


TRUSTING_THE_LEARNER = [
    {"AWS": "arn:aws:iam::123456789012:root"},
    {"AWS": "123456789012"},
    {"AWS": "arn:aws:iam::123456789012:user/learner"},
    {"AWS": ["arn:aws:iam::123456789012:user/learner"], "Service": "ec2.amazonaws.com"},
    {"AWS": "*"},
]


def test_a_role_trusting_the_caller_can_be_assumed(lab):
    for number, principal in enumerate(TRUSTING_THE_LEARNER):
        name = f"admin-{number}"
        lab.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=trust(principal))
        assumed = lab.client("sts").assume_role(RoleArn=role_arn(lab, name), RoleSessionName="me")
        assert assumed["AssumedRoleUser"]["Arn"] == (
            f"arn:aws:sts::{lab.account_id}:assumed-role/{name}/me"
        ), principal


def test_a_trust_policy_naming_another_user_refuses_the_learner(lab):
    iam = lab.client("iam")
    iam.create_user(UserName="alice")
    iam.create_role(
        RoleName="alices", AssumeRolePolicyDocument=trust({"AWS": f"arn:aws:iam::{lab.account_id}:user/alice"})
    )
    code, _, status = error_of(
        lab.client("sts").assume_role, RoleArn=role_arn(lab, "alices"), RoleSessionName="me"
    )
    assert (code, status) == ("AccessDenied", 403)


def test_an_explicit_deny_in_the_trust_policy_wins(lab):
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": lab.account_id}, "Action": "sts:AssumeRole"},
            {"Effect": "Deny", "Principal": {"AWS": lab.caller_arn}, "Action": "sts:AssumeRole"},
        ],
    }
    lab.client("iam").create_role(RoleName="admin", AssumeRolePolicyDocument=json.dumps(document))
    assert error_of(
        lab.client("sts").assume_role, RoleArn=role_arn(lab, "admin"), RoleSessionName="me"
    ) == ("AccessDenied", denied_message(lab, "admin"), 403)


def test_a_trust_condition_on_the_external_id_is_evaluated(lab):
    document = trust(
        {"AWS": lab.account_id}, Condition={"StringEquals": {"sts:ExternalId": "blog-2024"}}
    )
    lab.client("iam").create_role(RoleName="vendor", AssumeRolePolicyDocument=document)
    sts = lab.client("sts")
    code, _, _ = error_of(sts.assume_role, RoleArn=role_arn(lab, "vendor"), RoleSessionName="me")
    assert code == "AccessDenied"
    assumed = sts.assume_role(
        RoleArn=role_arn(lab, "vendor"), RoleSessionName="me", ExternalId="blog-2024"
    )
    assert assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/vendor/me")


def test_a_role_trusting_another_role_accepts_that_roles_sessions_only(lab):
    iam = lab.client("iam")
    iam.create_role(RoleName="first", AssumeRolePolicyDocument=trust({"AWS": lab.account_id}))
    iam.create_role(
        RoleName="second", AssumeRolePolicyDocument=trust({"AWS": role_arn(lab, "first")})
    )
    sts = lab.client("sts")
    code, _, _ = error_of(sts.assume_role, RoleArn=role_arn(lab, "second"), RoleSessionName="me")
    assert code == "AccessDenied"
    credentials = sts.assume_role(RoleArn=role_arn(lab, "first"), RoleSessionName="hop")["Credentials"]
    as_first = boto3.client(
        "sts",
        endpoint_url=lab.endpoint,
        region_name=lab.region,
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    chained = as_first.assume_role(RoleArn=role_arn(lab, "second"), RoleSessionName="chained")
    assert chained["AssumedRoleUser"]["Arn"].endswith(":assumed-role/second/chained")


def test_trust_evaluation_of_service_principals():
    """What the simulated agent asks: may EC2 assume a role with this trust policy?"""
    assert evaluate_trust_policy(EC2_TRUST, "ec2.amazonaws.com") == PermissionResult.PERMITTED
    assert evaluate_trust_policy(EC2_TRUST, "ssm.amazonaws.com") == PermissionResult.NEUTRAL
    assert (
        evaluate_trust_policy(EC2_TRUST, "arn:aws:iam::123456789012:user/learner")
        == PermissionResult.NEUTRAL
    )
    assert (
        evaluate_trust_policy(json.dumps(EC2_TRUST), "ec2.amazonaws.com", "sts:TagSession")
        == PermissionResult.NEUTRAL
    )


def test_cli_assume_the_blogs_ec2_role_is_access_denied(lab, aws):
    aws(
        "iam", "create-role", "--role-name", "role-for-ec2",
        "--assume-role-policy-document", json.dumps(EC2_TRUST), check=True,
    )
    result = aws(
        "sts", "assume-role", "--role-arn", role_arn(lab, "role-for-ec2"),
        "--role-session-name", "learner",
    )
    cli_error(result, "AccessDenied", "AssumeRole", denied_message(lab, "role-for-ec2"))


def test_cli_assume_a_role_trusting_the_account(lab, aws):
    aws(
        "iam", "create-role", "--role-name", "admin",
        "--assume-role-policy-document", trust({"AWS": f"arn:aws:iam::{lab.account_id}:root"}),
        check=True,
    )
    result = aws(
        "sts", "assume-role", "--role-arn", role_arn(lab, "admin"),
        "--role-session-name", "learner", check=True,
    )
    assumed = json.loads(result.stdout)["AssumedRoleUser"]["Arn"]
    assert assumed == f"arn:aws:sts::{lab.account_id}:assumed-role/admin/learner"


# ------------------------------------ with moto's IAM authentication on (2 and 3)


@pytest.fixture
def iam_auth():
    """``iam_auth()`` turns moto's IAM authentication on (the lab's server is in-process)
    until the test ends: every request is then signed-checked and judged by the caller's
    identity policies."""
    saved = settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count

    def enforce() -> None:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0

    try:
        yield enforce
    finally:
        settings.INITIAL_NO_AUTH_ACTION_COUNT, ActionAuthenticatorMixin.request_count = saved


def user_with_key(lab, name: str, policy: dict | None = None) -> dict:
    iam = lab.client("iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="own", PolicyDocument=json.dumps(policy))
    return iam.create_access_key(UserName=name)["AccessKey"]


def client_as(lab, key: dict, service: str):
    return boto3.client(
        service,
        endpoint_url=lab.endpoint,
        region_name=lab.region,
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )


def env_as(lab, key: dict) -> dict:
    return {**lab.env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}


ASSUME_ANY_ROLE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
}


def test_with_iam_auth_a_service_trust_policy_refuses_without_crashing(lab, iam_auth):
    key = user_with_key(lab, "bob", ASSUME_ANY_ROLE)
    iam = lab.client("iam")
    iam.create_role(RoleName="role-for-ec2", AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    iam.create_role(RoleName="admin", AssumeRolePolicyDocument=trust({"AWS": lab.account_id}))
    iam_auth()
    sts = client_as(lab, key, "sts")
    assert error_of(
        sts.assume_role, RoleArn=role_arn(lab, "role-for-ec2"), RoleSessionName="bob"
    ) == (
        "AccessDenied",
        f"User: arn:aws:iam::{lab.account_id}:user/bob is not authorized to perform: "
        f"sts:AssumeRole on resource: {role_arn(lab, 'role-for-ec2')}",
        403,
    )
    assumed = sts.assume_role(RoleArn=role_arn(lab, "admin"), RoleSessionName="bob")
    assert assumed["AssumedRoleUser"]["Arn"].endswith(":assumed-role/admin/bob")


# ------------------------------------------- 3. SSM's AccessDenied on the JSON protocol


def _no_ssm_user(lab) -> dict:
    # An identity policy that allows iam:ListRoles only: every SSM call is refused.
    return user_with_key(
        lab,
        "no-ssm",
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}]},
    )


def test_ssm_access_denied_reaches_boto3_as_access_denied_exception(lab, iam_auth):
    key = _no_ssm_user(lab)
    iam_auth()
    assert error_of(client_as(lab, key, "ssm").describe_parameters) == (
        "AccessDeniedException",
        f"User: arn:aws:iam::{lab.account_id}:user/no-ssm is not authorized to perform: "
        "ssm:DescribeParameters",
        403,
    )
    # A query-protocol service keeps its own shape: IAM still answers AccessDenied (XML).
    iam = client_as(lab, key, "iam")
    iam.list_roles()  # allowed by the identity policy
    assert error_of(iam.list_users) == (
        "AccessDenied",
        f"User: arn:aws:iam::{lab.account_id}:user/no-ssm is not authorized to perform: "
        "iam:ListUsers",
        403,
    )


def test_cli_ssm_access_denied_is_readable(lab, iam_auth):
    import subprocess

    key = _no_ssm_user(lab)
    iam_auth()
    result = subprocess.run(
        ["aws", "ssm", "describe-parameters"],
        env=env_as(lab, key), capture_output=True, text=True, timeout=120,
    )
    cli_error(
        result, "AccessDeniedException", "DescribeParameters",
        f"User: arn:aws:iam::{lab.account_id}:user/no-ssm is not authorized to perform: "
        "ssm:DescribeParameters",
    )


# --------------------------------- 4. RemoveRoleFromInstanceProfile: NoSuchEntity


@pytest.fixture
def profile_with_role(lab):
    iam = lab.client("iam")
    for name in ("role-for-ec2", "role-for-ssm"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(EC2_TRUST))
    iam.create_instance_profile(InstanceProfileName="for-ec2")
    iam.add_role_to_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    return iam


def test_remove_a_role_that_is_not_in_the_profile(profile_with_role):
    iam = profile_with_role
    assert error_of(
        iam.remove_role_from_instance_profile, InstanceProfileName="for-ec2", RoleName="role-for-ssm"
    ) == ("NoSuchEntity", "The role with name role-for-ssm cannot be found.", 404)
    roles = iam.get_instance_profile(InstanceProfileName="for-ec2")["InstanceProfile"]["Roles"]
    assert [role["RoleName"] for role in roles] == ["role-for-ec2"]


def test_remove_a_role_from_a_profile_that_does_not_exist(profile_with_role):
    assert error_of(
        profile_with_role.remove_role_from_instance_profile,
        InstanceProfileName="for-ssm", RoleName="role-for-ec2",
    ) == ("NoSuchEntity", "Instance Profile for-ssm cannot be found.", 404)


def test_remove_then_add_is_the_way_to_swap_the_role(profile_with_role):
    iam = profile_with_role
    iam.remove_role_from_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    iam.add_role_to_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ssm")
    roles = iam.get_instance_profile(InstanceProfileName="for-ec2")["InstanceProfile"]["Roles"]
    assert [role["RoleName"] for role in roles] == ["role-for-ssm"]


def test_cli_remove_role_not_in_profile(profile_with_role, aws):
    for profile, role, message in [
        ("for-ec2", "role-for-ssm", "The role with name role-for-ssm cannot be found."),
        ("for-ssm", "role-for-ec2", "Instance Profile for-ssm cannot be found."),
    ]:
        result = aws(
            "iam", "remove-role-from-instance-profile",
            "--instance-profile-name", profile, "--role-name", role,
        )
        cli_error(result, "NoSuchEntity", "RemoveRoleFromInstanceProfile", message)


# ------------------------------ moto's own behaviour that is right and must stay so


def test_the_second_role_is_limit_exceeded(profile_with_role, aws):
    """The blog's step 5 (docs/aws-facts.md#core-1): moto's exact message and status survive."""
    assert error_of(
        profile_with_role.add_role_to_instance_profile,
        InstanceProfileName="for-ec2", RoleName="role-for-ssm",
    ) == ("LimitExceeded", "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1", 409)
    result = aws(
        "iam", "add-role-to-instance-profile",
        "--instance-profile-name", "for-ec2", "--role-name", "role-for-ssm",
    )
    cli_error(
        result, "LimitExceeded", "AddRoleToInstanceProfile",
        "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1",
    )


def test_install_is_idempotent():
    from moto.iam.responses import IamResponse

    from ssmlab import simulation
    from ssmlab.simulation import iam_corrections

    simulation.install()
    patched = IamResponse.create_role
    assert getattr(patched, "__wrapped__", None) is not None
    iam_corrections.install()
    simulation.install()
    assert IamResponse.create_role is patched  # not wrapped twice


# ------------------------------- 5. NoSuchEntity for a role or profile: IAM's wording

MISSING = [
    ("get_role", {"RoleName": "no-such-role"}, "GetRole", ["iam", "get-role", "--role-name", "no-such-role"],
     "The role with name no-such-role cannot be found."),
    ("delete_role", {"RoleName": "no-such-role"}, "DeleteRole", ["iam", "delete-role", "--role-name", "no-such-role"],
     "The role with name no-such-role cannot be found."),
    ("attach_role_policy",
     {"RoleName": "no-such-role", "PolicyArn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"},
     "AttachRolePolicy",
     ["iam", "attach-role-policy", "--role-name", "no-such-role",
      "--policy-arn", "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"],
     "The role with name no-such-role cannot be found."),
    ("get_instance_profile", {"InstanceProfileName": "no-such-profile"}, "GetInstanceProfile",
     ["iam", "get-instance-profile", "--instance-profile-name", "no-such-profile"],
     "Instance Profile no-such-profile cannot be found."),
    ("delete_instance_profile", {"InstanceProfileName": "no-such-profile"}, "DeleteInstanceProfile",
     ["iam", "delete-instance-profile", "--instance-profile-name", "no-such-profile"],
     "Instance Profile no-such-profile cannot be found."),
]


@pytest.mark.parametrize("method, kwargs, operation, cli, message", MISSING, ids=[m[2] for m in MISSING])
def test_a_missing_role_or_profile_is_no_such_entity_in_iams_words(lab, aws, method, kwargs, operation, cli, message):
    assert error_of(getattr(lab.client("iam"), method), **kwargs) == ("NoSuchEntity", message, 404)
    cli_error(aws(*cli), "NoSuchEntity", operation, message)
