"""Systems Manager Automation offline: the runbook AWSSupport-TroubleshootManagedInstance.

AWS's runbook for "why is my EC2 instance not a managed node" (docs/aws-facts.md#the-troubleshooting-runbook
has its sources) reads the instance's state with AWS's own APIs and reports, step by step:
its PingStatus; the Systems Manager VPC endpoint; the subnet's route table; the network
ACL; the instance's security groups; its instance profile's policies. Here it runs against
the offline lab's state, in lab time (each step takes a few seconds of the lab clock), with
AWS's step names, actions, statuses and report lines.

What the runbook does *not* look at, it does not look at here either: it judges the
profile's role by the *names* of its managed policies (an explicit Deny, a permissions
boundary or a trust policy that EC2 cannot use pass unnoticed), and it never sees inside the
instance (the agent, instance metadata). The lesson on the fleet (08) shows both.

The shape follows moto's: plain model objects (:class:`AutomationExecution`,
:class:`StepExecution`) kept per account and Region on moto's SSM backend, a backend-like
:class:`Automations` that starts and finds executions, one exception class per AWS error,
and thin handlers bound to moto's SSM response class:

- ``StartAutomationExecution``: the runbook (parameters checked as the document declares
  them) and the lab's own document :data:`DIAGNOSTICS_DOCUMENT`, which ``ssmlab diagnose``
  uses to ask a running ``ssmlab serve``; any other name is
  ``AutomationDefinitionNotFoundException`` for a name AWS does not own, and the lab's one
  line for what it does not model (``unmodelled``) for another AWS-owned runbook.
- ``GetAutomationExecution``, ``DescribeAutomationStepExecutions`` (its documented
  filters), ``DescribeDocument`` (these two documents; moto answers the others).

Not modelled: other runbooks, Interactive mode, rate control (Targets), cancelling,
``AutomationAssumeRole`` (accepted, not used: the offline lab has no permissions to test).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from . import _moto, agent, clock, diagnostics
from .ssm_api import InvalidFilterKey, service_setting_value

RUNBOOK = "AWSSupport-TroubleshootManagedInstance"
#: The lab's own document: the diagnostics text of ``diagnostics.diagnose``, for
#: ``ssmlab diagnose`` in another process. Owned by "ssmlab": no AWS document has this name.
DIAGNOSTICS_DOCUMENT = diagnostics.DIAGNOSTICS_DOCUMENT
#: The version the lab calls its copy (AWS's own number is higher and changes with releases).
DOCUMENT_VERSION = "1"
#: Prefixes of the documents AWS owns (AWS-, AWSSupport-, AWSConfigRemediation-, ...).
AWS_OWNED_PREFIXES = ("AWS", "Amazon")
#: AutomationExecutionStatus values that are not final (botocore's enum).
RUNNING = ("Pending", "InProgress", "Waiting", "Cancelling")

_STATE_ATTR = "_ssmlab_automations"

# Errors, one class per AWS error code (botocore ssm model: each has a Message member).
AutomationDefinitionNotFoundException = _moto.service_error("AutomationDefinitionNotFoundException")
AutomationExecutionNotFoundException = _moto.service_error("AutomationExecutionNotFoundException")
InvalidAutomationExecutionParametersException = _moto.service_error("InvalidAutomationExecutionParametersException")
AutomationDefinitionVersionNotFoundException = _moto.service_error("AutomationDefinitionVersionNotFoundException")
InvalidDocumentVersion = _moto.service_error("InvalidDocumentVersion")


# ---------------------------------------------------------------------------------------
# The runbook's document (AWS doc "AWSSupport-TroubleshootManagedInstance")

RUNBOOK_DESCRIPTION = (
    "The AWSSupport-TroubleshootManagedInstance runbook helps you to determine why an Amazon "
    "Elastic Compute Cloud (Amazon EC2) instance does not report as managed by AWS Systems Manager. "
    "This runbook reviews the VPC configuration for the instance including security group rules, "
    "VPC endpoints, network access control list (ACL) rules, and route tables. It also confirms an "
    "AWS Identity and Access Management (IAM) instance profile that contains the required "
    "permissions is attached to the instance."
)
RUNBOOK_PARAMETERS = (
    {
        "Name": "AutomationAssumeRole",
        "Type": "String",
        "Description": "(Optional) The Amazon Resource Name (ARN) of the AWS Identity and Access Management "
        "(IAM) role that allows Systems Manager Automation to perform the actions on your behalf. If no role "
        "is specified, Systems Manager Automation uses the permissions of the user that starts this runbook.",
        "DefaultValue": "",
    },
    {
        "Name": "InstanceId",
        "Type": "String",
        "Description": "(Required) The ID of the Amazon EC2 instance that is not reporting as managed by "
        "Systems Manager.",
    },
)

# The steps, in the document's order, with their actions (AWS doc, "Document Steps").
# Names: GetPingStatus, checkVpcEndpoint, checkRouteTable, checkNACL,
# checkInstanceSecurityGroup, checkInstanceIAM and FinalOutput are the runbook's own;
# the two branches, the instance's details and the toolkit references are named by the lab.
STEP_ACTIONS = {
    "GetPingStatus": "aws:executeScript",
    "BranchOnIsInstanceManaged": "aws:branch",
    "GetInstanceProperties": "aws:executeAwsApi",
    "checkVpcEndpoint": "aws:executeScript",
    "checkRouteTable": "aws:executeScript",
    "checkNACL": "aws:executeScript",
    "checkInstanceSecurityGroup": "aws:executeScript",
    "checkInstanceIAM": "aws:executeScript",
    "BranchOnPlatform": "aws:branch",
    "SSMAgentToolkitLinux": "aws:executeScript",
    "SSMAgentToolkitWindows": "aws:executeScript",
    "FinalOutput": "aws:executeScript",
}
#: Lab seconds each step takes (the runbook takes a minute or so on AWS; offline, less).
STEP_SECONDS = {"aws:executeScript": 2, "aws:executeAwsApi": 1, "aws:branch": 1}

MANAGED_MESSAGE = "EC2 instance is managed by Systems Manager."

# Policies the runbook accepts by name as granting what the agent needs.
REQUIRED_MANAGED_POLICIES = (
    "AmazonSSMManagedInstanceCore",
    "AmazonSSMFullAccess",
    "AdministratorAccess",
    "AmazonEC2RoleforSSM",
    "AmazonSSMManagedEC2InstanceDefaultPolicy",
)
HTTPS = 443
EPHEMERAL = (1024, 65535)
ROUTE_HELP = (
    "For more information about routing options see "
    "https://docs.aws.amazon.com/vpc/latest/userguide/route-table-options.html#route-tables-vpc-peering",
    "For more information about route tables see "
    "https://docs.aws.amazon.com/vpc/latest/userguide/route-table-options.html#route-tables-vpc-peering",
)
ADDITIONAL_TROUBLESHOOTING = (
    "Starting with the SSM Agent version 3.1.501.0, you can use the 'ssm-cli' tool to diagnose issues at "
    "the operating system level.",
    "Troubleshooting managed node availability using ssm-cli:",
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/ssm-cli.html",
    "Troubleshooting reference:",
    "https://repost.aws/knowledge-center/systems-manager-ec2-instance-not-appear",
    "https://docs.aws.amazon.com/systems-manager/latest/userguide/troubleshooting-ssm-agent.html",
)


# ---------------------------------------------------------------------------------------
# What the runbook reads: AWS's API answers, as plain dicts in the APIs' own shapes


@dataclass(frozen=True)
class Facts:
    """What the runbook's API calls answer for one instance, in the APIs' field names.

    ``instance``: DescribeInstances' Instance (InstanceId, SubnetId, VpcId,
    PrivateIpAddress, PublicIpAddress, SecurityGroups, IamInstanceProfile, Platform);
    ``vpc_endpoints``: DescribeVpcEndpoints for ``com.amazonaws.REGION.ssm`` in its VPC;
    ``route_tables``: the subnet's, else the VPC's main one; ``network_acls``: by subnet;
    ``security_groups``: by group id; ``profile_role``: the profile's first role name;
    ``attached_policies`` / ``inline_policies``: that role's policy names;
    ``dhmc_status``: GetServiceSetting's Status; ``ping_status``: DescribeInstanceInformation's.
    """

    region: str
    instance_id: str
    instance: dict[str, Any] | None
    ping_status: str | None = None
    vpc_endpoints: tuple[dict[str, Any], ...] = ()
    route_tables: tuple[dict[str, Any], ...] = ()
    network_acls: dict[str, dict[str, Any]] = field(default_factory=dict)
    security_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    endpoint_addresses: tuple[str, ...] = ()
    profile_role: str | None = None
    attached_policies: tuple[str, ...] = ()
    inline_policies: tuple[str, ...] = ()
    dhmc_status: str = "Default"


def _rule_dict(rule) -> dict[str, Any]:
    answer: dict[str, Any] = {"IpProtocol": rule.ip_protocol, "IpRanges": [], "UserIdGroupPairs": []}
    if rule.from_port is not None:
        answer["FromPort"], answer["ToPort"] = int(rule.from_port), int(rule.to_port)
    if rule.ip_range:
        answer["IpRanges"].append({"CidrIp": rule.ip_range.get("CidrIp")})
    if rule.source_group and rule.source_group.get("GroupId"):
        answer["UserIdGroupPairs"].append({"GroupId": rule.source_group["GroupId"]})
    return answer


def _group_dict(group) -> dict[str, Any]:
    return {
        "GroupId": group.id,
        "IpPermissions": [_rule_dict(r) for r in group.ingress_rules if r.ip_range or r.source_group],
        "IpPermissionsEgress": [_rule_dict(r) for r in group.egress_rules if r.ip_range or r.source_group],
    }


def _route_dict(route) -> dict[str, Any]:
    answer: dict[str, Any] = {"State": "active"}
    if route.destination_cidr_block:
        answer["DestinationCidrBlock"] = route.destination_cidr_block
    if route.destination_ipv6_cidr_block:
        answer["DestinationIpv6CidrBlock"] = route.destination_ipv6_cidr_block
    if route.local:
        answer["GatewayId"] = "local"
    elif route.gateway is not None:
        answer["GatewayId"] = route.gateway.id
    elif route.nat_gateway is not None:
        answer["NatGatewayId"] = route.nat_gateway.id
    elif route.transit_gateway is not None:
        answer["TransitGatewayId"] = route.transit_gateway.id
    elif route.interface is not None:
        answer["NetworkInterfaceId"] = route.interface.id
    elif route.vpc_pcx is not None:
        answer["VpcPeeringConnectionId"] = route.vpc_pcx.id
    return answer


def _acl_dict(acl) -> dict[str, Any]:
    entries = []
    for entry in acl.network_acl_entries:
        item = {
            "RuleNumber": int(entry.rule_number),
            "Protocol": str(entry.protocol),
            "RuleAction": entry.rule_action,
            "Egress": entry.egress in (True, "true"),
            "CidrBlock": entry.cidr_block,
        }
        if entry.port_range_from is not None:
            item["PortRange"] = {"From": int(entry.port_range_from), "To": int(entry.port_range_to)}
        entries.append(item)
    return {"NetworkAclId": acl.id, "Entries": entries}


def read_facts(account_id: str, region: str, instance_id: str) -> Facts:
    """Read what the runbook's API calls would answer, from the lab's moto backends."""
    ec2 = _moto.ec2_backend(account_id, region)
    iam = _moto.iam_backend(account_id)
    state = agent.observe(account_id, region, instance_id)
    dhmc = "Customized" if service_setting_value(account_id, region, agent.DHMC_SETTING) else "Default"
    found = next((i for r in ec2.reservations.values() for i in r.instances if i.id == instance_id), None)
    if found is None or found.state == "terminated":
        return Facts(region, instance_id, None, dhmc_status=dhmc)
    instance: dict[str, Any] = {
        "InstanceId": found.id,
        "SubnetId": found.subnet_id,
        "VpcId": found.vpc_id,
        "PrivateIpAddress": found.private_ip,
        "SecurityGroups": [{"GroupId": g.id} for g in found.security_groups],
    }
    if getattr(found, "public_ip", None):
        instance["PublicIpAddress"] = found.public_ip
    if (found.platform or "").lower() == "windows":
        instance["Platform"] = "windows"
    association = ec2.iam_instance_profile_associations.get(found.id)
    profile = None
    if association is not None and getattr(association, "state", "associated") == "associated":
        profile = association.iam_instance_profile
        instance["IamInstanceProfile"] = {"Arn": profile.arn, "Id": profile.id}
    live_profile = next((p for p in iam.instance_profiles.values() if p is profile), None)
    role = live_profile.roles[0] if live_profile is not None and live_profile.roles else None

    wanted = f"com.amazonaws.{region}.ssm"
    endpoints = []
    for endpoint in ec2.vpc_end_points.values():
        if endpoint.vpc_id == found.vpc_id and endpoint.service_name == wanted:
            endpoints.append({
                "VpcEndpointId": endpoint.id,
                "State": endpoint.state or "available",
                "SubnetIds": list(endpoint.subnet_ids or []),
                "PrivateDnsEnabled": endpoint.private_dns_enabled is not False,
                "Groups": [{"GroupId": g} for g in endpoint.security_group_ids or []],
                "NetworkInterfaceIds": list(endpoint.network_interface_ids or []),
            })
    addresses = tuple(
        ec2.enis[eni].private_ip_address
        for e in endpoints for eni in e["NetworkInterfaceIds"] if eni in getattr(ec2, "enis", {})
    )
    tables = [t for t in ec2.route_tables.values() if found.subnet_id in t._associations.values()]
    if not tables:
        tables = [t for t in ec2.route_tables.values() if t.vpc_id == found.vpc_id and t.main_association_id]
    route_tables = tuple(
        {"RouteTableId": t.id, "Routes": [_route_dict(r) for r in t.routes]} for t in tables
    )
    groups = {}
    for group_id in [g["GroupId"] for g in instance["SecurityGroups"]] + [
        g["GroupId"] for e in endpoints for g in e["Groups"]
    ]:
        group = ec2.get_security_group_from_id(group_id)
        if group is not None:
            groups[group_id] = _group_dict(group)
    subnets = {found.subnet_id} | {s for e in endpoints for s in e["SubnetIds"]}
    acls = {}
    for acl in ec2.network_acls.values():
        for subnet in acl._associations.values():
            subnet_id = getattr(subnet, "subnet_id", subnet)
            if subnet_id in subnets:
                acls[subnet_id] = _acl_dict(acl)
    return Facts(
        region=region,
        instance_id=instance_id,
        instance=instance,
        ping_status=state.ping_status,
        vpc_endpoints=tuple(endpoints),
        route_tables=route_tables,
        network_acls=acls,
        security_groups=groups,
        endpoint_addresses=addresses,
        profile_role=role.name if role is not None else None,
        attached_policies=tuple(p.name for p in role.managed_policies.values()) if role is not None else (),
        inline_policies=tuple(role.policies) if role is not None else (),
        dhmc_status=dhmc,
    )


# ---------------------------------------------------------------------------------------
# The checks: pure functions of Facts, each returning its report lines


def _profile_name(facts: Facts) -> str:
    return (facts.instance or {}).get("IamInstanceProfile", {}).get("Arn", "").split("/")[-1]


def ssm_endpoint(facts: Facts) -> dict[str, Any] | None:
    """The first ssm interface endpoint of the VPC if it is available (the runbook takes the first)."""
    for endpoint in facts.vpc_endpoints:
        return endpoint if endpoint["State"].lower() == "available" else None
    return None


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    if rule.get("IpProtocol") == "-1" or (rule.get("FromPort") == -1 and rule.get("ToPort") == -1):
        return True
    return rule.get("FromPort", 0) <= port <= rule.get("ToPort", -1)


def check_vpc_endpoint(facts: Facts) -> list[str]:
    instance = facts.instance
    lines = []
    for endpoint in facts.vpc_endpoints[:1]:
        if endpoint["State"].lower() != "available":
            lines.append(f"[WARNING] VPC endpoint '{endpoint['VpcEndpointId']}' is not in 'Available' state.")
    endpoint = ssm_endpoint(facts)
    if endpoint is None:
        return lines + [f"[INFO] No VPC endpoint for Systems Manager found on the EC2 instance VPC: {instance['VpcId']}."]
    groups = [g["GroupId"] for g in endpoint["Groups"]]
    lines += [
        f"[OK] VPC endpoint '{endpoint['VpcEndpointId']}' for Systems Manager found on the EC2 instance's VPC: "
        f"{instance['VpcId']}.",
        f"[OK] Subnets configured for the VPC endpoint found: {', '.join(endpoint['SubnetIds'])}.",
        "[OK] Private DNS is enabled on the VPC endpoint."
        if endpoint["PrivateDnsEnabled"]
        else "[WARNING] Private DNS is not enabled on the VPC endpoint (Enabling private DNS names is recommended).",
        f"[INFO] Security groups attached to the VPC endpoints: {','.join(groups)}.",
    ]
    address = ipaddress.ip_address(instance["PrivateIpAddress"])
    own_groups = [g["GroupId"] for g in instance["SecurityGroups"]]
    for group_id in groups:
        for rule in facts.security_groups.get(group_id, {}).get("IpPermissions", []):
            if not _port_matches(rule, HTTPS):
                continue
            if any(address in ipaddress.ip_network(r["CidrIp"], strict=False) for r in rule["IpRanges"]):
                return lines + [
                    f"[OK] VPC endpoint security group '{group_id}' allows traffic on port '{HTTPS}' from the "
                    f"instance private IP '{address}'."
                ]
            for pair in rule["UserIdGroupPairs"]:
                for own in own_groups:
                    if own in pair["GroupId"]:
                        return lines + [
                            f"[OK] VPC endpoint security group '{group_id}' allows traffic on port {HTTPS} from the "
                            f"instance security group {own}."
                        ]
    return lines + [
        f"[ERROR] VPC endpoint security groups '{', '.join(groups)}' do not allow traffic on port '{HTTPS}' from "
        f"the instance security group(s) '{', '.join(own_groups)}' or private IP '{address}'.",
        "For more information see 'Configure an interface endpoint' in "
        "https://docs.aws.amazon.com/vpc/latest/privatelink/interface-endpoints.html.",
    ]


_TARGET_KEYS = ("GatewayId", "NatGatewayId", "TransitGatewayId", "NetworkInterfaceId", "VpcPeeringConnectionId")


def check_route_table(facts: Facts) -> list[str]:
    endpoint = ssm_endpoint(facts)
    public_ip = (facts.instance or {}).get("PublicIpAddress")
    lines, internet, local = [], [], []
    for table in facts.route_tables:
        lines.append(f"[INFO] VPC route table found: {table['RouteTableId']}.")
        for route in table["Routes"]:
            if route.get("DestinationCidrBlock") == "0.0.0.0/0":
                internet += [(route[key], route.get("State", "active")) for key in _TARGET_KEYS if key in route]
            if route.get("GatewayId") == "local" and "DestinationIpv6CidrBlock" not in route:
                local.append(route["DestinationCidrBlock"])
    if local:
        lines.append(f"[INFO] VPC local route (default route) available for {', '.join(local)}.")
        lines.append(
            "[OK] The local route (default route) is used to communicate with the Systems Manager VPC endpoint "
            f"interface '{endpoint['VpcEndpointId']}'."
            if endpoint
            else "[WARNING] A local route is required to communicate with the VPC endpoint interface."
        )
    if not internet:
        lines.append(
            "[OK] A public route is not required to communicate with the Systems Manager VPC endpoint interface "
            f"'{endpoint['VpcEndpointId']}'."
            if endpoint
            else "[WARNING] No route found for 0.0.0.0/0. Internet access is required to connect to the public "
            "Systems Manager endpoint."
        )
    for target, state in internet:
        lines.append(f"[INFO] VPC Internet route with destination 0.0.0.0/0 found with target '{target}'.")
        if state != "active":
            lines.append(f"[WARNING] VPC Internet route and is marked as '{state}'.")
        elif target.startswith("igw-") and not public_ip:
            lines.append(
                f"[WARNING] VPC internet gateway '{target}' route associated, however the instance does not have a "
                "public IP address associated. Internet connectivity through the internet gateway is unavailable."
            )
        elif target.startswith("igw-"):
            lines.append(
                f"[OK] VPC internet gateway '{target}' route associated and the instance has a public IP address "
                f"({public_ip}) associated."
            )
        elif target.startswith("nat-"):
            lines.append(
                f"[OK] VPC NAT gateway '{target}' present. Make sure the NAT gateway allow access to the Systems "
                "Manager endpoints."
            )
    if any(line.startswith("[WARNING]") for line in lines):
        lines += list(ROUTE_HELP)
    return lines


_PROTOCOL_NAMES = {"-1": "-1", "6": "tcp", "17": "udp", "1": "icmp"}


def acl_allows(entries: list[dict[str, Any]], address: str, egress: bool, protocol: str,
               ports: tuple[int, int]) -> bool:
    """The runbook's reading of a network ACL: per protocol, the ports its rules leave open
    to ``address`` (rules from the highest number down, so the lowest number has the last
    word; an allow adds its ports, a deny takes them away); the required ports must all be
    open under the required protocol or under "all" (-1)."""
    network = ipaddress.ip_network(address, strict=False)
    open_ports: dict[str, set[int]] = {}
    for rule in sorted(entries, key=lambda r: r["RuleNumber"], reverse=True):
        if rule["Egress"] != egress or not rule.get("CidrBlock"):
            continue
        if not network.subnet_of(ipaddress.ip_network(rule["CidrBlock"], strict=False)):
            continue
        name = _PROTOCOL_NAMES.get(rule["Protocol"], rule["Protocol"])
        span = rule.get("PortRange", {"From": 0, "To": 65535})
        covered = set(range(span["From"], span["To"] + 1))
        current = open_ports.setdefault(name, set())
        if rule["RuleAction"] == "allow":
            current |= covered
        else:
            current -= covered
    required = set(range(ports[0], ports[1] + 1))
    return any(required <= open_ports.get(name, set()) for name in {"-1", protocol})


def _acl_lines(facts: Facts, subnet: str, address: str, egress: bool, protocol: str, ports) -> list[str]:
    acl = facts.network_acls.get(subnet, {"NetworkAclId": "", "Entries": []})
    label = protocol.replace("-1", "all").upper()
    span = f"[{ports[0]}, {ports[1]}]"
    allowed = acl_allows(acl["Entries"], address, egress, protocol, ports)
    verdict = "[OK]" if allowed else "[ERROR]"
    negation = "" if allowed else " not"
    if egress:
        detail = f"'{label}' outbound traffic{negation} allowed to '{address}' from '{span}'"
    else:
        detail = f"'{label}' inbound traffic{negation} allowed from '{address}' to '{span}'"
    return [f"Check network ACLs requirements on network ACL '{acl['NetworkAclId']}':", f"{verdict} {detail}"]


def check_nacl(facts: Facts) -> list[str]:
    instance, endpoint = facts.instance, ssm_endpoint(facts)
    subnet, address = instance["SubnetId"], instance["PrivateIpAddress"]
    if endpoint and subnet in endpoint["SubnetIds"]:
        return ["[SKIPPED] VPC endpoint for Systems Manager is present and in the same subnet as the EC2 instance."]
    lines = [f"Check network ACLs requirements instance '{facts.instance_id}' for instance subnet '{subnet}':"]
    lines += _acl_lines(facts, subnet, address, True, "-1", EPHEMERAL)
    for endpoint_subnet in (endpoint or {}).get("SubnetIds", []):
        lines.append(
            f"Check network ACLs requirements for the VPC endpoint '{endpoint['VpcEndpointId']}' subnet "
            f"'{endpoint_subnet}':"
        )
        lines += _acl_lines(facts, endpoint_subnet, "0.0.0.0/0", True, "-1", EPHEMERAL)
        lines += _acl_lines(facts, endpoint_subnet, address, False, "tcp", (HTTPS, HTTPS))
    return lines


def _egress_to(facts: Facts, destination: str, by_group: bool) -> list[str]:
    """The instance's security groups whose egress allows 443 to ``destination``."""
    allowed = []
    for group_id in [g["GroupId"] for g in facts.instance["SecurityGroups"]]:
        for rule in facts.security_groups.get(group_id, {}).get("IpPermissionsEgress", []):
            if not _port_matches(rule, HTTPS):
                continue
            if by_group:
                hit = any(destination in pair["GroupId"] for pair in rule["UserIdGroupPairs"])
            else:
                network = ipaddress.ip_network(destination, strict=False)
                hit = any(network.subnet_of(ipaddress.ip_network(r["CidrIp"], strict=False)) for r in rule["IpRanges"])
            if hit:
                allowed.append(group_id)
                break
    return allowed


