"""Exercise checkers: pure functions that return a :class:`Feedback` with a specific hint.

Each checker takes what the learner wrote (a JSON text or a dict, a YAML template, a list
of commands) and the facts it is judged against, and never touches the lab: the same
answer gets the same feedback, offline or on a real account. Notebooks show the returned
``Feedback``; widgets may wrap it (STYLE.md at the repository root).

Facts behind the hints: docs/aws-facts.md#core-1, #core-2 and the IAM User Guide
("Policy elements: Version, Principal, Action, Resource").
"""

from __future__ import annotations

import json
import random
import re
import shlex
from dataclasses import dataclass
from typing import Any, Iterable

from .milestones import on_pass
from .i18n import _

__all__ = [
    "Feedback",
    "broken_trust_policy",
    "check_identity_arn",
    "check_instance_template",
    "check_pass_role_policy",
    "check_role_swap",
    "check_trust_policy",
]

POLICY_VERSION = "2012-10-17"
EC2 = "ec2.amazonaws.com"
SSM = "ssm.amazonaws.com"


@dataclass(frozen=True, repr=False)
class Feedback:
    """A verdict and the one sentence that helps most."""

    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        from .privacy import shown  # a real account's id is masked (ssmlab/privacy.py)

        verdict = _("✓ Correct") if self.ok else _("✗ Not yet")
        return shown(f"{verdict}: {self.message}")

    __repr__ = __str__


def _fail(message: str) -> Feedback:
    return Feedback(False, message)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------- identity


@on_pass('identity')
def check_identity_arn(answer: str, *, expected: str) -> Feedback:
    """Lesson 00: did the learner copy who they are (the ``Arn`` of get-caller-identity)?"""
    answer = str(answer).strip().strip('"')
    if answer == expected:
        return Feedback(True, _("that ARN names the identity every call of this lab is made as."))
    if answer in ("", "...", "Ellipsis"):
        return _fail(_("replace ... with the Arn that `aws sts get-caller-identity` printed."))
    if re.fullmatch(r"\d{12}", answer):
        return _fail(_("that is the Account: it says where you are, the Arn says who you are."))
    if answer.startswith(("AID", "AIDA", "AROA")) or re.fullmatch(r"[A-Z0-9]{16,}(:.*)?", answer):
        return _fail(_("that is the UserId (a unique id); copy the Arn, which starts with arn:aws."))
    if not answer.startswith("arn:"):
        return _fail(_("an ARN starts with 'arn:' - copy the whole Arn value."))
    return _fail(_("close, but that is not the Arn printed above; compare it with {expected}...").format(expected=expected[:13]))


# ----------------------------------------------------------------------- trust policy


def _decode(document: Any) -> tuple[Any, Feedback | None]:
    """Bytes as UTF-8 text (IAM takes policies as UTF-8), or the Feedback saying they are not."""
    if isinstance(document, (bytes, bytearray, memoryview)):
        try:
            return bytes(document).decode("utf-8"), None
        except UnicodeDecodeError as error:
            return None, _fail(
                _("these bytes are not UTF-8 text (byte {start}); save the policy as UTF-8 "
                "and read it with open(..., encoding='utf-8').").format(start=error.start)
            )
    return document, None


def _too_deep() -> Feedback:
    return _fail(_("this JSON is nested too deeply to be a policy: a policy is Version and a list of statements."))


def _load_policy(document: Any) -> tuple[dict | None, Feedback | None]:
    document, problem = _decode(document)
    if problem is not None:
        return None, problem
    if document is None:
        return None, _fail(_("the policy is None: write a JSON object { ... } (as text or a dict)."))
    if isinstance(document, str):
        if document.strip() in ("", "..."):
            return None, _fail(_("the policy is empty: write a JSON object { ... }."))
        try:
            document = json.loads(document)
        except RecursionError:
            return None, _too_deep()
        except json.JSONDecodeError as error:
            hint = ""
            if "'" in error.doc and '"' not in error.doc:
                hint = " JSON strings take double quotes, not single quotes."
            elif error.msg.startswith("Expecting property name") or "trailing" in error.msg:
                hint = " Look for a comma after the last item of an object or list."
            return None, _fail(
                _("this is not valid JSON ({msg}, line {lineno} column "
                "{colno}); IAM would answer MalformedPolicyDocument: This policy "
                "contains invalid Json.{hint}").format(msg=error.msg, lineno=error.lineno, colno=error.colno, hint=hint)
            )
    if document is Ellipsis:
        return None, _fail(_("replace ... with your policy."))
    if not isinstance(document, dict):
        return None, _fail(_("a policy is one JSON object: {\"Version\": ..., \"Statement\": [...]}."))
    return document, None


