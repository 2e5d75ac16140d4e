"""The simulated SSM Agent: does an EC2 instance in the offline lab register with Systems Manager?

Nothing runs on the lab's instances, so this module plays the instance side. ``observe``
reads moto's in-process backends (EC2, IAM, SSM) and answers, from the lab's state at the
moment it is asked, what the real amazon-ssm-agent on that instance would manage to do:

1. the instance is ``running`` (stopped/terminated instances are not managed; AWS-FACTS §5);
2. its AMI ships the agent (Amazon Linux 1/2/2022/2023 base AMIs, not the *minimal* ones;
   Windows Server; Ubuntu 16.04+ images from 2018-06-27 on), judged by the AMI's name —
   AWS doc "Find AMIs with the SSM Agent preinstalled";
3. instance metadata (IMDS) is reachable: MetadataOptions.HttpEndpoint is not ``disabled``;
4. credentials: the EC2 instance profile holds a role that trusts ``ec2.amazonaws.com`` for
   ``sts:AssumeRole`` — or, failing that, Default Host Management Configuration (DHMC):
   the SSM service setting ``/ssm/managed-instance/default-ec2-instance-management-role``
   names an existing role trusted by ``ssm.amazonaws.com`` and the instance requires IMDSv2
   (AWS-FACTS §2, §3);
5. that role may call ``ssm:UpdateInstanceInformation`` on the instance (inline and managed
   policies and the permissions boundary, explicit Deny wins), judged by the lab's one
   policy evaluator ``simulation.policy`` (AWS-FACTS §4, §7);
6. a network path to ``ssm.REGION.amazonaws.com``: the subnet's route table (its explicit
   association or the VPC's main table) sends 0.0.0.0/0 to an attached internet gateway (and
   the instance has a public IP) or to a NAT gateway, or an interface VPC endpoint for the
   service exists in the VPC (AWS-FACTS §5; AWS doc "Troubleshooting managed node
   availability").

The answer is recomputed on every call, so a fix (or a break) shows at the next call.
It is never used against a real account: there the real agent answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import _moto, policy

# The version the simulated agent reports (a real amazon-ssm-agent release; ≥ 3.2.582.0 as
# DHMC requires and ≥ 3.3.40.0, so Run Command arrives over ssmmessages; AWS-FACTS §3, §4).
AGENT_VERSION = "3.3.987.0"

DHMC_SETTING = "/ssm/managed-instance/default-ec2-instance-management-role"
EC2_SERVICE = "ec2.amazonaws.com"
SSM_SERVICE = "ssm.amazonaws.com"
REGISTRATION_ACTION = "ssm:UpdateInstanceInformation"

# The endpoints ssm-cli get-diagnostics probes, in its order (agent/cli/diagnostics).
DIAGNOSED_ENDPOINTS = ("ssm", "ec2messages", "ssmmessages", "s3", "kms", "logs", "monitoring")

SOURCE_PROFILE = "EC2 instance profile"
SOURCE_DHMC = "Default Host Management Configuration"

# Check names. Those ssm-cli also prints use its exact names (agent/cli/diagnostics/*.go).
CHECK_STATE = "Instance state"
CHECK_AGENT = "Agent service"
CHECK_IMDS = "EC2 IMDS"
CHECK_SSM_ENDPOINT = "Connectivity to ssm endpoint"
CHECK_CREDENTIALS = "AWS Credentials"
CHECK_REGISTRATION = "ssm:UpdateInstanceInformation"


@dataclass(frozen=True)
class Check:
    """One precondition of registration: its name, whether it holds, and why."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class AgentState:
    """What the SSM Agent on one instance achieves, derived from the lab's state."""

    instance_id: str
    account_id: str
    region: str
    registered: bool
    checks: tuple[Check, ...]
    log: tuple[str, ...]
    role_name: str | None = None
    role_id: str | None = None
    credential_source: str | None = None
    # The role the instance's own software (e.g. the aws CLI) gets from IMDS: the instance
    # profile's role when EC2 can assume it. DHMC credentials are the agent's alone.
    instance_role_name: str | None = None
    instance_role_id: str | None = None
    instance_state: str = "unknown"
    agent_installed: bool = False
    agent_version: str | None = None
    platform_type: str | None = None
    platform_name: str | None = None
    platform_version: str | None = None
    image_name: str | None = None
    ip_address: str | None = None
    computer_name: str | None = None
    imds_enabled: bool = False
    imdsv2_required: bool = False
    reachable: tuple[tuple[str, bool, str], ...] = ()
    # Run Command / Session Manager: registered, and the role may open the ssmmessages
    # control channel (or, as a fallback, poll ec2messages) over a reachable endpoint.
    command_channel: bool = False
    session_channel: bool = False

    @property
    def assumed_role_arn(self) -> str | None:
        if not self.role_name:
            return None
        return f"arn:aws:sts::{self.account_id}:assumed-role/{self.role_name}/{self.instance_id}"

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)

    def endpoint(self, service: str) -> tuple[bool, str]:
        for name, ok, how in self.reachable:
            if name == service:
                return ok, how
        return False, "unknown service"


