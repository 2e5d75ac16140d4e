"""Milestones, opt-in reporting and the board's model, without a hub (tests/test_hub.py
runs them on a real one, in a browser).

- ``ssmlab.start(lesson=N)`` and the checkers record ``lesson-NN-…`` milestones, and only
  the registered ones: a checker outside a lesson, or inside another checker, records nothing;
- reporting sends nothing until the learner opts in, then exactly their hub name and
  milestones, with their server's token, to the board's ``api/report``;
- the board keeps the earliest time of each milestone, refuses what is not a milestone,
  and lists the course's milestones in order;
- progress exported from one home imports into another (a culled Binder session).
"""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

import ssmlab
from ssmlab import checks, checks_ssm, cli, milestones, progress, reporting
from ssmlab.board import BadReport, Board, page
from ssmlab.errors import LabError

EC2_TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A progress file of this test's own, and no lesson running."""
    monkeypatch.setenv("SSMLAB_PROGRESS", str(tmp_path / "progress.json"))
    monkeypatch.setattr(milestones, "_current_lesson", None)
    for name in ("SSMLAB_BOARD_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_a_lesson_start_and_a_passed_check_record_milestones(home, lab):
    assert progress.milestones() == {}
    ssmlab.start(lesson=7, quiet=True)
    assert set(progress.milestones()) == {"lesson-07-started"}
    # A draft that is not yet right records nothing; the fixed one does. The trust
    # checker it calls inside is no milestone of lesson 07.
    assert not checks_ssm.check_minimal_trust_policy({"Version": "2012-10-17", "Statement": []})
    assert set(progress.milestones()) == {"lesson-07-started"}
    assert checks_ssm.check_minimal_trust_policy(EC2_TRUST)
    assert set(progress.milestones()) == {"lesson-07-started", "lesson-07-minimal-trust"}


def test_a_checker_outside_a_lesson_records_nothing(home, lab):
    ssmlab.start(quiet=True)  # a plain start: no lesson
    assert checks.check_trust_policy(EC2_TRUST)
    assert progress.milestones() == {}


def test_every_lesson_milestone_is_registered_with_a_label():
    for lesson, items in milestones.LESSONS.items():
        assert items[0][0] == "started"
        for what, label in items:
            assert progress.label(milestones.milestone_id(lesson, what)) == f"{lesson:02d} · {label}"


class FakeBoard(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeBoard.received.append((self.path, self.headers["Authorization"], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_board(home, monkeypatch):
    server = HTTPServer(("127.0.0.1", 0), FakeBoard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    FakeBoard.received = []
    monkeypatch.setenv("SSMLAB_BOARD_URL", f"http://127.0.0.1:{server.server_port}/services/board/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "secret-of-ada")
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    yield FakeBoard.received
    server.shutdown()


def test_nothing_is_sent_until_the_learner_opts_in(fake_board, capsys):
    progress.record("lesson-00-started")
    assert fake_board == []
    reporting.report()
    assert "Sent 1 milestone to" in capsys.readouterr().out
    path, auth, body = fake_board[-1]
    assert (path, auth) == ("/services/board/api/report", "token secret-of-ada")
    assert set(body) == {"name", "milestones"} and body["name"] == "ada"
    assert set(body["milestones"]) == {"lesson-00-started"}
    progress.record("lesson-00-identity")  # opted in: a new milestone is sent at once
    assert set(fake_board[-1][2]["milestones"]) == {"lesson-00-started", "lesson-00-identity"}
    reporting.report(False)
    progress.record("lesson-01-started")
    assert len(fake_board) == 2


def test_reporting_to_no_board_is_one_sentence_and_stays_off(home, monkeypatch):
    with pytest.raises(LabError, match="There is no workshop board here"):
        reporting.report()
    monkeypatch.setenv("SSMLAB_BOARD_URL", "http://127.0.0.1:9/services/board/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "t")
    monkeypatch.setenv("JUPYTERHUB_USER", "ada")
    with pytest.raises(LabError, match="cannot be reached"):
        reporting.report()
    assert not reporting.enabled()


def test_the_board_keeps_the_first_time_and_refuses_what_is_no_milestone():
    async def scenario():
        board = Board()
        assert board.report("ada", {"lesson-06-online": "2026-12-01T10:05:00Z"})
        waiting = asyncio.create_task(board.changed(board.version, timeout=5))
        await asyncio.sleep(0)
        assert board.report("ada", {"lesson-06-online": "2026-12-01T10:00:00Z", "lesson-06-imds": "2026-12-01T10:09:00Z"})
        await asyncio.wait_for(waiting, 1)  # a change wakes the page's event stream
        assert not board.report("ada", {"lesson-06-online": "2026-12-01T11:00:00Z"})  # later: no change
        return board

    board = asyncio.run(scenario())
    assert board.attendees["ada"] == {"lesson-06-online": "2026-12-01T10:00:00Z", "lesson-06-imds": "2026-12-01T10:09:00Z"}
    for bad in (None, [], {"lesson-06-online": "yesterday"}, {"<script>": "2026-12-01T10:00:00Z"},
                {f"m-{n}": "2026-12-01T10:00:00Z" for n in range(501)}):
        with pytest.raises(BadReport):
            board.report("ada", bad)
    ids = [column["id"] for column in board.columns()]
    assert ids.index("lesson-00-started") < ids.index("lesson-06-online") < ids.index("lesson-07-started")


def test_the_page_cannot_be_broken_out_of_by_a_name():
    board = Board()
    board.report("</script><b>x", {"lesson-00-started": "2026-12-01T10:00:00Z"})
    assert "</script><b>" not in page(board)


def test_the_board_survives_a_restart(tmp_path):
    state = tmp_path / "board.json"
    Board(state).report("ada", {"lesson-00-started": "2026-12-01T10:00:00Z"})
    assert Board(state).attendees == {"ada": {"lesson-00-started": "2026-12-01T10:00:00Z"}}


def test_progress_exported_in_one_home_imports_into_another(home, monkeypatch, capsys):
    progress.record("lesson-02-started")
    exported = home / "exported.json"
    assert cli.main(["progress", "export", str(exported)]) == 0
    monkeypatch.setenv("SSMLAB_PROGRESS", str(home / "new" / "progress.json"))
    assert progress.milestones() == {}
    assert cli.main(["progress", "import", str(exported)]) == 0
    assert "1 new milestone imported" in capsys.readouterr().out
    assert set(progress.milestones()) == {"lesson-02-started"}
    assert cli.main(["progress", "show"]) == 0
    assert "lesson-02-started  (02 · started)" in capsys.readouterr().out


def test_the_board_answers_a_report_it_cannot_take_with_http_errors_not_tracebacks():
    """The report endpoint alone (no hub to ask about tokens): bodies too large, no token."""
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError
    from tornado.testing import bind_unused_port

    from ssmlab.board import make_app

    async def scenario():
        sock, port = bind_unused_port()
        server = make_app(Board(), "/services/board/")
        from tornado.httpserver import HTTPServer as TornadoServer

        http = TornadoServer(server)
        http.add_sockets([sock])
        codes = []
        for headers, body in (({}, b"{}"), ({"Authorization": "token x"}, b"x" * (65 * 1024))):
            try:
                await AsyncHTTPClient().fetch(f"http://127.0.0.1:{port}/services/board/api/report",
                                              method="POST", headers=headers, body=body)
            except HTTPClientError as error:
                codes.append(error.code)
        http.stop()
        return codes

    assert asyncio.run(scenario()) == [401, 413]