def _groups_phrase(groups: list[str], allow: bool) -> str:
    many = len(groups) > 1
    verb = ("allow" if many else "allows") if allow else ("do not allow" if many else "does not allow")
    return f"Instance security {'groups' if many else 'group'} '{', '.join(groups)}' {verb}"


def check_instance_security_group(facts: Facts) -> list[str]:
    endpoint = ssm_endpoint(facts)
    own = [g["GroupId"] for g in facts.instance["SecurityGroups"]]
    lines = ["Check outbound traffic to the public Systems Manager endpoint:"]
    public = _egress_to(facts, "0.0.0.0/0", by_group=False)
    if public:
        # As a run of the runbook prints it (docs/aws-facts.md#the-troubleshooting-runbook).
        return lines + [f"[OK] VPC endpoint security group '{public[0]}' allows outbound traffic on port '{HTTPS}' to "
                        "'0.0.0.0/0'."]
    label = "'0.0.0.0/0'" if endpoint else "public System Manager endpoint"
    lines.append(f"[WARNING] {_groups_phrase(own, False)} outbound traffic on port '{HTTPS}' to {label}.")
    ok = False
    if endpoint:
        groups = [g["GroupId"] for g in endpoint["Groups"]]
        lines.append(f"Check outbound traffic to the Systems Manager VPC interface endpoint '{endpoint['VpcEndpointId']}':")
        lines.append(f"Check outbound traffic to endpoint security groups {', '.join(groups)}:")
        found = sorted({g for dest in groups for g in _egress_to(facts, dest, by_group=True)})
        lines.append(f"[OK] {_groups_phrase(found, True)} outbound traffic on port '{HTTPS}' to endpoint security groups."
                     if found else
                     f"[WARNING] {_groups_phrase(own, False)} outbound traffic on port '{HTTPS}' to endpoint security groups.")
        ok = bool(found)
        if facts.endpoint_addresses:
            lines.append(f"Check outbound traffic to the endpoint IP addresses {', '.join(facts.endpoint_addresses)}:")
            found = sorted({g for dest in facts.endpoint_addresses for g in _egress_to(facts, dest, by_group=False)})
            lines.append(f"[OK] {_groups_phrase(found, True)} outbound traffic on port '{HTTPS}' to endpoint IP addresses."
                         if found else
                         f"[WARNING] {_groups_phrase(own, False)} outbound traffic on port '{HTTPS}' to endpoint IP addresses.")
            ok = ok or bool(found)
    if not ok:
        lines.append(f"[ERROR] {_groups_phrase(own, False)} outbound traffic on port '{HTTPS}'.")
    return lines


