"""Corrections to moto's EC2 where it differs from AWS in a way the lessons can see.

- The default VPC. AWS creates every default VPC with an internet gateway attached and a
  route ``0.0.0.0/0`` to it in the main route table (Amazon VPC User Guide, "Default VPCs":
  "Create an internet gateway and attach it to your default VPC; add a route to the main
  route table that points all traffic (0.0.0.0/0) to the internet gateway"). moto 5.2
  creates the VPC and its default subnets only, so an instance launched there would have
  no path to the Systems Manager endpoints — a network problem the blog never had.
"""

from __future__ import annotations

from moto.ec2.models import EC2Backend

_installed = False


def install() -> None:
    global _installed
    if _installed:
        return
    create_default_vpc = EC2Backend.create_default_vpc

    def create_default_vpc_with_internet_gateway(self):
        vpc = create_default_vpc(self)
        if any(igw.vpc is vpc for igw in self.internet_gateways.values()):
            return vpc
        gateway = self.create_internet_gateway()
        self.attach_internet_gateway(gateway.id, vpc.id)
        main = self.describe_route_tables(
            filters={"vpc-id": [vpc.id], "association.main": ["true"]}
        )[0]
        self.create_route(main.id, "0.0.0.0/0", gateway_id=gateway.id)
        return vpc

    EC2Backend.create_default_vpc = create_default_vpc_with_internet_gateway
    _installed = True
