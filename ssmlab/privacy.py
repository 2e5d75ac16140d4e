"""What the lab's own displays show of a real account: its id masked (``********4321``).

Every display the lab makes — ``print(lab)``, the lab map, checker feedback, the widgets
(their text form and every trait synced to the front end, so nothing saved in a
notebook's widget state holds the id), waits, clean-up and preflight reports, ``LabError``
texts — passes through :func:`shown`. ``SSMLAB_SHOW_ACCOUNT=1`` shows the id in full
(``ssmlab.scrub.for_display``). Offline there is nothing to hide: the lab's account is
AWS's documentation example, 123456789012, and texts are shown as they are.
"""

from __future__ import annotations

from .scrub import for_display, mask_text


def real(lab=None) -> bool:
    """Whether ``lab`` (default: the lab started last) is on a real account."""
    if lab is None:
        from .lab import current

        lab = current()
    return lab is not None and not getattr(lab, "offline", True)


def shown(text: str, lab=None) -> str:
    """``text`` as a display of ``lab`` (default: the current lab) may show it."""
    return for_display(text) if real(lab) else text


def for_state(text: str, lab=None) -> str:
    """``text`` as a widget trait synced to the front end may hold it: masked on a real
    account even with ``SSMLAB_SHOW_ACCOUNT=1``, since JupyterLab saves widget state in the
    notebook file, where the learner does not see it to scrub it."""
    return mask_text(text) if real(lab) else text
