"""Rebuild, quietly, the state the lessons before lesson N would have left.

``ssmlab.start(lesson=N)`` calls :func:`rebuild`, so every lesson runs alone in a fresh
kernel. It performs the lessons' own steps, through ``lab.client(...)``, so it works
offline and on a real account alike:

======  ==================================================================  ==============
lesson  leaves behind                                                       names
======  ==================================================================  ==============
00      nothing
01      nothing (its two demo roles are deleted at its end)                 role-for-me,
                                                                            demo-role-for-ec2
02      role ROLE trusting ec2.amazonaws.com, in instance profile PROFILE   role-for-ec2,
                                                                            for-ec2
03      stack STACK from templates/ec2-instance-profile.yaml: one running   stack-for-ec2,
        instance launched with PROFILE (its stand-in for a restricted       role-for-
        learner, RESTRICTED_ROLE, is deleted at its end)                    restricted-learner
04      nothing more: the second role (and its profile) are deleted at its  role-for-ssm,
        end; PROFILE still holds ROLE                                       for-ssm
05      ROLE's trust policy trusts ec2.amazonaws.com and ssm.amazonaws.com
        (the blog's detour, docs/aws-facts.md#journey step 6)
06      AmazonSSMManagedInstanceCore attached to ROLE (step 8)
07      nothing, after its clean-up (probe, control, stack, roles): a       control
        rebuild past it starts from its step, which removes what is left
08      the last lesson: its positive control (CONTROL_ROLE in              role-for-control,
        CONTROL_PROFILE, an instance tagged Name CONTROL) and the fleet     for-control,
        it builds (fleet.build, seed 1665) stay for its exercise; on a      fleet-*
        real account ``ssmlab cleanup`` removes them
======  ==================================================================  ==============

Every step is idempotent: what exists already is kept. Before building, what lessons N
and later create is removed if present, so lesson N's cells can run again on an account
that has been through it (offline, ``start()`` gives a fresh lab with nothing to remove).

On a real account every step asks ``ssmlab/ownership.py`` first: what it keeps, changes or
deletes must carry the lab's prefix and ``ssmlab:lab`` tag. ``start()`` has already refused
a lesson name taken by anything else (:func:`lookalike_names`), so a step meeting one
raises the same ``LabError`` rather than adopt, change or delete it.
"""

from __future__ import annotations

import json

from botocore.exceptions import ClientError

from . import ownership, templates, waiting
from .errors import LabError
from .i18n import _
from .fleet import MEMBERS as FLEET_MEMBERS

#: The lessons there are; ``start(lesson=N)`` accepts these numbers.
LESSONS = range(0, 9)

EC2 = "ec2.amazonaws.com"
SSM = "ssm.amazonaws.com"
CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def trust_policy(*services: str) -> str:
    """The blog's trust policy document (docs/aws-facts.md#journey, steps 1 and 6) for ``services``."""
    principal = services[0] if len(services) == 1 else list(services)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": principal}, "Action": "sts:AssumeRole"}
            ],
        }
    )


#: The names the lessons use (STYLE.md): label -> (what it names, the blog's base name).
BASES: dict[str, tuple[str, str]] = {
    "ROLE": ("role", "role-for-ec2"),
    "PROFILE": ("instance profile", "for-ec2"),
    "STACK": ("stack", "stack-for-ec2"),
    "MY_ROLE": ("role", "role-for-me"),
    "DEMO_EC2_ROLE": ("role", "demo-role-for-ec2"),
    "SECOND_ROLE": ("role", "role-for-ssm"),
    "SECOND_PROFILE": ("instance profile", "for-ssm"),
    "RESTRICTED_ROLE": ("role", "role-for-restricted-learner"),
    # Lesson 08's positive control: the journey's answer, made again in the lesson.
    "CONTROL_ROLE": ("role", "role-for-control"),
    "CONTROL_PROFILE": ("instance profile", "for-control"),
    # Lesson 08's fleet (ssmlab/fleet): its stack on a real account, its Default Host
    # Management role, and each member's role and instance profile.
    "FLEET_STACK": ("stack", "fleet"),
    "FLEET_DHMC_ROLE": ("role", "fleet-dhmc-role"),
    **{
        f"FLEET_{member.upper().replace('-', '_')}_{label}": (kind, f"fleet-{member}-{suffix}")
        for member in FLEET_MEMBERS
        for label, kind, suffix in (("ROLE", "role", "role"), ("PROFILE", "instance profile", "profile"))
    },
}
#: The longest base name: it bounds the prefix (ownership.check_prefix).
LONGEST_BASE = max((base for _, base in BASES.values()), key=len)


