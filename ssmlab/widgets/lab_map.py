"""The lab map's model: is each link of role → instance → Systems Manager whole, and why not.

The chain, in the order a credential travels (docs/aws-facts.md#core-2, #core-4, #core-5):

    role ↔ trust policy ↔ permissions policies ↔ instance profile ↔ EC2 instance ↔ Systems Manager

What exists is read the same way offline and on a real account, through the lab's clients
(``iam get-role``, ``list-attached-role-policies``, ``list-role-policies``,
``get-instance-profile``, ``ec2 describe-iam-instance-profile-associations``). The verdicts
come from different places:

- both modes judge policies with the lab's one evaluator, ``simulation.policy``
  (``evaluate_trust`` for the trust policy, ``evaluate`` for the permissions);
- offline, the role's policies and boundary are read from the simulation
  (``policy.evaluate_role``) and Systems Manager from ``agent.observe`` (its ordered checks);
- on a real account, the policy documents AWS returns, and ``ssm describe-instance-information``'s
  PingStatus.

Plain Python (no ipywidgets): the view in ``views.py`` draws :attr:`LabMapModel.links`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote

from ..i18n import N_, _

EC2 = "ec2.amazonaws.com"
REGISTRATION = "ssm:UpdateInstanceInformation"

ROLE = N_("role")
TRUST = N_("trust policy")
PERMISSIONS = N_("permissions policies")
PROFILE = N_("instance profile")
INSTANCE = N_("EC2 instance")
SYSTEMS_MANAGER = N_("Systems Manager")
CHAIN = (ROLE, TRUST, PERMISSIONS, PROFILE, INSTANCE, SYSTEMS_MANAGER)


@dataclass(frozen=True)
class Link:
    """One element of the chain: whether it holds, and the reason in one line."""

    name: str
    ok: bool
    reason: str

    def __str__(self) -> str:
        return f"{'✓' if self.ok else '✗'} {_(self.name):<21}{self.reason}"


@dataclass
class Facts:
    """What the lab's APIs report about the chain (the same calls offline and on AWS)."""

    role: dict | None = None
    trust: dict | None = None
    attached: list[dict] = field(default_factory=list)  # [{"PolicyName", "PolicyArn"}]
    inline: list[str] = field(default_factory=list)
    documents: dict[str, dict] = field(default_factory=dict)  # policy name -> document
    profile: dict | None = None
    instance_id: str | None = None
    instance_state: str | None = None
    managed: dict | None = None  # describe-instance-information's entry, real accounts


def _document(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    return json.loads(unquote(str(value)))


def _missing(error) -> bool:
    return error.response.get("Error", {}).get("Code") in ("NoSuchEntity", "NoSuchEntityException")


def gather(lab, role: str, profile: str, *, with_documents: bool) -> Facts:
    """Ask the lab's APIs what exists; ``with_documents`` also fetches policy documents."""
    from botocore.exceptions import ClientError

    iam, ec2 = lab.client("iam"), lab.client("ec2")
    facts = Facts()
    try:
        facts.role = iam.get_role(RoleName=role)["Role"]
        facts.trust = _document(facts.role["AssumeRolePolicyDocument"])
    except ClientError as error:
        if not _missing(error):
            raise
    if facts.role is not None:
        facts.attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        facts.inline = iam.list_role_policies(RoleName=role)["PolicyNames"]
        if with_documents:
            for policy in facts.attached:
                arn = policy["PolicyArn"]
                version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
                doc = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
                facts.documents[policy["PolicyName"]] = _document(doc)
            for name in facts.inline:
                doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
                facts.documents[name] = _document(doc)
    try:
        facts.profile = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]
    except ClientError as error:
        if not _missing(error):
            raise
    if facts.profile is not None:
        arn = facts.profile["Arn"]
        associations = ec2.describe_iam_instance_profile_associations()["IamInstanceProfileAssociations"]
        using = [a for a in associations if a["IamInstanceProfile"]["Arn"] == arn and a["State"] == "associated"]
        if using:
            facts.instance_id = sorted(a["InstanceId"] for a in using)[0]
            found = ec2.describe_instances(InstanceIds=[facts.instance_id])["Reservations"]
            facts.instance_state = found[0]["Instances"][0]["State"]["Name"] if found else None
    return facts


# ----------------------------------------------------------------------------- verdicts


def role_link(facts: Facts, role: str) -> Link:
    if facts.role is None:
        return Link(ROLE, False, _("no role {role} (lesson 02 creates it)").format(role=role))
    return Link(ROLE, True, _("{role} exists").format(role=role))