def check_instance_iam(facts: Facts) -> list[str]:
    lines = [
        "Check Default Host Management Configuration:",
        f"[INFO] Default Host Management Configuration is {facts.dhmc_status}.",
    ]
    profile = _profile_name(facts)
    if not profile:
        return lines + [f"[ERROR] No EC2 instance IAM profile attached to the instance: '{facts.instance_id}'."]
    lines.append(f"Check for AWS managed policies attached to the instance profile '{profile}':")
    if any(name in REQUIRED_MANAGED_POLICIES for name in facts.attached_policies):
        return lines + [
            f"[OK] Found an AWS managed policy attached to the instance profile '{profile}' with required permissions."
        ]
    lines += [
        f"[INFO] Not found an AWS managed policy attached to the instance profile '{profile}' with required permissions.",
        f"Check for inline policies attached to the instance profile '{profile}':",
    ]
    if facts.inline_policies:
        return lines + [
            f"[INFO] Found inline policies attached to the instance profile '{profile}'. Make sure the policies grant "
            "the required minimum permissions."
        ]
    return lines + [f"[ERROR] No permissions found attached to the EC2 instance profile '{profile}'."]


def _section(number: int, title: str, lines: list[str]) -> str:
    return f"{number}. {title}\n" + "\n".join(f"- {line}" for line in lines)


