"""Corrections to moto's EC2 where it differs from AWS in a way the lessons can see.

- The default VPC. AWS creates every default VPC with an internet gateway attached and a
  route ``0.0.0.0/0`` to it in the main route table (Amazon VPC User Guide, "Default VPCs":
  "Create an internet gateway and attach it to your default VPC; add a route to the main
  route table that points all traffic (0.0.0.0/0) to the internet gateway"). moto 5.2
  creates the VPC and its default subnets only, so an instance launched there would have
  no path to the Systems Manager endpoints — a network problem the blog never had.
- ``AWS::EC2::Instance`` in CloudFormation. AWS applies the resource's ``MetadataOptions``
  and ``SecurityGroupIds`` (CloudFormation User Guide, AWS::EC2::Instance). moto 5.2
  ignores both: the lessons' template requires IMDSv2 (``HttpTokens: required``) and a
  security group without inbound rules, and the instance would silently get neither —
  IMDSv1 would work on it.
- ``RunInstances`` with an instance profile name that does not exist. EC2 answers
  ``InvalidParameterValue`` "Value (NAME) for parameter iamInstanceProfile.name is invalid.
  Invalid IAM Instance Profile name" (docs/aws-facts.md#cloudformation); moto answers IAM's
  ``NoSuchEntity``, a code EC2 never returns.
- ``ImdsSupport: v2.0``. Amazon Linux 2023 AMIs are registered with ``ImdsSupport`` set to
  ``v2.0``, so an instance launched from one without ``MetadataOptions`` gets
  ``HttpTokens: required`` and ``HttpPutResponseHopLimit: 2`` (when the account's default
  is no-preference; docs/aws-facts.md#time-and-the-agent-clock). moto's AMIs carry no
  ``ImdsSupport`` and every instance gets ``optional``; here AL2023 images (by name) do as
  on AWS. Explicit ``MetadataOptions`` still win. (``DescribeImages`` still omits the field.)
- ``ModifyVpcEndpoint --private-dns-enabled``. AWS turns private DNS on or off for an
  interface endpoint (EC2 API reference, ModifyVpcEndpoint, ``PrivateDnsEnabled``); moto
  5.2 ignores the parameter, so the fleet's "endpoints without private DNS" could never be
  fixed (docs/aws-facts.md#fleet-endpoints-without-private-dns).
- ``ModifyInstanceAttribute`` of ``userData`` on an instance that is not stopped: AWS answers
  ``IncorrectInstanceState``; moto changes it (docs/aws-facts.md#fleet-agent-not-installed).
- What an interface endpoint holds. AWS refuses to delete a subnet, a security group or a
  VPC an endpoint still uses: ``DependencyViolation`` "The subnet 'subnet-...' has
  dependencies and cannot be deleted.", "resource sg-... has a dependent object", "The vpc
  'vpc-...' has dependencies and cannot be deleted." (docs/aws-facts.md#the-fleet-on-cloudformation).
  moto 5.2 deletes them, so a stack whose VPC a learner added endpoints to would be
  deleted where AWS says DELETE_FAILED.
"""

from __future__ import annotations

import hashlib

from ._moto import EC2Backend, Instance, MetadataOptions, vpc_responses_class, wrap_methods

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
    _apply_instance_properties_from_cloudformation()
    _invalid_instance_profile_name_in_ec2s_words()
    _imdsv2_for_images_that_require_it()
    _private_dns_of_an_endpoint_can_change()
    wrap_methods([(EC2Backend, "replace_iam_instance_profile_association", _replaced_with_a_new_association),
                  (EC2Backend, "modify_instance_attribute", _user_data_only_while_stopped),
                  (EC2Backend, "delete_subnet", _refused_while_an_endpoint_uses("subnet")),
                  (EC2Backend, "delete_security_group", _refused_while_an_endpoint_uses("group")),
                  (EC2Backend, "delete_vpc", _refused_while_an_endpoint_uses("vpc"))])
    _installed = True


def _live_endpoints(backend):
    return [e for e in backend.vpc_end_points.values() if e.state not in ("deleted", "deleting")]


def _refused_while_an_endpoint_uses(kind: str):
    """DeleteSubnet, DeleteSecurityGroup and DeleteVpc answer DependencyViolation while an
    endpoint that is not deleted uses the resource (see the module's docstring)."""
    from ._moto import EC2ClientError

    def make(original):
        if kind == "subnet":
            def delete_subnet(self, subnet_id, *args, **kwargs):
                if any(subnet_id in (e.subnet_ids or []) for e in _live_endpoints(self)):
                    raise EC2ClientError("DependencyViolation",
                                         f"The subnet '{subnet_id}' has dependencies and cannot be deleted.")
                return original(self, subnet_id, *args, **kwargs)
            return delete_subnet
        if kind == "group":
            def delete_security_group(self, name=None, group_id=None, *args, **kwargs):
                if group_id and any(group_id in (e.security_group_ids or []) for e in _live_endpoints(self)):
                    raise EC2ClientError("DependencyViolation", f"resource {group_id} has a dependent object")
                return original(self, name, group_id, *args, **kwargs)
            return delete_security_group

        def delete_vpc(self, vpc_id, *args, **kwargs):
            if any(e.vpc_id == vpc_id for e in _live_endpoints(self)):
                raise EC2ClientError("DependencyViolation", f"The vpc '{vpc_id}' has dependencies and cannot be deleted.")
            return original(self, vpc_id, *args, **kwargs)
        return delete_vpc

    return make
