"""The one module that reaches into moto (docs/aws-facts.md#one-moto-boundary).

Every other module of ssmlab takes what it needs of moto from here: its backends, its
response and model classes to extend, its exception classes, its seeded random, the
server's application factory. Names are exported lazily (PEP 562 ``__getattr__``), so
``from ._moto import ssm_backends`` imports ``moto.ssm.models`` only when first used and
``import ssmlab`` loads nothing of moto.

:func:`check` (run by ``simulation.install()``, and for CloudFormation when its
corrections are applied) verifies that every attribute ssmlab patches or reads still exists
with the parameters its wrapper passes on; if one moved, it raises one LabError sentence
naming the moto versions ssmlab is pinned to.

Also here, as before: moto's IAM wildcard matcher (:func:`glob_match`) and a principal's
policies read from moto's IAM backend as plain documents (:func:`principal_policies`);
everything else about policies is plain Python in :mod:`ssmlab.simulation.policy`.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import re
import sys
from dataclasses import dataclass

from ..errors import LabError
from ..i18n import _

#: What pyproject.toml pins; the sentence of :func:`check` names it.
MOTO_PINNED = "moto>=5.2.5,<5.3"

# ------------------------------------------------- botocore's and IPython's internals
# Used in real mode too, so nothing here imports moto.


def botocore_http_session():
    """The class through which botocore sends every request (``URLLib3Session``), whose
    ``send`` ``ssmlab.isolation`` guards while the offline lab runs."""
    import botocore.httpsession

    return botocore.httpsession.URLLib3Session


def running_ipython():
    """The running IPython shell, or None (without importing IPython outside it: a kernel
    has imported it already, and importing it costs a second)."""
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()


def modules_running_shell_commands() -> list:
    """IPython's modules whose ``system`` runs a ``!`` line (the kernel's and the terminal's)."""
    names = ("ipykernel.zmqshell", "IPython.core.interactiveshell")
    return [sys.modules[name] for name in names if name in sys.modules]


# ----------------------------------------------------------------- lazy exports

#: Exported name -> (moto module, attribute in it; None: the module itself).
_EXPORTS: dict[str, tuple[str, str | None]] = {
    # core
    "ServiceException": ("moto.core.exceptions", "ServiceException"),
    "JsonRESTError": ("moto.core.exceptions", "JsonRESTError"),
    "AccessDeniedError": ("moto.core.exceptions", "AccessDeniedError"),
    "ActionResult": ("moto.core.responses", "ActionResult"),
    "ActionAuthenticatorMixin": ("moto.core.authorization", "ActionAuthenticatorMixin"),
    "utcnow": ("moto.core.utils", "utcnow"),
    "mock_random": ("moto.moto_api._internal", "mock_random"),
    "DomainDispatcherApplication": ("moto.moto_server.werkzeug_app", "DomainDispatcherApplication"),
    "MotoRequestHandler": ("moto.moto_server.werkzeug_app", "MotoRequestHandler"),
    "create_backend_app": ("moto.moto_server.werkzeug_app", "create_backend_app"),
    "backends": ("moto.backends", None),
    # EC2
    "ec2_backends": ("moto.ec2.models", "ec2_backends"),
    "EC2Backend": ("moto.ec2.models", "EC2Backend"),
    "Instance": ("moto.ec2.models.instances", "Instance"),
    "MetadataOptions": ("moto.ec2.models.instances", "MetadataOptions"),
    "Ami": ("moto.ec2.models.amis", "Ami"),
    "AmiBackend": ("moto.ec2.models.amis", "AmiBackend"),
    "ParameterDict": ("moto.ssm.models", "ParameterDict"),
    "Parameter": ("moto.ssm.models", "Parameter"),
    "EC2ClientError": ("moto.ec2.exceptions", "EC2ClientError"),
    "InstanceResponse": ("moto.ec2.responses.instances", "InstanceResponse"),
    # IAM
    "iam_backends": ("moto.iam.models", "iam_backends"),
    "IAMBackend": ("moto.iam.models", "IAMBackend"),
    "IamResponse": ("moto.iam.responses", "IamResponse"),
    "IAMRequestBase": ("moto.iam.access_control", "IAMRequestBase"),
    "IAMPolicyStatement": ("moto.iam.access_control", "IAMPolicyStatement"),
    "PermissionResult": ("moto.iam.access_control", "PermissionResult"),
    "IAMTrustPolicyDocumentValidator": ("moto.iam.policy_validation", "IAMTrustPolicyDocumentValidator"),
    "IamValidationError": ("moto.iam.exceptions", "ValidationError"),
    "MalformedPolicyDocument": ("moto.iam.exceptions", "MalformedPolicyDocument"),
    "NotFoundException": ("moto.iam.exceptions", "NotFoundException"),
    "InvalidInput": ("moto.iam.exceptions", "InvalidInput"),
    # STS
    "sts_backends": ("moto.sts.models", "sts_backends"),
    "TokenResponse": ("moto.sts.responses", "TokenResponse"),
    # SSM
    "ssm_backends": ("moto.ssm.models", "ssm_backends"),
    "Command": ("moto.ssm.models", "Command"),
    "SimpleSystemManagerResponse": ("moto.ssm.responses", "SimpleSystemManagerResponse"),
    # CloudFormation (slow to import: ssmlab.offline imports it in the background)
    "CloudFormationBackend": ("moto.cloudformation.models", "CloudFormationBackend"),
    "Stack": ("moto.cloudformation.models", "Stack"),
    "CloudFormationResponse": ("moto.cloudformation.responses", "CloudFormationResponse"),
    "StackResourceDTO": ("moto.cloudformation.responses", "StackResourceDTO"),
    "Event": ("moto.cloudformation.models", "Event"),
    "CloudFormationValidationError": ("moto.cloudformation.exceptions", "ValidationError"),
    "cloudformation_parsing": ("moto.cloudformation.parsing", None),
    "clean_json": ("moto.cloudformation.parsing", "clean_json"),
    "OutputMap": ("moto.cloudformation.parsing", "OutputMap"),
    "UnformattedGetAttTemplateException": ("moto.cloudformation.exceptions", "UnformattedGetAttTemplateException"),
    "CloudFormationModel": ("moto.core.common_models", "CloudFormationModel"),
    # the fleet's resource types whose CloudFormation moto corrects (cfn_corrections.py)
    "VPC": ("moto.ec2.models.vpcs", "VPC"),
    "VPCEndPoint": ("moto.ec2.models.vpcs", "VPCEndPoint"),
    "VPCGatewayAttachment": ("moto.ec2.models.vpn_gateway", "VPCGatewayAttachment"),
    "Route": ("moto.ec2.models.route_tables", "Route"),
    "ManagedPolicy": ("moto.iam.models", "ManagedPolicy"),
    "Subnet": ("moto.ec2.models.subnets", "Subnet"),
    "RouteTable": ("moto.ec2.models.route_tables", "RouteTable"),
    "InternetGateway": ("moto.ec2.models.internet_gateways", "InternetGateway"),
    "SecurityGroup": ("moto.ec2.models.security_groups", "SecurityGroup"),
    "Role": ("moto.iam.models", "Role"),
}