@on_pass('trust-policy')
def check_trust_policy(
    document: Any,
    *,
    for_service: str | None = EC2,
    for_principal: str | None = None,
) -> Feedback:
    """Is ``document`` a trust policy that lets ``for_service`` (or ``for_principal``) assume the role?

    ``document`` is JSON text or a dict. ``for_principal`` (an IAM ARN, e.g. the learner's
    ``lab.caller_arn``) replaces ``for_service`` when given.
    """
    policy, problem = _load_policy(document)
    if problem is not None:
        return problem
    assert policy is not None
    if "Version" not in policy:
        return _fail(
            _('add "Version": "{policy_version}" at the top. It is the policy language '
            "version, not a date you choose; without it IAM falls back to 2008-10-17.").format(policy_version=POLICY_VERSION)
        )
    if policy["Version"] != POLICY_VERSION:
        return _fail(
            _('"Version" must be exactly "{policy_version}" (the policy language version), '
            "not {policy!r}.").format(policy_version=POLICY_VERSION, policy=policy['Version'])
        )
    unknown = set(policy) - {"Version", "Statement", "Id"}
    if unknown:
        return _fail(_("a policy has only Version and Statement at the top; move or remove {unknown}.").format(unknown=sorted(unknown)))
    statements = policy.get("Statement")
    if not statements:
        return _fail(_('add a "Statement": a list with one statement {"Effect", "Principal", "Action"}.'))
    target = for_principal or for_service
    trusted = False
    for statement in _as_list(statements):
        if not isinstance(statement, dict):
            return _fail(_("each statement is a JSON object with Effect, Principal and Action."))
        problem = _check_trust_statement(statement, for_service=for_service, for_principal=for_principal)
        if problem is not None:
            return problem
        if statement["Effect"] == "Allow":
            trusted = True
    if not trusted:
        return _fail(_("no statement allows {target}: use \"Effect\": \"Allow\".").format(target=target))
    decision = trust_decision(policy, target)
    if decision == "deny":
        return _fail(
            _("a Deny statement also matches {target} assuming the role, and in IAM an explicit "
            "Deny wins over every Allow: nobody it names can assume the role. Remove the Deny.").format(target=target)
        )
    if decision != "allow":
        return _fail(_("no Allow statement lets {target} call sts:AssumeRole on this role.").format(target=target))
    services = [
        s
        for st in _as_list(statements)
        for s in _as_list((st.get("Principal") or {}).get("Service", []) if isinstance(st.get("Principal"), dict) else [])
    ]
    if for_service == EC2 and SSM in services:
        return Feedback(
            True,
            _("EC2 can assume this role. ssm.amazonaws.com is not needed for an instance's "
            "role (the blog added it; lesson 07 shows it changes nothing)."),
        )
    others = sorted(_trusted_principals(policy) - {target})
    if others:
        return Feedback(True, _("{target} may assume the role; so may {others}.").format(target=target, others=', '.join(others)))
    return Feedback(True, _("{target} may assume the role, and nobody else.").format(target=target))


# Deny wins. These functions are the checkers' one call site for judging a trust policy
# as IAM does (docs/aws-facts.md#robust-deny-wins), through the shared evaluator.


def _principal_values(principal: Any) -> list[str]:
    if principal == "*":
        return ["*"]
    if not isinstance(principal, dict):
        return []
    return [str(v) for key in ("Service", "AWS", "Federated", "CanonicalUser")
            for v in _as_list(principal.get(key, []))]


