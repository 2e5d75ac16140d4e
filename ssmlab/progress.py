"""Milestones a learner reaches, kept in one small file in their home.

Lessons, exercise checkers and the fleet grader call :func:`record`; the workshop board
(``ssmlab board``) reads what attendees choose to report. Nothing here talks to a network:
reporting is a separate, opt-in step (see ``docs/workshop.md``).

The file is ``~/.ssmlab/progress.json`` (``SSMLAB_PROGRESS`` names another path, for tests
and for a Binder session that keeps it elsewhere). It holds the milestone ids with the time
each was first reached, in UTC, and nothing else: no account id, no credentials.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .errors import LabError
from .i18n import _

FORMAT = 1


@dataclass(frozen=True)
class Milestone:
    id: str  #: e.g. "lesson-06-online", "fleet-i-0abc-fixed"
    label: str  #: shown on the board and the scoreboard
    fields: tuple = ()  #: (name, value) pairs, each value translated, filled into the label's {fields}


#: Known milestones in the order the course reaches them. A module that records a
#: milestone registers it here with :func:`register` at import, so the board can show
#: columns in order; unregistered ids are still kept (shown after the known ones).
MILESTONES: dict[str, Milestone] = {}


#: Called with the id of each milestone newly recorded: ``ssmlab/reporting.py`` sends it to
#: the workshop board when the learner opted in.
LISTENERS: list = []


def register(milestone_id: str, label: str, **fields: str) -> Milestone:
    """``label`` in English, marked for the catalog where it is written
    (``register("lesson-06-online", N_("…"))``, or ``register(id, N_("Fleet: {member} fixed"),
    member="node-01")``); :func:`label` shows it in the lesson's language, fields filled in."""
    milestone = Milestone(milestone_id, label, tuple(fields.items()))
    MILESTONES[milestone_id] = milestone
    return milestone


def label(milestone_id: str) -> str:
    """The milestone's label in the library's language (``ssmlab/i18n.py``); an unregistered
    id is its own label."""
    known = MILESTONES.get(milestone_id)
    if not known:
        return milestone_id
    # a field is itself a catalog message where it is N_-marked ("started"); ids stay as they are
    return _(known.label).format(**{k: _(v) for k, v in known.fields}) if known.fields else _(known.label)


def path() -> Path:
    override = os.environ.get("SSMLAB_PROGRESS")
    return Path(override) if override else Path.home() / ".ssmlab" / "progress.json"


def _read(file: Path) -> dict[str, str]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise LabError(_("The progress file {file} cannot be read ({error}); move it aside and record again.").format(file=file, error=error)) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("milestones"), dict):
        raise LabError(_("{file} is not an ssmlab progress file (format {format}); move it aside and record again.").format(file=file, format=FORMAT))
    return {str(k): str(v) for k, v in data["milestones"].items()}


def _write(file: Path, milestones: dict[str, str]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"format": FORMAT, "milestones": milestones}, indent=1, sort_keys=True)
    # Written whole, then renamed: a kernel killed mid-write leaves the old file.
    with tempfile.NamedTemporaryFile("w", dir=file.parent, delete=False, encoding="utf-8") as out:
        out.write(text + "\n")
    os.replace(out.name, file)


def milestones() -> dict[str, str]:
    """Milestone id -> when it was first reached (ISO 8601, UTC)."""
    return _read(path())


def reached(milestone_id: str) -> bool:
    return milestone_id in milestones()


def record(milestone_id: str, *, at: datetime | None = None) -> bool:
    """Record a milestone; True when it is new. Reaching it again keeps the first time."""
    file = path()
    current = _read(file)
    if milestone_id in current:
        return False
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    current[milestone_id] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    _write(file, current)
    for listener in LISTENERS:
        listener(milestone_id)
    return True


def export_text() -> str:
    """The progress as JSON text, to keep before a Binder session is culled."""
    return json.dumps({"format": FORMAT, "milestones": milestones()}, indent=1, sort_keys=True)


def import_text(text: str) -> int:
    """Merge exported progress into this home's; returns how many milestones were new.
    The earlier time of a milestone reached in both wins."""
    try:
        data = json.loads(text)
    except ValueError:
        raise LabError(_("That is not exported ssmlab progress (not JSON); paste what export_text() printed.")) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("milestones"), dict):
        raise LabError(_("That is not exported ssmlab progress (format {format}); paste what export_text() printed.").format(format=FORMAT))
    current = milestones()
    new = 0
    for key, when in data["milestones"].items():
        key, when = str(key), str(when)
        if key not in current:
            new += 1
            current[key] = when
        else:
            current[key] = min(current[key], when)
    _write(path(), current)
    return new


def export_file(file: str | Path) -> int:
    """Write the progress to ``file`` (to keep before a Binder session is culled); returns
    how many milestones it holds."""
    text = export_text()
    Path(file).write_text(text + "\n", encoding="utf-8")
    return len(json.loads(text)["milestones"])


def import_file(file: str | Path) -> int:
    """Merge progress exported to ``file`` into this home's; returns how many were new."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except OSError as error:
        raise LabError(_("{file} cannot be read ({reason}): name the file export wrote.").format(
            file=file, reason=error.strerror)) from None
    return import_text(text)
