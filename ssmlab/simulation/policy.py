"""One IAM policy evaluator and one trust evaluator, as pure functions over plain data.

Every verdict about a policy in ssmlab comes from here: the simulated agent (may the role
call ``ssm:UpdateInstanceInformation``? may EC2 assume it?), ``AssumeRole``, IAM's
``SimulatePrincipalPolicy``, the lab map and the exercise checkers. Inputs are policy
documents (dicts or JSON text) and a request (action, resource, context keys); nothing
here reads moto's state, so checkers use it on a learner's draft. Wildcards are matched by
moto's own IAM matcher (:mod:`ssmlab.simulation._moto`, imported on first use).

What it models (docs/aws-facts.md#policy-evaluation, each rule with its IAM source):

- statements: ``Effect``, ``Action``/``NotAction`` (case-insensitive, ``*`` and ``?``),
  ``Resource``/``NotResource`` (case-sensitive, ``*`` and ``?``), ``Condition``;
- explicit Deny wins over any Allow; nothing allowed is an implicit deny;
- a permissions boundary caps the identity policies: both must allow (intersection), and
  an explicit Deny in either denies;
- conditions: operators of the String, Arn, Bool, Numeric, Date, IpAddress, Binary and Null
  families, their ``Not`` forms, ``...IfExists``, and the ``ForAnyValue:``/``ForAllValues:``
  set qualifiers; keys case-insensitive; a missing key makes a condition false except for
  negated operators, ``IfExists`` and ``Null``; values in a list are OR-ed, keys and
  operators AND-ed;
- trust policies: ``Principal`` (``*``, ``AWS`` account id / root ARN / user or role ARN /
  ``*``, ``Service``, ``Federated``), ``NotPrincipal`` (only with Deny, as IAM supports it),
  then the action and conditions as above.

Not modelled: policy variables (``${aws:username}``), resource-based policies other than
trust policies, SCPs and session policies.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import unquote

__all__ = [
    "ALLOWED",
    "EXPLICIT_DENY",
    "IMPLICIT_DENY",
    "Evaluation",
    "MatchedStatement",
    "PolicyInput",
    "condition_holds",
    "context_keys",
    "evaluate",
    "evaluate_role",
    "evaluate_trust",
    "parse_document",
    "principal_matches",
    "statement_applies",
    "statements",
]

# SimulatePrincipalPolicy's EvalDecision values (botocore iam model, PolicyEvaluationDecisionType).
ALLOWED = "allowed"
EXPLICIT_DENY = "explicitDeny"
IMPLICIT_DENY = "implicitDeny"

Context = Mapping[str, Any]


def _glob(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    from . import _moto

    return _moto.glob_match(pattern, value, ignore_case=ignore_case)


# ----------------------------------------------------------------------------- documents


def parse_document(document: Any) -> dict:
    """A policy as a dict, from a dict, JSON text or URL-encoded JSON (as IAM returns it).

    Raises ValueError for text that is not a JSON object.
    """
    if isinstance(document, dict):
        return document
    if isinstance(document, (bytes, bytearray)):
        document = document.decode()
    text = str(document)
    if text.lstrip().startswith("%"):
        text = unquote(text)
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("a policy is one JSON object")
    return parsed


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def statements(document: Any) -> list[dict]:
    """The statements of a policy (a single statement object counts as a list of one)."""
    return [s for s in _as_list(parse_document(document).get("Statement")) if isinstance(s, dict)]


@dataclass(frozen=True)
class PolicyInput:
    """A policy document and, for SimulatePrincipalPolicy's MatchedStatements, its origin."""

    document: Any
    id: str = ""
    type: str = "none"


@dataclass(frozen=True)
class MatchedStatement:
    """A statement that decided an evaluation: its policy and its index in that policy."""

    policy_id: str
    policy_type: str
    index: int
    effect: str


