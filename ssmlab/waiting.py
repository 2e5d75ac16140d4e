"""Waiting on a real account: IAM's eventual consistency, stacks, Systems Manager.

Offline, waiting for Systems Manager moves the lab clock instead of sleeping (virtual
time, ``simulation/clock.py``); on AWS (docs/aws-facts.md#core-6):

- A new instance profile may be unknown to EC2 for a minute or two, even after IAM's
  ``instance_profile_exists`` waiter passes: RunInstances (directly, or inside a
  CloudFormation stack) fails with ``Invalid IAM Instance Profile name`` or
  ``has no associated IAM Roles`` (hashicorp/packer#12303, hashicorp/terraform#11678).
  :func:`install` makes the lab's clients retry, with backoff, on exactly these two
  errors; :func:`create_stack` does the same for a stack that rolled back for them.
- Throttling is botocore's: the lab's clients use its ``adaptive`` retry mode.
- A stack that fails says why in its events: :func:`stack_failure`.
- Registration with Systems Manager takes a minute or two after boot, longer when the
  agent backed off: :func:`wait_for_managed_instance` polls ``DescribeInstanceInformation``
  with a progress bar and, when time runs out, says what AWS's checklist suggests.

Nothing here sleeps a fixed time. Every wait is :func:`poll`: ask at once, then back off
(:data:`POLL_PACE`) up to a bound, for at most a time-out, so an answer already there (the
offline lab, a stand-in endpoint) costs no sleep and a real account is still asked often
enough. boto3's waiters go through it too (:func:`wait`).
"""

from __future__ import annotations

import time
from typing import Callable

from botocore.exceptions import ClientError, WaiterError

from .errors import LabError
from .milestones import on_pass
from .i18n import N_, _

#: The two messages of IAM's eventual consistency seen by EC2 (docs/aws-facts.md#core-6); nothing else
#: is retried, so a real mistake (a misspelt profile) still fails after the retries.
IAM_PROPAGATION_MESSAGES = ("Invalid IAM Instance Profile name", "has no associated IAM Roles")
#: EC2 calls that take an instance profile.
_PROFILE_OPERATIONS = (
    "RunInstances",
    "AssociateIamInstanceProfile",
    "ReplaceIamInstanceProfileAssociation",
)
#: Backoff for those retries: 2, 4, 8, 16, 30, 30, ... seconds, 10 attempts in all
#: (about 3 minutes, past the ~2 minutes docs/aws-facts.md#core-6 reports). Tests shrink the base.
RETRY_BASE_SECONDS = 2.0
RETRY_MAX_SECONDS = 30.0
RETRY_ATTEMPTS = 10


def is_iam_propagation_error(error: BaseException | str | None) -> bool:
    """Whether ``error`` (an exception or a message) is one of the two IAM messages."""
    if isinstance(error, ClientError):
        error = error.response.get("Error", {}).get("Message", "")
    return bool(error) and any(m in str(error) for m in IAM_PROPAGATION_MESSAGES)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
    return min(RETRY_BASE_SECONDS * 2 ** (attempt - 1), RETRY_MAX_SECONDS)


def _retry_on_iam_propagation(response=None, attempts=None, caught_exception=None, **_):
    """botocore ``needs-retry`` handler: a delay for the two IAM errors, else no opinion."""
    if caught_exception is not None or response is None:
        return None
    _, body = response
    message = (body or {}).get("Error", {}).get("Message", "")
    if is_iam_propagation_error(message) and attempts < RETRY_ATTEMPTS:
        return backoff(attempts)
    return None


def install(lab) -> None:
    """Make ``lab``'s clients retry EC2 calls that take an instance profile on the two
    eventual-consistency errors (registered on the session: clients made after this)."""
    for operation in _PROFILE_OPERATIONS:
        lab.session.events.register(f"needs-retry.ec2.{operation}", _retry_on_iam_propagation)


#: Polls ask at once, then after 1, 2, 4, 8 ... seconds, never more than ``most`` apart:
#: an answer that is already true costs no sleep (the offline lab, a stand-in endpoint),
#: and a real account is asked often early on and every 15 s at most later. Offline the
#: first pause is a tenth of a second and the bound one second.
POLL_PACE = {"offline": (0.1, 1.0), "aws": (1.0, 15.0)}
#: How long a wait lasts before it gives up, by backend (seconds).
WAIT_TIMEOUT = {"offline": 60.0, "aws": 900.0}


