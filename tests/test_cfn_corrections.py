"""CloudFormation as AWS answers it: parameters validated at CreateStack, a failing
resource rolls the stack back with AWS's reason (docs/aws-facts.md#cloudformation)."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from botocore.exceptions import ClientError

from ssmlab.simulation.cfn_corrections import parameter_problem
from test_agent import make_profile

TEMPLATE = resources.files("ssmlab.templates").joinpath("ec2-instance-profile.yaml").read_text()


def instances(lab) -> set[str]:
    reservations = lab.client("ec2").describe_instances()["Reservations"]
    return {i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] != "terminated"}


def test_a_missing_instance_profile_fails_the_instance_and_rolls_back(lab):
    cfn = lab.client("cloudformation")
    stack_id = cfn.create_stack(StackName="s", TemplateBody=TEMPLATE, Parameters=[
        {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec3"}])["StackId"]
    assert stack_id.startswith("arn:aws:cloudformation:us-east-1:123456789012:stack/s/")
    [stack] = cfn.describe_stacks(StackName="s")["Stacks"]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE" and "Outputs" not in stack
    events = list(reversed(cfn.describe_stack_events(StackName="s")["StackEvents"]))  # oldest first
    story = [(e["LogicalResourceId"], e["ResourceStatus"]) for e in events]
    assert story == [
        ("s", "CREATE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "CREATE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "CREATE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "CREATE_COMPLETE"),
        ("Instance", "CREATE_IN_PROGRESS"),
        ("Instance", "CREATE_FAILED"),
        ("s", "ROLLBACK_IN_PROGRESS"),
        ("InstanceSecurityGroup", "DELETE_IN_PROGRESS"),
        ("InstanceSecurityGroup", "DELETE_COMPLETE"),
        ("Instance", "DELETE_COMPLETE"),
        ("s", "ROLLBACK_COMPLETE"),
    ]
    assert events[2]["ResourceStatusReason"] == "Resource creation Initiated"
    assert events[6]["ResourceStatusReason"] == (
        "The following resource(s) failed to create: [Instance]. Rollback requested by user.")
    assert "Invalid IAM Instance Profile name" in events[5]["ResourceStatusReason"]
    assert instances(lab) == set()
    assert cfn.list_stack_resources(StackName="s")["StackResourceSummaries"] == []
    groups = lab.client("ec2").describe_security_groups()["SecurityGroups"]
    assert [g for g in groups if g["GroupName"] != "default"] == []  # the rollback deleted it
    with pytest.raises(ClientError) as again:  # the rolled-back stack keeps its name
        cfn.create_stack(StackName="s", TemplateBody=TEMPLATE, Parameters=[
            {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec3"}])
    assert again.value.response["Error"]["Code"] == "AlreadyExistsException"
    cfn.delete_stack(StackName="s")


def test_a_good_stack_reports_each_resource(lab):
    make_profile(lab)
    cfn = lab.client("cloudformation")
    cfn.create_stack(StackName="good", TemplateBody=TEMPLATE, Parameters=[
        {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec2"}])
    [stack] = cfn.describe_stacks(StackName="good")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    [output] = stack["Outputs"]
    completed = {e["LogicalResourceId"]: e["PhysicalResourceId"]
                 for e in cfn.describe_stack_events(StackName="good")["StackEvents"]
                 if e["ResourceStatus"] == "CREATE_COMPLETE"}
    assert completed["Instance"] == output["OutputValue"] and completed["InstanceSecurityGroup"].startswith("sg-")


@pytest.mark.parametrize("parameters, message", [
    ({"InstanceProfileName": "for-ec2", "InstanceType": "t2.nano"}, "Parameter 'InstanceType' must be one of AllowedValues"),
    ({"InstanceProfileName": "for ec2"}, "Parameter 'InstanceProfileName' must match pattern [\\w+=,.@-]+"),
    ({}, "Parameters: [InstanceProfileName] must have values"),
    ({"InstanceProfileName": "for-ec2", "Colour": "blue"}, "Parameters: [Colour] do not exist in the template"),
])
def test_bad_parameters_are_refused_before_anything_exists(lab, parameters, message):
    cfn = lab.client("cloudformation")
    with pytest.raises(ClientError) as caught:
        cfn.create_stack(StackName="bad", TemplateBody=TEMPLATE, Parameters=[
            {"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    assert caught.value.response["Error"] == {"Type": "Sender", "Code": "ValidationError", "Message": message}
    assert cfn.describe_stacks()["Stacks"] == []
    assert instances(lab) == set()


NUMBERS = {"Parameters": {
    "Count": {"Type": "Number", "MinValue": 1, "MaxValue": 3},
    "Name": {"Type": "String", "MinLength": 2, "MaxLength": 4},
    "Env": {"Type": "String", "AllowedValues": ["dev", "prod"], "ConstraintDescription": "must be dev or prod"},
}}


@pytest.mark.parametrize("given, message", [
    ({"Count": "two", "Name": "ab", "Env": "dev"}, "Parameter 'Count' must be a number."),  # aws/aws-cli#7992
    ({"Count": "9", "Name": "ab", "Env": "dev"}, "Parameter 'Count' must be a number not greater than 3"),
    ({"Count": "2", "Name": "a", "Env": "dev"}, "Parameter 'Name' must contain at least 2 characters"),
    ({"Count": "2", "Name": "abcde", "Env": "dev"}, "Parameter 'Name' must contain at most 4 characters"),
    ({"Count": "2", "Name": "ab", "Env": "test"}, "Parameter 'Env' failed to satisfy constraint: must be dev or prod"),
    ({"Count": "2", "Name": "ab", "Env": "dev"}, None),
])
def test_parameter_types_and_bounds(given, message):
    assert parameter_problem(NUMBERS, given) == message


def test_a_wrong_type_through_create_stack(lab):
    template = {**NUMBERS, "Resources": {"Group": {"Type": "AWS::EC2::SecurityGroup",
                                                   "Properties": {"GroupDescription": "x"}}}}
    with pytest.raises(ClientError) as caught:
        lab.client("cloudformation").create_stack(StackName="n", TemplateBody=json.dumps(template), Parameters=[
            {"ParameterKey": "Count", "ParameterValue": "two"}, {"ParameterKey": "Name", "ParameterValue": "ab"},
            {"ParameterKey": "Env", "ParameterValue": "dev"}])
    assert caught.value.response["Error"]["Message"] == "Parameter 'Count' must be a number."


def test_update_stack_validates_parameters_and_refuses_a_rolled_back_stack(lab):
    make_profile(lab)
    cfn = lab.client("cloudformation")
    profile = {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec2"}
    cfn.create_stack(StackName="good", TemplateBody=TEMPLATE, Parameters=[profile])
    with pytest.raises(ClientError) as caught:
        cfn.update_stack(StackName="good", UsePreviousTemplate=True, Parameters=[
            {"ParameterKey": "InstanceProfileName", "UsePreviousValue": True},
            {"ParameterKey": "InstanceType", "ParameterValue": "m5.24xlarge"}])
    assert caught.value.response["Error"]["Message"] == "Parameter 'InstanceType' must be one of AllowedValues"
    assert cfn.describe_stacks(StackName="good")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    stack_id = cfn.create_stack(StackName="typo", TemplateBody=TEMPLATE, Parameters=[
        {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec3"}])["StackId"]
    with pytest.raises(ClientError) as refused:
        cfn.update_stack(StackName="typo", TemplateBody=TEMPLATE, Parameters=[profile])
    # bitovi/bitops#128, jenseickmeyer/todo-app-nodejs#5: AWS's words.
    assert refused.value.response["Error"]["Message"] == (
        f"Stack:{stack_id} is in ROLLBACK_COMPLETE state and can not be updated.")


# --- the fleet's template on CloudFormation (docs/aws-facts.md#the-fleet-on-cloudformation) ---

from fleet_seeds import drawn_keys  # noqa: E402
from ssmlab import fleet  # noqa: E402
from ssmlab.fleet import template as tpl  # noqa: E402

def _types(seed: int) -> set[str]:
    specs = fleet._specs(fleet.draw(seed))
    body = tpl.template(specs, seed=seed, name=lambda base: base, tag_value="offline", dhmc_role="r")
    return {r["Type"] for r in body["Resources"].values()}


def _covering_seeds() -> tuple[int, int]:
    """The first two seeds, each with the network ACL cause, whose templates together hold
    every resource type any seed's template has (chosen from the draw, never typed)."""
    types = {s: _types(s) for s in range(300)}  # each template built once
    with_acl = [s for s in types if "network-acl-return-traffic" in drawn_keys(s)]
    every = set().union(*types.values())
    return next((a, b) for i, a in enumerate(with_acl) for b in with_acl[i + 1:] if types[a] | types[b] == every)


