"""The trust-policy builder's model: choices in, a trust policy and IAM's verdict out.

Plain Python (no ipywidgets): the view in ``views.py`` only lays out controls for these
choices. The document is validated with the rules the offline lab's ``CreateRole`` and
``UpdateAssumeRolePolicy`` apply — ``ssmlab.simulation.iam_corrections.validate_trust_policy``,
itself moto's ``IAMTrustPolicyDocumentValidator`` plus AWS's principal checks — so the
builder and the lab can never disagree about what IAM accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..checks import Feedback, check_trust_policy
from ..i18n import N_, _

POLICY_VERSION = "2012-10-17"

#: Service principals offered, each with the one sentence that explains choosing it
#: (docs/aws-facts.md#core-2; IAM User Guide, "AWS service principals").
SERVICES: dict[str, str] = {
    "ec2.amazonaws.com": N_(
        "EC2 may assume the role, to hand its credentials to an instance through the "
        "instance profile: what an instance's role needs."
    ),
    "ssm.amazonaws.com": N_(
        "Systems Manager itself may assume the role (hybrid activations, Default Host "
        "Management); an EC2 instance's role never needs it (lesson 07)."
    ),
    "lambda.amazonaws.com": N_(
        "Lambda may assume the role to run a function with it; nothing to do with instances."
    ),
}

#: Actions offered. Only sts: actions belong in a trust policy (IAM refuses others).
ACTIONS: dict[str, str] = {
    "sts:AssumeRole": N_(
        "the principal may ask STS for the role's temporary credentials: the action a "
        "trust policy exists to allow."
    ),
    "sts:TagSession": N_(
        "the principal may attach session tags when it assumes the role; not needed for EC2."
    ),
    "sts:SetSourceIdentity": N_(
        "the principal may set a source identity on the session, for auditing; not needed for EC2."
    ),
    "ssm:*": N_(
        "a permission, not a trust action: what the role may do belongs in a permissions "
        "policy, and IAM refuses it here."
    ),
}

DEFAULT_SERVICES = ("ec2.amazonaws.com",)
DEFAULT_ACTIONS = ("sts:AssumeRole",)


@dataclass(frozen=True)
class Applied:
    """What AWS answered to UpdateAssumeRolePolicy."""

    ok: bool
    message: str
    document: dict | None = None  # the trust policy get-role reports after the change

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.message}"


@dataclass
class TrustPolicyModel:
    """The choices of the builder and everything derived from them.

    ``account_id`` is the lab account (its root principal is offered); ``learner_arn`` the
    learner's own identity (``lab.caller_arn``). ``other_account`` is free text: a
    12-digit account id, checked by IAM's rules like every other choice.
    ``offline`` tells validation whether IAM identities can be looked up locally (the
    offline lab) or only AWS can tell whether they exist (a real account).
    """

    account_id: str = "123456789012"
    learner_arn: str | None = None
    services: list[str] = field(default_factory=lambda: list(DEFAULT_SERVICES))
    actions: list[str] = field(default_factory=lambda: list(DEFAULT_ACTIONS))
    account_root: bool = False
    learner: bool = False
    other_account: str = ""
    offline: bool = True

    # ------------------------------------------------------------------- principals

    @property
    def root_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"

    def aws_principals(self) -> list[str]:
        """The ``"AWS"`` principals chosen, in the order the controls show them."""
        chosen = []
        if self.account_root:
            chosen.append(self.root_arn)
        if self.learner and self.learner_arn:
            chosen.append(self.learner_arn)
        if self.other_account.strip():
            chosen.append(self.other_account.strip())
        return chosen

    def document(self) -> dict[str, Any]:
        """The trust policy, one statement; single values are written as strings, as AWS does."""
        principal: dict[str, Any] = {}
        services = [s for s in SERVICES if s in self.services] + [s for s in self.services if s not in SERVICES]
        if services:
            principal["Service"] = services[0] if len(services) == 1 else services
        aws = self.aws_principals()
        if aws:
            principal["AWS"] = aws[0] if len(aws) == 1 else aws
        actions = [a for a in ACTIONS if a in self.actions] + [a for a in self.actions if a not in ACTIONS]
        statement: dict[str, Any] = {"Effect": "Allow", "Principal": principal}
        if actions:
            statement["Action"] = actions[0] if len(actions) == 1 else actions
        return {"Version": POLICY_VERSION, "Statement": [statement]}

    def json(self) -> str:
        return json.dumps(self.document(), indent=2)

    # ------------------------------------------------------------------- verdicts

    def validate(self) -> Feedback:
        """IAM's verdict, by the offline lab's own CreateRole rules.

        On a real account the local lab cannot know whether an IAM user or role exists, so
        for validation those ARNs stand in as the account's root (same grammar); AWS checks
        the identity itself when the policy is applied.
        """
        from ..simulation.iam_corrections import MalformedPolicyDocument, validate_trust_policy

        document = self.document()
        deferred = []
        if not self.offline:
            document, deferred = _identities_as_roots(document)
        try:
            validate_trust_policy(json.dumps(document))
        except MalformedPolicyDocument as error:
            return Feedback(False, _("refused: MalformedPolicyDocument: {message}").format(message=error.message))
        note = _("; AWS checks that {accounts} exists when you apply it").format(accounts=", ".join(deferred)) if deferred else ""
        return Feedback(True, _("accepted{note}").format(note=note))

    def for_instance(self) -> Feedback:
        """The lessons' checker: is it the trust policy an EC2 instance's role needs?
        (Undecorated: the builder's live verdict is no exercise and records no milestone.)"""
        return check_trust_policy.__wrapped__(self.document())

    def explanations(self) -> list[str]:
        """One sentence for each choice made, in the order of the document."""
        lines = []
        for service in self.services:
            lines.append(f"{service}: {_(SERVICES.get(service, N_('an AWS service principal.')))}")
        if self.account_root:
            lines.append(
                _("{root}: any identity of account {account} whose own "
                  "permissions policies allow sts:AssumeRole on this role.").format(root=self.root_arn, account=self.account_id)
            )
        if self.learner and self.learner_arn:
            lines.append(_("{arn}: you, the lab's learner, and no other identity.").format(arn=self.learner_arn))
        other = self.other_account.strip()
        if other:
            lines.append(
                _("{other}: another account; its administrators decide which of their "
                  "identities may assume the role.").format(other=other)
            )
        for action in self.actions:
            lines.append(f"{action}: {_(ACTIONS.get(action, N_('an action.')))}")
        if not lines:
            lines.append(_("Nothing chosen yet: pick who may assume the role, and sts:AssumeRole."))
        return lines

    def shown(self, text: str) -> str:
        """``text`` as a display may show it: on a real account its id masked, unless
        ``SSMLAB_SHOW_ACCOUNT=1`` (ssmlab/privacy.py). The document applied keeps it."""
        from ..scrub import for_display

        return text if self.offline else for_display(text)

    def for_state(self, text: str) -> str:
        """``text`` for a widget trait (saved in the notebook): masked on a real account
        even with ``SSMLAB_SHOW_ACCOUNT=1`` (ssmlab/privacy.py)."""
        from ..scrub import mask_text

        return text if self.offline else mask_text(text)

    def text(self) -> str:
        """The plain-text form: the JSON, IAM's verdict, the lesson checker's, and why."""
        return self.shown("\n".join(
            [
                _("Trust policy builder"),
                self.json(),
                _("IAM (CreateRole's rules):") + f" {_marked(self.validate())}",
                _("For an EC2 instance's role:") + f" {_marked(self.for_instance())}",
                *(f"- {line}" for line in self.explanations()),
            ]
        ))

    # ------------------------------------------------------------------- AWS

    def apply(self, iam, role_name: str, *, lab=None) -> Applied:
        """``aws iam update-assume-role-policy`` on ``role_name`` and AWS's answer.

        The document is sent even when local validation refuses it: AWS's own error is the
        lesson. ``iam`` is a boto3 IAM client (``lab.client("iam")``). With ``lab``, the
        role must be the lab's (``ssmlab/ownership.py``) on a real account; if it is not,
        nothing is sent and the answer says why.
        """
        from botocore.exceptions import ClientError

        from ..errors import LabError
        from ..ownership import require

        try:
            if lab is not None:
                require(lab, "role", role_name)
            response = iam.update_assume_role_policy(RoleName=role_name, PolicyDocument=self.json())
        except LabError as error:  # not the lab's role: refused before anything is sent
            return Applied(False, str(error))
        except ClientError as error:
            err = error.response.get("Error", {})
            return Applied(False, f"{err.get('Code', 'Error')}: {err.get('Message', str(error))}")
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        stored = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
        if isinstance(stored, str):  # botocore decodes it; a URL-encoded string otherwise
            from urllib.parse import unquote

            stored = json.loads(unquote(stored))
        return Applied(True, _("UpdateAssumeRolePolicy on {role}: HTTP {status}; get-role now reports it.").format(
            role=role_name, status=status), stored)


def _marked(feedback: Feedback) -> str:
    return f"{'✓' if feedback.ok else '✗'} {feedback.message}"


def _identities_as_roots(document: dict) -> tuple[dict, list[str]]:
    """A copy with IAM user/role ARNs replaced by their account's root; the ARNs replaced."""
    copy = json.loads(json.dumps(document))
    deferred: list[str] = []
    for statement in copy["Statement"]:
        aws = statement.get("Principal", {}).get("AWS")
        if aws is None:
            continue
        values = aws if isinstance(aws, list) else [aws]
        replaced = []
        for value in values:
            parts = str(value).split(":")
            if len(parts) == 6 and parts[2] in ("iam", "sts") and parts[5] != "root":
                deferred.append(value)
                value = f"arn:{parts[1]}:iam::{parts[4]}:root"
            replaced.append(value)
        statement["Principal"]["AWS"] = replaced if isinstance(aws, list) else replaced[0]
    return copy, deferred
