"""What the lab may change: the one rule, asked before every change on a real account.

A resource is the lab's when it carries BOTH marks:

- the ``ssmlab:lab`` tag, whose value is the prefix without its final hyphen
  (``ssmlab-ada`` for the prefix ``ssmlab-ada-``), and
- a name starting with that prefix (stacks, roles, instance profiles, policies;
  instances, which have no name of their own, are matched by the tag value alone; VPC
  endpoints by their Name tag).

An instance profile or a policy that a stack with both marks made has the prefix but no tag
(CloudFormation's types for them take none): CloudFormation's record of the stack that
holds it stands for the tag (docs/aws-facts.md#cfn-stack-of-a-resource).

A role a person made by hand with a lab name has no tag and is not the lab's; a tagged
resource of another attendee (``ssmlab-ada-lovelace-...`` next to ``ssmlab-ada-...``)
has another tag value and is not the lab's; a resource tagged with the lab's value but
named outside its prefix is not the lab's either.

Who asks (docs/aws-facts.md#ownership-on-a-real-account):

- ``start(backend="aws")`` checks the prefix (:func:`check_prefix`) and refuses, before
  anything is created, when a name the lessons use is taken by a resource that is not the
  lab's (:func:`refuse_lookalikes`): the lab never adopts, changes or deletes it;
- every call through the lab's clients that changes or deletes a role, an instance
  profile, a customer managed policy, a stack or an instance is checked first
  (:func:`install`, a botocore ``before-parameter-build`` handler): replay's undo and
  rebuild, clean-up, the waits' helpers, the widgets' Apply and the lessons' boto3 cells;
- replay and the widgets also ask :func:`require` themselves, to say no in their words.

Offline the lab owns the whole account it has just created (moto, fresh at ``start()``),
and the rule is not enforced; clean-up still matches both marks there.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import ClientError

from .errors import LabError
from .i18n import _
from .naming import MAX_NAME_LENGTH, TAG_KEY

ALL_USERS_PREFIX = "ssmlab-"
PREFIX_VARIABLE = "SSMLAB_PREFIX"

ABSENT, OWNED, FOREIGN = "absent", "owned", "foreign"

#: A prefix every lab name accepts as its start: a letter, then letters, digits and
#: hyphens, ending in a hyphen (the tag value is the prefix without it). IAM allows more
#: characters in role names (``+=,.@_``), CloudFormation stack names do not
#: (docs/aws-facts.md#ownership-on-a-real-account).
_PREFIX_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*-$")

_MISSING = ("NoSuchEntity", "NoSuchEntityException", "InvalidInstanceID.NotFound",
            "InvalidInstanceID.Malformed", "InvalidVpcEndpointId.NotFound")


def tag_value(prefix: str) -> str:
    """The ``ssmlab:lab`` tag value of the lab with ``prefix`` (``offline`` without one)."""
    return prefix.rstrip("-") or "offline"


def check_prefix(prefix: str, longest_base: str = "") -> str:
    """``prefix`` if a real-account lab may use it, else LabError in one sentence."""
    if not isinstance(prefix, str) or not prefix.strip():
        raise LabError(
            _("On a real account the lab needs a name prefix, and {prefix!r} is empty: leave "
            "{prefix_variable} unset for the default ssmlab-<user>- or set it to one such "
            "as ssmlab-ada-.").format(prefix=prefix, prefix_variable=PREFIX_VARIABLE)
        )
    if not _PREFIX_PATTERN.match(prefix) or not prefix.rstrip("-"):
        raise LabError(
            _("The prefix {prefix!r} is not one every lab name accepts: use a letter, then "
            "letters, digits and hyphens, ending in a hyphen (for example ssmlab-ada-), "
            "in {prefix_variable} or prefix=.").format(prefix=prefix, prefix_variable=PREFIX_VARIABLE)
        )
    room = MAX_NAME_LENGTH - len(longest_base)
    if len(prefix) > room:
        raise LabError(
            _("The prefix {prefix!r} is {length} characters, so the name "
            "{name!r} would be over IAM's limit of {max_name_length} for a "
            "role name: set a shorter {prefix_variable} (at most {room} characters).").format(prefix=prefix, length=len(prefix), name=prefix + longest_base, max_name_length=MAX_NAME_LENGTH, prefix_variable=PREFIX_VARIABLE, room=room)
        )
    return prefix


@dataclass(frozen=True)
class Scope:
    """Whose resources: one tag value (one user's prefix) or every ``ssmlab-*`` one."""

    tag_value: str | None  # None: every value starting with ssmlab-
    prefix: str

    @classmethod
    def of(cls, lab, all_users: bool = False) -> "Scope":
        if all_users:
            return cls(None, ALL_USERS_PREFIX)
        return cls(tag_value(lab.prefix), lab.prefix)

    def tag_matches(self, tags: list[dict] | None) -> str | None:
        """The lab tag's value if ``tags`` carry one in scope, else None."""
        for tag in tags or []:
            if tag.get("Key") != TAG_KEY:
                continue
            value = tag.get("Value", "")
            if self.tag_value is None:
                return value if value.startswith(ALL_USERS_PREFIX) else None
            return value if value == self.tag_value else None
        return None

    def owns(self, name: str, tags: list[dict] | None) -> bool:
        """Both marks: the name carries the tag value's prefix, and the tag is in scope."""
        value = self.tag_matches(tags)
        if value is None or not name.startswith(self.prefix):
            return False
        # The offline lab has no prefix; on AWS the name starts with the tag value + "-".
        return not self.prefix or name.startswith(value + "-")

    def owns_instance(self, tags: list[dict] | None) -> bool:
        """Instances have no name: the tag value alone."""
        return self.tag_matches(tags) is not None


def scope_of(lab) -> Scope:
    """The scope the lab acts in now: its own, or a wider one inside :func:`acting_for`."""
    return getattr(lab, "_ownership_scope", None) or Scope.of(lab)


@contextmanager
def acting_for(lab, scope: Scope):
    """Within the block, the lab may change what ``scope`` owns (``cleanup --all-users``:
    every ``ssmlab-*`` prefix, still only with the tag)."""
    before = getattr(lab, "_ownership_scope", None)
    lab._ownership_scope = scope
    try:
        yield scope
    finally:
        lab._ownership_scope = before


# ------------------------------------------------------------------ reading the marks


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _stack_missing(error: ClientError) -> bool:
    # CloudFormation answers ValidationError "Stack with id X does not exist".
    return _code(error) == "ValidationError" and "does not exist" in str(error)


def _tags_of_role(iam, name: str) -> list[dict]:
    tags, marker = [], None
    while True:
        page = iam.list_role_tags(RoleName=name, **({"Marker": marker} if marker else {}))
        tags += page.get("Tags", [])
        marker = page.get("Marker") if page.get("IsTruncated") else None
        if not marker:
            return tags


def _tags_of_profile(iam, name: str) -> list[dict]:
    # GetInstanceProfile carries the tags; ListInstanceProfiles does not (IAM API
    # reference, ListInstanceProfiles).
    return iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Tags", [])


def _tags_of_policy(iam, arn: str) -> list[dict]:
    return iam.list_policy_tags(PolicyArn=arn).get("Tags", [])


def _tags_of_stack(cfn, name: str) -> list[dict] | None:
    stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
    return live[0].get("Tags", []) if live else None


def _tags_of_instance(ec2, instance_id: str) -> list[dict] | None:
    reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    for reservation in reservations:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] != "terminated":
                return instance.get("Tags", [])
    return None


