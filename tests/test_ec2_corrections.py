"""The default VPC has its internet gateway and 0.0.0.0/0 route, as on AWS."""

from __future__ import annotations

import json


def test_default_vpc_has_an_attached_internet_gateway(lab):
    ec2 = lab.client("ec2")
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]
    gateways = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}]
    )["InternetGateways"]
    assert len(gateways) == 1
    assert gateways[0]["Attachments"] == [{"State": "available", "VpcId": vpc["VpcId"]}]


def test_main_route_table_sends_everything_else_to_it(lab, aws):
    result = aws("ec2", "describe-route-tables", "--filters", "Name=association.main,Values=true",
                 check=True)
    routes = json.loads(result.stdout)["RouteTables"][0]["Routes"]
    default = [r for r in routes if r["DestinationCidrBlock"] == "0.0.0.0/0"]
    assert len(default) == 1 and default[0]["GatewayId"].startswith("igw-")


def test_a_new_lab_does_not_add_a_second_gateway(lab):
    import ssmlab

    again = ssmlab.start(quiet=True)
    assert len(again.client("ec2").describe_internet_gateways()["InternetGateways"]) == 1


def _launch_the_lessons_stack(lab):
    from ssmlab import templates

    iam, cfn = lab.client("iam"), lab.client("cloudformation")
    iam.create_instance_profile(InstanceProfileName="for-ec2")
    cfn.create_stack(
        StackName="stack-for-ec2",
        TemplateBody=templates.EC2_INSTANCE_PROFILE.read_text(),
        Parameters=[{"ParameterKey": "InstanceProfileName", "ParameterValue": "for-ec2"}],
    )
    outputs = cfn.describe_stacks(StackName="stack-for-ec2")["Stacks"][0]["Outputs"]
    return next(o["OutputValue"] for o in outputs if o["OutputKey"] == "InstanceId")


def test_cloudformation_instance_gets_its_metadata_options(lab, aws):
    instance_id = _launch_the_lessons_stack(lab)
    result = aws("ec2", "describe-instances", "--instance-ids", instance_id, "--query",
                 "Reservations[0].Instances[0].MetadataOptions.[HttpTokens,HttpEndpoint]",
                 "--output", "text", check=True)
    assert result.stdout.split() == ["required", "enabled"]


def test_cloudformation_instance_gets_its_security_group(lab):
    instance_id = _launch_the_lessons_stack(lab)
    ec2 = lab.client("ec2")
    instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    [group] = instance["SecurityGroups"]
    assert group["GroupName"].startswith("stack-for-ec2-InstanceSecurityGroup-")
    described = ec2.describe_security_groups(GroupIds=[group["GroupId"]])["SecurityGroups"][0]
    assert described["IpPermissions"] == []


# --- ImdsSupport v2.0 (docs/aws-facts.md#time-and-the-agent-clock) -------------------

AL2023 = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
AL2 = "/aws/service/ami-amazon-linux-latest/amzn2-ami-hvm-x86_64-gp2"


def _image(lab, parameter):
    return lab.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]


def _metadata(lab, instance):
    reservation = lab.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]
    options = reservation["Instances"][0]["MetadataOptions"]
    return options["HttpTokens"], options["HttpPutResponseHopLimit"]


def test_plain_run_instances_of_al2023_requires_imdsv2_through_the_cli(lab, aws):
    out = aws("ec2", "run-instances", "--image-id", _image(lab, AL2023), "--instance-type", "t3.micro",
              "--query", "Instances[0].InstanceId", "--output", "text", check=True)
    assert _metadata(lab, out.stdout.strip()) == ("required", 2)


def test_explicit_metadata_options_and_other_images_keep_their_tokens(lab):
    ec2 = lab.client("ec2")
    common = dict(MinCount=1, MaxCount=1, InstanceType="t3.micro")
    optional = ec2.run_instances(ImageId=_image(lab, AL2023), MetadataOptions={"HttpTokens": "optional"}, **common)
    assert _metadata(lab, optional["Instances"][0]["InstanceId"]) == ("optional", 1)
    hop = ec2.run_instances(ImageId=_image(lab, AL2023), MetadataOptions={"HttpPutResponseHopLimit": 1}, **common)
    assert _metadata(lab, hop["Instances"][0]["InstanceId"]) == ("required", 1)
    al2 = ec2.run_instances(ImageId=_image(lab, AL2), **common)
    assert _metadata(lab, al2["Instances"][0]["InstanceId"]) == ("optional", 1)
