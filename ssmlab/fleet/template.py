"""The fleet's CloudFormation template, and the one way it becomes resources.

:func:`template` writes the template from the drawn members (their :class:`~.causes.Spec`):
its own VPC (10.42.0.0/16) with a public subnet behind an internet gateway, and, only when a
drawn cause needs them, a private subnet without any route out, interface endpoints, a
subnet with its own network ACL, a security group without HTTPS egress; per member a role,
an instance profile and a ``t3.micro`` instance; no NAT gateway.

``fleet.build`` creates it: on a real account as a CloudFormation stack; offline by reading
the same template resource by resource and making the EC2 and IAM calls CloudFormation
would make (:func:`create_offline`), so the two cannot drift apart: one template. moto's
CloudFormation, as ``ssmlab/simulation/cfn_corrections.py`` corrects it, hosts the template
too (the stand-in account's real-account path, docs/aws-facts.md#the-fleet-on-cloudformation);
tests/test_cfn_corrections.py holds that both ways make the same resources.
"""

from __future__ import annotations

import json
from typing import Any

from ..naming import TAG_KEY
from . import causes as catalogue

VPC_CIDR = "10.42.0.0/16"
SUBNETS = {"public": "10.42.1.0/24", "private": "10.42.2.0/24", "nacl": "10.42.3.0/24"}
INSTANCE_TYPE = "t3.micro"
AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
#: Debian's public parameter for its latest Debian 12 AMI (docs/aws-facts.md#fleet-agent-not-installed).
DEBIAN_AMI_PARAMETER = "/aws/service/debian/release/bookworm/latest/amd64"
_IMAGES = {"al2023": "LatestAmiId", "debian": "DebianAmiId"}
SEED_TAG = "ssmlab:fleet-seed"
MEMBER_TAG = "ssmlab:fleet-member"
INSTANCES_TAG = "ssmlab:fleet-instances"
DENY_POLICY = "deny-agent"
_SUBNET_IDS = {"public": "PublicSubnet", "private": "PrivateSubnet", "nacl": "AclSubnet"}


def logical(member: str) -> str:
    """node-03 -> Node03 (a logical id is alphanumeric)."""
    return "".join(part.capitalize() for part in member.split("-"))


def names(name, member: str) -> dict[str, str]:
    """The member's resource names, through ``lab.name``."""
    return {
        "instance_name": name(f"fleet-{member}"),
        "role": name(f"fleet-{member}-role"),
        "profile": name(f"fleet-{member}-profile"),
        "boundary": name(f"fleet-{member}-boundary"),
    }


def _tags(tag_value: str, **more: str) -> list[dict[str, str]]:
    return [{"Key": TAG_KEY, "Value": tag_value}] + [{"Key": k, "Value": v} for k, v in more.items()]


def _trust(service: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]}