@dataclass(frozen=True)
class Evaluation:
    """The decision for one request, and why.

    ``decision`` is ``allowed``, ``explicitDeny`` or ``implicitDeny`` (IAM's words);
    ``denied_by`` says which layer denied ("identity", "boundary", or "trust" for a trust
    policy), ``allowed_by_boundary`` is None when no boundary applies; ``matched`` lists the
    statements that decided; ``missing_context`` the condition keys the policies read that
    the request context did not carry.
    """

    decision: str
    matched: tuple[MatchedStatement, ...] = ()
    missing_context: tuple[str, ...] = ()
    denied_by: str | None = None
    allowed_by_boundary: bool | None = None
    identity_allowed: bool = False

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED

    @property
    def verdict(self) -> str:
        """'allow', 'deny' (explicit, identity or trust), 'boundary' or 'neutral'."""
        if self.decision == ALLOWED:
            return "allow"
        if self.denied_by == "boundary":
            return "boundary"
        if self.decision == EXPLICIT_DENY:
            return "deny"
        return "neutral"


# ----------------------------------------------------------------------------- matching


def _action_matches(statement: dict, action: str) -> bool:
    # IAM JSON policy elements: Action — action names are case-insensitive; * and ? wildcards.
    if "NotAction" in statement:
        return not any(_glob(str(p), action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    return any(_glob(str(p), action, ignore_case=True) for p in _as_list(statement.get("Action")))


def _resource_matches(statement: dict, resource: str | None) -> bool:
    # IAM JSON policy elements: Resource / NotResource — case-sensitive, * and ? wildcards.
    # ``resource=None`` means "any resource": the element is not judged (checkers use it).
    if resource is None:
        return True
    if "NotResource" in statement:
        return not any(_glob(str(p), resource) for p in _as_list(statement["NotResource"]))
    if "Resource" not in statement:
        return True  # trust policies name no resource: the role itself
    return any(_glob(str(p), resource) for p in _as_list(statement["Resource"]))


def _lower_keys(context: Context | None) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in (context or {}).items()}


def statement_applies(
    statement: dict, action: str, resource: str | None = "*", context: Context | None = None
) -> bool:
    """Whether the statement covers the request: action, resource and every condition.

    ``Effect`` and ``Principal`` are not judged here (see :func:`evaluate`,
    :func:`evaluate_trust`).
    """
    return (
        _action_matches(statement, action)
        and _resource_matches(statement, resource)
        and condition_holds(statement.get("Condition") or {}, context)
    )


# ---------------------------------------------------------------------------- conditions


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _arn_like(pattern: str, value: str) -> bool:
    # Condition operators, ARN: each of the six colon-separated parts is matched on its own,
    # case-sensitively, with * and ? wildcards; ArnEquals and ArnLike behave the same.
    want, got = pattern.split(":", 5), value.split(":", 5)
    if len(want) == 1:
        return _glob(pattern, value)  # "*": a pattern without colons is matched whole
    if len(want) != 6 or len(got) != 6:
        return False
    return all(_glob(w, g) for w, g in zip(want, got))


def _number(value: Any) -> float:
    return float(_text(value))


def _date(value: Any) -> datetime:
    text = _text(value)
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=timezone.utc)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _ip_in(network: Any, address: Any) -> bool:
    return ipaddress.ip_address(_text(address)) in ipaddress.ip_network(_text(network), strict=False)


