"""What ``sudo ssm-cli get-diagnostics --output table`` would print on an offline instance.

ssm-cli ships with SSM Agent (aws/amazon-ssm-agent, agent/cli/diagnostics). Its checks, in
its order: EC2 IMDS; Hybrid instance registration; Connectivity to the ssm, ec2messages,
ssmmessages, s3, kms, logs and monitoring endpoints (TCP 443); AWS Credentials (sts
GetCallerIdentity with the agent's credentials); Agent service; Proxy configuration; SSM
Agent version. Each row is Check / Status (Success, Failed, Skipped) / Note, in a box table
at most 80 characters wide with the Note column word-wrapped (diagnosticsutil's
TableFormatter). Here every row comes from ``agent.observe``; where the simulation knows why
a check fails, the reason follows in parentheses after ssm-cli's own note.

ssm-cli does not check permissions: for the blog's missing policy every row passes, and the
AccessDeniedException is in the agent log, printed after the table
(/var/log/amazon/ssm/amazon-ssm-agent.log), as on a real instance.

``diagnose(account_id, region, instance_id)`` works in the process that holds the lab's moto
backends (a notebook's kernel, or ``ssmlab serve``). ``main(args)`` is the
``ssmlab diagnose INSTANCE_ID`` command: in a separate process it asks a running lab over
its endpoint by starting the lab's own Automation document ``ssmlab-GetDiagnostics``, which
the simulation answers with this same text (``automation``; AWS's runbook for "why is my
instance not managed", AWSSupport-TroubleshootManagedInstance, is modelled there too, with
its own report).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime, timedelta, timezone

from botocore.exceptions import BotoCoreError, ClientError

from ..i18n import _
from . import agent

MAX_TABLE_WIDTH = 80  # maxTableWidth in agent/cli/clicommand/getdiagnostics.go
RUNBOOK = "AWSSupport-TroubleshootManagedInstance"
# The lab's own Automation document and output that carry this module's text to another
# process (simulation/automation.py).
DIAGNOSTICS_DOCUMENT = "ssmlab-GetDiagnostics"
DIAGNOSTICS_OUTPUT = "GetDiagnostics.Diagnostics"

SUCCESS, FAILED, SKIPPED = "Success", "Failed", "Skipped"


def rows(state: agent.AgentState) -> list[tuple[str, str, str]]:
    """(Check, Status, Note) rows ssm-cli would print, from the agent's state."""
    region, iid = state.region, state.instance_id
    result: list[tuple[str, str, str]] = []
    if state.imds_enabled:
        result.append((agent.CHECK_IMDS, SUCCESS, f"IMDS is accessible and has instance id {iid} in region {region}"))
    else:
        result.append(
            (
                agent.CHECK_IMDS,
                FAILED,
                "Failed to query IMDS: failed to query instance id from IMDS: EC2MetadataRequestError: "
                "failed to get EC2 instance metadata (MetadataOptions HttpEndpoint is disabled)",
            )
        )
    result.append(("Hybrid instance registration", SKIPPED, "Instance does not have hybrid registration"))
    for service in agent.DIAGNOSED_ENDPOINTS:
        name = f"Connectivity to {service} endpoint"
        address = f"{service}.{region}.amazonaws.com"
        if not state.imds_enabled:  # no agent identity, so no region to build the address
            result.append((name, SKIPPED, "Unable to fetch AWS region details"))
            continue
        ok, how = state.endpoint(service)
        if ok:
            result.append((name, SUCCESS, f"{address} is reachable"))
        else:
            result.append((name, FAILED, f"{address} is not reachable: {agent.dial_timeout(address)} ({how})"))
    result.append(_credentials_row(state))
    if state.agent_phase == agent.AgentPhase.STOPPED:  # agent/cli/diagnostics/service_check_unix.go:42
        result.append((agent.CHECK_AGENT, FAILED, "Agent is installed as a systemctl service but is not running"))
    else:
        result.append((agent.CHECK_AGENT, SUCCESS, "Agent service is running and is running as expected user"))
    result.append(("Proxy configuration", SKIPPED, "No proxy configuration detected"))
    s3_ok, _ = state.endpoint("s3")
    if s3_ok and state.imds_enabled:
        note = f"SSM Agent version is {state.agent_version} which is the latest version"
    else:  # the latest version is read from S3; unreachable, ssm-cli prints the version alone
        note = f"SSM Agent version is {state.agent_version}"
    result.append(("SSM Agent version", SUCCESS, note))
    return result


