"""Which role is in which instance profile, and which profile is associated with which instance.

Two different things, owned by two services (docs/aws-facts.md#lessons-passrole):

- an **instance profile** is an IAM resource that holds at most one role
  (``iam get-instance-profile`` … ``Roles``);
- an **instance profile association** is an EC2 resource with its own id
  (``iip-assoc-…``) and state (``associating``, ``associated``, ``disassociating``,
  ``disassociated``) that ties one profile to one instance
  (``ec2 describe-iam-instance-profile-associations``).

Swapping the role inside a profile (``remove-role-from-instance-profile`` then
``add-role-to-instance-profile``) changes the first and leaves the association alone;
``replace-iam-instance-profile-association`` changes the second and leaves every profile
alone. :func:`snapshot` reads both through the lab's clients (the same calls offline and on
a real account); :func:`render_map` and :func:`render_change` are pure and turn snapshots
into the plain text a lesson prints. ``ssmlab.widgets.ProfileMap`` is a thin view on them.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Iterable

from .i18n import _

__all__ = ["Association", "Snapshot", "render_change", "render_map", "snapshot"]


@dataclass(frozen=True)
class Association:
    """One row of ``describe-iam-instance-profile-associations``."""

    instance_id: str
    association_id: str
    profile: str  # the instance profile's name (the last part of its ARN)
    state: str


@dataclass(frozen=True)
class Snapshot:
    """Profiles with the roles they hold, and the instances' associations, at one moment."""

    profiles: tuple[tuple[str, tuple[str, ...]], ...]  # (profile name, role names), sorted
    associations: tuple[Association, ...]  # sorted by instance id

    def roles_in(self, profile: str) -> tuple[str, ...] | None:
        """The roles ``profile`` holds, or None if it does not exist."""
        return dict(self.profiles).get(profile)

    def association_of(self, instance_id: str) -> Association | None:
        """The instance's current association (not a disassociated one), if any."""
        found = [a for a in self.associations if a.instance_id == instance_id and a.state != "disassociated"]
        return found[0] if found else None


def _name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def snapshot(lab, profiles: Iterable[str], instance_ids: Iterable[str]) -> Snapshot:
    """Read ``profiles`` (IAM) and the associations of ``instance_ids`` (EC2) from the lab.

    A profile that does not exist is left out (IAM answers NoSuchEntity); an instance with
    no association has no row. Only the names given are read, so on a shared account the
    snapshot never shows someone else's resources.
    """
    from botocore.exceptions import ClientError

    iam, ec2 = lab.client("iam"), lab.client("ec2")
    held = []
    for name in sorted(set(profiles)):
        try:
            profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise
            continue
        held.append((name, tuple(sorted(r["RoleName"] for r in profile.get("Roles", [])))))
    rows = []
    ids = sorted(set(instance_ids))
    if ids:
        answer = ec2.describe_iam_instance_profile_associations(Filters=[{"Name": "instance-id", "Values": ids}])
        for item in answer["IamInstanceProfileAssociations"]:
            rows.append(
                Association(
                    instance_id=item["InstanceId"],
                    association_id=item["AssociationId"],
                    profile=_name_from_arn(item["IamInstanceProfile"]["Arn"]),
                    state=item["State"],
                )
            )
    rows.sort(key=lambda a: (a.instance_id, a.association_id))
    return Snapshot(profiles=tuple(held), associations=tuple(rows))


def _roles_text(roles: tuple[str, ...] | None) -> str:
    if roles is None:
        return _("(no such profile)")
    return ", ".join(roles) if roles else _("(no role)")


def _width(text: str) -> int:
    """Columns ``text`` takes in a monospace font: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def render_map(snap: Snapshot) -> str:
    """One picture, in ASCII: instance --association--> instance profile --holds--> role."""
    rows = [(_("instance"), _("association (EC2)"), _("instance profile (IAM)"), _("holds role"))]
    shown = set()
    for association in snap.associations:
        if association.state == "disassociated":
            continue
        rows.append(
            (
                association.instance_id,
                f"--[{association.association_id} {association.state}]-->",
                association.profile,
                "--> " + _roles_text(snap.roles_in(association.profile)),
            )
        )
        shown.add(association.profile)
    for profile, roles in snap.profiles:
        if profile not in shown:
            rows.append((_("(no instance)"), "", profile, "--> " + _roles_text(roles)))
    if len(rows) == 1:
        return _("(no instance profile and no association)")
    widths = [max(_width(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(_pad(cell, width) for cell, width in zip(row[:3], widths)) + "  " + row[3] for row in rows
    )


def render_change(before: Snapshot, after: Snapshot) -> str:
    """A table of what each profile holds and each instance is associated with, before and after."""
    rows: list[tuple[str, str, str]] = []
    for profile in sorted({p for p, _ in before.profiles} | {p for p, _ in after.profiles}):
        rows.append(
            (
                _("instance profile {profile} holds role").format(profile=profile),
                _roles_text(before.roles_in(profile)),
                _roles_text(after.roles_in(profile)),
            )
        )
    for instance in sorted({a.instance_id for a in before.associations} | {a.instance_id for a in after.associations}):
        was, now = before.association_of(instance), after.association_of(instance)
        for label, field in ((_("association"), "association_id"), (_("association state"), "state"), (_("profile"), "profile")):
            rows.append(
                (
                    f"{instance} {label}",
                    getattr(was, field) if was else _("(none)"),
                    getattr(now, field) if now else _("(none)"),
                )
            )
    header = ("", _("before"), _("after"))
    marks = {True: _("same"), False: _("CHANGED")}
    widths = [max(_width(r[i]) for r in [header, *rows]) for i in range(3)]
    mark_width = max(7, *(_width(m) for m in marks.values()))
    rule = "+-" + "-+-".join("-" * w for w in widths) + "-+-" + "-" * mark_width + "-+"
    def line(cells: tuple[str, str, str], mark: str) -> str:
        return "| " + " | ".join(_pad(c, w) for c, w in zip(cells, widths)) + f" | {_pad(mark, mark_width)} |"
    out = [rule, line(header, ""), rule]
    for row in rows:
        out.append(line(row, marks[row[1] == row[2]]))
    out.append(rule)
    return "\n".join(out)
