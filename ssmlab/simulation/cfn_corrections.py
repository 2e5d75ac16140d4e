"""Corrections to moto's CloudFormation where it differs from AWS in a way a learner meets.

moto 5.2.5, measured: a stack whose ``AWS::EC2::Instance`` names an instance profile that
does not exist makes CreateStack itself answer ``NoSuchEntity``, yet the stack stays in
``CREATE_IN_PROGRESS`` forever, ``describe-stacks`` crashes (moto tries to create the
instance again to resolve the outputs), and every attempt leaves another running instance
without a profile; parameters outside ``AllowedValues``, off ``AllowedPattern`` or of the
wrong type are accepted. On AWS (docs/aws-facts.md#cloudformation):

1. CreateStack (and UpdateStack) validates the parameters before anything exists: ``ValidationError``
   "Parameters: [X] must have values", "Parameters: [X] do not exist in the template",
   "Parameter 'X' must be one of AllowedValues", "Parameter 'X' must match pattern P",
   "Parameter 'X' must be a number.", and the length and value bounds.
2. CreateStack returns the stack id; each resource reports ``CREATE_IN_PROGRESS``,
   ``CREATE_IN_PROGRESS`` "Resource creation Initiated" and ``CREATE_COMPLETE`` in the
   stack's events. A resource that fails reports ``CREATE_FAILED`` with the creating
   service's message (an instance profile that does not exist: EC2's "Value (NAME) for
   parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"), and
   the stack rolls back: ``ROLLBACK_IN_PROGRESS`` "The following resource(s) failed to
   create: [Instance]. Rollback requested by user.", each created resource deleted, then
   ``ROLLBACK_COMPLETE``. Nothing is left running; the stack stays, with no outputs and no
   resources, until deleted (a stack of the same name is ``AlreadyExistsException``
   meanwhile, as on AWS).

3. The fleet's template (ssmlab/fleet/template.py) is made as CloudFormation makes it: the
   network ACL types and the route table association as models moto's registry finds, and
   the properties moto ignored applied (docs/aws-facts.md#the-fleet-on-cloudformation).
4. DeleteStack deletes every resource, each once nothing depends on it; what its service
   refuses to delete ends ``DELETE_FAILED`` with the service's reason, the stack too, and the
   next DeleteStack retries (docs/aws-facts.md#cfn-delete-stack).

moto's CloudFormation is imported in the background by ``ssmlab.offline`` (it is slow to
import), so :func:`install` only records that the corrections are wanted, and
:func:`apply` patches moto's classes when the offline server builds its CloudFormation
app (``unmodelled.create_backend_app``), before the first CloudFormation request.
"""

from __future__ import annotations

import contextvars
import json
import re
import threading
import uuid
from typing import Any

from werkzeug.exceptions import HTTPException

from ..errors import LabError
from ..i18n import _
from . import _moto
from ._moto import ServiceException
from .ec2_corrections import invalid_instance_profile_name

SERVICE = "cloudformation"
_wanted = False
_applied = False
_lock = threading.Lock()
# The stack whose resources are being created on this thread (moto creates them lazily,
# through ResourceMap.__getitem__, which knows only the stack id).
_creating: contextvars.ContextVar[Any] = contextvars.ContextVar("ssmlab_cfn_creating", default=None)


class ResourceFailed(Exception):
    """One resource of a stack could not be created: its logical id and AWS's reason."""

    def __init__(self, logical_id: str, resource_type: str, reason: str):
        super().__init__(reason)
        self.logical_id = logical_id
        self.resource_type = resource_type
        self.reason = reason


# ---------------------------------------------------------------- 1. parameters


def parameter_problem(template: dict[str, Any], given: dict[str, str]) -> str | None:
    """The ValidationError message CreateStack answers for these parameters, or None.

    Checked as CloudFormation does, before any resource exists (CloudFormation User Guide,
    "Parameters" section: Type, AllowedValues, AllowedPattern, MinLength, MaxLength,
    MinValue, MaxValue, ConstraintDescription), with AWS's messages
    (docs/aws-facts.md#cloudformation).
    """
    declared = template.get("Parameters") or {}
    unknown = [name for name in given if name not in declared]
    if unknown:
        return f"Parameters: [{', '.join(unknown)}] do not exist in the template"
    missing = [name for name, slot in declared.items() if name not in given and "Default" not in slot]
    if missing:
        return f"Parameters: [{', '.join(missing)}] must have values"
    for name, slot in declared.items():
        value = given.get(name, slot.get("Default"))
        problem = _value_problem(name, slot, "" if value is None else str(value))
        if problem:
            return problem
    return None