def _tags_of_vpc_endpoint(ec2, endpoint_id: str) -> list[dict] | None:
    for endpoint in ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]:
        if endpoint.get("State", "").lower() not in ("deleted", "deleting"):
            return endpoint.get("Tags", [])
    return None


def name_tag(tags: list[dict] | None) -> str:
    """The ``Name`` tag's value ("" without one): the name of an EC2 resource that has no
    name of its own, such as a VPC endpoint."""
    return next((t.get("Value", "") for t in tags or [] if t.get("Key") == "Name"), "")


#: kind -> (service, how to read the tags of one resource: None when it is gone)
_READERS: dict[str, tuple[str, Callable]] = {
    "role": ("iam", _tags_of_role),
    "instance profile": ("iam", _tags_of_profile),
    "policy": ("iam", _tags_of_policy),
    "stack": ("cloudformation", _tags_of_stack),
    "instance": ("ec2", _tags_of_instance),
    # An endpoint's name is its Name tag (the answer key's carry one, ssmlab/fleet/causes.py).
    "vpc endpoint": ("ec2", _tags_of_vpc_endpoint),
}


def _name_of(kind: str, name: str) -> str:
    if kind == "policy":  # arn:aws:iam::123456789012:policy/path/name
        return name.rsplit("/", 1)[-1]
    if kind == "stack" and name.startswith("arn:"):  # arn:...:stack/name/id
        return name.split("/")[1]
    return name