def final_output(facts: Facts, checks: dict[str, list[str]]) -> str:
    """The report the runbook's FinalOutput step returns as its Message."""
    instance = facts.instance
    return "\n\n".join([
        _section(1, f"Checks for Amazon VPC Systems Manager VPC Endpoint 'com.amazonaws.{facts.region}.ssm':",
                 checks["checkVpcEndpoint"]),
        _section(2, f"Checks for the VPC route table entries of the instance's subnet '{instance['SubnetId']}:'",
                 checks["checkRouteTable"]),
        _section(3, f"Checks for NACL rules of the instance subnet '{instance['SubnetId']}':", checks["checkNACL"]),
        _section(4, f"Checks EC2 instance '{facts.instance_id}' security groups outbound traffic:",
                 checks["checkInstanceSecurityGroup"]),
        _section(5, "Checks EC2 instance IAM profile and required permissions:", checks["checkInstanceIAM"]),
        _section(6, "Additional Troubleshooting:", list(ADDITIONAL_TROUBLESHOOTING)),
    ])


# ---------------------------------------------------------------------------------------
# One run: the steps the runbook takes for these facts


@dataclass(frozen=True)
class StepPlan:
    name: str
    outputs: dict[str, list[str]] = field(default_factory=dict)
    failure: str | None = None  # FailureMessage when the step fails (and the execution with it)

    @property
    def action(self) -> str:
        return STEP_ACTIONS[self.name]


