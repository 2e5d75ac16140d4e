"""Run Command invocations in time: Pending → InProgress → a terminal status.

Each invocation (one command on one managed node) is a small state machine read at the
lab clock's now (docs/aws-facts.md#time-and-the-agent-clock):

- ``Pending`` until the node's agent holds its command channel open (registered,
  heartbeats on time, and allowed ssmmessages — or ec2messages — over a reachable path).
  An agent with an open channel receives the command at once (the control channel pushes
  it), so it is delivered :data:`DELIVERY_SECONDS` after SendCommand.
- ``InProgress`` while the script runs (:data:`RUN_SECONDS`, or the script's own length
  when the instance shell reports one).
- then ``Success``, or ``Failed`` for a non-zero exit code (its ``ResponseCode``), or
  ``TimedOut``/``ExecutionTimedOut`` (exit code 137) when the document's
  ``executionTimeout`` (default 3600 s) passes first.
- An invocation not delivered before SendCommand's ``TimeoutSeconds`` (the delivery
  timeout; moto's and the lab's default 3600 s) ends ``TimedOut``/``DeliveryTimedOut``.
- CancelCommand (docs/aws-facts.md#cancel-command): an invocation not delivered yet is
  ``Cancelled`` at once (it never runs); one running is ``Cancelling`` until the cancel
  reaches its agent and the script stops (:data:`CANCEL_SECONDS`), then
  ``Cancelled``; a terminal one keeps its status. The command is ``Cancelling`` while an
  invocation is, and ``Cancelled`` once all are terminal and one was cancelled.

Status values are botocore's ``CommandInvocationStatus`` and ``CommandStatus`` enums; the
waiter ``command_executed`` (botocore ``ssm/2014-11-06/waiters-2.json``) succeeds on
``Success`` and fails at once on ``TimedOut``, ``Failed``, ``Cancelled``, ``Cancelling``.
With one clock step per request, a healthy command is terminal by the first
GetCommandInvocation after SendCommand, so the waiter never sleeps offline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from . import clock
from .shell_bounds import STOPPED_PREEMPTIVELY

#: SendCommand → the agent receives it over an open control channel.
DELIVERY_SECONDS = 0.1
#: CancelCommand → the running script is stopped. The lab's choice (on AWS it depends on
#: the agent's channel): two request steps, so a learner sees Cancelling, then Cancelled.
CANCEL_SECONDS = 2
#: How long a simulated script runs when the shell does not say.
RUN_SECONDS = 0.2
#: SendCommand's TimeoutSeconds when omitted (moto's ``MAX_TIMEOUT_SECONDS``; the model
#: gives no default) and its bounds (botocore model shape ``TimeoutSeconds``: 30..2592000).
DEFAULT_DELIVERY_TIMEOUT = 3600
#: AWS-RunShellScript's ``executionTimeout`` default (its document: "Default is 3600").
DEFAULT_EXECUTION_TIMEOUT = 3600

TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")


@dataclass
class Invocation:
    """One command on one node. ``run`` executes the script against the agent's state at
    delivery and returns ``dict(code, out, err[, duration])``."""

    command_id: str
    instance_id: str
    plugin: str
    requested: datetime
    delivery_timeout: float
    execution_timeout: float
    connected: Callable[[datetime], bool]
    run: Callable[[], dict[str, Any]]
    delivered: datetime | None = None
    result: dict[str, Any] | None = None
    cancelled: datetime | None = None  # when CancelCommand reached it
    _checked: datetime | None = field(default=None, repr=False)  # last time it could not be delivered

    def advance(self, now: datetime) -> None:
        """Deliver and run the command if its node can take it by ``now``. The clock calls
        this after every move, so delivery is dated within one move of when it happened."""
        if self.delivered is not None:
            return
        if self.cancelled is not None:  # cancelled before delivery: it never runs
            if self in OPEN:
                OPEN.remove(self)
            return
        arrives = self.requested + timedelta(seconds=DELIVERY_SECONDS)
        deadline = self.requested + timedelta(seconds=self.delivery_timeout)
        if arrives <= now < deadline and self.connected(now):
            self.delivered = max(arrives, self._checked or arrives)
            self.result = self.run()
            if self in OPEN:
                OPEN.remove(self)
        elif now >= deadline and self in OPEN:
            OPEN.remove(self)
        else:
            self._checked = now

    def cancel(self, now: datetime) -> None:
        """CancelCommand for this invocation at ``now`` (nothing once it is terminal)."""
        if self.cancelled is None and self.view(now)["status"] not in TERMINAL:
            self.cancelled = now
            self.advance(now)

    def view(self, now: datetime) -> dict[str, Any]:
        """Status, StatusDetails, ResponseCode, output and times as of ``now``."""
        if self.cancelled is None or now < self.cancelled:
            return self._view(now)
        empty = dict(code=-1, out="", err="", start=None, end=None)
        if self.delivered is None or self.delivered > self.cancelled:
            return dict(empty, status="Cancelled", details="Cancelled")
        stops = self.cancelled + timedelta(seconds=CANCEL_SECONDS)
        if now < stops:
            return dict(empty, status="Cancelling", details="Cancelling", start=self.delivered)
        return dict(empty, status="Cancelled", details="Cancelled", start=self.delivered, end=stops)

    def _view(self, now: datetime) -> dict[str, Any]:
        self.advance(now)
        empty = dict(code=-1, out="", err="", start=None, end=None)
        if self.delivered is None:
            if now >= self.requested + timedelta(seconds=self.delivery_timeout):
                return dict(empty, status="TimedOut", details="DeliveryTimedOut")
            return dict(empty, status="Pending", details="Pending")
        result = self.result or {}
        duration = float(result.get("duration", RUN_SECONDS))
        start = self.delivered
        if duration > self.execution_timeout:
            end = start + timedelta(seconds=self.execution_timeout)
            if now < end:
                return dict(empty, status="InProgress", details="InProgress", start=start)
            # The agent kills the script and reports exit code 137, with what it wrote until
            # then (docs/aws-facts.md#bounds-on-what-an-instance-runs).
            return dict(code=STOPPED_PREEMPTIVELY, out=result.get("out", ""), err=result.get("err", ""),
                        start=start, end=end, status="TimedOut", details="ExecutionTimedOut")
        end = start + timedelta(seconds=duration)
        if now < end:
            return dict(empty, status="InProgress", details="InProgress", start=start)
        ok = result.get("code", 1) == 0
        status = "Success" if ok else "Failed"
        return dict(code=result.get("code", 1), out=result.get("out", ""), err=result.get("err", ""),
                    start=start, end=end, status=status, details=status)


#: Invocations not delivered yet, advanced whenever the lab clock moves.
OPEN: list[Invocation] = []


def track(invocation: Invocation) -> Invocation:
    OPEN.append(invocation)
    return invocation


def advance_open(now: datetime) -> None:
    for invocation in list(OPEN):
        invocation.advance(now)


def install() -> None:
    clock.CLOCK.on_advance(advance_open)


def reset() -> None:
    OPEN.clear()


def command_status(views: list[dict[str, Any]]) -> dict[str, Any]:
    """The command's own Status and counts from its invocations (SSM User Guide
    "Understanding command statuses"): Pending until one is delivered, InProgress until all
    are terminal, then Success only if every invocation succeeded."""
    statuses = [v["status"] for v in views]
    completed = sum(1 for s in statuses if s in TERMINAL)
    errors = sum(1 for v in views if v["status"] == "Failed" or v["details"] == "ExecutionTimedOut")
    delivery = sum(1 for v in views if v["details"] == "DeliveryTimedOut")
    if not views or all(s == "Success" for s in statuses):
        status = "Success"
    elif "Cancelling" in statuses:
        status = "Cancelling"
    elif completed < len(views):
        status = "Pending" if all(s == "Pending" for s in statuses) else "InProgress"
    elif "Cancelled" in statuses and not errors:
        status = "Cancelled"
    elif errors:
        status = "Failed"
    else:
        status = "TimedOut"
    details = status
    if status == "TimedOut" and delivery:
        details = "DeliveryTimedOut"
    elif status == "TimedOut":
        details = "ExecutionTimedOut"
    return dict(status=status, details=details, completed=completed, errors=errors, delivery_timed_out=delivery)


def refresh(command, invocations: dict[str, Invocation], now: datetime) -> dict[str, Any]:
    """Write the command's status and counts onto moto's Command (ListCommands reads it)."""
    summary = command_status([inv.view(now) for inv in invocations.values()])
    command.status = summary["status"]
    command.status_details = summary["details"]
    command.completed_count = summary["completed"]
    command.error_count = summary["errors"]
    command.delivery_timed_out_count = summary["delivery_timed_out"]
    return summary
