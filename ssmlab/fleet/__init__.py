"""Fix the fleet: instances each kept from Systems Manager by one cause, graded honestly.

    from ssmlab import fleet
    f = fleet.build(lab, seed=7)        # 8 instances, causes drawn by the seed
    print(f)                            # members, causes hidden
    for g in fleet.grade(lab, f): print(g.line())
    fleet.hint(lab, f, "node-03", 1)    # narrows; level 2 names the cause
    print(fleet.answers(f))             # the facilitator's key: a shell script

The fleet's state lives on the AWS side only, so any process can judge it: the VPC carries
the seed (tag ``ssmlab:fleet-seed``) and the instances it was launched with
(``ssmlab:fleet-instances``); each instance carries ``ssmlab:fleet-member``. The causes are
derived from the seed again (:func:`draw`), never stored. :func:`load` reads it back.

A member is *fixed* when Systems Manager lists it Online and Session Manager can connect to
it (``GetConnectionStatus`` ``connected``); the fix is *acceptable* when no role the
instance acts as holds AdministratorAccess, the deprecated AmazonEC2RoleforSSM or a
policy allowing ``"Action": "*"``, no security group of the instance is open on all ports,
and the instance is the one the fleet launched. Every fact: docs/aws-facts.md, "The fleet's
causes".
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from .. import progress
from ..errors import LabError
from ..i18n import N_, _
from ..naming import TAG_KEY
from . import template as tpl
from .causes import ADMIN_POLICY, BY_KEY, CAUSES, CORE, DEPRECATED_POLICY, ENDPOINT_SERVICES, Cause, Spec

__all__ = ["CAUSES", "Cause", "Fleet", "Grade", "Member", "answers", "build", "draw", "grade", "hint", "load"]

SIZE = 8
MEMBERS = tuple(f"node-{n:02d}" for n in range(1, SIZE + 1))
DHMC_SETTING = "/ssm/managed-instance/default-ec2-instance-management-role"
ALL_FIXED = "fleet-all-fixed"

for _member in MEMBERS:
    progress.register(f"fleet-{_member}-fixed", N_("Fleet: {member} fixed"), member=_member)
progress.register(ALL_FIXED, N_("Fleet: every instance fixed"))


def _rank(seed: int, slot: int, key: str) -> bytes:
    """Where ``key`` stands for member slot ``slot`` of ``seed``: lower comes first."""
    return hashlib.sha256(f"{seed}:{slot}:{key}".encode()).digest()


def draw(seed: int, *, real_account: bool = False) -> list[tuple[str, Cause]]:
    """The members and their causes for ``seed``: SIZE distinct causes, at most one of each
    group (causes that change the same VPC- or account-wide setting), deterministic.

    Each member slot in turn (slot 0 is ``node-01``) takes, of the causes not yet drawn and not
    of a group already drawn, the one whose ``sha256(f"{seed}:{slot}:{key}")`` is smallest
    (rendezvous hashing; on a real account only causes with ``real_account``). A cause's
    rank depends on the seed, the slot and its own key only, never on the catalogue's order
    or size, so appending a cause to :data:`CAUSES` leaves the draw of every seed it does
    not enter exactly as it was, and where it enters, every member before its
    slot keeps its cause (tests/test_fleet_draw.py). A shuffle of the whole catalogue, by
    contrast, re-draws every seed when one cause is added."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise LabError(_("A fleet's seed is a whole number, 0 or more, such as 7; not {seed!r}.").format(seed=seed))
    pool = [c for c in CAUSES if c.real_account or not real_account]
    chosen: list[Cause] = []
    for slot in range(SIZE):
        keys, groups = {c.key for c in chosen}, {c.group for c in chosen if c.group is not None}
        candidates = [c for c in pool if c.key not in keys and (c.group is None or c.group not in groups)]
        if not candidates:
            break
        chosen.append(min(candidates, key=lambda c: _rank(seed, slot, c.key)))
    return list(zip(MEMBERS, chosen))


@dataclass
class Member:
    name: str  #: node-01 ...
    instance_id: str  #: the instance the fleet launched
    cause_key: str = field(repr=False)  #: hidden from displays; read it to check yourself
    resources: dict = field(default_factory=dict, repr=False)

    @property
    def cause(self) -> Cause:
        return BY_KEY[self.cause_key]