def names(lab) -> dict[str, str]:
    """The names the lessons use, as STYLE.md fixes them."""
    named = {label: lab.name(base) for label, (_, base) in BASES.items()}
    named["CONTROL"] = lab.name("control")  # lessons 07's and 08's control instances: their Name tag only
    return named


def lookalike_names(lab) -> dict[str, tuple[str, str]]:
    """label -> (kind, name) of every name the lessons use, for ownership.refuse_lookalikes."""
    return {label: (kind, lab.name(base)) for label, (kind, base) in BASES.items()}


def rebuild(lab, lesson: int, *, clear: bool | None = None) -> None:
    """Leave ``lab`` in the state the lessons before ``lesson`` would have left.

    ``clear`` (default: on a real account only) first removes what lessons ``lesson`` and
    later created; an offline lab fresh from ``start()`` has nothing to remove.
    """
    if isinstance(lesson, bool) or not isinstance(lesson, int) or lesson not in LESSONS:
        raise LabError(
            _("There is no lesson {lesson!r}: use a lesson number from {start} to "
            "{last}, as in the notebook's file name.").format(lesson=lesson, start=LESSONS.start, last=LESSONS.stop - 1)
        )
    n = names(lab)
    if clear if clear is not None else not lab.offline:
        for undo in reversed(_UNDO[lesson:]):
            undo(lab, n)
    first = max((slate for slate in CLEAN_SLATES if slate < lesson), default=0)
    for step in _STEPS[first:lesson]:
        step(lab, n)


#: The public parameter naming the lessons' AMI (lesson 03's template reads it).
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"


def check_ami_parameter(lab) -> None:
    """LabError if the Region has no public parameter naming the lessons' AMI."""
    try:
        lab.client("ssm").get_parameter(Name=AMI_PARAMETER)
    except ClientError as error:
        if error.response["Error"]["Code"] == "ParameterNotFound":
            raise LabError(
                _("Region {region} has no public parameter {parameter} (the lessons' "
                  "Amazon Linux 2023 AMI): choose a Region that has it, for example "
                  "AWS_REGION=us-east-1, and start again.").format(
                    region=lab.region, parameter=AMI_PARAMETER)
            ) from None
        # AccessDenied and the like: `ssmlab doctor --aws` reports permissions.


def refuse_bad_input(lab) -> None:
    """What must hold before the lab creates anything on a real account (lab.start)."""
    names(lab)  # LabError for a name over IAM's limits after prefixing
    check_ami_parameter(lab)


# ------------------------------------------------------------------------ snapshot


def _normalised(document) -> object:
    """A policy document with its lists sorted, so order of writing does not count."""
    if isinstance(document, dict):
        return {key: _normalised(value) for key, value in sorted(document.items())}
    if isinstance(document, list):
        return sorted((_normalised(item) for item in document), key=lambda item: json.dumps(item, sort_keys=True))
    return document


