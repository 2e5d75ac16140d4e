"""Interactive pieces of the lessons: models (plain classes) and their ipywidgets views.

    from ssmlab.widgets import LabMap, TrustPolicyBuilder, CheckBox
    lab_map = LabMap(lab)                                     # role ↔ … ↔ Systems Manager
    builder = TrustPolicyBuilder(lab, on_apply=lab_map.refresh)
    CheckBox(checks.check_trust_policy)
    ProfileMap(lab, profiles=[PROFILE], instance_ids=[INSTANCE_ID])  # profile ↔ role, instance ↔ profile
    FleetScoreboard(lab)                                      # lesson 08: the fleet, per instance

Models (``TrustPolicyModel``, ``LabMapModel``, ``ProfileMapModel``, ``CheckModel``) import no ipywidgets and are
tested without a browser; the views (``views.py``) are imported on first use.
"""

from __future__ import annotations

from .check_box import CheckModel
from .lab_map import Link, LabMapModel
from .profile_map import ProfileMapModel
from .trust_builder import Applied, TrustPolicyModel

_VIEWS = ("CheckBox", "LabMap", "ProfileMap", "TrustPolicyBuilder", "FleetScoreboard")

__all__ = ["Applied", "CheckModel", "LabMapModel", "Link", "ProfileMapModel", "TrustPolicyModel", *_VIEWS]


def __getattr__(name: str):
    if name in _VIEWS:
        from . import views

        return getattr(views, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