def _compare(convert: Callable[[Any], Any], test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    # (policy value, request value) -> bool; a value that does not parse never matches.
    def compare(policy_value: Any, request_value: Any) -> bool:
        try:
            return test(convert(request_value), convert(policy_value))
        except (TypeError, ValueError):
            return False

    return compare


# Each operator: (match(policy value, request value), negated). The negated forms are the
# complement of their positive form (Condition operators: "negated matching").
_OPERATORS: dict[str, tuple[Callable[[Any, Any], bool], bool]] = {}


def _add(name: str, match: Callable[[Any, Any], bool], negated_name: str | None = None) -> None:
    _OPERATORS[name] = (match, False)
    if negated_name:
        _OPERATORS[negated_name] = (match, True)


_add("StringEquals", lambda p, v: _text(p) == _text(v), "StringNotEquals")
_add("StringEqualsIgnoreCase", lambda p, v: _text(p).casefold() == _text(v).casefold(), "StringNotEqualsIgnoreCase")
_add("StringLike", lambda p, v: _glob(_text(p), _text(v)), "StringNotLike")
_add("ArnEquals", lambda p, v: _arn_like(_text(p), _text(v)), "ArnNotEquals")
_add("ArnLike", lambda p, v: _arn_like(_text(p), _text(v)), "ArnNotLike")
_add("Bool", lambda p, v: _text(p).lower() == _text(v).lower())
_add("BinaryEquals", lambda p, v: base64.b64decode(_text(p)) == base64.b64decode(_text(v)))
_add("NumericEquals", _compare(_number, lambda v, p: v == p), "NumericNotEquals")
_add("NumericLessThan", _compare(_number, lambda v, p: v < p))
_add("NumericLessThanEquals", _compare(_number, lambda v, p: v <= p))
_add("NumericGreaterThan", _compare(_number, lambda v, p: v > p))
_add("NumericGreaterThanEquals", _compare(_number, lambda v, p: v >= p))
_add("DateEquals", _compare(_date, lambda v, p: v == p), "DateNotEquals")
_add("DateLessThan", _compare(_date, lambda v, p: v < p))
_add("DateLessThanEquals", _compare(_date, lambda v, p: v <= p))
_add("DateGreaterThan", _compare(_date, lambda v, p: v > p))
_add("DateGreaterThanEquals", _compare(_date, lambda v, p: v >= p))
_add("IpAddress", lambda p, v: _ip_in(p, v), "NotIpAddress")


def _split_operator(operator: str) -> tuple[str | None, str, bool]:
    qualifier = None
    for prefix in ("ForAnyValue:", "ForAllValues:"):
        if operator.startswith(prefix):
            qualifier, operator = prefix[:-1], operator[len(prefix):]
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    if if_exists:
        operator = operator[: -len("IfExists")]
    return qualifier, operator, if_exists


def _key_holds(operator: str, policy_values: list, present: bool, request_values: list) -> bool:
    qualifier, base, if_exists = _split_operator(operator)
    if base == "Null":
        # Null: "true" — the key is absent; "false" — the key is present.
        return any(_text(p).lower() == ("false" if present else "true") for p in policy_values)
    entry = _OPERATORS.get(base)
    if entry is None:
        return False  # an operator IAM does not define: the condition cannot hold
    match, negated = entry

    def one(value: Any) -> bool:
        hit = any(match(p, value) for p in policy_values)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        # Set operators: true when every request value matches, and when the key is missing.
        return all(one(v) for v in request_values) if present else True
    if qualifier == "ForAnyValue":
        return any(one(v) for v in request_values) if present else False
    if not present:
        return if_exists or negated
    if negated:
        return all(one(v) for v in request_values)
    return any(one(v) for v in request_values)


def condition_holds(condition: Mapping[str, Any], context: Context | None) -> bool:
    """Whether a statement's ``Condition`` block holds for the request context.

    Operators are AND-ed, keys within an operator AND-ed, a key's values OR-ed; key names
    are case-insensitive. A context value may be a string, bool, number or list of them.
    """
    values = _lower_keys(context)
    for operator, pairs in (condition or {}).items():
        if not isinstance(pairs, Mapping):
            return False
        for key, policy_value in pairs.items():
            lowered = str(key).lower()
            present = lowered in values and _as_list(values[lowered]) != []
            request_values = _as_list(values.get(lowered))
            if not _key_holds(str(operator), _as_list(policy_value), present, request_values):
                return False
    return True


def context_keys(documents: Iterable[Any]) -> list[str]:
    """Every condition key the policies read, first spelling kept, in order."""
    seen: dict[str, str] = {}
    for document in documents:
        for statement in statements(document):
            for pairs in (statement.get("Condition") or {}).values():
                for key in pairs if isinstance(pairs, Mapping) else ():
                    seen.setdefault(str(key).lower(), str(key))
    return list(seen.values())


# ---------------------------------------------------------------------------- evaluation


def _inputs(policies: Iterable[Any]) -> list[PolicyInput]:
    result = []
    for number, policy in enumerate(policies, start=1):
        if isinstance(policy, PolicyInput):
            result.append(policy)
        elif hasattr(policy, "document") and hasattr(policy, "type"):  # _moto.SourcePolicy
            result.append(PolicyInput(policy.document, policy.id, policy.type))
        else:
            result.append(PolicyInput(policy, f"PolicyInputList.{number}"))
    return result


@dataclass
class _Scan:
    allow: list[MatchedStatement] = field(default_factory=list)
    deny: list[MatchedStatement] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)


