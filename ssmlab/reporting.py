"""Reporting milestones to the workshop board: opt-in, and only the attendee's name and milestones.

On the workshop's JupyterHub (``workshop/jupyterhub_config.py``) an attendee who wants
the facilitator to see their progress runs ``ssmlab.reporting.report()`` once: it sends
what they have reached so far, and turns reporting on for their home, so every milestone
recorded after it (in any kernel) is sent too. ``ssmlab.reporting.report(False)`` turns it
off again. Nothing is ever sent without that call.

What is sent: ``{"name": <their hub name>, "milestones": {id: time}}`` to the board's URL
(``SSMLAB_BOARD_URL``, set by the hub's configuration), authenticated with the single-user
server's own token (``JUPYTERHUB_API_TOKEN``), which lets the board learn who sent it and
nothing more. No account id, credentials or notebook content.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

from . import progress
from .errors import LabError
from .i18n import _, ngettext

TIMEOUT = 5  # s: the board is on the same machine or cluster


def _switch() -> Path:
    """The opt-in's mark: a file next to the progress file (so SSMLAB_PROGRESS moves it too)."""
    return progress.path().with_name("report-to-board")


def enabled() -> bool:
    return _switch().exists()


def _destination() -> tuple[str, str, str]:
    url = os.environ.get("SSMLAB_BOARD_URL")
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    name = os.environ.get("JUPYTERHUB_USER")
    if not (url and token and name):
        raise LabError(_(
            "There is no workshop board here: report() works in a server started by the "
            "workshop's JupyterHub (SSMLAB_BOARD_URL, JUPYTERHUB_API_TOKEN and JUPYTERHUB_USER are not all set)."
        ))
    return url, token, name


def send() -> int:
    """Send this home's milestones to the board now; returns how many were sent."""
    url, token, name = _destination()
    milestones = progress.milestones()
    body = json.dumps({"name": name, "milestones": milestones}).encode()
    request = urllib.request.Request(
        url.rstrip("/") + "/api/report", data=body, method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT):
            pass
    except urllib.error.HTTPError as error:
        raise LabError(_("The workshop board refused the report (HTTP {code}): ask the facilitator.").format(
            code=error.code)) from None
    except OSError as error:
        raise LabError(_("The workshop board at {url} cannot be reached ({error}): ask the facilitator.").format(
            url=url, error=getattr(error, "reason", error))) from None
    return len(milestones)


def report(on: bool = True) -> None:
    """Opt in (send now, and every new milestone from now on), or out with ``report(False)``."""
    switch = _switch()
    if not on:
        switch.unlink(missing_ok=True)
        print(_("Reporting to the workshop board is off."))
        return
    count = send()  # refused or unreachable: one sentence, and reporting stays off
    switch.parent.mkdir(parents=True, exist_ok=True)
    switch.write_text("on\n", encoding="utf-8")
    print(ngettext("Sent {count} milestone to the workshop board; new ones will follow. "
                   "ssmlab.reporting.report(False) stops it.",
                   "Sent {count} milestones to the workshop board; new ones will follow. "
                   "ssmlab.reporting.report(False) stops it.", count).format(count=count))


_warned = False


def after_record(milestone_id: str) -> None:
    """Called by progress.record for a new milestone: send it if this home opted in."""
    global _warned
    if not enabled():
        return
    try:
        send()
    except LabError as error:  # the lesson goes on; say it once
        if not _warned:
            _warned = True
            print(error, file=sys.stderr)


progress.LISTENERS.append(after_record)
