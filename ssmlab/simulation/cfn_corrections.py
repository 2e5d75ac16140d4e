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

moto's CloudFormation is imported in the background by ``ssmlab.offline`` (it is slow to
import), so :func:`install` only records that the corrections are wanted, and
:func:`apply` patches moto's classes when the offline server builds its CloudFormation
app (``unmodelled.create_backend_app``), before the first CloudFormation request.
"""

from __future__ import annotations

import contextvars
import re
import threading
import uuid
from typing import Any

from werkzeug.exceptions import HTTPException

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


def _ec2_reason(message: str, code: str) -> str:
    # How CloudFormation reports an EC2 API error of AWS::EC2::Instance (e.g.
    # ZoccoCss/kalisoc#1): the message, then the service's error details.
    return (f"{message} (Service: AmazonEC2; Status Code: 400; Error Code: {code}; "
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
    created = [
        (logical_id, resource_map._parsed_resources[logical_id])
        for logical_id in resource_map._resource_json_map
        if logical_id in resource_map._parsed_resources
    ]
    for logical_id, resource in reversed(created):
        resource_type = resource_map._resource_json_map[logical_id].get("Type", "")
        physical = str(getattr(resource, "physical_resource_id", ""))
        _event(stack, logical_id, resource_type, physical, "DELETE_IN_PROGRESS")
        resource_map._delete_resource(resource, resource_map._resource_json_map[logical_id])
        resource_map._parsed_resources.pop(logical_id, None)
        _event(stack, logical_id, resource_type, physical, "DELETE_COMPLETE")
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
        from ._moto import CloudFormationBackend, Stack
        from ._moto import cloudformation_parsing as parsing

        _moto.check("cloudformation")
        patches = [
            (CloudFormationBackend, "create_stack", _validated_create_stack),
            (CloudFormationBackend, "update_stack", _validated_update_stack),
            (Stack, "create_resources", _rolling_back_create_resources),
            (parsing, "parse_and_create_resource", _reporting_create_resource),
        ]
        _moto.wrap_methods(patches)
        _applied = True