def _scan(
    inputs: list[PolicyInput],
    action: str,
    resource: str | None,
    context: Context | None,
    principal: str | None = None,
) -> _Scan:
    scan = _Scan()
    present = _lower_keys(context)
    for policy in inputs:
        for index, statement in enumerate(statements(policy.document)):
            effect = str(statement.get("Effect", ""))
            if principal is not None and not _names_principal(statement, principal, effect):
                continue
            if not (_action_matches(statement, action) and _resource_matches(statement, resource)):
                continue
            for pairs in (statement.get("Condition") or {}).values():
                for key in pairs if isinstance(pairs, Mapping) else ():
                    if str(key).lower() not in present:
                        scan.missing.setdefault(str(key).lower(), str(key))
            if not condition_holds(statement.get("Condition") or {}, context):
                continue
            matched = MatchedStatement(policy.id, policy.type, index, effect)
            if effect == "Deny":
                scan.deny.append(matched)
            elif effect == "Allow":
                scan.allow.append(matched)
    return scan


def evaluate(
    policies: Iterable[Any],
    action: str,
    resource: str | None = "*",
    context: Context | None = None,
    *,
    boundary: Any | None = None,
) -> Evaluation:
    """IAM's decision for an identity with these identity-based ``policies``.

    ``policies`` are documents (dict or JSON text) or :class:`PolicyInput`; ``boundary`` the
    permissions boundary's document, if the identity has one. IAM policy evaluation logic:
    an explicit Deny in any policy wins; otherwise the request is allowed only when an
    identity policy allows it and, with a boundary, the boundary allows it too.
    """
    inputs = _inputs(policies)
    scan = _scan(inputs, action, resource, context)
    bound = _scan(_inputs([boundary]), action, resource, context) if boundary is not None else None
    missing = dict(scan.missing)
    if bound is not None:
        for key, spelled in bound.missing.items():
            missing.setdefault(key, spelled)
    missing_keys = tuple(missing.values())
    identity_allowed = bool(scan.allow)
    allowed_by_boundary = None if bound is None else bool(bound.allow) and not bound.deny
    if scan.deny:
        return Evaluation(EXPLICIT_DENY, tuple(scan.deny), missing_keys, "identity", allowed_by_boundary, identity_allowed)
    if bound is not None and bound.deny:
        return Evaluation(EXPLICIT_DENY, tuple(bound.deny), missing_keys, "boundary", False, identity_allowed)
    if identity_allowed and allowed_by_boundary is not False:
        return Evaluation(ALLOWED, tuple(scan.allow), missing_keys, None, allowed_by_boundary, True)
    denied_by = "boundary" if identity_allowed else None
    return Evaluation(IMPLICIT_DENY, (), missing_keys, denied_by, allowed_by_boundary, identity_allowed)


# -------------------------------------------------------------------------------- trust

_IAM_ARN = re.compile(r"arn:(?P<partition>[\w-]+):(?P<service>iam|sts)::(?P<account>\d{12}):(?P<resource>.+)")
_ACCOUNT = re.compile(r"\d{12}")


def _aws_value_matches(value: Any, principal: str) -> bool:
    if value == "*":
        return True
    caller = _IAM_ARN.fullmatch(principal)
    if caller is None or not isinstance(value, str):
        return False  # a service is never named by an "AWS" principal
    account = caller["account"]
    # An account id or its root ARN names every identity of that account (the account then
    # decides through its own identity policies; the lab trusts them).
    if value == account or value == f"arn:{caller['partition']}:iam::{account}:root":
        return True
    if value == principal:
        return True
    trusted = _IAM_ARN.fullmatch(value)
    session = caller["resource"].split("/")
    # A role ARN names the role's sessions: arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION.
    return (
        trusted is not None
        and trusted["service"] == "iam"
        and trusted["resource"].startswith("role/")
        and trusted["account"] == account
        and caller["service"] == "sts"
        and len(session) >= 3
        and session[0] == "assumed-role"
        and trusted["resource"].split("/")[-1] == session[1]
    )


