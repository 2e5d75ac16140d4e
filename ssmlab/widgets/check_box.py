"""The check box's model: a pure checker, the answers typed so far, and its last verdict.

The checkers stay pure functions (``ssmlab.checks``, ``ssmlab.checks_ssm``); this class only
remembers the answers and calls the checker with them and the facts it is judged against.
Plain Python (no ipywidgets): the view in ``views.py`` is a text box per answer and a
"Check" button.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..checks import Feedback
from ..i18n import _


@dataclass
class CheckModel:
    """``checker(*answers, **facts) -> Feedback``; one answer per name in ``fields``.

    ``CheckModel(checks.check_trust_policy)`` has one answer; ``CheckModel(
    checks_ssm.check_denied_call, fields=("principal", "action", "fix"), facts={"role":
    ROLE, "instance_id": INSTANCE_ID})`` has three.
    """

    checker: Callable[..., Feedback]
    fields: tuple[str, ...] = ("answer",)
    facts: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)
    feedback: Feedback | None = None
    title: str = ""

    def __post_init__(self) -> None:
        self.fields = tuple(self.fields)
        for name in self.fields:
            self.answers.setdefault(name, "")
        if not self.title:
            self.title = self.checker.__name__

    def set(self, name: str, value: str) -> None:
        if name not in self.fields:
            raise KeyError(f"{self.title} has no answer {name!r}; its answers are {list(self.fields)}")
        self.answers[name] = value

    def check(self, *answers: str) -> Feedback:
        """Check ``answers`` (or, without arguments, the answers set so far)."""
        if answers:
            if len(answers) != len(self.fields):
                raise TypeError(f"{self.title} takes {len(self.fields)} answer(s): {list(self.fields)}")
            self.answers.update(zip(self.fields, answers))
        self.feedback = self.checker(*(self.answers[name] for name in self.fields), **self.facts)
        return self.feedback

    def text(self) -> str:
        verdict = str(self.feedback) if self.feedback is not None else _("not checked yet")
        return _("Check ({title}; answer: {fields}): {verdict}").format(
            title=self.title, fields=", ".join(self.fields), verdict=verdict)