FLEET_SEEDS = _covering_seeds()


def _fleet_body(lab, seed: int):
    for member, spec in fleet._specs(fleet.draw(seed)):
        if spec.profile == "empty":
            lab.client("iam").create_instance_profile(InstanceProfileName=tpl.names(lab.name, member)["profile"])
    return fleet.template_for(lab, seed)


def test_the_seeds_cover_every_resource_type_of_the_template():
    every = {"AWS::EC2::VPC", "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::RouteTable",
             "AWS::EC2::Route", "AWS::EC2::Subnet", "AWS::EC2::SubnetRouteTableAssociation", "AWS::EC2::SecurityGroup",
             "AWS::EC2::VPCEndpoint", "AWS::EC2::NetworkAcl", "AWS::EC2::NetworkAclEntry",
             "AWS::EC2::SubnetNetworkAclAssociation", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role",
             "AWS::IAM::InstanceProfile", "AWS::EC2::Instance"}
    name = lambda base: base  # noqa: E731 - the offline lab's names
    drawn = {seed: fleet._specs(fleet.draw(seed)) for seed in range(300)}
    used = set()
    for seed in range(300):  # every type any seed's template has is one of these
        used |= {r["Type"] for r in tpl.template(drawn[seed], seed=seed, name=name, tag_value="offline",
                                                  dhmc_role="r")["Resources"].values()}
    assert used == every
    covered = {r["Type"] for seed in FLEET_SEEDS for r in tpl.template(
        drawn[seed], seed=seed, name=name, tag_value="offline", dhmc_role="r")["Resources"].values()}
    assert covered == every