def delays(first: float, most: float):
    """The pauses between polls: ``first``, doubled each time, at most ``most``."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, most)


def pace(lab) -> tuple[float, float]:
    return POLL_PACE["offline" if lab.offline else "aws"]


class TimedOut(Exception):
    """A poll's condition did not hold within its time; ``last`` is its last answer."""

    def __init__(self, seconds: float, last):
        super().__init__(f"not within {seconds:g} s")
        self.seconds, self.last = seconds, last


def poll(
    check: Callable[[], object],
    *,
    what: str,
    timeout: float,
    first: float,
    most: float,
    progress: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
):
    """Call ``check`` until it returns something true, and return that; bounded by
    ``timeout`` seconds, with pauses from :func:`delays` and a progress bar (tqdm.auto: a
    widget in JupyterLab, text in a terminal) counting the seconds. Raises
    :class:`TimedOut` with the last answer when time runs out.
    """
    from tqdm.auto import tqdm

    began = clock()
    pauses = delays(first, most)
    with tqdm(
        total=int(timeout), unit="s", disable=not progress, leave=False, mininterval=0,
        desc=what, bar_format="{desc} {bar} {n:.0f}/{total} s",
    ) as bar:
        while True:
            answer = check()
            if answer:
                return answer
            elapsed = clock() - began
            bar.update(min(int(elapsed), int(timeout)) - bar.n)
            if elapsed >= timeout:
                bar.leave = True  # keep the full bar beside the message that follows
                raise TimedOut(timeout, answer)
            sleep(min(next(pauses), max(timeout - elapsed, 0)))


def wait(lab, service: str, waiter: str, *, progress: bool = False, timeout: float | None = None,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
         **kwargs) -> None:
    """A boto3 waiter, asked at the lab's pace (:data:`POLL_PACE`) instead of its fixed delay.

    The waiter's own acceptors decide (success, failure, an unexpected error); each poll is
    one attempt of it (docs/aws-facts.md#boto3-waiters). Raises botocore's ``WaiterError``
    as the waiter would: at once on a failure state, or after ``timeout`` seconds
    (:data:`WAIT_TIMEOUT` by default). ``progress`` shows a bar (off by default: replay and
    clean-up wait quietly).
    """
    boto_waiter = lab.client(service).get_waiter(waiter)
    timeout = timeout if timeout is not None else WAIT_TIMEOUT["offline" if lab.offline else "aws"]
    last: list[WaiterError] = []

    def attempt() -> bool:
        try:
            boto_waiter.wait(WaiterConfig={"Delay": 0, "MaxAttempts": 1}, **kwargs)
        except WaiterError as error:
            if not str(error.kwargs.get("reason", "")).startswith("Max attempts exceeded"):
                raise  # a failure state or an unexpected error: the waiter's own verdict
            last[:] = [error]
            return False
        return True

    first, most = pace(lab)
    try:
        poll(attempt, what=f"{service} {waiter.replace('_', '-')}", timeout=timeout,
             first=first, most=most, progress=progress, clock=clock, sleep=sleep)
    except TimedOut:
        raise last[0] from None


# --------------------------------------------------------------------- CloudFormation


def stack_failure(cfn, stack: str) -> list[str]:
    """The reasons a stack's resources failed, oldest first: ``Type Id: reason``."""
    try:
        pages = cfn.get_paginator("describe_stack_events").paginate(StackName=stack)
        events = [event for page in pages for event in page["StackEvents"]]
    except ClientError:
        return []
    failed = [
        e for e in events
        if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceStatusReason")
        and e.get("ResourceType") != "AWS::CloudFormation::Stack"
    ]
    failed = failed or [e for e in events if e.get("ResourceStatus", "").endswith("_FAILED")]
    return [
        f"{e.get('ResourceType')} {e.get('LogicalResourceId')}: {e.get('ResourceStatusReason', '')}"
        for e in reversed(failed)
    ]


def stack_status(cfn, stack: str) -> str | None:
    """The stack's status, or None when there is no such stack."""
    try:
        return cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]
    except ClientError as error:
        if "does not exist" in error.response["Error"].get("Message", ""):
            return None
        raise


def delete_stack(lab, stack: str) -> None:
    """Delete ``stack`` if it exists and wait until it is gone."""
    cfn = lab.client("cloudformation")
    if stack_status(cfn, stack) in (None, "DELETE_COMPLETE"):
        return
    cfn.delete_stack(StackName=stack)
    wait(lab, "cloudformation", "stack_delete_complete", StackName=stack)