_prepared = False


def prepare() -> None:
    """What the lab changes in botocore before moto starts (idempotent): moto's region
    look-ups answered once, and botocore's loaders sharing what they read."""
    global _prepared
    if _prepared:
        return
    _prepared = True
    _share_what_botocore_loaders_read()
    _read_botocore_data_as_plain_dicts()
    _remember_available_regions()


def _share_what_botocore_loaders_read() -> None:
    """One cache of botocore's data files for every loader with the same search paths.

    Each botocore session has its own ``Loader``, and each loader parses the files it is
    asked for again and keeps them (``instance_cache``, ``Loader._cache``): the lab's
    session, moto's sessions and moto's model look-ups each held their own endpoints.json
    (6.7 MiB parsed) and service models, five copies in a kernel after ``start()``. The
    files are botocore's bundled data, the same for every loader that searches the same
    paths, so those loaders now share one cache.
    """
    import botocore.loaders

    caches: dict[tuple[str, ...], dict] = {}
    original = botocore.loaders.Loader.__init__

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._cache = caches.setdefault(tuple(self.search_paths), self._cache)

    botocore.loaders.Loader.__init__ = __init__


def _read_botocore_data_as_plain_dicts() -> None:
    """botocore's data files parsed into plain dicts, not ``OrderedDict``.

    botocore's ``JSONFileLoader`` parses every file with ``object_pairs_hook=OrderedDict``
    (from before dicts kept their order); an ``OrderedDict`` costs about half as much again
    as a dict: EC2's service model is 13.9 MiB parsed so, 9.1 MiB as dicts, and a kernel
    keeps EC2's, IAM's, SSM's, CloudFormation's models and endpoints.json. A plain dict
    keeps the file's order just the same, which is all botocore reads of it.
    """
    import botocore.loaders

    botocore.loaders.OrderedDict = dict


def _remember_available_regions() -> None:
    """Answer ``boto3.session.Session.get_available_regions`` once per set of arguments.

    moto asks it while importing its backends, each time in a new boto3 session, and each
    call parses the service's whole botocore model again: the three calls for EC2 alone
    (aws, aws-cn, aws-us-gov) parsed EC2's model three times, about 1 s of CPU. The answer
    depends only on botocore's bundled data, which does not change in a process. A new
    service's answers for every partition come from one session, dropped afterwards (its
    parsed model would hold 10-20 MB).
    """
    import boto3.session

    original = boto3.session.Session.get_available_regions
    answers: dict[tuple, list[str]] = {}

    @functools.wraps(original)
    def get_available_regions(self, service_name, partition_name="aws", allow_non_regional=False):
        if (service_name, partition_name, allow_non_regional) not in answers:
            # One session parses the service's model once for every partition, then goes.
            session = boto3.session.Session()
            for partition in {*session.get_available_partitions(), partition_name}:
                answers[(service_name, partition, allow_non_regional)] = original(
                    session, service_name, partition, allow_non_regional)
        return list(answers[(service_name, partition_name, allow_non_regional)])

    boto3.session.Session.get_available_regions = get_available_regions


