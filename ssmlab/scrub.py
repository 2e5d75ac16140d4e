"""Keep account ids and keys out of what people share.

Two uses:

- In real-account mode the lab's own displays (``print(lab)``, the caller line, clean-up
  and preflight reports) show an account id as ``********9012``: :func:`mask_account`,
  :func:`mask_text`. ``SSMLAB_SHOW_ACCOUNT=1`` shows it in full.
- ``ssmlab scrub NOTEBOOK...`` rewrites notebooks someone ran on their own account:
  account ids other than 123456789012 (moto's and AWS's documentation example, the only
  one the offline lab uses), the account part of ARNs, and anything shaped like an access
  key id, an IAM unique id, a secret access key or a session token, in every output,
  metadata (widget state included) and attachment, as text or as a JSON number. Binary
  data (images) is never changed. Cell sources are not changed (that could break the
  code); a source holding such a value is named so the author can edit it.
  ``ssmlab scrub --check`` changes nothing and fails if anything would change.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

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


# --------------------------------------------------------------------------- notebooks
#
# A notebook (nbformat 4) can hold an id in: cell sources (reported, never changed: that
# could break the code), every output type (stream text; execute_result and display_data
# data and metadata; error ename, evalue and traceback), the metadata of each cell and of
# the notebook (ipywidgets saves its widgets' state there:
# metadata.widgets["application/vnd.jupyter.widget-state+json"]), and attachments of
# markdown cells. Strings are masked wherever they are, numbers too (a 12-digit JSON
# number becomes the masked string); binary data is never touched: data of a MIME type
# nbformat stores as base64 (image/png, image/jpeg, application/pdf, ...), and widget
# buffers ({"encoding": "base64", "data": ...}).

#: Schema of the notebooks scrub rewrites.
NBFORMAT = 4


def is_text_mime(mime: str) -> bool:
    """True if nbformat stores ``mime`` as text, False if as base64 binary (nbformat's rule:
    text/*, JSON, JavaScript, and +json/+xml types such as image/svg+xml are text;
    docs/aws-facts.md#robust-notebook-binary)."""
    mime = mime.split(";")[0].strip().lower()
    return (
        mime.startswith("text/")
        or mime in ("application/json", "application/javascript", "application/x-javascript")
        or mime.endswith(("+json", "+xml"))
    )


class NotANotebook(ValueError):
    """The file is not a Jupyter notebook scrub can rewrite (one sentence)."""


@dataclass
class ScrubResult:
    path: Path
    masked: int = 0  # how many values changed
    sources: list[int] = field(default_factory=list)  # cells whose source holds such values

    @property
    def would_change(self) -> bool:
        return bool(self.masked)

    def line(self, *, check: bool = False) -> str:
        verb = "would mask" if check else "masked"
        what = f"{verb} {self.masked} value(s)" if self.masked else "nothing to mask"
        if self.sources:
            cells = ", ".join(str(i) for i in self.sources)
            what += (f"; the source of cell(s) {cells} holds an account id or a key: "
                     f"edit it before sharing")
        return f"{self.path}: {what}"


class _Scrubber:
    def __init__(self) -> None:
        self.masked = 0

    def value(self, value):
        """``value`` (any JSON value) with every id masked; binary data untouched."""
        if isinstance(value, str):
            masked = mask_text(value)
            if masked != value:
                self.masked += 1
            return masked
        if isinstance(value, list):
            return [self.value(item) for item in value]
        if isinstance(value, dict):
            return self.mapping(value)
        if type(value) is int and 10 ** 11 <= value < 10 ** 12 and str(value) != EXAMPLE_ACCOUNT:
            # An account id stored as a JSON number (e.g. application/json output): the
            # masked form is a string, as JSON has no masked number.
            self.masked += 1
            return mask_account(str(value))
        return value  # None, a bool, a float, another number

    def mapping(self, mapping: dict) -> dict:
        binary_buffer = mapping.get("encoding") == "base64"
        out = {}
        for key, item in mapping.items():
            if binary_buffer and key == "data":
                out[key] = item
            else:
                out[self.value(key) if isinstance(key, str) else key] = self.value(item)
        return out

    def bundle(self, bundle):
        """A MIME bundle (an output's data, an attachment): text types masked, binary kept."""
        if not isinstance(bundle, dict):
            return self.value(bundle)
        return {
            mime: self.value(data) if not isinstance(mime, str) or is_text_mime(mime) else data
            for mime, data in bundle.items()
        }

    def output(self, output):
        if not isinstance(output, dict):
            return self.value(output)
        return {
            key: self.bundle(item) if key == "data" else self.value(item)
            for key, item in output.items()
        }

    def cell(self, cell: dict) -> dict:
        out = {}
        for key, item in cell.items():
            if key == "source":
                out[key] = item
            elif key == "outputs" and isinstance(item, list):
                out[key] = [self.output(output) for output in item]
            elif key == "attachments" and isinstance(item, dict):
                out[key] = {
                    self.value(name) if isinstance(name, str) else name: self.bundle(bundle)
                    for name, bundle in item.items()
                }
            else:
                out[key] = self.value(item)
        return out


def _source_text(source) -> str:
    if isinstance(source, list):
        return "".join(str(line) for line in source)
    return source if isinstance(source, str) else ""


def _load(path: Path) -> tuple[dict, bytes]:
    """The notebook's JSON and the file's bytes, or NotANotebook in one sentence."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise NotANotebook(f"{path} is a folder, not a notebook: name .ipynb files.") from None
    except FileNotFoundError:
        raise NotANotebook(f"{path} does not exist: check the file name.") from None
    except OSError as error:
        raise NotANotebook(f"{path} could not be read ({error.strerror or error}).") from None
    try:
        notebook = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotANotebook(
            f"{path} is not a Jupyter notebook (not JSON text): scrub takes .ipynb files saved by Jupyter."
        ) from None
    if not isinstance(notebook, dict) or "nbformat" not in notebook:
        raise NotANotebook(
            f"{path} is JSON but not a Jupyter notebook (it has no nbformat): scrub takes "
            ".ipynb files saved by Jupyter."
        )
    version = notebook.get("nbformat")
    if version != NBFORMAT:
        raise NotANotebook(
            f"{path} is a notebook of format {version!r}, not {NBFORMAT}: open and save it in "
            "JupyterLab (which converts it to format 4), then scrub it again."
        )
    if not isinstance(notebook.get("cells"), list) or not all(isinstance(c, dict) for c in notebook["cells"]):
        raise NotANotebook(f"{path} is not a valid notebook (a cell is not an object): save it again in JupyterLab.")
    return notebook, raw


def scrub_notebook(path: Path | str, *, write: bool = True) -> ScrubResult:
    """Mask account ids, keys and IAM unique ids everywhere ``path`` stores them but in
    cell sources (named in the result instead). ``write=False`` changes nothing: the
    result says what would change. Raises :class:`NotANotebook` for anything but an
    nbformat 4 notebook."""
    path = Path(path)
    notebook, raw = _load(path)
    result = ScrubResult(path)
    scrubber = _Scrubber()
    cells = []
    for index, cell in enumerate(notebook["cells"]):
        source = _source_text(cell.get("source", ""))
        if mask_text(source) != source:
            result.sources.append(index)
        cells.append(scrubber.cell(cell))
    scrubbed = {
        key: cells if key == "cells" else scrubber.value(item) for key, item in notebook.items()
    }
    result.masked = scrubber.masked
    if write and result.masked:
        # nbformat's own layout (one-space indent, UTF-8, a final newline); strings that
        # were not masked, images among them, are written back exactly as they were read.
        text = json.dumps(scrubbed, indent=1, ensure_ascii=False) + "\n"
        path.write_bytes(text.encode("utf-8"))
    return result