# ---------------------------------------------------------------------------------------
# moto backends


def _backends(account_id: str, region: str):
    from moto.ec2.models import ec2_backends
    from moto.iam.models import iam_backends
    from moto.ssm.models import ssm_backends

    # moto 5: EC2 and SSM are per account and region; IAM is global, per partition ("aws").
    return (
        ec2_backends[account_id][region],
        iam_backends[account_id]["aws"],
        ssm_backends[account_id][region],
    )


def _find_instance(ec2, instance_id: str):
    for reservation in ec2.reservations.values():
        for instance in reservation.instances:
            if instance.id == instance_id:
                return instance
    return None


def all_instance_ids(account_id: str, region: str) -> list[str]:
    ec2, _, _ = _backends(account_id, region)
    return [i.id for r in ec2.reservations.values() for i in r.instances]


# ---------------------------------------------------------------------------------------
# The AMI: does it ship the agent, and what platform is it?

_WINDOWS_VERSIONS = {
    "2008": "6.0.6002",
    "2008-R2": "6.1.7601",
    "2012": "6.2.9200",
    "2012-R2": "6.3.9600",
    "2016": "10.0.14393",
    "2019": "10.0.17763",
    "2022": "10.0.20348",
    "2025": "10.0.26100",
}


def platform_of(image_name: str | None) -> dict[str, Any]:
    """Platform facts and whether the agent is preinstalled, from an AMI's name.

    AWS doc "Find AMIs with the SSM Agent preinstalled": Amazon Linux base AMIs (not the
    minimal ones), Windows Server AMIs (published November 2016 or later), Ubuntu Server
    16.04+ images dated 2018-06-27 or later. RHEL, SUSE and anything unknown: not modelled
    as shipping the agent.
    """
    name = image_name or ""
    lower = name.lower()
    facts: dict[str, Any] = {
        "agent": False,
        "type": "Linux",
        "name": None,
        "version": None,
    }
    if lower.startswith("al2023-ami") or lower.startswith("al2022-ami"):
        facts.update(name="Amazon Linux", version=lower[2:6])
        facts["agent"] = "minimal" not in lower
    elif lower.startswith("amzn2-ami"):
        facts.update(name="Amazon Linux", version="2")
        facts["agent"] = "minimal" not in lower
    elif lower.startswith("amzn-ami"):
        match = re.search(r"(20\d\d\.\d\d)", lower)
        facts.update(name="Amazon Linux AMI", version=match.group(1) if match else None)
        facts["agent"] = (
            "minimal" not in lower and "nat" not in lower and bool(match) and match.group(1) >= "2017.09"
        )
    elif name.startswith("Windows_Server-"):
        match = re.match(r"Windows_Server-(\d{4})(-R2)?", name)
        key = (match.group(1) + (match.group(2) or "")) if match else ""
        facts.update(
            type="Windows",
            name=f"Microsoft Windows Server {key.replace('-', ' ')} Datacenter".replace("  ", " "),
            version=_WINDOWS_VERSIONS.get(key),
        )
        facts["agent"] = "nano" not in lower  # Nano Server does not run SSM Agent
    elif "ubuntu" in lower:
        match = re.search(r"ubuntu-\w+-(\d\d\.\d\d)-.*-(\d{8})", lower)
        facts.update(name="Ubuntu", version=match.group(1) if match else None)
        facts["agent"] = bool(match) and match.group(1) >= "16.04" and match.group(2) >= "20180627"
    return facts