@dataclass
class Fleet:
    seed: int
    vpc_id: str
    members: list[Member]

    def member(self, name: str) -> Member:
        for member in self.members:
            if name in (member.name, member.instance_id):
                return member
        raise LabError(_("The fleet has no member {name!r}: its members are {names}.").format(
            name=name, names=", ".join(m.name for m in self.members)))

    def show(self, *, causes: bool = False) -> str:
        lines = [_("Fleet of seed {seed}: {n} instances").format(seed=self.seed, n=len(self.members))]
        for m in self.members:
            lines.append(f"  {m.name}  {m.instance_id}" + (f"  {m.cause_key}" if causes else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.show()


@dataclass(frozen=True)
class Grade:
    name: str
    instance_id: str
    fixed: bool  #: Online, and Session Manager connects
    problems: tuple[str, ...]  #: why the change is not acceptable
    verdict: str

    @property
    def acceptable(self) -> bool:
        return not self.problems

    @property
    def passed(self) -> bool:
        return self.fixed and self.acceptable

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        return f"{mark}  {self.name}  {self.instance_id}  {self.verdict}"


# ---------------------------------------------------------------------------------------
# Building


def _specs(drawn: list[tuple[str, Cause]]) -> list[tuple[str, Spec]]:
    out = []
    for member, cause in drawn:
        spec = Spec()
        cause.apply(spec)
        out.append((member, spec))
    return out


def _find_vpc(lab):
    vpcs = lab.client("ec2").describe_vpcs(Filters=[
        {"Name": "tag-key", "Values": [tpl.SEED_TAG]},
        {"Name": f"tag:{TAG_KEY}", "Values": [lab.tags[0]["Value"]]},
    ])["Vpcs"]
    return vpcs[0] if vpcs else None


def _let_the_agents_try(lab) -> None:
    """Until each new agent has made its first attempt: offline every request moves the lab
    clock one second (the agent starts one second after launch); on AWS, 3 minutes."""
    if lab.offline:
        sts = lab.client("sts")
        for _i in range(3):
            sts.get_caller_identity()
    else:
        lab.wait(minutes=3)


def template_for(lab, seed: int) -> dict:
    """The fleet's CloudFormation template for ``seed`` in this lab (names, tags)."""
    drawn = draw(seed, real_account=not lab.offline)
    dhmc = lab.name("fleet-dhmc-role") if any(c.key == "dhmc-role-without-policy" for _, c in drawn) else None
    return tpl.template(_specs(drawn), seed=seed, name=lab.name, tag_value=lab.tags[0]["Value"], dhmc_role=dhmc)


def build(lab, seed: int) -> Fleet:
    """Build the fleet of ``seed``: on a real account as the CloudFormation stack
    ``lab.name("fleet")``, offline from the same template through the lab's clients."""
    drawn = draw(seed, real_account=not lab.offline)
    if _find_vpc(lab) is not None:
        raise LabError(_("This lab already has a fleet in {region}: grade it, or start a fresh lab "
                         "(offline) or run `ssmlab cleanup` (real account) for a new one.").format(region=lab.region))
    keys = {c.key for _, c in drawn}
    ssm, iam = lab.client("ssm"), lab.client("iam")
    if "no-instance-profile" in keys:
        setting = ssm.get_service_setting(SettingId=DHMC_SETTING)["ServiceSetting"]["SettingValue"]
        if setting not in ("", "$None"):
            raise LabError(_("Default Host Management Configuration is on in {region} (role {role}): the fleet's "
                             "member without an instance profile would register through it. Turn it off with "
                             "`aws ssm reset-service-setting --setting-id {setting}` or choose another seed.").format(
                region=lab.region, role=setting, setting=DHMC_SETTING))
    body = template_for(lab, seed)
    specs = dict(_specs(drawn))
    for member, spec in specs.items():
        if spec.profile == "empty":  # CloudFormation cannot make a profile without a role
            iam.create_instance_profile(InstanceProfileName=tpl.names(lab.name, member)["profile"], Tags=lab.tags)
    def turn_on_dhmc(role: str) -> None:  # before the instances boot, as an account set up earlier
        ssm.update_service_setting(SettingId=DHMC_SETTING, SettingValue=role)

    if lab.offline:
        physical = tpl.create_offline(lab, body, after={"DhmcRole": turn_on_dhmc})
    else:  # never drawn on a real account (an account-wide setting): no DhmcRole there
        physical = _create_stack(lab, body, seed)
    refused = [m for m, spec in specs.items() if spec.refused_first]
    if refused:
        _let_the_agents_try(lab)
        for member in refused:
            iam.attach_role_policy(RoleName=tpl.names(lab.name, member)["role"], PolicyArn=CORE)
    instances = [physical[f"{tpl.logical(m)}Instance"] for m, _ in drawn]
    lab.client("ec2").create_tags(Resources=[physical["Vpc"]], Tags=[
        {"Key": tpl.INSTANCES_TAG, "Value": ",".join(instances)}])
    return load(lab)


def _create_stack(lab, body: dict, seed: int) -> dict[str, str]:
    cfn = lab.client("cloudformation")
    stack = lab.name("fleet")
    cfn.create_stack(StackName=stack, TemplateBody=tpl.to_json(body), Capabilities=["CAPABILITY_NAMED_IAM"],
                     Tags=lab.tags + [{"Key": tpl.SEED_TAG, "Value": str(seed)}])
    from .. import waiting

    waiting.wait(lab, "cloudformation", "stack_create_complete", StackName=stack)
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


# ---------------------------------------------------------------------------------------
# Reading the fleet back from AWS


def load(lab) -> Fleet:
    """The lab's fleet as AWS describes it (any process; nothing is kept locally)."""
    vpc = _find_vpc(lab)
    if vpc is None:
        raise LabError(_("There is no fleet in {region} yet: build one with `ssmlab fleet new --seed 7` "
                         "(or fleet.build(lab, seed=7)).").format(region=lab.region))
    tags = {t["Key"]: t["Value"] for t in vpc.get("Tags", [])}
    seed = int(tags[tpl.SEED_TAG])
    originals = tags.get(tpl.INSTANCES_TAG, "").split(",")
    drawn = draw(seed, real_account=not lab.offline)
    if len(originals) != len(drawn):
        raise LabError(_("The fleet in {vpc} is still being built, or its tags were changed: build a new one.").format(
            vpc=vpc["VpcId"]))
    ec2 = lab.client("ec2")
    vpc_id = vpc["VpcId"]
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    subnets = {_name_tag(s): s["SubnetId"] for s in ec2.describe_subnets(Filters=by_vpc)["Subnets"]}
    groups = {g["GroupName"]: g["GroupId"] for g in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"]}
    acls = {_name_tag(a): a["NetworkAclId"] for a in ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]}
    endpoints = {e["ServiceName"].rsplit(".", 1)[-1]: e["VpcEndpointId"]
                 for e in ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]
                 if e.get("State", "available") not in ("deleted", "deleting")}
    shared = {
        "vpc": vpc_id, "region": lab.region, "subnet": subnets.get(lab.name("fleet-private"), ""),
        "endpoint_sg": groups.get(lab.name("fleet-endpoints"), ""),
        "security_group": groups.get(lab.name("fleet-http-out"), ""),
        "network_acl": acls.get(lab.name("fleet-acl"), ""),
        "deny_policy": tpl.DENY_POLICY, "dhmc_role": lab.name("fleet-dhmc-role"),
        **{f"endpoint_{service}": endpoints.get(service, "") for service in ("ssm", "ssmmessages", "ec2messages")},
        # what the answer key's endpoints carry, so that clean-up knows them as the lab's
        "lab_tag": lab.tags[0]["Value"],
        **{f"endpoint_name_{service}": lab.name(f"fleet-endpoint-{service}") for service in ENDPOINT_SERVICES},
    }
    members = []
    for (name, cause), instance_id in zip(drawn, originals):
        ids = tpl.names(lab.name, name)
        members.append(Member(name, instance_id, cause.key, {**shared, **ids, "instance": instance_id}))
    return Fleet(seed, vpc_id, members)


def _name_tag(resource: dict) -> str:
    return next((t["Value"] for t in resource.get("Tags", []) if t["Key"] == "Name"), "")


# ---------------------------------------------------------------------------------------
# Grading, from AWS's answers only


def _allows_everything(document) -> bool:
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", [])
    for statement in statements if isinstance(statements, list) else [statements]:
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and any(a in ("*", "*:*") for a in actions):
            return True
    return False


def _role_problems(iam, role: str, what: str) -> list[str]:
    problems = []
    try:
        attached = iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    except ClientError:
        return []
    for policy in attached:
        if policy["PolicyArn"] == ADMIN_POLICY:
            problems.append(_("{what} {role} has AdministratorAccess: it lets anyone on the instance do anything "
                              "in the account; the agent needs AmazonSSMManagedInstanceCore only.").format(what=what, role=role))
        elif policy["PolicyArn"] == DEPRECATED_POLICY:
            problems.append(_("{what} {role} has AmazonEC2RoleforSSM, which AWS deprecated: it also grants "
                              "s3:GetObject and s3:PutObject on every bucket; use AmazonSSMManagedInstanceCore.").format(
                what=what, role=role))
        elif not policy["PolicyArn"].startswith("arn:aws:iam::aws:"):
            meta = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]
            doc = iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=meta["DefaultVersionId"])
            if _allows_everything(doc["PolicyVersion"]["Document"]):
                problems.append(_("{what} {role} has policy {policy} allowing \"Action\": \"*\": far more than "
                                  "the agent's calls.").format(what=what, role=role, policy=policy["PolicyName"]))
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        doc = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        if _allows_everything(doc):
            problems.append(_("{what} {role} has inline policy {policy} allowing \"Action\": \"*\": far more than "
                              "the agent's calls.").format(what=what, role=role, policy=name))
    return problems