def snapshot(lab) -> dict:
    """What the lessons leave, comparably: roles (trust policy, attached and inline
    policies), instance profiles and their roles, stacks and their status, running
    instances and their profiles. The one description both the lessons and
    :func:`rebuild` are compared by (tests/test_lessons_match_replay.py)."""
    iam, cfn, ec2 = lab.client("iam"), lab.client("cloudformation"), lab.client("ec2")
    roles = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        trust = role["AssumeRolePolicyDocument"]  # boto3 decodes it; a str only if it was not JSON
        roles[name] = {
            "trust": _normalised(trust),
            "attached": sorted(p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]),
            "inline": sorted(iam.list_role_policies(RoleName=name)["PolicyNames"]),
        }
    profiles = {
        p["InstanceProfileName"]: sorted(r["RoleName"] for r in p["Roles"])
        for p in iam.list_instance_profiles()["InstanceProfiles"]
    }
    stacks = {
        s["StackName"]: s["StackStatus"]
        for s in cfn.list_stacks()["StackSummaries"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }
    instances = []
    running = ec2.describe_instances(Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    for reservation in running["Reservations"]:
        for instance in reservation["Instances"]:
            tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
            made_by = tags.get("Name") or tags.get("aws:cloudformation:stack-name") or ""
            profile = (instance.get("IamInstanceProfile") or {}).get("Arn", "").rsplit("/", 1)[-1]
            instances.append([made_by, profile])
    return {"roles": roles, "profiles": profiles, "stacks": stacks, "instances": sorted(instances)}


# ------------------------------------------------------------------------ helpers


def _ignore(codes: tuple[str, ...], call, **kwargs):
    """Make ``call``; an error whose code is in ``codes`` means "already so"."""
    try:
        return call(**kwargs)
    except ClientError as error:
        if error.response["Error"]["Code"] not in codes:
            raise
        return None


def _role_exists(lab, role: str) -> bool:
    """Whether ``role`` exists; on a real account LabError if it exists and is not the lab's."""
    ownership.require(lab, "role", role)
    return _ignore(("NoSuchEntity",), lab.client("iam").get_role, RoleName=role) is not None


def _delete_role(lab, role: str) -> None:
    """Delete ``role`` and what blocks its deletion (profiles, policies), if it exists."""
    iam = lab.client("iam")
    if not _role_exists(lab, role):
        return
    for profile in iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=role)
    for policy in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=role, PolicyArn=policy["PolicyArn"])
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        iam.delete_role_policy(RoleName=role, PolicyName=name)
    iam.delete_role(RoleName=role)