#: Kinds a stack makes without tags: CloudFormation's AWS::IAM::InstanceProfile and
#: AWS::IAM::ManagedPolicy take no Tags (the fleet's template, docs/aws-facts.md#cfn-stack-of-a-resource).
_MADE_UNTAGGED_BY_STACKS = ("instance profile", "policy")


def _made_by_a_lab_stack(lab, name: str, scope: Scope) -> bool:
    """True if a stack that is the lab's (both marks) made the resource ``name`` (its
    physical id: a profile's name, a policy's ARN): CloudFormation records which stack
    holds it (DescribeStackResources with PhysicalResourceId)."""
    cfn = lab.client("cloudformation")
    try:
        resources = cfn.describe_stack_resources(PhysicalResourceId=name)["StackResources"]
    except ClientError as error:
        if _code(error) == "ValidationError":  # "Stack for NAME does not exist": no stack holds it
            return False
        raise
    stacks = {r["StackName"] for r in resources}
    return len(stacks) == 1 and all(scope.owns(stack, _tags_of_stack(cfn, stack)) for stack in stacks)


def state(lab, kind: str, name: str, scope: Scope | None = None) -> str:
    """:data:`ABSENT`, :data:`OWNED` (both marks) or :data:`FOREIGN` (exists, not the lab's).

    An instance profile or a policy a lab stack made carries no tags (its CloudFormation
    type takes none); with the prefix, and made by a stack with both marks, it is the lab's."""
    service, read = _READERS[kind]
    try:
        tags = read(lab.client(service), name)
    except ClientError as error:
        if _code(error) in _MISSING or (kind == "stack" and _stack_missing(error)):
            return ABSENT
        raise
    if tags is None:
        return ABSENT
    scope = scope or scope_of(lab)
    if kind == "instance":
        mine = scope.owns_instance(tags)
    else:
        mine = scope.owns(name_tag(tags) if kind == "vpc endpoint" else _name_of(kind, name), tags)
        if (not mine and kind in _MADE_UNTAGGED_BY_STACKS and scope.tag_matches(tags) is None
                and _name_of(kind, name).startswith(scope.prefix)):
            mine = _made_by_a_lab_stack(lab, name, scope)
    return OWNED if mine else FOREIGN


def not_the_labs(lab, kind: str, name: str) -> LabError:
    """The one sentence: what is not the lab's, and what to do."""
    where = f"named {name}" if kind not in ("instance", "vpc endpoint") else name
    return LabError(
        _("The {kind} {where} is not the lab's (it lacks the tag {tag_key}={tag_value} "
        "or the prefix {prefix}), so the lab will not change or delete it: this lab "
        "acts only on what it created.").format(kind=kind, where=where, tag_key=TAG_KEY, tag_value=tag_value(lab.prefix), prefix=lab.prefix)
    )


def require(lab, kind: str, name: str) -> None:
    """Before keeping, changing or deleting ``name`` on a real account: LabError if it
    exists and is not the lab's. Offline the lab owns its fresh account: no call is made
    (so the offline lessons' calls, and the seeded ids they get, stay the same)."""
    if not lab.offline and state(lab, kind, name) == FOREIGN:
        raise not_the_labs(lab, kind, name)


