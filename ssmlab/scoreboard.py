"""The fleet's scoreboard: one row per instance, from the grader and Systems Manager.

    from ssmlab import scoreboard
    board = scoreboard.Scoreboard(lab)      # grades the fleet now (fleet.grade)
    print(board)                            # a plain-text table
    board.refresh()                         # grade again after a fix

Each row: the member's name, its instance, what Systems Manager lists for it
(``DescribeInstanceInformation``'s PingStatus, or "not listed") and the grader's state —
*fixed acceptably*, *not yet*, or *unacceptable fix* (Online perhaps, but by a change the
grader refuses, with its reason). The ipywidgets view is
``ssmlab.widgets.FleetScoreboard``, a thin view over this model; this module imports no
ipywidgets.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from .i18n import N_, _

FIXED = N_("fixed acceptably")
NOT_YET = N_("not yet")
UNACCEPTABLE = N_("unacceptable fix")
NOT_LISTED = N_("not listed")


@dataclass(frozen=True)
class Row:
    name: str
    instance_id: str
    ping: str  #: PingStatus, or NOT_LISTED
    state: str  #: FIXED, NOT_YET or UNACCEPTABLE
    verdict: str  #: the grader's sentence


def state_of(grade) -> str:
    """A grade's state on the board."""
    if grade.passed:
        return FIXED
    return UNACCEPTABLE if grade.problems else NOT_YET


def rows_from(grades, pings: dict[str, str]) -> list[Row]:
    """Rows from the grader's :class:`~ssmlab.fleet.Grade` list and a PingStatus per instance."""
    return [Row(g.name, g.instance_id, pings.get(g.instance_id, NOT_LISTED), state_of(g), g.verdict) for g in grades]


def ping_statuses(lab, instance_ids: list[str]) -> dict[str, str]:
    """DescribeInstanceInformation's PingStatus for the instances it lists."""
    listed = lab.client("ssm").describe_instance_information(
        Filters=[{"Key": "InstanceIds", "Values": list(instance_ids)}]
    )["InstanceInformationList"]
    return {item["InstanceId"]: item["PingStatus"] for item in listed}


def columns(text: str) -> int:
    """How many terminal columns ``text`` takes: East Asian wide and full-width characters
    (the Japanese labels) take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def table(rows: list[Row]) -> str:
    """The rows as a plain-text table, then the count of instances fixed acceptably."""
    header = (_("name"), _("instance id"), _("Systems Manager"), _("fix"))
    cells = [header] + [(r.name, r.instance_id, _(r.ping) if r.ping == NOT_LISTED else r.ping, _(r.state))
                        for r in rows]
    widths = [max(columns(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell + " " * (width - columns(cell)) for cell, width in zip(row, widths)).rstrip()
             for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    fixed = sum(r.state == FIXED for r in rows)
    lines.append(_("{fixed} of {total} fixed acceptably.").format(fixed=fixed, total=len(rows)))
    return "\n".join(lines)


class Scoreboard:
    """The fleet's state per instance, graded on creation and on :meth:`refresh`.

    ``record`` passes on to the grader (progress milestones; on by default, as in the lesson).
    """

    def __init__(self, lab, fleet=None, *, record: bool = True):
        from . import fleet as fleet_module

        self.lab = lab
        self.fleet = fleet if fleet is not None else fleet_module.load(lab)
        self.record = record
        self.rows: list[Row] = []
        self.refresh()

    def refresh(self) -> list[Row]:
        from . import fleet as fleet_module

        grades = fleet_module.grade(self.lab, self.fleet, record=self.record)
        self.rows = rows_from(grades, ping_statuses(self.lab, [g.instance_id for g in grades]))
        return self.rows

    @property
    def all_fixed(self) -> bool:
        return bool(self.rows) and all(r.state == FIXED for r in self.rows)

    def text(self) -> str:
        return table(self.rows)

    def __str__(self) -> str:
        return self.text()

    __repr__ = __str__