def _value_problem(name: str, slot: dict[str, Any], value: str) -> str | None:
    kind = str(slot.get("Type", "String"))
    listed = kind == "CommaDelimitedList" or kind.startswith("List<")
    items = [item.strip() for item in value.split(",")] if listed else [value]
    numeric = kind in ("Number", "List<Number>")
    explain = slot.get("ConstraintDescription")

    def fail(message: str) -> str:
        # A ConstraintDescription replaces AWS's own explanation of the constraint.
        return f"Parameter '{name}' failed to satisfy constraint: {explain}" if explain else message

    for item in items:
        if numeric:
            try:
                number = float(item)
            except ValueError:
                return f"Parameter '{name}' must be a number."
            if "MinValue" in slot and number < float(slot["MinValue"]):
                return fail(f"Parameter '{name}' must be a number not less than {slot['MinValue']}")
            if "MaxValue" in slot and number > float(slot["MaxValue"]):
                return fail(f"Parameter '{name}' must be a number not greater than {slot['MaxValue']}")
        allowed = slot.get("AllowedValues")
        if allowed is not None and item not in [str(v) for v in allowed]:
            return fail(f"Parameter '{name}' must be one of AllowedValues")
        pattern = slot.get("AllowedPattern")
        if pattern is not None and kind == "String" and re.fullmatch(str(pattern), item) is None:
            return fail(f"Parameter '{name}' must match pattern {pattern}")
        if kind == "String":
            if "MinLength" in slot and len(item) < int(slot["MinLength"]):
                return fail(f"Parameter '{name}' must contain at least {slot['MinLength']} characters")
            if "MaxLength" in slot and len(item) > int(slot["MaxLength"]):
                return fail(f"Parameter '{name}' must contain at most {slot['MaxLength']} characters")
    return None


def _validated_create_stack(original):
    def create_stack(self, name, template, parameters, *args, **kwargs):
        from ._moto import CloudFormationValidationError as ValidationError
        from ._moto import Stack

        try:
            parsed = Stack.parse_template(template) if template else {}
        except ValueError:
            parsed = None  # moto answers the template format error itself
        if isinstance(parsed, dict):
            problem = parameter_problem(parsed, dict(parameters or {}))
            if problem:
                raise ValidationError(name, message=problem)
        return original(self, name, template, parameters, *args, **kwargs)

    return create_stack


def _validated_update_stack(original):
    # UpdateStack validates the new parameter values the same way; a parameter given with
    # UsePreviousValue keeps the stack's value (moto's _resolve_update_parameters).
    def update_stack(self, name, template, role_arn, parameters, tags):
        from ._moto import CloudFormationValidationError as ValidationError
        from ._moto import Stack

        stack = self.get_stack(name)
        resolved = self._resolve_update_parameters(instance=stack, incoming_params=parameters or [])
        try:
            parsed = Stack.parse_template(template) if template else {}
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            problem = parameter_problem(parsed, resolved)
            if problem:
                raise ValidationError(name, message=problem)
        return original(self, name, template, role_arn, parameters, tags)

    return update_stack


# ---------------------------------------------------------- 2. failure and rollback


def _event(stack, logical_id: str, resource_type: str, physical_id: str, status: str, reason: str | None = None) -> None:
    """Append a resource event to the stack, in the fields of moto's ``Event``.

    Built without ``Event.__init__``, which draws its id from moto's seeded random: these
    events must not shift the ids of the resources created after them (the lessons'
    stored outputs show instance ids). Event ids are random on AWS too.
    """
    from ._moto import Event, utcnow

    event = Event.__new__(Event)
    event.__dict__.update(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=physical_id,
        resource_type=resource_type,
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
        timestamp=utcnow(),
        event_id=uuid.uuid4(),
        client_request_token=None,
    )
    stack.events.append(event)


def _ec2_reason(message: str, code: str, service: str = "AmazonEC2") -> str:
    # How CloudFormation reports an EC2 API error of AWS::EC2::Instance (e.g.
    # ZoccoCss/kalisoc#1): the message, then the service's error details.
    return (f"{message} (Service: {service}; Status Code: 400; Error Code: {code}; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)")