def _user_data_only_while_stopped(original):
    """EC2 changes an instance's user data only while it is stopped: otherwise
    IncorrectInstanceState, "The instance 'ID' is not in the 'stopped' state."
    (docs/aws-facts.md#fleet-agent-not-installed); moto changes it at any time."""
    from ._moto import EC2ClientError

    def modify_instance_attribute(self, instance_id, key, value, *args, **kwargs):
        if key == "user_data" and self.get_instance(instance_id).state != "stopped":
            raise EC2ClientError("IncorrectInstanceState", f"The instance '{instance_id}' is not in the 'stopped' state.")
        return original(self, instance_id, key, value, *args, **kwargs)

    return modify_instance_attribute


def _private_dns_of_an_endpoint_can_change() -> None:
    def make(original):
        def modify_vpc_endpoint(self):
            result = original(self)
            wanted = self._get_param("PrivateDnsEnabled")
            if wanted is not None:
                endpoint = self.ec2_backend.vpc_end_points[self._get_param("VpcEndpointId")]
                endpoint.private_dns_enabled = str(wanted).lower() == "true"
            return result

        return modify_vpc_endpoint

    wrap_methods([(vpc_responses_class(), "modify_vpc_endpoint", make)])


def new_association_id(old: str) -> str:
    """The AssociationId of the association that replaces ``old``: EC2 answers
    ReplaceIamInstanceProfileAssociation with a new association (the AWS CLI's example,
    awscli/examples/ec2/replace-iam-instance-profile-association.rst: iip-assoc-060b... in,
    iip-assoc-0b21... out; docs/aws-facts.md#replace-association). Derived from the old id
    rather than drawn from moto's seeded random, so the ids of what is created after it
    stay as the lessons' stored outputs show them."""
    return "iip-assoc-" + hashlib.sha256(old.encode()).hexdigest()[:17]


def _replaced_with_a_new_association(original):
    def replace_iam_instance_profile_association(self, association_id, *args, **kwargs):
        association = original(self, association_id, *args, **kwargs)
        association.association_id = new_association_id(association_id)
        return association

    return replace_iam_instance_profile_association


def _apply_instance_properties_from_cloudformation() -> None:
    create = Instance.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id,
                                        region_name, **kwargs):
        properties = cloudformation_json["Properties"]
        if properties.get("SecurityGroupIds") and not properties.get("SecurityGroups"):
            # moto reads group ids from "SecurityGroups" (and only there).
            cloudformation_json = {
                **cloudformation_json,
                "Properties": {**properties, "SecurityGroups": properties["SecurityGroupIds"]},
            }
        instance = create(cls, resource_name, cloudformation_json, account_id, region_name,
                          **kwargs)
        if "NetworkInterfaces" not in properties and instance.subnet_id:
            # AWS gives an instance a public IPv4 address when its subnet says
            # MapPublicIpOnLaunch (EC2 User Guide, "Public IPv4 addresses"), from a template
            # as from RunInstances; moto's CloudFormation never asks (its run_instances call
            # passes no associate_public_ip), so the fleet's public members had none.
            subnet = instance.ec2_backend.get_subnet(instance.subnet_id)
            if subnet.map_public_ip_on_launch is True:
                nic = instance.nics[0]
                nic.public_ip_auto_assign = True
                nic.check_auto_public_ip()
        options = properties.get("MetadataOptions")
        if options:
            # CloudFormation passes template values as given (numbers may be strings).
            instance.metadata_options = MetadataOptions(
                {key: str(value) for key, value in options.items()}
            )
        return instance

    Instance.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def invalid_instance_profile_name(name: str) -> str:
    """EC2's message for an instance profile name that does not exist (RunInstances)."""
    return f"Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"


def _invalid_instance_profile_name_in_ec2s_words() -> None:
    from ._moto import EC2ClientError, InstanceResponse, iam_backend

    run_instances = InstanceResponse.run_instances

    def run_instances_checking_the_profile_name(self):
        name = self._get_param("IamInstanceProfile.Name")
        if name:
            iam = iam_backend(self.current_account)
            if not any(profile.name == name for profile in iam.get_instance_profiles()):
                raise EC2ClientError("InvalidParameterValue", invalid_instance_profile_name(name))
        return run_instances(self)

    run_instances_checking_the_profile_name.__wrapped__ = run_instances
    InstanceResponse.run_instances = run_instances_checking_the_profile_name


#: AMI name prefixes whose images AWS registers with ImdsSupport v2.0 (Amazon Linux 2023).
IMDS_V2_IMAGE_PREFIXES = ("al2023-ami",)


def image_requires_imdsv2(image) -> bool:
    return str(getattr(image, "name", "") or "").lower().startswith(IMDS_V2_IMAGE_PREFIXES)


def _imdsv2_for_images_that_require_it() -> None:
    init = Instance.__init__

    def __init__(self, ec2_backend, image_id, user_data, security_groups, **kwargs):
        init(self, ec2_backend, image_id, user_data, security_groups, **kwargs)
        given = kwargs.get("metadata_options") or {}
        if "HttpTokens" not in given and image_requires_imdsv2(ec2_backend.amis.get(image_id)):
            self.metadata_options.http_tokens = "required"
            if given.get("HttpPutResponseHopLimit") is None:
                self.metadata_options.http_put_response_hop_limit = 2

    Instance.__init__ = __init__
