"""The simulated SSM Agent: each precondition of registration failing alone, and all holding.

Each test builds the lab state through the lab's endpoint (boto3), then asks Systems
Manager (DescribeInstanceInformation) and the agent (``agent.observe``) what happened.
AWS behaviour: docs/aws-facts.md#core-2 to #core-5.
"""

from __future__ import annotations

import json

import pytest

from ssmlab.replay import trust_policy
from ssmlab.simulation import agent

CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
DHMC_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"
AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
AL2023_MINIMAL = "/aws/service/ami-amazon-linux-latest/al2023-ami-minimal-kernel-default-x86_64"
DHMC_SETTING = "/ssm/managed-instance/default-ec2-instance-management-role"


# --- helpers shared with test_ssm_api.py and test_diagnostics.py ----------------------


# The blog's trust policy for these services (docs/aws-facts.md#journey, steps 1 and 6), as replay writes it.
trust = trust_policy


def make_profile(lab, role="role-for-ec2", profile="for-ec2", services=("ec2.amazonaws.com",), policies=(CORE,)):
    """The blog's role and instance profile (JOURNEY steps 1–3), plus managed policies."""
    iam = lab.client("iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=trust(*services))
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)
    for arn in policies:
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    return profile


def ami(lab, parameter=AL2023) -> str:
    return lab.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]


def launch(lab, profile="for-ec2", image=None, boot=True, **extra) -> str:
    """run-instances, then (``boot``) let the lab clock pass the instance's boot, so its
    agent has made its first attempt (agent.BOOT_SECONDS of virtual time)."""
    params = dict(ImageId=image or ami(lab), MinCount=1, MaxCount=1, InstanceType="t3.micro", **extra)
    if profile:
        params["IamInstanceProfile"] = {"Name": profile}
    instance = lab.client("ec2").run_instances(**params)["Instances"][0]["InstanceId"]
    if boot:
        lab.wait(seconds=agent.BOOT_SECONDS)
    return instance


def managed_ids(lab) -> list[str]:
    listing = lab.client("ssm").describe_instance_information()["InstanceInformationList"]
    return [item["InstanceId"] for item in listing]


def observe(lab, instance_id):
    return agent.observe(lab.account_id, lab.region, instance_id)


def failed(state) -> list[str]:
    return [check.name for check in state.failed_checks]


def private_subnet(lab, *, igw=False, public_ip=False):
    """A new VPC and subnet with its own route table; optionally 0.0.0.0/0 -> an IGW."""
    ec2 = lab.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
    ec2.associate_route_table(RouteTableId=table, SubnetId=subnet)
    if igw:
        gateway = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc)
        ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", GatewayId=gateway)
    if public_ip:
        ec2.modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    return vpc, subnet, table


def endpoints(lab, vpc, subnet, services=("ssm", "ssmmessages", "ec2messages")):
    ec2 = lab.client("ec2")
    for service in services:
        ec2.create_vpc_endpoint(
            VpcId=vpc,
            ServiceName=f"com.amazonaws.{lab.region}.{service}",
            VpcEndpointType="Interface",
            SubnetIds=[subnet],
            PrivateDnsEnabled=True,
        )


def enable_dhmc(lab, role="AWSSystemsManagerDefaultEC2InstanceManagementRole"):
    """docs/aws-facts.md#core-3: the DHMC role, trusted by ssm.amazonaws.com, and the service setting."""
    iam = lab.client("iam")
    iam.create_role(RoleName=role, Path="/service-role/", AssumeRolePolicyDocument=trust("ssm.amazonaws.com"))
    iam.attach_role_policy(RoleName=role, PolicyArn=DHMC_POLICY)
    lab.client("ssm").update_service_setting(
        SettingId=f"arn:aws:ssm:{lab.region}:{lab.account_id}:servicesetting{DHMC_SETTING}",
        SettingValue=f"service-role/{role}",
    )


# --- all preconditions hold -----------------------------------------------------------


def test_all_preconditions_hold_instance_is_online(lab):
    instance = launch(lab, make_profile(lab))
    state = observe(lab, instance)
    assert state.registered, failed(state)
    assert state.credential_source == "EC2 instance profile"
    assert state.role_name == "role-for-ec2"
    assert state.assumed_role_arn == f"arn:aws:sts::{lab.account_id}:assumed-role/role-for-ec2/{instance}"
    assert (state.platform_type, state.platform_name, state.platform_version) == ("Linux", "Amazon Linux", "2023")
    assert managed_ids(lab) == [instance]
    assert not any("AccessDenied" in line for line in state.log)


def test_only_the_managed_instance_is_listed(lab):
    make_profile(lab)
    managed = launch(lab)
    unmanaged = launch(lab, profile=None)
    assert managed_ids(lab) == [managed]
    assert not observe(lab, unmanaged).registered