CHECKS: dict[str, Callable[[Facts], list[str]]] = {
    "checkVpcEndpoint": check_vpc_endpoint,
    "checkRouteTable": check_route_table,
    "checkNACL": check_nacl,
    "checkInstanceSecurityGroup": check_instance_security_group,
    "checkInstanceIAM": check_instance_iam,
}


def plan(facts: Facts) -> list[StepPlan]:
    """The runbook's path through its steps for ``facts``, each step's outputs."""
    steps = [StepPlan("GetPingStatus", {"PingStatus": [facts.ping_status or ""]}), StepPlan("BranchOnIsInstanceManaged")]
    if facts.ping_status == "Online":
        return steps + [StepPlan("FinalOutput", {"Message": [MANAGED_MESSAGE]})]
    if facts.instance is None:
        # DescribeInstances refuses an unknown id (EC2's InvalidInstanceID.NotFound); the
        # step fails and the execution with it, in Automation's words.
        return steps + [StepPlan("GetInstanceProperties", failure=(
            "Step fails when it is Execute/Cancelling action. An error occurred (InvalidInstanceID.NotFound) when "
            f"calling the DescribeInstances operation: The instance ID '{facts.instance_id}' does not exist. Please "
            "refer to Automation Service Troubleshooting Guide for more diagnosis details."
        ))]
    steps.append(StepPlan("GetInstanceProperties", {
        "SubnetId": [facts.instance["SubnetId"]], "VpcId": [facts.instance["VpcId"]],
        "PrivateIpAddress": [facts.instance["PrivateIpAddress"]],
    }))
    results = {name: check(facts) for name, check in CHECKS.items()}
    steps += [StepPlan(name, {"Message": ["\n".join(lines)]}) for name, lines in results.items()]
    windows = facts.instance.get("Platform") == "windows"
    steps.append(StepPlan("BranchOnPlatform"))
    steps.append(StepPlan("SSMAgentToolkitWindows" if windows else "SSMAgentToolkitLinux",
                          {"Message": ["\n".join(ADDITIONAL_TROUBLESHOOTING)]}))
    steps.append(StepPlan("FinalOutput", {"Message": [final_output(facts, results)]}))
    return steps