def create_stack(lab, *, sleep: Callable[[float], None] = time.sleep, **create_args) -> dict:
    """``create_stack`` and wait for it; retry a stack that rolled back for IAM's
    eventual consistency; otherwise raise LabError with the stack's events.

    Returns the stack's description. The failed stack is deleted before each retry; a
    stack that failed for another reason is left for you to read and for clean-up.
    """
    cfn = lab.client("cloudformation")
    stack = create_args["StackName"]
    for attempt in range(1, RETRY_ATTEMPTS + 1):
        cfn.create_stack(**create_args)
        try:
            wait(lab, "cloudformation", "stack_create_complete", StackName=stack)
            return cfn.describe_stacks(StackName=stack)["Stacks"][0]
        except WaiterError:
            reasons = stack_failure(cfn, stack)
        status = stack_status(cfn, stack)
        if attempt < RETRY_ATTEMPTS and any(is_iam_propagation_error(r) for r in reasons):
            delete_stack(lab, stack)
            sleep(backoff(attempt))
            continue
        break
    raise LabError(
        _("Stack {stack} failed ({status}): {reasons}. Read its events with `aws cloudformation "
          "describe-stack-events --stack-name {stack}`; `ssmlab cleanup` deletes it.").format(
            stack=stack, status=status, reasons="; ".join(reasons) if reasons else _("it reported no reason"))
    )


# ------------------------------------------------------------------ Systems Manager

#: AWS's checklist for an instance missing from Fleet Manager (docs/aws-facts.md#core-5), most likely
#: first for this lab's journey.
CHECKLIST = (
    N_("its instance profile's role may not allow ssm:UpdateInstanceInformation (attach "
       "AmazonSSMManagedInstanceCore)"),
    N_("the instance may have no instance profile"),
    N_("it may have no network path to the ssm, ssmmessages and ec2messages endpoints "
       "(HTTPS out through an internet or NAT gateway, or VPC interface endpoints)"),
    N_("instance metadata may be unreachable"),
    N_("the SSM Agent may not be installed or running"),
    N_("you may be looking in another Region"),
)


def not_managed_message(instance_id: str, minutes: float) -> str:
    causes = "; ".join(_(cause) for cause in CHECKLIST)
    return _(
        "{instance_id} did not become a managed instance within {minutes:g} minute(s). "
        "Likely causes, from AWS's checklist: {causes}. An agent that was refused backs "
        "off for up to 30 minutes: after fixing the cause, make it retry now with "
        "`aws ec2 reboot-instances --instance-ids {instance_id}`, then wait again."
    ).format(instance_id=instance_id, minutes=minutes, causes=causes)


def managed_instance(lab, instance_id: str) -> dict | None:
    """``instance_id``'s entry in ``DescribeInstanceInformation``, or None."""
    found = lab.client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
    )["InstanceInformationList"]
    return found[0] if found else None


def last_ping(lab, instance_id: str):
    """When ``instance_id``'s agent last reported to Systems Manager (None: never)."""
    found = managed_instance(lab, instance_id)
    return found.get("LastPingDateTime") if found else None


