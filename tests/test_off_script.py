"""Off the script: commands a learner might type that no lesson uses, through the real
``aws`` CLI against the offline lab after lesson 06 (``start(lesson=7)``: the blog's role,
instance profile, stack and managed instance).

Each case asserts AWS's answer (exit code, error code and message, key fields) with its
source; what the lab does not model must answer in AWS's shape in one line (code
``NotImplemented``, HTTP 400): never a traceback, an HTML page or botocore's retries
("reached max retries"). Facts and their sources: docs/aws-facts.md.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable

import pytest

import ssmlab

TEMPLATE = resources.files("ssmlab.templates").joinpath("ec2-instance-profile.yaml")
MISSING = "i-0123456789abcdef0"  # well-formed, but no such instance in the lab
ACCOUNT = "123456789012"
LEARNER = f"arn:aws:iam::{ACCOUNT}:user/learner"
CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


@pytest.fixture(scope="module")
def world(_offline_lab):
    lab = ssmlab.start(lesson=7, quiet=True)
    ssm = lab.client("ssm")
    [info] = ssm.describe_instance_information()["InstanceInformationList"]
    return {"lab": lab, "instance": info["InstanceId"]}


def run_aws(world, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    argv = [a.format(instance=world["instance"], template=TEMPLATE) for a in args]
    started = time.monotonic()
    result = subprocess.run(["aws", *argv], env=world["lab"].env, capture_output=True, text=True, timeout=120)
    return result, time.monotonic() - started


@dataclass
class Case:
    args: tuple[str, ...]
    rc: int
    code: str | None = None  # the error code in "An error occurred (CODE) ..."
    message: str | None = None  # the exact message after "operation: "
    check: Callable[[Any], bool] | None = None  # on the parsed JSON (or text) output
    text: bool = False
    source: str = ""
    extra: dict = field(default_factory=dict)


def ok(*args, check=None, text=False, source=""):
    return Case(args, 0, check=check, text=text, source=source)


def error(*args, code, message=None, source=""):
    return Case(args, 255, code=code, message=message, source=source)


def unmodelled(service, operation, command, *extra):
    # The lab's own line for what it does not model (docs/aws-facts.md#unmodelled-calls).
    return error(
        service, command, *extra, code="NotImplemented",
        message=f"ssmlab's offline lab does not model {operation} (aws {service} {command}). "
                "A real AWS account answers it.",
        source="not modelled offline: AWS answers from the account",
    )


CATALOGUE = [
    # --- not modelled: one AWS-shaped line, no retries ----------------------------------
    unmodelled("ssm", "ListAssociations", "list-associations"),
    unmodelled("ssm", "GetInventory", "get-inventory"),
    unmodelled("ssm", "DescribeInstancePatchStates", "describe-instance-patch-states", "--instance-ids", "{instance}"),
    unmodelled("ssm", "DescribeInstanceAssociationsStatus", "describe-instance-associations-status", "--instance-id", "{instance}"),
    unmodelled("ssm", "ListInventoryEntries", "list-inventory-entries", "--instance-id", "{instance}", "--type-name", "AWS:Application"),
    unmodelled("ssm", "ListComplianceItems", "list-compliance-items"),
    unmodelled("ssm", "DescribeAutomationExecutions", "describe-automation-executions"),
    unmodelled("ssm", "GetDefaultPatchBaseline", "get-default-patch-baseline"),
    unmodelled("ec2", "GetSerialConsoleAccessStatus", "get-serial-console-access-status"),
    unmodelled("ec2", "DescribeInstanceConnectEndpoints", "describe-instance-connect-endpoints"),
    unmodelled("cloudformation", "ListStackRefactors", "list-stack-refactors"),
    # A service moto has no backend for at all.
    unmodelled("ssm-sap", "ListApplications", "list-applications"),
    # --- Session Manager ------------------------------------------------------------------
    # aws/session-manager-plugin#5: "An error occurred (TargetNotConnected) when calling the
    # StartSession operation: i-123456 is not connected."
    error("ssm", "start-session", "--target", MISSING, code="TargetNotConnected",
          message=f"{MISSING} is not connected.", source="aws/session-manager-plugin#5"),
    # awscli/customizations/sessionmanager.py: StartSession answers, then the CLI looks for
    # the plugin, calls TerminateSession and raises ValueError(ERROR_MESSAGE) (exit 255).
    Case(("ssm", "start-session", "--target", "{instance}"), 255, extra={"stderr": (
        "SessionManagerPlugin is not found. Please refer to SessionManager Documentation here: "
        "http://docs.aws.amazon.com/console/systems-manager/session-manager-plugin-not-found")},
        source="awscli/customizations/sessionmanager.py ERROR_MESSAGE"),
    # TerminateSession lists no not-found error (botocore ssm model): it answers the id.
    ok("ssm", "terminate-session", "--session-id", "learner-0123456789abcdef0",
       check=lambda out: out == {"SessionId": "learner-0123456789abcdef0"}, source="botocore ssm model"),
    ok("ssm", "describe-sessions", "--state", "Active", "--filters", f"key=Target,value={MISSING}",
       check=lambda out: out["Sessions"] == [], source="botocore ssm model, SessionFilter"),
    ok("ssm", "get-connection-status", "--target", "{instance}",
       check=lambda out: out["Status"] == "connected", source="SSM API reference, GetConnectionStatus"),
    ok("ssm", "get-connection-status", "--target", MISSING,
       check=lambda out: out["Status"] == "notconnected", source="SSM API reference, GetConnectionStatus"),
    # --- DescribeInstanceInformation filters ----------------------------------------------
    error("ssm", "describe-instance-information", "--filters", "Key=ResourceType,Values=EC2Instance,ManagedInstance",
          code="InvalidInstanceInformationFilterValue", message="ResourceType filter may contain only one value.",
          source="boto/boto3#3027"),
    error("ssm", "describe-instance-information", "--filters", "Key=ResourceType,Values=Document",
          code="InvalidInstanceInformationFilterValue",
          message="ResourceType filter is invalid, valid values are EC2Instance, ManagedInstance",
          source="aws/aws-sdk#130"),
    ok("ssm", "describe-instance-information", "--filters", "Key=AssociationStatus,Values=Success",
       check=lambda out: out["InstanceInformationList"] == [],
       source="botocore model: a valid key; the lab's nodes have no associations"),
    ok("ssm", "describe-instance-information", "--filters", "Key=SourceIds,Values={instance}",
       "--query", "InstanceInformationList[].InstanceId", check=lambda out: len(out) == 1,
       source="botocore model, InstanceInformationStringFilter.Key"),
    ok("ssm", "describe-instance-information", "--filters", "Key=SourceTypes,Values=AWS::EC2::Instance",
       "--query", "InstanceInformationList[].SourceType", check=lambda out: out == ["AWS::EC2::Instance"],
       source="botocore model, InstanceInformationStringFilter.Key"),
    ok("ssm", "describe-instance-information", "--filters", "Key=ActivationIds,Values=0123abcd-0000-0000-0000-000000000000",
       check=lambda out: out["InstanceInformationList"] == [],
       source="botocore model: a valid key; EC2 instances have no activation"),
    ok("ssm", "describe-instance-information", "--filters", "Key=PlatformTypes,Values=Linux",
       "--query", "InstanceInformationList[].PlatformType", check=lambda out: out == ["Linux"],
       source="botocore model, InstanceInformationStringFilter.Key"),
    error("ssm", "describe-instance-information", "--filters", "Key=PingStatus,Values=Online",
          "--instance-information-filter-list", "key=PingStatus,valueSet=Online", code="ValidationException",
          source="botocore model: using both leads to an exception error"),
    error("ssm", "describe-instance-information", "--filters", "Key=tag:Name,Values=web", "Key=PingStatus,Values=Online",
          code="ValidationException", message="Cannot mix tag or inventory filter with any other filter.",
          source="danmx/sigil#61"),
    # InvalidFilterKey has no message member (botocore model).
    error("ssm", "describe-instance-information", "--filters", "Key=Colour,Values=blue",
          code="InvalidFilterKey", message="", source="botocore ssm model, InvalidFilterKey"),
    # --- Run Command ----------------------------------------------------------------------
    # InvalidParameters without a message (claranet/ssha#71).
    error("ssm", "send-command", "--instance-ids", "{instance}", "--document-name", "AWS-RunShellScript",
          code="InvalidParameters", message="", source="botocore ssm model; claranet/ssha#71"),
    error("ssm", "send-command", "--instance-ids", "{instance}", "--document-name", "AWS-RunShellScript",
          "--parameters", "commands=hostname,colour=blue", code="InvalidParameters", message="",
          source="botocore ssm model, InvalidParameters: only parameters the document defines"),
    error("ssm", "send-command", "--instance-ids", MISSING, "--document-name", "AWS-RunShellScript",
          "--parameters", "commands=hostname", code="InvalidInstanceId",
          source="SSM API reference, SendCommand errors"),
    error("ssm", "send-command", "--instance-ids", "{instance}", "--document-name", "AWS-RunShelScript",
          "--parameters", "commands=hostname", code="InvalidDocument", source="SSM API reference, SendCommand errors"),
    # The CLI's bundled example (awscli/examples/ssm/send-command.rst).
    ok("ssm", "send-command", "--instance-ids", "{instance}", "--document-name", "AWS-RunShellScript",
       "--parameters", "commands=hostname", check=lambda out: (
           out["Command"]["DocumentVersion"] == ""
           and out["Command"]["NotificationConfig"] == {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""}
           and out["Command"]["CloudWatchOutputConfig"] == {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False}
           and out["Command"]["Status"] == "Pending"),
       source="awscli/examples/ssm/send-command.rst"),
    error("ssm", "list-command-invocations", "--command-id", "00000000-0000-0000-0000-000000000000",
          code="InvalidCommandId", source="SSM API reference, ListCommandInvocations errors"),
    # --- Parameter Store and documents ----------------------------------------------------
    ok("ssm", "get-parameter", "--name", "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
       "--query", "Parameter.Value", check=lambda out: out.startswith("ami-"),
       source="AWS public parameters for Amazon Linux AMIs"),
    error("ssm", "get-parameter", "--name", "/ssmlab/no-such-parameter", code="ParameterNotFound",
          source="SSM API reference, GetParameter errors"),
    # --- STS -------------------------------------------------------------------------------
    ok("sts", "get-session-token", "--query", "Credentials.AccessKeyId",
       check=lambda out: out.startswith("ASIA") and len(out) == 20,
       source="IAM User Guide, unique identifier prefixes: ASIA = temporary keys"),
    ok("sts", "get-federation-token", "--name", "bob", "--query", "Credentials.AccessKeyId",
       check=lambda out: out.startswith("ASIA"), source="IAM User Guide, unique identifier prefixes"),
    ok("sts", "get-caller-identity", "--query", "Arn", check=lambda out: out == LEARNER,
       source="STS API reference, GetCallerIdentity"),
    error("sts", "assume-role", "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/role-for-ec2", "--role-session-name", "me",
          code="AccessDenied",
          message=f"User: {LEARNER} is not authorized to perform: sts:AssumeRole on resource: "
                  f"arn:aws:iam::{ACCOUNT}:role/role-for-ec2",
          source="STS API reference, AssumeRole: the trust policy must allow the caller"),
    # --- the world model's second pass (docs/aws-facts.md#world-model-second-pass) --------
    ok("ssm", "describe-document", "--name", "AWS-RunShellScript", "--query", "Document.[Owner,DocumentType,SchemaVersion]",
       check=lambda out: out == ["Amazon", "Command", "1.2"], source="awscli/examples/ssm/get-document.rst"),
    ok("ssm", "get-document", "--name", "AWS-RunShellScript", "--query", "Content",
       check=lambda out: json.loads(out)["runtimeConfig"]["aws:runShellScript"]["properties"][0]["id"]
       == "0.aws:runShellScript", source="awscli/examples/ssm/get-document.rst"),
    error("ssm", "describe-document", "--name", "AWS-RunShellScript", "--document-version", "9",
          code="InvalidDocumentVersion", message="The document version isn't valid or doesn't exist.",
          source="botocore ssm model, InvalidDocumentVersion"),
    error("ssm", "cancel-command", "--command-id", "11111111-2222-3333-4444-555555555555",
          code="InvalidCommandId", source="botocore ssm model, CancelCommand errors"),
    # --- IAM -------------------------------------------------------------------------------
    error("iam", "get-role", "--role-name", "role-for-ec3", code="NoSuchEntity",
          message="The role with name role-for-ec3 cannot be found.",
          source="aws-samples/amazon-eks-security-immersion-day#54"),
    error("iam", "get-instance-profile", "--instance-profile-name", "for-ec3", code="NoSuchEntity",
          message="Instance Profile for-ec3 cannot be found.", source="DataBiosphere/toil#4836"),
    ok("iam", "list-instance-profiles-for-role", "--role-name", "role-for-ec2",
       "--query", "InstanceProfiles[].InstanceProfileName", check=lambda out: out == ["for-ec2"],
       source="IAM API reference, ListInstanceProfilesForRole"),
    ok("iam", "list-attached-role-policies", "--role-name", "role-for-ec2",
       "--query", "AttachedPolicies[].PolicyArn", check=lambda out: CORE in out,
       source="lesson 06 attached it; IAM API reference"),
    ok("iam", "get-policy", "--policy-arn", CORE, "--query", "Policy.PolicyName",
       check=lambda out: out == "AmazonSSMManagedInstanceCore", source="AWS managed policy reference"),
    error("iam", "create-role", "--role-name", "role for ec2", "--assume-role-policy-document", "{{}}",
          code="ValidationError",
          message="1 validation error detected: Value 'role for ec2' at 'roleName' failed to satisfy "
                  "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+",
          source="IAM API reference, CreateRole: RoleName pattern"),
    error("iam", "create-role", "--role-name", "role-x", "--assume-role-policy-document", "trust.json",
          code="MalformedPolicyDocument", message="This policy contains invalid Json",
          source="AWSCookbook/Security#2 (a file name without file://)"),
    ok("iam", "list-open-id-connect-providers", check=lambda out: out["OpenIDConnectProviderList"] == [],
       source="IAM API reference, ListOpenIDConnectProviders"),
    # --- EC2 -------------------------------------------------------------------------------
    error("ec2", "describe-instances", "--instance-ids", MISSING, code="InvalidInstanceID.NotFound",
          message=f"The instance ID '{MISSING}' does not exist", source="EC2 API reference, error codes"),
    error("ec2", "run-instances", "--image-id", "ami-12345678", "--iam-instance-profile", "Name=for-ec3",
          code="InvalidParameterValue",
          message="Value (for-ec3) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
          source="hashicorp/terraform-provider-aws#27516, CiscoDevNet/cloud-cml#4"),
    ok("ec2", "describe-iam-instance-profile-associations", "--query", "IamInstanceProfileAssociations[].InstanceId",
       check=lambda out: len(out) == 1, source="EC2 API reference, DescribeIamInstanceProfileAssociations"),
    ok("ec2", "describe-instances", "--instance-ids", "{instance}",
       "--query", "Reservations[0].Instances[0].MetadataOptions.HttpTokens",
       check=lambda out: out == "required", source="the lessons' template requires IMDSv2"),
    # --- CloudFormation --------------------------------------------------------------------
    error("cloudformation", "create-stack", "--stack-name", "off-script", "--template-body", "file://{template}",
          "--parameters", "ParameterKey=InstanceProfileName,ParameterValue=for-ec2",
          "ParameterKey=InstanceType,ParameterValue=t2.nano", code="ValidationError",
          message="Parameter 'InstanceType' must be one of AllowedValues", source="aws/aws-sdk-ruby#1414"),
    error("cloudformation", "create-stack", "--stack-name", "off-script", "--template-body", "file://{template}",
          code="ValidationError", message="Parameters: [InstanceProfileName] must have values",
          source="boto/botocore#2598"),
    error("cloudformation", "create-stack", "--stack-name", "off-script", "--template-body", "file://{template}",
          "--parameters", "ParameterKey=InstanceProfileName,ParameterValue=for-ec2",
          "ParameterKey=Colour,ParameterValue=blue", code="ValidationError",
          message="Parameters: [Colour] do not exist in the template", source="buildkite/elastic-ci-stack-for-aws#2"),
    error("cloudformation", "create-stack", "--stack-name", "off-script", "--template-body", "file://{template}",
          "--parameters", "ParameterKey=InstanceProfileName,ParameterValue=for ec2", code="ValidationError",
          message="Parameter 'InstanceProfileName' must match pattern [\\w+=,.@-]+",
          source="bonusbits/cloudformation_templates#6"),
    error("cloudformation", "update-stack", "--stack-name", "stack-for-ec2", "--use-previous-template",
          "--parameters", "ParameterKey=InstanceProfileName,UsePreviousValue=true",
          "ParameterKey=InstanceType,ParameterValue=t2.nano", code="ValidationError",
          message="Parameter 'InstanceType' must be one of AllowedValues",
          source="aws/aws-sdk-ruby#1414 (UpdateStack validates as CreateStack)"),
    error("cloudformation", "describe-stacks", "--stack-name", "no-such-stack", code="ValidationError",
          message="Stack with id no-such-stack does not exist", source="CloudFormation API reference"),
    ok("cloudformation", "describe-stacks", "--stack-name", "stack-for-ec2", "--query", "Stacks[0].StackStatus",
       check=lambda out: out == "CREATE_COMPLETE", source="lesson 03 left it"),
]


def _id(case: Case) -> str:
    return " ".join(case.args[:2] + tuple(a for a in case.args[2:] if not a.startswith(("file://", "{"))))[:80]


def test_the_catalogue_is_large_enough():
    assert len(CATALOGUE) >= 60


@pytest.mark.parametrize("case", CATALOGUE, ids=_id)
def test_off_script(world, case: Case):
    result, elapsed = run_aws(world, *case.args)
    everything = result.stdout + result.stderr
    # Never a server traceback, an HTML page or botocore's retries.
    assert "Traceback" not in everything and "<html" not in everything.lower()
    assert "max retries" not in result.stderr
    assert elapsed < 60
    assert result.returncode == case.rc, everything
    if case.code is not None:
        line = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        assert f"An error occurred ({case.code}) when calling the " in line, everything
        if case.message is not None:
            assert result.stderr.rstrip("\n").endswith(f"operation: {case.message}"), everything
    if "stderr" in case.extra:
        assert result.stderr.strip() == case.extra["stderr"]
    if case.check is not None:
        assert case.check(json.loads(result.stdout)), result.stdout


# --- sequences: what AWS answers after what a learner did ------------------------------


def test_start_session_without_the_plugin_leaves_a_terminated_session(world):
    # awscli/customizations/sessionmanager.py: StartSession, then (no plugin) TerminateSession.
    result, _ = run_aws(world, "ssm", "start-session", "--target", "{instance}")
    assert result.returncode == 255
    history, _ = run_aws(world, "ssm", "describe-sessions", "--state", "History",
                         "--filters", "key=Owner,value=" + LEARNER)
    sessions = json.loads(history.stdout)["Sessions"]
    assert sessions and all(s["Status"] == "Terminated" and s["Target"] == world["instance"] for s in sessions)
    assert all(s["SessionId"].startswith("learner-") and len(s["SessionId"]) == len("learner-") + 17 for s in sessions)
    active, _ = run_aws(world, "ssm", "describe-sessions", "--state", "Active")
    assert json.loads(active.stdout)["Sessions"] == []


def test_a_mistyped_instance_profile_rolls_the_stack_back(world):
    lab = world["lab"]
    ec2 = lab.client("ec2")
    before = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]}
    created, _ = run_aws(world, "cloudformation", "create-stack", "--stack-name", "typo-stack",
                         "--template-body", "file://{template}",
                         "--parameters", "ParameterKey=InstanceProfileName,ParameterValue=for-ec3")
    assert created.returncode == 0 and json.loads(created.stdout)["StackId"].startswith("arn:aws:cloudformation:")
    # The waiter's failure acceptor (botocore waiters-2.json, StackCreateComplete).
    waited, _ = run_aws(world, "cloudformation", "wait", "stack-create-complete", "--stack-name", "typo-stack")
    assert waited.returncode == 255 and "terminal failure state" in waited.stderr
    status, _ = run_aws(world, "cloudformation", "describe-stacks", "--stack-name", "typo-stack",
                        "--query", "Stacks[0].[StackStatus,StackStatusReason]")
    assert json.loads(status.stdout) == [
        "ROLLBACK_COMPLETE",
        "The following resource(s) failed to create: [Instance]. Rollback requested by user.",
    ]
    events, _ = run_aws(world, "cloudformation", "describe-stack-events", "--stack-name", "typo-stack",
                        "--query", "StackEvents[?ResourceStatus=='CREATE_FAILED'].ResourceStatusReason")
    [reason] = json.loads(events.stdout)
    # ZoccoCss/kalisoc#1, hashicorp/terraform-provider-aws#27516: EC2's words.
    assert reason.startswith("Value (for-ec3) for parameter iamInstanceProfile.name is invalid. "
                             "Invalid IAM Instance Profile name (Service: AmazonEC2; Status Code: 400; "
                             "Error Code: InvalidParameterValue; Request ID: ")
    after = {i["InstanceId"] for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]
             if i["State"]["Name"] != "terminated"}
    assert after <= before  # nothing left running
    updated, _ = run_aws(world, "cloudformation", "update-stack", "--stack-name", "typo-stack",
                         "--use-previous-template",
                         "--parameters", "ParameterKey=InstanceProfileName,ParameterValue=for-ec2")
    # bitovi/bitops#128: a rolled-back stack can only be deleted.
    assert updated.returncode == 255 and updated.stderr.strip().endswith(
        "is in ROLLBACK_COMPLETE state and can not be updated.")
    deleted, _ = run_aws(world, "cloudformation", "delete-stack", "--stack-name", "typo-stack")
    assert deleted.returncode == 0