# ---------------------------------------------------------------------------------------
# The model: executions and their steps, in lab time


@dataclass
class StepExecution:
    name: str
    action: str
    start: datetime
    end: datetime
    step_id: str
    outputs: dict[str, list[str]]
    failure: str | None = None
    is_end: bool = False

    def status(self, now: datetime) -> str:
        if now < self.start:
            return "Pending"
        if now < self.end:
            return "InProgress"
        return "Failed" if self.failure else "Success"

    def view(self, now: datetime) -> dict[str, Any]:
        """StepExecution as botocore's model names its fields."""
        status = self.status(now)
        answer: dict[str, Any] = {
            "StepName": self.name,
            "Action": self.action,
            "OnFailure": "Abort",
            "MaxAttempts": 1,
            "ExecutionStartTime": self.start,
            "StepStatus": status,
            "StepExecutionId": self.step_id,
            "OverriddenParameters": {},
            "IsEnd": self.is_end,
            "IsCritical": True,
        }
        if status in ("Success", "Failed"):
            answer["ExecutionEndTime"] = self.end
            if self.outputs:
                answer["Outputs"] = self.outputs
        if status == "Failed":
            answer["FailureMessage"] = self.failure
        return answer


@dataclass
class AutomationExecution:
    execution_id: str
    document: str
    version: str
    parameters: dict[str, list[str]]
    start: datetime
    steps: list[StepExecution]
    executed_by: str
    output_keys: tuple[str, ...] = ()

    @property
    def end(self) -> datetime:
        return self.steps[-1].end if self.steps else self.start

    def started_steps(self, now: datetime) -> list[StepExecution]:
        return [s for s in self.steps if s.start <= now]

    def status(self, now: datetime) -> str:
        if now < self.end:
            return "InProgress"
        return "Failed" if any(s.failure for s in self.steps) else "Success"

    def outputs(self, now: datetime) -> dict[str, list[str]]:
        """The document's outputs, ``Step.Output`` keys, once the steps that give them are done."""
        found: dict[str, list[str]] = {}
        for key in self.output_keys:
            step_name, output = key.split(".", 1)
            for step in self.steps:
                if step.name == step_name and step.status(now) == "Success" and output in step.outputs:
                    found[key] = step.outputs[output]
        return found

    def view(self, now: datetime) -> dict[str, Any]:
        """AutomationExecution as botocore's model names its fields (GetAutomationExecution)."""
        status = self.status(now)
        answer: dict[str, Any] = {
            "AutomationExecutionId": self.execution_id,
            "DocumentName": self.document,
            "DocumentVersion": self.version,
            "ExecutionStartTime": self.start,
            "AutomationExecutionStatus": status,
            "StepExecutions": [s.view(now) for s in self.started_steps(now)],
            "StepExecutionsTruncated": False,
            "Parameters": self.parameters,
            "Outputs": self.outputs(now),
            "Mode": "Auto",
            "ExecutedBy": self.executed_by,
            "Targets": [],
            "ResolvedTargets": {"ParameterValues": [], "Truncated": False},
        }
        if status in RUNNING:
            current = self.started_steps(now)[-1]
            answer["CurrentStepName"], answer["CurrentAction"] = current.name, current.action
        else:
            answer["ExecutionEndTime"] = self.end
        if status == "Failed":
            answer["FailureMessage"] = next(s.failure for s in self.steps if s.failure)
        return answer