def _open_to_all(permission: dict) -> bool:
    everywhere = any(r.get("CidrIp") == "0.0.0.0/0" for r in permission.get("IpRanges", [])) or any(
        r.get("CidrIpv6") == "::/0" for r in permission.get("Ipv6Ranges", []))
    all_ports = permission.get("IpProtocol") == "-1" or (
        permission.get("FromPort") in (0, -1) and permission.get("ToPort") in (65535, -1))
    return everywhere and all_ports


def _judge(lab, fleet: Fleet, member: Member, reservations: dict) -> Grade:
    ec2, iam, ssm = lab.client("ec2"), lab.client("iam"), lab.client("ssm")
    problems: list[str] = []
    instance = reservations.get(member.instance_id)
    others = [i for i in reservations.values()
              if i["InstanceId"] != member.instance_id and i["_member"] == member.name
              and i["State"]["Name"] not in ("terminated", "shutting-down")]
    if instance is None or instance["State"]["Name"] in ("terminated", "shutting-down"):
        problems.append(_("the instance {id} the fleet launched was deleted{new}: a new instance hides the cause "
                          "instead of fixing it, and on a real server the data goes with it.").format(
            id=member.instance_id, new=_(" and relaunched as {ids}").format(ids=", ".join(i["InstanceId"] for i in others))
            if others else ""))
        return Grade(member.name, member.instance_id, False, tuple(problems), _("not acceptable: ") + problems[0])
    if others:
        problems.append(_("another instance carries this member's tag ({ids}): relaunching does not count; fix "
                          "the instance the fleet launched.").format(ids=", ".join(i["InstanceId"] for i in others)))
    roles: list[tuple[str, str]] = []
    profile_arn = (instance.get("IamInstanceProfile") or {}).get("Arn")
    if profile_arn:
        try:
            profile = iam.get_instance_profile(InstanceProfileName=profile_arn.rsplit("/", 1)[-1])["InstanceProfile"]
        except ClientError:  # deleted since it was associated: it gives no credentials
            profile = {"Roles": []}
        roles += [(_("the instance's role"), r["RoleName"]) for r in profile["Roles"]]
    # Where the profile gives no working credentials the agent falls back to Default Host
    # Management's role (docs/aws-facts.md#fleet-dhmc-role-without-policy): it counts too.
    setting = ssm.get_service_setting(SettingId=DHMC_SETTING)["ServiceSetting"]["SettingValue"]
    if setting not in ("", "$None"):
        roles.append((_("the Default Host Management role"), setting.rsplit("/", 1)[-1]))
    for what, role in roles:
        problems += _role_problems(iam, role, what)
    group_ids = [g["GroupId"] for g in instance.get("SecurityGroups", [])]
    if group_ids:
        for group in ec2.describe_security_groups(GroupIds=group_ids)["SecurityGroups"]:
            for direction, permissions in ((_("outbound"), group.get("IpPermissionsEgress", [])),
                                           (_("inbound"), group.get("IpPermissions", []))):
                if any(_open_to_all(p) for p in permissions):
                    problems.append(_("security group {id} is open on all ports {direction} to anywhere: the agent "
                                      "needs outbound TCP 443 only.").format(id=group["GroupId"], direction=direction))
    listed = ssm.describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [member.instance_id]}])["InstanceInformationList"]
    ping = listed[0]["PingStatus"] if listed else None
    connected = ping == "Online" and ssm.get_connection_status(Target=member.instance_id)["Status"] == "connected"
    if not listed:
        verdict = _("not yet: Systems Manager does not list it (describe-instance-information).")
    elif ping != "Online":
        verdict = _("not yet: Systems Manager lists it {ping}.").format(ping=ping)
    elif not connected:
        verdict = _("not yet: Online, but Session Manager cannot connect (get-connection-status).")
    else:
        verdict = _("fixed: Online, and Session Manager connects.")
    if problems:
        head = _("Online, but not acceptable: ") if ping == "Online" else _("not acceptable: ")
        verdict = head + " ".join(problems)
    return Grade(member.name, member.instance_id, connected, tuple(problems), verdict)