def _names_assume_role(statement: dict) -> bool:
    import fnmatch

    actions = [str(a).lower() for a in _as_list(statement.get("Action", []))]
    return any(fnmatch.fnmatchcase("sts:assumerole", pattern) for pattern in actions)


def trust_decision(policy: dict, principal: str) -> str:
    """'allow', 'deny' or 'neutral': may ``principal`` (a service or an ARN) call
    sts:AssumeRole under this trust policy? Judged by the one trust evaluator,
    ``simulation.policy.evaluate_trust`` (an explicit Deny wins over any Allow)."""
    from .simulation import policy as evaluator

    decision = evaluator.evaluate_trust(policy, principal).decision
    return {evaluator.EXPLICIT_DENY: "deny", evaluator.ALLOWED: "allow"}.get(decision, "neutral")


def _trusted_principals(policy: dict) -> set[str]:
    """Every principal an Allow statement names for sts:AssumeRole, less those denied."""
    named = set()
    for statement in _as_list(policy.get("Statement", [])):
        if isinstance(statement, dict) and statement.get("Effect") == "Allow" and _names_assume_role(statement):
            named.update(_principal_values(statement.get("Principal")))
    return {p for p in named if trust_decision(policy, p) == "allow"}


def _check_trust_statement(statement: dict, *, for_service: str | None, for_principal: str | None) -> Feedback | None:
    if "Resource" in statement or "NotResource" in statement:
        return _fail(
            _("remove Resource: in a trust policy the resource is the role itself. IAM refuses "
            "it with MalformedPolicyDocument: Has prohibited field Resource.")
        )
    effect = statement.get("Effect")
    if effect not in ("Allow", "Deny"):
        return _fail(_('"Effect" is "Allow" or "Deny", spelled exactly so, not {effect!r}.').format(effect=effect))
    if "NotPrincipal" in statement:
        return _fail(_("use Principal, not NotPrincipal: name who may assume the role."))
    if "Principal" not in statement:
        return _fail(
            _('a trust policy says who may assume the role: add "Principal", e.g. '
            '{{"Service": "{for_service}"}}.').format(for_service=for_service or EC2)
        )
    actions = [str(a) for a in _as_list(statement.get("Action", []))]
    if "Action" not in statement:
        return _fail(_('add "Action": "sts:AssumeRole" - assuming is the action being trusted.'))
    if effect == "Allow" and not any(a.lower() in ("sts:assumerole", "sts:*", "*") for a in actions):
        wrong = actions[0] if actions else ""
        if wrong.lower().startswith("sts:assumerole"):
            return _fail(_('the action is "sts:AssumeRole" exactly; {wrong!r} is not an action.').format(wrong=wrong))
        return _fail(
            _('the action is "sts:AssumeRole" (STS issues the temporary keys), not {wrong!r}: '
            "permissions such as ec2:* or ssm:* belong in a permissions policy attached to the role.").format(wrong=wrong)
        )
    if effect == "Allow" and any(a in ("*", "sts:*") for a in actions):
        return _fail(_('allow only "sts:AssumeRole"; a wildcard trusts the principal with more than assuming.'))
    return _check_principal(statement["Principal"], effect, for_service=for_service, for_principal=for_principal)