def _instance_profile_problem(resource_json: dict[str, Any], resources_map, account_id: str) -> str | None:
    """EC2's answer to RunInstances for an instance profile name that does not exist."""
    from ._moto import clean_json

    profile = (resource_json.get("Properties") or {}).get("IamInstanceProfile")
    if profile is None:
        return None
    name = clean_json(profile, resources_map)
    if not isinstance(name, str) or name.startswith("arn:"):
        return None
    iam = _moto.iam_backend(account_id)
    if any(p.name == name for p in iam.get_instance_profiles()):
        return None
    # EC2 API error for RunInstances (hashicorp/terraform-provider-aws#27516,
    # CiscoDevNet/cloud-cml#4): InvalidParameterValue.
    return _ec2_reason(invalid_instance_profile_name(name), "InvalidParameterValue")


def _reporting_create_resource(original):
    def parse_and_create_resource(logical_id, resource_json, resources_map, account_id, region_name):
        stack = _creating.get()
        if stack is None or stack.stack_id != resources_map.stack_id:
            return original(logical_id, resource_json, resources_map, account_id, region_name)
        resource_type = resource_json.get("Type", "")
        condition = resource_json.get("Condition")
        if condition and not resources_map.lazy_condition_map[condition]:
            return None
        _event(stack, logical_id, resource_type, "", "CREATE_IN_PROGRESS")
        problem = None
        if resource_type == "AWS::EC2::Instance":
            problem = _instance_profile_problem(resource_json, resources_map, account_id)
        if problem is None:
            try:
                resource = original(logical_id, resource_json, resources_map, account_id, region_name)
            except ServiceException as error:
                problem = f"{error.message} (Service: {resource_type.split('::')[1]}; Status Code: 400; Error Code: {error.code})"
            except HTTPException as error:  # moto's older RESTError family
                problem = getattr(error, "message", None) or error.description
        if problem is not None:
            _event(stack, logical_id, resource_type, "", "CREATE_FAILED", problem)
            raise ResourceFailed(logical_id, resource_type, problem)
        physical = getattr(resource, "physical_resource_id", "") if resource is not None else ""
        physical = physical if isinstance(physical, str) else str(physical)
        _event(stack, logical_id, resource_type, physical, "CREATE_IN_PROGRESS", "Resource creation Initiated")
        _event(stack, logical_id, resource_type, physical, "CREATE_COMPLETE")
        return resource

    return parse_and_create_resource


def _roll_back(stack, failed: ResourceFailed) -> None:
    """CloudFormation's rollback of a failed create: delete what was made, newest first."""
    from ._moto import OutputMap

    reason = f"The following resource(s) failed to create: [{failed.logical_id}]. Rollback requested by user."
    stack.status = "ROLLBACK_IN_PROGRESS"
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=reason)
    resource_map = stack.resource_map
    created = [logical_id for logical_id in resource_map._resource_json_map
               if logical_id in resource_map._parsed_resources]
    refused = _delete_in_passes(stack, list(reversed(created)))
    if refused:  # what cannot be deleted stays, and the stack says so
        for logical_id, why in refused.items():
            _event(stack, logical_id, resource_map._resource_json_map[logical_id].get("Type", ""), "",
                   "DELETE_FAILED", why)
        stack.status = "ROLLBACK_FAILED"
        stack.stack_status_reason = f"The following resource(s) failed to delete: [{', '.join(sorted(refused))}]. "
        stack._add_stack_event("ROLLBACK_FAILED", resource_status_reason=stack.stack_status_reason)
        return
    _event(stack, failed.logical_id, failed.resource_type, "", "DELETE_COMPLETE")
    # What is left describes nothing: no resources to list or delete, no outputs.
    resource_map._template = {**resource_map._template, "Resources": {}}
    resource_map._resource_json_map = {}
    stack.output_map = OutputMap(resource_map, {}, stack.stack_id)
    stack.status = "ROLLBACK_COMPLETE"
    stack.stack_status_reason = reason
    stack._add_stack_event("ROLLBACK_COMPLETE")


def _rolling_back_create_resources(original):
    def create_resources(self):
        token = _creating.set(self)
        try:
            return original(self)
        except ResourceFailed as failed:
            _roll_back(self, failed)
        finally:
            _creating.reset(token)

    return create_resources


# --------------------------------------------- 5. which stack a resource belongs to


