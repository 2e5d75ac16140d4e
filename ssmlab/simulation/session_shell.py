"""Session Manager's shell on a simulated instance, served by the offline lab.

A Session Manager shell session runs as ``ssm-user`` on Linux (Session Manager User Guide,
"Turn on or turn off ssm-user account administrative permissions"; the agent's
``DefaultRunAsUserName``, agent/appconfig/constants.go). The lab keeps one
``InstanceShell`` per open session, in the process that holds moto's state, so variables,
the working directory and IMDSv2 tokens last from line to line.

``ssmlab session`` in another process (next to ``ssmlab serve``) and ``lab.start_session``
in a notebook reach it through the lab's endpoint with one JSON action on Systems
Manager's protocol, ``AmazonSSM.SsmlabSession`` (not an AWS operation; the lab's own
channel, as the data channel of the session-manager-plugin is on AWS):

- ``{"Action": "Start", "Target": ID}`` → ``{"SessionId"}`` or ``TargetNotConnected``;
- ``{"Action": "Run", "SessionId": S, "Line": L}`` → ``{"Output", "ExitCode", "Ended"}``;
- ``{"Action": "Terminate", "SessionId": S}`` → ``{"SessionId"}``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from . import _moto, agent, shell_bounds
from ._moto import ServiceException, mock_random
from .instance_shell import InstanceShell

TARGET = "AmazonSSM.SsmlabSession"
#: Open shells by (account id, session id): a session is reached only from its own account.
_shells: dict[tuple[str, str], InstanceShell] = {}
_records: dict[str, dict[str, Any]] = {}


class TargetNotConnected(ServiceException):
    code = "TargetNotConnected"


class SessionNotFound(ServiceException):
    code = "DoesNotExistException"


def open_session_record(account_id: str, region: str, target: str, caller: str) -> str:
    """The session record for ``caller`` on ``target``: the one place a shell session is
    opened, so it can be wired to ssm_api's StartSession record. Raises
    ``TargetNotConnected`` ("<target> is not connected.") unless the node is managed and
    its agent can open Session Manager's channel."""
    try:
        from .ssm_api import start_session  # the StartSession record, where it exists
    except ImportError:
        start_session = None
    if start_session is not None:
        return start_session(account_id, region, target, caller)["SessionId"]
    state = agent.observe(account_id, region, target)
    if not (state.registered and state.session_channel):
        raise TargetNotConnected(f"{target} is not connected.")
    name = caller.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    session_id = f"{name}-0{mock_random.get_random_hex(16)}"
    _records[session_id] = {"SessionId": session_id, "Target": target, "Owner": caller,
                            "Status": "Connected", "StartDate": datetime.now(timezone.utc)}
    return session_id


def close_session_record(account_id: str, region: str, session_id: str) -> None:
    try:
        from .ssm_api import terminate_session
    except ImportError:
        terminate_session = None
    if terminate_session is not None:
        terminate_session(account_id, region, session_id)
    elif session_id in _records:
        _records[session_id]["Status"] = "Terminated"


def start(account_id: str, region: str, target: str, caller: str) -> str:
    session_id = open_session_record(account_id, region, target, caller)
    state = agent.observe(account_id, region, target)
    # A line runs until Session Manager's idle timeout at most: no input comes while it runs.
    _shells[(account_id, session_id)] = InstanceShell(state, user="ssm-user",
                                                      idle_timeout=shell_bounds.IDLE_SESSION_TIMEOUT)
    return session_id


def run(account_id: str, session_id: str, line: str) -> dict[str, Any]:
    shell = _shells.get((account_id, session_id))
    if shell is None:
        raise SessionNotFound(f"Session {session_id} does not exist or is terminated.")
    result = shell.run_script(line)
    ended = shell.ended
    return {"Output": result.stdout + result.stderr, "ExitCode": result.exit_code, "Ended": ended}


def terminate(account_id: str, region: str, session_id: str) -> None:
    _shells.pop((account_id, session_id), None)
    close_session_record(account_id, region, session_id)


def ssmlab_session(self) -> str:
    # Not an operation of botocore's model, so moto cannot serialise an ActionResult for
    # it: the handler returns its JSON body itself (errors still go through moto).
    action = self._get_param("Action")
    account_id, region = self.current_account, self.region
    if action == "Start":
        return json.dumps({"SessionId": start(account_id, region, self._get_param("Target"), _moto.caller_arn(self))})
    session_id = self._get_param("SessionId")
    if action == "Run":
        answer = run(account_id, session_id, self._get_param("Line") or "")
        if answer["Ended"]:
            terminate(account_id, region, session_id)
        return json.dumps(answer)
    if action == "Terminate":
        terminate(account_id, region, session_id)
        return json.dumps({"SessionId": session_id})
    raise SessionNotFound(f"Unknown session action {action}.")


def install() -> None:
    from ._moto import SimpleSystemManagerResponse

    SimpleSystemManagerResponse.ssmlab_session = ssmlab_session


def reset() -> None:
    from . import imds

    _shells.clear()
    imds.reset()
    _records.clear()
