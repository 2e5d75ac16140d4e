"""A stand-in for a real AWS account, with faults on demand. Tests only: no fault code
lives in the product.

:class:`FaultInjector` wraps the offline endpoint's WSGI application (moto behind
ssmlab's simulation). The ``aws`` backend reaches it exactly as it reaches AWS: through
the standard credential chain and ``AWS_ENDPOINT_URL``. Each request is recorded as
``(service, action)``; rules answer some of them as AWS would when things go wrong:

- :meth:`throttle`: ``Throttling`` / ``RequestLimitExceeded`` / ``ThrottlingException``
  in each protocol's error shape (botocore's retry handlers must retry them);
- :meth:`fail`: a non-retryable error for the N-th call of an action (a lesson step
  that fails half-way);
- :meth:`profile_not_yet_visible`: RunInstances refused with IAM's eventual-consistency
  message (docs/aws-facts.md#core-6), HTTP 400 ``InvalidParameterValue`` as EC2 sends it;
- :meth:`roll_back_stacks`: a CreateStack that "fails" and rolls back: the stack ends
  ``ROLLBACK_COMPLETE`` with the failed resource's event and the resources removed, as
  CloudFormation does (moto never rolls back, docs/aws-facts.md#core-7).
"""

from __future__ import annotations

import io
import json
import re
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs

ACCOUNT = "123456789012"
MUTATING = re.compile(r"^(Create|Delete|Put|Attach|Detach|Add|Remove|Update|Run|Terminate|Tag|Untag|Reboot|Associate|Replace)")
PROPAGATION_MESSAGE = "Value ({name}) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
NO_ROLES_MESSAGE = 'IAM Instance Profile "{name}" has no associated IAM Roles'


@dataclass
class Rule:
    service: str
    action: str
    remaining: int
    respond: object  # callable(params) -> (status, headers, body) | None to pass through
    skip: int = 0    # let this many matching calls through first


@dataclass
class FaultInjector:
    app: object
    calls: list = field(default_factory=list)
    rules: list = field(default_factory=list)
    rollbacks: dict = field(default_factory=dict)  # stack name -> remaining failures
    rollback_reason: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- rules

    def throttle(self, service: str, action: str, times: int) -> None:
        self.rules.append(Rule(service, action, times, lambda params: _throttled(service)))

    def fail(self, service: str, action: str, *, skip: int = 0, code: str = "AccessDenied",
             message: str = "injected failure") -> None:
        self.rules.append(Rule(service, action, 1, lambda params: _error(service, code, message, 403), skip))

    def profile_not_yet_visible(self, times: int, *, no_roles: bool = False) -> None:
        def respond(params):
            name = params.get("IamInstanceProfile.Name", ["?"])[0]
            message = (NO_ROLES_MESSAGE if no_roles else PROPAGATION_MESSAGE).format(name=name)
            return _error("ec2", "InvalidParameterValue", message, 400)
        self.rules.append(Rule("ec2", "RunInstances", times, respond))

    def roll_back_stacks(self, times: int, reason: str) -> None:
        self.rollbacks["*"] = times
        self.rollback_reason = reason

    def clear(self) -> None:
        self.rules.clear()
        self.rollbacks.clear()

    def actions(self, *, mutating: bool | None = None) -> list[tuple[str, str]]:
        if mutating is None:
            return list(self.calls)
        return [c for c in self.calls if bool(MUTATING.match(c[1])) == mutating]

    # ---------------------------------------------------------------- WSGI

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        service, action, params = _identify(environ, body)
        if service == "moto-api":
            return self.app(environ, start_response)
        with self.lock:
            self.calls.append((service, action))
            answer = None
            for rule in self.rules:
                if rule.service == service and rule.action == action and rule.remaining > 0:
                    if rule.skip:
                        rule.skip -= 1
                        continue
                    rule.remaining -= 1
                    answer = rule.respond(params)
                    break
        if answer is not None:
            status, headers, payload = answer
            start_response(status, headers)
            return [payload]
        result = self.app(environ, start_response)
        if action == "CreateStack" and self.rollbacks.get("*", 0) > 0:
            payload = b"".join(result)
            self.rollbacks["*"] -= 1
            _roll_back(payload, environ, self.rollback_reason, params)
            return [payload]
        return result