def _https_out() -> list[dict]:
    return [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": "0.0.0.0/0"}]


def template(members: list[tuple[str, catalogue.Spec]], *, seed: int, name, tag_value: str,
             dhmc_role: str | None = None) -> dict[str, Any]:
    """The fleet's template (a dict; ``json.dumps`` it for CloudFormation)."""
    used = {spec.subnet for _, spec in members}
    blocked = any(spec.security_group == "blocked" for _, spec in members)
    endpoints = any(spec.endpoints for _, spec in members)
    r: dict[str, Any] = {}
    r["Vpc"] = {"Type": "AWS::EC2::VPC", "Properties": {
        "CidrBlock": VPC_CIDR, "EnableDnsSupport": True, "EnableDnsHostnames": True,
        "Tags": _tags(tag_value, Name=name("fleet-vpc"), **{SEED_TAG: str(seed)})}}
    r["InternetGateway"] = {"Type": "AWS::EC2::InternetGateway", "Properties": {
        "Tags": _tags(tag_value, Name=name("fleet-igw"))}}
    r["GatewayAttachment"] = {"Type": "AWS::EC2::VPCGatewayAttachment", "Properties": {
        "VpcId": {"Ref": "Vpc"}, "InternetGatewayId": {"Ref": "InternetGateway"}}}
    r["PublicRouteTable"] = {"Type": "AWS::EC2::RouteTable", "Properties": {
        "VpcId": {"Ref": "Vpc"}, "Tags": _tags(tag_value, Name=name("fleet-public"))}}
    r["PublicDefaultRoute"] = {"Type": "AWS::EC2::Route", "DependsOn": "GatewayAttachment", "Properties": {
        "RouteTableId": {"Ref": "PublicRouteTable"}, "DestinationCidrBlock": "0.0.0.0/0",
        "GatewayId": {"Ref": "InternetGateway"}}}
    for kind in ("public", "nacl", "private"):
        if kind != "public" and kind not in used:
            continue
        subnet = _SUBNET_IDS[kind]
        r[subnet] = {"Type": "AWS::EC2::Subnet", "Properties": {
            "VpcId": {"Ref": "Vpc"}, "CidrBlock": SUBNETS[kind], "MapPublicIpOnLaunch": kind != "private",
            "Tags": _tags(tag_value, Name=name(f"fleet-{kind}"))}}
        table = "PublicRouteTable"
        if kind == "private":  # no route out at all: no NAT gateway, no internet gateway
            table = "PrivateRouteTable"
            r[table] = {"Type": "AWS::EC2::RouteTable", "Properties": {
                "VpcId": {"Ref": "Vpc"}, "Tags": _tags(tag_value, Name=name("fleet-private"))}}
        r[f"{subnet}Routes"] = {"Type": "AWS::EC2::SubnetRouteTableAssociation", "Properties": {
            "SubnetId": {"Ref": subnet}, "RouteTableId": {"Ref": table}}}
    r["FleetSecurityGroup"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupName": name("fleet-https-out"), "GroupDescription": "Outbound HTTPS only, no inbound",
        "VpcId": {"Ref": "Vpc"}, "SecurityGroupEgress": _https_out(),
        "Tags": _tags(tag_value, Name=name("fleet-https-out"))}}
    if blocked:
        r["BlockedSecurityGroup"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupName": name("fleet-http-out"), "GroupDescription": "Outbound HTTP only, no inbound",
            "VpcId": {"Ref": "Vpc"},
            "SecurityGroupEgress": [{"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "CidrIp": "0.0.0.0/0"}],
            "Tags": _tags(tag_value, Name=name("fleet-http-out"))}}
    if "private" in used:
        r["EndpointSecurityGroup"] = {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupName": name("fleet-endpoints"), "GroupDescription": "HTTPS in from the VPC, for interface endpoints",
            "VpcId": {"Ref": "Vpc"},
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": VPC_CIDR}],
            "Tags": _tags(tag_value, Name=name("fleet-endpoints"))}}
    if endpoints:
        for service in catalogue.ENDPOINT_SERVICES:
            r[f"Endpoint{service.capitalize()}"] = {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
                "VpcId": {"Ref": "Vpc"}, "VpcEndpointType": "Interface",
                "ServiceName": {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{service}"},
                "SubnetIds": [{"Ref": "PrivateSubnet"}], "SecurityGroupIds": [{"Ref": "EndpointSecurityGroup"}],
                "PrivateDnsEnabled": False}}
    if "nacl" in used:
        r["FleetNetworkAcl"] = {"Type": "AWS::EC2::NetworkAcl", "Properties": {
            "VpcId": {"Ref": "Vpc"}, "Tags": _tags(tag_value, Name=name("fleet-acl"))}}
        for rule, egress in (("AclOutHttps", True), ("AclInHttps", False)):
            # 443 both ways looks symmetrical; the replies' ephemeral ports are left out.
            r[rule] = {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
                "NetworkAclId": {"Ref": "FleetNetworkAcl"}, "RuleNumber": 100, "Protocol": 6,
                "RuleAction": "allow", "Egress": egress, "CidrBlock": "0.0.0.0/0",
                "PortRange": {"From": 443, "To": 443}}}
        r["AclSubnetAcl"] = {"Type": "AWS::EC2::SubnetNetworkAclAssociation", "Properties": {
            "SubnetId": {"Ref": "AclSubnet"}, "NetworkAclId": {"Ref": "FleetNetworkAcl"}}}
    if dhmc_role:
        r["DhmcRole"] = {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": dhmc_role, "AssumeRolePolicyDocument": _trust("ssm.amazonaws.com"),
            "Tags": _tags(tag_value)}}
    for member, spec in members:
        _member(r, member, spec, name, tag_value)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"ssmlab fleet (seed {seed}): instances each kept from Systems Manager by one cause",
        "Parameters": _parameters({spec.image for _, spec in members}),
        "Resources": r,
        "Outputs": {f"{logical(m)}InstanceId": {"Value": {"Ref": f"{logical(m)}Instance"}} for m, _ in members},
    }