def refuse_lookalikes(lab, names: dict[str, tuple[str, str]]) -> None:
    """LabError, before anything is created, if a name of ``names`` (label -> (kind,
    name)) is taken by a resource that is not the lab's."""
    for kind, name in names.values():
        if state(lab, kind, name) == FOREIGN:
            raise LabError(
                _("A {kind} named {name} already exists in this account without the tag "
                "{tag_key}={tag_value}, so the lab will not use, change or delete "
                "it: set another {prefix_variable} (for example {prefix_variable}="
                "{tag_value}-2-), or remove that {kind} yourself, then start again.").format(kind=kind, name=name, tag_key=TAG_KEY, tag_value=tag_value(lab.prefix), prefix_variable=PREFIX_VARIABLE)
            )


# ------------------------------------------------ the guard on the lab's own clients

#: Calls that change or delete something, and the parameters that name what they change.
#: Creating is not here: AWS refuses a name that is taken (EntityAlreadyExists,
#: AlreadyExistsException), and the lab tags what it creates (lab.py).
GUARDED: dict[str, tuple[tuple[str, str], ...]] = {
    "iam.DeleteRole": (("role", "RoleName"),),
    "iam.UpdateRole": (("role", "RoleName"),),
    "iam.UpdateRoleDescription": (("role", "RoleName"),),
    "iam.UpdateAssumeRolePolicy": (("role", "RoleName"),),
    "iam.PutRolePolicy": (("role", "RoleName"),),
    "iam.DeleteRolePolicy": (("role", "RoleName"),),
    "iam.AttachRolePolicy": (("role", "RoleName"),),
    "iam.DetachRolePolicy": (("role", "RoleName"),),
    "iam.PutRolePermissionsBoundary": (("role", "RoleName"),),
    "iam.DeleteRolePermissionsBoundary": (("role", "RoleName"),),
    "iam.TagRole": (("role", "RoleName"),),
    "iam.UntagRole": (("role", "RoleName"),),
    "iam.AddRoleToInstanceProfile": (("instance profile", "InstanceProfileName"), ("role", "RoleName")),
    # Taking a role out changes the profile, not the role (clean-up empties a lab
    # profile of a role that is not the lab's, and keeps the role).
    "iam.RemoveRoleFromInstanceProfile": (("instance profile", "InstanceProfileName"),),
    "iam.DeleteInstanceProfile": (("instance profile", "InstanceProfileName"),),
    "iam.TagInstanceProfile": (("instance profile", "InstanceProfileName"),),
    "iam.UntagInstanceProfile": (("instance profile", "InstanceProfileName"),),
    "iam.DeletePolicy": (("policy", "PolicyArn"),),
    "iam.CreatePolicyVersion": (("policy", "PolicyArn"),),
    "iam.DeletePolicyVersion": (("policy", "PolicyArn"),),
    "iam.SetDefaultPolicyVersion": (("policy", "PolicyArn"),),
    "iam.TagPolicy": (("policy", "PolicyArn"),),
    "iam.UntagPolicy": (("policy", "PolicyArn"),),
    "cloudformation.DeleteStack": (("stack", "StackName"),),
    "cloudformation.UpdateStack": (("stack", "StackName"),),
    "ec2.TerminateInstances": (("instance", "InstanceIds"),),
    "ec2.StopInstances": (("instance", "InstanceIds"),),
    "ec2.StartInstances": (("instance", "InstanceIds"),),
    "ec2.RebootInstances": (("instance", "InstanceIds"),),
    "ec2.AssociateIamInstanceProfile": (("instance", "InstanceId"),),
    "ec2.DeleteVpcEndpoints": (("vpc endpoint", "VpcEndpointIds"),),
}


def install(lab) -> None:
    """Check every guarded call made through ``lab``'s clients before it is sent."""

    def guard(params, model, **_):
        operation = f"{model.service_model.service_name}.{model.name}"
        for kind, parameter in GUARDED.get(operation, ()):
            value = params.get(parameter)
            for name in value if isinstance(value, list) else [value]:
                # Missing or odd parameters are botocore's to refuse, or AWS's.
                if isinstance(name, str) and name and state(lab, kind, name) == FOREIGN:
                    raise not_the_labs(lab, kind, name)

    for operation in GUARDED:
        lab.session.events.register(f"before-parameter-build.{operation}", guard)
