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

CONFIRM_VARIABLE = "SSMLAB_AWS_ACCOUNT"


def confirm_account(session: boto3.Session) -> dict:
    """Return the caller identity if ``SSMLAB_AWS_ACCOUNT`` matches it, else raise LabError."""
    confirmed = os.environ.get(CONFIRM_VARIABLE, "").strip()
    if not confirmed:
        raise LabError(
            f"A real account is used only when you confirm it: set {CONFIRM_VARIABLE} to "
            f"the 12-digit id of the sandbox account you mean (then start again)."
        )
    if session.region_name is None:
        raise LabError(
            "No AWS Region is configured: set AWS_REGION (for example us-east-1) or "
            "pass region= to ssmlab.start()."
        )
    try:
        identity = session.client("sts").get_caller_identity()
    except botocore.exceptions.NoCredentialsError:
        raise LabError(
            "No AWS credentials were found: configure them (aws configure, AWS_PROFILE or "
            "aws sso login), or run the lab offline with ssmlab.start()."
        ) from None
    except botocore.exceptions.ProfileNotFound as exc:
        raise LabError(f"{exc}: fix AWS_PROFILE or your AWS config file.") from None
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise LabError(
            f"AWS refused the credentials ({code}): they may be expired or wrong; "
            f"refresh them (for example aws sso login) and start again."
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise LabError(f"AWS could not be reached to check the account ({exc}).") from None
    if identity["Account"] != confirmed:
        raise LabError(
            f"These credentials belong to account {identity['Account']}, but "
            f"{CONFIRM_VARIABLE} confirms {confirmed}: use the credentials of the "
            f"confirmed account, or confirm this one."
        )
    return identity
