"""The simulated SSM Agent: a state machine per EC2 instance, driven by the lab clock.

Nothing runs on the lab's instances, so this module plays the instance side
(docs/aws-facts.md#time-and-the-agent-clock for every timing and log line):

- :class:`AgentMachine` is one instance's agent: Off (instance not running), Booting,
  Registering, Online (a health ping every 5 minutes), Sleeping (the credential
  refresher's back-off), Hibernating (the worker's health ping was refused), Stopped (the
  service was stopped). A reboot boots it again; its retry then comes at once.
- :class:`World` holds every machine and, each time the lab clock moves, processes the
  events that fell due, in time order.
- At each event the agent makes an *attempt*: :func:`assess` reads moto's in-process
  backends (EC2, IAM, SSM) as they are at that moment, in the agent's own order:

  1. the instance is ``running`` and its AMI ships the agent (Amazon Linux base AMIs, not
     the *minimal* ones; macOS; SLES 12 and 15; Windows Server; Ubuntu 16.04+ images from
     2018-06-27 on), judged by the AMI's name — AWS doc "AMIs with SSM Agent preinstalled";
  2. instance metadata (IMDS) is reachable: MetadataOptions.HttpEndpoint is not ``disabled``;
  3. a network path to ``ssm.REGION.amazonaws.com``: the subnet's route table (its explicit
     association or the VPC's main table) sends 0.0.0.0/0 to an attached internet gateway
     (and the instance has a public IP) or to a NAT gateway, or an interface VPC endpoint
     for the service exists in the VPC (AWS doc "Troubleshooting managed node availability");
  4. credentials: the EC2 instance profile holds a role that trusts ``ec2.amazonaws.com``
     and may call ``ssm:UpdateInstanceInformation`` (inline and managed policies and the
     permissions boundary, explicit Deny wins, judged by the lab's one policy evaluator ``simulation.policy``) — or,
     failing that, Default Host Management Configuration (the SSM service setting names an
     existing role trusted by ``ssm.amazonaws.com``);
  5. the Run Command / Session Manager channel (ssmmessages, or ec2messages for older agents).

- Systems Manager's view follows the heartbeats: a node that registered stays listed while
  it runs, Online until its pings are late, then ConnectionLost.

It is never used against a real account: there the real agent answers.
"""

from __future__ import annotations

import json
import math
import random
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from . import _moto, instance_state, policy
from .world import service_setting_value

# The version the simulated agent reports: the newest release in the agent's
# RELEASENOTES.md of the snapshot the lab's log lines are read from (aws/amazon-ssm-agent
# 1c217c8, RELEASENOTES.md:15, October 2024); ≥ 3.2.582.0 as DHMC requires and ≥ 3.3.40.0,
# so Run Command arrives over ssmmessages. Newer releases exist by now, so
# DescribeInstanceInformation says IsLatestVersion false
# (docs/aws-facts.md#time-and-the-agent-clock).
AGENT_VERSION = "3.3.987.0"

DHMC_SETTING = "/ssm/managed-instance/default-ec2-instance-management-role"
EC2_SERVICE = "ec2.amazonaws.com"
SSM_SERVICE = "ssm.amazonaws.com"
REGISTRATION_ACTION = "ssm:UpdateInstanceInformation"