def _world(lab, vpc: str) -> dict:
    """What EC2 and IAM describe of the fleet, without ids, dates or the stack's own tags."""
    ec2, iam = lab.client("ec2"), lab.client("iam")
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]

    def tags(item):
        return sorted((t["Key"], t["Value"]) for t in item.get("Tags", [])
                      if not t["Key"].startswith("aws:") and t["Key"] != tpl.SEED_TAG)

    def rules(permissions):
        return sorted((p["IpProtocol"], p.get("FromPort"), p.get("ToPort"), tuple(r["CidrIp"] for r in p["IpRanges"]))
                      for p in permissions)

    instances = [i for r in ec2.describe_instances(Filters=by_vpc)["Reservations"] for i in r["Instances"]]
    routes = {}
    for table in ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]:
        for association in table["Associations"]:
            if association.get("SubnetId"):
                routes[association["SubnetId"]] = sorted(r.get("GatewayId", "")[:4] for r in table["Routes"])
    subnets = ec2.describe_subnets(Filters=by_vpc)["Subnets"]
    acl_of = {a["SubnetId"]: tags(acl) for acl in ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]
              for a in acl["Associations"]}
    roles = [r["RoleName"] for r in iam.list_roles()["Roles"] if "fleet" in r["RoleName"]]
    return {
        "dns": [ec2.describe_vpc_attribute(VpcId=vpc, Attribute=a)[a[0].upper() + a[1:]]["Value"]
                for a in ("enableDnsSupport", "enableDnsHostnames")],
        "subnets": sorted((s["CidrBlock"], s["MapPublicIpOnLaunch"], tags(s), routes.get(s["SubnetId"]),
                           acl_of.get(s["SubnetId"])) for s in subnets),
        "groups": sorted((g["GroupName"], rules(g["IpPermissions"]), rules(g["IpPermissionsEgress"]), tags(g))
                         for g in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"]),
        "acls": sorted((a["IsDefault"], sorted((e["RuleNumber"], e["Egress"], e["Protocol"], e["RuleAction"],
                                                 str(e.get("PortRange"))) for e in a["Entries"]), tags(a))
                       for a in ec2.describe_network_acls(Filters=by_vpc)["NetworkAcls"]),
        "gateways": [tags(g) for g in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc]}])["InternetGateways"]],
        "endpoints": sorted((e["ServiceName"], e["PrivateDnsEnabled"])
                            for e in ec2.describe_vpc_endpoints(Filters=by_vpc)["VpcEndpoints"]),
        "instances": sorted((tags(i), i["InstanceType"], i["MetadataOptions"]["HttpEndpoint"],
                             i["MetadataOptions"]["HttpTokens"], (i.get("IamInstanceProfile") or {}).get("Arn", "")[-22:],
                             [g["GroupName"] for g in i["SecurityGroups"]], "PublicIpAddress" in i) for i in instances),
        "roles": sorted((name, sorted(p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]),
                         iam.list_role_policies(RoleName=name)["PolicyNames"],
                         bool(iam.get_role(RoleName=name)["Role"].get("PermissionsBoundary"))) for name in roles),
    }


