"""The real-account backend's guard: nothing starts until the account is confirmed.

``SSMLAB_AWS_ACCOUNT`` must name the account that the standard credential chain resolves
to (``sts get-caller-identity``); otherwise the lab refuses, in one sentence, before it
creates anything.
"""

from __future__ import annotations

import os

import boto3
import botocore.exceptions

from .errors import LabError
from .i18n import _

CONFIRM_VARIABLE = "SSMLAB_AWS_ACCOUNT"


def confirm_account(session: boto3.Session) -> dict:
    """Return the caller identity if ``SSMLAB_AWS_ACCOUNT`` matches it, else raise LabError."""
    confirmed = os.environ.get(CONFIRM_VARIABLE, "").strip()
    if not confirmed:
        raise LabError(
            _("A real account is used only when you confirm it: set {variable} to "
              "the 12-digit id of the sandbox account you mean (then start again).").format(
                variable=CONFIRM_VARIABLE)
        )
    if session.region_name is None:
        raise LabError(
            _("No AWS Region is configured: set AWS_REGION (for example us-east-1) or "
              "pass region= to ssmlab.start().")
        )
    try:
        identity = session.client("sts").get_caller_identity()
    except botocore.exceptions.NoCredentialsError:
        raise LabError(
            _("No AWS credentials were found: configure them (aws configure, AWS_PROFILE or "
              "aws sso login), or run the lab offline with ssmlab.start().")
        ) from None
    except botocore.exceptions.ProfileNotFound as exc:
        raise LabError(_("{error}: fix AWS_PROFILE or your AWS config file.").format(error=exc)) from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise LabError(
            _("AWS refused the credentials ({code}): they may be expired or wrong; "
              "refresh them (for example aws sso login) and start again.").format(code=code)
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise LabError(_("AWS could not be reached to check the account ({error}).").format(error=exc)) from None
    if identity["Account"] != confirmed:
        raise LabError(
            _("These credentials belong to account {account}, but "
              "{variable} confirms {confirmed}: use the credentials of the "
              "confirmed account, or confirm this one.").format(
                account=identity["Account"], variable=CONFIRM_VARIABLE, confirmed=confirmed)
        )
    return identity
