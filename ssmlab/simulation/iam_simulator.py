"""IAM ``SimulatePrincipalPolicy``, which moto 5.2.5 lacks (AWS-FACTS.md §7).

``ssmlab doctor --aws`` asks IAM's policy simulator whether the caller may make each call
the lessons make; offline (and in the tests that stand in for a real account) this
module answers from the principal's real policies in moto, judged by moto's own
evaluator ``moto.iam.access_control.IAMPolicy``.

IAM API reference, SimulatePrincipalPolicy
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html):
``PolicySourceArn`` is a user, group or role ARN ("InvalidInput" otherwise, "NoSuchEntity"
for one that does not exist); a user's simulation includes the policies of its groups;
each ``EvaluationResult`` has ``EvalActionName``, ``EvalResourceName`` (default ``*``)
and ``EvalDecision``: ``allowed``, ``explicitDeny`` or ``implicitDeny``. An explicit
Deny in any policy wins (IAM User Guide, policy evaluation logic). Action names match
case-insensitively, as on AWS (moto's evaluator is case-sensitive, so both sides are
lower-cased first).

Not modelled: permissions boundaries, SCPs, resource policies, context keys
(``ContextEntries``) and ``PolicyInputList``.
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

_installed = False
_ARN = re.compile(r"arn:[\w-]+:iam::(?P<account>\d{12}):(?P<kind>user|group|role)/(?:.*/)?(?P<name>[^/]+)")


def _lower_actions(document: str) -> str:
    policy = json.loads(unquote(document) if document.lstrip().startswith("%") else document)
    statements = policy.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        for key in ("Action", "NotAction"):
            if isinstance(statement.get(key), str):
                statement[key] = statement[key].lower()
            elif isinstance(statement.get(key), list):
                statement[key] = [a.lower() for a in statement[key]]
    return json.dumps(policy)


def _documents(backend, kind: str, name: str) -> list[str]:
    """Every identity policy document of the principal (and, for a user, its groups)."""
    if kind == "user":
        holders = [backend.get_user(name), *backend.get_groups_for_user(name)]
    elif kind == "group":
        holders = [backend.get_group(name)]
    else:
        holders = [backend.get_role(name)]
    documents = []
    for holder in holders:
        documents.extend(holder.policies.values())
        for policy in holder.managed_policies.values():
            version = next(v for v in policy.versions if v.is_default)
            documents.append(version.document)
    return documents


def decide(documents: list[str], action: str, resource: str = "*") -> str:
    """``allowed``, ``explicitDeny`` or ``implicitDeny`` for ``action`` on ``resource``."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    allowed = False
    for document in documents:
        result = IAMPolicy(_lower_actions(document)).is_action_permitted(action.lower(), resource)
        if result == PermissionResult.DENIED:
            return "explicitDeny"
        allowed = allowed or result == PermissionResult.PERMITTED
    return "allowed" if allowed else "implicitDeny"


def simulate_principal_policy(self):
    from moto.core.responses import ActionResult
    from moto.iam.exceptions import InvalidInput

    source = self._get_param("PolicySourceArn") or ""
    match = _ARN.fullmatch(source)
    if match is None:
        raise InvalidInput(f"Invalid ARN: {source} is not the ARN of a user, group or role.")
    documents = _documents(self.backend, match["kind"], match["name"])  # NoSuchEntity if absent
    actions = self._get_param("ActionNames") or []
    resources = self._get_param("ResourceArns") or ["*"]
    results = [
        {
            "EvalActionName": action,
            "EvalResourceName": resource,
            "EvalDecision": decide(documents, action, resource),
            "MatchedStatements": [],
            "MissingContextValues": [],
        }
        for action in actions
        for resource in resources
    ]
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def install() -> None:
    """Add the handler to moto's IAM response class (idempotent)."""
    global _installed
    from moto.iam.responses import IamResponse

    IamResponse.simulate_principal_policy = simulate_principal_policy
    _installed = True