def trust_link(facts: Facts, role: str) -> Link:
    """May EC2 assume the role? Judged by the simulation's trust evaluation (both modes)."""
    from ..simulation import policy

    if facts.trust is None:
        return Link(TRUST, False, _("no role, so no trust policy"))
    verdict = policy.evaluate_trust(facts.trust, EC2).decision
    services = sorted(
        {
            s
            for st in _as_list(facts.trust.get("Statement", []))
            if isinstance(st.get("Principal"), dict)
            for s in _as_list(st["Principal"].get("Service", []))
        }
    )
    if verdict == policy.ALLOWED:
        others = [s for s in services if s != EC2]
        extra = _(" (also trusts {others}: not needed by an instance)").format(others=", ".join(others)) if others else ""
        return Link(TRUST, True, _("{ec2} may call sts:AssumeRole{extra}").format(ec2=EC2, extra=extra))
    if verdict == policy.EXPLICIT_DENY:
        return Link(TRUST, False, _("explicitly denies {ec2}: EC2 cannot give the role to an instance").format(ec2=EC2))
    named = _("it trusts {services}").format(services=", ".join(services)) if services else _("it names no service")
    return Link(TRUST, False, _("{ec2} may not assume {role} ({named}): EC2 cannot give it to an instance").format(ec2=EC2, role=role, named=named))


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _policy_names(facts: Facts) -> str:
    names = [p["PolicyName"] for p in facts.attached] + [_("{name} (inline)").format(name=n) for n in facts.inline]
    return ", ".join(names)


def permissions_link(facts: Facts, verdict: str) -> Link:
    """``verdict`` is 'allow', 'deny', 'boundary' or 'neutral' for ssm:UpdateInstanceInformation."""
    if facts.role is None:
        return Link(PERMISSIONS, False, _("no role, so no permissions"))
    names = _policy_names(facts)
    if verdict == "allow":
        return Link(PERMISSIONS, True, _("{names} allows {registration}").format(names=names, registration=REGISTRATION))
    if verdict == "deny":
        return Link(PERMISSIONS, False, _("a policy explicitly denies {registration} ({names})").format(registration=REGISTRATION, names=names))
    if verdict == "boundary":
        return Link(PERMISSIONS, False, _("the permissions boundary does not allow {registration}").format(registration=REGISTRATION))
    having = _("attached: {names}").format(names=names) if names else _("no policy attached")
    return Link(PERMISSIONS, False, _("role lacks {registration} ({having})").format(registration=REGISTRATION, having=having))


def profile_link(facts: Facts, role: str, profile: str) -> Link:
    if facts.profile is None:
        return Link(PROFILE, False, _("no instance profile {profile} (lesson 02 creates it)").format(profile=profile))
    held = [r["RoleName"] for r in facts.profile.get("Roles", [])]
    if not held:
        return Link(PROFILE, False, _("{profile} holds no role").format(profile=profile))
    if role not in held:
        return Link(PROFILE, False, _("{profile} holds {held}, not {role}").format(profile=profile, held=held[0], role=role))
    return Link(PROFILE, True, _("{profile} holds {role}").format(profile=profile, role=role))


def instance_link(facts: Facts, profile: str) -> Link:
    if facts.instance_id is None:
        return Link(INSTANCE, False, _("no instance uses {profile} (lesson 03 launches one)").format(profile=profile))
    if facts.instance_state != "running":
        return Link(INSTANCE, False, _("{instance_id} is {instance_state}: only running instances are managed").format(instance_id=facts.instance_id, instance_state=facts.instance_state))
    return Link(INSTANCE, True, _("{instance_id} is running with {profile}").format(instance_id=facts.instance_id, profile=profile))


def allows(documents: list[dict], action: str) -> str:
    """'allow', 'deny' or 'neutral' for ``action`` on any resource, by the lab's one policy
    evaluator (``simulation.policy``; docs/aws-facts.md#policy-evaluation)."""
    from ..simulation import policy

    return policy.evaluate(documents, action, "*").verdict


def _agent_reason(state) -> str:
    """The simulated agent's first failed check, in the words of the map."""
    from ..simulation import agent

    failed = state.failed_checks
    lost = _("ConnectionLost (heartbeats late): ") if state.ping_status == "ConnectionLost" else ""
    if not failed:
        return lost + _("the agent has not registered ({phase})").format(phase=state.agent_phase)
    check = failed[0]
    if check.name == agent.CHECK_REGISTRATION and "AccessDenied" in check.detail:
        # The credential refresher sleeps 25-30 minutes (docs/aws-facts.md#time-and-the-agent-clock).
        return lost + _("the agent was refused {registration} (AccessDeniedException) and backs off").format(registration=REGISTRATION)
    return lost + f"{check.name}: {check.detail.split('; ')[0]}"