def _delete_profile(lab, profile: str) -> None:
    iam = lab.client("iam")
    ownership.require(lab, "instance profile", profile)
    found = _ignore(("NoSuchEntity",), iam.get_instance_profile, InstanceProfileName=profile)
    if found is None:
        return
    for role in found["InstanceProfile"]["Roles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=profile)


def _terminate_named(lab, names: list[str]) -> None:
    """Terminate the instances whose Name tag is one of ``names``, each checked to be the
    lab's, and wait until they are gone (a profile stays associated until then)."""
    ec2 = lab.client("ec2")
    reservations = ec2.describe_instances(Filters=[
        {"Name": "tag:Name", "Values": names},
        {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
    ])["Reservations"]
    instance_ids = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    for instance_id in instance_ids:
        ownership.require(lab, "instance", instance_id)
    if instance_ids:
        ec2.terminate_instances(InstanceIds=instance_ids)
        if not lab.offline:
            ec2.get_waiter("instance_terminated").wait(InstanceIds=instance_ids)


# --------------------------------------------------------------------- the steps


def _lesson_00(lab, n) -> None:
    """Lesson 00 only looks around."""


def _undo_00(lab, n) -> None:
    pass


def _lesson_01(lab, n) -> None:
    """Lesson 01 creates two demo roles and deletes them at its end."""
    _undo_01(lab, n)


def _undo_01(lab, n) -> None:
    _delete_role(lab, n["MY_ROLE"])
    _delete_role(lab, n["DEMO_EC2_ROLE"])


def _lesson_02(lab, n) -> None:
    # The journey's steps 1-3 (docs/aws-facts.md#journey): create-role,
    # create-instance-profile, add-role-to-instance-profile.
    iam = lab.client("iam")
    if not _role_exists(lab, n["ROLE"]):
        iam.create_role(RoleName=n["ROLE"], AssumeRolePolicyDocument=trust_policy(EC2))
    ownership.require(lab, "instance profile", n["PROFILE"])
    profile = _ignore(("NoSuchEntity",), iam.get_instance_profile, InstanceProfileName=n["PROFILE"])
    if profile is None:
        profile = iam.create_instance_profile(InstanceProfileName=n["PROFILE"])
    if not profile["InstanceProfile"]["Roles"]:
        iam.add_role_to_instance_profile(InstanceProfileName=n["PROFILE"], RoleName=n["ROLE"])
    if not lab.offline:
        # IAM is eventually consistent: EC2 may not see a new profile at once (docs/aws-facts.md#core-6).
        waiting.wait(lab, "iam", "instance_profile_exists", InstanceProfileName=n["PROFILE"])


def _undo_02(lab, n) -> None:
    _delete_profile(lab, n["PROFILE"])
    _delete_role(lab, n["ROLE"])


def _lesson_03(lab, n) -> None:
    # The journey's step 4 (docs/aws-facts.md#journey): the stack that launches the
    # instance with the profile. The lesson's stand-in for a restricted learner
    # (iam:PassRole) is gone at its end; only an account can still hold one (offline,
    # start() is fresh, and a call would consume the seeded ids the later lessons' stored
    # outputs show).
    if not lab.offline:
        _delete_role(lab, n["RESTRICTED_ROLE"])
    ownership.require(lab, "stack", n["STACK"])  # LabError for a stack not the lab's
    status = waiting.stack_status(lab.client("cloudformation"), n["STACK"])
    if status in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        return
    if status is not None:
        _undo_03(lab, n)
    # Retries exactly IAM's eventual-consistency failures, reports any other (waiting.py).
    waiting.create_stack(
        lab,
        StackName=n["STACK"],
        TemplateBody=templates.EC2_INSTANCE_PROFILE.read_text(),
        Parameters=[
            {"ParameterKey": "InstanceProfileName", "ParameterValue": n["PROFILE"]},
            {"ParameterKey": "LabTag", "ParameterValue": lab.tags[0]["Value"]},
        ],
        Tags=lab.tags,
    )
    if lab.offline:
        # The learner reads lessons 03 and 04 while the instance boots and its agent makes
        # its first attempt: let that time pass on the lab clock (simulation/clock.py).
        lab.wait(minutes=2)


def _undo_03(lab, n) -> None:
    _delete_role(lab, n["RESTRICTED_ROLE"])
    ownership.require(lab, "stack", n["STACK"])
    waiting.delete_stack(lab, n["STACK"])


def _lesson_04(lab, n) -> None:
    """Lesson 04 deletes its second role and profile at its end: PROFILE holds ROLE."""
    _undo_04(lab, n)
    iam = lab.client("iam")
    ownership.require(lab, "instance profile", n["PROFILE"])
    roles = iam.get_instance_profile(InstanceProfileName=n["PROFILE"])["InstanceProfile"]["Roles"]
    if [r["RoleName"] for r in roles] != [n["ROLE"]]:
        for role in roles:
            iam.remove_role_from_instance_profile(InstanceProfileName=n["PROFILE"], RoleName=role["RoleName"])
        iam.add_role_to_instance_profile(InstanceProfileName=n["PROFILE"], RoleName=n["ROLE"])


def _undo_04(lab, n) -> None:
    _delete_profile(lab, n["SECOND_PROFILE"])
    _delete_role(lab, n["SECOND_ROLE"])


def _lesson_05(lab, n) -> None:
    # The journey's step 6 (docs/aws-facts.md#journey): the trust policy that also trusts ssm.amazonaws.com.
    ownership.require(lab, "role", n["ROLE"])
    lab.client("iam").update_assume_role_policy(RoleName=n["ROLE"], PolicyDocument=trust_policy(EC2, SSM))


def _undo_05(lab, n) -> None:
    iam = lab.client("iam")
    if _role_exists(lab, n["ROLE"]):
        iam.update_assume_role_policy(RoleName=n["ROLE"], PolicyDocument=trust_policy(EC2))


def _lesson_06(lab, n) -> None:
    # The journey's step 8 (docs/aws-facts.md#journey): the missing permissions policy
    # (attaching twice is a no-op).
    ownership.require(lab, "role", n["ROLE"])
    lab.client("iam").attach_role_policy(RoleName=n["ROLE"], PolicyArn=CORE_POLICY)
    # The instance's agent has backed off since its first, refused attempt (25-30 minutes,
    # docs/aws-facts.md#time-and-the-agent-clock). Offline, let that time pass on the lab
    # clock: it retries by itself and registers. On AWS, do what the lesson does: reboot
    # the instance, so the agent retries at once, and wait until it is Online.
    if lab.offline:
        lab.wait(minutes=30)
        return
    outputs = lab.client("cloudformation").describe_stacks(StackName=n["STACK"])["Stacks"][0].get("Outputs", [])
    instance_id = next((o["OutputValue"] for o in outputs if o["OutputKey"] == "InstanceId"), None)
    if instance_id:
        lab.client("ec2").reboot_instances(InstanceIds=[instance_id])
        waiting.wait_for_managed_instance(lab, instance_id, progress=False)


def _undo_06(lab, n) -> None:
    iam = lab.client("iam")
    if _role_exists(lab, n["ROLE"]):
        _ignore(("NoSuchEntity",), iam.detach_role_policy, RoleName=n["ROLE"], PolicyArn=CORE_POLICY)


def _lesson_07(lab, n) -> None:
    """Lesson 07 ends with its clean-up (section 5): the stack, its probe and control, the
    roles, profiles and policy, all removed. The step removes whatever of lessons 00-07 is
    left, newest first, so it is a clean slate (:data:`CLEAN_SLATES`)."""
    for undo in reversed(_UNDO[:8]):
        undo(lab, n)


#: What lesson 07 creates beyond the earlier lessons' resources (its own cells name them):
#: the probe role and instance profile, the customer managed policy it attaches, and the
#: instances named for-probe and control.
PROBE_ROLE, PROBE_PROFILE, MINIMAL_POLICY = "role-for-probe", "for-probe", "ssm-agent-minimal"
LESSON_07_INSTANCES = ("for-probe", "control")


def _undo_07(lab, n) -> None:
    """Remove lesson 07's probe: its instances, role, profile and policy, each checked to
    be the lab's (a second run of lesson 07 on an account would otherwise meet
    EntityAlreadyExists on the probe role)."""
    iam = lab.client("iam")
    _terminate_named(lab, [lab.name(base) for base in LESSON_07_INSTANCES])
    _delete_profile(lab, lab.name(PROBE_PROFILE))
    _delete_role(lab, lab.name(PROBE_ROLE))
    policy_arn = f"arn:aws:iam::{lab.account_id}:policy/{lab.name(MINIMAL_POLICY)}"
    ownership.require(lab, "policy", policy_arn)
    if _ignore(("NoSuchEntity",), iam.get_policy, PolicyArn=policy_arn) is not None:
        for version in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]:
            if not version["IsDefaultVersion"]:
                iam.delete_policy_version(PolicyArn=policy_arn, VersionId=version["VersionId"])
        iam.delete_policy(PolicyArn=policy_arn)


def _lesson_08(lab, n) -> None:
    """The last lesson: nothing comes after it."""


def _undo_08(lab, n) -> None:
    """Remove lesson 08's control and fleet, so the lesson can make them again (a real
    account only: offline, ``start()`` gives a fresh lab): the control instance, its role
    and profile; the fleet's stack, then the instance profiles made beside the stack (a
    profile without a role, which CloudFormation cannot make)."""
    _terminate_named(lab, [n["CONTROL"]])
    _delete_profile(lab, n["CONTROL_PROFILE"])
    _delete_role(lab, n["CONTROL_ROLE"])
    cfn = lab.client("cloudformation")
    if waiting.stack_status(cfn, n["FLEET_STACK"]) is not None:
        ownership.require(lab, "stack", n["FLEET_STACK"])
        waiting.delete_stack(lab, n["FLEET_STACK"])
    for label in n:
        if label.startswith("FLEET_NODE_") and label.endswith("_PROFILE"):
            _delete_profile(lab, n[label])


# _STEPS[i] does lesson i; _UNDO[i] removes what lesson i created (both idempotent).
#: Lessons whose step leaves nothing of the lessons before them (lesson 07 cleans up
#: everything): a rebuild past one starts at its step, which removes what is left, rather
#: than build on an account what it would then delete.
_STEPS = (_lesson_00, _lesson_01, _lesson_02, _lesson_03, _lesson_04, _lesson_05, _lesson_06, _lesson_07,
          _lesson_08)
_UNDO = (_undo_00, _undo_01, _undo_02, _undo_03, _undo_04, _undo_05, _undo_06, _undo_07, _undo_08)
CLEAN_SLATES = (7,)
