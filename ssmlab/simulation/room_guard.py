"""The door of a room's shared endpoint (``ssmlab serve --attendees N``).

moto decides each request's account from its access key, and answers a key no account
holds as moto's default account; it also obeys an ``x-moto-account-id`` header and serves
its own ``/moto-api`` (reset everything, dump every account's state). On one endpoint
shared by a room, each of those would let one attendee reach another's account. This WSGI
wrapper, outermost around the lab's app, closes them (docs/aws-facts.md#a-room-of-accounts):

- a request must be signed (SigV4, in its ``Authorization`` header) with an access key that
  an account of the room holds (an attendee's IAM user, the facilitator's, or keys STS
  issued for a role in one of those accounts); any other key is answered as AWS answers a
  key it does not know (``InvalidClientTokenId`` for query services such as IAM, STS and
  CloudFormation, ``UnrecognizedClientException`` for JSON services such as Systems
  Manager, ``AuthFailure`` for EC2), and a request with no credentials as one missing them;
- its signature must be the one the key's secret gives (computed again with botocore's
  own SigV4 signer), else AWS's answer to a wrong secret (``SignatureDoesNotMatch``,
  ``InvalidSignatureException``, EC2's ``AuthFailure``);
- ``x-moto-account-id`` is removed from every request, except the lab's own calls from a
  simulated instance's AWS CLI, which carry the process's :data:`clock.INSTANCE_TOKEN`;
- ``/moto-api`` is refused in one line.

Refused requests do not move the lab clock (the wrapper sits outside ``clock.ticking``).
"""

from __future__ import annotations

import hmac
import io
import json
import re
import uuid
from typing import Callable, Iterable
from xml.sax.saxutils import escape

from . import _moto, clock

#: The header the instance's AWS CLI adds (with the process's token) to keep its account.
INSTANCE_HEADER = "HTTP_X_SSMLAB_INSTANCE"
ACCOUNT_HEADER = "HTTP_X_MOTO_ACCOUNT_ID"

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]*/[^/]*/([^/]+)/")
_QUERY_CREDENTIAL = re.compile(r"(?:^|&)X-Amz-Credential=([^%&/]+)(?:%2F|/)[^&]*?(?:%2F|/)[^&]*?(?:%2F|/)([^%&/]+)")

#: (HTTP status, code, message) for an unknown key, by protocol (see the module's text).
UNKNOWN_KEY = {
    "query": (403, "InvalidClientTokenId", "The security token included in the request is invalid."),
    "json": (400, "UnrecognizedClientException", "The security token included in the request is invalid."),
    "ec2": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
}
NO_KEY = {
    "query": (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
    "json": (400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
    "ec2": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
}
BAD_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details."
)
BAD_SIGNATURE = {
    "query": (403, "SignatureDoesNotMatch", BAD_SIGNATURE_MESSAGE),
    "json": (400, "InvalidSignatureException", BAD_SIGNATURE_MESSAGE),
    "ec2": (401, "AuthFailure", "AWS was not able to validate the provided access credentials"),
}
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
    r"SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)"
)
MOTO_API = (
    "ssmlab's room endpoint does not serve moto's own API (/moto-api): on a shared endpoint "
    "it would let anyone reset or read every attendee's account."
)


def credential_of(environ: dict) -> tuple[str | None, str | None]:
    """(access key id, signing service) of a SigV4 request, from its Authorization header
    or a presigned URL's ``X-Amz-Credential``; (None, None) when it carries none."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        match = _QUERY_CREDENTIAL.search(environ.get("QUERY_STRING", ""))
    return (match.group(1), match.group(2)) if match else (None, None)


def _protocol(environ: dict, service: str | None) -> str:
    if service == "ec2":
        return "ec2"
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in environ.get("CONTENT_TYPE", ""):
        return "json"
    return "query"


def _error(start_response, protocol: str, status: int, code: str, message: str) -> list[bytes]:
    request_id = str(uuid.uuid4())
    if protocol == "json":
        body = json.dumps({"__type": code, "message": message})
        content_type = "application/x-amz-json-1.1"
    elif protocol == "ec2":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                f"<Message>{escape(message)}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>")
        content_type = "text/xml"
    else:
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
                f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>")
        content_type = "text/xml"
    data = body.encode()
    reason = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}[status]
    start_response(f"{status} {reason}", [("Content-Type", content_type), ("Content-Length", str(len(data))),
                                          ("x-amzn-RequestId", request_id)])
    return [data]


class RoomGuard:
    """WSGI middleware: only the room's accounts' keys reach the lab (see the module)."""

    def __init__(self, app: Callable, accounts: Iterable[str]):
        self.app = app
        self.accounts = frozenset(accounts)

    def __call__(self, environ: dict, start_response):
        if environ.get("PATH_INFO", "").startswith("/moto-api"):
            return _error(start_response, "json", 403, "AccessDeniedException", MOTO_API)
        if environ.get(INSTANCE_HEADER) == clock.INSTANCE_TOKEN:
            return self.app(environ, start_response)  # the lab's own call, in its account
        environ.pop(ACCOUNT_HEADER, None)
        environ.pop(INSTANCE_HEADER, None)
        key, service = credential_of(environ)
        protocol = _protocol(environ, service)
        if key is None:
            return _error(start_response, protocol, *NO_KEY[protocol])
        if _moto.account_of_access_key(key) not in self.accounts:
            return _error(start_response, protocol, *UNKNOWN_KEY[protocol])
        if not signature_holds(environ, _moto.secret_of_access_key(key) or ""):
            return _error(start_response, protocol, *BAD_SIGNATURE[protocol])
        return self.app(environ, start_response)


def _header(environ: dict, name: str) -> str | None:
    if name in ("content-type", "content-length"):
        return environ.get(name.upper().replace("-", "_"))
    return environ.get("HTTP_" + name.upper().replace("-", "_"))


def signature_holds(environ: dict, secret: str) -> bool:
    """Whether the request's SigV4 signature is the one ``secret`` gives. The body is read
    here and put back for the app."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    match = _AUTHORIZATION.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:  # a presigned URL, or another scheme: not what the lab's clients send
        return False
    key, _day, region, service, signed, signature = match.groups()
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    headers = {}
    for name in signed.split(";"):
        value = _header(environ, name)
        if value is None:
            return False
        headers[name] = value
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    request = AWSRequest(method=environ.get("REQUEST_METHOD", "GET"),
                         url=f"http://{headers.get('host', environ.get('HTTP_HOST', ''))}{uri}",
                         data=body, headers=headers)
    request.context["timestamp"] = headers.get("x-amz-date", "")
    auth = SigV4Auth(Credentials(key, secret), service, region)
    expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    return hmac.compare_digest(expected, signature)
