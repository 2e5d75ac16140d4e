"""Corrections to moto's IAM and STS where moto would teach the wrong thing.

moto 5.2.5 was measured against the journey (docs/aws-facts.md#core-7); each patch below
names the AWS behaviour it reproduces and where AWS documents it:

1. ``CreateRole`` validates the role name, the path and the trust policy, as AWS does
   (moto validates trust policies only on ``UpdateAssumeRolePolicy``). Both calls also
   reject malformed JSON and unknown principals with AWS's messages.
2. ``AssumeRole`` honours the role's trust policy whatever moto's auth setting, and
   never crashes on ``Service`` principals (moto's own trust check does, with IAM auth on).
3. An ``AccessDenied`` raised by moto's auth layer for a JSON-protocol service (SSM)
   reaches the client as ``AccessDeniedException`` with a readable message, not as code
   ``403`` with an XML body for a message.
4. ``RemoveRoleFromInstanceProfile`` answers ``NoSuchEntity`` (HTTP 404) for a profile
   that does not exist or a role that is not in it, instead of a Python ``ValueError``.
5. ``NoSuchEntity`` for a role or an instance profile that does not exist has IAM's
   wording in every call that names one (GetRole, DeleteRole, AttachRolePolicy,
   GetInstanceProfile, AddRoleToInstanceProfile, ...): "The role with name NAME cannot be
   found." and "Instance Profile NAME cannot be found." (moto: "Role NAME not found").

Every patch is applied by :func:`install` (idempotent). Validation and trust checks sit in
moto's request handlers, so CloudFormation and moto's internals are unaffected; on the IAM
backend, RemoveRoleFromInstanceProfile is replaced and the role and profile lookups only
reworded. Trust policies are judged by the lab's one trust evaluator,
:func:`ssmlab.simulation.policy.evaluate_trust`; :func:`evaluate_trust_policy` is its
answer in moto's ``PermissionResult``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import _moto, policy
from ._moto import MalformedPolicyDocument, PermissionResult

__all__ = [
    "MalformedPolicyDocument",
    "install",
    "evaluate_trust_policy",
    "validate_role_name",
    "validate_trust_policy",
]

_installed = False

# IAM API reference, CreateRole, request parameters: RoleName "Length Constraints: Minimum
# length of 1. Maximum length of 64. Pattern: [\w+=,.@-]+"; Path "Minimum length of 1.
# Maximum length of 512. Pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)".
# https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateRole.html
ROLE_NAME_PATTERN = r"[\w+=,.@-]+"
ROLE_NAME_MAX = 64
PATH_PATTERN = r"(\u002F)|(\u002F[\u0021-\u007E]+\u002F)"
PATH_MAX = 512

# AWS service principals are DNS-like names under amazonaws.com (IAM User Guide, "AWS
# service principals"); AWS refuses anything else, e.g. `"SERVICE":"amazonaws.com"`
# (aws-samples/aws-cdk-examples#801) or `"SERVICE":"lambda"`. AWS also refuses
# well-formed names of services that do not exist (hashicorp/terraform#35086); the lab
# has no list of every service, so it only checks the form.
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)*\.amazonaws\.com(\.cn)?")
_ACCOUNT_ID = re.compile(r"\d{12}")
_IAM_ARN = re.compile(r"arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)")


# --------------------------------------------------------------------------- validation


def validate_role_name(role_name: str, path: str | None = None) -> None:
    """Raise moto's ``ValidationError`` with AWS's wording for a bad role name or path.

    AWS checks every member constraint before the request reaches IAM and reports them
    together: ``1 validation error detected: Value 'x' at 'roleName' failed to satisfy
    constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`` (the
    wording seen in hashicorp, serverless and CDK reports of real CreateRole calls), and
    ``Member must have length less than or equal to 64`` for a long name.
    """
    from ._moto import IamValidationError as ValidationError

    problems = []
    if not re.fullmatch(ROLE_NAME_PATTERN, role_name, flags=re.ASCII):
        problems.append(_constraint(role_name, "roleName", f"Member must satisfy regular expression pattern: {ROLE_NAME_PATTERN}"))
    if len(role_name) > ROLE_NAME_MAX:
        problems.append(_constraint(role_name, "roleName", f"Member must have length less than or equal to {ROLE_NAME_MAX}"))
    if path is not None:
        if not re.fullmatch(PATH_PATTERN, path):
            problems.append(_constraint(path, "path", f"Member must satisfy regular expression pattern: {PATH_PATTERN}"))
        if len(path) > PATH_MAX:
            problems.append(_constraint(path, "path", f"Member must have length less than or equal to {PATH_MAX}"))
    if problems:
        count = len(problems)
        noun = "validation error" if count == 1 else "validation errors"
        raise ValidationError(f"{count} {noun} detected: " + "; ".join(problems))


def _constraint(value: str, member: str, rule: str) -> str:
    return f"Value '{value}' at '{member}' failed to satisfy constraint: {rule}"


def validate_trust_policy(document: str) -> None:
    """Validate a role trust policy as IAM does on CreateRole and UpdateAssumeRolePolicy.

    Raises moto's ``MalformedPolicyDocument`` with AWS's message:

    - text that is not JSON: ``This policy contains invalid Json`` (what AWS answers, e.g.
      to ``--assume-role-policy-document policy.json`` without ``file://``;
      AWSCookbook/Security#2, aws-samples/aws-microservices-deploy-options#118);
    - the policy grammar, ``Resource`` in a trust policy (``Has prohibited field
      Resource.``) and trust-policy actions: moto's own
      ``IAMTrustPolicyDocumentValidator``, the one moto runs on UpdateAssumeRolePolicy;
    - principals, which moto does not check: ``Invalid principal in policy:
      "AWS":"<arn>"`` for an IAM user or role that does not exist (IAM resolves them to
      unique ids when the policy is saved; hashicorp/terraform-provider-aws#8905) and
      ``"SERVICE":"<name>"`` for a name that is not a service principal.
    """
    from ._moto import IAMTrustPolicyDocumentValidator

    try:
        json.loads(document)
    except (TypeError, ValueError):
        raise MalformedPolicyDocument("This policy contains invalid Json") from None
    IAMTrustPolicyDocumentValidator(document).validate()
    statements = json.loads(document)["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        _validate_principals(statement)


def _validate_principals(statement: dict) -> None:
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    if not principal:
        # AWS's answer to a trust-policy statement without principals
        # (terraform-aws-modules/terraform-aws-iam#47, hashicorp/terraform-provider-aws#7756).
        raise MalformedPolicyDocument(
            "Invalid principal in policy: com.amazon.balsa.error.InvalidPolicyException: "
            "The passed in policy has a statement with no principals!"
        )
    if principal == "*":
        return
    if not isinstance(principal, dict):
        raise MalformedPolicyDocument(f"Invalid principal in policy: {json.dumps(principal)}")
    for kind, values in principal.items():
        for value in values if isinstance(values, list) else [values]:
            if not _principal_exists(kind, value):
                raise MalformedPolicyDocument(
                    f'Invalid principal in policy: "{kind.upper()}":{json.dumps(value)}'
                )


def _principal_exists(kind: str, value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    if kind == "Service":
        return _SERVICE_PRINCIPAL.fullmatch(value) is not None
    if kind in ("Federated", "CanonicalUser"):
        return True  # identity providers and S3 canonical ids: not modelled by the lab
    if kind != "AWS":
        return False
    if value == "*" or _ACCOUNT_ID.fullmatch(value):
        return True
    arn = _IAM_ARN.fullmatch(value)
    if arn is None:
        return False
    resource = arn["resource"]
    if arn["service"] == "iam" and resource == "root":
        return True  # any account: the lab cannot know which accounts exist
    if arn["service"] == "sts":
        return resource.startswith(("assumed-role/", "federated-user/"))
    try:
        backend = _moto.iam_backend(arn["account"], arn["partition"])
    except KeyError:  # not a partition moto knows
        return False
    if resource.startswith("user/"):
        return any(user.arn == value for user in backend.users.values())
    if resource.startswith("role/"):
        return any(role.arn == value for role in backend.get_roles())
    return False


# ------------------------------------------------------------------- trust evaluation


def evaluate_trust_policy(
    document: str | dict,
    principal: str,
    action: str = "sts:AssumeRole",
    context: dict[str, str] | None = None,
) -> PermissionResult:
    """Does a role's trust policy let ``principal`` perform ``action`` (sts:AssumeRole)?

    ``principal`` is either the caller's ARN (an IAM user, an assumed-role session, the
    ARN moto's ``get_caller_identity`` reports) or a service principal such as
    ``ec2.amazonaws.com``. Returns moto's ``PermissionResult``: ``DENIED`` when a Deny
    statement applies (explicit Deny wins), else ``PERMITTED`` when an Allow statement
    applies, else ``NEUTRAL`` (not trusted). Judged by the lab's one trust evaluator,
    :func:`ssmlab.simulation.policy.evaluate_trust` (docs/aws-facts.md#policy-evaluation).
    """
    decision = policy.evaluate_trust(document, principal, action, context).decision
    if decision == policy.EXPLICIT_DENY:
        return PermissionResult.DENIED
    return PermissionResult.PERMITTED if decision == policy.ALLOWED else PermissionResult.NEUTRAL


# ---------------------------------------------------------------------------- patches


def _create_role(original):
    # IAM API reference, CreateRole: RoleName/Path constraints (ValidationError) and
    # "MalformedPolicyDocument: The request was rejected because the policy document was
    # malformed." Validated before anything is stored, so nothing is half-created.
    def create_role(self):
        validate_role_name(self._get_param("RoleName") or "", self._get_param("Path"))
        validate_trust_policy(self._get_param("AssumeRolePolicyDocument") or "")
        return original(self)

    return create_role


def _update_assume_role_policy(original):
    # IAM API reference, UpdateAssumeRolePolicy: MalformedPolicyDocument. moto validates
    # the grammar already; AWS's messages for invalid JSON and unknown principals added.
    def update_assume_role_policy(self):
        validate_trust_policy(self._get_param("PolicyDocument") or "")
        return original(self)

    return update_assume_role_policy


def _assume_role(original):
    # STS API reference, AssumeRole: "the trust policy of the role ... must grant
    # permissions" to the caller; otherwise AccessDenied (HTTP 403) "User: <caller> is not
    # authorized to perform: sts:AssumeRole on resource: <role arn>". AWS gives the same
    # answer for a role that does not exist, so nothing leaks about which roles exist
    # (aws-solutions/automated-security-response-on-aws#53, localstack/localstack#8730).
    def assume_role(self):
        from ._moto import AccessDeniedError

        role_arn = self._get_param("RoleArn") or ""
        _, caller_arn, _ = self.backend.get_caller_identity(self.get_access_key(), self.region)
        context = {"aws:PrincipalArn": caller_arn}
        if self._get_param("ExternalId") is not None:
            context["sts:ExternalId"] = self._get_param("ExternalId")
        role = _find_role(role_arn)
        if role is None or evaluate_trust_policy(
            role.assume_role_policy_document, caller_arn, "sts:AssumeRole", context
        ) != PermissionResult.PERMITTED:
            raise AccessDeniedError(user_arn=caller_arn, action=f"sts:AssumeRole on resource: {role_arn}")
        return original(self)

    return assume_role


def _find_role(role_arn: str):
    from ._moto import NotFoundException

    arn = _IAM_ARN.fullmatch(role_arn)
    if arn is None or arn["service"] != "iam" or not arn["resource"].startswith("role/"):
        return None
    try:
        return _moto.iam_backend(arn["account"], arn["partition"]).get_role_by_arn(role_arn)
    except (KeyError, NotFoundException):
        return None


def _auth_layer_trust_check(original):
    # With moto's IAM auth on, moto checks trust policies itself and crashes (TypeError)
    # on Service principals and refuses account principals. The trust policy is judged
    # by the AssumeRole patch above, which runs right after auth; here moto only checks
    # the caller's identity policies, as before.
    def _check_role_trust_relationship(self, role_arn):
        return True

    return _check_role_trust_relationship


# JSON-protocol services (SSM) name these errors differently from query services: an
# identity policy that does not allow the action gives AccessDeniedException (SSM API
# reference, Common Errors); a bad key UnrecognizedClientException; a bad signature
# InvalidSignatureException.
_JSON_AUTH_CODES = {
    "AccessDenied": "AccessDeniedException",
    "InvalidClientTokenId": "UnrecognizedClientException",
    "SignatureDoesNotMatch": "InvalidSignatureException",
}


def _json_auth_errors(original):
    # moto's auth layer raises XML errors for every service; botocore's JSON parser then
    # reports code '403' with the XML as the message. Re-raise them as JSON errors for
    # services that speak JSON, keeping the HTTP status and moto's message.
    def _authenticate_and_authorize_normal_action(self, resource="*"):
        from ._moto import JsonRESTError
        from werkzeug.exceptions import HTTPException

        try:
            return original(self, resource)
        except HTTPException as error:
            error_type = getattr(error, "error_type", None)
            if error_type is None or isinstance(error, JsonRESTError) or not _moto.speaks_json(self):
                raise
            converted = JsonRESTError(_JSON_AUTH_CODES.get(error_type, error_type), error.message)
            converted.code = error.code
            raise converted from error

    return _authenticate_and_authorize_normal_action


def _remove_role_from_instance_profile(original):
    # IAM API reference, RemoveRoleFromInstanceProfile: "NoSuchEntity: The request was
    # rejected because it referenced a resource entity that does not exist. HTTP Status
    # Code: 404". Messages: "Instance Profile NAME cannot be found." (IAM's wording for a
    # missing profile, e.g. skyplane-project/skyplane#724) and "The role with name NAME
    # cannot be found." (IAM's wording for a role it cannot find; used too for a role that
    # exists but is not in the profile, where moto raised a bare ValueError).
    def remove_role_from_instance_profile(self, profile_name, role_name):
        from ._moto import NotFoundException

        profile = next((p for p in self.get_instance_profiles() if p.name == profile_name), None)
        if profile is None:
            raise NotFoundException(f"Instance Profile {profile_name} cannot be found.")
        role = next((r for r in profile.roles if r.name == role_name), None)
        if role is None:
            raise NotFoundException(f"The role with name {role_name} cannot be found.")
        profile.roles.remove(role)

    return remove_role_from_instance_profile


def _reworded_not_found(message: str):
    # IAM's NoSuchEntity messages, as AWS returns them, e.g. "An error occurred
    # (NoSuchEntity) when calling the GetRole operation: The role with name k8sAdmin cannot
    # be found." (aws-samples/amazon-eks-security-immersion-day#54; also
    # aws/amazon-sagemaker-examples#2300) and "... GetInstanceProfile operation: Instance
    # Profile NAME cannot be found." (DataBiosphere/toil#4836, skyplane-project/skyplane#724).
    def make(original):
        def lookup(self, name):
            from ._moto import NotFoundException

            try:
                return original(self, name)
            except NotFoundException:
                raise NotFoundException(message.format(name=name)) from None

        return lookup

    return make


def install() -> None:
    """Apply the corrections to moto's classes, once per process."""
    global _installed
    if _installed:
        return
    from ._moto import ActionAuthenticatorMixin, IAMBackend, IamResponse, IAMRequestBase, TokenResponse

    patches = [
        (IamResponse, "create_role", _create_role),
        (IamResponse, "update_assume_role_policy", _update_assume_role_policy),
        (TokenResponse, "assume_role", _assume_role),
        (IAMRequestBase, "_check_role_trust_relationship", _auth_layer_trust_check),
        (ActionAuthenticatorMixin, "_authenticate_and_authorize_normal_action", _json_auth_errors),
        (IAMBackend, "remove_role_from_instance_profile", _remove_role_from_instance_profile),
        (IAMBackend, "get_role", _reworded_not_found("The role with name {name} cannot be found.")),
        (IAMBackend, "get_instance_profile", _reworded_not_found("Instance Profile {name} cannot be found.")),
    ]
    _moto.wrap_methods(patches)
    _installed = True