# ---------------------------------------------------------------------------------------
# Policies, judged by the one evaluator (policy.py; docs/aws-facts.md#policy-evaluation)


def trusts_service(role, service: str, account_id: str) -> tuple[bool, str]:
    """Does the role's trust policy let ``service`` call sts:AssumeRole?

    IAM doc "Creating a role for an AWS service" and AWS-FACTS §2: the instance profile's
    role is assumed by EC2, so its trust policy must allow Principal Service
    ec2.amazonaws.com the action sts:AssumeRole.
    """
    try:
        document = policy.parse_document(role.assume_role_policy_document)
    except (TypeError, ValueError):
        return False, "the trust policy is not valid JSON"
    if not any(policy.principal_matches(s.get("Principal"), service) for s in policy.statements(document)):
        return False, f"the trust policy names no Principal {{\"Service\": \"{service}\"}}"
    verdict = policy.evaluate_trust(document, service, "sts:AssumeRole", {"aws:SourceAccount": account_id}).verdict
    if verdict == "allow":
        return True, f"the trust policy allows {service} to call sts:AssumeRole"
    if verdict == "deny":
        return False, f"the trust policy explicitly denies sts:AssumeRole to {service}"
    return False, f"the trust policy does not allow {service} to call sts:AssumeRole"


def role_permission(iam, role, action: str, resource: str, context: dict[str, str]) -> tuple[str, str]:
    """('allow'|'deny'|'neutral'|'boundary', reason) for the role calling ``action``.

    Inline and managed policies and the permissions boundary (intersection; explicit Deny
    wins), read from moto by ``_moto.role_policies``; the reason is the boundary's ARN.
    """
    held = _moto.role_policies(iam, role)
    verdict = policy.evaluate(held.identity, action, resource, context, boundary=held.boundary).verdict
    return verdict, (getattr(role, "permissions_boundary_arn", None) or "") if verdict == "boundary" else ""


def access_denied_message(assumed_arn: str, action: str, resource: str, verdict: str) -> str:
    """AWS's AccessDenied wording (IAM doc "Troubleshooting access denied error messages")."""
    head = f"User: {assumed_arn} is not authorized to perform: {action} on resource: {resource}"
    if verdict == "deny":
        return f"{head} with an explicit deny in an identity-based policy"
    if verdict == "boundary":
        return f"{head} because no permissions boundary allows the {action} action"
    return f"{head} because no identity-based policy allows the {action} action"


# ---------------------------------------------------------------------------------------
# Network path


def _route_table_for(ec2, subnet_id: str | None, vpc_id: str | None):
    tables = list(ec2.route_tables.values())
    for table in tables:  # an explicit association wins (VPC doc "Route tables")
        if subnet_id and subnet_id in table._associations.values():
            return table
    for table in tables:
        if table.vpc_id == vpc_id and table.main_association_id is not None:
            return table
    return None


def _internet_route(ec2, table, vpc_id: str, has_public_ip: bool) -> tuple[bool, str]:
    if table is None:
        return False, "no route table"
    for route in table.routes:
        if route.destination_cidr_block != "0.0.0.0/0":
            continue
        gateway = route.gateway
        if gateway is not None and gateway.id.startswith("igw-"):
            if getattr(gateway, "vpc", None) is None or gateway.vpc.id != vpc_id:
                return False, f"route 0.0.0.0/0 -> {gateway.id}, which is not attached to {vpc_id}"
            if not has_public_ip:
                # An internet gateway only carries traffic for instances with a public IP
                # (VPC doc "Enable internet access for a VPC using an internet gateway").
                return False, f"route 0.0.0.0/0 -> {gateway.id}, but the instance has no public IP address"
            return True, f"route 0.0.0.0/0 -> {gateway.id} in {table.id}"
        if route.nat_gateway is not None:
            return True, f"route 0.0.0.0/0 -> {route.nat_gateway.id} in {table.id}"
    return False, f"{table.id} has no route for 0.0.0.0/0 to an internet or NAT gateway"