def _credentials_row(state: agent.AgentState) -> tuple[str, str, str]:
    check = state.check(agent.CHECK_CREDENTIALS)
    if not state.imds_enabled:
        return (agent.CHECK_CREDENTIALS, SKIPPED, "No credentials available")
    if check is not None and check.ok and state.role_name and not state.endpoint("sts")[0]:
        # The check calls sts:GetCallerIdentity with a 2-second timeout and reports a
        # timeout as "STS call timed out" (agent/cli/diagnostics/credentials_check.go:32,69-80).
        return (agent.CHECK_CREDENTIALS, FAILED, "STS call timed out")
    if check is not None and check.ok and state.role_name:
        expires = (agent._now() + timedelta(hours=6)).strftime("%Y-%m-%d %H:%M:%S +0000 UTC")
        note = f"Credentials are for {state.assumed_role_arn} and will expire at {expires}"
        if state.credential_source == agent.SOURCE_DHMC:
            note += f" ({agent.SOURCE_DHMC})"
        return (agent.CHECK_CREDENTIALS, SUCCESS, note)
    reason = check.detail if check is not None else "no credentials"
    return (agent.CHECK_CREDENTIALS, FAILED, f"EC2RoleRequestError: no EC2 instance role found ({reason})")


def render_table(table_rows: list[tuple[str, str, str]], max_width: int = MAX_TABLE_WIDTH) -> str:
    """The box table of diagnosticsutil.TableFormatter: fit to max_width, wrap the Note."""
    columns = ("Check", "Status", "Note")
    widths = [max((len(r[i]) for r in table_rows), default=0) for i in range(3)]
    spacing = 4 + 3 * 2
    if sum(widths) + spacing > max_width:
        widths[2] = max_width - spacing - widths[0] - widths[1]
    longest_word = max((len(w) for r in table_rows for w in r[2].split(" ")), default=0)
    widths[2] = max(widths[2], longest_word)

    def split(left: str, right: str, joint: str) -> str:
        return left + joint.join("─" * (w + 2) for w in widths) + right + "\n"

    def text(cells: tuple[str, str, str]) -> str:
        return "".join(f"│ {cell.ljust(width)} " for cell, width in zip(cells, widths)) + "│\n"

    def wrap(note: str) -> list[str]:
        if len(note) <= widths[2]:
            return [note]
        lines, current = [], ""
        for word in note.replace("\n", " ").replace("\t", " ").split(" "):
            if current and len(current) + 1 + len(word) > widths[2]:
                lines.append(current)
                current = word
            else:
                current = f"{current} {word}" if current else word
        lines.append(current)
        return lines

    out = split("┌", "┐", "┬") + text(columns)
    for check, status, note in table_rows:
        out += split("├", "┤", "┼")
        for index, line in enumerate(wrap(note)):
            out += text((check, status, line) if index == 0 else ("", "", line))
    out += split("└", "┘", "┴")
    return out


def _why_not(state: agent.AgentState) -> str:
    if state.failed_checks:
        return "; ".join(f"{c.name}: {c.detail}" for c in state.failed_checks)
    if state.agent_phase in (agent.AgentPhase.SLEEPING, agent.AgentPhase.HIBERNATING):
        return _(
            "every check passes now, but its agent is backing off after an earlier refusal "
            "({phase}); it retries by itself (within 30 minutes), or at once after "
            "`aws ec2 reboot-instances --instance-ids {instance_id}`"
        ).format(phase=state.agent_phase, instance_id=state.instance_id)
    if state.agent_phase == agent.AgentPhase.STOPPED:
        return _("the amazon-ssm-agent service is stopped (`sudo systemctl start amazon-ssm-agent`)")
    return _("its agent has not registered yet ({phase})").format(phase=state.agent_phase)