def _by_physical_id(original):
    """DescribeStackResources with ``PhysicalResourceId`` and no ``StackName``: "the
    associated resources of the stack that the resource belongs to are returned"; a
    resource no stack holds is ``ValidationError`` "Stack for ID does not exist"
    (CloudFormation API reference; docs/aws-facts.md#cfn-stack-of-a-resource). moto 5.2.5
    reads StackName only."""

    def describe_stack_resources(self):
        physical = self._get_param("PhysicalResourceId")
        if self._get_param("StackName") or not physical:
            return original(self)
        from ._moto import ActionResult, StackResourceDTO
        from ._moto import CloudFormationValidationError as ValidationError

        for stack in list(self.cloudformation_backend.stacks.values()):
            resource_map = stack.resource_map
            held = [resource for logical_id, resource in list(resource_map._parsed_resources.items())
                    if logical_id in resource_map._resource_json_map
                    and str(getattr(resource, "physical_resource_id", "")) == physical]
            if held:
                _, resources = self.cloudformation_backend.describe_stack_resources(
                    stack.stack_id, self._get_param("LogicalResourceId"))
                return ActionResult({"StackResources": [StackResourceDTO(stack, r) for r in resources]})
        raise ValidationError(physical, message=f"Stack for {physical} does not exist")

    return describe_stack_resources


# ---------------------------------------------------------------------- install


def install() -> None:
    """Record that the corrections are wanted; :func:`apply` patches (see the docstring)."""
    global _wanted
    _wanted = True


def apply() -> None:
    """Patch moto's CloudFormation (imports it; idempotent, thread-safe)."""
    global _applied
    if not _wanted:
        return
    with _lock:
        if _applied:
            return
        from ._moto import CloudFormationBackend, CloudFormationResponse, Stack
        from ._moto import cloudformation_parsing as parsing

        _moto.check("cloudformation")
        from ._moto import VPC, InternetGateway, Role, RouteTable, SecurityGroup, Subnet, VPCEndPoint

        patches = [
            (CloudFormationBackend, "create_stack", _validated_create_stack),
            (CloudFormationBackend, "update_stack", _validated_update_stack),
            (CloudFormationBackend, "delete_stack", _deleting_stack),
            (Stack, "create_resources", _rolling_back_create_resources),
            (parsing, "parse_and_create_resource", _reporting_create_resource),
            (CloudFormationResponse, "describe_stack_resources", _by_physical_id),
        ]
        created = [
            (VPC, _with_properties(_vpc_properties)),
            (Subnet, _with_properties(_subnet_properties)),
            (RouteTable, _with_properties(_tags_property)),
            (InternetGateway, _with_properties(_tags_property)),
            (SecurityGroup, _security_group_rules),
            (Role, _with_properties(_role_policies)),
        ]
        _moto.wrap_methods(patches)
        created = [(model, "create_from_cloudformation_json", make) for model, make in created]
        deleted = [(Role, "delete_from_cloudformation_json", _role_deletion),
                   (VPCEndPoint, "delete_from_cloudformation_json", _endpoint_deletion)]
        for model, name, make in created + deleted:
            original = getattr(model, name)  # a classmethod: wrapped as a function, made one again
            replacement = make(original)
            replacement.__wrapped__ = original
            setattr(model, name, classmethod(replacement))
        from ._moto import ManagedPolicy, Route, VPCGatewayAttachment

        for model in (InternetGateway, VPCGatewayAttachment, RouteTable, Route, ManagedPolicy):
            # ResourceMap._delete_resource calls the resource's delete(account_id, region_name)
            model.delete = _DELETIONS[model.__name__]
        _fleet_models()
        _applied = True



# ------------------------------------------------- 3. the fleet's resource types
# The fleet's template (ssmlab/fleet/template.py) as CloudFormation makes it
# (docs/aws-facts.md#the-fleet-on-cloudformation). moto 5.2.5 has no model for
# AWS::EC2::NetworkAcl, NetworkAclEntry or SubnetNetworkAclAssociation (it warns and skips
# them), and ignores properties the template sets: the VPC's EnableDnsSupport and
# EnableDnsHostnames, the subnet's MapPublicIpOnLaunch, the security group's
# SecurityGroupEgress (and reads SecurityGroupIngress's CidrIp as a list), the route
# table's and internet gateway's Tags, the role's ManagedPolicyArns.