# The endpoints ssm-cli get-diagnostics probes, in its order (agent/cli/diagnostics).
DIAGNOSED_ENDPOINTS = ("ssm", "ec2messages", "ssmmessages", "s3", "kms", "logs", "monitoring")
# Also reached: STS, which ssm-cli's credentials check calls (credentials_check.go:69-72).
REACHED_SERVICES = DIAGNOSED_ENDPOINTS + ("sts",)

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
    # What Systems Manager shows: Online, ConnectionLost, or None (never registered).
    ping_status: str | None = None
    last_ping: datetime | None = None
    agent_phase: str = "Off"

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
    # moto 5: EC2 and SSM are per account and region; IAM is global, per partition ("aws").
    return (
        _moto.ec2_backend(account_id, region),
        _moto.iam_backend(account_id),
        _moto.ssm_backend(account_id, region),
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

    AWS doc "AMIs with SSM Agent preinstalled" (awsdocs/aws-systems-manager-user-guide,
    doc_source/ami-preinstalled-agent.md): Amazon Linux base AMIs (not the minimal ones),
    macOS, SUSE Linux Enterprise Server 12 and 15, Ubuntu Server 16.04+ images dated
    2018-06-27 or later, Windows Server AMIs (published November 2016 or later). RHEL and
    anything unknown: not modelled as shipping the agent.
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
    elif lower.startswith("suse-sles-"):
        # AWS's SLES AMIs: suse-sles-15-sp6-v20240101-hvm-ssd-x86_64
        match = re.match(r"suse-sles-(\d+)(?:-sp(\d+))?", lower)
        version = (match.group(1) + (f".{match.group(2)}" if match.group(2) else "")) if match else None
        facts.update(name="SLES", version=version)
        facts["agent"] = bool(match) and match.group(1) in ("12", "15")
    elif lower.startswith("amzn-ec2-macos-"):
        # AWS's macOS AMIs: amzn-ec2-macos-14.2-20240105-235525-arm64
        match = re.match(r"amzn-ec2-macos-(\d+(?:\.\d+)*)", lower)
        facts.update(type="MacOS", name="macOS", version=match.group(1) if match else None)
        facts["agent"] = bool(match)
    elif lower.startswith("debian-"):
        # Debian's AMIs: debian-12-amd64-20251006-2257. Not in AWS's list of AMIs with SSM
        # Agent preinstalled (docs/aws-facts.md#fleet-agent-not-installed).
        match = re.match(r"debian-(\d+)-", lower)
        facts.update(name="Debian GNU/Linux", version=match.group(1) if match else None)
    elif "ubuntu" in lower:
        match = re.search(r"ubuntu-\w+-(\d\d\.\d\d)-.*-(\d{8})", lower)
        facts.update(name="Ubuntu", version=match.group(1) if match else None)
        facts["agent"] = bool(match) and match.group(1) >= "16.04" and match.group(2) >= "20180627"
    return facts


# ---------------------------------------------------------------------------------------
# Policies, judged by the one evaluator (policy.py; docs/aws-facts.md#policy-evaluation)


def trusts_service(role, service: str, account_id: str) -> tuple[bool, str]:
    """Does the role's trust policy let ``service`` call sts:AssumeRole?

    IAM doc "Creating a role for an AWS service" and docs/aws-facts.md#core-2: the instance profile's
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


def dial_timeout(address: str) -> str:
    """Go's error for a dial to ``address`` port 443 that timed out, as the agent's log has it
    inside aws-sdk-go's ``RequestError`` (``Post "URL": dial tcp IP:443: i/o timeout``) and
    ssm-cli prints it in ``%s is not reachable: %v`` (agent/cli/diagnostics/connectivity_check.go:46,216-224:
    ``net.DialTimeout("tcp", address:443, 1 s)``; a net.OpError reads ``dial tcp IP:443:
    i/o timeout``). The address AWS's DNS gives is not the lab's to know: it is a stand-in
    from RFC 5737's documentation range, the same for the same name
    (docs/aws-facts.md#ssm-cli-dial-timeout)."""
    last = sum(address.encode()) % 254 + 1
    return f"dial tcp 203.0.113.{last}:443: i/o timeout"


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
    if internet:  # the route exists; stateful and stateless filters may still drop it
        blocked = _egress_blocked(ec2, instance, None) or _acl_blocked(ec2, instance)
        internet, how = (False, blocked) if blocked else (True, how)
    result = []
    for service in REACHED_SERVICES:
        endpoint = _interface_endpoint(ec2, vpc_id, region, service)
        if endpoint:
            blocked = _egress_blocked(ec2, instance, ec2.vpc_end_points[endpoint])
            result.append((service, not blocked, blocked or f"VPC endpoint {endpoint}"))
        elif internet:
            result.append((service, True, how))
        else:
            result.append((service, False, how))
    return tuple(result)


# ---------------------------------------------------------------------------------------
# Security groups and network ACLs on the way to port 443
# (docs/aws-facts.md#fleet-security-group-egress, #fleet-network-acl-return-traffic)

#: The ports Linux picks a connection's local (ephemeral) port from, where the
#: endpoint's replies arrive ("Many Linux kernels (including the Amazon Linux kernel) use ports 32768-61000": VPC doc
#: "Network ACLs", Ephemeral ports).
EPHEMERAL_PORTS = (32768, 61000)
_PROTOCOLS = {"-1": "-1", "all": "-1", "6": "6", "tcp": "6", "17": "17", "udp": "17"}


def _covers(rule_from, rule_to, low: int, high: int) -> bool:
    if rule_from is None or rule_to is None:  # all traffic
        return True
    return int(rule_from) <= low and high <= int(rule_to)


def _rule_allows_https(rule, destination: str | None, group_ids: set[str]) -> bool:
    """A security group rule letting TCP 443 reach ``destination`` (a CIDR the address is
    in, ``None`` for the service's public addresses, matched only by 0.0.0.0/0)."""
    import ipaddress

    if _PROTOCOLS.get(str(rule.ip_protocol).lower()) not in ("-1", "6"):
        return False
    if str(rule.ip_protocol) != "-1" and not _covers(rule.from_port, rule.to_port, 443, 443):
        return False
    cidr = (rule.ip_range or {}).get("CidrIp")
    if cidr == "0.0.0.0/0":
        return True
    if cidr and destination:
        return ipaddress.ip_address(destination) in ipaddress.ip_network(cidr, strict=False)
    return bool(rule.source_group) and rule.source_group.get("GroupId") in group_ids


def _egress_blocked(ec2, instance, endpoint) -> str | None:
    """Why the instance's security groups keep TCP 443 from leaving (None: they let it).
    Security groups are stateful: replies need no rule (VPC doc "Security group rules").
    Towards an interface endpoint, the endpoint's own groups must also let 443 in."""
    groups = [g for g in getattr(instance, "security_groups", []) if hasattr(g, "egress_rules")]
    ids = {g.id for g in groups}
    destination = None
    if endpoint is not None:
        eni = ec2.enis.get(endpoint.network_interface_ids[0]) if endpoint.network_interface_ids else None
        destination = getattr(eni, "private_ip_address", None)
    if groups and not any(_rule_allows_https(r, destination, set()) for g in groups for r in g.egress_rules):
        names = ", ".join(sorted(ids))
        return f"security group {names} allows no outbound TCP 443"
    if endpoint is not None:
        endpoint_groups = [g for g in (ec2.get_security_group_from_id(gid) for gid in endpoint.security_group_ids) if g]
        source = instance.private_ip
        if endpoint_groups and not any(
            _rule_allows_https(r, source, ids) for g in endpoint_groups for r in g.ingress_rules
        ):
            return f"the security group of VPC endpoint {endpoint.id} allows no inbound TCP 443 from the instance"
    return None


def _acl_allows(acl, egress: bool, low: int, high: int) -> tuple[bool, str]:
    """Network ACL rules are evaluated in rule-number order, the first match decides, and
    the final ``*`` rule denies (VPC doc "Network ACL rules"). Traffic to or from the
    service's public addresses is matched by 0.0.0.0/0 rules."""
    entries = sorted(
        (e for e in acl.network_acl_entries if str(e.egress).lower() == str(egress).lower()),
        key=lambda e: int(e.rule_number),
    )
    for entry in entries:
        if entry.cidr_block != "0.0.0.0/0":
            continue
        protocol = _PROTOCOLS.get(str(entry.protocol).lower())
        if protocol == "-1" or (protocol == "6" and _covers(entry.port_range_from, entry.port_range_to, low, high)):
            return entry.rule_action == "allow", f"rule {entry.rule_number} denies it"
        # a rule for other ports (or only part of the range) does not decide it here
    return False, "no rule allows it"


def _acl_blocked(ec2, instance) -> str | None:
    """Why the subnet's network ACL drops the agent's HTTPS (None: it does not). ACLs are
    stateless: the request needs an outbound rule for 443, the reply an inbound rule for
    the ephemeral port it returns to."""
    acl = next(
        (a for a in ec2.network_acls.values()
         if any(assoc.subnet_id == instance.subnet_id for assoc in a._associations.values())),
        None,
    )
    if acl is None:
        return None
    out_ok, out_rule = _acl_allows(acl, True, 443, 443)
    if not out_ok:
        return f"network ACL {acl.id} drops outbound TCP 443: {out_rule}"
    in_ok, in_rule = _acl_allows(acl, False, *EPHEMERAL_PORTS)
    if not in_ok:
        return (f"network ACL {acl.id} drops the return traffic to ephemeral ports "
                f"{EPHEMERAL_PORTS[0]}-{EPHEMERAL_PORTS[1]}: {in_rule}")
    return None


# ---------------------------------------------------------------------------------------
# Default Host Management Configuration


def dhmc_role_setting(account_id: str, region: str) -> str | None:
    """The DHMC service setting's value in this account and Region, or None."""
    value = service_setting_value(account_id, region, DHMC_SETTING)
    return value or None


def _role_from_setting(iam, value: str):
    # The setting holds the role name with its path, e.g.
    # "service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole" (docs/aws-facts.md#core-3).
    name = value.rsplit("/", 1)[-1]
    path = "/" + value.rsplit("/", 1)[0] + "/" if "/" in value else "/"
    for role in iam.roles.values():
        if role.name == name and (role.path == path or "/" not in value):
            return role
    return None


# ---------------------------------------------------------------------------------------
# One attempt: what the agent meets when it tries to register right now
#
# The steps run in the agent's own order (docs/aws-facts.md#time-and-the-agent-clock):
# the instance and its AMI, instance metadata, the network path, then credentials (the
# instance profile first, then Default Host Management Configuration), then the channels.


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


# How an attempt ends, and so what the agent does next.
OK = "ok"  # credentials ready and UpdateInstanceInformation accepted: Online
ACCESS_DENIED = "access-denied"  # no credential source works: the refresher's long sleep
NETWORK = "network"  # the ssm endpoint cannot be reached: the refresher's default sleep
NO_IDENTITY = "no-identity"  # instance metadata is off: the agent cannot tell who it is
WORKER_DENIED = "worker-denied"  # DHMC handed out credentials that may not register: hibernate
NOT_RUNNING = "not-running"  # the instance is stopped, or its AMI has no agent


@dataclass(frozen=True)
class Attempt:
    """What one registration attempt meets: the checks, how it ends, and its log lines
    (``(level, text)``, stamped when the agent writes them)."""

    facts: dict[str, Any]
    checks: tuple[Check, ...]
    outcome: str
    lines: tuple[tuple[str, str], ...]
    chosen: tuple[str, Any] | None
    instance_role: Any
    command_channel: bool
    session_channel: bool


def _instance_facts(ec2, instance, account_id: str, region: str) -> dict[str, Any]:
    image = ec2.amis.get(instance.image_id)
    image_name = getattr(image, "name", None)
    platform = platform_of(image_name)
    metadata = getattr(instance, "metadata_options", None)
    computer_name = instance.private_dns_name
    if platform["type"] == "Windows":
        computer_name = "EC2AMAZ-" + instance.id[-7:].upper()
    return {
        "instance_id": instance.id,
        "instance_arn": f"arn:aws:ec2:{region}:{account_id}:instance/{instance.id}",
        "state": instance.state,
        "image_name": image_name,
        "image_id": instance.image_id,
        "platform": platform,
        "imds_enabled": getattr(metadata, "http_endpoint", "enabled") != "disabled",
        "imdsv2_required": getattr(metadata, "http_tokens", "optional") == "required",
        "computer_name": computer_name,
        "ip_address": instance.private_ip,
        # Installed: as the image ships it, until a script on the instance changes it
        # (instance_state; docs/aws-facts.md#instance-machine).
        "agent_installed": instance_state.get(account_id, region, instance.id).installed(platform["agent"]),
    }


def _state_checks(facts: dict[str, Any], region: str) -> list[Check]:
    running = facts["state"] == "running"
    platform = dict(facts["platform"], agent=facts["agent_installed"])
    if facts["agent_installed"] and facts["platform"]["agent"]:
        agent_detail = f"AMI {facts['image_name']} ships SSM Agent; the service runs"
    elif facts["agent_installed"]:
        agent_detail = "SSM Agent was installed on the instance; the service runs"
    else:
        agent_detail = (
            f"AMI {facts['image_name'] or facts['image_id']} does not ship SSM Agent"
            " (AWS doc: Find AMIs with the SSM Agent preinstalled)"
        )
    return [
        Check(CHECK_STATE, running, f"instance state is {facts['state']}"),
        Check(
            CHECK_AGENT,
            platform["agent"] and running,
            agent_detail if running or not platform["agent"] else "the instance is not running",
        ),
        Check(
            CHECK_IMDS,
            facts["imds_enabled"],
            f"IMDS is accessible and has instance id {facts['instance_id']} in region {region}"
            if facts["imds_enabled"]
            else "instance metadata is turned off (MetadataOptions HttpEndpoint=disabled)",
        ),
    ]


def _network_check(reachable, region: str) -> Check:
    ssm_ok, ssm_how = next((ok, how) for name, ok, how in reachable if name == "ssm")
    return Check(
        CHECK_SSM_ENDPOINT,
        ssm_ok,
        f"ssm.{region}.amazonaws.com is reachable ({ssm_how})"
        if ssm_ok
        else f"ssm.{region}.amazonaws.com is not reachable: {ssm_how}, and no interface VPC endpoint com.amazonaws.{region}.ssm",
    )


def _associated_profile(ec2, iam, instance_id: str):
    association = ec2.iam_instance_profile_associations.get(instance_id)
    if association is None or getattr(association, "state", "associated") != "associated":
        return None
    wanted = association.iam_instance_profile
    # deleted and maybe recreated under the same name: not the same profile
    return next((p for p in iam.instance_profiles.values() if p is wanted), None)


_NO_ROLE = (
    "retrieved credentials failed to report to ssm. Error: EC2RoleRequestError: no EC2 instance role found\n"
    "caused by: EC2MetadataError: failed to make EC2Metadata request\n\tstatus code: 404, request id: "
)


#: aws-sdk-go's request failure: "status code: %d, request id: %s"
#: (vendor/github.com/aws/aws-sdk-go/aws/awserr/types.go:147). The id is the answer's
#: X-Amzn-Requestid header (private/protocol/rest/unmarshal.go:41, used by SSM's JSON
#: protocol), a UUID; IMDS sends none, so its 404 line ends empty on a real instance too
#: (docs/aws-facts.md#agent-request-ids).
_SSM_REQUEST_ID = re.compile(r"(status code: 400, request id: )(?=\n|$)")


def with_request_ids(text: str, rng: random.Random) -> str:
    """``text`` with each SSM answer's empty request id filled with a UUID from ``rng``."""
    return _SSM_REQUEST_ID.sub(lambda m: m.group(1) + str(uuid.UUID(int=rng.getrandbits(128), version=4)), text)


def _profile_credentials(iam, profile, facts, account_id, context):
    """The instance profile step of EC2RoleProvider.RemoteRetrieve
    (common/identity/credentialproviders/ec2roleprovider/ec2_role_provider.go:125-140):
    (chosen, instance_role, verdict, why-failed, warn-text)."""
    instance_id, instance_arn = facts["instance_id"], facts["instance_arn"]
    if profile is None:
        return None, None, None, "no instance profile is associated with the instance", _NO_ROLE
    if not profile.roles:
        return None, None, None, f"instance profile {profile.name} holds no role", _NO_ROLE
    role = profile.roles[0]
    trusted, trust_detail = trusts_service(role, EC2_SERVICE, account_id)
    if not trusted:
        # IMDS answers iam/info with AssumeRoleUnauthorizedAccess when EC2 cannot assume
        # the role (IAM doc "Troubleshoot IAM and Amazon EC2").
        warn = (
            "retrieved credentials failed to report to ssm. Error: EC2RoleRequestError: no EC2 instance role found\n"
            f"caused by: AssumeRoleUnauthorizedAccess: EC2 cannot assume the role {role.name}."
        )
        return None, None, None, f"EC2 cannot assume role {role.name}: {trust_detail}", warn
    verdict, _ = role_permission(iam, role, REGISTRATION_ACTION, instance_arn, context)
    if verdict == "allow":
        return (SOURCE_PROFILE, role), role, verdict, None, None
    assumed = f"arn:aws:sts::{account_id}:assumed-role/{role.name}/{instance_id}"
    message = access_denied_message(assumed, REGISTRATION_ACTION, instance_arn, verdict)
    warn = f"retrieved credentials failed to report to ssm. Error: AccessDeniedException: {message}\n\tstatus code: 400, request id: "
    return None, role, verdict, f"AccessDeniedException: {message}", warn


def _dhmc_credentials(iam, facts, account_id, region, context):
    """The Default Host Management step (ec2_role_provider.go:142-151): (chosen, why-failed,
    error-text, may-register). DHMC needs IMDSv2 to be *used*; the agent always asks IMDS
    for a session token first, which works under HttpTokens optional too
    (docs/aws-facts.md#time-and-the-agent-clock)."""
    setting = dhmc_role_setting(account_id, region)
    if not setting:
        return None, "Default Host Management Configuration is not enabled in this Region", (
            "error calling RequestManagedInstanceRoleToken: AccessDeniedException: "
            f"Systems Manager's instance management role is not configured for account: {account_id}\n"
            "\tstatus code: 400, request id: "
        ), False
    dhmc_role = _role_from_setting(iam, setting)
    if dhmc_role is None:
        problem = f"the DHMC role {setting} does not exist"
        return None, problem, f"error calling RequestManagedInstanceRoleToken: AccessDeniedException: {problem}", False
    trusted, trust_detail = trusts_service(dhmc_role, SSM_SERVICE, account_id)
    if not trusted:
        problem = f"Systems Manager cannot assume the DHMC role {dhmc_role.name}: {trust_detail}"
        return None, problem, f"error calling RequestManagedInstanceRoleToken: AccessDeniedException: {problem}", False
    verdict, _ = role_permission(iam, dhmc_role, REGISTRATION_ACTION, facts["instance_arn"], context)
    if verdict == "allow":
        return (SOURCE_DHMC, dhmc_role), None, None, True
    assumed = f"arn:aws:sts::{account_id}:assumed-role/{dhmc_role.name}/{facts['instance_id']}"
    message = access_denied_message(assumed, REGISTRATION_ACTION, facts["instance_arn"], verdict)
    # The token is handed out (RequestManagedInstanceRoleToken does not test the role's
    # permissions); the worker's own health ping is what is refused: it hibernates.
    return (SOURCE_DHMC, dhmc_role), f"AccessDeniedException: {message}", message, False


def _channels(iam, role, reachable, context) -> tuple[bool, bool]:
    """Run Command and Session Manager channels (docs/aws-facts.md#core-4: agent ≥ 3.3.40.0 uses
    ssmmessages, falling back to ec2messages)."""
    reach = {name: ok for name, ok, _ in reachable}

    def allowed(action: str) -> bool:
        return role_permission(iam, role, action, "*", context)[0] == "allow"

    session = reach["ssmmessages"] and allowed("ssmmessages:CreateControlChannel") and allowed(
        "ssmmessages:OpenControlChannel"
    )
    command = session or (reach["ec2messages"] and allowed("ec2messages:GetMessages"))
    return command, session


def assess(account_id: str, region: str, instance_id: str) -> Attempt | None:
    """What a registration attempt by the agent on ``instance_id`` meets right now, or None
    when there is no such instance."""
    ec2, iam, _ = _backends(account_id, region)
    instance = _find_instance(ec2, instance_id)
    if instance is None:
        return None
    facts = _instance_facts(ec2, instance, account_id, region)
    checks = _state_checks(facts, region)
    reachable = _reachability(ec2, instance, region)
    facts["reachable"] = reachable
    network = _network_check(reachable, region)
    checks.append(network)  # checked before credentials, as ssm-cli orders its checks
    context = {
        "aws:SourceAccount": account_id,
        "aws:RequestedRegion": region,
        "aws:PrincipalAccount": account_id,
        "ec2:SourceInstanceARN": facts["instance_arn"],
    }
    profile = _associated_profile(ec2, iam, instance_id)
    chosen, instance_role, verdict, profile_problem, warn = _profile_credentials(iam, profile, facts, account_id, context)
    lines: list[tuple[str, str]] = []
    attempts = [profile_problem] if profile_problem else []
    may_register = chosen is not None
    if chosen is not None:
        lines.append(("INFO", "EC2RoleProvider Successfully connected with instance profile role credentials"))
    else:
        lines.append(("WARN", f"EC2RoleProvider Failed to connect to Systems Manager with instance profile role credentials. Err: {warn}"))
        chosen, dhmc_problem, dhmc_error, may_register = _dhmc_credentials(iam, facts, account_id, region, context)
        if dhmc_problem and dhmc_problem.startswith("Default Host Management Configuration"):
            attempts.append(dhmc_problem)
        elif dhmc_problem:
            attempts.append(f"Default Host Management Configuration: {dhmc_problem}")
        if chosen is None:
            lines.append(("ERROR", f"EC2RoleProvider Failed to connect to Systems Manager with SSM role credentials. {dhmc_error}"))
        else:
            lines.append(("INFO", "EC2RoleProvider Successfully connected with Systems Manager role credentials"))

    if may_register:
        source, role = chosen
        assumed = f"arn:aws:sts::{account_id}:assumed-role/{role.name}/{instance_id}"
        checks.append(Check(CHECK_CREDENTIALS, True, f"Credentials are for {assumed} ({source})"))
        checks.append(Check(CHECK_REGISTRATION, True, f"{role.name} may call ssm:UpdateInstanceInformation on {facts['instance_arn']}"))
    elif chosen is not None or verdict is not None:
        # Credentials were handed out; only the permission is missing.
        source, role = chosen if chosen is not None else (SOURCE_PROFILE, instance_role)
        assumed = f"arn:aws:sts::{account_id}:assumed-role/{role.name}/{instance_id}"
        checks.append(Check(CHECK_CREDENTIALS, True, f"Credentials are for {assumed} ({source})"))
        checks.append(Check(CHECK_REGISTRATION, False, "; ".join(attempts)))
    else:
        checks.append(Check(CHECK_CREDENTIALS, False, "; ".join(attempts)))
        checks.append(Check(CHECK_REGISTRATION, False, "no credentials to call ssm:UpdateInstanceInformation with"))

    running = facts["state"] == "running"
    if not (running and facts["agent_installed"]):
        outcome = NOT_RUNNING
    elif not facts["imds_enabled"]:
        outcome = NO_IDENTITY
        lines = [("ERROR", "[amazon-ssm-agent] failed to get identity: no identity could be resolved: "
                           "EC2MetadataError: failed to make EC2Metadata request (instance metadata is turned off)")]
    elif not network.ok:
        outcome = NETWORK
        lines = [("ERROR", "[CredentialRefresher] Retrieve credentials produced error: unexpected error getting instance "
                           "profile role credentials or calling UpdateInstanceInformation. Skipping default host management "
                           "fallback: retrieved credentials failed to report to ssm. Error: RequestError: send request failed\n"
                           f"caused by: Post \"https://ssm.{region}.amazonaws.com/\": {dial_timeout(f'ssm.{region}.amazonaws.com')}")]
    elif may_register:
        outcome = OK
    elif chosen is not None:
        outcome = WORKER_DENIED
    else:
        outcome = ACCESS_DENIED
        lines.append(("ERROR", "[CredentialRefresher] Retrieve credentials produced error: no valid credentials could be "
                               "retrieved for ec2 identity. Default Host Management Err: " + lines[-1][1].split("credentials. ", 1)[-1]))

    command_channel = session_channel = False
    if outcome == OK:
        command_channel, session_channel = _channels(iam, chosen[1], reachable, context)
    return Attempt(
        facts=facts,
        checks=tuple(checks),
        outcome=outcome,
        lines=tuple(lines),
        chosen=chosen if may_register or outcome == WORKER_DENIED else None,
        instance_role=instance_role,
        command_channel=command_channel,
        session_channel=session_channel,
    )


# ---------------------------------------------------------------------------------------
# The agent's timing (docs/aws-facts.md#time-and-the-agent-clock)

#: From launch or reboot to the agent's service starting (the OS boots, then systemd
#: starts amazon-ssm-agent). On AWS registration takes a minute or two; offline the
#: agent starts one request's step after launch or reboot, so a lesson's next call sees
#: its first attempt without any wait (the order of attempts, back-offs and heartbeats
#: follows the agent; only this delay is shortened).
BOOT_SECONDS = 1
#: HealthCheck pings UpdateInstanceInformation every 5 minutes by default
#: (agent/health/healthcheck.go:168).
PING_SECONDS = 5 * 60
#: Systems Manager shows ConnectionLost once heartbeats are late. AWS does not document the
#: threshold; the lab counts a node lost after two missed pings.
CONNECTION_LOST_SECONDS = 2 * PING_SECONDS
#: The credential refresher logs its retries at INFO/ERROR only for the first 3 on EC2
#: (core/app/credentialrefresher/credentialrefresher.go:268-274), then at DEBUG.
LOGGED_RETRIES = 3


def go_duration(seconds: int) -> str:
    """A whole number of seconds as Go's time.Duration prints it: 5m0s, 27m13s, 1h0m0s."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def long_sleep(rng: random.Random) -> int:
    """getLongSleepDuration: 25 minutes plus rand.Intn(300) s, after AccessDenied
    (core/app/credentialrefresher/credentialrefresher_deps.go:67-73)."""
    return 25 * 60 + rng.randrange(300)


def default_sleep(retry: int, rng: random.Random) -> int:
    """getEC2DefaultSSMSleepDuration (credentialrefresher_deps.go:75-117): 5 minutes first,
    then 10 · 2^(ceil(n/3)-1) minutes minus up to 10 % jitter, at most an hour."""

    def jitter(interval: int) -> int:
        spread = math.ceil(interval * 0.1)
        return interval - spread + (rng.randrange(spread) if spread else 0)

    if retry == 0:
        return 300
    if retry > 16:
        return jitter(3600)
    sleep = jitter(300 * 2 * 2 ** (math.ceil(retry / 3) - 1))
    return jitter(3600) if sleep >= 3600 else sleep


def hibernation_pings():
    """Offsets (s) after entering hibernation at which the agent pings again
    (agent/hibernation/hibernation.go:52-57, 74-80, 116-150): it waits 5 minutes, then
    pings every 10 minutes for 30 minutes, every 20 for 60, every 40 for 120, then
    hourly (the scheduler runs each new ping job at once, then every interval)."""
    at, interval = 300, 300
    while interval < 3600:
        interval = min(interval * 2, 3600)
        period = interval * 3
        for k in range(3):
            offset = k * interval
            if offset < period and interval < 3600:
                yield at + offset
        if interval == 3600:
            break
        at += period
    while True:
        yield at
        at += 3600


# ---------------------------------------------------------------------------------------
# The agent as a state machine


class AgentPhase:
    """The agent's states (names as the lab shows them)."""

    OFF = "Off"  # instance not running
    NOT_INSTALLED = "Not installed"  # running, but no agent on it (the image lacks it)
    BOOTING = "Booting"  # the OS is starting; the agent service starts at the end
    REGISTERING = "Registering"  # first credential retrieval and UpdateInstanceInformation
    ONLINE = "Online"  # registered; health pings every PING_SECONDS
    SLEEPING = "Sleeping"  # the credential refresher's back-off between retries
    HIBERNATING = "Hibernating"  # worker started but its health ping was refused
    STOPPED = "Stopped"  # the agent service was stopped (or not enabled) on a running instance


class AgentMachine:
    """One instance's agent, driven by the lab clock: events at due times, in order."""

    def __init__(self, account_id: str, region: str, instance_id: str):
        self.account_id, self.region, self.instance_id = account_id, region, instance_id
        self.phase = AgentPhase.OFF
        self.due: datetime | None = None  # when the next event happens
        self.last_ping: datetime | None = None  # the last ping Systems Manager accepted
        self.registered_once = False
        self.identity_registered = False  # the EC2 identity's keys on disk (RegisterManagedInstance)
        self.retries = 0
        self.boots = 0
        self.log: list[str] = []  # the whole amazon-ssm-agent.log, across boots
        self.boot_log_start = 0
        self.attempt: Attempt | None = None
        self._hibernation = None
        self._rng = random.Random(instance_id)
        # Request ids of SSM's answers, drawn apart so the sleeps above do not shift.
        self._request_ids = random.Random(f"{instance_id}/request-ids")

    # -- events -----------------------------------------------------------------------

    def _write(self, at: datetime, level: str, text: str) -> None:
        first, *more = text.split("\n")  # continuation lines carry no stamp, as in the file
        self.log.append(f"{_stamp(at)} {level} {first}")
        self.log.extend(more)

    def boot(self, at: datetime) -> None:
        """The instance (re)starts: BOOT_SECONDS later systemd starts the agent's service
        (when installed and enabled) and cloud-init runs the user data."""
        self.phase, self.due = AgentPhase.BOOTING, at + timedelta(seconds=BOOT_SECONDS)
        self.retries = 0
        self._hibernation = None
        self._os_boot = True

    def _running(self) -> bool:
        return self.phase not in (AgentPhase.OFF, AgentPhase.STOPPED, AgentPhase.NOT_INSTALLED)

    def stop_service(self, at: datetime) -> None:
        """``systemctl stop amazon-ssm-agent``: no more pings until it starts again."""
        if self._running() and self.phase != AgentPhase.BOOTING:
            self._write(at, "INFO", "[amazon-ssm-agent] Stopping Core Agent")
        if self.phase != AgentPhase.OFF and self.phase != AgentPhase.NOT_INSTALLED:
            self.phase, self.due = AgentPhase.STOPPED, None

    def start_service(self, at: datetime) -> None:
        """``systemctl start amazon-ssm-agent`` (or a package's install script): the agent
        starts now."""
        if self.phase in (AgentPhase.STOPPED, AgentPhase.NOT_INSTALLED):
            self.phase, self.due = AgentPhase.BOOTING, at
            self._os_boot = False

    def power_off(self) -> None:
        self.phase, self.due = AgentPhase.OFF, None

    def _start_agent(self, at: datetime) -> None:
        """The end of a boot, or a service start: the agent starts if it is installed (and,
        at a boot, enabled); at a boot cloud-init then runs the user data, which may stop,
        install or start it (docs/aws-facts.md#instance-machine)."""
        os_boot, self._os_boot = getattr(self, "_os_boot", False), False
        facts = self.attempt.facts
        lasting = instance_state.get(self.account_id, self.region, self.instance_id)
        starts = facts["agent_installed"] and (lasting.service_enabled or not os_boot)
        if starts:
            self.boots += 1
            self.boot_log_start = len(self.log)
            os_name = "linux" if facts["platform"]["type"] == "Linux" else "windows"
            # core/app/agent.go:66-68
            self._write(at, "INFO", f"[amazon-ssm-agent] amazon-ssm-agent - v{AGENT_VERSION}")
            self._write(at, "INFO", f"[amazon-ssm-agent] OS: {os_name}, Arch: amd64")
            self._write(at, "INFO", "[amazon-ssm-agent] Starting Core Agent")
            self.phase = AgentPhase.REGISTERING
        else:
            self.phase = AgentPhase.STOPPED if facts["agent_installed"] else AgentPhase.NOT_INSTALLED
            self.due = None
        if os_boot:
            instance_state.run_boot_scripts(self, at)  # cloud-init (instance_shell.cloud_init)
        if not starts or self.phase != AgentPhase.REGISTERING:
            return  # stopped by the user data, or started by it: the world runs that start next
        if self.attempt.outcome != NO_IDENTITY:
            self._register(at)
        self._write(at, "INFO", "[CredentialRefresher] Starting credentials refresher loop")
        self._retrieve(at)

    def _register(self, at: datetime) -> None:
        """The EC2 identity's registration (core/app/agent.go:70-71,
        core/app/registrar/registrar.go:71, common/identity/availableidentities/ec2/
        ec2_identity.go:151-224): RegisterManagedInstance needs no IAM permission, only the
        ssm endpoint; done once, then read from disk at each start."""
        self._write(at, "INFO", "[amazon-ssm-agent] Registrar detected. Attempting registration")
        self._write(at, "INFO", "[Registrar] Starting registrar module")
        self._write(at, "INFO", "[EC2Identity] Checking disk for registration info")
        if self.identity_registered:
            self._write(at, "INFO", "[EC2Identity] Registration info found for ec2 instance")
            return
        self._write(at, "INFO", "[EC2Identity] No registration info found for ec2 instance, attempting registration")
        self._write(at, "INFO", "[EC2Identity] Generating registration keypair")
        self._write(at, "INFO", "[EC2Identity] Checking write access before registering")
        self._write(at, "INFO", "[EC2Identity] Registering EC2 instance with Systems Manager")
        if self.attempt.outcome == NETWORK:
            self._write(at, "ERROR", "[Registrar] failed to register identity: error calling RegisterManagedInstance API: "
                                     "RequestError: send request failed")
            return
        self._write(at, "INFO", "[EC2Identity] EC2 registration was successful.")
        self.identity_registered = True

    def _retrieve(self, at: datetime) -> None:
        """credentialsRefresher.retrieveCredsWithRetry, one round
        (core/app/credentialrefresher/credentialrefresher.go:203-266)."""
        attempt = self.attempt
        logged = self.retries < LOGGED_RETRIES
        if attempt.outcome in (OK, WORKER_DENIED):
            for level, text in attempt.lines:
                self._write(at, level, with_request_ids(text, self._request_ids))
            self._write(at, "INFO", "[CredentialRefresher] Credentials ready")  # credentialrefresher.go:196
            self._write(at, "INFO", f"[ssm-agent-worker] ssm-agent-worker - v{AGENT_VERSION}")  # agent/agent/agent.go:72
            self._write(at, "INFO", "[ssm-agent-worker] OS: linux, Arch: amd64")
            if attempt.outcome == OK:
                self._online(at)
            else:
                # agent/agent/agent.go:86-92: the worker's first health ping is refused.
                message = attempt.checks[-1].detail.split("AccessDeniedException: ", 1)[-1]
                self._write(at, "INFO", f"[ssm-agent-worker] Entering SSM Agent Worker hibernate - AccessDeniedException: {message}")
                self.phase = AgentPhase.HIBERNATING
                self._hibernation = (at, hibernation_pings())
                self.due = at + timedelta(seconds=next(self._hibernation[1]))
            return
        if attempt.outcome == ACCESS_DENIED:
            sleep = long_sleep(self._rng)
        else:  # the network, or no identity yet: the refresher's default schedule
            sleep = default_sleep(self.retries, self._rng)
        if logged:
            for level, text in attempt.lines:
                self._write(at, level, with_request_ids(text, self._request_ids))
            self._write(at, "INFO", f"[CredentialRefresher] Sleeping for {go_duration(sleep)} before retrying retrieve credentials")
        self.retries = min(self.retries + 1, 16)
        self.phase, self.due = AgentPhase.SLEEPING, at + timedelta(seconds=sleep)

    def _online(self, at: datetime) -> None:
        self.phase = AgentPhase.ONLINE
        self.last_ping = at
        self.registered_once = True
        self.due = at + timedelta(seconds=PING_SECONDS)
        # agent/messageservice/interactor/mgsinteractor/mgsinteractor.go:196-206
        prefix = "[ssm-agent-worker] [MessageService] [MGSInteractor]"
        self._write(at, "INFO", f"{prefix} SSM Agent is trying to setup control channel for MGSInteractor")
        if self.attempt.session_channel:
            self._write(at, "INFO", f"{prefix} Set up control channel successfully")
        else:
            self._write(at, "ERROR", f"{prefix} Error setting up control channel: AccessDeniedException: the role may not "
                                     "call ssmmessages:CreateControlChannel, or ssmmessages is not reachable")

    def _health_ping(self, at: datetime) -> None:
        """HealthCheck.updateHealth (agent/health/healthcheck.go:117-164)."""
        self._write(at, "INFO", "[ssm-agent-worker] [HealthCheck] HealthCheck reporting agent health.")
        attempt = self.attempt
        if attempt.outcome == OK:
            self.last_ping = at
        elif attempt.outcome == NETWORK:
            self._write(at, "ERROR", "[ssm-agent-worker] [HealthCheck] error when calling AWS APIs. error: RequestError: send request failed")
        else:
            detail = next((c.detail for c in attempt.checks if not c.ok), "refused")
            self._write(at, "ERROR", f"[ssm-agent-worker] [HealthCheck] error when calling AWS APIs. error: {detail}")
        self.due = at + timedelta(seconds=PING_SECONDS)

    def _hibernation_ping(self, at: datetime) -> None:
        if self.attempt.outcome == OK:
            self._online(at)
            return
        self.due = self._hibernation[0] + timedelta(seconds=next(self._hibernation[1]))

    def step(self, at: datetime, attempt: Attempt) -> None:
        """Process the event due at ``at`` against ``attempt`` (the world at that moment)."""
        self.attempt = attempt
        if self.phase == AgentPhase.BOOTING:
            self._start_agent(at)
        elif self.phase == AgentPhase.SLEEPING:
            self._retrieve(at)
        elif self.phase == AgentPhase.ONLINE:
            self._health_ping(at)
        elif self.phase == AgentPhase.HIBERNATING:
            self._hibernation_ping(at)

    # -- what Systems Manager sees ------------------------------------------------------

    def ping_status(self, now: datetime) -> str | None:
        """Online, ConnectionLost, or None while the node has never registered."""
        if not self.registered_once or self.last_ping is None:
            return None
        late = (now - self.last_ping).total_seconds() > CONNECTION_LOST_SECONDS
        return "ConnectionLost" if late else "Online"

    def connected(self, now: datetime) -> bool:
        """Whether the agent holds its command channel open right now."""
        return (
            self.phase == AgentPhase.ONLINE and self.attempt is not None and self.attempt.outcome == OK
            and self.attempt.command_channel and self.ping_status(now) == "Online"
        )


class World:
    """Every simulated agent in the process, advanced by the lab clock."""

    def __init__(self):
        self.machines: dict[tuple[str, str, str], AgentMachine] = {}
        self.places: set[tuple[str, str]] = set()
        # The clock's own lock: one lock for time and the agents, so a request thread that
        # moves the clock and another that reads an agent cannot wait on each other.
        from . import clock

        self._lock = clock.CLOCK.lock
        self._synced: datetime | None = None

    def reset(self) -> None:
        with self._lock:
            self.machines.clear()
            self.places.clear()
            self._synced = None

    def machine(self, account_id: str, region: str, instance_id: str) -> AgentMachine:
        key = (account_id, region, instance_id)
        with self._lock:
            self.places.add((account_id, region))
            if key not in self.machines:
                self.machines[key] = AgentMachine(account_id, region, instance_id)
            return self.machines[key]

    def sync(self, now: datetime) -> None:
        """Bring every agent up to ``now``: first notice instances that started or stopped
        (at the time of the last sync), then process due events in time order."""
        with self._lock:
            since = self._synced or now
            for account_id, region in list(self.places):
                ec2, _, _ = _backends(account_id, region)
                for reservation in ec2.reservations.values():
                    for instance in reservation.instances:
                        machine = self.machine(account_id, region, instance.id)
                        running = instance.state == "running"
                        if running and machine.phase == AgentPhase.OFF:
                            machine.boot(since)  # the OS boots, with or without an agent
                        elif not running and machine.phase != AgentPhase.OFF:
                            machine.power_off()
            while True:
                due = [m for m in self.machines.values() if m.due is not None and m.due <= now]
                if not due:
                    break
                first = min(due, key=lambda m: (m.due, m.instance_id))
                attempt = assess(first.account_id, first.region, first.instance_id)
                at = first.due
                if attempt is None:
                    first.power_off()
                    continue
                first.step(at, attempt)
            self._synced = now

    def reboot(self, account_id: str, region: str, instance_ids, at: datetime) -> None:
        with self._lock:
            for instance_id in instance_ids:
                machine = self.machine(account_id, region, instance_id)
                if machine.phase != AgentPhase.OFF:
                    machine.boot(at)


WORLD = World()


def _now() -> datetime:
    from . import clock

    return clock.now()


def machine_for(account_id: str, region: str, instance_id: str) -> AgentMachine:
    """The instance's agent, brought up to the lab clock's now."""
    WORLD.places.add((account_id, region))
    WORLD.sync(_now())
    return WORLD.machine(account_id, region, instance_id)


def log_file(account_id: str, region: str, instance_id: str) -> list[str]:
    """Every line of /var/log/amazon/ssm/amazon-ssm-agent.log on the instance, across boots."""
    return list(machine_for(account_id, region, instance_id).log)


def stop_agent(account_id: str, region: str, instance_id: str) -> None:
    """``sudo systemctl stop amazon-ssm-agent`` on the instance."""
    machine_for(account_id, region, instance_id).stop_service(_now())


def start_agent(account_id: str, region: str, instance_id: str) -> None:
    """``sudo systemctl start amazon-ssm-agent`` on the instance."""
    machine_for(account_id, region, instance_id).start_service(_now())


def observe(account_id: str, region: str, instance_id: str) -> AgentState:
    """What the SSM Agent on ``instance_id`` has achieved by the lab clock's now, with the
    checks of an attempt made now (what ``ssm-cli get-diagnostics`` sees)."""
    machine = machine_for(account_id, region, instance_id)
    attempt = assess(account_id, region, instance_id)
    if attempt is None:
        return AgentState(
            instance_id=instance_id,
            account_id=account_id,
            region=region,
            registered=False,
            checks=(Check(CHECK_STATE, False, f"no instance {instance_id} in {region}"),),
            log=(),
            instance_state="absent",
        )
    return _state_of(machine, attempt, _now())


def _state_of(machine: "AgentMachine", attempt: Attempt, now: datetime) -> AgentState:
    account_id, region, instance_id = machine.account_id, machine.region, machine.instance_id
    facts = attempt.facts
    running = facts["state"] == "running"
    ping = machine.ping_status(now) if running else None
    chosen = attempt.chosen if attempt.outcome == OK else None
    role_used = chosen[1] if chosen else attempt.instance_role
    return AgentState(
        instance_id=instance_id,
        account_id=account_id,
        region=region,
        registered=ping is not None,
        checks=attempt.checks,
        log=tuple(machine.log[machine.boot_log_start:]) if running else (),
        role_name=role_used.name if role_used is not None else None,
        role_id=role_used.id if role_used is not None else None,
        credential_source=chosen[0] if chosen else None,
        instance_role_name=attempt.instance_role.name if attempt.instance_role is not None else None,
        instance_role_id=attempt.instance_role.id if attempt.instance_role is not None else None,
        instance_state=facts["state"],
        agent_installed=facts["agent_installed"],
        agent_version=AGENT_VERSION if facts["agent_installed"] else None,
        platform_type=facts["platform"]["type"],
        platform_name=facts["platform"]["name"],
        platform_version=facts["platform"]["version"],
        image_name=facts["image_name"],
        ip_address=facts["ip_address"],
        computer_name=facts["computer_name"],
        imds_enabled=facts["imds_enabled"],
        imdsv2_required=facts["imdsv2_required"],
        reachable=facts["reachable"],
        command_channel=machine.connected(now),
        session_channel=machine.connected(now) and attempt.session_channel,
        ping_status=ping,
        last_ping=machine.last_ping if ping else None,
        agent_phase=machine.phase,
    )


def states(account_id: str, region: str) -> list[AgentState]:
    """observe() for every instance in the Region, in launch order."""
    return [observe(account_id, region, iid) for iid in all_instance_ids(account_id, region)]


def managed_instances(account_id: str, region: str) -> list[AgentState]:
    """The nodes Systems Manager lists: running instances whose agent has registered
    (Online, or ConnectionLost once its heartbeats are late)."""
    return [state for state in states(account_id, region) if state.registered]


def install() -> None:
    """Tell the agents when an instance reboots (moto keeps it ``running``, so nothing in
    its state shows the restart) and let them catch up whenever the lab clock moves."""
    from . import clock
    from ._moto import EC2Backend

    if getattr(EC2Backend.reboot_instances, "_ssmlab", False):
        return
    reboot_instances = EC2Backend.reboot_instances
    run_instances = EC2Backend.run_instances

    def reboot_with_agent(self, instance_ids):
        result = reboot_instances(self, instance_ids)
        WORLD.reboot(self.account_id, self.region_name, instance_ids, clock.now())
        return result

    def run_and_watch(self, *args, **kwargs):
        WORLD.places.add((self.account_id, self.region_name))
        return run_instances(self, *args, **kwargs)

    reboot_with_agent._ssmlab = True
    EC2Backend.reboot_instances = reboot_with_agent
    EC2Backend.run_instances = run_and_watch
    clock.CLOCK.on_advance(WORLD.sync)


def reset() -> None:
    WORLD.reset()
    instance_state.reset()  # the instances' disks go with the lab
