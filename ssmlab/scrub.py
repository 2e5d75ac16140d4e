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
from dataclasses import dataclass, field
from pathlib import Path

from .i18n import _
from .masking import (  # noqa: F401 (the masking is scrub's too: ssmlab.scrub.mask_text, ...)
    EXAMPLE_ACCOUNT, ID_PREFIXES, MASKED_KEY_ID, MASKED_SECRET, MASKED_TOKEN, SHOW_VARIABLE,
    for_display, mask_account, mask_text,
)


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
        if not self.masked:
            what = _("nothing to mask")
        elif check:
            what = _("would mask {count} value(s)").format(count=self.masked)
        else:
            what = _("masked {count} value(s)").format(count=self.masked)
        if self.sources:
            cells = ", ".join(str(i) for i in self.sources)
            what += _("; the source of cell(s) {cells} holds an account id or a key: "
                      "edit it before sharing").format(cells=cells)
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
        raise NotANotebook(_("{path} is a folder, not a notebook: name .ipynb files.").format(path=path)) from None
    except FileNotFoundError:
        raise NotANotebook(_("{path} does not exist: check the file name.").format(path=path)) from None
    except OSError as error:
        raise NotANotebook(_("{path} could not be read ({error}).").format(
            path=path, error=error.strerror or error)) from None
    try:
        notebook = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise NotANotebook(
            _("{path} is not a Jupyter notebook (not JSON text): scrub takes .ipynb files saved by Jupyter.").format(
                path=path)
        ) from None
    if not isinstance(notebook, dict) or "nbformat" not in notebook:
        raise NotANotebook(
            _("{path} is JSON but not a Jupyter notebook (it has no nbformat): scrub takes "
              ".ipynb files saved by Jupyter.").format(path=path)
        )
    version = notebook.get("nbformat")
    if version != NBFORMAT:
        raise NotANotebook(
            _("{path} is a notebook of format {version!r}, not {nbformat}: open and save it in "
              "JupyterLab (which converts it to format 4), then scrub it again.").format(
                path=path, version=version, nbformat=NBFORMAT)
        )
    if not isinstance(notebook.get("cells"), list) or not all(isinstance(c, dict) for c in notebook["cells"]):
        raise NotANotebook(_("{path} is not a valid notebook (a cell is not an object): save it again in "
                             "JupyterLab.").format(path=path))
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
