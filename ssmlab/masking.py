"""Masking account ids and keys in text (``ssmlab/scrub.py`` names the uses): its own module,
which imports nothing of ssmlab, so ``LabError`` (``ssmlab/errors.py``) masks its sentence
without importing the notebook scrubber and its translated sentences (``ssmlab/i18n.py``)."""

from __future__ import annotations

import os
import re

#: The account id the offline lab and AWS's documentation use: safe to show.
EXAMPLE_ACCOUNT = "123456789012"
SHOW_VARIABLE = "SSMLAB_SHOW_ACCOUNT"

# A 12-digit account id standing alone (not inside a longer number or word).
_ACCOUNT = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
#: The four-letter prefixes of IAM's unique ids and access key ids, and what each names
#: (docs/aws-facts.md#robust-iam-identifiers): 20 characters for access key ids (AKIA
#: long-term, ASIA temporary), 21 for the unique ids of users, roles, policies, ...
ID_PREFIXES = ("ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "AKIA", "ANPA", "ANVA", "APKA", "AROA", "ASCA", "ASIA")
_KEY_ID = re.compile(r"(?<![A-Z0-9])(" + "|".join(ID_PREFIXES) + r")[A-Z0-9]{16,17}(?![A-Z0-9])")
# A secret access key: 40 characters of base64's alphabet, with upper and lower case and
# a digit or / or +, so that hex digests (lower case only) and words are left alone.
_SECRET = re.compile(r"(?<![A-Za-z0-9/+])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# A session token: a long run of base64 (AWS's are hundreds of characters).
_TOKEN = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{100,}={0,2}(?![A-Za-z0-9/+=])")
# A terminal's colour and cursor codes (IPython's tracebacks are full of them): the text
# between two of them is masked on its own, so an id right after ``\x1b[0;31m`` is found.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")

MASKED_KEY_ID = "AKIA****************"
MASKED_SECRET = "****************************************"
MASKED_TOKEN = "****(session token)****"


def mask_account(account_id: str) -> str:
    """``210987654321`` → ``********4321``; the example account stays as it is."""
    if account_id == EXAMPLE_ACCOUNT or not re.fullmatch(r"\d{12}", account_id or ""):
        return account_id
    return "*" * 8 + account_id[-4:]


def _mask_plain(text: str) -> str:
    text = _TOKEN.sub(MASKED_TOKEN, text)
    text = _KEY_ID.sub(lambda m: m.group(1) + "*" * (len(m.group(0)) - 4), text)
    text = _SECRET.sub(MASKED_SECRET, text)
    return _ACCOUNT.sub(lambda m: mask_account(m.group(0)), text)


def mask_text(text: str) -> str:
    """``text`` with account ids (alone or in ARNs), access key ids, IAM unique ids, secret
    keys and session tokens masked; terminal colour codes are kept and do not hide them."""
    if "\x1b" not in text:
        return _mask_plain(text)
    parts = _ANSI.split(text)
    codes = _ANSI.findall(text)
    out = [_mask_plain(parts[0])]
    for code, part in zip(codes, parts[1:]):
        out += [code, _mask_plain(part)]
    return "".join(out)


def for_display(text: str) -> str:
    """What a real-mode display shows: masked unless ``SSMLAB_SHOW_ACCOUNT=1``."""
    if os.environ.get(SHOW_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        return text
    return mask_text(text)
