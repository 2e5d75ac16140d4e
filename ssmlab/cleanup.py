"""Remove what the lab created, and nothing else.

What is the lab's is decided by the one rule of ``ssmlab/ownership.py`` (:class:`Scope`:
the ``ssmlab:lab`` tag value AND the name's prefix). A role a person made by hand with a
similar name has no tag and survives; a tagged resource of another attendee
(``ssmlab-ada-lovelace-...`` next to ``ssmlab-ada-...``) has another tag value and
survives. ``all_users=True`` covers every ``ssmlab-*`` prefix, still only with the tag.

The order is the one AWS requires (IAM API reference: DeleteRole "you must first remove"
the role from instance profiles, detach managed policies and delete inline policies;
DeleteInstanceProfile; CloudFormation DeleteStack): stacks first, waiting until they are
gone (they hold instances that use the profiles); lone instances, terminated; then for
each role, detach managed policies, delete inline policies, remove it from instance
profiles; then the profiles and the roles; then the lab's customer managed policies.

Every step looks at what exists now, and "already gone" counts as done, so clean-up can
run again after a failure at any step, and twice in a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from botocore.exceptions import ClientError, WaiterError

from . import waiting
from .i18n import N_, _
from .naming import TAG_KEY
from .ownership import ALL_USERS_PREFIX, Scope, acting_for, name_tag  # noqa: F401 (Scope: the one rule)
from .scrub import for_display

_GONE = ("NoSuchEntity", "ValidationError", "InvalidInstanceID.NotFound")


@dataclass
class Report:
    """What clean-up removed (or would remove, in a dry run), kept, and failed to remove."""

    dry_run: bool = False
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        if self.failed:
            return _("Clean-up did not finish: {count} problem(s) above; fix them "
                     "and run it again (it is safe to repeat).").format(count=len(self.failed))
        if not self.removed:
            return _("Nothing of the lab's to remove.")
        if self.dry_run:
            return _("Dry run: {count} step(s) above would run; nothing was changed.").format(
                count=len(self.removed))
        return _("Done: {count} step(s); nothing of the lab's is left.").format(count=len(self.removed))


class _Named:
    """A thing clean-up names: in English in the report, in the lesson's language when said."""

    def __init__(self, template: str, **fields: str) -> None:
        self.template, self.fields = template, fields

    def __str__(self) -> str:
        return self.template.format(**self.fields)

    def said(self) -> str:
        return _(self.template).format(**self.fields)


#: What each removal says, by AWS's verb: in a dry run, on failure, once done.
_WOULD = {"delete": N_("would delete {what}"), "detach": N_("would detach {what}"),
          "remove": N_("would remove {what}"), "terminate": N_("would terminate {what}")}
_COULD_NOT = {"delete": N_("could not delete {what}: {error}"), "detach": N_("could not detach {what}: {error}"),
              "remove": N_("could not remove {what}: {error}"),
              "terminate": N_("could not terminate {what}: {error}")}
_DONE = {"delete": N_("deleted {what}"), "detach": N_("detached {what}"), "remove": N_("removed {what}"),
         "terminate": N_("terminated {what}")}