# --- each precondition failing alone --------------------------------------------------


def test_stopped_instance_is_not_managed_and_comes_back_when_started(lab):
    instance = launch(lab, make_profile(lab))
    ec2 = lab.client("ec2")
    ec2.stop_instances(InstanceIds=[instance])
    state = observe(lab, instance)
    assert not state.registered
    assert failed(state)[:2] == [agent.CHECK_STATE, agent.CHECK_AGENT]  # (a stopped instance also loses its public IP)
    assert managed_ids(lab) == []
    ec2.start_instances(InstanceIds=[instance])
    assert managed_ids(lab) == [instance]


@pytest.mark.parametrize("parameter", [AL2023_MINIMAL])
def test_ami_without_the_agent_stays_unregistered(lab, parameter):
    image = ami(lab, parameter)
    instance = launch(lab, make_profile(lab), image=image)
    state = observe(lab, instance)
    assert not state.agent_installed
    assert failed(state) == [agent.CHECK_AGENT]
    assert state.log == ()  # no agent, no agent log
    assert managed_ids(lab) == []


def test_ami_names_decide_whether_the_agent_ships():
    assert agent.platform_of("amzn2-ami-kernel-5.10-hvm-2.0.20260930.0-x86_64-gp2")["agent"]
    assert agent.platform_of("al2023-ami-2023.12.20260930.0-kernel-6.18-x86_64")["agent"]
    assert not agent.platform_of("al2023-ami-minimal-2023.12.20260930.0-kernel-6.18-x86_64")["agent"]
    windows = agent.platform_of("Windows_Server-2016-English-Full-Base-2017.10.13")
    assert windows["agent"] and windows["type"] == "Windows" and windows["version"] == "10.0.14393"
    assert not agent.platform_of("RHEL-7.4_HVM_GA-20170808-x86_64-2-Hourly2-GP2")["agent"]
    assert not agent.platform_of("ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-20170721")["agent"]
    assert agent.platform_of("ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20240301")["agent"]


@pytest.mark.parametrize(
    "name, platform",
    [
        ("suse-sles-15-sp6-v20250101-hvm-ssd-x86_64", ("Linux", "SLES", "15.6")),
        ("amzn-ec2-macos-14.6.1-20250101-000000-arm64", ("MacOS", "macOS", "14.6.1")),
    ],
)
def test_sles_and_macos_images_ship_the_agent_and_register(lab, name, platform):
    # AWS doc "AMIs with SSM Agent preinstalled" (awsdocs/aws-systems-manager-user-guide,
    # doc_source/ami-preinstalled-agent.md): SLES 12 and 15, and macOS.
    image = lab.client("ec2").register_image(Name=name, RootDeviceName="/dev/xvda")["ImageId"]
    instance = launch(lab, make_profile(lab), image=image)
    listing = lab.client("ssm").describe_instance_information()["InstanceInformationList"]
    assert [(i["InstanceId"], i["PlatformType"], i["PlatformName"], i["PlatformVersion"]) for i in listing] == [
        (instance, *platform)
    ]
    assert not agent.platform_of("suse-sles-11-sp4-v20200101-hvm-ssd-x86_64")["agent"]


def test_the_agent_version_is_a_real_release_and_not_claimed_latest(lab):
    instance = launch(lab, make_profile(lab))
    item = lab.client("ssm").describe_instance_information()["InstanceInformationList"][0]
    assert (item["InstanceId"], item["AgentVersion"], item["IsLatestVersion"]) == (instance, "3.3.987.0", False)


def test_imds_turned_off_stays_unregistered(lab):
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpEndpoint": "disabled"})
    state = observe(lab, instance)
    assert failed(state) == [agent.CHECK_IMDS]
    assert any("failed to get identity" in line for line in state.log)
    assert managed_ids(lab) == []


def test_no_instance_profile_stays_unregistered(lab):
    make_profile(lab)
    instance = launch(lab, profile=None)
    state = observe(lab, instance)
    assert failed(state) == [agent.CHECK_CREDENTIALS, agent.CHECK_REGISTRATION]
    assert any("EC2RoleRequestError: no EC2 instance role found" in line for line in state.log)
    assert any("instance management role is not configured" in line for line in state.log)
    assert managed_ids(lab) == []


def test_instance_profile_without_a_role_stays_unregistered(lab):
    profile = make_profile(lab)
    lab.client("iam").remove_role_from_instance_profile(InstanceProfileName="for-ec2", RoleName="role-for-ec2")
    instance = launch(lab, profile)
    state = observe(lab, instance)
    assert failed(state) == [agent.CHECK_CREDENTIALS, agent.CHECK_REGISTRATION]
    assert "holds no role" in state.check(agent.CHECK_CREDENTIALS).detail
    assert managed_ids(lab) == []