@on_pass("online")  # lesson 06's milestone (ssmlab/milestones.py)
def wait_for_managed_instance(
    lab,
    instance_id: str,
    *,
    after=None,
    timeout: float | None = None,
    interval: float | None = None,
    progress: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """Poll ``DescribeInstanceInformation`` until ``instance_id`` is Online; return its entry.

    ``after`` (a ``LastPingDateTime`` read before a reboot, :func:`last_ping`) waits for a
    report of the agent later than that one: right after a reboot the old entry is still
    Online, and only a new report shows that the restarted agent got in (it reports when it
    starts, docs/aws-facts.md#an-agent-reports-when-it-starts). Polls ask at once, then
    back off (:data:`POLL_PACE`; ``interval`` fixes the pause instead). A progress bar
    counts the seconds. ``timeout`` defaults to 10 minutes on AWS (registration takes a
    minute or two after boot) and 30 s offline; on time-out, LabError names the likely
    causes and the command to try next.
    """
    if lab.offline and clock is time.monotonic and sleep is time.sleep:
        return _wait_for_managed_instance_offline(lab, instance_id, after=after, timeout=timeout,
                                                  interval=interval, progress=progress)
    timeout = timeout if timeout is not None else (30 if lab.offline else 600)
    first, most = (interval, interval) if interval is not None else pace(lab)

    def online() -> dict | None:
        found = managed_instance(lab, instance_id)
        if not found or found.get("PingStatus") != "Online":
            return None
        if after is not None and not found.get("LastPingDateTime", after) > after:
            return None
        return found

    try:
        return poll(online, what=f"{instance_id}: waiting for Systems Manager", timeout=timeout,
                    first=first, most=most, progress=progress, clock=clock, sleep=sleep)
    except TimedOut:
        raise LabError(not_managed_message(instance_id, timeout / 60)) from None


def _wait_for_managed_instance_offline(lab, instance_id: str, *, after=None, timeout: float | None,
                                       interval: float | None, progress: bool = True) -> dict:
    """Offline: move the lab clock on ``interval`` virtual seconds at a time (as long as the
    real wait's polls) until ``instance_id`` is Online or ``timeout`` virtual seconds (10
    minutes by default, as on AWS) have passed, then ask DescribeInstanceInformation once.
    No real time is spent; the progress bar counts virtual seconds. The steps read the
    simulated agent in this process rather than sending a request each, so a wait costs one
    request whatever its length."""
    from tqdm.auto import tqdm

    timeout = timeout if timeout is not None else 600
    interval = interval if interval is not None else 10
    began = lab.clock.now()
    with tqdm(
        total=int(timeout), unit="s", disable=not progress, leave=False, mininterval=0,
        desc=f"{instance_id}: waiting for Systems Manager",
        bar_format="{desc} {bar} {n:.0f}/{total} s (lab clock)",
    ) as bar:

        def online() -> bool:
            bar.update(min(int((lab.clock.now() - began).total_seconds()), int(timeout)) - bar.n)
            if lab.simulated_ping_status(instance_id) != "Online":
                return False
            if after is None:
                return True
            last = lab.simulated_last_ping(instance_id)  # a report later than ``after``
            return last is not None and last > after

        if lab.clock.run_until(online, timeout=timeout, step=interval):
            found = lab.client("ssm").describe_instance_information(
                Filters=[{"Key": "InstanceIds", "Values": [instance_id]}]
            )["InstanceInformationList"]
            if found and found[0].get("PingStatus") == "Online":
                if after is None or found[0].get("LastPingDateTime", after) > after:
                    return found[0]
        bar.leave = True  # keep the full bar beside the message
    raise LabError(not_managed_message(instance_id, timeout / 60))


# --------------------------------------------------------------------- Automation

#: AutomationExecutionStatus values that are not final (botocore's ssm model).
AUTOMATION_RUNNING = ("Pending", "InProgress", "Waiting", "Cancelling", "Scheduled", "RunbookInProgress")


def wait_for_automation(lab, execution_id: str, *, timeout: float | None = None, progress: bool = True,
                        clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], None] = time.sleep) -> dict:
    """Poll ``GetAutomationExecution`` until the execution ends (Success, Failed, TimedOut,
    Cancelled, ...); return its ``AutomationExecution``. boto3 has no waiter for it.

    Offline the lab clock moves on instead (10 s of lab time per poll, 10 minutes at
    most), so no real time passes; on AWS, polls at the lab's pace for 15 minutes at most
    (a runbook takes a minute or more). On time-out, LabError says so in one sentence.
    """
    ssm = lab.client("ssm")
    found: list[dict] = []

    def finished() -> bool:
        execution = ssm.get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"]
        found[:] = [execution]
        return execution["AutomationExecutionStatus"] not in AUTOMATION_RUNNING

    if lab.offline and clock is time.monotonic and sleep is time.sleep:
        done = lab.clock.run_until(finished, timeout=timeout or 600, step=10)
    else:
        first, most = pace(lab)
        try:
            done = bool(poll(finished, what=f"automation {execution_id[:8]}", timeout=timeout or 900,
                             first=first, most=most, progress=progress, clock=clock, sleep=sleep))
        except TimedOut:
            done = False
    if not done:
        raise LabError(
            _("The automation {execution_id} had not finished within {minutes:g} minute(s): see "
              "`aws ssm get-automation-execution --automation-execution-id {execution_id}`.").format(
                execution_id=execution_id, minutes=(timeout or (600 if lab.offline else 900)) / 60)
        )
    return found[0]