def _instances(lab, fleet: Fleet) -> dict[str, dict]:
    ec2 = lab.client("ec2")
    found: dict[str, dict] = {}
    filters = [{"Name": "tag-key", "Values": [tpl.MEMBER_TAG]}, {"Name": f"tag:{TAG_KEY}", "Values": [lab.tags[0]["Value"]]}]
    ids = [m.instance_id for m in fleet.members]
    pages = [ec2.describe_instances(Filters=filters)]
    try:
        pages.append(ec2.describe_instances(InstanceIds=ids))
    except ClientError:  # one was deleted long ago: EC2 no longer knows it
        pass
    for page in pages:
        for reservation in page["Reservations"]:
            for instance in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                found[instance["InstanceId"]] = {**instance, "_member": tags.get(tpl.MEMBER_TAG)}
    return found


def grade(lab, fleet: Fleet | None = None, *, record: bool = True) -> list[Grade]:
    """One :class:`Grade` per member, judged from AWS's answers; reaching a pass records the
    milestones ``fleet-<member>-fixed`` and, all passed, ``fleet-all-fixed``."""
    fleet = fleet or load(lab)
    reservations = _instances(lab, fleet)
    grades = [_judge(lab, fleet, member, reservations) for member in fleet.members]
    if record:
        for g in grades:
            if g.passed:
                progress.record(f"fleet-{g.name}-fixed")
        if grades and all(g.passed for g in grades):
            progress.record(ALL_FIXED)
    return grades