#: CloudFormation's word for a true template boolean ("true", True).
def _true(value) -> bool:
    return str(value).lower() == "true"


def _ec2(account_id: str, region_name: str):
    return _moto.ec2_backend(account_id, region_name)


def _rule_ranges(rule: dict[str, Any]) -> list[dict[str, str]]:
    if rule.get("CidrIp"):
        return [{"CidrIp": rule["CidrIp"]}]
    if rule.get("CidrIpv6"):
        return [{"CidrIpv6": rule["CidrIpv6"]}]
    return []


def _fleet_models():
    """The network ACL types and the route table association, as moto extends itself: CloudFormationModel subclasses,
    found by moto's registry (``parsing.get_model_map``, built from ``__subclasses__()``)."""
    from ._moto import CloudFormationModel
    from ._moto import cloudformation_parsing as parsing

    class NetworkAclModel(_Typed, CloudFormationModel):
        """AWS::EC2::NetworkAcl: Ref is the ACL's id (acl-...); GetAtt Id the same. The
        resource is moto's own NetworkAcl, so the stack's tags reach it as on AWS."""

        TYPE, ATTRIBUTE = "AWS::EC2::NetworkAcl", "Id"

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json.get("Properties", {})
            acl = _ec2(account_id, region_name).create_network_acl(
                vpc_id=properties["VpcId"], tags=properties.get("Tags", []))
            acl.physical_resource_id = acl.id
            acl.get_cfn_attribute = lambda attribute: acl.id if attribute == "Id" else _unformatted()
            acl.is_created = lambda: True  # what CloudFormationModel answers
            return acl

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
            _ec2(account_id, region_name).delete_network_acl(resource_name)

    class NetworkAclEntryModel(_Typed, CloudFormationModel):
        """AWS::EC2::NetworkAclEntry: one rule. Ref and GetAtt Id are the entry's id, a
        name CloudFormation makes (stack-Logical-SUFFIX, as for every resource without
        an id of its own); deleting the resource deletes the rule."""

        TYPE, ATTRIBUTE = "AWS::EC2::NetworkAclEntry", "Id"

        def __init__(self, name: str, acl_id: str, rule_number: int, egress: bool):
            self.physical_resource_id = name
            self.acl_id, self.rule_number, self.egress = acl_id, rule_number, egress

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            p = cloudformation_json.get("Properties", {})
            ports, icmp = p.get("PortRange") or {}, p.get("Icmp") or {}
            egress = _true(p.get("Egress", False))
            rule = int(p["RuleNumber"])
            _ec2(account_id, region_name).create_network_acl_entry(
                network_acl_id=p["NetworkAclId"], rule_number=rule, protocol=str(p["Protocol"]),
                rule_action=p["RuleAction"], egress=egress, cidr_block=p.get("CidrBlock"),
                icmp_code=icmp.get("Code"), icmp_type=icmp.get("Type"),
                port_range_from=ports.get("From"), port_range_to=ports.get("To"),
                ipv6_cidr_block=p.get("Ipv6CidrBlock"))
            return cls(resource_name, p["NetworkAclId"], rule, egress)

        def delete(self, account_id: str, region_name: str) -> None:
            backend = _ec2(account_id, region_name)
            if self.acl_id in backend.network_acls:
                backend.delete_network_acl_entry(self.acl_id, self.rule_number, self.egress)

    class SubnetNetworkAclAssociationModel(_Typed, CloudFormationModel):
        """AWS::EC2::SubnetNetworkAclAssociation: ReplaceNetworkAclAssociation on the
        subnet's current association. Ref and GetAtt AssociationId are the new
        association's id (aclassoc-...). Deleting it gives the subnet back to the VPC's
        default network ACL, as a subnet is always associated with one."""

        TYPE, ATTRIBUTE = "AWS::EC2::SubnetNetworkAclAssociation", "AssociationId"

        def __init__(self, association_id: str, subnet_id: str, vpc_id: str):
            self.physical_resource_id = association_id
            self.subnet_id, self.vpc_id = subnet_id, vpc_id

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            p = cloudformation_json.get("Properties", {})
            backend = _ec2(account_id, region_name)
            subnet = backend.get_subnet(p["SubnetId"])
            current = next(association_id for acl in backend.network_acls.values()
                           for association_id, a in acl._associations.items() if a.subnet_id == subnet.id)
            new = backend.replace_network_acl_association(current, p["NetworkAclId"])
            return cls(new.id, subnet.id, subnet.vpc_id)

        def delete(self, account_id: str, region_name: str) -> None:
            backend = _ec2(account_id, region_name)
            for acl in backend.network_acls.values():
                if acl._associations.pop(self.physical_resource_id, None) is not None:
                    if any(s.id == self.subnet_id for s in backend.describe_subnets()):
                        backend.associate_default_network_acl_with_subnet(self.subnet_id, self.vpc_id)
                    return

    class SubnetRouteTableAssociationModel(_Typed, CloudFormationModel):
        """AWS::EC2::SubnetRouteTableAssociation, replacing moto's (which records the
        association where DescribeRouteTables and the routes of the subnet never see it):
        AssociateRouteTable; Ref and GetAtt Id are the association's id (rtbassoc-...);
        deleting it is DisassociateRouteTable (the subnet falls back to the main table)."""

        TYPE, ATTRIBUTE = "AWS::EC2::SubnetRouteTableAssociation", "Id"

        def __init__(self, association_id: str):
            self.physical_resource_id = association_id

        @classmethod
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            p = cloudformation_json.get("Properties", {})
            return cls(_ec2(account_id, region_name).associate_route_table(
                route_table_id=p["RouteTableId"], subnet_id=p["SubnetId"]))

        def delete(self, account_id: str, region_name: str) -> None:
            backend = _ec2(account_id, region_name)
            if any(self.physical_resource_id in table._associations for table in backend.route_tables.values()):
                backend.disassociate_route_table(self.physical_resource_id)

    models = (NetworkAclModel, NetworkAclEntryModel, SubnetNetworkAclAssociationModel, SubnetRouteTableAssociationModel)
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()  # moto's registry is cached: read the new subclasses
    # The registry maps a type to the last subclass defined for it: these, defined after moto's.
    wrong = [m.cloudformation_type() for m in models if parsing.get_model_map().get(m.cloudformation_type()) is not m]
    if wrong:
        raise LabError(_("ssmlab needs {pinned} (pyproject.toml): moto's CloudFormation registry no longer "
                         "takes ssmlab's {types}.").format(pinned=_moto.MOTO_PINNED, types=", ".join(wrong)))
    return models