@pytest.mark.parametrize("seed", FLEET_SEEDS)
def test_the_fleets_stack_makes_what_the_template_says(lab, seed):
    """Every resource type and property of the fleet's template, through CreateStack, makes
    what the same template read call by call makes (tpl.create_offline): network ACLs and
    their entries and association, DNS attributes, public IPs, egress rules, route table
    associations, tags, managed policies."""
    body = _fleet_body(lab, seed)
    stack = lab.client("cloudformation").create_stack(
        StackName="fleet", TemplateBody=tpl.to_json(body), Capabilities=["CAPABILITY_NAMED_IAM"])
    assert stack["StackId"]
    cfn = lab.client("cloudformation")
    assert cfn.describe_stacks(StackName="fleet")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName="fleet")["StackResources"]}
    assert physical["FleetNetworkAcl"].startswith("acl-")
    assert physical["AclSubnetAcl"].startswith("aclassoc-") and physical["PublicSubnetRoutes"].startswith("rtbassoc-")
    assert physical["AclOutHttps"].startswith("fleet-AclOutHttps-")  # a name CloudFormation makes
    roles = {k: r["Properties"]["RoleName"] for k, r in body["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert roles and all(physical[k] == name for k, name in roles.items())  # a role's Ref is its name
    by_stack = _world(lab, physical["Vpc"])
    cfn.delete_stack(StackName="fleet")  # everything it made goes; then the same template, call by call
    failed = [(e["LogicalResourceId"], e.get("ResourceStatusReason")) for e in cfn.describe_stack_events(
        StackName=stack["StackId"])["StackEvents"] if e["ResourceStatus"] == "DELETE_FAILED"]
    assert failed == [], failed
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    # (the empty profile made before the stack is not the stack's: its deletion left it)
    by_calls = _world(lab, tpl.create_offline(lab, body)["Vpc"])
    assert by_stack == by_calls
    assert [s for s in by_stack["subnets"] if s[0] == tpl.SUBNETS["nacl"]][0][4] == [("Name", "fleet-acl"), ("ssmlab:lab", "offline")]
    assert by_stack["roles"] and by_stack["instances"]


ACL_TEMPLATE = {"Resources": {
    "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.8.0.0/16"}},
    "Subnet": {"Type": "AWS::EC2::Subnet", "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.8.1.0/24"}},
    "Acl": {"Type": "AWS::EC2::NetworkAcl", "Properties": {"VpcId": {"Ref": "Vpc"},
                                                           "Tags": [{"Key": "Name", "Value": "acl"}]}},
    "In": {"Type": "AWS::EC2::NetworkAclEntry", "Properties": {
        "NetworkAclId": {"Ref": "Acl"}, "RuleNumber": "100", "Protocol": "6", "RuleAction": "allow",
        "Egress": "false", "CidrBlock": "0.0.0.0/0", "PortRange": {"From": "1024", "To": "65535"}}},
    "Link": {"Type": "AWS::EC2::SubnetNetworkAclAssociation", "Properties": {
        "SubnetId": {"Ref": "Subnet"}, "NetworkAclId": {"Ref": "Acl"}}},
    "Endpoint": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {
        "VpcId": {"Ref": "Vpc"}, "VpcEndpointType": "Interface", "ServiceName": "com.amazonaws.us-east-1.ssm",
        "SubnetIds": [{"Ref": "Subnet"}]}},
}, "Outputs": {
    "AclRef": {"Value": {"Ref": "Acl"}}, "AclId": {"Value": {"Fn::GetAtt": ["Acl", "Id"]}},
    "EntryRef": {"Value": {"Ref": "In"}}, "EntryId": {"Value": {"Fn::GetAtt": ["In", "Id"]}},
    "LinkRef": {"Value": {"Ref": "Link"}}, "LinkId": {"Value": {"Fn::GetAtt": ["Link", "AssociationId"]}},
}}


