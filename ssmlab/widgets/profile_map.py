"""The profile map's model: which role is in which instance profile, which profile on which instance.

Plain Python (no ipywidgets): :meth:`ProfileMapModel.refresh` takes a
:func:`ssmlab.instance_profiles.snapshot` through the lab's clients, and :meth:`text` is
:func:`ssmlab.instance_profiles.render_map` of it. The view (``views.ProfileMap``) draws
the same text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..i18n import _
from ..instance_profiles import Snapshot, render_map, snapshot


@dataclass
class ProfileMapModel:
    """``profiles`` and ``instance_ids`` to read; :meth:`refresh` reads them again."""

    lab: Any
    profiles: tuple[str, ...]
    instance_ids: tuple[str, ...]
    state: Snapshot | None = None
    listeners: list[Callable[["ProfileMapModel"], None]] = field(default_factory=list, repr=False)

    def refresh(self) -> Snapshot:
        self.state = snapshot(self.lab, self.profiles, self.instance_ids)
        for listener in list(self.listeners):
            listener(self)
        return self.state

    def text(self) -> str:
        if self.state is None:
            return _("Profile map: not read yet: call refresh()")
        return _("Profile map (IAM: instance profiles and their role; EC2: associations):") + "\n" + render_map(self.state)
