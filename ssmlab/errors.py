"""The one exception the lab raises for a mistake a learner can fix."""

from __future__ import annotations


class LabError(Exception):
    """A plain sentence saying what is wrong and what to do.

    In Jupyter it is shown as that sentence alone, without a traceback (IPython calls
    ``_render_traceback_``); the ``ssmlab`` command prints it and exits with status 2.

    The sentence never shows a real account's id (``********4321``, ``ssmlab/privacy.py``)
    unless ``SSMLAB_SHOW_ACCOUNT=1``: it is masked when the error is made.
    """

    def __init__(self, message: object = "", *args: object) -> None:
        from .masking import for_display

        super().__init__(for_display(str(message)), *args)

    def _render_traceback_(self) -> list[str]:
        return [f"LabError: {self}"]