@dataclass
class LabMapModel:
    """The chain for the lab's ``role`` and ``profile``; :meth:`refresh` re-reads it.

    ``lab`` is a started lab (``ssmlab.start()``); ``role`` and ``profile`` default to the
    lessons' names (``replay.names``). ``offline`` defaults to the lab's mode; forcing
    ``offline=False`` on an offline lab exercises the real-account path against moto.
    """

    lab: Any
    role: str | None = None
    profile: str | None = None
    offline: bool | None = None
    links: list[Link] = field(default_factory=list)
    listeners: list[Callable[["LabMapModel"], None]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        from ..replay import names

        lesson_names = names(self.lab)
        self.role = self.role or lesson_names["ROLE"]
        self.profile = self.profile or lesson_names["PROFILE"]
        if self.offline is None:
            self.offline = self.lab.offline

    def refresh(self) -> list[Link]:
        """Read the lab again and recompute every link; listeners (views) are told."""
        facts = gather(self.lab, self.role, self.profile, with_documents=not self.offline)
        self.links = self._offline_links(facts) if self.offline else self._aws_links(facts)
        for listener in list(self.listeners):
            listener(self)
        return self.links

    @property
    def ok(self) -> bool:
        return bool(self.links) and all(link.ok for link in self.links)

    def link(self, name: str) -> Link:
        return next(link for link in self.links if link.name == name)

    def _offline_links(self, facts: Facts) -> list[Link]:
        from ..simulation import agent, policy

        verdict = "neutral"
        if facts.role is not None:  # the lab's role, read from moto in this process
            resource = f"arn:aws:ec2:{self.lab.region}:{self.lab.account_id}:instance/{facts.instance_id or '*'}"
            context = {"aws:SourceAccount": self.lab.account_id, "aws:RequestedRegion": self.lab.region}
            verdict = policy.evaluate_role(self.lab.account_id, self.role, REGISTRATION, resource, context).verdict
        links = self._structure(facts, verdict)
        if facts.instance_id is None:
            managed = Link(SYSTEMS_MANAGER, False, _("no instance to manage"))
        else:
            state = agent.observe(self.lab.account_id, self.lab.region, facts.instance_id)
            if state.ping_status == "Online":
                managed = Link(SYSTEMS_MANAGER, True, _("{instance_id} is a managed instance (Online)").format(instance_id=facts.instance_id))
            else:
                managed = Link(SYSTEMS_MANAGER, False, _("not managed: {reason}").format(reason=_agent_reason(state)))
        return links + [managed]

    def _aws_links(self, facts: Facts) -> list[Link]:
        verdict = allows(list(facts.documents.values()), REGISTRATION)
        links = self._structure(facts, verdict)
        if facts.instance_id is None:
            return links + [Link(SYSTEMS_MANAGER, False, _("no instance to manage"))]
        info = self.lab.client("ssm").describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": [facts.instance_id]}]
        )["InstanceInformationList"]
        ping = info[0].get("PingStatus") if info else None
        if ping == "Online":
            return links + [Link(SYSTEMS_MANAGER, True, _("{instance_id} is a managed instance (Online)").format(instance_id=facts.instance_id))]
        if ping:
            return links + [Link(SYSTEMS_MANAGER, False, _("{instance_id} is {ping} in Systems Manager").format(instance_id=facts.instance_id, ping=ping))]
        broken = next((link for link in links if not link.ok), None)
        why = _("; first broken link: {name}").format(name=_(broken.name)) if broken else _(
            "; a refused agent may wait up to 30 minutes: reboot the instance to retry now"
        )
        return links + [Link(SYSTEMS_MANAGER, False, _("not in describe-instance-information{why}").format(why=why))]

    def _structure(self, facts: Facts, verdict: str) -> list[Link]:
        return [
            role_link(facts, self.role),
            trust_link(facts, self.role),
            permissions_link(facts, verdict),
            profile_link(facts, self.role, self.profile),
            instance_link(facts, self.profile),
        ]

    def shown(self, text: str) -> str:
        """``text`` as a display may show it: a real account's id masked (ssmlab/privacy.py)."""
        from ..privacy import shown

        return shown(text, self.lab)

    def for_state(self, text: str) -> str:
        """``text`` for a widget trait (saved in the notebook): always masked on a real account."""
        from ..privacy import for_state

        return for_state(text, self.lab)

    def text(self) -> str:
        mode = _("offline lab") if self.lab.offline else _("real AWS account")
        head = _("Lab map ({mode}, account {account}, {region}):").format(
            mode=mode, account=self.lab.account_id, region=self.lab.region)
        if not self.links:
            return self.shown(_("{head} not read yet: call refresh()").format(head=head))
        return self.shown("\n".join([head, *(str(link) for link in self.links)]))