def principal_matches(element: Any, principal: str) -> bool:
    """Whether a ``Principal`` element names ``principal``.

    ``principal`` is the caller's ARN (an IAM user, a role, an assumed-role session), an
    account id, or a service principal such as ``ec2.amazonaws.com``. ``"*"`` and
    ``{"AWS": "*"}`` name everyone; service principals compare exactly (AWS writes them in
    lowercase, and the lab's CreateRole accepts no other form; docs/aws-facts.md#trust-policies).
    """
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        return False
    if _ACCOUNT.fullmatch(principal):
        principal = f"arn:aws:iam::{principal}:root"
    for kind, values in element.items():
        for value in _as_list(values):
            if kind == "AWS" and _aws_value_matches(value, principal):
                return True
            if kind in ("Service", "Federated", "CanonicalUser") and value == principal:
                return True
    return False


def _names_principal(statement: dict, principal: str, effect: str) -> bool:
    if "Principal" in statement:
        return principal_matches(statement["Principal"], principal)
    if "NotPrincipal" in statement:
        # NotPrincipal is supported only with Effect Deny: everyone but the listed principals.
        return effect == "Deny" and not principal_matches(statement["NotPrincipal"], principal)
    return False  # a trust-policy statement names its principal


def _principal_context(principal: str, context: Context | None) -> dict[str, Any]:
    full = dict(context or {})
    lowered = {k.lower() for k in full}
    caller = _IAM_ARN.fullmatch(principal)
    # Global condition keys: aws:PrincipalArn and aws:PrincipalAccount are in the context of
    # every request an IAM principal signs; aws:PrincipalServiceName when a service calls.
    if caller is not None:
        if "aws:principalarn" not in lowered:
            full["aws:PrincipalArn"] = principal
        if "aws:principalaccount" not in lowered:
            full["aws:PrincipalAccount"] = caller["account"]
    elif "." in principal and "aws:principalservicename" not in lowered:
        full["aws:PrincipalServiceName"] = principal
    return full


def evaluate_trust(
    trust_policy: Any,
    principal: str,
    action: str = "sts:AssumeRole",
    context: Context | None = None,
) -> Evaluation:
    """May ``principal`` perform ``action`` (``sts:AssumeRole``) under a role's trust policy?

    A statement applies when it names the principal (``Principal``, or ``NotPrincipal``
    with Deny), covers the action and its conditions hold. Deny wins; an applicable Allow
    allows; otherwise the role is not trusted (``implicitDeny``).
    """
    inputs = [PolicyInput(trust_policy, "trust policy", "resource")]
    scan = _scan(inputs, action, None, _principal_context(principal, context), principal=principal)
    missing = tuple(scan.missing.values())
    if scan.deny:
        return Evaluation(EXPLICIT_DENY, tuple(scan.deny), missing, "trust")
    if scan.allow:
        return Evaluation(ALLOWED, tuple(scan.allow), missing, None, None, True)
    return Evaluation(IMPLICIT_DENY, (), missing, "trust")


# ------------------------------------------------------------ the offline lab's principals


def evaluate_role(
    account_id: str,
    role_name: str,
    action: str,
    resource: str | None = "*",
    context: Context | None = None,
) -> Evaluation:
    """:func:`evaluate` for a role of the offline lab: its inline and attached managed
    policies and its permissions boundary, read from moto's IAM backend (``_moto``).
    Raises moto's NoSuchEntity for a role that does not exist."""
    from . import _moto

    backend = _moto.iam_backend(account_id)
    held = _moto.role_policies(backend, backend.get_role(role_name))
    return evaluate(held.identity, action, resource, context, boundary=held.boundary)