def _interface_endpoint(ec2, vpc_id: str | None, region: str, service: str) -> str | None:
    wanted = f"com.amazonaws.{region}.{service}"
    for endpoint in ec2.vpc_end_points.values():
        if endpoint.vpc_id != vpc_id or endpoint.service_name != wanted:
            continue
        if getattr(endpoint, "state", "available") not in ("available", "pending"):
            continue
        kind = (endpoint.vpc_endpoint_type or "Gateway").lower()
        if kind == "interface" and endpoint.private_dns_enabled is not False:
            return endpoint.id  # PrivateDnsEnabled defaults to true (EC2 API CreateVpcEndpoint)
        if kind == "gateway" and service == "s3":
            return endpoint.id
    return None


def _reachability(ec2, instance, region: str) -> tuple[tuple[str, bool, str], ...]:
    vpc_id = instance.vpc_id
    table = _route_table_for(ec2, instance.subnet_id, vpc_id)
    has_public_ip = bool(getattr(instance, "public_ip", None))
    internet, how = _internet_route(ec2, table, vpc_id, has_public_ip)
    result = []
    for service in DIAGNOSED_ENDPOINTS:
        endpoint = _interface_endpoint(ec2, vpc_id, region, service)
        if endpoint:
            result.append((service, True, f"VPC endpoint {endpoint}"))
        elif internet:
            result.append((service, True, how))
        else:
            result.append((service, False, how))
    return tuple(result)


# ---------------------------------------------------------------------------------------
# Default Host Management Configuration


def dhmc_role_setting(account_id: str, region: str) -> str | None:
    """The DHMC service setting's value in this account and Region, or None."""
    from .ssm_api import service_setting_value  # lazy: ssm_api imports this module

    value = service_setting_value(account_id, region, DHMC_SETTING)
    return value or None


def _role_from_setting(iam, value: str):
    # The setting holds the role name with its path, e.g.
    # "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole" (AWS-FACTS §3).
    name = value.rsplit("/", 1)[-1]
    path = "/" + value.rsplit("/", 1)[0] + "/" if "/" in value else "/"
    for role in iam.roles.values():
        if role.name == name and (role.path == path or "/" not in value):
            return role
    return None


