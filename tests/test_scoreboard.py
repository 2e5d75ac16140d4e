"""The fleet's scoreboard: its text table, and its ipywidgets view, without a front end."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ssmlab
from ssmlab import fleet, scoreboard
from ssmlab.fleet import Grade
from fleet_seeds import seed_drawing

CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"


def test_the_model_imports_no_ipywidgets():
    code = "import sys, ssmlab.scoreboard; assert 'ipywidgets' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_rows_and_table_from_grades():
    grades = [
        Grade("node-01", "i-01", True, (), "fixed: Online, and Session Manager connects."),
        Grade("node-02", "i-02", False, (), "not yet: Systems Manager does not list it."),
        Grade("node-03", "i-03", True, ("the instance's role r has AdministratorAccess",), "Online, but not acceptable"),
    ]
    rows = scoreboard.rows_from(grades, {"i-01": "Online", "i-03": "Online"})
    assert [(r.ping, r.state) for r in rows] == [
        ("Online", scoreboard.FIXED), (scoreboard.NOT_LISTED, scoreboard.NOT_YET), ("Online", scoreboard.UNACCEPTABLE)]
    assert scoreboard.table(rows).splitlines() == [
        "name     instance id  Systems Manager  fix",
        "-------  -----------  ---------------  ----------------",
        "node-01  i-01         Online           fixed acceptably",
        "node-02  i-02         not listed       not yet",
        "node-03  i-03         Online           unacceptable fix",
        "1 of 3 fixed acceptably.",
    ]



def test_the_japanese_table_lines_up_in_a_terminal():
    """Japanese labels take two columns each: the table pads by display width, not characters."""
    from ssmlab import i18n

    grades = [Grade("node-01", "i-01", True, (), "ok"), Grade("node-02", "i-02", False, (), "no")]
    rows = scoreboard.rows_from(grades, {"i-01": "Online"})
    i18n.set_language("ja")
    try:
        lines = scoreboard.table(rows).splitlines()
    finally:
        i18n.set_language("en")
    assert "一覧にない" in lines[3] and "許容範囲で修正済み" in lines[2]
    # each row's last column starts where the header's does, counted in terminal columns
    starts = {scoreboard.columns(line[:line.rindex("  ") + 2]) for line in lines[:4]}
    assert len(starts) == 1, lines
    assert scoreboard.columns("名前") == 4 and scoreboard.columns("node") == 4

#: The causes the board's test fixes, good and bad: its seed is chosen from the draw.
BOARD_CAUSES = {"role-without-policy", "security-group-egress", "refused-then-fixed"}
BOARD_SEED = seed_drawing(*BOARD_CAUSES)


@pytest.fixture
def built(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("SSMLAB_PROGRESS", str(tmp_path / "progress.json"))
    return fleet.build(lab, seed=BOARD_SEED)


def member(built_fleet, cause: str):
    return next(m for m in built_fleet.members if m.cause_key == cause)


def test_the_board_follows_fixes_good_and_bad(lab, built):
    from ssmlab.widgets import FleetScoreboard

    view = FleetScoreboard(lab, built)
    assert view.text().endswith("0 of 8 fixed acceptably.")
    assert all(r.state == scoreboard.NOT_YET and r.ping == scoreboard.NOT_LISTED for r in view.model.rows)
    assert view._repr_mimebundle_()["text/plain"] == view.text()

    # The least change for a role without its policy: attach it; the agent retries within 30 minutes.
    lacking = member(built, "role-without-policy")
    lab.client("iam").attach_role_policy(RoleName=lacking.resources["role"], PolicyArn=CORE)
    # A blanket fix for egress: every port open to anywhere. Online, and not acceptable.
    blocked = member(built, "security-group-egress")
    lab.client("ec2").authorize_security_group_egress(GroupId=blocked.resources["security_group"], IpPermissions=[
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    lab.wait(minutes=31)
    rows = {r.name: r for r in view.refresh()}
    assert (rows[lacking.name].ping, rows[lacking.name].state) == ("Online", scoreboard.FIXED)
    assert rows[blocked.name].state == scoreboard.UNACCEPTABLE
    assert "open on all ports" in rows[blocked.name].verdict
    # The member whose agent was only backing off retried by itself in those 31 minutes.
    waited = member(built, "refused-then-fixed")
    assert {r.name for r in rows.values() if r.state == scoreboard.FIXED} == {lacking.name, waited.name}
    assert view.text().endswith("2 of 8 fixed acceptably.")
    assert 'class="ssmlab-row-fixed-acceptably"' in view._table.value
    assert view._table.value.count('class="ssmlab-row-unacceptable-fix"') >= 1
    # The grader recorded the milestone of the member it passed, and only that one.
    from ssmlab import progress

    assert progress.reached(f"fleet-{lacking.name}-fixed")
    assert not progress.reached(f"fleet-{blocked.name}-fixed")


def test_print_gives_the_table(lab, built, capsys):
    print(scoreboard.Scoreboard(lab, record=False))  # the fleet read back from AWS's answers
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "instance", "id", "Systems", "Manager", "fix"]
    assert [line.split()[0] for line in out[2:10]] == list(fleet.MEMBERS)