#: How a listed thing of each kind is named.
_KINDS = {"stack": N_("stack {name}"), "role": N_("role {name}"),
          "instance profile": N_("instance profile {name}"), "policy": N_("policy {name}")}


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class _Cleaner:
    def __init__(self, lab, scope: Scope, dry_run: bool, emit: Callable[[str], None]):
        self.lab, self.scope, self.dry_run, self.emit = lab, scope, dry_run, emit
        self.report = Report(dry_run=dry_run)
        self.iam = lab.client("iam")
        self.lab_roles: set[str] = set()
        self.lab_stacks: set[str] = set()
        #: Physical ids of what the lab's stacks made: they go with their stack (or stay with
        #: it, when its deletion fails), never one by one.
        self.stack_made: set[str] = set()

    # ---------------------------------------------------------------- reporting

    def _say(self, line: str) -> None:
        self.emit(for_display(line) if not self.lab.offline else line)

    def do(self, verb: str, what: _Named, call: Callable, **kwargs) -> bool:
        """Make one removal call (or only say it, in a dry run); gone already is done.

        ``verb`` is AWS's word for it ("delete", "detach", "remove", "terminate").
        """
        if self.dry_run:
            self.report.removed.append(f"{verb} {what}")
            self._say(_(_WOULD[verb]).format(what=what.said()))
            return True
        try:
            call(**kwargs)
        except ClientError as error:
            if _code(error) not in _GONE:
                self.report.failed.append(f"{verb} {what}: {error}")
                self._say(_(_COULD_NOT[verb]).format(what=what.said(), error=error))
                return False
        self.report.removed.append(f"{verb} {what}")
        self._say(_(_DONE[verb]).format(what=what.said()))
        return True

    def keep(self, what: _Named, why: str) -> None:
        self.report.kept.append(str(what))
        self._say(_("kept {what}: {why}").format(what=what.said(), why=why))

    # ---------------------------------------------------------------- listing

    def _owned(self, kind: str, items, tags_of: Callable) -> list:
        """Of ``(name, item)`` pairs, the items with both marks; report the near misses."""
        found = []
        for name, item in items:
            if not name.startswith(self.scope.prefix):
                continue
            try:
                tags = tags_of(item)
            except ClientError as error:
                if _code(error) in _GONE:
                    continue  # deleted meanwhile
                raise
            if self.scope.owns(name, tags):
                found.append(item)
            else:
                self.keep(_Named(_KINDS[kind], name=name), _("no {tag} tag of this lab").format(tag=TAG_KEY))
        return found

    def _pages(self, client, operation: str, key: str, **kwargs):
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page[key]

    def stacks(self) -> list[dict]:
        cfn = self.lab.client("cloudformation")
        stacks = (s for s in self._pages(cfn, "describe_stacks", "Stacks")
                  if s["StackStatus"] != "DELETE_COMPLETE")
        return self._owned("stack", ((s["StackName"], s) for s in stacks), lambda s: s.get("Tags"))

    def instances(self) -> list[str]:
        ec2 = self.lab.client("ec2")
        filters = [
            {"Name": "tag-key", "Values": [TAG_KEY]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
        found = []
        for reservation in self._pages(ec2, "describe_instances", "Reservations", Filters=filters):
            for instance in reservation["Instances"]:
                tags = {t["Key"]: t["Value"] for t in instance.get("Tags", [])}
                if tags.get("aws:cloudformation:stack-name") in self.lab_stacks:
                    continue  # its stack's deletion terminates it
                if self.scope.owns_instance(instance.get("Tags")):
                    found.append(instance["InstanceId"])
        return found

    def roles(self) -> list[str]:
        roles = ((r["RoleName"], r["RoleName"]) for r in self._pages(self.iam, "list_roles", "Roles")
                 if r["RoleName"] not in self.stack_made)
        return self._owned("role", roles, lambda name: self.iam.list_role_tags(RoleName=name)["Tags"])

    def profiles(self) -> dict[str, list[str]]:
        """The lab's instance profiles, each with the roles in it now."""
        profiles = (
            (p["InstanceProfileName"], p)
            for p in self._pages(self.iam, "list_instance_profiles", "InstanceProfiles")
            if p["InstanceProfileName"] not in self.stack_made
        )
        # GetInstanceProfile carries the tags; ListInstanceProfiles does not (IAM API
        # reference, ListInstanceProfiles).
        found = self._owned("instance profile", profiles, lambda p: self.iam.get_instance_profile(
            InstanceProfileName=p["InstanceProfileName"])["InstanceProfile"].get("Tags", []))
        return {p["InstanceProfileName"]: [r["RoleName"] for r in p.get("Roles", [])] for p in found}

    def policies(self) -> list[dict]:
        policies = ((p["PolicyName"], p) for p in self._pages(self.iam, "list_policies", "Policies", Scope="Local")
                    if p["Arn"] not in self.stack_made)
        return self._owned("policy", policies, lambda p: self.iam.list_policy_tags(PolicyArn=p["Arn"])["Tags"])

    # ---------------------------------------------------------------- removing

    def remove_stacks(self) -> None:
        cfn = self.lab.client("cloudformation")
        for stack in self.stacks():
            name, status = stack["StackName"], stack["StackStatus"]
            self.lab_stacks.add(name)
            if status.endswith("_FAILED") or "ROLLBACK" in status:
                reasons = waiting.stack_failure(cfn, name)
                if reasons:
                    self._say(_("stack {name} is {status}: {reasons}").format(
                        name=name, status=status, reasons="; ".join(reasons)))
            # Deleted anyway when something else blocks it: the instances and the rest go (nothing
            # left running), the subnet and the VPC stay, DELETE_FAILED, for the next run.
            blocking = self.remove_added_endpoints(cfn, name)
            if not self.do("delete", _Named(_KINDS["stack"], name=name), cfn.delete_stack,
                           StackName=name) or self.dry_run:
                continue
            try:
                waiting.wait(self.lab, "cloudformation", "stack_delete_complete", StackName=name)
            except WaiterError as error:
                reasons = waiting.stack_failure(cfn, name)
                self.report.failed.append(f"stack {name}: {'; '.join(blocking or reasons) or error}")
                if blocking:
                    self._say(_("stack {name} was not deleted: {ids} in its VPC are not the lab's (no {tag} tag of "
                                "this lab) and would keep the VPC from being deleted; delete them with `aws ec2 "
                                "delete-vpc-endpoints --vpc-endpoint-ids {ids}`, then run `ssmlab cleanup` again.").format(
                        name=name, ids=" ".join(blocking), tag=TAG_KEY))
                else:
                    self._say(_("stack {name} was not deleted: {reasons}").format(
                        name=name, reasons="; ".join(reasons) or error))

    def remove_added_endpoints(self, cfn, stack: str) -> list[str]:
        """VPC endpoints added to the stack's VPC after it was made (the answer key's fix of
        ``private-subnet-no-route``): while they exist AWS refuses to delete the subnet, its
        security group and the VPC, and the stack ends DELETE_FAILED. The lab's (Name with
        the prefix, and the tag) are deleted here, first; the ids of the others are returned,
        untouched."""
        ec2 = self.lab.client("ec2")
        resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
        self.stack_made.update(r.get("PhysicalResourceId", "") for r in resources)
        vpcs = [r["PhysicalResourceId"] for r in resources
                if r["ResourceType"] == "AWS::EC2::VPC" and r.get("ResourceStatus") != "DELETE_COMPLETE"]
        if not vpcs:
            return []
        added = [e for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": vpcs}])["VpcEndpoints"]
                 if e.get("State", "").lower() not in ("deleted", "deleting")
                 and not any(t["Key"] == "aws:cloudformation:stack-name" and t["Value"] == stack
                             for t in e.get("Tags", []))]
        foreign, deleted = [], []
        for endpoint in added:
            endpoint_id, tags = endpoint["VpcEndpointId"], endpoint.get("Tags", [])
            if not self.scope.owns(name_tag(tags), tags):
                foreign.append(endpoint_id)
            elif self.do("delete", _Named(N_("VPC endpoint {name}"), name=endpoint_id), ec2.delete_vpc_endpoints,
                         VpcEndpointIds=[endpoint_id]):
                deleted.append(endpoint_id)
        if deleted and not self.dry_run:
            self._wait_until_gone(ec2, deleted)
        return foreign

    def _wait_until_gone(self, ec2, endpoint_ids: list[str]) -> None:
        # EC2 has no waiter for a deleted endpoint: its state goes deleting, then deleted
        # (or it is no longer listed), within a few minutes.
        for _attempt in range(60):
            try:
                listed = ec2.describe_vpc_endpoints(VpcEndpointIds=endpoint_ids)["VpcEndpoints"]
            except ClientError as error:
                if _code(error) != "InvalidVpcEndpointId.NotFound":
                    raise
                listed = []  # EC2 no longer knows one of them: ask again for the rest
                endpoint_ids = [i for i in endpoint_ids if i not in str(error)]
                if endpoint_ids:
                    continue
            if not [e for e in listed if e.get("State", "").lower() != "deleted"]:
                return
            self.lab.wait(seconds=10, progress=False)

    def remove_instances(self) -> None:
        ec2 = self.lab.client("ec2")
        ids = self.instances()
        terminated = [i for i in ids if self.do("terminate", _Named(N_("instance {name}"), name=i), ec2.terminate_instances, InstanceIds=[i])]
        if terminated and not self.dry_run:
            try:
                waiting.wait(self.lab, "ec2", "instance_terminated", InstanceIds=terminated)
            except WaiterError as error:
                self.report.failed.append(f"instances {', '.join(terminated)}: {error}")

    def remove_roles_and_profiles(self) -> None:
        iam = self.iam
        profiles = self.profiles()
        roles = self.roles()
        self.lab_roles.update(roles)
        deletable = []
        for role in roles:
            try:
                attached = list(self._pages(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=role))
                inline = list(self._pages(iam, "list_role_policies", "PolicyNames", RoleName=role))
                in_profiles = [p["InstanceProfileName"] for p in self._pages(
                    iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=role)]
            except ClientError as error:
                if _code(error) in _GONE:
                    continue
                raise
            foreign = [p for p in in_profiles if p not in profiles]
            if foreign:
                self.keep(_Named(_KINDS["role"], name=role), _(
                    "it is in instance profile(s) {profiles}, which are not the lab's; remove it "
                    "from them yourself").format(profiles=", ".join(foreign)))
                continue
            for policy in attached:
                self.do("detach", _Named(N_("policy {policy} from role {role}"), policy=policy["PolicyName"], role=role),
                        iam.detach_role_policy, RoleName=role, PolicyArn=policy["PolicyArn"])
            for name in inline:
                self.do("delete", _Named(N_("inline policy {name} of role {role}"), name=name, role=role),
                        iam.delete_role_policy, RoleName=role, PolicyName=name)
            for profile in in_profiles:
                self.do("remove", _Named(N_("role {role} from instance profile {profile}"), role=role, profile=profile),
                        iam.remove_role_from_instance_profile, InstanceProfileName=profile, RoleName=role)
                if profile in profiles and role in profiles[profile]:
                    profiles[profile].remove(role)
            deletable.append(role)
        for profile, others in profiles.items():
            # Roles not the lab's, in a lab profile: taken out (the role itself stays).
            for role in others:
                self.do("remove", _Named(N_("role {role} from instance profile {profile}"), role=role, profile=profile),
                        iam.remove_role_from_instance_profile, InstanceProfileName=profile, RoleName=role)
            self.do("delete", _Named(_KINDS["instance profile"], name=profile), iam.delete_instance_profile, InstanceProfileName=profile)
        for role in deletable:
            self.do("delete", _Named(_KINDS["role"], name=role), iam.delete_role, RoleName=role)

    def remove_policies(self) -> None:
        iam = self.iam
        for policy in self.policies():
            arn, name = policy["Arn"], policy["PolicyName"]
            entities = iam.list_entities_for_policy(PolicyArn=arn)
            users = [u["UserName"] for u in entities["PolicyUsers"]]
            groups = [g["GroupName"] for g in entities["PolicyGroups"]]
            roles = [r["RoleName"] for r in entities["PolicyRoles"]]
            others = users + groups + [r for r in roles if r not in self.lab_roles]
            if others:
                self.keep(_Named(_KINDS["policy"], name=name), _(
                    "it is attached to {others}, which are not the lab's; detach it yourself").format(
                        others=", ".join(others)))
                continue
            for version in iam.list_policy_versions(PolicyArn=arn)["Versions"]:
                if not version["IsDefaultVersion"]:
                    self.do("delete", _Named(N_("version {version} of policy {name}"), version=version["VersionId"], name=name),
                            iam.delete_policy_version,
                            PolicyArn=arn, VersionId=version["VersionId"])
            self.do("delete", _Named(_KINDS["policy"], name=name), iam.delete_policy, PolicyArn=arn)


def cleanup(lab, *, dry_run: bool = False, all_users: bool = False,
            emit: Callable[[str], None] = print) -> Report:
    """Remove every resource that carries the lab's prefix and tag; print each one.

    ``dry_run`` only says what would be removed. ``all_users`` covers every ``ssmlab-*``
    prefix (a workshop facilitator's clean-up), still only resources with the tag.
    """
    scope = Scope.of(lab, all_users)
    cleaner = _Cleaner(lab, scope, dry_run, emit)
    with acting_for(lab, scope):  # the guard of the lab's clients asks the same scope
        cleaner.remove_stacks()
        cleaner.remove_instances()
        cleaner.remove_roles_and_profiles()
        cleaner.remove_policies()
    emit(cleaner.report.summary())
    return cleaner.report
