"""The one place the policy evaluator and its callers reach into moto.

Two things are taken from moto, and :func:`check` (run when this module is imported)
verifies both are what this code expects, so a moto upgrade that moves them fails at once
with one sentence naming the moto version ssmlab needs:

- moto's IAM pattern matcher, ``moto.iam.access_control.IAMPolicyStatement._match``: the
  wildcard match moto's own evaluator uses for Action and Resource. :func:`glob_match`
  hands it a pattern whose literal parts are escaped, so ``*`` and ``?`` are IAM's wildcards
  and nothing else is special (docs/aws-facts.md#policy-wildcards).
- moto's IAM backend (``moto.iam.models.iam_backends``) and its ``Role``/``User``/``Group``
  objects: :func:`principal_policies` reads a principal's inline policies, attached managed
  policies (their default version) and permissions boundary as plain documents.

Everything else about policies (conditions, principals, Deny wins, boundaries) is plain
Python in :mod:`ssmlab.simulation.policy`, which imports this module lazily.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

import moto
from moto.iam.access_control import IAMPolicyStatement, PermissionResult
from moto.iam.models import IAMBackend, iam_backends

from ..errors import LabError

__all__ = [
    "PermissionResult",
    "PrincipalPolicies",
    "SourcePolicy",
    "check",
    "glob_match",
    "iam_backend",
    "principal_policies",
    "role_policies",
]

MOTO_NEEDED = "moto 5.2 (5.2.5 is the version tested)"


def check() -> None:
    """Raise LabError in one sentence if moto's matcher or IAM backend moved."""
    problems = []
    match = inspect.getattr_static(IAMPolicyStatement, "_match", None)
    if not isinstance(match, staticmethod):
        problems.append("IAMPolicyStatement._match is no longer a static method")
    else:
        probes = {("ssm:Get*", "ssm:GetParameter"): True, ("a.c", "abc"): True, ("ab", "abc"): False}
        for (pattern, value), expected in probes.items():
            if (IAMPolicyStatement._match(pattern, value) is not None) != expected:
                problems.append(f"IAMPolicyStatement._match({pattern!r}, {value!r}) changed meaning")
    if {m.name for m in PermissionResult} != {"PERMITTED", "DENIED", "NEUTRAL"}:
        problems.append("PermissionResult's members changed")
    for name in ("get_role", "get_user", "get_group", "get_groups_for_user", "get_role_by_arn"):
        if not callable(getattr(IAMBackend, name, None)):
            problems.append(f"IAMBackend.{name} is gone")
    role_init = inspect.signature(__import__("moto.iam.models", fromlist=["Role"]).Role.__init__)
    if "permissions_boundary" not in role_init.parameters:
        problems.append("Role() no longer takes permissions_boundary")
    if problems:
        raise LabError(
            f"ssmlab needs {MOTO_NEEDED}, but the installed moto {moto.__version__} differs "
            f"({'; '.join(problems)}): reinstall with `make .venv/.installed-lab`."
        )


def wrap_methods(patches) -> None:
    """Replace each ``(owner, name, make)``'s attribute by ``make(original)``, keeping the
    original as ``__wrapped__`` (so a test can reach it) and the attribute's own name."""
    for owner, name, make in patches:
        original = getattr(owner, name)
        replacement = make(original)
        replacement.__wrapped__ = original
        replacement.__name__ = name
        setattr(owner, name, replacement)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match (``*`` any run of characters, ``?`` one), by moto's matcher.

    moto's ``_match`` turns ``*`` into ``.*`` and reads the rest as a regular expression;
    the literal pieces are escaped here and ``?`` becomes ``.``, so a dot or a plus in an
    ARN is only itself.
    """
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    regex = "*".join(".".join(re.escape(piece) for piece in part.split("?")) for part in pattern.split("*"))
    matched = IAMPolicyStatement._match(regex, value)
    return matched is not None and matched.end() == len(value)


# ------------------------------------------------------------------- IAM backend reading


@dataclass(frozen=True)
class SourcePolicy:
    """A policy document with where it came from, in SimulatePrincipalPolicy's words."""

    document: dict | str  # as moto stores it; ``policy.parse_document`` reads either
    id: str  # SourcePolicyId: the policy's name
    type: str  # SourcePolicyType: user, group, role, aws-managed, user-managed, none