def _parameters(images: set[str]) -> dict:
    parameters = {"LatestAmiId": {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": AMI_PARAMETER,
        "Description": "The latest Amazon Linux 2023 AMI (SSM Agent preinstalled)"}}
    if "debian" in images:
        parameters["DebianAmiId"] = {
            "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": DEBIAN_AMI_PARAMETER,
            "Description": "The latest Debian 12 AMI (no SSM Agent)"}
    return parameters


def _member(r: dict, member: str, spec: catalogue.Spec, name, tag_value: str) -> None:
    ids, n = names(name, member), logical(member)
    if spec.profile != "none":
        policies = []
        if spec.inline_deny:
            policies.append({"PolicyName": DENY_POLICY, "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Deny", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}]}})
        role = {"RoleName": ids["role"], "AssumeRolePolicyDocument": _trust(spec.trust),
                "ManagedPolicyArns": list(spec.managed), "Tags": _tags(tag_value, **{MEMBER_TAG: member})}
        if policies:
            role["Policies"] = policies
        if spec.boundary:
            r[f"{n}Boundary"] = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
                "ManagedPolicyName": ids["boundary"], "PolicyDocument": {"Version": "2012-10-17", "Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}}}
            role["PermissionsBoundary"] = {"Ref": f"{n}Boundary"}
        r[f"{n}Role"] = {"Type": "AWS::IAM::Role", "Properties": role}
    if spec.profile == "role":
        r[f"{n}Profile"] = {"Type": "AWS::IAM::InstanceProfile", "Properties": {
            "InstanceProfileName": ids["profile"], "Roles": [{"Ref": f"{n}Role"}]}}
    groups = {"blocked": "BlockedSecurityGroup"}.get(spec.security_group, "FleetSecurityGroup")
    instance = {
        "ImageId": {"Ref": _IMAGES[spec.image]}, "InstanceType": INSTANCE_TYPE,
        "SubnetId": {"Ref": _SUBNET_IDS[spec.subnet]}, "SecurityGroupIds": [{"Ref": groups}],
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": spec.imds},
        "Tags": _tags(tag_value, Name=ids["instance_name"], **{MEMBER_TAG: member}),
    }
    if spec.user_data:
        instance["UserData"] = {"Fn::Base64": spec.user_data}
    if spec.profile == "role":
        instance["IamInstanceProfile"] = {"Ref": f"{n}Profile"}
    elif spec.profile == "empty":
        # CloudFormation's InstanceProfile needs a role: the empty profile is made before
        # the stack (fleet.build), and named here.
        instance["IamInstanceProfile"] = ids["profile"]
    r[f"{n}Instance"] = {"Type": "AWS::EC2::Instance", "Properties": instance}


def to_json(body: dict) -> str:
    return json.dumps(body, indent=1)


# ---------------------------------------------------------------------------------------
# Offline: read the template and make CloudFormation's calls


class _Reader:
    def __init__(self, lab, parameters: dict[str, str]):
        self.lab, self.ec2, self.iam = lab, lab.client("ec2"), lab.client("iam")
        self.refs: dict[str, str] = dict(parameters)
        self.refs["AWS::Region"] = lab.region

    def value(self, v):
        if isinstance(v, dict) and set(v) == {"Ref"}:
            return self.refs[v["Ref"]]
        if isinstance(v, dict) and set(v) == {"Fn::Base64"}:
            return self.value(v["Fn::Base64"])  # boto3 encodes UserData itself
        if isinstance(v, dict) and set(v) == {"Fn::Sub"}:
            text = v["Fn::Sub"]
            for key, ref in self.refs.items():
                text = text.replace("${" + key + "}", ref)
            return text
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {k: self.value(x) for k, x in v.items()}
        return v

    def tag(self, resource_id: str, props: dict) -> None:
        if props.get("Tags"):
            self.ec2.create_tags(Resources=[resource_id], Tags=props["Tags"])

    def create(self, kind: str, p: dict) -> str:  # noqa: C901 - one branch per resource type
        ec2, iam = self.ec2, self.iam
        if kind == "AWS::EC2::VPC":
            vpc = ec2.create_vpc(CidrBlock=p["CidrBlock"])["Vpc"]["VpcId"]
            for attribute in ("EnableDnsSupport", "EnableDnsHostnames"):
                if attribute in p:
                    ec2.modify_vpc_attribute(VpcId=vpc, **{attribute: {"Value": p[attribute]}})
            self.tag(vpc, p)
            return vpc
        if kind == "AWS::EC2::InternetGateway":
            igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
            self.tag(igw, p)
            return igw
        if kind == "AWS::EC2::VPCGatewayAttachment":
            ec2.attach_internet_gateway(InternetGatewayId=p["InternetGatewayId"], VpcId=p["VpcId"])
            return p["InternetGatewayId"]
        if kind == "AWS::EC2::RouteTable":
            table = ec2.create_route_table(VpcId=p["VpcId"])["RouteTable"]["RouteTableId"]
            self.tag(table, p)
            return table
        if kind == "AWS::EC2::Route":
            ec2.create_route(RouteTableId=p["RouteTableId"], DestinationCidrBlock=p["DestinationCidrBlock"],
                             GatewayId=p["GatewayId"])
            return p["RouteTableId"]
        if kind == "AWS::EC2::Subnet":
            subnet = ec2.create_subnet(VpcId=p["VpcId"], CidrBlock=p["CidrBlock"])["Subnet"]["SubnetId"]
            if p.get("MapPublicIpOnLaunch"):
                ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
            self.tag(subnet, p)
            return subnet
        if kind == "AWS::EC2::SubnetRouteTableAssociation":
            return ec2.associate_route_table(SubnetId=p["SubnetId"], RouteTableId=p["RouteTableId"])["AssociationId"]
        if kind == "AWS::EC2::SecurityGroup":
            group = ec2.create_security_group(GroupName=p["GroupName"], Description=p["GroupDescription"],
                                              VpcId=p["VpcId"])["GroupId"]
            if "SecurityGroupEgress" in p:  # given egress replaces the default allow-all rule
                ec2.revoke_security_group_egress(GroupId=group, IpPermissions=[
                    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
                ec2.authorize_security_group_egress(GroupId=group, IpPermissions=_permissions(p["SecurityGroupEgress"]))
            if "SecurityGroupIngress" in p:
                ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=_permissions(p["SecurityGroupIngress"]))
            self.tag(group, p)
            return group
        if kind == "AWS::EC2::VPCEndpoint":
            return ec2.create_vpc_endpoint(
                VpcId=p["VpcId"], VpcEndpointType=p["VpcEndpointType"], ServiceName=p["ServiceName"],
                SubnetIds=p["SubnetIds"], SecurityGroupIds=p["SecurityGroupIds"],
                PrivateDnsEnabled=p["PrivateDnsEnabled"])["VpcEndpoint"]["VpcEndpointId"]
        if kind == "AWS::EC2::NetworkAcl":
            acl = ec2.create_network_acl(VpcId=p["VpcId"])["NetworkAcl"]["NetworkAclId"]
            self.tag(acl, p)
            return acl
        if kind == "AWS::EC2::NetworkAclEntry":
            ec2.create_network_acl_entry(
                NetworkAclId=p["NetworkAclId"], RuleNumber=p["RuleNumber"], Protocol=str(p["Protocol"]),
                RuleAction=p["RuleAction"], Egress=p["Egress"], CidrBlock=p["CidrBlock"],
                PortRange=p["PortRange"])
            return f"{p['NetworkAclId']}-{p['RuleNumber']}-{p['Egress']}"
        if kind == "AWS::EC2::SubnetNetworkAclAssociation":
            current = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [p["SubnetId"]]}])
            association = next(a["NetworkAclAssociationId"] for acl in current["NetworkAcls"]
                               for a in acl["Associations"] if a["SubnetId"] == p["SubnetId"])
            return ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=p["NetworkAclId"])[
                "NewAssociationId"]
        if kind == "AWS::IAM::ManagedPolicy":
            return iam.create_policy(PolicyName=p["ManagedPolicyName"], PolicyDocument=json.dumps(p["PolicyDocument"]),
                                     Tags=self.lab.tags)["Policy"]["Arn"]
        if kind == "AWS::IAM::Role":
            extra = {"PermissionsBoundary": p["PermissionsBoundary"]} if "PermissionsBoundary" in p else {}
            iam.create_role(RoleName=p["RoleName"], AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]),
                            Tags=p.get("Tags", []), **extra)
            for arn in p.get("ManagedPolicyArns", []):
                iam.attach_role_policy(RoleName=p["RoleName"], PolicyArn=arn)
            for inline in p.get("Policies", []):
                iam.put_role_policy(RoleName=p["RoleName"], PolicyName=inline["PolicyName"],
                                    PolicyDocument=json.dumps(inline["PolicyDocument"]))
            return p["RoleName"]
        if kind == "AWS::IAM::InstanceProfile":
            iam.create_instance_profile(InstanceProfileName=p["InstanceProfileName"], Tags=self.lab.tags)
            for role in p["Roles"]:
                iam.add_role_to_instance_profile(InstanceProfileName=p["InstanceProfileName"], RoleName=role)
            return p["InstanceProfileName"]
        if kind == "AWS::EC2::Instance":
            params = dict(ImageId=p["ImageId"], InstanceType=p["InstanceType"], MinCount=1, MaxCount=1,
                          SubnetId=p["SubnetId"], SecurityGroupIds=p["SecurityGroupIds"],
                          MetadataOptions=p["MetadataOptions"],
                          TagSpecifications=[{"ResourceType": "instance", "Tags": p["Tags"]}])
            if "IamInstanceProfile" in p:
                params["IamInstanceProfile"] = {"Name": p["IamInstanceProfile"]}
            if "UserData" in p:
                params["UserData"] = p["UserData"]
            return self.ec2.run_instances(**params)["Instances"][0]["InstanceId"]
        raise ValueError(f"the fleet's reader has no {kind}")


def _permissions(rules: list[dict]) -> list[dict]:
    return [{"IpProtocol": rule["IpProtocol"], "FromPort": rule["FromPort"], "ToPort": rule["ToPort"],
             "IpRanges": [{"CidrIp": rule["CidrIp"]}]} for rule in rules]


def create_offline(lab, body: dict, after: dict | None = None) -> dict[str, str]:
    """Make the template's resources through the lab's EC2 and IAM clients, in the
    template's order (each resource refers only to those before it); returns the logical
    id -> physical id map, as describe-stack-resources would. ``after[logical_id]`` is
    called with that resource's physical id as soon as it exists."""
    parameters = {key: lab.client("ssm").get_parameter(Name=spec["Default"])["Parameter"]["Value"]
                  for key, spec in body.get("Parameters", {}).items()}
    reader = _Reader(lab, parameters)
    for logical_id, resource in body["Resources"].items():
        reader.refs[logical_id] = reader.create(resource["Type"], reader.value(resource.get("Properties", {})))
        if after and logical_id in after:
            after[logical_id](reader.refs[logical_id])
    return {k: v for k, v in reader.refs.items() if k in body["Resources"]}
