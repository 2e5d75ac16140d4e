"""``ssmlab doctor --aws``: can this account run the lessons? Ends with GO or NO-GO.

Only reads (nothing is created): the credentials and the account confirmation; the
Region and the lessons' AMI parameter; the permissions the lessons use, asked of IAM's
policy simulator for the caller; a default VPC whose default subnets give instances a
public address and route 0.0.0.0/0 to an internet gateway (the template names no subnet,
and the agent must reach Systems Manager's endpoints over HTTPS, docs/aws-facts.md#core-5); the
instance type; and Default Host Management Configuration (docs/aws-facts.md#core-3).

What ``start(backend="aws")`` itself refuses before anything is created (the AMI parameter
and the names' lengths) is ``replay.refuse_bad_input``: the lab does not import this module.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from .errors import LabError
from .i18n import _
from .replay import AMI_PARAMETER
from .scrub import for_display

INSTANCE_TYPE = "t3.micro"
DHMC_SETTING = "/ssm/managed-instance/default-ec2-instance-management-role"

#: Every call the lessons, replay and clean-up make, by service (IAM's action names).
#: sts:GetCallerIdentity needs no permission. iam:TagRole / TagInstanceProfile /
#: TagPolicy: creating with tags needs them (IAM User Guide, "Permissions required to
#: tag IAM entities"); cloudformation:TagResource likewise for a stack created with tags.
LESSON_ACTIONS = (
    # lessons 01-02, 04-07: roles and instance profiles
    "iam:CreateRole", "iam:GetRole", "iam:ListRoles", "iam:DeleteRole", "iam:TagRole",
    "iam:ListRoleTags", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy",
    "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:AttachRolePolicy",
    "iam:DetachRolePolicy", "iam:ListAttachedRolePolicies", "iam:CreateInstanceProfile",
    "iam:GetInstanceProfile", "iam:ListInstanceProfiles", "iam:ListInstanceProfilesForRole",
    "iam:TagInstanceProfile", "iam:AddRoleToInstanceProfile",
    "iam:RemoveRoleFromInstanceProfile", "iam:DeleteInstanceProfile", "iam:PassRole",
    "iam:CreatePolicy", "iam:DeletePolicy", "iam:ListPolicies", "iam:ListPolicyTags",
    "iam:TagPolicy", "iam:ListEntitiesForPolicy", "iam:ListPolicyVersions",
    "iam:DeletePolicyVersion", "sts:AssumeRole",
    # lesson 03: iam:PassRole, asked of IAM's policy simulator for a restricted stand-in
    "iam:SimulatePrincipalPolicy",
    # lesson 03: the stack and its instance
    "cloudformation:CreateStack", "cloudformation:DescribeStacks",
    "cloudformation:DescribeStackEvents", "cloudformation:DeleteStack",
    "cloudformation:TagResource", "ssm:GetParameters", "ssm:GetParameter",
    # clean-up: each lab stack's resources (a fleet's VPC, for the endpoints added to it)
    "cloudformation:DescribeStackResources",
    "ec2:RunInstances", "ec2:CreateTags", "ec2:DescribeInstances",
    "ec2:TerminateInstances", "ec2:RebootInstances", "ec2:DescribeImages",
    "ec2:CreateSecurityGroup", "ec2:DeleteSecurityGroup", "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeRouteTables",
    "ec2:DescribeInstanceTypeOfferings", "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:AssociateIamInstanceProfile", "ec2:ReplaceIamInstanceProfileAssociation",
    # lessons 05-07: Systems Manager
    "ssm:DescribeInstanceInformation", "ssm:GetConnectionStatus", "ssm:SendCommand",
    "ssm:GetCommandInvocation", "ssm:ListCommandInvocations", "ssm:GetServiceSetting",
)
_SIMULATE_BATCH = 50  # keep each request small


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "fail"
    detail: str

    def line(self) -> str:
        mark = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}[self.status]
        return f"{mark}  {self.name}: {self.detail}"


# -------------------------------------------------------------- doctor --aws


def _caller_source_arn(lab) -> str | None:
    """The IAM ARN the policy simulator takes for the caller (None for the root user)."""
    arn = lab.caller_arn
    match = re.fullmatch(r"arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/.+", arn)
    if match:
        partition, account, role = match.groups()
        try:  # the role's path (SSO roles live under /aws-reserved/...)
            return lab.client("iam").get_role(RoleName=role)["Role"]["Arn"]
        except ClientError:
            return f"arn:{partition}:iam::{account}:role/{role}"
    if arn.endswith(":root"):
        return None
    return arn


def check_permissions(lab, actions=LESSON_ACTIONS) -> Check:
    source = _caller_source_arn(lab)
    if source is None:
        return Check("permissions", "warn", _("you are the account's root user: every action "
                                              "is allowed, but AWS advises an IAM role or user for daily work"))
    iam = lab.client("iam")
    denied = []
    try:
        for start in range(0, len(actions), _SIMULATE_BATCH):
            batch = list(actions[start:start + _SIMULATE_BATCH])
            pages = iam.get_paginator("simulate_principal_policy").paginate(
                PolicySourceArn=source, ActionNames=batch)
            for page in pages:
                denied += [r["EvalActionName"] for r in page["EvaluationResults"]
                           if r["EvalDecision"] != "allowed"]
    except ClientError as error:
        return Check("permissions", "warn", _(
            "could not ask IAM's policy simulator ({code}); ask your administrator to allow "
            "iam:SimulatePrincipalPolicy, or check the actions in ssmlab/preflight.py by hand").format(
                code=error.response["Error"]["Code"]))
    if denied:
        return Check("permissions", "fail", _(
            "{denied} of {count} actions the lessons use are not allowed for {source}: {actions}; "
            "ask your administrator to allow them in this sandbox account").format(
                denied=len(denied), count=len(actions), source=source, actions=", ".join(denied)))
    return Check("permissions", "ok", _("all {count} actions the lessons use are allowed "
                                        "for {source} (IAM policy simulator)").format(count=len(actions), source=source))


def check_region(lab) -> Check:
    try:
        value = lab.client("ssm").get_parameter(Name=AMI_PARAMETER)["Parameter"]["Value"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ParameterNotFound":
            return Check("region", "fail", _("{region} has no public parameter {parameter}: "
                                             "set AWS_REGION to a Region that has it, for example us-east-1").format(
                                                 region=lab.region, parameter=AMI_PARAMETER))
        return Check("region", "warn", _("{region}: could not read {parameter} ({code})").format(
            region=lab.region, parameter=AMI_PARAMETER, code=error.response["Error"]["Code"]))
    return Check("region", "ok", _("{region}; the lessons' AMI is {ami}").format(region=lab.region, ami=value))


def check_instance_type(lab) -> Check:
    offered = lab.client("ec2").describe_instance_type_offerings(
        Filters=[{"Name": "instance-type", "Values": [INSTANCE_TYPE]}]
    )["InstanceTypeOfferings"]
    if not offered:
        return Check("instance type", "fail", _("{type} is not offered in {region}: "
                                                "choose another Region, for example us-east-1").format(
                                                    type=INSTANCE_TYPE, region=lab.region))
    return Check("instance type", "ok", _("{type} is offered in {region} "
                                          "(about US$0.01 an hour in us-east-1)").format(
                                              type=INSTANCE_TYPE, region=lab.region))


def check_network(lab) -> Check:
    ec2 = lab.client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    if not vpcs:
        return Check("network", "fail", _("{region} has no default VPC, where the lessons' "
                                          "stack launches its instance: create one with "
                                          "`aws ec2 create-default-vpc`").format(region=lab.region))
    vpc = vpcs[0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                            {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    main = next((t for t in tables if any(a.get("Main") for a in t.get("Associations", []))), None)

    def table_of(subnet_id):
        for table in tables:
            if any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])):
                return table
        return main

    def reaches_internet(table) -> bool:
        return bool(table) and any(
            r.get("DestinationCidrBlock") == "0.0.0.0/0" and r.get("GatewayId", "").startswith("igw-")
            and r.get("State", "active") == "active"
            for r in table.get("Routes", [])
        )

    good = [s["SubnetId"] for s in subnets
            if s.get("MapPublicIpOnLaunch") and reaches_internet(table_of(s["SubnetId"]))]
    if not good:
        return Check("network", "fail", _(
            "no default subnet of the default VPC {vpc} both gives "
            "instances a public address and routes 0.0.0.0/0 to an internet gateway, so "
            "the SSM Agent could not reach Systems Manager: use a Region whose default "
            "VPC is unchanged, or recreate it (`aws ec2 create-default-vpc` after "
            "deleting the old one)").format(vpc=vpc))
    return Check("network", "ok", _("default VPC {vpc}: {count} default subnet(s) route "
                                    "0.0.0.0/0 to an internet gateway").format(vpc=vpc, count=len(good)))


def check_dhmc(lab) -> Check:
    try:
        value = lab.client("ssm").get_service_setting(SettingId=DHMC_SETTING)["ServiceSetting"]["SettingValue"]
    except ClientError as error:
        return Check("Default Host Management", "warn", _(
            "could not read the setting ({code}); if it is on, see the README").format(
                code=error.response["Error"]["Code"]))
    if value in ("", "$None", None):
        return Check("Default Host Management", "ok", _(
            "off in {region}: the instance registers only once its own role allows it, "
            "as in the blog").format(region=lab.region))
    return Check("Default Host Management", "warn", _(
        "on in {region} (role {role}): "
        "Systems Manager can manage instances without an instance profile, so the "
        "lessons' instance may register before lesson 06's policy step and lesson 05's "
        "point will not show; it is an account-wide setting, leave it to its owner and "
        "use a Region where it is off (`aws ssm get-service-setting --setting-id "
        "{setting}`) if you want the blog's journey exactly").format(
            region=lab.region, role=value, setting=DHMC_SETTING))


def run(emit: Callable[[str], None] = print, *, region: str | None = None) -> bool:
    """Run every check, emit a line each and GO / NO-GO; return whether it is GO."""
    from . import lab as lab_module

    results: list[Check] = []
    try:
        lab = lab_module.start("aws", region=region, quiet=True)
    except LabError as error:
        results.append(Check("credentials", "fail", str(error)))
        lab = None
    if lab is not None:
        results.append(Check("credentials", "ok", _("{arn} in the confirmed account {account}").format(
            arn=lab.caller_arn, account=lab.account_id)))
        for check in (check_region, check_permissions, check_network, check_instance_type, check_dhmc):
            try:
                results.append(check(lab))
            except (ClientError, BotoCoreError) as error:
                results.append(Check(check.__name__[len("check_"):].replace("_", " "), "fail",
                                     _("could not check: {error}").format(error=error)))
        lab_module.stop()
    for result in results:
        emit(for_display(result.line()))
    go = not any(r.status == "fail" for r in results)
    warned = any(r.status == "warn" for r in results)
    if go:
        emit((_("GO: the lessons can run here (read the warnings above). Start with "
                "`ssmlab.start(backend=\"aws\")`; clean up with `ssmlab cleanup`.") if warned else
              _("GO: the lessons can run here. Start with `ssmlab.start(backend=\"aws\")`; "
                "clean up with `ssmlab cleanup`.")))
    else:
        emit(_("NO-GO: fix the FAIL line(s) above, then run `ssmlab doctor --aws` again."))
    return go
