"""Every lesson, one after the other in ONE kernel, then the last one again, prints what its
notebook stores: lessons work after their predecessors in the same kernel, and a lesson
re-run top to bottom prints the same outputs (issue: the lessons' behaviour that must hold).

The lessons' cells, with their stored outputs and tags, are put into one notebook, and nbval
checks it strictly with the lessons' own sanitize file. Each edition (English, and the
Japanese one generated from it, notebooks/ja) is checked so.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
EDITIONS = {"en": LESSONS, "ja": sorted((NOTEBOOKS / "ja").glob("[0-9][0-9]-*.ipynb"))}


@pytest.mark.parametrize("edition", EDITIONS)
def test_all_lessons_in_one_kernel_then_the_last_again(tmp_path, edition):
    LESSONS = EDITIONS[edition]
    assert len(LESSONS) == len(EDITIONS["en"]), f"the {edition} edition lacks lessons"
    combined = nbformat.v4.new_notebook()
    for path in [*LESSONS, LESSONS[-1]]:
        lesson = nbformat.read(path, as_version=4)
        combined.metadata = copy.deepcopy(lesson.metadata)
        combined.cells.extend(copy.deepcopy(lesson.cells))
    for index, cell in enumerate(combined.cells):
        cell["id"] = f"cell-{index}"
    # In an empty folder: every file a lesson reads, it must have written itself.
    target = tmp_path / "all-lessons.ipynb"
    nbformat.write(combined, target)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-sanitize-with", str(NOTEBOOKS / "nbval-sanitize.cfg"), str(target)],
        capture_output=True, text=True, cwd=tmp_path, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    assert f"{sum(c.cell_type == 'code' for c in combined.cells)} passed" in result.stdout
