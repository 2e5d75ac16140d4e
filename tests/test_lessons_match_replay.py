"""Lessons and replay from one truth: what lessons 00..N-1 leave is what ``replay.rebuild(lab, N)``
builds, for every N, compared by one description (``replay.snapshot``).

One pass: all lessons run top to bottom in one kernel (nbclient), each lesson's own first
cell starting it (``ssmlab.start(lesson=N)``, which rebuilds the lessons before it), and a
cell after each lesson prints the snapshot it leaves. Lesson N-1's snapshot must equal a
fresh lab rebuilt to lesson N, so by induction the chain holds from lesson 00 on.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import ssmlab
from ssmlab import notebooks, replay

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
MARK = "ssmlab-snapshot:"
CLEANED = "after lab.cleanup()"
SNAPSHOT_CELL = (
    "import json as _json\nfrom ssmlab import replay as _replay\n"
    f"print({MARK!r} + _json.dumps(_replay.snapshot(lab), sort_keys=True))"
)


@pytest.fixture(scope="module")
def left_by_each_lesson(tmp_path_factory) -> dict[int, dict]:
    """{N: snapshot after lesson N}, from one kernel that ran every lesson."""
    folder = tmp_path_factory.mktemp("lessons")
    for path in (ROOT / "notebooks").iterdir():  # the files the lessons read, not the repo's copies
        if path.suffix == ".json":
            shutil.copy(path, folder / path.name)
    combined = nbformat.v4.new_notebook()
    combined.metadata["kernelspec"] = dict(notebooks.KERNELSPEC)
    for index, path in enumerate(LESSONS):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
                combined.cells.append(cell)
        combined.cells.append(nbformat.v4.new_code_cell(SNAPSHOT_CELL, metadata={"lesson": index}))
    # Then the clean-up the last lesson ends by pointing to: what it leaves is the lab's.
    combined.cells.append(nbformat.v4.new_code_cell("lab.cleanup()\n" + SNAPSHOT_CELL, metadata={"lesson": CLEANED}))
    client = NotebookClient(combined, kernel_name=notebooks.KERNEL, timeout=notebooks.TIMEOUT,
                            resources={"metadata": {"path": str(folder)}})
    saved = os.environ.get("SSMLAB_BACKEND")
    os.environ["SSMLAB_BACKEND"] = "offline"
    try:
        client.execute()
    finally:
        if saved is None:
            os.environ.pop("SSMLAB_BACKEND", None)
        else:
            os.environ["SSMLAB_BACKEND"] = saved
    found = {}
    for cell in combined.cells:
        if "lesson" in cell.metadata:
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
            found[cell.metadata["lesson"]] = json.loads(text.split(MARK, 1)[1])
    assert sorted(found, key=str) == sorted([*range(len(LESSONS)), CLEANED], key=str)
    return found


def built(lesson: int) -> dict:
    """The snapshot of a fresh offline lab rebuilt to ``lesson``, round-tripped through JSON
    as the kernel's was."""
    lab = ssmlab.start(quiet=True)
    replay.rebuild(lab, lesson)
    return json.loads(json.dumps(replay.snapshot(lab), sort_keys=True))


def test_the_lessons_are_the_ones_replay_knows():
    assert len(LESSONS) == len(replay._STEPS) == len(replay._UNDO) == len(replay.LESSONS)


EMPTY = {"roles": {}, "profiles": {}, "stacks": {}, "instances": []}


@pytest.mark.parametrize("lesson", range(1, len(LESSONS)))
def test_lesson_n_starts_where_the_lessons_before_it_left(_offline_lab, left_by_each_lesson, lesson):
    assert left_by_each_lesson[lesson - 1] == built(lesson)


def test_lesson_07_cleans_up_everything_the_journey_made(_offline_lab, left_by_each_lesson):
    # A control for lesson 08's case above: the journey had something to clean up, and
    # lesson 08 starts from nothing (it makes its own positive control).
    assert left_by_each_lesson[6] != EMPTY == left_by_each_lesson[7] == built(8)


def test_lesson_08_leaves_its_control_and_fleet_and_the_clean_up_removes_them(left_by_each_lesson):
    last = left_by_each_lesson[len(LESSONS) - 1]
    assert ["control", "for-control"] in last["instances"]
    assert last["roles"]["role-for-control"]["attached"] == ["AmazonSSMManagedInstanceCore"]
    assert last["profiles"]["for-control"] == ["role-for-control"]
    assert any(name.startswith("fleet-node-") for name in last["roles"])
    assert left_by_each_lesson[CLEANED] == EMPTY


def test_lesson_00_starts_from_an_empty_account(_offline_lab):
    assert built(0) == EMPTY


def test_the_snapshot_sees_what_it_compares(_offline_lab):
    # A control: after lesson 06's step the role trusts two services and holds the policy.
    after_06 = built(7)
    role = after_06["roles"]["role-for-ec2"]
    services = [s["Principal"]["Service"] for s in role["trust"]["Statement"]]
    assert services == [["ec2.amazonaws.com", "ssm.amazonaws.com"]] and role["attached"] == ["AmazonSSMManagedInstanceCore"]
    assert after_06["profiles"] == {"for-ec2": ["role-for-ec2"]}
    assert after_06["stacks"] == {"stack-for-ec2": "CREATE_COMPLETE"}
    assert [profile for _, profile in after_06["instances"]] == ["for-ec2"]
