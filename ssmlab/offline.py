"""The offline endpoint: a moto server on loopback, inside this process.

The server is started once per process; a new lab resets its state and reseeds its ids
instead of starting a second server.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import sys
import threading
from datetime import datetime
from typing import Callable

import boto3

from werkzeug.serving import make_server  # noqa: E402

from . import simulation  # noqa: E402
from .simulation import _moto, clock, unmodelled  # noqa: E402
from .errors import LabError  # noqa: E402
from .i18n import _  # noqa: E402

_moto.prepare()  # before any botocore session of the lab's (simulation/_moto.py)
_moto.load_aws_managed_policies()

LOOPBACK = "127.0.0.1"
DEFAULT_SEED = 1
#: The account id moto uses; the only 12-digit account id allowed in stored outputs.
ACCOUNT_ID = "123456789012"


class _QuietRequestHandler(_moto.MotoRequestHandler):
    """moto's handler without werkzeug's log lines (they would land in cells).

    Per-request lines print only with ``log_requests``; werkzeug's error lines ("Error on
    request:" and a traceback) never print: they go to the ``ssmlab.offline`` logger at
    DEBUG level. A request the lab cannot answer gets an AWS-shaped error instead
    (``simulation.unmodelled``).
    """

    def log_request(self, code="-", size="-"):  # noqa: D401 - werkzeug's signature
        if self.server.log_requests:
            super().log_request(code, size)

    def log(self, type, message, *args):  # noqa: A002 - werkzeug's signature
        if type == "error":
            unmodelled.log.debug(message, *args)
            return
        super().log(type, message, *args)


@contextlib.contextmanager
def _jsonschema_without_rfc3987_syntax():
    """Import jsonschema, if it is first imported here, without the ``rfc3987_syntax`` grammar.

    moto's CloudFormation parser imports every moto service, API Gateway among them, which
    imports openapi_spec_validator and so jsonschema, which imports ``rfc3987_syntax``
    when installed (JupyterLab's dependencies install it) to check the ``iri`` formats:
    building its grammar took 2.1 of the 2.4 s the first stack of a process waited
    (``python -X importtime``; 0.3 s without it). The lab never checks an ``iri`` format,
    so the cost buys nothing here; only jsonschema's ``iri``/``iri-reference`` format
    checks are missing in this process afterwards, and only if jsonschema was not
    imported before. ``rfc3987_syntax`` itself stays importable.
    """
    if "jsonschema" in sys.modules or "rfc3987_syntax" in sys.modules:
        yield
        return
    sys.modules["rfc3987_syntax"] = None  # an import of it raises ImportError meanwhile
    try:
        yield
    finally:
        if sys.modules.get("rfc3987_syntax", ...) is None:
            del sys.modules["rfc3987_syntax"]


def _import_cloudformation_meanwhile() -> None:
    """Import moto's CloudFormation in the background, while the learner reads.

    The first stack request of a process otherwise waits for it (0.4–0.6 s on a 2-core
    machine, after ``_jsonschema_without_rfc3987_syntax``): lesson 03's ``create-stack``,
    and ``start(lesson=3…7)``. A request that comes sooner waits for this same import
    (Python's import lock), so nothing changes but when the time is spent. Started before
    the server takes requests, so this is the only import of it in the process.
    """

    def import_it() -> None:
        with _jsonschema_without_rfc3987_syntax():
            _moto.import_cloudformation()

    threading.Thread(target=import_it, name="ssmlab-import-cloudformation", daemon=True).start()


def regions() -> list[str]:
    """The Regions the offline lab can be started in: those moto has an EC2 backend for."""
    return _moto.ec2_regions(ACCOUNT_ID)


def _listening_socket(port: int) -> socket.socket:
    """A socket bound to ``port`` on loopback and listening (0: a free port the system
    chooses), or LabError if the port is taken. Bound here and handed to werkzeug, so the
    port that is checked is the port that serves (werkzeug would print and exit instead)."""
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise LabError(
            _("Port {port!r} is not a TCP port: choose one from 1 to 65535, or 0 for any free port.").format(
                port=port)
        )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as http.server does
    try:
        listener.bind((LOOPBACK, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            raise LabError(
                _("Port {port} on {address} is already in use: choose another with "
                  "--port, or stop the program using it.").format(port=port, address=LOOPBACK)
            ) from None
        raise
    return listener


class OfflineEndpoint:
    """A moto server bound to 127.0.0.1 with ssmlab's simulation installed."""

    def __init__(self, port: int = 0, log_requests: bool = False):
        simulation.install()
        _moto.load_managed_policies_once_and_in_the_labs_partition()
        logging.getLogger("werkzeug").setLevel(logging.INFO if log_requests else logging.ERROR)
        listener = _listening_socket(port)
        _import_cloudformation_meanwhile()
        # moto's dispatcher, with AWS-shaped answers for what the lab does not model.
        # Each request moves the lab clock on one step (simulation/clock.py).
        app = clock.ticking(unmodelled.Dispatcher())
        self.app = app
        #: A WSGI wrapper around :attr:`app` (a room's ``RoomGuard``), or None.
        self.guard: Callable | None = None

        def guarded(environ, start_response):
            guard = self.guard
            return (guard or app)(environ, start_response)

        try:
            self._server = make_server(
                LOOPBACK, port, guarded, threaded=True, request_handler=_QuietRequestHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # werkzeug serves on its own duplicate of it
        self._server.log_requests = log_requests
        self.port: int = self._server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"ssmlab-moto-{self.port}", daemon=True
        )
        self._thread.start()

    def reset(self, seed: int = DEFAULT_SEED, region: str = "us-east-1") -> None:
        """Forget every resource and reseed ids, so a lab's outputs repeat run to run."""
        self.guard = None  # a room's door goes with the room's accounts
        _moto.forget_every_backend()
        simulation.reset()
        _moto.seed(seed, ACCOUNT_ID, region)

    def create_learner(self, user_name: str) -> dict:
        """Create the lab's IAM user and an access key for it; return the key."""
        iam = boto3.client(
            "iam",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName=user_name)
        return iam.create_access_key(UserName=user_name)["AccessKey"]

    def alive(self) -> bool:
        """True while the server thread serves and its socket is open."""
        return self._thread.is_alive() and self._server.socket.fileno() != -1

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
