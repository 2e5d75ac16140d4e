"""Keep account ids and keys out of what people share.

Two uses:

- In real-account mode the lab's own displays (``print(lab)``, the caller line, clean-up
  and preflight reports) show an account id as ``********9012``: :func:`mask_account`,
  :func:`mask_text`. ``SSMLAB_SHOW_ACCOUNT=1`` shows it in full.
- ``ssmlab scrub NOTEBOOK...`` rewrites the stored outputs of notebooks someone ran on
  their own account: account ids other than 123456789012 (moto's and AWS's documentation
  example, the only one the offline lab uses), the account part of ARNs, and anything
  shaped like an access key id, a secret access key or a session token. Cell sources are
  not changed (that could break the code); a source holding such a value is named so the
  author can edit it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

#: The account id the offline lab and AWS's documentation use: safe to show.
EXAMPLE_ACCOUNT = "123456789012"
SHOW_VARIABLE = "SSMLAB_SHOW_ACCOUNT"

# A 12-digit account id standing alone (not inside a longer number or word).
_ACCOUNT = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
# Access key ids: AKIA (long-term) and ASIA (temporary) keys; other unique-id prefixes of
# IAM (AROA role, AIDA user, ANPA policy, ...) identify principals (IAM User Guide,
# "IAM identifiers", unique identifiers).
_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|AROA|AIDA|AGPA|AIPA|ANPA|ANVA|APKA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")
# A secret access key: 40 characters of base64's alphabet, with upper and lower case and
# a digit or / or +, so that hex digests (lower case only) and words are left alone.
_SECRET = re.compile(r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]*[A-Z])(?=[A-Za-z0-9/+]*[a-z])(?=[A-Za-z0-9/+]*[0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
# A session token: a long run of base64 (AWS's are hundreds of characters).
_TOKEN = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{100,}={0,2}(?![A-Za-z0-9/+=])")

MASKED_KEY_ID = "AKIA****************"
MASKED_SECRET = "****************************************"
MASKED_TOKEN = "****(session token)****"


def mask_account(account_id: str) -> str:
    """``210987654321`` → ``********4321``; the example account stays as it is."""
    if account_id == EXAMPLE_ACCOUNT or not re.fullmatch(r"\d{12}", account_id or ""):
        return account_id
    return "*" * 8 + account_id[-4:]


def mask_text(text: str) -> str:
    """``text`` with account ids (alone or in ARNs) and key-shaped strings masked."""
    text = _TOKEN.sub(MASKED_TOKEN, text)
    text = _KEY_ID.sub(MASKED_KEY_ID, text)
    text = _SECRET.sub(MASKED_SECRET, text)
    return _ACCOUNT.sub(lambda m: mask_account(m.group(0)), text)


def for_display(text: str) -> str:
    """What a real-mode display shows: masked unless ``SSMLAB_SHOW_ACCOUNT=1``."""
    if os.environ.get(SHOW_VARIABLE, "").strip().lower() in ("1", "true", "yes"):
        return text
    return mask_text(text)


# --------------------------------------------------------------------------- notebooks


@dataclass
class ScrubResult:
    path: Path
    masked: int = 0  # how many output strings changed
    sources: list[int] = field(default_factory=list)  # cells whose source holds such values

    def line(self) -> str:
        what = f"masked {self.masked} output value(s)" if self.masked else "nothing to mask"
        if self.sources:
            cells = ", ".join(str(i) for i in self.sources)
            what += (f"; the source of cell(s) {cells} holds an account id or a key: "
                     f"edit it before sharing")
        return f"{self.path}: {what}"


def _scrub_value(value, counter: list[int]):
    if isinstance(value, str):
        masked = mask_text(value)
        if masked != value:
            counter[0] += 1
        return masked
    if isinstance(value, list):
        return [_scrub_value(item, counter) for item in value]
    if isinstance(value, dict):
        return {key: _scrub_value(item, counter) for key, item in value.items()}
    return value


def scrub_notebook(path: Path | str, *, write: bool = True) -> ScrubResult:
    """Mask account ids and key-shaped strings in ``path``'s stored outputs."""
    import nbformat

    path = Path(path)
    notebook = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    result = ScrubResult(path)
    counter = [0]
    for index, cell in enumerate(notebook.cells):
        source = cell.get("source", "")
        if mask_text(source) != source:
            result.sources.append(index)
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                nbformat.from_dict(_scrub_value(dict(output), counter)) for output in cell.get("outputs", [])
            ]
    result.masked = counter[0]
    if write and result.masked:
        nbformat.write(notebook, path)
    return result