@dataclass(frozen=True)
class PrincipalPolicies:
    """A principal's identity-based policies and its permissions boundary, as plain data."""

    identity: tuple[SourcePolicy, ...]
    boundary: SourcePolicy | None = None


def _default_version(policy):
    version = next((v for v in policy.versions if v.is_default), None)
    return version.document if version is not None else None


def _managed(policy) -> SourcePolicy | None:
    document = _default_version(policy)
    if document is None:
        return None
    kind = "aws-managed" if policy.arn.startswith("arn:aws:iam::aws:policy/") else "user-managed"
    return SourcePolicy(document, policy.name, kind)


def iam_backend(account_id: str, partition: str = "aws") -> IAMBackend:
    """moto's IAM backend of the account (IAM is global: one per partition)."""
    return iam_backends[account_id][partition]


def _holder_policies(holder, kind: str) -> list[SourcePolicy]:
    found = [SourcePolicy(doc, name, kind) for name, doc in holder.policies.items()]
    for policy in holder.managed_policies.values():
        source = _managed(policy)
        if source is not None:
            found.append(source)
    return found


def _boundary(backend: IAMBackend, holder) -> SourcePolicy | None:
    arn = getattr(holder, "permissions_boundary_arn", None)
    if not arn:
        return None
    policy = backend.managed_policies.get(arn)
    if policy is None:  # a boundary that no longer exists allows nothing
        return SourcePolicy({"Version": "2012-10-17", "Statement": []}, arn.rsplit("/", 1)[-1], "none")
    return _managed(policy)


def role_policies(backend: IAMBackend, role) -> PrincipalPolicies:
    """A moto ``Role``'s inline and attached managed policies and its boundary."""
    return PrincipalPolicies(tuple(_holder_policies(role, "role")), _boundary(backend, role))


def principal_policies(backend: IAMBackend, kind: str, name: str) -> PrincipalPolicies:
    """Policies of the user (with its groups'), group or role ``name``; NoSuchEntity if absent."""
    if kind == "role":
        return role_policies(backend, backend.get_role(name))
    if kind == "group":
        return PrincipalPolicies(tuple(_holder_policies(backend.get_group(name), "group")))
    user = backend.get_user(name)
    found = _holder_policies(user, "user")
    for group in backend.get_groups_for_user(name):
        found += _holder_policies(group, "group")
    return PrincipalPolicies(tuple(found), _boundary(backend, user))


check()


# ------------------------------------------------- Automation (simulation/automation.py)
# What the runbook's offline model needs from moto: the serialised error and answer of
# moto's JSON protocol, its seeded uuid, the SSM response class to add handlers to, and
# the backends whose state the runbook's steps read.


def service_error(code: str) -> type:
    """An exception class moto's server answers with ``code`` (HTTP 400) and its message.

    ``str()`` is the message alone: moto's JSON serialiser falls back to ``str(error)`` for
    an empty message, which would send "Code: " where AWS sends no message at all.
    """
    from moto.core.exceptions import ServiceException

    return type(code, (ServiceException,), {"code": code, "__str__": lambda self: self.message})


def action_result(body: dict):
    """A handler's answer, serialised by moto for the request's protocol."""
    from moto.core.responses import ActionResult

    return ActionResult(body)


def seeded_uuid() -> str:
    """A uuid4 from moto's seeded generator (the lab seeds it, so ids repeat run to run)."""
    from moto.moto_api._internal import mock_random

    return str(mock_random.uuid4())


def ssm_response_class():
    """moto's SSM response class: its snake_case methods answer the JSON actions."""
    from moto.ssm.responses import SimpleSystemManagerResponse

    return SimpleSystemManagerResponse


def ssm_backend(account_id: str, region: str):
    from moto.ssm.models import ssm_backends

    return ssm_backends[account_id][region]


def ssm_backends_loaded():
    """Every SSM backend moto has made so far (for a reset)."""
    from moto.ssm.models import ssm_backends

    return [backend for account in list(ssm_backends.keys()) for backend in list(ssm_backends[account].values())]


def ec2_backend(account_id: str, region: str):
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def caller_arn(response) -> str:
    """The ARN of who signed a request (an IAM user's, or an assumed-role session's)."""
    from moto.sts.models import sts_backends

    sts = sts_backends[response.current_account]["global"]
    return sts.get_caller_identity(response.get_access_key(), response.region)[1]
