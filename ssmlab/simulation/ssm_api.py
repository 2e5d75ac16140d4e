"""Systems Manager APIs moto lacks or gets wrong, answered from the simulated agent.

moto 5.2.5 dispatches each JSON-protocol action to the method of
``moto.ssm.responses.SimpleSystemManagerResponse`` named after it in snake_case
(``BaseResponse.call_action``), both under ``mock_aws`` and in the moto server. ``install()``
adds or replaces these methods (docs/aws-facts.md#core-7 lists the gaps):

- ``DescribeInstanceInformation``: moto does not implement it. Here: the running instances
  whose simulated agent has registered (``agent.observe``), Online or, once heartbeats are
  late, ConnectionLost, with AWS's fields; the others are absent, as on AWS (docs/aws-facts.md#core-5).
- ``GetConnectionStatus``: not in moto. ``connected`` when the agent is registered and can
  open the Session Manager channel (ssmmessages), else ``notconnected``.
- ``SendCommand``: moto always succeeds, targets every instance and accepts unknown
  instances and documents. Here: only the named instances or those matched by Targets;
  an instance that is not a managed node → ``InvalidInstanceId`` (HTTP 400); an unknown
  document → ``InvalidDocument``. Invocations start ``Pending`` and move on with the lab
  clock (``commands``); ``AWS-RunShellScript`` output comes from ``instance_shell`` when the
  agent receives the command.
- ``GetCommandInvocation`` / ``ListCommandInvocations`` (the latter missing in moto).
  SendCommand's printed fields, its ``InvalidParameters`` and the message-less errors
  follow botocore's model and the CLI's examples (docs/aws-facts.md#send-command);
  DescribeInstanceInformation's filters too (docs/aws-facts.md#describe-instance-information).
- ``StartSession`` / ``TerminateSession`` / ``DescribeSessions``: missing in moto. A session
  record per start, ``TargetNotConnected`` unless the node may open a session
  (docs/aws-facts.md#session-manager). :func:`start_session` and :func:`terminate_session`
  are public for ``ssmlab session``.
- ``GetServiceSetting`` / ``UpdateServiceSetting`` / ``ResetServiceSetting``: missing in
  moto; needed for Default Host Management Configuration (docs/aws-facts.md#core-3).
- Automation (the runbook AWSSupport-TroubleshootManagedInstance): ``automation``.

The simulation's own state (service settings, invocations) lives on moto's SSM backend
object, so moto's reset clears it too; ``reset()`` clears it explicitly.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from . import _moto, agent, clock, commands, shell_bounds, world
from ._moto import ActionResult, mock_random
from .instance_shell import InstanceShell
from .world import service_setting_value  # noqa: F401 - part of this module's answers
from .world import setting_key as _setting_key
from .world import ssm_backend as _ssm_backend
from .world import state as _state

_installed = False

# AWS-owned Command documents the lab accepts by name (they exist in every Region on AWS;
# moto ships none). Only the two script runners execute anything in the simulation.
AWS_COMMAND_DOCUMENTS = {
    "AWS-RunShellScript": ("aws:runShellScript", "Linux"),
    "AWS-RunPowerShellScript": ("aws:runPowerShellScript", "Windows"),
    "AWS-UpdateSSMAgent": ("aws:updateSsmAgent", None),
    "AWS-ConfigureAWSPackage": ("configurePackage", None),
    "AWS-RunPatchBaseline": ("PatchLinux", None),
}

# Documented service settings and their defaults (Systems Manager API reference,
# GetServiceSetting). An unset DHMC role reads "$None".
SERVICE_SETTING_DEFAULTS = {
    "/ssm/managed-instance/default-ec2-instance-management-role": "$None",
    "/ssm/automation/customer-script-log-destination": "None",
    "/ssm/automation/customer-script-log-group-name": "",
    "/ssm/documents/console/public-sharing-permission": "Enable",
    "/ssm/managed-instance/activation-tier": "standard",
    "/ssm/opsinsights/opscenter": "Disabled",
    "/ssm/parameter-store/default-parameter-tier": "Standard",
    "/ssm/parameter-store/high-throughput-enabled": "false",
}


# ---------------------------------------------------------------------------------------
# Errors, raised the moto way: a ServiceException is serialised with its code (HTTP 400).


InvalidInstanceId = _moto.service_error("InvalidInstanceId")
InvalidDocument = _moto.service_error("InvalidDocument")
InvalidCommandId = _moto.service_error("InvalidCommandId")
InvocationDoesNotExist = _moto.service_error("InvocationDoesNotExist")
InvalidFilterKey = _moto.service_error("InvalidFilterKey")
InvalidInstanceInformationFilterValue = _moto.service_error("InvalidInstanceInformationFilterValue")
InvalidParameters = _moto.service_error("InvalidParameters")
TargetNotConnected = _moto.service_error("TargetNotConnected")
DoesNotExistException = _moto.service_error("DoesNotExistException")
ServiceSettingNotFound = _moto.service_error("ServiceSettingNotFound")
ValidationException = _moto.service_error("ValidationException")


# ---------------------------------------------------------------------------------------
# Handlers (bound as methods of SimpleSystemManagerResponse)


def _now() -> datetime:
    # The lab clock (simulation/clock.py): virtual time, moved on by each request.
    return clock.now()


def _instance_information(state: agent.AgentState) -> dict[str, Any]:
    # Field set of InstanceInformation for an EC2 managed node (SSM API reference).
    return {
        "InstanceId": state.instance_id,
        "PingStatus": state.ping_status,
        "LastPingDateTime": state.last_ping,  # frozen once heartbeats stop
        "AgentVersion": state.agent_version,
        # Newer agents than the lab's exist by now (docs/aws-facts.md#time-and-the-agent-clock).
        "IsLatestVersion": False,
        "PlatformType": state.platform_type,
        "PlatformName": state.platform_name,
        "PlatformVersion": state.platform_version,
        "ResourceType": "EC2Instance",
        "IPAddress": state.ip_address,
        "ComputerName": state.computer_name,
        "SourceId": state.instance_id,
        "SourceType": "AWS::EC2::Instance",
    }


def _tags_of(account_id: str, region: str, instance_id: str) -> dict[str, str]:
    ec2 = _moto.ec2_backend(account_id, region)
    return {t["key"]: t["value"] for t in ec2.describe_tags(filters={"resource-id": [instance_id]})}


def _matches(info: dict[str, Any], key: str, values: list[str], state, account_id, region) -> bool:
    if key == "InstanceIds":
        return info["InstanceId"] in values
    if key == "PingStatus":
        return info["PingStatus"] in values
    if key in ("PlatformTypes", "PlatformType"):
        return info["PlatformType"] in values
    if key == "ResourceType":
        return info["ResourceType"] in values
    if key == "AgentVersion":
        return info["AgentVersion"] in values
    if key == "IamRole":
        return state.role_name in values
    if key == "SourceIds":
        return info["SourceId"] in values
    if key == "SourceTypes":
        return info["SourceType"] in values
    if key in ("AssociationStatus", "ActivationIds"):
        # The lab's nodes have no State Manager associations and are EC2 instances, never
        # activated hybrid nodes: neither AssociationStatus nor ActivationId is in their
        # InstanceInformation, so such a filter matches none of them.
        return False
    if key.startswith("tag:"):
        return _tags_of(account_id, region, info["InstanceId"]).get(key[4:]) in values
    if key == "tag-key":
        return any(k in values for k in _tags_of(account_id, region, info["InstanceId"]))
    raise InvalidFilterKey("")  # botocore's InvalidFilterKey shape has no message member


# DescribeInstanceInformation's filter keys (botocore ssm model,
# InstanceInformationStringFilter.Key; the legacy list's InstanceInformationFilterKey enum
# is a subset), and ResourceType's values: docs/aws-facts.md#describe-instance-information.
INSTANCE_INFORMATION_FILTER_KEYS = (
    "ActivationIds", "AgentVersion", "AssociationStatus", "IamRole", "InstanceIds",
    "PingStatus", "PlatformTypes", "ResourceType", "SourceIds", "SourceTypes",
)
RESOURCE_TYPES = ("EC2Instance", "ManagedInstance")


def instance_information_filters(legacy: list[dict] | None, filters: list[dict] | None) -> list[tuple[str, list[str]]]:
    """The (key, values) pairs of a DescribeInstanceInformation request, validated as AWS does.

    - ``InstanceInformationFilterList`` together with ``Filters``: an error (botocore model:
      "Attempting to use InstanceInformationFilterList and Filters leads to an exception
      error").
    - ``ResourceType``: one value, EC2Instance or ManagedInstance
      (``InvalidInstanceInformationFilterValue``, boto/boto3#3027, aws/aws-sdk#130).
    - a tag filter with any other filter: ``ValidationException`` "Cannot mix tag or
      inventory filter with any other filter." (danmx/sigil#61; botocore model: "Tag
      filters can't be combined with other filter types").
    - any other key: ``InvalidFilterKey`` (no message: its shape has none).
    """
    if legacy and filters:
        raise ValidationException(
            "InstanceInformationFilterList and Filters cannot be used together; use Filters."
        )
    pairs = [(item.get("key"), item.get("valueSet", []) or []) for item in legacy or []]
    pairs += [(item.get("Key"), item.get("Values", []) or []) for item in filters or []]
    for key, values in pairs:
        if not (key in INSTANCE_INFORMATION_FILTER_KEYS or key == "tag-key" or str(key).startswith("tag:")):
            raise InvalidFilterKey("")
        if key == "ResourceType":
            if len(values) != 1:
                raise InvalidInstanceInformationFilterValue("ResourceType filter may contain only one value.")
            if values[0] not in RESOURCE_TYPES:
                raise InvalidInstanceInformationFilterValue(
                    "ResourceType filter is invalid, valid values are EC2Instance, ManagedInstance"
                )
    tags = [key for key, _ in pairs if key == "tag-key" or key.startswith("tag:")]
    if tags and len(tags) != len(pairs):
        raise ValidationException("Cannot mix tag or inventory filter with any other filter.")
    return pairs


def describe_instance_information(self) -> ActionResult:
    account_id, region = self.current_account, self.region
    filters = instance_information_filters(
        self._get_param("InstanceInformationFilterList"), self._get_param("Filters")
    )
    result = []
    for state in agent.managed_instances(account_id, region):
        info = _instance_information(state)
        if all(_matches(info, key, values, state, account_id, region) for key, values in filters):
            result.append(info)
    max_results = self._get_param("MaxResults")
    start = int(self._get_param("NextToken") or 0)
    response: dict[str, Any] = {}
    if max_results:
        page = result[start : start + int(max_results)]
        if start + int(max_results) < len(result):
            response["NextToken"] = str(start + int(max_results))
    else:
        page = result[start:]
    response["InstanceInformationList"] = page
    return ActionResult(response)


def session_target_connected(account_id: str, region: str, target: str) -> bool:
    """May Session Manager open a session to ``target`` now? (GetConnectionStatus, StartSession)

    The node is managed and its agent can open the ssmmessages channel.
    """
    state = agent.observe(account_id, region, target)
    return state.registered and state.session_channel


def get_connection_status(self) -> ActionResult:
    target = self._get_param("Target")
    connected = session_target_connected(self.current_account, self.region, target)
    return ActionResult({"Target": target, "Status": "connected" if connected else "notconnected"})


# ---------------------------------------------------------------------------------------
# Session Manager: StartSession, TerminateSession, DescribeSessions
# (docs/aws-facts.md#session-manager). A session is a record on the SSM backend; no data
# channel exists offline (`ssmlab session` opens the simulated shell beside a record).

# Session documents AWS owns (Session Manager User Guide, "Session document schema");
# without DocumentName a shell session starts (SSM-SessionManagerRunShell).
SESSION_DOCUMENTS = (
    "SSM-SessionManagerRunShell",
    "AWS-StartSSHSession",
    "AWS-StartPortForwardingSession",
    "AWS-StartPortForwardingSessionToRemoteHost",
    "AWS-StartInteractiveCommand",
    "AWS-StartNonInteractiveCommand",
)
ACTIVE_SESSION_STATUSES = ("Connected", "Connecting", "Disconnected", "Terminating")


def _sessions(account_id: str, region: str) -> dict[str, dict[str, Any]]:
    return _state(_ssm_backend(account_id, region)).setdefault("sessions", {})


def start_session(
    account_id: str,
    region: str,
    target: str,
    caller: str,
    document_name: str | None = None,
    reason: str | None = None,
) -> dict[str, str]:
    """Open a Session Manager session record; return StartSession's answer.

    ``caller`` is the ARN of who starts it (an IAM user's or an assumed-role session's):
    the session is theirs (``Owner``) and its id is ``<name>-<17 hex digits>`` with the
    ARN's last part as name, as AWS names sessions ("John-07a16060613c408b5", the AWS CLI's
    bundled describe-sessions example). Raises ``TargetNotConnected`` ("<target> is not
    connected.", aws/session-manager-plugin#5) unless the node is managed and may open a
    session now, and ``InvalidDocument`` for a document that is not a session document.
    Returns ``{"SessionId", "TokenValue", "StreamUrl"}``.
    """
    if document_name and document_name not in SESSION_DOCUMENTS:
        raise InvalidDocument("The specified document does not exist.")
    if not session_target_connected(account_id, region, target):
        raise TargetNotConnected(f"{target} is not connected.")
    name = caller.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    session_id = f"{name}-0{mock_random.get_random_hex(16)}"
    record: dict[str, Any] = {
        "SessionId": session_id,
        "Target": target,
        "Status": "Connected",
        "StartDate": _now(),
        "Owner": caller,
        "OutputUrl": {},
    }
    if document_name:
        record["DocumentName"] = document_name
    if reason:
        record["Reason"] = reason
    _sessions(account_id, region)[session_id] = record
    return {
        "SessionId": session_id,
        "TokenValue": mock_random.get_random_hex(64),
        # Format documented in StartSessionResponse.StreamUrl (botocore ssm model).
        "StreamUrl": f"wss://ssmmessages.{region}.amazonaws.com/v1/data-channel/{session_id}?stream=input",
    }


def terminate_session(account_id: str, region: str, session_id: str) -> dict[str, str]:
    """End a session (Status Terminated, EndDate now); return TerminateSession's answer.

    TerminateSession lists no not-found error (botocore model: InternalServerError only):
    an unknown or already terminated id answers with the id as well.
    """
    record = _sessions(account_id, region).get(session_id)
    if record is not None and record["Status"] in ACTIVE_SESSION_STATUSES:
        record["Status"] = "Terminated"
        record["EndDate"] = _now()
    return {"SessionId": session_id}


def describe_sessions(account_id: str, region: str, state: str, filters: list[dict] | None = None) -> list[dict[str, Any]]:
    """DescribeSessions' list: ``Active`` (connected or disconnected) or ``History``, newest
    first, narrowed by the SessionFilter keys of the botocore model."""
    if state not in ("Active", "History"):
        raise ValidationException(
            f"1 validation error detected: Value '{state}' at 'state' failed to satisfy "
            "constraint: Member must satisfy enum value set: [Active, History]"
        )
    found = []
    for record in _sessions(account_id, region).values():
        active = record["Status"] in ACTIVE_SESSION_STATUSES
        if active != (state == "Active"):
            continue
        if all(_session_matches(record, item.get("key"), item.get("value")) for item in filters or []):
            found.append(dict(record))
    return sorted(found, key=lambda r: r["StartDate"], reverse=True)


def _session_matches(record: dict[str, Any], key: str | None, value: str | None) -> bool:
    if key in ("InvokedAfter", "InvokedBefore"):
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationException(f"Invalid value for filter {key}: {value}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return record["StartDate"] >= moment if key == "InvokedAfter" else record["StartDate"] < moment
    if key == "AccessType":
        return value == "Standard"
    if key in ("Target", "Owner", "Status", "SessionId"):
        return record.get(key) == value
    raise InvalidFilterKey("")


def start_session_action(self) -> ActionResult:
    return ActionResult(start_session(
        self.current_account,
        self.region,
        self._get_param("Target"),
        _moto.caller_arn(self),
        document_name=self._get_param("DocumentName"),
        reason=self._get_param("Reason"),
    ))


def terminate_session_action(self) -> ActionResult:
    return ActionResult(terminate_session(self.current_account, self.region, self._get_param("SessionId")))


def describe_sessions_action(self) -> ActionResult:
    sessions = describe_sessions(
        self.current_account, self.region, self._get_param("State"), self._get_param("Filters")
    )
    max_results = int(self._get_param("MaxResults") or 200)
    start = int(self._get_param("NextToken") or 0)
    response: dict[str, Any] = {"Sessions": sessions[start : start + max_results]}
    if start + max_results < len(sessions):
        response["NextToken"] = str(start + max_results)
    return ActionResult(response)


def _document_exists(backend, name: str) -> bool:
    return name in AWS_COMMAND_DOCUMENTS or name in backend._documents


def _resolve_targets(account_id: str, region: str, targets: list[dict[str, Any]]) -> list[str]:
    """Managed nodes matched by Targets (SSM doc "Targeting managed nodes")."""
    managed = agent.managed_instances(account_id, region)
    ids: list[str] = []
    for target in targets:
        key, values = target.get("Key", ""), target.get("Values", [])
        for state in managed:
            if key == "InstanceIds" and state.instance_id in values:
                ids.append(state.instance_id)
            elif key.startswith("tag:") and _tags_of(account_id, region, state.instance_id).get(key[4:]) in values:
                ids.append(state.instance_id)
            elif key == "tag-key" and any(k in values for k in _tags_of(account_id, region, state.instance_id)):
                ids.append(state.instance_id)
    return ids


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _run_invocation(state: agent.AgentState, command_id: str, document: str, parameters: dict,
                    execution_timeout: float = commands.DEFAULT_EXECUTION_TIMEOUT) -> dict[str, Any]:
    """The script's result on the node, as its agent runs it at delivery, stopped at its
    ``execution_timeout`` (docs/aws-facts.md#bounds-on-what-an-instance-runs)."""
    plugin, platform = AWS_COMMAND_DOCUMENTS.get(document, ("aws:runDocument", None))
    if platform is not None and platform != state.platform_type:
        return dict(
            code=-1,
            out="",
            err=f"Step execution skipped due to incompatible platform. Step name: {plugin.split(':')[-1]}",
        )
    if document == "AWS-RunShellScript":
        lines = parameters.get("commands", [])
        result = InstanceShell(state, command_id, execution_timeout=execution_timeout).run(lines)
        run = dict(code=result.exit_code, out=result.stdout, err=result.stderr)
        if result.duration is not None:
            # The agent's own part (writing the script, starting sh) is RUN_SECONDS at least.
            run["duration"] = max(commands.RUN_SECONDS, result.duration)
        return run
    return dict(
        code=1,
        out="",
        err=f"ssmlab: the offline instance does not run document {document}; only AWS-RunShellScript is simulated",
    )


def _invocation(account_id: str, region: str, iid: str, command_id: str, document: str, parameters: dict,
                requested: datetime, delivery_timeout: int) -> commands.Invocation:
    plugin = AWS_COMMAND_DOCUMENTS.get(document, ("aws:runDocument", None))[0]
    execution_timeout = shell_bounds.execution_timeout(parameters.get("executionTimeout"))
    return commands.track(commands.Invocation(
        command_id=command_id,
        instance_id=iid,
        plugin=plugin,
        requested=requested,
        delivery_timeout=delivery_timeout,
        execution_timeout=execution_timeout,
        connected=lambda now: agent.machine_for(account_id, region, iid).connected(now),
        run=lambda: _run_invocation(agent.observe(account_id, region, iid), command_id, document, parameters,
                                    execution_timeout),
    ))


def send_command(self) -> ActionResult:
    from ._moto import Command

    account_id, region = self.current_account, self.region
    backend = self.ssm_backend
    document = self._get_param("DocumentName")
    instance_ids = list(self._get_param("InstanceIds", []) or [])
    targets = self._get_param("Targets", []) or []
    parameters = self._get_param("Parameters", {}) or {}
    if not document or not _document_exists(backend, document):
        raise InvalidDocument("The specified document does not exist.")
    if not instance_ids and not targets:
        raise ValidationException("InstanceIds or Targets must be specified.")
    check_document_parameters(document, parameters)
    managed = {s.instance_id: s for s in agent.managed_instances(account_id, region)}
    invalid = [iid for iid in instance_ids if iid not in managed]
    if invalid:
        # AWS: InvalidInstanceId when a node is not managed (not registered, stopped,
        # terminated, or in another Region) — SSM API reference, SendCommand errors.
        raise InvalidInstanceId(
            f"Instances [[{', '.join(invalid)}]] not in a valid state for account {account_id}"
        )
    resolved = list(dict.fromkeys(instance_ids + _resolve_targets(account_id, region, targets)))

    command = Command(
        account_id=account_id,
        comment=self._get_param("Comment", ""),
        document_name=document,
        timeout_seconds=self._get_int_param("TimeoutSeconds"),
        instance_ids=[],
        max_concurrency=self._get_param("MaxConcurrency", "50"),
        max_errors=self._get_param("MaxErrors", "0"),
        output_s3_bucket_name=self._get_param("OutputS3BucketName", ""),
        output_s3_key_prefix=self._get_param("OutputS3KeyPrefix", ""),
        output_s3_region=self._get_param("OutputS3Region", ""),
        parameters=parameters,
        service_role_arn=self._get_param("ServiceRoleArn", ""),
        targets=[],
        backend_region=region,
    )
    started = _now()
    command.targets = targets
    command.instance_ids = resolved
    command.requested_date_time = started
    delivery_timeout = self._get_int_param("TimeoutSeconds") or commands.DEFAULT_DELIVERY_TIMEOUT
    command.timeout_seconds = delivery_timeout
    command.expires_after = started + timedelta(seconds=delivery_timeout)
    runs = {
        # Pending now; delivered, run and finished as the lab clock moves (commands.py).
        iid: _invocation(account_id, region, iid, command.command_id, document, parameters, started, delivery_timeout)
        for iid in resolved
    }
    command.invocations = []
    _state(backend)["invocations"][command.command_id] = {
        "runs": runs,
        "started": started,
        "comment": command.comment,
        "document": document,
    }
    command.target_count = len(resolved)
    commands.refresh(command, runs, started)
    backend._commands.append(command)
    # SendCommand itself answers while the command is still Pending, counts at 0.
    # SendCommand answers while the command is Pending (commands.refresh at its own time).
    response = _command_response(command)
    response.update(sent_command_fields(self))
    return ActionResult({"Command": response})


# The parameters of the script runners (their documents' "parameters": commands required,
# workingDirectory and executionTimeout optional): docs/aws-facts.md#send-command.
DOCUMENT_PARAMETERS = {
    "AWS-RunShellScript": ({"commands"}, {"workingDirectory", "executionTimeout"}),
    "AWS-RunPowerShellScript": ({"commands"}, {"workingDirectory", "executionTimeout"}),
}


def check_document_parameters(document: str, parameters: dict[str, Any]) -> None:
    """``InvalidParameters`` when a required parameter is missing or an unknown one is given.

    botocore model, InvalidParameters: "You must specify values for all required
    parameters in the SSM document. You can only supply values to parameters defined in
    the SSM document." AWS sends it without a message (claranet/ssha#71), so the CLI's
    line ends after "SendCommand operation:".
    """
    known = DOCUMENT_PARAMETERS.get(document)
    if known is None:
        return
    required, optional = known
    given = {name for name, values in parameters.items() if values}
    if not required <= given or set(parameters) - required - optional:
        raise InvalidParameters("")


def sent_command_fields(response) -> dict[str, Any]:
    """SendCommand's Command fields that moto fills with placeholders or leaves out.

    What the request asked, else AWS's empties, as in the AWS CLI's bundled example
    (awscli/examples/ssm/send-command.rst): ``DocumentVersion: ""``,
    ``NotificationConfig: {NotificationArn: "", NotificationEvents: [],
    NotificationType: ""}``, ``CloudWatchOutputConfig: {CloudWatchLogGroupName: "",
    CloudWatchOutputEnabled: false}`` (moto: "string" and ["Success"]).
    """
    notification = response._get_param("NotificationConfig") or {}
    cloudwatch = response._get_param("CloudWatchOutputConfig") or {}
    return {
        "DocumentVersion": response._get_param("DocumentVersion") or "",
        "NotificationConfig": {
            "NotificationArn": notification.get("NotificationArn", ""),
            "NotificationEvents": notification.get("NotificationEvents", []),
            "NotificationType": notification.get("NotificationType", ""),
        },
        "CloudWatchOutputConfig": {
            "CloudWatchLogGroupName": cloudwatch.get("CloudWatchLogGroupName", ""),
            "CloudWatchOutputEnabled": bool(cloudwatch.get("CloudWatchOutputEnabled", False)),
        },
    }


def _invocation_record(backend, command_id: str) -> dict[str, Any]:
    record = _state(backend)["invocations"].get(command_id)
    if record is None:
        raise InvalidCommandId("Invalid command id.")  # moto's and AWS's code
    return record


def _plugin_output(run: dict[str, Any]) -> str:
    # Console/CLI "Output": stdout, then stderr after the ERROR separator (24,000 chars max).
    text = run["out"]
    if run["err"]:
        text += "\n----------ERROR-------\n" + run["err"]
    return text[:24000]


def get_command_invocation(self) -> ActionResult:
    command_id = self._get_param("CommandId")
    instance_id = self._get_param("InstanceId")
    plugin_name = self._get_param("PluginName")
    record = _invocation_record(self.ssm_backend, command_id)
    invocation = record["runs"].get(instance_id)
    if invocation is None or (plugin_name and plugin_name != invocation.plugin):
        # No message: botocore's InvocationDoesNotExist shape has none, and AWS sends none
        # (aws/aws-sdk#86, guardian/ssm-scala#34); docs/aws-facts.md#send-command.
        raise InvocationDoesNotExist("")
    run = dict(invocation.view(_now()), plugin=invocation.plugin)
    response = {
        "CommandId": command_id,
        "InstanceId": instance_id,
        "Comment": record["comment"],
        "DocumentName": record["document"],
        "DocumentVersion": "$DEFAULT",
        "PluginName": run["plugin"],
        "ResponseCode": run["code"],
        "ExecutionStartDateTime": _iso(run["start"]) if run["start"] else "",
        "ExecutionElapsedTime": _elapsed(run["start"], run["end"]),
        "ExecutionEndDateTime": _iso(run["end"]) if run["end"] else "",
        "Status": run["status"],
        "StatusDetails": run["details"],
        "StandardOutputContent": run["out"][:24000],
        "StandardOutputUrl": "",
        "StandardErrorContent": run["err"][:8000],
        "StandardErrorUrl": "",
        "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
    }
    return ActionResult(response)


def _elapsed(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return ""
    return f"PT{(end - start).total_seconds():.3f}S"


def refresh_commands(backend) -> None:
    """Bring moto's Command objects (ListCommands) up to the lab clock."""
    now = _now()
    for command in backend._commands:
        record = _state(backend)["invocations"].get(command.command_id)
        if record is not None:
            commands.refresh(command, record["runs"], now)


def _command_response(command) -> dict[str, Any]:
    response = command.response_object()
    response["DeliveryTimedOutCount"] = getattr(command, "delivery_timed_out_count", 0)
    return response


def list_commands(self) -> ActionResult:
    """moto's ListCommands, on Command objects brought up to the lab clock."""
    backend = self.ssm_backend
    refresh_commands(backend)
    found = backend.list_commands(self._get_param("CommandId"), self._get_param("InstanceId"))
    return ActionResult({"Commands": [_command_response(command) for command in found]})


def list_command_invocations(self) -> ActionResult:
    backend = self.ssm_backend
    command_id = self._get_param("CommandId")
    instance_id = self._get_param("InstanceId")
    details = bool(self._get_param("Details", False))
    invocations = []
    for command in backend._commands:
        if command_id and command.command_id != command_id:
            continue
        record = _state(backend)["invocations"].get(command.command_id)
        if record is None:
            continue
        for iid, invocation in record["runs"].items():
            if instance_id and iid != instance_id:
                continue
            started = record["started"]
            run = dict(invocation.view(_now()), plugin=invocation.plugin)
            invocation = {
                "CommandId": command.command_id,
                "InstanceId": iid,
                "InstanceName": "",
                "Comment": record["comment"],
                "DocumentName": record["document"],
                "DocumentVersion": "$DEFAULT",
                "RequestedDateTime": started,
                "Status": run["status"],
                "StatusDetails": run["details"],
                "StandardOutputUrl": "",
                "StandardErrorUrl": "",
                "CommandPlugins": [],
                "ServiceRole": command.service_role_arn,
                "NotificationConfig": {"NotificationArn": "", "NotificationEvents": [], "NotificationType": ""},
                "CloudWatchOutputConfig": {"CloudWatchLogGroupName": "", "CloudWatchOutputEnabled": False},
            }
            if details:
                plugin = {
                    "Name": run["plugin"],
                    "Status": run["status"],
                    "StatusDetails": run["details"],
                    "ResponseCode": run["code"],
                    "Output": _plugin_output(run),
                    "StandardOutputUrl": "",
                    "StandardErrorUrl": "",
                    "OutputS3Region": region_of(self),
                    "OutputS3BucketName": "",
                    "OutputS3KeyPrefix": "",
                }
                if run["start"] is not None:
                    plugin["ResponseStartDateTime"] = run["start"]
                if run["end"] is not None:
                    plugin["ResponseFinishDateTime"] = run["end"]
                invocation["CommandPlugins"] = [plugin]
            invocations.append(invocation)
    if command_id and not invocations and _state(backend)["invocations"].get(command_id) is None:
        raise InvalidCommandId("Invalid command id.")
    return ActionResult({"CommandInvocations": invocations})


def region_of(response) -> str:
    return response.region


def _setting_response(self, key: str) -> dict[str, Any]:
    entry = _state(self.ssm_backend)["settings"].get(key)
    arn = f"arn:aws:ssm:{self.region}:{self.current_account}:servicesetting{key}"
    if entry is None:
        return {
            "SettingId": key,
            "SettingValue": SERVICE_SETTING_DEFAULTS[key],
            "LastModifiedDate": datetime(2019, 1, 1, tzinfo=timezone.utc),
            "LastModifiedUser": "System",
            "ARN": arn,
            "Status": "Default",
        }
    return {"SettingId": key, "ARN": arn, "Status": "Customized", **entry}


def _known_setting(setting_id: str | None) -> str:
    key = _setting_key(setting_id or "")
    if key not in SERVICE_SETTING_DEFAULTS:
        raise ServiceSettingNotFound(f"The service setting {setting_id} was not found.")
    return key


def get_service_setting(self) -> ActionResult:
    key = _known_setting(self._get_param("SettingId"))
    return ActionResult({"ServiceSetting": _setting_response(self, key)})


def update_service_setting(self) -> ActionResult:
    key = _known_setting(self._get_param("SettingId"))
    value = self._get_param("SettingValue")
    if value is None:
        raise ValidationException("1 validation error detected: Value null at 'settingValue' failed to satisfy constraint: Member must not be null")
    _state(self.ssm_backend)["settings"][key] = {
        "SettingValue": value,
        "LastModifiedDate": _now(),
        "LastModifiedUser": f"arn:aws:iam::{self.current_account}:root",
    }
    return ActionResult({})


def reset_service_setting(self) -> ActionResult:
    key = _known_setting(self._get_param("SettingId"))
    _state(self.ssm_backend)["settings"].pop(key, None)
    return ActionResult({"ServiceSetting": _setting_response(self, key)})


_HANDLERS = {
    "describe_instance_information": describe_instance_information,
    "get_connection_status": get_connection_status,
    "start_session": start_session_action,
    "terminate_session": terminate_session_action,
    "describe_sessions": describe_sessions_action,
    "send_command": send_command,
    "get_command_invocation": get_command_invocation,
    "list_command_invocations": list_command_invocations,
    "list_commands": list_commands,
    "get_service_setting": get_service_setting,
    "update_service_setting": update_service_setting,
    "reset_service_setting": reset_service_setting,
}


def install() -> None:
    """Add the handlers to moto's SSM response class (idempotent)."""
    global _installed
    from ._moto import SimpleSystemManagerResponse

    for name, handler in _HANDLERS.items():
        setattr(SimpleSystemManagerResponse, name, handler)
    _installed = True


def reset() -> None:
    """Forget service settings and command invocations in every loaded SSM backend."""
    world.forget_ssm_state()
