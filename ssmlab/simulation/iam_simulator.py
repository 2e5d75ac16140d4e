"""IAM's policy simulator, which moto 5.2.5 lacks (docs/aws-facts.md#core-7): ``SimulatePrincipalPolicy``,
``SimulateCustomPolicy``, ``GetContextKeysForPrincipalPolicy`` and
``GetContextKeysForCustomPolicy``.

``ssmlab doctor --aws`` asks IAM's policy simulator whether the caller may make each call
the lessons make; offline (and in the tests that stand in for a real account) this
module answers from the principal's real policies in moto.

IAM API reference, SimulatePrincipalPolicy
(https://docs.aws.amazon.com/IAM/latest/APIReference/API_SimulatePrincipalPolicy.html):
``PolicySourceArn`` is a user, group or role ARN ("InvalidInput" otherwise, "NoSuchEntity"
for one that does not exist); a user's simulation includes the policies of its groups;
each ``EvaluationResult`` has ``EvalActionName``, ``EvalResourceName`` (default ``*``)
and ``EvalDecision``: ``allowed``, ``explicitDeny`` or ``implicitDeny``. An explicit
Deny in any policy wins (IAM User Guide, policy evaluation logic). Action names match
case-insensitively, as on AWS.

The principal's policies are read from moto by ``_moto.principal_policies`` and judged by
the lab's one evaluator, :func:`ssmlab.simulation.policy.evaluate`
(docs/aws-facts.md#policy-evaluation): explicit Deny wins, the principal's permissions
boundary (or ``PermissionsBoundaryPolicyInputList``, which replaces it) caps what its
policies allow, ``PolicyInputList`` adds policies, and ``ContextEntries`` supply condition
keys, e.g. ``iam:PassedToService`` for ``iam:PassRole`` (IAM User Guide, "Grant a user
permissions to pass a role to an AWS service"). Each result lists its ``MatchedStatements``
(policy name and type), the condition keys the policies read that the request did not
supply (``MissingContextValues``) and, when a boundary applies,
``PermissionsBoundaryDecisionDetail``.

``SimulateCustomPolicy`` runs the same evaluation over ``PolicyInputList`` alone (a lesson
can check a learner's draft, e.g. an ``iam:PassRole`` policy, before attaching it); the
``GetContextKeysFor...`` calls list the condition keys the policies read
(:func:`ssmlab.simulation.policy.context_keys`).

Not modelled: SCPs, ``ResourcePolicy``, ``CallerArn``, ``PolicyExclusionList``,
``OrderedOrganizationPolicyInputList`` and the statements' line and column positions.
"""

from __future__ import annotations

import re

from . import _moto, policy

_installed = False
_ARN = re.compile(r"arn:[\w-]+:iam::(?P<account>\d{12}):(?P<kind>user|group|role)/(?:.*/)?(?P<name>[^/]+)")


def decide(documents: list, action: str, resource: str = "*", context: dict | None = None, boundary=None) -> str:
    """``allowed``, ``explicitDeny`` or ``implicitDeny`` for ``action`` on ``resource``."""
    return policy.evaluate(documents, action, resource, context, boundary=boundary).decision


def context_from_entries(entries: list[dict] | None) -> dict:
    """SimulatePrincipalPolicy's ContextEntries as a request context.

    A ``...List`` type keeps its values as a list; any other type takes its one value.
    """
    context: dict = {}
    for entry in entries or []:
        values = [str(v) for v in entry.get("ContextKeyValues") or []]
        kind = str(entry.get("ContextKeyType") or "string")
        context[str(entry.get("ContextKeyName") or "")] = values if kind.endswith("List") or len(values) != 1 else values[0]
    return context


def _input_documents(self, name: str) -> list[dict]:
    from ._moto import InvalidInput

    documents = []
    for number, text in enumerate(self._get_param(name) or [], start=1):
        try:
            documents.append(policy.PolicyInput(policy.parse_document(text), f"{name}.{number}", "none"))
        except ValueError:
            raise InvalidInput(f"The policy document {name}.{number} is not valid JSON.") from None
    return documents


def _matched(evaluation: policy.Evaluation) -> list[dict]:
    return [{"SourcePolicyId": m.policy_id, "SourcePolicyType": m.policy_type} for m in evaluation.matched]


def _results(self, identity: list, boundary) -> list[dict]:
    context = context_from_entries(self._get_param("ContextEntries"))
    actions = self._get_param("ActionNames") or []
    resources = self._get_param("ResourceArns") or ["*"]
    results = []
    for action in actions:
        for resource in resources:
            evaluation = policy.evaluate(identity, action, resource, context, boundary=boundary)
            result = {
                "EvalActionName": action,
                "EvalResourceName": resource,
                "EvalDecision": evaluation.decision,
                "MatchedStatements": _matched(evaluation),
                "MissingContextValues": list(evaluation.missing_context),
            }
            if evaluation.allowed_by_boundary is not None:
                result["PermissionsBoundaryDecisionDetail"] = {
                    "AllowedByPermissionsBoundary": evaluation.allowed_by_boundary
                }
            results.append(result)
    return results


def _principal(self):
    from ._moto import InvalidInput

    source = self._get_param("PolicySourceArn") or ""
    match = _ARN.fullmatch(source)
    if match is None:
        raise InvalidInput(f"Invalid ARN: {source} is not the ARN of a user, group or role.")
    return _moto.principal_policies(self.backend, match["kind"], match["name"])  # NoSuchEntity if absent


def simulate_principal_policy(self):
    from ._moto import ActionResult

    held = _principal(self)
    identity = [*held.identity, *_input_documents(self, "PolicyInputList")]
    boundaries = _input_documents(self, "PermissionsBoundaryPolicyInputList")
    results = _results(self, identity, boundaries[0] if boundaries else held.boundary)
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def simulate_custom_policy(self):
    """IAM API reference, SimulateCustomPolicy: the same evaluation over the policies given
    in PolicyInputList (and a boundary in PermissionsBoundaryPolicyInputList) alone."""
    from ._moto import ActionResult

    boundaries = _input_documents(self, "PermissionsBoundaryPolicyInputList")
    results = _results(self, _input_documents(self, "PolicyInputList"), boundaries[0] if boundaries else None)
    return ActionResult({"EvaluationResults": results, "IsTruncated": False})


def get_context_keys_for_custom_policy(self):
    """IAM API reference, GetContextKeysForCustomPolicy: the condition keys the policies read."""
    from ._moto import ActionResult

    documents = [p.document for p in _input_documents(self, "PolicyInputList")]
    return ActionResult({"ContextKeyNames": policy.context_keys(documents)})


def get_context_keys_for_principal_policy(self):
    """IAM API reference, GetContextKeysForPrincipalPolicy: the same for a principal's
    policies (a user's include its groups'), plus PolicyInputList."""
    from ._moto import ActionResult

    held = _principal(self)
    documents = [p.document for p in held.identity] + [p.document for p in _input_documents(self, "PolicyInputList")]
    return ActionResult({"ContextKeyNames": policy.context_keys(documents)})


def install() -> None:
    """Add the handler to moto's IAM response class (idempotent)."""
    global _installed
    from ._moto import IamResponse

    IamResponse.simulate_principal_policy = simulate_principal_policy
    IamResponse.simulate_custom_policy = simulate_custom_policy
    IamResponse.get_context_keys_for_custom_policy = get_context_keys_for_custom_policy
    IamResponse.get_context_keys_for_principal_policy = get_context_keys_for_principal_policy
    _installed = True
