"""The files the lessons write beside the notebooks (``%%writefile`` and ``open(..., "w")``
cells), so ``lab.cleanup()`` removes them with the lab's resources.

tests/test_bad_input.py reads every lesson and fails if a lesson writes a file not listed
here, so the list cannot fall behind the lessons.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .i18n import _

#: Each file a lesson writes, and the lesson that writes it first.
LESSON_FILES = {
    "read-roles.json": "01",
    "trust-me.json": "01",
    "assume-role-policy.json": "02",
    "my-instance.yaml": "03",
    "pass-role-for-ec2.json": "03",
    "restricted-learner.json": "03",
    "ssm-agent-minimal.json": "07",
    "trust-ec2-only.json": "07",
}


def _is_lesson_folder(folder: Path) -> bool:
    """Only a folder holding the lessons (``NN-*.ipynb``): never a learner's own files elsewhere."""
    return any(folder.glob("[0-9][0-9]-*.ipynb"))


def remove_lesson_files(folder: Path | str = ".", *, dry_run: bool = False,
                        emit: Callable[[str], None] = print) -> list[Path]:
    """Remove (``dry_run``: only name) the lesson files in ``folder``; return them."""
    folder = Path(folder)
    if not _is_lesson_folder(folder):
        return []
    found = [folder / name for name in sorted(LESSON_FILES) if (folder / name).is_file()]
    for path in found:
        if dry_run:
            emit(_("Would remove the lesson file {name}").format(name=path.name))
        else:
            path.unlink(missing_ok=True)
            emit(_("Removed the lesson file {name}").format(name=path.name))
    return found
