"""Corrections to moto's STS where its answer would teach the wrong thing.

``GetSessionToken`` and ``GetFederationToken`` return temporary credentials, whose access
key ids start with ``ASIA`` (long-term keys of IAM users start with ``AKIA``): IAM User
Guide, "Unique identifier prefixes" (docs/aws-facts.md#temporary-credentials). moto 5.2.5
returns the fixed documentation example ``AKIAIOSFODNN7EXAMPLE`` for both; here the key id
is ``ASIA`` and 16 characters from moto's seeded random (so outputs repeat run to run).
"""

from __future__ import annotations

import string

from ._moto import ActionResult, mock_random

_installed = False
TEMPORARY_KEY_PREFIX = "ASIA"


def temporary_access_key_id() -> str:
    """A temporary access key id as AWS shapes them: ASIA and 16 upper-case letters or digits."""
    alphabet = string.ascii_uppercase + string.digits
    return TEMPORARY_KEY_PREFIX + "".join(mock_random.choice(alphabet) for _ in range(16))


def _with_temporary_key(original):
    def action(self) -> ActionResult:
        result = original(self)
        credentials = result.result.get("Credentials") if isinstance(result.result, dict) else None
        if credentials is not None:
            credentials["AccessKeyId"] = temporary_access_key_id()
        return result

    action.__wrapped__ = original
    action.__name__ = original.__name__
    return action


def install() -> None:
    global _installed
    if _installed:
        return
    from ._moto import TokenResponse

    for name in ("get_session_token", "get_federation_token"):
        setattr(TokenResponse, name, _with_temporary_key(getattr(TokenResponse, name)))
    _installed = True