def _identify(environ, body: bytes):
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", auth)
    service = match.group(2) if match else ("moto-api" if environ.get("PATH_INFO", "").startswith("/moto-api") else "?")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:  # JSON protocol (SSM): AmazonSSM.DescribeInstanceInformation
        return service, target.split(".")[-1], json.loads(body or b"{}")
    params = parse_qs(body.decode(errors="replace")) if body else parse_qs(environ.get("QUERY_STRING", ""))
    return service, params.get("Action", ["?"])[0], params


def _error(service: str, code: str, message: str, status: int):
    if service == "ssm":
        payload = json.dumps({"__type": code, "message": message}).encode()
        return f"{status} Error", [("Content-Type", "application/x-amz-json-1.1")], payload
    if service == "ec2":
        payload = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Errors><Error><Code>{code}</Code>"
                   f"<Message>{message}</Message></Error></Errors><RequestID>fault</RequestID></Response>").encode()
    else:
        payload = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                   f"</Error><RequestId>fault</RequestId></ErrorResponse>").encode()
    return f"{status} Error", [("Content-Type", "text/xml")], payload


def _throttled(service: str):
    # Each service's own throttling code (botocore's retry model lists all three).
    if service == "ssm":
        return _error(service, "ThrottlingException", "Rate exceeded", 400)
    if service == "ec2":
        return _error(service, "RequestLimitExceeded", "Request limit exceeded.", 503)
    return _error(service, "Throttling", "Rate exceeded", 400)


def _roll_back(payload: bytes, environ, reason: str, params) -> None:
    """Make the stack just created fail and roll back, as CloudFormation would."""
    from moto.cloudformation.models import Event, cloudformation_backends

    match = re.search(rb"<StackId>([^<]+)</StackId>", payload)
    if not match:
        return
    stack_id = match.group(1).decode()
    region = stack_id.split(":")[3]
    stack = cloudformation_backends[ACCOUNT][region].stacks[stack_id]
    profile = params.get("Parameters.member.1.ParameterValue", ["?"])[0]
    stack.events.append(Event(stack.stack_id, stack.name, "Instance", "", "AWS::EC2::Instance",
                              "CREATE_FAILED", reason.format(name=profile), None))
    stack._add_stack_event("ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: "
                           "[Instance]. Rollback requested by user.")
    stack.resource_map.delete()
    stack.resource_map = type(stack.resource_map)(
        stack.stack_id, stack.name, stack.parameters, stack.tags, account_id=stack.account_id,
        region_name=stack.region_name, template={"Resources": {}}, cross_stack_resources={})
    stack._add_stack_event("ROLLBACK_COMPLETE")
    stack.status = "ROLLBACK_COMPLETE"


# ------------------------------------------------------------------------- fixtures

import os  # noqa: E402
import types  # noqa: E402

import boto3  # noqa: E402
import pytest  # noqa: E402

import ssmlab  # noqa: E402
from ssmlab import waiting  # noqa: E402
from ssmlab.offline import OfflineEndpoint  # noqa: E402

REGION = "eu-west-1"


@pytest.fixture
def account(tmp_path, monkeypatch):
    """A stand-in for the confirmed real account, with ``.faults`` to inject.

    ``.admin(service)`` is a client of "someone else" in the account (not the lab's:
    nothing it creates is tagged), for the resources clean-up must leave alone.
    """
    ssmlab.stop()  # gives back what an earlier test's lab set aside: clear it all here
    for variable in list(os.environ):
        if variable.startswith("AWS_") or variable.lower() in ("http_proxy", "https_proxy"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    endpoint = OfflineEndpoint()
    endpoint.reset(region=REGION)
    faults = FaultInjector(endpoint._server.app)
    endpoint._server.app = faults  # werkzeug's server calls self.app for each request
    (tmp_path / "config").write_text("")
    for key, value in {
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "config"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "SSMLAB_USER": "ada",
        "SSMLAB_AWS_ACCOUNT": ACCOUNT,
    }.items():
        monkeypatch.setenv(key, value)
    for variable in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "SSMLAB_PREFIX",
                     "SSMLAB_BACKEND", "SSMLAB_SHOW_ACCOUNT"):
        monkeypatch.delenv(variable, raising=False)
    # AWS's pauses, shortened: the backoff of the IAM retries (replay's included).
    monkeypatch.setattr(waiting, "RETRY_BASE_SECONDS", 0.01)
    monkeypatch.setattr(waiting, "RETRY_MAX_SECONDS", 0.02)

    def admin(service):
        return boto3.client(service, endpoint_url=endpoint.url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    yield types.SimpleNamespace(endpoint=endpoint, faults=faults, url=endpoint.url, admin=admin)
    ssmlab.stop()
    endpoint.stop()