def _check_principal(principal: Any, effect: str, *, for_service: str | None, for_principal: str | None) -> Feedback | None:
    if principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS", []))):
        if effect == "Allow":
            return _fail(_('"*" lets anyone in any account assume the role: name one principal.'))
        return None
    if not isinstance(principal, dict):
        return _fail(
            _('Principal is an object such as {"Service": "ec2.amazonaws.com"} or {"AWS": "<an ARN>"}.')
        )
    unknown = set(principal) - {"Service", "AWS", "Federated", "CanonicalUser"}
    if unknown:
        return _fail(_("Principal keys are Service, AWS or Federated (case matters), not {unknown}.").format(unknown=sorted(unknown)))
    if effect != "Allow":
        return None
    services = [str(s) for s in _as_list(principal.get("Service", []))]
    arns = [str(a) for a in _as_list(principal.get("AWS", []))]
    for service in services:
        if not service.endswith(".amazonaws.com"):
            return _fail(
                _('a service principal is a full name such as "{prefix}.amazonaws.com", '
                "not {service!r}; IAM answers Invalid principal in policy.").format(prefix=(service.split(".")[0] or "ec2"), service=service)
            )
    if for_principal:
        if for_principal in arns:
            return None
        if services:
            return _fail(
                _("this trusts the service {services}, not you. To let an IAM identity assume "
                'the role, use {{"AWS": "{for_principal}"}}.').format(services=services[0], for_principal=for_principal)
            )
        return _fail(_('the principal must be your ARN: {{"AWS": "{for_principal}"}}.').format(for_principal=for_principal))
    if for_service and for_service not in services:
        if SSM in services and for_service == EC2:
            return _fail(
                _("ssm.amazonaws.com trusts Systems Manager itself (hybrid activations, Default "
                "Host Management). An instance's role is assumed by EC2 on the instance's "
                "behalf: trust ec2.amazonaws.com.")
            )
        if arns and not services:
            return _fail(
                _('{arns} is an IAM identity; a role for an instance trusts the service: '
                '{{"Service": "{for_service}"}}.').format(arns=arns[0], for_service=for_service)
            )
        return _fail(_('the principal that assumes this role is {{"Service": "{for_service}"}}.').format(for_service=for_service))
    if arns and for_service:
        return _fail(
            _("only {for_service} needs to assume this role; remove the AWS principal {arns}.").format(for_service=for_service, arns=arns[0])
        )
    return None


#: Trust policies for EC2, each with one mistake learners make (seeded exercise variants).
_BROKEN_TRUST_POLICIES = (
    # no Version
    {"Statement": [{"Effect": "Allow", "Principal": {"Service": EC2}, "Action": "sts:AssumeRole"}]},
    # a short service name
    {"Version": POLICY_VERSION, "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2"}, "Action": "sts:AssumeRole"}]},
    # a Resource, as in a permissions policy
    {"Version": POLICY_VERSION, "Statement": [{"Effect": "Allow", "Principal": {"Service": EC2}, "Action": "sts:AssumeRole", "Resource": "*"}]},
    # the wrong service
    {"Version": POLICY_VERSION, "Statement": [{"Effect": "Allow", "Principal": {"Service": SSM}, "Action": "sts:AssumeRole"}]},
    # a permission instead of sts:AssumeRole
    {"Version": POLICY_VERSION, "Statement": [{"Effect": "Allow", "Principal": {"Service": EC2}, "Action": "ec2:*"}]},
    # today's date as the Version
    {"Version": "2024-04-01", "Statement": [{"Effect": "Allow", "Principal": {"Service": EC2}, "Action": "sts:AssumeRole"}]},
)


def broken_trust_policy(seed: int | None = None) -> str:
    """A trust policy for EC2 with one typical mistake, as indented JSON; ``seed`` picks which."""
    rng = random.Random(seed)
    return json.dumps(rng.choice(_BROKEN_TRUST_POLICIES), indent=2)


# -------------------------------------------------------------------- the template