def _now() -> datetime:
    return clock.now()


def _timed(plans: list[StepPlan], start: datetime) -> list[StepExecution]:
    steps, at = [], start
    for index, step in enumerate(plans):
        end = at + timedelta(seconds=STEP_SECONDS[step.action])
        steps.append(StepExecution(step.name, step.action, at, end, _moto.seeded_uuid(), step.outputs, step.failure,
                                   is_end=index == len(plans) - 1))
        if step.failure:
            break
        at = end
    return steps


def check_parameters(document: str, parameters: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """The runbook's parameters as AWS checks them against the document; its answer on success."""
    parameters = dict(parameters or {})
    known = {p["Name"] for p in RUNBOOK_PARAMETERS}
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise InvalidAutomationExecutionParametersException(
            f"Parameter {unknown[0]} is not a parameter of {document} (its parameters: {', '.join(sorted(known))})."
        )
    instance_ids = parameters.get("InstanceId") or []
    if not instance_ids:
        raise InvalidAutomationExecutionParametersException("Missing required parameter: InstanceId in user inputs.")
    if len(instance_ids) != 1:
        raise InvalidAutomationExecutionParametersException(
            f"Parameter InstanceId of {document} is a String: give one instance id, not {len(instance_ids)}."
        )
    return {"AutomationAssumeRole": parameters.get("AutomationAssumeRole") or [""], "InstanceId": instance_ids}


class Automations:
    """The Automation executions of one account and Region (kept on moto's SSM backend)."""

    def __init__(self, account_id: str, region: str):
        self.account_id, self.region = account_id, region
        self.executions: dict[str, AutomationExecution] = {}

    def start_automation_execution(self, document: str, parameters: dict | None, version: str | None,
                                   executed_by: str) -> AutomationExecution:
        if document == DIAGNOSTICS_DOCUMENT:
            return self._diagnostics(parameters, executed_by)
        if document != RUNBOOK:
            if document.startswith(AWS_OWNED_PREFIXES):
                # Another AWS-owned runbook exists on AWS: the lab's one answer for what it
                # does not model (simulation/unmodelled.py: NotImplemented, one line).
                raise NotImplementedError(document)
            raise AutomationDefinitionNotFoundException(f"Document {document} does not exist.")
        if version not in (None, "", "$DEFAULT", "$LATEST", DOCUMENT_VERSION):
            raise AutomationDefinitionVersionNotFoundException(
                f"Document {document} with version {version} does not exist."
            )
        given = check_parameters(document, parameters)
        facts = read_facts(self.account_id, self.region, given["InstanceId"][0])
        start = _now()
        execution = AutomationExecution(
            _moto.seeded_uuid(), document, DOCUMENT_VERSION, given, start, _timed(plan(facts), start), executed_by,
            output_keys=("FinalOutput.Message",),
        )
        self.executions[execution.execution_id] = execution
        return execution

    def _diagnostics(self, parameters: dict | None, executed_by: str) -> AutomationExecution:
        instance_ids = (parameters or {}).get("InstanceId") or []
        if len(instance_ids) != 1:
            raise InvalidAutomationExecutionParametersException("Missing required parameter: InstanceId in user inputs.")
        text = diagnostics.diagnose(self.account_id, self.region, instance_ids[0])
        start = _now()
        step_name, output = diagnostics.DIAGNOSTICS_OUTPUT.split(".")
        step = StepExecution(step_name, "aws:executeScript", start, start, _moto.seeded_uuid(),
                             {output: [text]}, is_end=True)
        execution = AutomationExecution(_moto.seeded_uuid(), DIAGNOSTICS_DOCUMENT, "1", {"InstanceId": instance_ids},
                                        start, [step], executed_by, output_keys=(diagnostics.DIAGNOSTICS_OUTPUT,))
        self.executions[execution.execution_id] = execution
        return execution

    def get(self, execution_id: str | None) -> AutomationExecution:
        execution = self.executions.get(execution_id or "")
        if execution is None:
            raise AutomationExecutionNotFoundException(f"Automation Execution {execution_id} is not found.")
        return execution


STEP_FILTER_KEYS = ("StartTimeBefore", "StartTimeAfter", "StepExecutionStatus", "StepExecutionId", "StepName",
                    "Action", "ParentStepExecutionId", "ParentStepIteration", "ParentStepIteratorValue")


def filter_steps(views: list[dict[str, Any]], filters: list[dict] | None) -> list[dict[str, Any]]:
    """DescribeAutomationStepExecutions' filters (botocore StepExecutionFilterKey); values of
    one key are alternatives, keys all apply."""
    for item in filters or []:
        key, values = item.get("Key"), item.get("Values") or []
        if key not in STEP_FILTER_KEYS:
            raise InvalidFilterKey("")
        if key == "StepExecutionStatus":
            views = [v for v in views if v["StepStatus"].lower() in {x.lower() for x in values}]
        elif key in ("StepName", "Action", "StepExecutionId"):
            field_name = {"StepName": "StepName", "Action": "Action", "StepExecutionId": "StepExecutionId"}[key]
            views = [v for v in views if v[field_name] in values]
        elif key in ("StartTimeBefore", "StartTimeAfter"):
            moments = [datetime.fromisoformat(x.replace("Z", "+00:00")) for x in values]
            if key == "StartTimeBefore":
                views = [v for v in views if all(v["ExecutionStartTime"] <= m for m in moments)]
            else:
                views = [v for v in views if all(v["ExecutionStartTime"] >= m for m in moments)]
        else:  # the parent-step keys: the runbook's steps are no loop's children
            views = []
    return views


# ---------------------------------------------------------------------------------------
# DescribeDocument for the two documents


def document_description(name: str) -> dict[str, Any]:
    if name == RUNBOOK:
        content = json.dumps({"schemaVersion": "0.3", "description": RUNBOOK_DESCRIPTION,
                              "parameters": [p["Name"] for p in RUNBOOK_PARAMETERS],
                              "mainSteps": [{"name": n, "action": a} for n, a in STEP_ACTIONS.items()]})
        owner, description, parameters = "Amazon", RUNBOOK_DESCRIPTION, list(RUNBOOK_PARAMETERS)
        platforms = ["Windows", "Linux", "MacOS"]
    else:
        content = json.dumps({"schemaVersion": "0.3", "name": DIAGNOSTICS_DOCUMENT})
        owner = "ssmlab"
        description = ("ssmlab's offline lab only: what `sudo ssm-cli get-diagnostics --output table` and the "
                       "agent's log show on the instance. Not an AWS document.")
        parameters = [{"Name": "InstanceId", "Type": "String", "Description": "(Required) The instance."}]
        platforms = ["Linux"]
    return {
        "Hash": hashlib.sha256(content.encode()).hexdigest(),
        "HashType": "Sha256",
        "Name": name,
        "Owner": owner,
        "Status": "Active",
        "DocumentVersion": DOCUMENT_VERSION,
        "Description": description,
        "Parameters": parameters,
        "PlatformTypes": platforms,
        "DocumentType": "Automation",
        "SchemaVersion": "0.3",
        "LatestVersion": DOCUMENT_VERSION,
        "DefaultVersion": DOCUMENT_VERSION,
        "DocumentFormat": "JSON",
    }


# ---------------------------------------------------------------------------------------
# Thin handlers on moto's SSM response class


def automations(account_id: str, region: str) -> Automations:
    backend = _moto.ssm_backend(account_id, region)
    found = backend.__dict__.get(_STATE_ATTR)
    if found is None:
        found = backend.__dict__[_STATE_ATTR] = Automations(account_id, region)
    return found


def start_automation_execution(self):
    execution = automations(self.current_account, self.region).start_automation_execution(
        self._get_param("DocumentName") or "", self._get_param("Parameters"), self._get_param("DocumentVersion"),
        _moto.caller_arn(self),
    )
    return _moto.action_result({"AutomationExecutionId": execution.execution_id})


def get_automation_execution(self):
    execution = automations(self.current_account, self.region).get(self._get_param("AutomationExecutionId"))
    return _moto.action_result({"AutomationExecution": execution.view(_now())})


def describe_automation_step_executions(self):
    execution = automations(self.current_account, self.region).get(self._get_param("AutomationExecutionId"))
    views = filter_steps([s.view(_now()) for s in execution.started_steps(_now())], self._get_param("Filters"))
    if self._get_param("ReverseOrder"):
        views.reverse()
    return _moto.action_result({"StepExecutions": views})


def _describe_document(original):
    def describe_document(self):
        name = self._get_param("Name")
        if name in (RUNBOOK, DIAGNOSTICS_DOCUMENT):
            version = self._get_param("DocumentVersion")
            if version not in (None, "", "$DEFAULT", "$LATEST", DOCUMENT_VERSION):
                raise InvalidDocumentVersion(
                    "The document version is not valid or does not exist."
                )
            return _moto.action_result({"Document": document_description(name)})
        return original(self)

    return describe_document


_HANDLERS = {
    "start_automation_execution": start_automation_execution,
    "get_automation_execution": get_automation_execution,
    "describe_automation_step_executions": describe_automation_step_executions,
}


def install() -> None:
    """Add the handlers to moto's SSM response class (idempotent)."""
    response = _moto.ssm_response_class()
    for name, handler in _HANDLERS.items():
        setattr(response, name, handler)
    if not getattr(response.describe_document, "_ssmlab", False):
        _moto.wrap_methods([(response, "describe_document", _describe_document)])
        response.describe_document._ssmlab = True


def reset() -> None:
    """Forget every execution in every loaded SSM backend."""
    for backend in _moto.ssm_backends_loaded():
        backend.__dict__.pop(_STATE_ATTR, None)