class _OfferingsByRegion(dict):
    """moto's instance type offerings of one location type, a Region's file read when the
    Region is first asked for (``[region]`` or ``.get(region)``, as moto reads them)."""

    def __init__(self, location_type: str, load_resource) -> None:
        super().__init__()
        self._location_type, self._load_resource = location_type, load_resource

    def __missing__(self, region: str):
        try:
            offerings = self._load_resource(f"ec2/resources/instance_type_offerings/{self._location_type}/{region}.json")
        except FileNotFoundError:
            raise KeyError(region) from None
        for offering in offerings:
            offering["LocationType"] = self._location_type
        self[region] = offerings
        return offerings

    def get(self, region, default=None):
        try:
            return self[region]
        except KeyError:
            return default


def _instance_type_offerings_on_demand() -> None:
    """Import moto's EC2 models without reading every Region's instance type offerings.

    ``moto.ec2.models.instance_types`` reads the offerings of every Region and zone when
    imported: about 55 MiB of a kernel's memory for the one Region a lab uses. Here its
    import reads none, and :class:`_OfferingsByRegion` reads a Region's on first use, the
    same data as moto's.
    """
    if "moto.ec2.models.instance_types" in sys.modules:
        return
    utils = importlib.import_module("moto.utilities.utils")
    original = utils.load_resource

    def load_resource(resource: str):
        return [] if "/instance_type_offerings/" in resource else original(resource)

    utils.load_resource = load_resource
    try:
        module = importlib.import_module("moto.ec2.models.instance_types")
    finally:
        utils.load_resource = original
    for location_type in list(module.INSTANCE_TYPE_OFFERINGS):
        module.INSTANCE_TYPE_OFFERINGS[location_type] = _OfferingsByRegion(location_type, original)


def _load(module: str, attribute: str | None):
    prepare()
    if module.startswith("moto.ec2"):
        _instance_type_offerings_on_demand()
    loaded = importlib.import_module(module)
    return loaded if attribute is None else getattr(loaded, attribute)


def __getattr__(name: str):
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = _load(module, attribute)
    globals()[name] = value  # later look-ups are plain attribute reads
    return value


def _get(name: str):
    value = globals().get(name)
    return value if value is not None else __getattr__(name)


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


# ------------------------------------------------------------ the version check

