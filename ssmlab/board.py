"""The workshop's progress board: attendees × milestones, live, for the facilitator.

``ssmlab board`` runs as a JupyterHub service (``workshop/jupyterhub_config.py`` starts
it; JupyterHub's Helm chart too): the page is behind the hub's login through
:class:`jupyterhub.services.auth.HubOAuth`, and only users holding
``access:services!service=board`` (the hub's admins: the facilitator) may open it; an
attendee gets 403. Attendees who opt in (:func:`ssmlab.reporting.report`) POST their
milestones to ``api/report`` with their single-user server's token; the board asks the
hub whose token it is and keeps the milestones under that name only.

:class:`Board` is the model (plain, tested without a hub); the handlers are a thin view
of it. The page updates through server-sent events (``events``): no front-end build.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import signal
from pathlib import Path

from . import milestones as _course  # noqa: F401 (registers the course's milestones)
from . import progress
from .errors import LabError
from .i18n import _

MILESTONE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
WHEN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
MAX_MILESTONES = 500
MAX_REPORT_BYTES = 64 * 1024


class BadReport(ValueError):
    """A report that is not ``{"milestones": {id: time}}``."""


class Board:
    """Who reached what, by hub name; ``version`` changes with every change."""

    def __init__(self, state: Path | None = None):
        self.state = state
        self.attendees: dict[str, dict[str, str]] = {}
        self.version = 0
        self._changed = asyncio.Event()
        if state is not None and state.exists():
            data = json.loads(state.read_text(encoding="utf-8"))
            self.attendees = {str(k): dict(v) for k, v in data.get("attendees", {}).items()}

    def report(self, name: str, reached: object) -> bool:
        """Merge what ``name`` reported; True when something changed."""
        if not isinstance(reached, dict) or len(reached) > MAX_MILESTONES:
            raise BadReport("milestones must be an object of at most %d entries" % MAX_MILESTONES)
        for key, when in reached.items():
            if not (isinstance(key, str) and MILESTONE_ID.match(key) and isinstance(when, str) and WHEN.match(when)):
                raise BadReport(f"not a milestone: {key!r}: {when!r}")
        current = self.attendees.setdefault(name, {})
        merged = dict(current)
        for key, when in reached.items():
            merged[key] = min(merged.get(key, when), when)
        if merged == current:
            return False
        self.attendees[name] = merged
        self.version += 1
        if self.state is not None:
            self.state.write_text(json.dumps({"attendees": self.attendees}, indent=1, sort_keys=True), encoding="utf-8")
        self._changed.set()
        self._changed = asyncio.Event()
        return True

    async def changed(self, since: int, timeout: float) -> None:
        """Return once ``version`` differs from ``since``, or after ``timeout`` seconds."""
        if self.version != since:
            return
        try:
            await asyncio.wait_for(self._changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def columns(self) -> list[dict[str, str]]:
        """The course's milestones in order, then any others reported, by id."""
        seen = {key for reached in self.attendees.values() for key in reached}
        known = [{"id": m.id, "label": progress.label(m.id)} for m in progress.MILESTONES.values()]
        known_ids = {c["id"] for c in known}
        return known + [{"id": key, "label": key} for key in sorted(seen - known_ids)]

    def table(self) -> dict:
        return {
            "version": self.version,
            "columns": self.columns(),
            "attendees": [{"name": name, "milestones": self.attendees[name]} for name in sorted(self.attendees)],
        }


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: center; }}
th.label {{ writing-mode: vertical-rl; transform: rotate(180deg); font-weight: normal; max-height: 14em; }}
td.name {{ text-align: left; font-weight: bold; }}
td.done {{ background: #c8efc8; }}
#status {{ color: #666; }}
</style></head>
<body>
<h1>{title}</h1>
<p id="status">{waiting}</p>
<table id="board"><thead></thead><tbody></tbody></table>
<script>
const data = {initial};
function render(table) {{
  const head = document.querySelector("#board thead"), body = document.querySelector("#board tbody");
  head.replaceChildren(); body.replaceChildren();
  const row = head.insertRow(), corner = document.createElement("th");
  corner.textContent = {attendee_label}; row.appendChild(corner);
  const columns = table.columns.filter(c => table.attendees.some(a => c.id in a.milestones) || c.id.startsWith("lesson-"));
  for (const column of columns) {{
    const th = document.createElement("th"); th.className = "label"; th.textContent = column.label;
    th.dataset.milestone = column.id; row.appendChild(th);
  }}
  for (const attendee of table.attendees) {{
    const tr = body.insertRow(); tr.dataset.attendee = attendee.name;
    const name = tr.insertCell(); name.className = "name"; name.textContent = attendee.name;
    for (const column of columns) {{
      const cell = tr.insertCell(); cell.dataset.milestone = column.id;
      const when = attendee.milestones[column.id];
      if (when) {{ cell.className = "done"; cell.textContent = "\u2713"; cell.title = when; }}
    }}
  }}
  document.getElementById("status").textContent =
    {reporting_label} + " " + table.attendees.length + " \u00b7 " + {updated_label} + " " + new Date().toLocaleTimeString();
}}
render(data);
// An EventSource is no page view: JupyterHub takes its login cookie only with the xsrf token.
const events = new EventSource("events?_xsrf=" + encodeURIComponent({xsrf}));
events.onmessage = (event) => render(JSON.parse(event.data));
</script>
</body></html>
"""


def page(board: Board, xsrf: str = "") -> str:
    return PAGE.format(
        xsrf=json.dumps(xsrf),
        title=html.escape(_("ssmlab workshop board")),
        waiting=html.escape(_("Waiting for attendees to report (ssmlab.reporting.report())…")),
        # JSON inside a script: "</" escaped so no name can close the script element.
        initial=json.dumps(board.table()).replace("</", "<\\/"),
        attendee_label=json.dumps(_("attendee")),
        reporting_label=json.dumps(_("attendees reporting:")),
        updated_label=json.dumps(_("updated")),
    )


def make_app(board: Board, prefix: str):
    """The tornado application under the service's URL prefix (``/services/board/``)."""
    from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
    from tornado import iostream, web

    hub_auth = HubOAuth(cache_max_age=60)

    class Page(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def get(self):
            self.set_header("Cache-Control", "no-store")
            token = self.xsrf_token
            self.finish(page(board, token.decode() if isinstance(token, bytes) else token))

    class Table(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        def get(self):
            self.finish(board.table())

    class Events(HubOAuthenticated, web.RequestHandler):
        @web.authenticated
        async def get(self):
            self.set_header("Content-Type", "text/event-stream")
            self.set_header("Cache-Control", "no-store")
            seen = None
            try:
                while True:
                    if board.version != seen:
                        seen = board.version
                        self.write(f"data: {json.dumps(board.table())}\n\n")
                    else:
                        self.write(": keep-alive\n\n")
                    await self.flush()
                    await board.changed(seen, timeout=15)
            except (iostream.StreamClosedError, asyncio.CancelledError):
                return  # the page was closed, or the board is stopping

    class Report(web.RequestHandler):
        """POST {"name", "milestones"} with the attendee's own token: kept under the
        token's owner, and only if that is the name sent."""

        def check_xsrf_cookie(self):  # a token in a header, never a cookie: no XSRF
            pass

        async def post(self):
            if len(self.request.body) > MAX_REPORT_BYTES:
                raise web.HTTPError(413, "a report is a few kB at most")
            match = re.match(r"(?:token|bearer)\s+(\S+)", self.request.headers.get("Authorization", ""), re.I)
            if not match:
                raise web.HTTPError(401, "a token is required")
            owner = await hub_auth.user_for_token(match.group(1), sync=False)
            if not owner or owner.get("kind", "user") != "user":
                raise web.HTTPError(403, "the token is not an attendee's")
            try:
                body = json.loads(self.request.body)
            except ValueError:
                raise web.HTTPError(400, "the body is not JSON") from None
            if not isinstance(body, dict) or body.get("name") != owner["name"]:
                raise web.HTTPError(403, "an attendee reports under their own name only")
            try:
                board.report(owner["name"], body.get("milestones"))
            except BadReport as error:
                raise web.HTTPError(400, str(error)) from None
            self.set_status(204)

    return web.Application(
        [
            (prefix, Page),
            (prefix + "api/board", Table),
            (prefix + "api/report", Report),
            (prefix + "events", Events),
            (prefix + "oauth_callback", HubOAuthCallbackHandler),
        ],
        hub_auth=hub_auth,
        cookie_secret=os.urandom(32),
    )


def serve(state: Path | None) -> int:
    """Run the board as the JupyterHub service the hub started (its environment)."""
    from urllib.parse import urlparse

    url = os.environ.get("JUPYTERHUB_SERVICE_URL")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if not (url and prefix and os.environ.get("JUPYTERHUB_API_TOKEN")):
        raise LabError(_(
            "ssmlab board runs as a JupyterHub service: the hub starts it (workshop/jupyterhub_config.py, "
            "or the Helm chart's hub.services), not a shell."
        ))
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        raise LabError(_("ssmlab board needs JupyterHub: pip install -e '.[workshop]'.")) from None
    address = urlparse(url)
    import logging

    logging.basicConfig(level=logging.INFO, format="[board %(asctime)s] %(message)s")  # into the hub's log

    async def main():
        board = Board(state)
        server = make_app(board, prefix).listen(address.port, address.hostname)
        print(f"ssmlab board on {url}{prefix}", flush=True)
        stopping = asyncio.Event()  # the hub stops its services with SIGTERM
        for signum in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(signum, stopping.set)
        await stopping.wait()
        server.stop()

    asyncio.run(main())
    return 0