def test_network_acl_types_answer_ref_and_getatt_and_are_deleted(lab):
    cfn, ec2 = lab.client("cloudformation"), lab.client("ec2")
    cfn.create_stack(StackName="acl", TemplateBody=json.dumps(ACL_TEMPLATE))
    [stack] = cfn.describe_stacks(StackName="acl")["Stacks"]
    out = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert out["AclRef"] == out["AclId"] and out["AclRef"].startswith("acl-")
    assert out["EntryRef"] == out["EntryId"] and out["EntryRef"].startswith("acl-In-")
    assert out["LinkRef"] == out["LinkId"] and out["LinkRef"].startswith("aclassoc-")
    [acl] = ec2.describe_network_acls(NetworkAclIds=[out["AclRef"]])["NetworkAcls"]
    assert [(e["RuleNumber"], e["Egress"], e["PortRange"]) for e in acl["Entries"]] == [
        (100, False, {"From": 1024, "To": 65535})]
    assert [a["NetworkAclAssociationId"] for a in acl["Associations"]] == [out["LinkRef"]]
    assert {"Key": "aws:cloudformation:stack-name", "Value": "acl"} in acl["Tags"]  # the stack's tags, as on AWS
    vpc = next(r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName="acl")["StackResources"]
               if r["LogicalResourceId"] == "Vpc")

    # An endpoint made outside the stack holds the subnet and the VPC: DELETE_FAILED, with EC2's reasons.
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
    extra = ec2.create_vpc_endpoint(VpcId=vpc, VpcEndpointType="Interface", SubnetIds=[subnet],
                                    ServiceName="com.amazonaws.us-east-1.ec2messages")["VpcEndpoint"]["VpcEndpointId"]
    cfn.delete_stack(StackName="acl")
    [stack] = cfn.describe_stacks(StackName="acl")["Stacks"]
    assert stack["StackStatus"] == "DELETE_FAILED"
    assert stack["StackStatusReason"] == "The following resource(s) failed to delete: [Subnet, Vpc]. "
    failed = {e["LogicalResourceId"]: e["ResourceStatusReason"] for e in cfn.describe_stack_events(
        StackName="acl")["StackEvents"] if e["ResourceStatus"] == "DELETE_FAILED" and e["LogicalResourceId"] != "acl"}
    assert failed["Subnet"].startswith(f"The subnet '{subnet}' has dependencies and cannot be deleted. "
                                       "(Service: AmazonEC2; Status Code: 400; Error Code: DependencyViolation;")
    assert failed["Vpc"].startswith(f"The vpc '{vpc}' has dependencies and cannot be deleted.")
    assert ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc]}, {"Name": "default", "Values": ["false"]}])[
        "NetworkAcls"] == []  # what could go went, the ACL and its entry and association with it
    # What is left is what the stack lists (and describing it creates nothing again).
    assert sorted(r["LogicalResourceId"] for r in cfn.describe_stack_resources(StackName="acl")["StackResources"]) == [
        "Subnet", "Vpc"]
    live = [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])[
        "VpcEndpoints"] if e["State"].lower() != "deleted"]
    assert live == [extra]  # the stack's own endpoint went
    with pytest.raises(ClientError) as refused:  # EC2 itself says the same
        ec2.delete_subnet(SubnetId=subnet)
    assert refused.value.response["Error"]["Code"] == "DependencyViolation"

    ec2.delete_vpc_endpoints(VpcEndpointIds=[extra])
    cfn.delete_stack(StackName="acl")  # the retry deletes the rest
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    assert [v for v in ec2.describe_vpcs()["Vpcs"] if v["VpcId"] == vpc] == []


def test_describe_stack_resources_finds_the_stack_of_a_physical_id(lab):
    """DescribeStackResources with PhysicalResourceId alone answers the resources of the stack
    holding it (docs/aws-facts.md#cfn-stack-of-a-resource)."""
    make_profile(lab)
    cfn = lab.client("cloudformation")
    cfn.create_stack(StackName="good", TemplateBody=TEMPLATE, Parameters=[
        {"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec2"}])
    by_name = cfn.describe_stack_resources(StackName="good")["StackResources"]
    group = next(r["PhysicalResourceId"] for r in by_name if r["LogicalResourceId"] == "InstanceSecurityGroup")
    by_id = cfn.describe_stack_resources(PhysicalResourceId=group)["StackResources"]
    assert [(r["StackName"], r["LogicalResourceId"]) for r in by_id] == [
        (r["StackName"], r["LogicalResourceId"]) for r in by_name]
    with pytest.raises(ClientError) as missing:
        cfn.describe_stack_resources(PhysicalResourceId="for-ec2")  # made outside any stack
    assert missing.value.response["Error"]["Code"] == "ValidationError"
    assert missing.value.response["Error"]["Message"] == "Stack for for-ec2 does not exist"