def test_role_not_trusting_ec2_stays_unregistered(lab):
    instance = launch(lab, make_profile(lab, services=("ssm.amazonaws.com",)))
    state = observe(lab, instance)
    assert failed(state) == [agent.CHECK_CREDENTIALS, agent.CHECK_REGISTRATION]
    assert any("AssumeRoleUnauthorizedAccess: EC2 cannot assume the role role-for-ec2" in line for line in state.log)
    assert managed_ids(lab) == []


def test_missing_permission_logs_access_denied_for_the_assumed_role(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    state = observe(lab, instance)
    assert failed(state) == [agent.CHECK_REGISTRATION]
    expected = (
        f"User: arn:aws:sts::{lab.account_id}:assumed-role/role-for-ec2/{instance} is not authorized to perform: "
        f"ssm:UpdateInstanceInformation on resource: arn:aws:ec2:{lab.region}:{lab.account_id}:instance/{instance} "
        "because no identity-based policy allows the ssm:UpdateInstanceInformation action"
    )
    assert any(f"AccessDeniedException: {expected}" in line for line in state.log)
    assert managed_ids(lab) == []


def test_explicit_deny_wins_over_the_managed_policy(lab):
    profile = make_profile(lab)
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "ssm:UpdateInstanceInformation", "Resource": "*"}]}
    lab.client("iam").put_role_policy(RoleName="role-for-ec2", PolicyName="deny-register", PolicyDocument=json.dumps(deny))
    instance = launch(lab, profile)
    state = observe(lab, instance)
    assert failed(state) == [agent.CHECK_REGISTRATION]
    assert any("with an explicit deny in an identity-based policy" in line for line in state.log)
    assert managed_ids(lab) == []


def test_action_names_match_case_insensitively_as_on_aws(lab):
    profile = make_profile(lab, policies=())
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "SSM:updateinstanceinformation", "Resource": "*"}]}
    lab.client("iam").put_role_policy(RoleName="role-for-ec2", PolicyName="register", PolicyDocument=json.dumps(allow))
    instance = launch(lab, profile)
    assert managed_ids(lab) == [instance]


def test_resource_scoped_allow_for_another_instance_does_not_register(lab):
    instance = launch(lab, make_profile(lab, policies=()))
    other = f"arn:aws:ec2:{lab.region}:{lab.account_id}:instance/i-00000000000000000"
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ssm:UpdateInstanceInformation", "Resource": other}]}
    lab.client("iam").put_role_policy(RoleName="role-for-ec2", PolicyName="register", PolicyDocument=json.dumps(allow))
    lab.client("ec2").reboot_instances(InstanceIds=[instance])  # retry now, refused
    lab.wait(seconds=agent.BOOT_SECONDS)
    assert managed_ids(lab) == []
    mine = other.replace("i-00000000000000000", instance)
    allow["Statement"][0]["Resource"] = mine
    lab.client("iam").put_role_policy(RoleName="role-for-ec2", PolicyName="register", PolicyDocument=json.dumps(allow))
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=agent.BOOT_SECONDS)
    assert managed_ids(lab) == [instance]


# --- network path ---------------------------------------------------------------------


def test_subnet_without_a_route_to_the_internet_stays_unregistered(lab):
    vpc, subnet, table = private_subnet(lab)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    state = observe(lab, instance)
    assert failed(state) == [agent.CHECK_SSM_ENDPOINT]
    assert table in state.check(agent.CHECK_SSM_ENDPOINT).detail
    assert any('amazonaws.com/": dial tcp 203.0.113.' in line and line.endswith(":443: i/o timeout") for line in state.log)
    assert managed_ids(lab) == []


def test_interface_endpoints_give_a_private_subnet_its_path(lab):
    vpc, subnet, _ = private_subnet(lab)
    endpoints(lab, vpc, subnet)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    state = observe(lab, instance)
    assert state.registered, failed(state)
    assert state.endpoint("ssm")[0] and not state.endpoint("s3")[0]
    assert state.command_channel


def test_internet_gateway_route_needs_a_public_ip(lab):
    _, subnet, _ = private_subnet(lab, igw=True)
    without = launch(lab, make_profile(lab), SubnetId=subnet)
    assert failed(observe(lab, without)) == [agent.CHECK_SSM_ENDPOINT]
    assert "no public IP" in observe(lab, without).check(agent.CHECK_SSM_ENDPOINT).detail
    lab.client("ec2").modify_subnet_attribute(SubnetId=subnet, MapPublicIpOnLaunch={"Value": True})
    with_ip = launch(lab, SubnetId=subnet)
    assert managed_ids(lab) == [with_ip]


