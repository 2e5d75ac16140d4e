"""Names and tags of what the lab creates.

Offline, a lesson uses the blog's own names ("role-for-ec2"). In a real account, which
attendees may share, every name gets a per-user prefix (``ssmlab-<user>-`` by default,
``SSMLAB_PREFIX`` to choose another) and every resource the tag ``ssmlab:lab``.
"""

from __future__ import annotations

import getpass
import os
import re

from .errors import LabError
from .i18n import _

TAG_KEY = "ssmlab:lab"

#: IAM's and CloudFormation's limits on the names a lesson creates (IAM API reference:
#: CreateRole RoleName, CreateInstanceProfile InstanceProfileName; CloudFormation
#: CreateStack StackName). A role name is the tightest, so it bounds every lab name.
MAX_NAME_LENGTH = 64
_NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9-]*$")


def default_prefix(user: str | None = None) -> str:
    """``ssmlab-<user>-``, the user reduced to what every AWS name accepts."""
    user = user or os.environ.get("SSMLAB_USER") or getpass.getuser()
    slug = re.sub(r"[^a-z0-9]+", "-", user.lower()).strip("-")[:20] or "user"
    return f"ssmlab-{slug}-"


def lab_name(base: str, prefix: str = "") -> str:
    """The name a lesson uses for ``base``: ``prefix + base``, checked against AWS's limits."""
    name = f"{prefix}{base}"
    if not _NAME_PATTERN.match(name):
        raise LabError(
            _("{name!r} is not a name every resource in the lab accepts: use letters, digits "
            "and hyphens, starting with a letter.").format(name=name)
        )
    if len(name) > MAX_NAME_LENGTH:
        raise LabError(
            _("{name!r} is {length} characters, over IAM's limit of {max_name_length} for a "
            "role name: set a shorter SSMLAB_PREFIX (now {prefix!r}).").format(name=name, length=len(name), max_name_length=MAX_NAME_LENGTH, prefix=prefix)
        )
    return name