#: What ssmlab patches or reads: (group, module, dotted attribute, parameters its wrapper
#: passes by name, in order; None: only that it exists). "core" is checked by
#: ``simulation.install()``, "cloudformation" when the CloudFormation corrections apply.
_EXPECTED: tuple[tuple[str, str, str, tuple[str, ...] | None], ...] = (
    ("core", "moto.iam.access_control", "IAMPolicyStatement._match", None),
    ("core", "moto.iam.access_control", "IAMRequestBase._check_role_trust_relationship", None),
    ("core", "moto.core.authorization", "ActionAuthenticatorMixin._authenticate_and_authorize_normal_action", None),
    ("core", "moto.iam.models", "IAMBackend._init_aws_policies", ("self",)),
    ("core", "moto.iam.models", "IAMBackend.remove_role_from_instance_profile", ("self", "profile_name", "role_name")),
    ("core", "moto.iam.models", "IAMBackend.get_role", ("self", "role_name")),
    ("core", "moto.iam.models", "IAMBackend.get_instance_profile", ("self", "profile_name")),
    ("core", "moto.iam.models", "IAMBackend.get_user", None),
    ("core", "moto.iam.models", "IAMBackend.get_group", None),
    ("core", "moto.iam.models", "IAMBackend.get_groups_for_user", None),
    ("core", "moto.iam.models", "IAMBackend.get_role_by_arn", None),
    ("core", "moto.iam.models", "IAMBackend.get_instance_profiles", None),
    ("core", "moto.iam.models", "AWSManagedPolicy.from_data", ("name", "account_id", "region_name", "data")),
    ("core", "moto.iam.models", "AWSManagedPolicy.__init__", ("self", "name", "account_id", "region",
     "default_version_id", "description", "document", "path", "create_date", "update_date")),
    ("core", "moto.iam.aws_managed_policies", "aws_managed_policies_data", None),
    ("core", "moto.iam.responses", "IamResponse.create_role", ("self",)),
    ("core", "moto.iam.responses", "IamResponse.update_assume_role_policy", ("self",)),
    ("core", "moto.sts.responses", "TokenResponse.assume_role", ("self",)),
    ("core", "moto.sts.responses", "TokenResponse.get_session_token", ("self",)),
    ("core", "moto.sts.responses", "TokenResponse.get_federation_token", ("self",)),
    ("core", "moto.ec2.models", "EC2Backend.create_default_vpc", ("self",)),
    ("core", "moto.ec2.models", "EC2Backend.reboot_instances", ("self", "instance_ids")),
    ("core", "moto.ec2.models", "EC2Backend.run_instances", None),
    ("core", "moto.ec2.models", "EC2Backend.replace_iam_instance_profile_association", ("self", "association_id")),
    ("core", "moto.ec2.models", "EC2Backend.modify_instance_attribute", ("self", "instance_id", "key", "value")),
    ("core", "moto.ec2.models", "EC2Backend.delete_subnet", ("self", "subnet_id")),
    ("core", "moto.ec2.models", "EC2Backend.delete_security_group", ("self", "name", "group_id")),
    ("core", "moto.ec2.models", "EC2Backend.delete_vpc", ("self", "vpc_id")),
    ("core", "moto.ec2.models.instances", "Instance.__init__",
     ("self", "ec2_backend", "image_id", "user_data", "security_groups")),
    ("core", "moto.ec2.models.elastic_network_interfaces", "NetworkInterface.check_auto_public_ip", ("self",)),
    ("core", "moto.ec2.models.instances", "Instance.create_from_cloudformation_json",
     ("resource_name", "cloudformation_json", "account_id", "region_name")),
    ("core", "moto.ec2.responses.instances", "InstanceResponse.run_instances", ("self",)),
    ("core", "moto.ssm.models", "Command.__init__", None),
    ("core", "moto.ec2.models.amis", "AmiBackend._load_amis", ("self",)),
    ("core", "moto.ec2.models.amis", "Ami.__init__", ("self", "ec2_backend", "ami_id", "instance", "source_ami",
     "name", "description", "owner_id", "owner_alias", "public", "virtualization_type", "architecture")),
    ("core", "moto.ssm.models", "ParameterDict._check_loading_status", ("self", "key")),
    ("core", "moto.ssm.models", "Parameter.__init__", ("self", "account_id", "name", "value", "parameter_type",
     "description", "allowed_pattern", "keyid", "last_modified_date", "version", "data_type")),
    ("core", "moto.ssm.responses", "SimpleSystemManagerResponse._get_param", None),
    ("core", "moto.ssm.responses", "SimpleSystemManagerResponse.describe_document", ("self",)),
    ("core", "moto.ssm.responses", "SimpleSystemManagerResponse.get_document", ("self",)),
    ("core", "moto.core.responses", "get_service_model", ("service_name",)),
    ("core", "moto.core.base_backend", "BackendDict._instances", None),
    ("core", "moto.core.base_backend", "backend_lock", None),
    ("core", "moto.core.model_instances", "reset_model_data", None),
    ("core", "moto.settings", "default_user_config", None),
    ("core", "moto.moto_api._internal", "mock_random.seed", None),
    ("core", "moto.moto_server.werkzeug_app", "DomainDispatcherApplication.get_application", None),
    ("core", "moto.backends", "list_of_moto_modules", None),
    ("cloudformation", "moto.cloudformation.models", "CloudFormationBackend.create_stack",
     ("self", "name", "template", "parameters")),
    ("cloudformation", "moto.cloudformation.models", "CloudFormationBackend.update_stack",
     ("self", "name", "template", "role_arn", "parameters", "tags")),
    ("cloudformation", "moto.cloudformation.models", "CloudFormationBackend._resolve_update_parameters",
     ("self", "instance", "incoming_params")),
    ("cloudformation", "moto.cloudformation.models", "Stack.create_resources", ("self",)),
    ("cloudformation", "moto.cloudformation.models", "Stack._add_stack_event", None),
    ("cloudformation", "moto.cloudformation.models", "Stack.parse_template", None),
    ("cloudformation", "moto.cloudformation.parsing", "parse_and_create_resource",
     ("logical_id", "resource_json", "resources_map", "account_id", "region_name")),
    ("cloudformation", "moto.cloudformation.parsing", "ResourceMap._delete_resource", None),
    ("cloudformation", "moto.cloudformation.models", "CloudFormationBackend.delete_stack", ("self", "name_or_stack_id")),
    ("cloudformation", "moto.cloudformation.models", "CloudFormationBackend.describe_stack_resources",
     ("self", "stack_name", "logical_resource_id")),
    ("cloudformation", "moto.cloudformation.responses", "CloudFormationResponse.describe_stack_resources", ("self",)),
    ("cloudformation", "moto.cloudformation.responses", "StackResourceDTO.__init__", ("self", "stack", "resource")),
    ("cloudformation", "moto.cloudformation.parsing", "get_model_list.cache_clear", None),
    ("cloudformation", "moto.cloudformation.parsing", "get_model_map.cache_clear", None),
    ("cloudformation", "moto.cloudformation.parsing", "get_name_type_map.cache_clear", None),
    *(("cloudformation", module, f"{model}.create_from_cloudformation_json",
       ("resource_name", "cloudformation_json", "account_id", "region_name"))
      for module, model in (("moto.ec2.models.vpcs", "VPC"), ("moto.ec2.models.subnets", "Subnet"),
                            ("moto.ec2.models.route_tables", "RouteTable"),
                            ("moto.ec2.models.internet_gateways", "InternetGateway"),
                            ("moto.ec2.models.security_groups", "SecurityGroup"), ("moto.iam.models", "Role"))),
    ("cloudformation", "moto.ec2.models", "EC2Backend.create_network_acl", ("self", "vpc_id", "tags")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.create_network_acl_entry",
     ("self", "network_acl_id", "rule_number", "protocol", "rule_action", "egress", "cidr_block", "icmp_code",
      "icmp_type", "port_range_from", "port_range_to", "ipv6_cidr_block")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.delete_network_acl_entry",
     ("self", "network_acl_id", "rule_number", "egress")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.replace_network_acl_association",
     ("self", "association_id", "network_acl_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.associate_default_network_acl_with_subnet",
     ("self", "subnet_id", "vpc_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.modify_vpc_attribute", ("self", "vpc_id", "attr_name", "attr_value")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.modify_subnet_attribute",
     ("self", "subnet_id", "attr_name", "attr_value")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.revoke_security_group_egress",
     ("self", "group_name_or_id", "ip_protocol", "from_port", "to_port", "ip_ranges")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.authorize_security_group_egress",
     ("self", "group_name_or_id", "ip_protocol", "from_port", "to_port", "ip_ranges")),
    ("cloudformation", "moto.iam.models", "IAMBackend.attach_role_policy", ("self", "policy_arn", "role_name")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.associate_route_table",
     ("self", "route_table_id", "gateway_id", "subnet_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.disassociate_route_table", ("self", "association_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.delete_vpc_endpoints", ("self", "vpce_ids")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.delete_internet_gateway", ("self", "internet_gateway_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.detach_internet_gateway", ("self", "internet_gateway_id", "vpc_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.delete_route_table", ("self", "route_table_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.delete_route", ("self", "route_table_id", "destination_cidr_block")),
    ("cloudformation", "moto.iam.models", "IAMBackend.delete_policy", ("self", "policy_arn")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.get_subnet", ("self", "subnet_id")),
    ("cloudformation", "moto.ec2.models", "EC2Backend.describe_subnets", None),
    ("cloudformation", "moto.ec2.models", "EC2Backend.authorize_security_group_ingress",
     ("self", "group_name_or_id", "ip_protocol", "from_port", "to_port", "ip_ranges")),
    # the classes whose deletion ssmlab adds (cfn_corrections._DELETIONS)
    ("cloudformation", "moto.ec2.models.vpn_gateway", "VPCGatewayAttachment", None),
    ("cloudformation", "moto.ec2.models.route_tables", "Route", None),
    ("cloudformation", "moto.iam.models", "ManagedPolicy", None),
    ("cloudformation", "moto.ec2.models.vpcs", "VPCEndPoint.delete_from_cloudformation_json", None),
    ("cloudformation", "moto.iam.models", "IAMBackend.detach_role_policy", ("self", "policy_arn", "role_name")),
    ("cloudformation", "moto.iam.models", "Role.put_policy", ("self", "policy_name", "policy_json")),
    ("cloudformation", "moto.iam.models", "IAMBackend.delete_role_policy", ("self", "role_name", "policy_name")),
    ("cloudformation", "moto.iam.models", "Role.delete_from_cloudformation_json",
     ("resource_name", "cloudformation_json", "account_id", "region_name")),
)

def _problem(module: str, dotted: str, parameters: tuple[str, ...] | None) -> str | None:
    try:
        value = _load(module, None)
        for part in dotted.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError):
        return f"{module}.{dotted} is gone"
    if parameters is None:
        return None
    function = getattr(value, "__wrapped__", value)  # ssmlab's own wrapper, if applied
    try:
        found = list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return f"{module}.{dotted} has no signature"
    if found[: len(parameters)] != list(parameters):
        return f"{module}.{dotted} takes ({', '.join(found)})"
    return None


def problems(group: str = "core") -> list[str]:
    """What moved in moto among the ``group``'s expectations (empty: nothing)."""
    found = [_problem(m, d, p) for g, m, d, p in _EXPECTED if g == group]
    found = [p for p in found if p]
    if group == "core":
        matcher = _load("moto.iam.access_control", "IAMPolicyStatement")
        if not found and not isinstance(inspect.getattr_static(matcher, "_match"), staticmethod):
            found.append("IAMPolicyStatement._match is no longer a static method")
        elif not found:
            probes = {("ssm:Get*", "ssm:GetParameter"): True, ("a.c", "abc"): True, ("ab", "abc"): False}
            for (pattern, value), expected in probes.items():
                if (matcher._match(pattern, value) is not None) != expected:
                    found.append(f"IAMPolicyStatement._match({pattern!r}, {value!r}) changed meaning")
        result = _load("moto.iam.access_control", "PermissionResult")
        if {m.name for m in result} != {"PERMITTED", "DENIED", "NEUTRAL"}:
            found.append("PermissionResult's members changed")
        role = _load("moto.iam.models", "Role")
        if "permissions_boundary" not in inspect.signature(role.__init__).parameters:
            found.append("Role() no longer takes permissions_boundary")
    return found


def check(group: str = "core") -> None:
    """Raise one LabError sentence if what ssmlab patches in moto moved."""
    found = problems(group)
    if found:
        import moto

        raise LabError(
            _("ssmlab needs {pinned} (pyproject.toml), but in the installed moto "
              "{version} {problems}: reinstall with `make .venv/.installed-lab`.").format(
                pinned=MOTO_PINNED, version=moto.__version__, problems="; ".join(found))
        )


def wrap_methods(patches) -> None:
    """Replace each ``(owner, name, make)``'s attribute by ``make(original)``, keeping the
    original as ``__wrapped__`` (so a test can reach it) and the attribute's own name."""
    for owner, name, make in patches:
        original = getattr(owner, name)
        replacement = make(original)
        replacement.__wrapped__ = original
        replacement.__name__ = name
        setattr(owner, name, replacement)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's wildcard match (``*`` any run of characters, ``?`` one), by moto's matcher.

    moto's ``_match`` turns ``*`` into ``.*`` and reads the rest as a regular expression;
    the literal pieces are escaped here and ``?`` becomes ``.``, so a dot or a plus in an
    ARN is only itself.
    """
    if ignore_case:
        pattern, value = pattern.lower(), value.lower()
    regex = "*".join(".".join(re.escape(piece) for piece in part.split("?")) for part in pattern.split("*"))
    matched = _get("IAMPolicyStatement")._match(regex, value)
    return matched is not None and matched.end() == len(value)


# ------------------------------------------------------------------- IAM backend reading


@dataclass(frozen=True)
class SourcePolicy:
    """A policy document with where it came from, in SimulatePrincipalPolicy's words."""

    document: dict | str  # as moto stores it; ``policy.parse_document`` reads either
    id: str  # SourcePolicyId: the policy's name
    type: str  # SourcePolicyType: user, group, role, aws-managed, user-managed, none


@dataclass(frozen=True)
class PrincipalPolicies:
    """A principal's identity-based policies and its permissions boundary, as plain data."""

    identity: tuple[SourcePolicy, ...]
    boundary: SourcePolicy | None = None


def _default_version(policy):
    version = next((v for v in policy.versions if v.is_default), None)
    return version.document if version is not None else None


def _managed(policy) -> SourcePolicy | None:
    document = _default_version(policy)
    if document is None:
        return None
    kind = "aws-managed" if policy.arn.startswith("arn:aws:iam::aws:policy/") else "user-managed"
    return SourcePolicy(document, policy.name, kind)


def iam_backend(account_id: str, partition: str = "aws"):
    """moto's IAM backend of the account (IAM is global: one per partition)."""
    return _get("iam_backends")[account_id][partition]


def _holder_policies(holder, kind: str) -> list[SourcePolicy]:
    found = [SourcePolicy(doc, name, kind) for name, doc in holder.policies.items()]
    for policy in holder.managed_policies.values():
        source = _managed(policy)
        if source is not None:
            found.append(source)
    return found


def _boundary(backend, holder) -> SourcePolicy | None:
    arn = getattr(holder, "permissions_boundary_arn", None)
    if not arn:
        return None
    policy = backend.managed_policies.get(arn)
    if policy is None:  # a boundary that no longer exists allows nothing
        return SourcePolicy({"Version": "2012-10-17", "Statement": []}, arn.rsplit("/", 1)[-1], "none")
    return _managed(policy)


def role_policies(backend, role) -> PrincipalPolicies:
    """A moto ``Role``'s inline and attached managed policies and its boundary."""
    return PrincipalPolicies(tuple(_holder_policies(role, "role")), _boundary(backend, role))


def principal_policies(backend, kind: str, name: str) -> PrincipalPolicies:
    """Policies of the user (with its groups'), group or role ``name``; NoSuchEntity if absent."""
    if kind == "role":
        return role_policies(backend, backend.get_role(name))
    if kind == "group":
        return PrincipalPolicies(tuple(_holder_policies(backend.get_group(name), "group")))
    user = backend.get_user(name)
    found = _holder_policies(user, "user")
    for group in backend.get_groups_for_user(name):
        found += _holder_policies(group, "group")
    return PrincipalPolicies(tuple(found), _boundary(backend, user))


# ------------------------------------------------------------------ backends


def ec2_backend(account_id: str, region: str):
    """moto's EC2 backend of the account and Region."""
    return _get("ec2_backends")[account_id][region]


def ssm_backend(account_id: str, region: str):
    """moto's SSM backend of the account and Region."""
    return _get("ssm_backends")[account_id][region]


def sts_backend(account_id: str):
    """moto's STS backend of the account (STS is global)."""
    return _get("sts_backends")[account_id]["global"]


def caller_arn(response) -> str:
    """The ARN of the principal that signed a request moto is answering (STS's view)."""
    sts = sts_backend(response.current_account)
    return sts.get_caller_identity(response.get_access_key(), response.region)[1]


def loaded_ssm_backends():
    """Every SSM backend moto has created so far (none is created by asking)."""
    ssm_backends = _get("ssm_backends")
    return [backend for account_id in list(ssm_backends.keys()) for backend in list(ssm_backends[account_id].values())]


def ec2_regions(account_id: str) -> list[str]:
    """The Regions moto has an EC2 backend for."""
    return sorted(_get("ec2_backends")[account_id].regions)


def speaks_json(response) -> bool:
    """True if moto answers ``response``'s service in a JSON protocol (False for a service
    moto routes without a botocore model)."""
    from botocore.exceptions import DataNotFoundError, UnknownServiceError

    get_service_model = _load("moto.core.responses", "get_service_model")
    try:
        protocol = response.determine_response_protocol(get_service_model(response.boto3_service_name))
    except (UnknownServiceError, DataNotFoundError, KeyError):
        return False
    return protocol in ("json", "rest-json")


# ------------------------------------------------------- the offline server's moto


def load_aws_managed_policies() -> None:
    """Ask moto to create the AWS managed policies with each IAM backend.

    moto's own configuration (``mock_aws(config=...)``'s dict), read when the IAM backend is
    created: AWS managed policies such as AmazonSSMManagedInstanceCore must exist to be
    attached. Set here rather than through moto's environment variable
    MOTO_IAM_LOAD_MANAGED_POLICIES, so the lab leaves the process's environment as it found
    it (docs/aws-facts.md#robust-environment).
    """
    _load("moto.settings", "default_user_config").setdefault("iam", {})["load_aws_managed_policies"] = True


def load_managed_policies_once_and_in_the_labs_partition() -> None:
    """Speed up moto's IAM start-up; what the lab can observe does not change.

    Each request's account lookup creates the IAM backend of every partition (aws,
    aws-cn, aws-us-gov, ...), and each parses ~1,100 AWS managed policies from JSON again:
    1.4 s after every reset. The lab lives in the ``aws`` partition only, so only that
    backend loads them, from JSON parsed once per process. What is kept between resets is
    what ``AWSManagedPolicy.from_data`` makes of each policy (its document as JSON text, its
    dates), not the parsed tree: 12.6 MiB less in a kernel, and no json.dumps per reset.
    """
    from datetime import datetime

    default_user_config = _load("moto.settings", "default_user_config")
    managed_policy = _load("moto.iam.models", "AWSManagedPolicy")
    kept: list[tuple] = []

    def init_aws_policies(self):
        if not default_user_config.get("iam", {}).get("load_aws_managed_policies") or self.region_name != "aws":
            return []
        if not kept:
            for name, data in json.loads(_load("moto.iam.aws_managed_policies", "aws_managed_policies_data")).items():
                kept.append((name, data.get("DefaultVersionId"), data.get("Path"), json.dumps(data.get("Document")),
                             datetime.fromisoformat(data["CreateDate"]), datetime.fromisoformat(data["UpdateDate"])))
        return [  # the keywords of AWSManagedPolicy.from_data's own call (checked by check())
            managed_policy(name, account_id=self.account_id, region=self.region_name, default_version_id=version,
                           path=path, document=document, create_date=created, update_date=updated)
            for name, version, path, document, created, updated in kept
        ]

    _get("IAMBackend")._init_aws_policies = init_aws_policies


def import_cloudformation() -> None:
    """Import moto's CloudFormation models (slow: it imports every moto service)."""
    importlib.import_module("moto.cloudformation.models")


def forget_every_backend() -> None:
    """Drop every moto backend, as ``POST /moto-api/reset`` does, without its waste.

    moto's ``BackendDict.reset()`` re-creates every backend it has (the IAM backend of each
    partition reloads ~1,100 AWS managed policies) and then throws them all away; the
    backends are created again lazily anyway. Clearing them is the same end state at a
    fraction of the time (measured: 1.8 s → 0.0 s on a 2-core machine).
    """
    backend_dict = _load("moto.core.base_backend", "BackendDict")
    with _load("moto.core.base_backend", "backend_lock"):
        for backend in backend_dict._instances:
            backend.clear()
        backend_dict._instances.clear()
    _load("moto.core.model_instances", "reset_model_data")()


def seed(value: int, account_id: str, region: str) -> None:
    """Seed moto's random, then create the IAM backend (it loads the AWS managed policies)
    and the Region's EC2 backend (its default VPC) in a fixed order, so ids do not depend
    on which request happens to create them first."""
    _get("mock_random").seed(value)
    iam_backend(account_id)
    ec2_backend(account_id, region)


# ------------------------------------------------- Automation (simulation/automation.py)
# What the runbook's offline model needs from moto: the serialised error and answer of
# moto's JSON protocol, its seeded uuid, the SSM response class to add handlers to.


def service_error(code: str) -> type:
    """An exception class moto's server answers with ``code`` (HTTP 400) and its message.

    ``str()`` is the message alone: moto's JSON serialiser falls back to ``str(error)`` for
    an empty message, which would send "Code: " where AWS sends no message at all.
    """
    return type(code, (_get("ServiceException"),), {"code": code, "__str__": lambda self: self.message})


def action_result(body: dict):
    """A handler's answer, serialised by moto for the request's protocol."""
    return _get("ActionResult")(body)


def seeded_uuid() -> str:
    """A uuid4 from moto's seeded generator (the lab seeds it, so ids repeat run to run)."""
    return str(_get("mock_random").uuid4())


def ssm_response_class():
    """moto's SSM response class: its snake_case methods answer the JSON actions."""
    return _get("SimpleSystemManagerResponse")


#: The runbook's reset reads every SSM backend made so far.
ssm_backends_loaded = loaded_ssm_backends


# ---------------------------------------------------------------------------------------
# Accounts of a room (``ssmlab serve --attendees N``, ssmlab/room.py)
#
# moto keeps one set of backends per account id and decides a request's account from its
# access key: ``moto.core.responses.BaseResponse.get_current_account`` asks
# ``moto.iam.models.get_account_id_from``, which looks the key up in every account's
# ``IAMBackend.access_keys`` (IAM users' keys, and the keys STS hands out for a role, which
# land in the role's account) and falls back to moto's default account when no account
# holds it. A room needs the strict form of that lookup (an unknown key is no account),
# and keys the lab chose itself (``secrets``) rather than moto's seeded ones.


def _iam_backend_of(account):
    return account.get("aws") if hasattr(account, "get") else None


def account_of_access_key(access_key_id: str) -> str | None:
    """The account whose IAM backend holds ``access_key_id`` (active), or None."""
    for account_id, account in list(_get("iam_backends").items()):
        backend = _iam_backend_of(account)
        key = backend.access_keys.get(access_key_id) if backend is not None else None
        if key is not None and getattr(key, "status", "Active") == "Active":
            return account_id
    return None


def create_user_with_key(account_id: str, user_name: str, access_key_id: str, secret: str) -> str:
    """Create IAM user ``user_name`` in ``account_id`` holding the given access key; its ARN.

    moto's ``IAMBackend.create_access_key`` draws the key id and secret from its seeded
    random; the key is then given the id and secret the caller chose, where moto keeps it
    (the user's key list and the account's ``access_keys`` index)."""
    backend = iam_backend(account_id)
    user = backend.create_user("us-east-1", user_name)
    key = backend.create_access_key(user_name)
    del backend.access_keys[key.access_key_id]
    key.access_key_id, key.secret_access_key = access_key_id, secret
    backend.access_keys[access_key_id] = key
    return user.arn


def secret_of_access_key(access_key_id: str) -> str | None:
    """The secret access key moto keeps for ``access_key_id`` (any account), or None."""
    for account in list(_get("iam_backends").values()):
        backend = _iam_backend_of(account)
        key = backend.access_keys.get(access_key_id) if backend is not None else None
        if key is not None:
            return key.secret_access_key
    return None


def prepare_account(account_id: str, region: str) -> None:
    """Create the account's backends for the services of the journey now, rather than at
    its first request: moto makes them lazily, and EC2's (the default VPC, the AMIs) and
    SSM's (AWS's public parameters) take a few hundred milliseconds each, which a room
    would otherwise pay while its attendees wait. The IAM backend of every partition too:
    moto's account lookup (``get_account_id_from``) creates them on a key's first request.
    (Not CloudFormation's: moto's CloudFormation is imported in the background, without
    the grammar ``ssmlab.offline`` keeps out of it, and its backends are light.)"""
    for partition in _load("moto.iam.models", "PARTITION_NAMES"):
        _get("iam_backends")[account_id][partition]
    ec2_backend(account_id, region)
    ssm_backend(account_id, region)


def refuse_members_list_accounts() -> None:
    """Organizations' ``ListAccounts`` from a member account: AWS answers
    ``AccessDeniedException`` ("can be called only from the organization's management account
    or by a member account that is a delegated administrator", Organizations API reference;
    docs/aws-facts.md#a-room-of-accounts); moto 5.2.5 answers the member's own empty list.
    Idempotent."""
    error = _load("moto.organizations.exceptions", "OrganizationsClientError")
    backend_class = _load("moto.organizations.models", "OrganizationsBackend")
    backends = _load("moto.organizations.models", "organizations_backends")

    original = backend_class.list_accounts
    if getattr(original, "_ssmlab", False):
        return

    def list_accounts(self, *args, **kwargs):
        if self.account_id in backends.master_accounts:
            raise error("AccessDeniedException", "You don't have permissions to access this resource.")
        return original(self, *args, **kwargs)

    list_accounts._ssmlab = True
    backend_class.list_accounts = list_accounts


def vpc_responses_class():
    """moto's EC2 VPC response class (ModifyVpcEndpoint is one of its methods)."""
    return _load("moto.ec2.responses.vpcs", "VPCs")