def test_nat_gateway_route_is_a_path(lab):
    ec2 = lab.client("ec2")
    vpc, subnet, table = private_subnet(lab)
    public = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = ec2.create_nat_gateway(SubnetId=public, AllocationId=allocation)["NatGateway"]["NatGatewayId"]
    ec2.create_route(RouteTableId=table, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)
    instance = launch(lab, make_profile(lab), SubnetId=subnet)
    assert managed_ids(lab) == [instance]


# --- Default Host Management Configuration --------------------------------------------


def test_dhmc_manages_an_instance_without_profile_when_imdsv2_is_required(lab):
    enable_dhmc(lab)
    instance = launch(lab, profile=None, MetadataOptions={"HttpTokens": "required"})
    state = observe(lab, instance)
    assert state.registered, failed(state)
    assert state.credential_source == "Default Host Management Configuration"
    assert state.role_name == "AWSSystemsManagerDefaultEC2InstanceManagementRole"
    assert managed_ids(lab) == [instance]


def test_dhmc_works_when_imdsv2_is_optional_because_the_agent_uses_it(lab):
    # DHMC needs IMDSv2 to be used; the agent always asks IMDS for a session token first,
    # which HttpTokens optional allows (docs/aws-facts.md#time-and-the-agent-clock).
    enable_dhmc(lab)
    instance = launch(lab, profile=None, MetadataOptions={"HttpTokens": "optional"})
    state = observe(lab, instance)
    assert not state.imdsv2_required
    assert state.registered, failed(state)
    assert state.credential_source == "Default Host Management Configuration"
    assert not any("IMDSv2" in line for line in state.log)


def test_dhmc_without_instance_metadata_does_not_register(lab):
    enable_dhmc(lab)
    instance = launch(lab, profile=None, MetadataOptions={"HttpEndpoint": "disabled"})
    assert managed_ids(lab) == []
    assert agent.CHECK_IMDS in failed(observe(lab, instance))


def test_dhmc_role_that_does_not_exist_does_not_register(lab):
    lab.client("ssm").update_service_setting(
        SettingId=DHMC_SETTING, SettingValue="service-role/AWSSystemsManagerDefaultEC2InstanceManagementRole"
    )
    instance = launch(lab, profile=None, MetadataOptions={"HttpTokens": "required"})
    assert "does not exist" in observe(lab, instance).check(agent.CHECK_CREDENTIALS).detail
    assert managed_ids(lab) == []


def test_profile_without_permission_falls_back_to_dhmc(lab):
    enable_dhmc(lab)
    instance = launch(lab, make_profile(lab, policies=()), MetadataOptions={"HttpTokens": "required"})
    state = observe(lab, instance)
    assert state.registered
    assert state.credential_source == "Default Host Management Configuration"
    # The profile was tried first and refused, as in aws/amazon-ssm-agent#543.
    assert any("assumed-role/role-for-ec2" in line and "AccessDenied" in line for line in state.log)


def test_profile_with_permission_is_used_even_when_dhmc_is_on(lab):
    enable_dhmc(lab)
    instance = launch(lab, make_profile(lab), MetadataOptions={"HttpTokens": "required"})
    assert observe(lab, instance).credential_source == "EC2 instance profile"


# --- fixes and breaks show at the next call -------------------------------------------


def test_a_fix_waits_for_the_agents_retry_and_a_reboot_retries_at_once(lab):
    iam = lab.client("iam")
    instance = launch(lab, make_profile(lab, policies=()))
    assert managed_ids(lab) == []
    iam.attach_role_policy(RoleName="role-for-ec2", PolicyArn=CORE)
    assert managed_ids(lab) == []  # backed off: 25 to 30 minutes before it asks again
    lab.client("ec2").reboot_instances(InstanceIds=[instance])
    lab.wait(seconds=agent.BOOT_SECONDS)
    assert managed_ids(lab) == [instance]
    lab.client("ec2").terminate_instances(InstanceIds=[instance])
    assert managed_ids(lab) == []


def test_replacing_the_instance_profile_association_takes_effect(lab):
    ec2 = lab.client("ec2")
    instance = launch(lab, make_profile(lab, policies=()))
    make_profile(lab, role="managed-role", profile="managed-profile")
    association = ec2.describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance]}]
    )["IamInstanceProfileAssociations"][0]["AssociationId"]
    ec2.replace_iam_instance_profile_association(
        IamInstanceProfile={"Name": "managed-profile"}, AssociationId=association
    )
    assert managed_ids(lab) == []  # the agent sleeps until its next retry
    lab.wait(minutes=30)  # at most 25 min + 299 s later (credentialrefresher_deps.go:67-73)
    assert managed_ids(lab) == [instance]
    assert observe(lab, instance).role_name == "managed-role"