# ---------------------------------------------------------------------------------------
# observe


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def observe(account_id: str, region: str, instance_id: str) -> AgentState:
    """What the SSM Agent on ``instance_id`` achieves right now, from the lab's state."""
    ec2, iam, _ = _backends(account_id, region)
    instance = _find_instance(ec2, instance_id)
    if instance is None:
        return AgentState(
            instance_id=instance_id,
            account_id=account_id,
            region=region,
            registered=False,
            checks=(Check(CHECK_STATE, False, f"no instance {instance_id} in {region}"),),
            log=(),
            instance_state="absent",
        )

    image = ec2.amis.get(instance.image_id)
    image_name = getattr(image, "name", None)
    platform = platform_of(image_name)
    state = instance.state
    metadata = getattr(instance, "metadata_options", None)
    imds_enabled = getattr(metadata, "http_endpoint", "enabled") != "disabled"
    imdsv2_required = getattr(metadata, "http_tokens", "optional") == "required"
    instance_arn = f"arn:aws:ec2:{region}:{account_id}:instance/{instance_id}"
    computer_name = instance.private_dns_name
    if platform["type"] == "Windows":
        computer_name = "EC2AMAZ-" + instance_id[-7:].upper()
    launched = getattr(instance, "launch_time", None)
    try:
        boot = datetime.fromisoformat(str(launched).replace("Z", "+00:00"))
    except ValueError:
        boot = datetime.now(timezone.utc)
    if boot.tzinfo is None:
        boot = boot.replace(tzinfo=timezone.utc)
    now = _stamp(max(datetime.now(timezone.utc), boot + timedelta(seconds=1)))
    log: list[str] = []
    checks: list[Check] = []

    def start_log() -> None:
        started = _stamp(boot)
        os_name = "linux" if platform["type"] == "Linux" else "windows"
        log.append(f"{started} INFO [amazon-ssm-agent] amazon-ssm-agent - v{AGENT_VERSION}")
        log.append(f"{started} INFO [amazon-ssm-agent] OS: {os_name}, Arch: amd64")

    # 1. running
    running = state == "running"
    checks.append(Check(CHECK_STATE, running, f"instance state is {state}"))
    # 2. agent installed (and therefore running as a service once the instance runs)
    if platform["agent"]:
        agent_detail = f"AMI {image_name} ships SSM Agent; the service runs"
    else:
        agent_detail = (
            f"AMI {image_name or instance.image_id} does not ship SSM Agent"
            " (AWS doc: Find AMIs with the SSM Agent preinstalled)"
        )
    checks.append(Check(CHECK_AGENT, platform["agent"] and running, agent_detail if running or not platform["agent"] else "the instance is not running"))
    # 3. IMDS
    checks.append(
        Check(
            CHECK_IMDS,
            imds_enabled,
            f"IMDS is accessible and has instance id {instance_id} in region {region}"
            if imds_enabled
            else "instance metadata is turned off (MetadataOptions HttpEndpoint=disabled)",
        )
    )
    # 6. network (checked before credentials, as ssm-cli orders its checks)
    reachable = _reachability(ec2, instance, region)
    ssm_ok, ssm_how = next((ok, how) for name, ok, how in reachable if name == "ssm")
    checks.append(
        Check(
            CHECK_SSM_ENDPOINT,
            ssm_ok,
            f"ssm.{region}.amazonaws.com is reachable ({ssm_how})"
            if ssm_ok
            else f"ssm.{region}.amazonaws.com is not reachable: {ssm_how}, and no interface VPC endpoint com.amazonaws.{region}.ssm",
        )
    )

    # 4./5. credentials and permission, instance profile first, then DHMC
    association = ec2.iam_instance_profile_associations.get(instance_id)
    profile = None
    if association is not None and getattr(association, "state", "associated") == "associated":
        wanted = association.iam_instance_profile
        profile = next((p for p in iam.instance_profiles.values() if p is wanted), None)
        if profile is None:  # deleted and maybe recreated under the same name: not the same profile
            profile = None
    context = {
        "aws:SourceAccount": account_id,
        "aws:RequestedRegion": region,
        "aws:PrincipalAccount": account_id,
        "ec2:SourceInstanceARN": instance_arn,
    }

    # IMDS has no role to hand out: aws/amazon-ssm-agent#544's log.
    no_role_log = [
        f"{now} WARN EC2RoleProvider Failed to connect to Systems Manager with instance profile role credentials. "
        "Err: retrieved credentials failed to report to ssm. Error: EC2RoleRequestError: no EC2 instance role found",
        "caused by: EC2MetadataError: failed to make EC2Metadata request",
        "\tstatus code: 404, request id: ",
    ]
    attempts: list[str] = []  # why each credential source failed, for the checks
    chosen: tuple[str, Any] | None = None
    instance_role = None
    profile_verdict = None

    if profile is None:
        attempts.append("no instance profile is associated with the instance")
        log_profile = no_role_log
    elif not profile.roles:
        attempts.append(f"instance profile {profile.name} holds no role")
        log_profile = no_role_log
    else:
        role = profile.roles[0]
        trusted, trust_detail = trusts_service(role, EC2_SERVICE, account_id)
        if not trusted:
            # IMDS answers iam/info with AssumeRoleUnauthorizedAccess when EC2 cannot assume
            # the role (IAM doc "Troubleshoot IAM and Amazon EC2").
            attempts.append(f"EC2 cannot assume role {role.name}: {trust_detail}")
            log_profile = [
                f"{now} WARN EC2RoleProvider Failed to connect to Systems Manager with instance profile role credentials. "
                "Err: retrieved credentials failed to report to ssm. Error: EC2RoleRequestError: no EC2 instance role found",
                f"caused by: AssumeRoleUnauthorizedAccess: EC2 cannot assume the role {role.name}.",
            ]
        else:
            instance_role = role
            verdict, extra = role_permission(iam, role, REGISTRATION_ACTION, instance_arn, context)
            profile_verdict = verdict
            assumed = f"arn:aws:sts::{account_id}:assumed-role/{role.name}/{instance_id}"
            if verdict == "allow":
                chosen = (SOURCE_PROFILE, role)
                log_profile = []
            else:
                message = access_denied_message(assumed, REGISTRATION_ACTION, instance_arn, verdict)
                attempts.append(f"AccessDeniedException: {message}")
                log_profile = [
                    f"{now} INFO [ssm-agent-worker] Entering SSM Agent hibernate - AccessDeniedException: {message}",
                    "\tstatus code: 400, request id: ",
                    f"{now} WARN EC2RoleProvider Failed to connect to Systems Manager with instance profile role credentials. "
                    f"Err: retrieved credentials failed to report to ssm. Error: AccessDeniedException: {message}",
                ]

    log_dhmc: list[str] = []
    if chosen is None:
        setting = dhmc_role_setting(account_id, region)
        if not setting:
            attempts.append("Default Host Management Configuration is not enabled in this Region")
            log_dhmc = [
                f"{now} ERROR EC2RoleProvider Failed to connect to Systems Manager with SSM role credentials. "
                "error calling RequestManagedInstanceRoleToken: AccessDeniedException: "
                f"Systems Manager's instance management role is not configured for account: {account_id}",
                "\tstatus code: 400, request id: ",
            ]
        else:
            dhmc_role = _role_from_setting(iam, setting)
            problem = None
            if dhmc_role is None:
                problem = f"the DHMC role {setting} does not exist"
            else:
                trusted, trust_detail = trusts_service(dhmc_role, SSM_SERVICE, account_id)
                if not trusted:
                    problem = f"Systems Manager cannot assume the DHMC role {dhmc_role.name}: {trust_detail}"
                elif not imdsv2_required:
                    # DHMC requires IMDSv2 (AWS-FACTS §3; Systems Manager doc "Managing EC2
                    # instances automatically with Default Host Management Configuration").
                    problem = "DHMC requires IMDSv2, but the instance allows IMDSv1 (MetadataOptions HttpTokens=optional)"
                else:
                    verdict, _ = role_permission(iam, dhmc_role, REGISTRATION_ACTION, instance_arn, context)
                    if verdict == "allow":
                        chosen = (SOURCE_DHMC, dhmc_role)
                    else:
                        assumed = f"arn:aws:sts::{account_id}:assumed-role/{dhmc_role.name}/{instance_id}"
                        problem = "AccessDeniedException: " + access_denied_message(
                            assumed, REGISTRATION_ACTION, instance_arn, verdict
                        )
            if problem:
                attempts.append(f"Default Host Management Configuration: {problem}")
                log_dhmc = [
                    f"{now} ERROR EC2RoleProvider Failed to connect to Systems Manager with SSM role credentials. {problem}"
                ]

    if chosen is not None:
        source, role = chosen
        assumed = f"arn:aws:sts::{account_id}:assumed-role/{role.name}/{instance_id}"
        checks.append(Check(CHECK_CREDENTIALS, True, f"Credentials are for {assumed} ({source})"))
        checks.append(Check(CHECK_REGISTRATION, True, f"{role.name} may call ssm:UpdateInstanceInformation on {instance_arn}"))
    else:
        if profile_verdict is not None and profile_verdict != "allow" and len(attempts) >= 1:
            # The profile gave credentials; only the permission is missing.
            assumed = f"arn:aws:sts::{account_id}:assumed-role/{instance_role.name}/{instance_id}"
            checks.append(Check(CHECK_CREDENTIALS, True, f"Credentials are for {assumed} ({SOURCE_PROFILE})"))
            checks.append(Check(CHECK_REGISTRATION, False, "; ".join(attempts)))
        else:
            checks.append(Check(CHECK_CREDENTIALS, False, "; ".join(attempts)))
            checks.append(Check(CHECK_REGISTRATION, False, "no credentials to call ssm:UpdateInstanceInformation with"))

    registered = running and platform["agent"] and imds_enabled and ssm_ok and chosen is not None

    # Run Command and Session Manager channels (AWS-FACTS §4: agent ≥ 3.3.40.0 uses
    # ssmmessages, falling back to ec2messages).
    command_channel = session_channel = False
    if registered:
        _, role = chosen
        reach = {name: ok for name, ok, _ in reachable}

        def allowed(action: str) -> bool:
            return role_permission(iam, role, action, "*", context)[0] == "allow"

        session_channel = reach["ssmmessages"] and allowed("ssmmessages:CreateControlChannel") and allowed(
            "ssmmessages:OpenControlChannel"
        )
        command_channel = session_channel or (reach["ec2messages"] and allowed("ec2messages:GetMessages"))

    # The agent log, as amazon-ssm-agent.log would read (aws/amazon-ssm-agent#543, #544).
    if running and platform["agent"]:
        start_log()
        if not imds_enabled:
            log.append(
                f"{now} ERROR [amazon-ssm-agent] failed to get identity: no identity could be resolved: "
                "EC2MetadataError: failed to make EC2Metadata request (instance metadata is turned off)"
            )
        else:
            log.extend(log_profile)
            log.extend(log_dhmc)
            if chosen is None:
                log.append(
                    f"{now} ERROR [CredentialRefresher] Retrieve credentials produced error: no valid credentials "
                    "could be retrieved for ec2 identity."
                )
                log.append(f"{now} INFO [CredentialRefresher] Sleeping for 30m0s before retrying retrieve credentials")
            elif not ssm_ok:
                log.append(
                    f"{now} ERROR [HealthCheck] error when calling AWS APIs. error: RequestError: send request failed"
                )
                log.append(
                    f"caused by: Post \"https://ssm.{region}.amazonaws.com/\": dial tcp: i/o timeout"
                )
            else:
                source, role = chosen
                log.append(f"{now} INFO [CredentialRefresher] Credentials ready ({source}: role {role.name})")
                log.append(f"{now} INFO [amazon-ssm-agent] [Registrar] Instance {instance_id} registered; "
                           "health ping (ssm:UpdateInstanceInformation) succeeded")
                if not command_channel:
                    log.append(
                        f"{now} ERROR [ssm-agent-worker] [MessageService] failed to open the control channel "
                        "(ssmmessages) and to poll ec2messages: Run Command cannot deliver commands"
                    )

    profile_role = instance_role
    role_used = chosen[1] if chosen else instance_role
    return AgentState(
        instance_id=instance_id,
        account_id=account_id,
        region=region,
        registered=registered,
        checks=tuple(checks),
        log=tuple(log),
        role_name=role_used.name if role_used is not None else None,
        role_id=role_used.id if role_used is not None else None,
        credential_source=chosen[0] if chosen else None,
        instance_role_name=profile_role.name if profile_role is not None else None,
        instance_role_id=profile_role.id if profile_role is not None else None,
        instance_state=state,
        agent_installed=platform["agent"],
        agent_version=AGENT_VERSION if platform["agent"] else None,
        platform_type=platform["type"],
        platform_name=platform["name"],
        platform_version=platform["version"],
        image_name=image_name,
        ip_address=instance.private_ip,
        computer_name=computer_name,
        imds_enabled=imds_enabled,
        imdsv2_required=imdsv2_required,
        reachable=reachable,
        command_channel=command_channel,
        session_channel=session_channel,
    )


def states(account_id: str, region: str) -> list[AgentState]:
    """observe() for every instance in the Region, in launch order."""
    return [observe(account_id, region, iid) for iid in all_instance_ids(account_id, region)]


def managed_instances(account_id: str, region: str) -> list[AgentState]:
    """The instances whose agent is registered right now (what Fleet Manager lists)."""
    return [state for state in states(account_id, region) if state.registered]