def _load_template(template: Any) -> dict:
    """Parse CloudFormation YAML (short-form tags such as !Ref kept as plain values) or JSON."""
    if isinstance(template, dict):
        return template
    if isinstance(template, (bytes, bytearray)):
        template = bytes(template).decode("utf-8")
    if not isinstance(template, str):
        raise ValueError(f"a template is YAML or JSON text, or a dict, not {type(template).__name__}")
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    def tag(loader, suffix, node):
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    _Loader.add_multi_constructor("!", tag)
    loaded = yaml.load(str(template), Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(loaded, dict):
        raise ValueError("not a template")
    return loaded


@on_pass('template')
def check_instance_template(template: Any) -> Feedback:
    """Lesson 03: does a CloudFormation template launch an instance the way the lab's does?

    Checked: an ``AWS::EC2::Instance`` with an ``IamInstanceProfile``, IMDSv2 required, no
    ``KeyName``, no inbound rule in its security groups, the AMI from the public SSM
    parameter rather than a fixed id.
    """
    import yaml

    try:
        doc = _load_template(template)
    except (yaml.YAMLError, ValueError) as error:  # the learner's to fix (UnicodeDecodeError too)
        return _fail(_("the template does not parse as YAML or JSON: {error}").format(error=str(error).splitlines()[0]))
    resources = doc.get("Resources") or {}
    if not isinstance(resources, dict):
        return _fail(_("Resources is a mapping of names to resources (Name: {Type: ..., Properties: ...}), not a list."))
    instances = {k: v for k, v in resources.items() if isinstance(v, dict) and v.get("Type") == "AWS::EC2::Instance"}
    if not instances:
        return _fail(_("there is no resource of Type AWS::EC2::Instance under Resources."))
    name, instance = next(iter(instances.items()))
    props = instance.get("Properties") or {}
    if not isinstance(props, dict):
        return _fail(_("{name}'s Properties is a mapping (IamInstanceProfile: ..., ImageId: ...).").format(name=name))
    if not props.get("IamInstanceProfile"):
        return _fail(
            _("{name} has no IamInstanceProfile: without it the instance has no role, so no "
            "credentials for Systems Manager.").format(name=name)
        )
    if "KeyName" in props:
        return _fail(
            _("remove KeyName: with Systems Manager you never need an SSH key pair (Session "
            "Manager gives a shell).")
        )
    metadata_options = props.get("MetadataOptions") or {}
    tokens = metadata_options.get("HttpTokens") if isinstance(metadata_options, dict) else None
    if tokens != "required":
        return _fail(
            _("require IMDSv2: MetadataOptions: {HttpTokens: required}. Instance metadata is where "
            "the role's credentials are served; IMDSv2 protects them.")
        )
    for resource_name, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        kind = resource.get("Type")
        rprops = resource.get("Properties") or {}
        if kind == "AWS::EC2::SecurityGroup" and isinstance(rprops, dict) and rprops.get("SecurityGroupIngress"):
            return _fail(
                _("{resource_name} has inbound rules: Systems Manager needs none, the agent "
                "only connects out (HTTPS). Remove SecurityGroupIngress.").format(resource_name=resource_name)
            )
        if kind == "AWS::EC2::SecurityGroupIngress":
            return _fail(_("remove {resource_name}: no inbound rule is needed.").format(resource_name=resource_name))
    image = props.get("ImageId")
    if isinstance(image, str) and image.startswith("ami-"):
        return _fail(
            _("a fixed AMI id ages and differs per Region; take it from the public SSM parameter "
            "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 through a "
            "parameter of type AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>.")
        )
    if isinstance(image, dict) and "Ref" in image:
        parameters = doc.get("Parameters") or {}
        parameter = (parameters.get(str(image["Ref"])) if isinstance(parameters, dict) else None) or {}
        if not isinstance(parameter, dict) or parameter.get("Type") != "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>":
            return _fail(
                _("give parameter {image} the Type AWS::SSM::Parameter::Value<AWS::EC2::Image::Id> "
                "and the public SSM parameter as its Default, so the latest AMI is used.").format(image=image['Ref'])
            )
    return Feedback(True, _("an instance with a role, IMDSv2, no key and nothing open inbound."))


# --------------------------------------------------------------------- the role swap


class _Unparsable(ValueError):
    """A command line the checker cannot read (its message is the hint)."""


def _parse_commands(commands: str | Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    if isinstance(commands, (bytes, bytearray)):
        commands = bytes(commands).decode("utf-8", "replace")
    if isinstance(commands, str):
        lines = commands.splitlines()
    elif isinstance(commands, (list, tuple)):
        lines = [str(line) for line in commands]
    else:
        raise _Unparsable(_("write the commands as text, one per line, or a list of lines, not {commands}.").format(commands=type(commands).__name__))
    parsed = []
    for number, line in enumerate(lines, 1):
        line = line.strip().lstrip("!$ ").strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            raise _Unparsable(_("line {number} has a quote that is not closed; the shell would wait for the rest.").format(number=number)) from None
        if words[:1] == ["aws"]:
            words = words[1:]
        if words[:1] == ["iam"] or words[:1] == ["ec2"]:
            words = words[1:]
        operation, options, key = (words[0] if words else ""), {}, None
        for word in words[1:]:
            if word.startswith("--"):
                key = word[2:]
                options[key] = ""
            elif key is not None:
                options[key] = word
        parsed.append((operation, options))
    return parsed


@on_pass('role-swap')
def check_role_swap(commands: str | Iterable[str], *, profile: str, old_role: str, new_role: str) -> Feedback:
    """Lesson 04: the ``aws iam`` commands, in order, that put ``new_role`` in ``profile`` instead of ``old_role``."""
    try:
        steps = _parse_commands(commands)
    except _Unparsable as problem:
        return _fail(str(problem))
    if not steps:
        return _fail(_("write the commands, one per line, e.g. aws iam ... --instance-profile-name ..."))
    for operation, options in steps:
        if operation == "update-assume-role-policy":
            return _fail(
                _("update-assume-role-policy changes who may assume a role, not which role is "
                "in the profile (that was the blog's detour).")
            )
        if operation in ("delete-role", "delete-instance-profile"):
            return _fail(_("nothing needs deleting: a role can leave a profile and still exist."))
        if operation == "create-instance-profile":
            return _fail(
                _("a second profile is another valid way out, but this exercise swaps the role "
                "inside {profile}.").format(profile=profile)
            )
        if operation in ("remove-role-from-instance-profile", "add-role-to-instance-profile"):
            if options.get("instance-profile-name") != profile:
                return _fail(_("--instance-profile-name must be {profile} in {operation}.").format(profile=profile, operation=operation))
    names = [op for op, _ in steps]
    remove = ("remove-role-from-instance-profile", {"instance-profile-name": profile, "role-name": old_role})
    add = ("add-role-to-instance-profile", {"instance-profile-name": profile, "role-name": new_role})
    if "add-role-to-instance-profile" not in names:
        return _fail(_("after the removal, add {new_role} with add-role-to-instance-profile.").format(new_role=new_role))
    if "remove-role-from-instance-profile" not in names:
        return _fail(
            _("adding alone fails with LimitExceeded: {profile} still holds {old_role}. "
            "Remove it first with remove-role-from-instance-profile.").format(profile=profile, old_role=old_role)
        )
    if names.index("add-role-to-instance-profile") < names.index("remove-role-from-instance-profile"):
        return _fail(
            _("order matters: while {old_role} is in {profile} the add fails with LimitExceeded. "
            "Remove first, then add.").format(old_role=old_role, profile=profile)
        )
    for (operation, options), (expected_op, expected) in zip(
        [s for s in steps if s[0] in (remove[0], add[0])], (remove, add)
    ):
        if options.get("role-name") != expected["role-name"]:
            return _fail(
                _("{operation} takes --role-name {expected}, not "
                "{options}.").format(operation=operation, expected=expected['role-name'], options=options.get('role-name') or 'nothing')
            )
    if len(steps) > 2:
        return _fail(_("two commands are enough: remove, then add."))
    return Feedback(True, _("{profile} now holds {new_role}; instances using {profile} get its credentials at their next credential refresh.").format(profile=profile, new_role=new_role))


# ------------------------------------------------------------------------ iam:PassRole


def _lower_keys(mapping: Any) -> dict:
    return {str(k).lower(): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}


@on_pass('pass-role')
def check_pass_role_policy(document: Any, *, role_arn: str, service: str = EC2) -> Feedback:
    """Lesson 03: a least-privilege statement that lets a person hand ``role_arn`` to ``service``.

    What AWS documents (docs/aws-facts.md#lessons-passrole): ``iam:PassRole`` is checked when
    a role is given to a service (``ec2 run-instances`` with an instance profile,
    ``associate-iam-instance-profile``, ``replace-iam-instance-profile-association``, a
    CloudFormation stack that does either); least privilege names the one role's ARN as
    the ``Resource`` and the one service in the ``iam:PassedToService`` condition key.
    Other statements (e.g. ``ec2:RunInstances``) may sit next to it.
    """
    policy, error = _load_policy(document)
    if error is not None:
        return error
    statements = [s for s in _as_list(policy.get("Statement", [])) if isinstance(s, dict)]
    if not statements:
        return _fail(_("the policy needs a Statement list with one statement for iam:PassRole."))

    def actions(statement: dict) -> list[str]:
        return [str(a).lower() for a in _as_list(statement.get("Action", []))]

    def grants(statement: dict) -> bool:
        return statement.get("Effect") == "Allow" and any(
            a in ("iam:passrole", "iam:*", "*", "iam:pass*") for a in actions(statement)
        )

    passing = [s for s in statements if grants(s)]
    if not passing:
        if any("iam:passrole" in actions(s) for s in statements):
            return _fail(_('the iam:PassRole statement needs "Effect": "Allow".'))
        return _fail(
            _("no statement allows iam:PassRole: without it run-instances with an instance profile "
            "fails with UnauthorizedOperation. Add a statement with \"Action\": \"iam:PassRole\".")
        )
    for statement in passing:
        named = actions(statement)
        if any(a in ("*", "iam:*", "iam:pass*") for a in named):
            return _fail(
                _("{statement!r} allows far more than passing a role: name the one "
                "action, \"iam:PassRole\".").format(statement=statement.get('Action'))
            )
        others = [a for a in _as_list(statement.get("Action", [])) if str(a).lower() != "iam:passrole"]
        if others:
            return _fail(
                _("keep iam:PassRole in a statement of its own: its Resource is a role, and "
                "{map} act on other resources.").format(map=', '.join(map(str, others)))
            )
        if "NotResource" in statement:
            return _fail(_("NotResource allows every other resource; name the role in Resource instead."))
        resources = [str(r) for r in _as_list(statement.get("Resource", []))]
        if not resources:
            return _fail(_('add "Resource": "{role_arn}": the role this person may hand over.').format(role_arn=role_arn))
        if any("*" in r for r in resources):
            return _fail(
                _("Resource {resources!r} lets this person hand any role matching it to a "
                "service, an administrator's role too: name the one role, \"{role_arn}\".").format(resources=resources[0], role_arn=role_arn)
            )
        if any(":instance-profile/" in r for r in resources):
            return _fail(
                _("PassRole's resource is the role, not the instance profile: use \"{role_arn}\".").format(role_arn=role_arn)
            )
        if resources != [role_arn]:
            return _fail(_("Resource must be the role's ARN, {role_arn} (it was {resources}).").format(role_arn=role_arn, resources=', '.join(resources)))
        condition = statement.get("Condition")
        if not condition:
            return _fail(
                _("add a Condition so the role can be handed to {service} only: "
                '"Condition": {{"StringEquals": {{"iam:PassedToService": "{service}"}}}}.').format(service=service)
            )
        if not isinstance(condition, dict):
            return _fail(_("Condition is an object: {\"StringEquals\": {\"iam:PassedToService\": ...}}."))
        operators = {str(k): _lower_keys(v) for k, v in condition.items()}
        found = [(op, keys["iam:passedtoservice"]) for op, keys in operators.items() if "iam:passedtoservice" in keys]
        if not found:
            return _fail(
                _("the condition key is iam:PassedToService (it names the service receiving the "
                "role): {{\"StringEquals\": {{\"iam:PassedToService\": \"{service}\"}}}}.").format(service=service)
            )
        operator, value = found[0]
        if operator not in ("StringEquals", "StringLike", "ForAnyValue:StringEquals"):
            return _fail(_("use the StringEquals operator with iam:PassedToService, not {operator}.").format(operator=operator))
        values = [str(v) for v in _as_list(value)]
        if SSM in values and service != SSM:
            return _fail(
                _("{ssm} never receives this role: EC2 does, when it launches the instance (the "
                "blog's detour again). Use {service}.").format(ssm=SSM, service=service)
            )
        if values != [service]:
            return _fail(_("iam:PassedToService must be {service} alone (it was {values}).").format(service=service, values=', '.join(values)))
    return Feedback(
        True,
        _("this person may hand {role_arn} to {service} and nothing else: "
        "no other role, no other service.").format(role_arn=role_arn.rsplit('/', 1)[-1], service=service),
    )
