"""A Session Manager shell on an offline lab instance: ``ssmlab session INSTANCE_ID`` in a
terminal, ``lab.start_session(INSTANCE_ID)`` in a notebook.

The shell runs where the lab's state is (the kernel, or the ``ssmlab serve`` process),
reached through the lab's endpoint (``simulation/session_shell.py`` describes the
channel). It is ``sh`` as ``ssm-user``, as Session Manager's default on Linux; an
instance that is not managed, or cannot open Session Manager's channel, is refused with
AWS's ``TargetNotConnected``. The lines the session-manager-plugin prints around a
session ("Starting session with SessionId: …", "Exiting session with sessionId: ….") are
the plugin's own (aws/session-manager-plugin, src/sessionmanagerplugin/session/session.go:222,
src/datachannel/streaming.go:787).
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from .errors import LabError
from .i18n import _

PROMPT = "sh-5.2$ "
TARGET = "AmazonSSM.SsmlabSession"


class SessionError(LabError):
    """An AWS error answered to the session: ``code`` and ``message`` as AWS words them."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"An error occurred ({code}) when calling the StartSession operation: {message}")
        self.code = code
        self.aws_message = message


def _call(endpoint: str, region: str, access_key: str, body: dict, secret_key: str = "") -> dict:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = endpoint.rstrip("/") + "/"
    data = json.dumps(body).encode()
    # Signed as any SDK signs (SigV4): the lab reads the caller's key and Region from the
    # credential scope, and a room's endpoint checks the signature (room_guard).
    signed = AWSRequest(method="POST", url=url, data=data,
                        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": TARGET})
    SigV4Auth(Credentials(access_key, secret_key), "ssm", region).add_auth(signed)
    request = urllib.request.Request(url, data=data, headers=dict(signed.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        raw = error.read()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            raise LabError(_("The offline lab answered HTTP {code}: {raw!r}").format(code=error.code, raw=raw[:200])) from None
        code = str(payload.get("__type", error.code)).rsplit("#", 1)[-1]
        raise SessionError(code, payload.get("message") or payload.get("Message") or "") from None
    except urllib.error.URLError as error:
        raise LabError(
            _("The offline lab at {endpoint} cannot be reached ({reason}); start it with `ssmlab serve`.").format(endpoint=endpoint, reason=error.reason)
        ) from None


@dataclass
class Session:
    """One open shell session. ``run(line)`` returns what the shell printed."""

    endpoint: str
    region: str
    access_key: str
    target: str
    session_id: str = ""
    ended: bool = False
    transcript: list[str] = field(default_factory=list, repr=False)
    secret_key: str = field(default="", repr=False)

    @classmethod
    def start(cls, endpoint: str, region: str, access_key: str, target: str, secret_key: str = "") -> "Session":
        session = cls(endpoint, region, access_key, target, secret_key=secret_key)
        answer = _call(endpoint, region, access_key, {"Action": "Start", "Target": target}, secret_key)
        session.session_id = answer["SessionId"]
        return session

    def run(self, line: str) -> str:
        if self.ended:
            raise LabError(_("Session {session_id} has ended; start another with lab.start_session(...).").format(session_id=self.session_id))
        answer = _call(self.endpoint, self.region, self.access_key,
                       {"Action": "Run", "SessionId": self.session_id, "Line": line}, self.secret_key)
        self.ended = bool(answer.get("Ended"))
        self.transcript.append(PROMPT + line + "\n" + answer["Output"])
        return answer["Output"]

    def terminate(self) -> None:
        if not self.ended:
            _call(self.endpoint, self.region, self.access_key, {"Action": "Terminate", "SessionId": self.session_id},
                  self.secret_key)
            self.ended = True

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.terminate()

    def __repr__(self) -> str:
        return f"Session {self.session_id} to {self.target} as ssm-user ({'ended' if self.ended else 'open'})"

    def interact(self, read=input, write=sys.stdout.write) -> None:
        """The terminal loop: a prompt, a line, its output, until ``exit`` or end of input."""
        write(f"\nStarting session with SessionId: {self.session_id}\n")
        while not self.ended:
            try:
                line = read(PROMPT)
            except (EOFError, KeyboardInterrupt):
                write("\n")
                self.terminate()
                break
            write(self.run(line))
        write(f"\n\nExiting session with sessionId: {self.session_id}.\n\n")


def main(args) -> int:
    """``ssmlab session INSTANCE_ID [--endpoint URL]``."""
    import os

    endpoint = getattr(args, "endpoint", None) or os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        print(
            "ssmlab session: no offline lab to reach. Start one with `ssmlab serve` and export the "
            "AWS_ENDPOINT_URL it prints (or pass --endpoint).",
            file=sys.stderr,
        )
        return 2
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    key = os.environ.get("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
    try:
        session = Session.start(endpoint, region, key, args.instance_id, os.environ.get("AWS_SECRET_ACCESS_KEY", ""))
    except SessionError as error:
        print(f"\n{error}\n", file=sys.stderr)
        return 254  # the AWS CLI v2's exit code for a service error
    session.interact()
    return 0