# ---------------------------------------------------------------------------------------
# Accounts of a room (``ssmlab serve --attendees N``, ssmlab/room.py)
#
# moto keeps one set of backends per account id and decides a request's account from its
# access key: ``moto.core.responses.BaseResponse.get_current_account`` asks
# ``moto.iam.models.get_account_id_from``, which looks the key up in every account's
# ``IAMBackend.access_keys`` (IAM users' keys, and the keys STS hands out for a role, which
# land in the role's account) and falls back to moto's default account when no account
# holds it. A room needs the strict form of that lookup (an unknown key is no account),
# and keys the lab chose itself (``secrets``) rather than moto's seeded ones.


def account_of_access_key(access_key_id: str) -> str | None:
    """The account whose IAM backend holds ``access_key_id`` (active), or None."""
    for account_id, account in list(iam_backends.items()):
        backend = account.get("aws") if hasattr(account, "get") else None
        if backend is None:
            continue
        key = backend.access_keys.get(access_key_id)
        if key is not None and getattr(key, "status", "Active") == "Active":
            return account_id
    return None


def create_user_with_key(account_id: str, user_name: str, access_key_id: str, secret: str) -> str:
    """Create IAM user ``user_name`` in ``account_id`` holding the given access key; its ARN.

    moto's ``IAMBackend.create_access_key`` draws the key id and secret from its seeded
    random; the key is then given the id and secret the caller chose, where moto keeps it
    (the user's key list and the account's ``access_keys`` index)."""
    backend = iam_backend(account_id)
    user = backend.create_user("us-east-1", user_name)
    key = backend.create_access_key(user_name)
    del backend.access_keys[key.access_key_id]
    key.access_key_id, key.secret_access_key = access_key_id, secret
    backend.access_keys[access_key_id] = key
    return user.arn


__all__ += ["account_of_access_key", "create_user_with_key"]


def secret_of_access_key(access_key_id: str) -> str | None:
    """The secret access key moto keeps for ``access_key_id`` (any account), or None."""
    for account in list(iam_backends.values()):
        backend = account.get("aws") if hasattr(account, "get") else None
        key = backend.access_keys.get(access_key_id) if backend is not None else None
        if key is not None:
            return key.secret_access_key
    return None


__all__ += ["secret_of_access_key"]


def prepare_account(account_id: str, region: str) -> None:
    """Create the account's backends for the services of the journey now, rather than at
    its first request: moto makes them lazily, and EC2's (the default VPC, the AMIs) and
    SSM's (AWS's public parameters) take a few hundred milliseconds each, which a room
    would otherwise pay while its attendees wait. The IAM backend of every partition too:
    moto's account lookup (``get_account_id_from``) creates them on a key's first request.
    (Not CloudFormation's: moto's CloudFormation is imported in the background, without
    the grammar ``ssmlab.offline`` keeps out of it, and its backends are light.)"""
    from moto.ec2.models import ec2_backends
    from moto.iam.models import PARTITION_NAMES
    from moto.ssm.models import ssm_backends

    for partition in PARTITION_NAMES:
        iam_backends[account_id][partition]
    ec2_backends[account_id][region]
    ssm_backends[account_id][region]


__all__ += ["prepare_account"]


def refuse_members_list_accounts() -> None:
    """Organizations' ``ListAccounts`` from a member account: AWS answers
    ``AccessDeniedException`` ("can be called only from the organization's management account
    or by a member account that is a delegated administrator", Organizations API reference;
    docs/aws-facts.md#a-room-of-accounts); moto 5.2.5 answers the member's own empty list.
    Idempotent."""
    from moto.organizations.exceptions import OrganizationsClientError
    from moto.organizations.models import OrganizationsBackend, organizations_backends

    original = OrganizationsBackend.list_accounts
    if getattr(original, "_ssmlab", False):
        return

    def list_accounts(self, *args, **kwargs):
        if self.account_id in organizations_backends.master_accounts:
            raise OrganizationsClientError("AccessDeniedException",
                                           "You don't have permissions to access this resource.")
        return original(self, *args, **kwargs)

    list_accounts._ssmlab = True
    OrganizationsBackend.list_accounts = list_accounts


__all__ += ["refuse_members_list_accounts"]
