"""The course's milestones: a few per lesson, recorded as a learner reaches them.

``ssmlab.start(lesson=N)`` records ``lesson-NN-started`` and makes N the current lesson;
an exercise checker whose verdict is "Correct" records ``lesson-NN-<what>`` for the current
lesson (:func:`on_pass`), and lesson 06's wait records ``lesson-06-online``. Only the ids
registered below are recorded: a checker called outside a lesson (a test, a script), or
inside another checker, records nothing. The milestones go to the learner's progress file
(:mod:`ssmlab.progress`); the workshop board sees them only if the learner turns
reporting on (:func:`ssmlab.reporting.report`).
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

from . import progress, reporting  # noqa: F401 (reporting listens to progress.record)
from .errors import LabError
from .i18n import N_, _

#: lesson -> (what, label), in the order the lesson reaches them.
LESSONS: dict[int, tuple[tuple[str, str], ...]] = {
    0: (("started", N_("started")), ("identity", N_("named the lab's identity"))),
    1: (("started", N_("started")), ("trust-policy", N_("wrote a trust policy for a user"))),
    2: (("started", N_("started")), ("trust-policy", N_("fixed the broken trust policy"))),
    3: (("started", N_("started")), ("template", N_("wrote a safe instance template")),
        ("pass-role", N_("scoped iam:PassRole"))),
    4: (("started", N_("started")), ("role-swap", N_("swapped the profile's role"))),
    5: (("started", N_("started")), ("denied-call", N_("read the AccessDenied"))),
    6: (("started", N_("started")), ("online", N_("instance Online")),
        ("role-session", N_("told role from session")), ("imds", N_("read IMDSv2"))),
    7: (("started", N_("started")), ("minimal-trust", N_("minimal trust policy")),
        ("registration-policy", N_("smallest registration policy"))),
}


def milestone_id(lesson: int, what: str) -> str:
    return f"lesson-{lesson:02d}-{what}"


for _lesson, _items in LESSONS.items():
    for _what, _label in _items:
        progress.register(milestone_id(_lesson, _what), N_("{lesson} · {what}"), lesson=f"{_lesson:02d}", what=_label)

_current_lesson: int | None = None
_warned = False


def started(lesson: int | None) -> None:
    """The lab was started for ``lesson`` (None: a plain start, no lesson)."""
    global _current_lesson
    _current_lesson = lesson
    if lesson is not None:
        reached("started")


def reached(what: str) -> None:
    """Record ``lesson-NN-<what>`` for the current lesson, if that milestone exists."""
    global _warned
    if _current_lesson is None:
        return
    key = milestone_id(_current_lesson, what)
    if key not in progress.MILESTONES:
        return
    try:
        progress.record(key)
    except LabError as error:  # a broken progress file must not break the lesson
        if not _warned:
            _warned = True
            print(_("Progress is not being recorded: {error}").format(error=error), file=sys.stderr)


def on_pass(what: str) -> Callable:
    """Decorate a checker (or a wait): a result that is ok (true: a Feedback that is
    Correct, an instance found Online) records ``lesson-NN-<what>``."""

    def decorate(checker: Callable) -> Callable:
        @functools.wraps(checker)
        def wrapper(*args, **kwargs):
            result = checker(*args, **kwargs)
            if result:
                reached(what)
            return result

        return wrapper

    return decorate
