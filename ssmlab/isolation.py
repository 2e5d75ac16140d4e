"""While the offline lab runs, botocore in this process reaches the lab's endpoint only.

``lab.py`` sets the learner's AWS variables aside and makes boto3's default session anew,
so every client made after ``start()`` talks to the lab. A client made *before* it keeps
what it was made with: its endpoint (AWS's, or ``endpoint_url`` of a config file), its
proxies and its credentials. botocore sends every request of every client through one
class, ``botocore.httpsession.URLLib3Session``; while the offline lab runs its ``send``
refuses, before any connection is opened, a request whose URL is not the lab's endpoint,
or that would go through a proxy, with one sentence (docs/aws-facts.md#robust-isolation).
It also notices a lab server that has died, instead of botocore's retries against a
closed port. ``stop()`` takes the guard away: the learner's own clients work as before.

The ``aws`` CLI is another process and another botocore: it reads the environment the lab
set (``!aws`` lines, the AWS CLI helper's children), and the isolation tests watch it with
a loopback guard of their own (tests/loopback_guard).
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import urlsplit

from .errors import LabError
from .i18n import _
from .simulation import _moto

_original_send = None
_lab_url: str | None = None
_alive: Callable[[], bool] = lambda: True  # noqa: E731


def dead_server_sentence() -> str:
    return _(
        "The offline lab's server in this kernel has stopped answering: run "
        "`lab = ssmlab.start(lesson=N)` again (N: this notebook's number) to start a new one."
    )


def _same_endpoint(url: str, lab_url: str) -> bool:
    ours, theirs = urlsplit(lab_url), urlsplit(url)
    return (theirs.scheme, theirs.hostname, theirs.port) == (ours.scheme, ours.hostname, ours.port)


def _guarded_send(self, request):
    lab_url = _lab_url
    if lab_url is not None:
        if not _same_endpoint(request.url, lab_url):
            where = urlsplit(request.url).netloc or request.url
            raise LabError(
                _("This client was made before ssmlab.start() and points at {where}: while the "
                "offline lab runs, only its endpoint {lab_url} is reached. Make the client again "
                "after start() (lab.client(...) or boto3.client(...)).").format(where=where, lab_url=lab_url)
            )
        if self._proxy_config.proxy_url_for(request.url):
            raise LabError(
                _("This client was made before ssmlab.start() with a proxy for the lab's endpoint: "
                "make the client again after start() (lab.client(...) or boto3.client(...)).")
            )
        if not _alive():
            raise LabError(dead_server_sentence())
    return _original_send(self, request)


def install(lab_url: str, alive: Callable[[], bool]) -> None:
    """From now on botocore in this process reaches ``lab_url`` only."""
    global _original_send, _lab_url, _alive
    if _original_send is None:
        _original_send = _moto.botocore_http_session().send
        _moto.botocore_http_session().send = _guarded_send
    _lab_url, _alive = lab_url, alive


def uninstall() -> None:
    """botocore sends requests as it did before ``install``."""
    global _original_send, _lab_url
    if _original_send is not None:
        _moto.botocore_http_session().send = _original_send
        _original_send = None
    _lab_url = None


def installed() -> bool:
    return _original_send is not None
