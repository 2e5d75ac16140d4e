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