def scoreboard(grades: list[Grade]) -> str:
    """The grades as text, one line each, then the count."""
    lines = [g.line() for g in grades]
    lines.append(_("{passed} of {total} fixed acceptably.").format(
        passed=sum(g.passed for g in grades), total=len(grades)))
    return "\n".join(lines)


def hint(lab, fleet: Fleet, name: str, level: int = 1) -> str:
    """A hint for one member: level 1 narrows the search, level 2 names the cause."""
    if level not in (1, 2):
        raise LabError(_("A hint's level is 1 (narrows the search) or 2 (names the cause), not {level!r}.").format(
            level=level))
    member = fleet.member(name)
    reservations = _instances(lab, fleet)
    judged = _judge(lab, fleet, member, reservations)
    if judged.passed:
        return _("{name} is fixed: nothing to hint.").format(name=member.name)
    if judged.problems:
        return " ".join(judged.problems)
    return member.cause.hint(level)


def _fill(command: str, resources: dict) -> str:
    """``{role}`` -> the member's role name; JSON's own braces stay."""
    return re.sub(r"\{([a-z0-9_]+)\}", lambda m: resources.get(m.group(1), m.group(0)), command)


def answers(fleet: Fleet) -> str:
    """The facilitator's key: a shell script of AWS CLI commands, the least change per member."""
    lines = [
        "#!/usr/bin/env bash",
        f"# ssmlab fleet answers, seed {fleet.seed}: the least change that fixes each instance.",
        "# Run against the same endpoint or account the fleet was built on.",
        "set -euo pipefail",
    ]
    for member in fleet.members:
        cause = member.cause
        lines.append("")
        lines.append(f"# {member.name} ({member.instance_id}): {cause.title} [{cause.source}]")
        lines.extend(_fill(command, member.resources) for command in cause.fix)
    lines.append("")
    lines.append("# Then the agents retry by themselves: within 30 minutes after a refusal, within an hour")
    lines.append("# when hibernating. A reboot changes nothing and makes each retry now:")
    lines.append("aws ec2 reboot-instances --instance-ids " + " ".join(m.instance_id for m in fleet.members))
    return "\n".join(lines) + "\n"
