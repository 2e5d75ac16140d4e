"""What the offline lab does not model answers in AWS's shape, in one line, at one place.

moto raises ``NotImplementedError`` for an operation it lacks (SSM ``DescribeSessions``,
``GetInventory``, ...), crashes on some requests it half-models, and has no backend at all
for many services. Its server then answers HTTP 500 with an HTML page and prints the
traceback; botocore retries a 500 four times, so the AWS CLI waits seconds and shows the
page (docs/aws-facts.md#unmodelled-calls).

Here every such request, whatever its service or operation, gets instead:

- HTTP 400, so botocore does not retry (it retries 500, 502, 503, 504 and throttling codes
  only: botocore ``retries/standard.py``, ``TRANSIENT_STATUS_CODES``);
- AWS's error shape for the service's protocol (botocore ``parsers.py``): JSON
  ``{"__type", "message"}`` (SSM), query XML ``<ErrorResponse><Error>`` (IAM, STS,
  CloudFormation), EC2's ``<Response><Errors><Error>``, REST-XML ``<Error>``, REST-JSON's
  ``X-Amzn-ErrorType`` header;
- the code ``NotImplemented`` and a one-line message naming the operation, its ``aws``
  command, and that a real AWS account answers it.

The traceback goes to the ``ssmlab.offline`` logger at DEBUG level: never to a cell.

Installed at the server's dispatch (:class:`Dispatcher` and :func:`create_backend_app`,
used by ``ssmlab.offline``) through Flask's own error handlers, not per operation.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from typing import Any
from xml.sax.saxutils import escape

import flask
from botocore import xform_name
from botocore.exceptions import UnknownServiceError
from botocore.session import get_session
from werkzeug.exceptions import InternalServerError, MethodNotAllowed, NotFound

from . import cfn_corrections
from ._moto import DomainDispatcherApplication, backends
from ._moto import create_backend_app as moto_create_backend_app

__all__ = ["CODE", "Dispatcher", "create_backend_app", "message_for"]

#: The error code of every answer from here (AWS uses it for functionality a request
#: implies but the service does not implement; HTTP 400 here so that nothing retries).
CODE = "NotImplemented"
STATUS = 400
#: The pseudo-backend for hosts no moto service serves.
_NO_BACKEND = "ssmlab-no-backend"

log = logging.getLogger("ssmlab.offline")


# --------------------------------------------------------------------------- the message


def message_for(service: str | None, operation: str | None, crashed: str | None = None) -> str:
    """The one line a learner reads: what the lab does not model, and who answers it."""
    if operation and service:
        what = f"{operation} (aws {service} {xform_name(operation, '-')})"
    elif service:
        what = f"this {service} request"
    else:
        what = "this request"
    if crashed:
        return (f"ssmlab's offline lab cannot answer {what}: its simulation of this call "
                f"failed ({crashed}). A real AWS account answers it.")
    return f"ssmlab's offline lab does not model {what}. A real AWS account answers it."


# ------------------------------------------------------------------- what was asked


@functools.lru_cache(maxsize=None)
def _service_model(name: str):
    try:
        return get_session().get_service_model(name)
    except UnknownServiceError:
        return None


def _signing_name(request: flask.Request) -> str | None:
    # SigV4: "AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ..."
    match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", request.headers.get("Authorization", ""))
    return match.group(1) if match else None


def _model_for(request: flask.Request, backend: str | None):
    for name in (backend, _signing_name(request)):
        if name and name != _NO_BACKEND:
            model = _service_model(name)
            if model is not None:
                return model
    return None


def _operation(request: flask.Request, model) -> str | None:
    target = request.headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    action = request.values.get("Action")
    if action:
        return action
    if model is None:
        return None
    # REST protocols: the operation whose HTTP method and URI template match the request.
    best, best_length = None, -1
    for name in model.operation_names:
        http = model.operation_model(name).http
        if http.get("method", "").upper() != request.method:
            continue
        uri = http.get("requestUri", "/").split("?", 1)[0]
        pattern = re.sub(r"\\\{[^}]+\\\+\\\}", ".+", re.escape(uri))
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
        if re.fullmatch(pattern.rstrip("/") + "/?", request.path) and len(uri) > best_length:
            best, best_length = name, len(uri)
    return best


def _protocol(request: flask.Request, model) -> str:
    content_type = request.headers.get("Content-Type", "")
    if "x-amz-json" in content_type:
        return "json"
    if model is not None:
        return model.resolved_protocol
    return "query" if request.values.get("Action") else "json"


# ------------------------------------------------------------------------ the answer


def _answer(request: flask.Request, backend: str | None, crashed: str | None = None) -> flask.Response:
    model = _model_for(request, backend)
    service = model.service_name if model is not None else (_signing_name(request) or None)
    operation = _operation(request, model)
    message = message_for(service, operation, crashed)
    protocol = _protocol(request, model)
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id}
    if protocol in ("json", "rest-json", "smithy-rpc-v2-cbor"):
        headers["X-Amzn-ErrorType"] = CODE
        body = json.dumps({"__type": CODE, "message": message})
        content_type = "application/x-amz-json-1.1" if protocol == "json" else "application/json"
    elif protocol == "ec2":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{CODE}</Code>"
                f"<Message>{escape(message)}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>")
        content_type = "text/xml"
    elif protocol == "rest-xml":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{CODE}</Code>"
                f"<Message>{escape(message)}</Message><RequestId>{request_id}</RequestId></Error>")
        content_type = "application/xml"
    else:  # query
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{CODE}</Code>"
                f"<Message>{escape(message)}</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>")
        content_type = "text/xml"
    return flask.Response(body, status=STATUS, headers=headers, content_type=content_type)


def _backend_of_current_app() -> str | None:
    return getattr(flask.current_app, "service", None)


def _answer_crash(error: InternalServerError) -> flask.Response:
    original = error.original_exception
    if isinstance(original, NotImplementedError):
        crashed = None  # moto: "The <action> action has not been implemented"
    else:
        crashed = type(original).__name__ if original is not None else "an internal error"
    return _answer(flask.request, _backend_of_current_app(), crashed)


def _answer_unrouted(error):
    # Flask's routing found no view (a REST path moto does not serve): that is this
    # module's case. A NotFound a moto handler raised itself is moto's own answer.
    if flask.request.routing_exception is error:
        return _answer(flask.request, _backend_of_current_app())
    return error


def _log_quietly(exc_info) -> None:
    log.debug("Request the lab does not model: %s %s", flask.request.method, flask.request.path,
              exc_info=exc_info)


def _install_handlers(app: flask.Flask) -> flask.Flask:
    # Flask's documented hooks: with PROPAGATE_EXCEPTIONS off, an unhandled exception is
    # logged by app.log_exception and answered by the InternalServerError handler.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.log_exception = _log_quietly
    app.register_error_handler(InternalServerError, _answer_crash)
    app.register_error_handler(NotFound, _answer_unrouted)
    app.register_error_handler(MethodNotAllowed, _answer_unrouted)
    return app


def create_backend_app(service: Any) -> flask.Flask:
    """moto's Flask app for ``service``, answering what it cannot as above."""
    if service == _NO_BACKEND:
        app = flask.Flask("ssmlab-unmodelled")
        app.service = _NO_BACKEND  # type: ignore[attr-defined]

        @app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
        @app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
        def no_backend(path: str) -> flask.Response:
            return _answer(flask.request, None)

        return _install_handlers(app)
    if service == cfn_corrections.SERVICE:
        # moto's CloudFormation is imported in the background (ssmlab.offline); its
        # corrections are applied here, before the first CloudFormation request.
        cfn_corrections.apply()
    return _install_handlers(moto_create_backend_app(service))


class Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, sending hosts of services moto lacks to :func:`create_backend_app`.

    moto's own lookup prints "Unable to find appropriate backend ..." to standard output
    (the notebook's, offline) and then fails; here such a host gets the answer above.
    """

    def __init__(self) -> None:
        super().__init__(create_backend_app)

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None or host == "moto_api" or host in backends.list_of_moto_modules():
            return super().get_backend_for_host(host)
        for backend, pattern in self.backend_url_patterns:
            if pattern.match(f"http://{host}"):
                return backend
        return _NO_BACKEND if "amazonaws.com" in host else None