class _Typed:
    """What the fleet's models share: their type, the one attribute Fn::GetAtt reads (the
    physical id), no name property."""

    TYPE, ATTRIBUTE = "", "Id"
    physical_resource_id = ""

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.TYPE

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr == cls.ATTRIBUTE

    def get_cfn_attribute(self, attribute_name: str) -> str:
        return self.physical_resource_id if attribute_name == self.ATTRIBUTE else _unformatted()


def _unformatted():
    from ._moto import UnformattedGetAttTemplateException

    raise UnformattedGetAttTemplateException()


def _with_properties(apply_properties):
    """Wrap a model's ``create_from_cloudformation_json`` (a classmethod): moto creates the
    resource, then ``apply_properties(resource, properties, backend)`` sets what it skipped."""

    def make(original):
        def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
            properties = cloudformation_json.get("Properties") or {}
            resource = original.__func__(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
            apply_properties(resource, properties, account_id, region_name)
            return resource

        return create_from_cloudformation_json

    return make


def _vpc_properties(vpc, p, account_id, region_name) -> None:
    for attribute, name in (("EnableDnsSupport", "enable_dns_support"), ("EnableDnsHostnames", "enable_dns_hostnames")):
        if attribute in p:
            _ec2(account_id, region_name).modify_vpc_attribute(vpc.id, name, _true(p[attribute]))


def _subnet_properties(subnet, p, account_id, region_name) -> None:
    # A bool, as EC2's responses parse the attribute from the request: moto launches with a
    # public IP only when ``map_public_ip_on_launch is True``.
    if "MapPublicIpOnLaunch" in p:
        _ec2(account_id, region_name).modify_subnet_attribute(
            subnet.id, "map_public_ip_on_launch", _true(p["MapPublicIpOnLaunch"]))


def _tags_property(resource, p, account_id, region_name) -> None:
    for tag in p.get("Tags", []):
        resource.add_tag(tag["Key"], tag["Value"])


def _security_group_rules(original):
    """Ingress with CidrIp as a range, and SecurityGroupEgress: given, it replaces the
    default allow-all egress rule (AWS::EC2::SecurityGroup, SecurityGroupEgress)."""

    def create_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        p = cloudformation_json.get("Properties") or {}
        bare = {k: v for k, v in p.items() if k not in ("SecurityGroupIngress", "SecurityGroupEgress")}
        group = original.__func__(cls, resource_name, {**cloudformation_json, "Properties": bare},
                                  account_id, region_name, **kwargs)
        backend, vpc_id = _ec2(account_id, region_name), p.get("VpcId")
        for rule in p.get("SecurityGroupIngress", []):
            backend.authorize_security_group_ingress(
                group_name_or_id=group.id, ip_protocol=str(rule["IpProtocol"]), from_port=rule.get("FromPort"),
                to_port=rule.get("ToPort"), ip_ranges=_rule_ranges(rule), vpc_id=vpc_id)
        if "SecurityGroupEgress" in p:
            backend.revoke_security_group_egress(
                group_name_or_id=group.id, ip_protocol="-1", from_port=None, to_port=None,
                ip_ranges=[{"CidrIp": "0.0.0.0/0"}], vpc_id=vpc_id)
            for rule in p["SecurityGroupEgress"]:
                backend.authorize_security_group_egress(
                    group_name_or_id=group.id, ip_protocol=str(rule["IpProtocol"]), from_port=rule.get("FromPort"),
                    to_port=rule.get("ToPort"), ip_ranges=_rule_ranges(rule), vpc_id=vpc_id)
        return group

    return create_from_cloudformation_json


def _role_policies(role, p, account_id, region_name) -> None:
    """ManagedPolicyArns attached; Policies kept as JSON text, as PutRolePolicy keeps them
    (moto kept the template's dict, and GetRolePolicy answered its Python repr)."""
    for arn in p.get("ManagedPolicyArns", []):
        _moto.iam_backend(account_id).attach_role_policy(arn, role.name)
    for inline in p.get("Policies", []):
        document = inline["PolicyDocument"]
        role.put_policy(inline["PolicyName"], document if isinstance(document, str) else json.dumps(document))


def _role_deletion(original):
    """Deleting an AWS::IAM::Role deletes what the resource gave it (its ManagedPolicyArns
    and Policies) first: IAM's DeleteRole refuses a role that still has policies."""

    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        iam = _moto.iam_backend(account_id)
        role = next((r for r in iam.roles.values() if r.name == resource_name), None)
        if role is not None:
            for arn in list(role.managed_policies):
                iam.detach_role_policy(arn, role.name)
            for name in list(role.policies):
                iam.delete_role_policy(role.name, name)
        return original.__func__(cls, resource_name, cloudformation_json, account_id, region_name)

    return delete_from_cloudformation_json


def _endpoint_deletion(original):
    """Deleting an AWS::EC2::VPCEndpoint is DeleteVpcEndpoints (moto 5.2.5 has no deletion
    for it: the stack's endpoints outlived the stack)."""

    def delete_from_cloudformation_json(cls, resource_name, cloudformation_json, account_id, region_name):
        _ec2(account_id, region_name).delete_vpc_endpoints([resource_name])

    return delete_from_cloudformation_json


#: How CloudFormation deletes the fleet's resources moto 5.2.5 cannot delete (it skips
#: them, so the stack's VPC outlived the stack): each the EC2 or IAM call that undoes it.
_DELETIONS = {
    "InternetGateway": lambda self, account_id, region_name: _ec2(account_id, region_name).delete_internet_gateway(self.id),
    "VPCGatewayAttachment": lambda self, account_id, region_name: _ec2(account_id, region_name).detach_internet_gateway(
        self.gateway_id, self.vpc_id),
    "RouteTable": lambda self, account_id, region_name: _ec2(account_id, region_name).delete_route_table(self.id),
    "Route": lambda self, account_id, region_name: _ec2(account_id, region_name).delete_route(
        self.route_table.id, self.destination_cidr_block),
    "ManagedPolicy": lambda self, account_id, region_name: _moto.iam_backend(account_id).delete_policy(self.arn),
}


# ------------------------------------------------------ 4. deletion that can fail


def _delete_in_passes(stack, logical_ids: list[str]) -> dict[str, str]:
    """Delete the stack's resources ``logical_ids`` in that order, each with its
    DELETE_IN_PROGRESS and DELETE_COMPLETE events; one that its service refuses (something
    still depends on it) is tried again after the others, until a pass deletes nothing.
    Returns the refused ones with the service's reason (empty: all deleted)."""
    resource_map = stack.resource_map
    # A deleted resource leaves the stack's resource list too: moto's ResourceMap creates any
    # listed resource it no longer holds when asked (describe-stack-resources would launch
    # the deleted instances again). A copy: GetTemplate still answers the template.
    resource_map._resource_json_map = dict(resource_map._resource_json_map)
    parsed, template = resource_map._parsed_resources, resource_map._resource_json_map
    remaining, refused = list(logical_ids), {}
    progress = True
    while remaining and progress:
        progress = False
        for logical_id in list(remaining):
            resource, kind = parsed[logical_id], template[logical_id].get("Type", "")
            physical = str(getattr(resource, "physical_resource_id", ""))
            try:
                resource_map._delete_resource(resource, template[logical_id])
            except (HTTPException, ServiceException) as error:  # a service's refusal: DELETE_FAILED
                if not _gone_already(error):  # deleted outside the stack: nothing left to delete
                    refused[logical_id] = _failure_reason(error, kind)
                    continue
            _event(stack, logical_id, kind, physical, "DELETE_IN_PROGRESS")
            _event(stack, logical_id, kind, physical, "DELETE_COMPLETE")
            parsed.pop(logical_id, None)
            template.pop(logical_id, None)
            remaining.remove(logical_id)
            refused.pop(logical_id, None)
            progress = True
    return refused


class _DeleteFailed(Exception):
    pass


def _gone_already(error: Exception) -> bool:
    code = str(getattr(error, "code", None) or getattr(error, "error_type", None) or "")
    return code == "NoSuchEntity" or code.endswith(".NotFound")


#: The service names CloudFormation's reasons give ("Service: AmazonEC2").
_SERVICES = {"EC2": "AmazonEC2", "IAM": "AmazonIdentityManagement"}


def _failure_reason(error: Exception, resource_type: str) -> str:
    code = getattr(error, "code", None) or getattr(error, "error_type", None) or type(error).__name__
    message = getattr(error, "message", None) or str(error)
    service = _SERVICES.get(resource_type.split("::")[1] if resource_type.count("::") == 2 else "", "AmazonEC2")
    return _ec2_reason(message, code, service)


def _delete_resources(stack) -> None:
    """CloudFormation's DeleteStack: each resource deleted once what depends on it is
    gone; a resource AWS refuses to delete stays, with DELETE_FAILED and the service's
    reason, and the stack ends DELETE_FAILED until DeleteStack is called again."""
    stack.status = "DELETE_IN_PROGRESS"
    stack._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    resource_map = stack.resource_map
    parsed, template = resource_map._parsed_resources, resource_map._resource_json_map
    live = [logical_id for logical_id, body in template.items()
            if logical_id in parsed and not isinstance(parsed[logical_id], str)
            and parsed[logical_id] is not None and body.get("DeletionPolicy") != "Retain"]
    refused = _delete_in_passes(stack, list(reversed(live)))
    if not refused:
        return
    remaining = list(refused)
    for logical_id, why in refused.items():
        _event(stack, logical_id, template[logical_id].get("Type", ""),
               str(getattr(parsed[logical_id], "physical_resource_id", "")), "DELETE_FAILED", why)
    reason = f"The following resource(s) failed to delete: [{', '.join(sorted(remaining))}]. "
    stack.status = "DELETE_FAILED"
    stack.stack_status_reason = reason
    stack._add_stack_event("DELETE_FAILED", resource_status_reason=reason)
    raise _DeleteFailed(reason)


def _deleting_stack(original):
    def delete_stack(self, name_or_stack_id):
        stack = self.stacks.get(name_or_stack_id) or next(
            (s for s in self.stacks.values() if s.name == name_or_stack_id), None)
        if stack is None:
            return original(self, name_or_stack_id)
        try:
            _delete_resources(stack)
        except _DeleteFailed:
            return None  # DeleteStack itself succeeds; the stack says DELETE_FAILED
        self.stacks.pop(stack.stack_id, None)
        for export in stack.exports:
            self.exports.pop(export.name, None)
        stack.status = "DELETE_COMPLETE"
        stack._add_stack_event("DELETE_COMPLETE")
        self.deleted_stacks[stack.stack_id] = stack
        return None

    return delete_stack