def diagnose(account_id: str, region: str, instance_id: str, *, table: bool = True) -> str:
    """The terminal text of ``sudo ssm-cli get-diagnostics --output table`` on the instance,
    followed by the agent's log; ``table=False`` leaves the table out (the log and the
    verdict only)."""
    state = agent.observe(account_id, region, instance_id)
    # The image's default user: admin on Debian's AMIs (Debian wiki, Cloud/AmazonEC2Image), ec2-user on Amazon Linux.
    user = "admin" if state.platform_name == "Debian GNU/Linux" else "ec2-user"
    prompt = f"[{user}@{(state.computer_name or instance_id).split('.')[0]} ~]$ sudo ssm-cli get-diagnostics --output table\n"
    if state.instance_state == "absent":
        return f"ssmlab: no instance {instance_id} in the offline lab's Region {region}.\n"
    if state.instance_state != "running":
        return (
            f"Instance {instance_id} is {state.instance_state}: nothing runs on it, so neither SSM Agent nor "
            "ssm-cli can. Stopped and terminated instances are not managed nodes.\n"
        )
    if not state.agent_installed:
        return (
            prompt
            + "sudo: ssm-cli: command not found\n"
            + f"\nThe AMI ({state.image_name}) does not ship SSM Agent, so there is no ssm-cli and no agent log "
            "(AWS doc: Find AMIs with the SSM Agent preinstalled).\n"
            + "\n" + _("ssmlab: {instance_id} is NOT registered with Systems Manager: {why}").format(
                instance_id=instance_id, why=_why_not(state)) + "\n"
        )
    out = (prompt + render_table(rows(state)) + "\n") if table else ""
    out += f"[{user}@~]$ sudo tail /var/log/amazon/ssm/amazon-ssm-agent.log\n"
    out += "\n".join(state.log) + "\n"
    verdict = (
        "\n" + _("ssmlab: {instance_id} is registered with Systems Manager (PingStatus {ping}{source}).").format(
            instance_id=instance_id, ping=state.ping_status,
            source=_("; credentials from the {source}").format(source=state.credential_source)
            if state.credential_source else "") + "\n"
        if state.registered
        else "\n" + _("ssmlab: {instance_id} is NOT registered with Systems Manager: {why}").format(
            instance_id=instance_id, why=_why_not(state)) + "\n"
    )
    return out + verdict


# ---------------------------------------------------------------------------------------
# ssmlab diagnose INSTANCE_ID


def _in_process_lab():
    """(account_id, region) of a lab whose moto backends live in this process, or None."""
    from . import world

    local = world.local_lab()  # registered by ssmlab.lab, which this module does not import
    return None if local is None else (local[0], local[1])


def _ask_endpoint(endpoint: str, instance_id: str, region: str) -> str:
    import boto3

    ssm = boto3.client(
        "ssm",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "ssmlab"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "ssmlab"),
    )
    execution_id = ssm.start_automation_execution(
        DocumentName=DIAGNOSTICS_DOCUMENT, Parameters={"InstanceId": [instance_id]}
    )["AutomationExecutionId"]
    for _ in range(50):
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        if execution["AutomationExecutionStatus"] not in ("Pending", "InProgress"):
            return "".join(execution.get("Outputs", {}).get(DIAGNOSTICS_OUTPUT, []))
        time.sleep(0.1)
    raise TimeoutError(f"{DIAGNOSTICS_DOCUMENT} did not finish")


def main(args: argparse.Namespace | list[str] | None = None) -> int:
    """``ssmlab diagnose INSTANCE_ID [--endpoint URL]``: print the diagnostics; exit 0 when
    the instance is registered, 1 when not, 2 when the lab cannot be reached."""
    if not isinstance(args, argparse.Namespace):
        parser = argparse.ArgumentParser(prog="ssmlab diagnose")
        parser.add_argument("instance_id")
        parser.add_argument("--endpoint")
        args = parser.parse_args(args)
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    local = _in_process_lab()
    endpoint = getattr(args, "endpoint", None) or os.environ.get("AWS_ENDPOINT_URL")
    if local is not None and (not endpoint or endpoint == _local_endpoint()):
        text = diagnose(local[0], local[1], args.instance_id)
    elif endpoint:
        try:
            text = _ask_endpoint(endpoint, args.instance_id, region)
        except (BotoCoreError, ClientError, TimeoutError) as exc:  # reported to the learner, not raised
            print(f"ssmlab diagnose: could not ask the offline lab at {endpoint}: {exc}", file=sys.stderr)
            return 2
    else:
        print(
            "ssmlab diagnose: no offline lab to ask. Start one with `ssmlab serve` and export the "
            "AWS_ENDPOINT_URL it prints (or pass --endpoint).",
            file=sys.stderr,
        )
        return 2
    print(text, end="")
    return 0 if "is registered with Systems Manager" in text else 1


def _local_endpoint() -> str | None:
    from . import world

    local = world.local_lab()
    return None if local is None else local[2]
